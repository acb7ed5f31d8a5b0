"""Do this checkout and an earlier revision train to the same numbers?

    LAB_DATA_DIR=../shared/datasets python benchmarks/same_cpu_numbers.py REV

A change to the engine, the loaders or the recipes must leave the `cpu`
profile's numbers as they were. This trains the same small runs (the
`small` three-conv net on 480 real CIFAR-10 images, two epochs, with and
without augmentation, one torch thread) with the code of revision REV
(checked out into a temporary git worktree) and with this checkout's,
each in its own process, and compares every number they report: test
accuracy and loss, and each epoch's training and validation loss.
Prints IDENTICAL or the first difference; exit code 1 if they differ.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Run in a fresh process with the package of one checkout first on the
# path (argv[1]); prints the numbers as JSON.
TRAIN = """
import json, os, sys
sys.path.insert(0, sys.argv[1])
import torch
torch.set_num_threads(1)
import lab_utils as lu
assert lu.__file__.startswith(sys.argv[1]), lu.__file__
data = os.environ.get("LAB_DATA_DIR") or os.path.join(
    sys.argv[1], "..", "shared", "datasets")
train = lu.load_dataset("cifar10", data_dir=data, n_samples=600, seed=0)
test = lu.load_dataset("cifar10", "test", data_dir=data, n_samples=300,
                       seed=0)
train, val = lu.train_val_split(train, 0.2)
out = {}
for augment in ("none", "flip+color jitter"):
    config = {"preset": "small", "batch_size": 32, "epochs": 2,
              "augment": augment}
    t = lu.train_classifier(config, 0, train, val, test, "cpu")
    out[augment] = {
        "test_acc": t.metrics["test_acc"],
        "test_loss": t.metrics["test_loss"],
        "train_loss": list(t.history["train_loss"]),
        "val_loss": list(t.history["val_loss"]),
    }
print(json.dumps(out))
"""


def numbers(checkout: Path) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "LAB_PROGRESS": "0"}
    if os.environ.get("LAB_DATA_DIR"):
        env["LAB_DATA_DIR"] = str(Path(os.environ["LAB_DATA_DIR"]).resolve())
    done = subprocess.run(
        [sys.executable, "-c", TRAIN, str(checkout)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tempfile.gettempdir(),
    )
    if done.returncode != 0:
        sys.exit(f"training with {checkout} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    revision = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "old"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(old), revision],
            cwd=REPO,
            check=True,
            capture_output=True,
        )
        try:
            before = numbers(old)
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(old)],
                cwd=REPO,
                capture_output=True,
            )
    after = numbers(REPO)
    for augment, values in before.items():
        for key, value in values.items():
            if after[augment][key] != value:
                print(
                    f"DIFFERENT: {augment}, {key}: {value} at {revision}, "
                    f"{after[augment][key]} here"
                )
                return 1
    print(
        f"IDENTICAL: every number of {len(before)} runs, {revision} and here"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
