"""Nothing lost when a run stops: every long run continues where it was.

A single run (``resume_dir``) keeps its training state after every epoch;
a sweep keeps every finished run. Killing a notebook's kernel mid-lab and
running it again reuses what finished and ends with the same results as
a run that was never interrupted.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import lab_utils as lu

REPO = Path(__file__).resolve().parents[1]
CONFIG = {"model": "fashion_net", "batch_size": 64, "epochs": 3}


class Interrupt(Exception):
    pass


class KillAfter(lu.Callback):
    """Stands in for a runtime reset: stops the process's work at the end
    of an epoch, after that epoch's state was saved."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, state):
        if state["history"][-1]["epoch"] == self.epoch:
            raise Interrupt


def test_an_interrupted_run_continues_and_ends_as_if_never_stopped(
    mnist_small, tmp_path, capsys
):
    train, test = mnist_small
    whole = lu.train_classifier(CONFIG, 0, train, test, test)
    folder = tmp_path / "runs"
    # The state is saved at the end of each epoch, before the next
    # begins: killed during epoch 3, a run has two epochs to keep.
    with pytest.raises(Interrupt):
        lu.train_classifier(
            CONFIG,
            0,
            train,
            test,
            test,
            callbacks=[KillAfter(3)],
            resume_dir=folder,
        )
    (state,) = folder.glob("classifier-*.pt")
    assert lu.load_checkpoint(state)["epoch"] == 2
    capsys.readouterr()
    resumed = lu.train_classifier(
        CONFIG, 0, train, test, test, resume_dir=folder
    )
    assert "after 2 of 3 epochs: training the remaining 1" in (
        capsys.readouterr().out
    )
    assert resumed.metrics["test_acc"] == whole.metrics["test_acc"]
    assert resumed.history["val_loss"].tolist() == (
        whole.history["val_loss"].tolist()
    )
    # Run once more: nothing to train, the same model comes back.
    again = lu.train_classifier(
        CONFIG, 0, train, test, test, resume_dir=folder
    )
    assert "finished run" in capsys.readouterr().out
    assert again.metrics["test_acc"] == whole.metrics["test_acc"]
    assert len(again.history) == 3


def test_a_changed_config_trains_anew_and_keeps_the_old_state(
    mnist_small, tmp_path
):
    train, test = mnist_small
    folder = tmp_path / "runs"
    lu.train_classifier(
        {**CONFIG, "epochs": 1}, 0, train, test, resume_dir=folder
    )
    (old,) = folder.glob("*.pt")
    before = old.read_bytes()
    changed = {**CONFIG, "epochs": 1, "lr": 3e-3}
    lu.train_classifier(changed, 0, train, test, resume_dir=folder)
    assert len(list(folder.glob("*.pt"))) == 2
    assert old.read_bytes() == before


def test_other_data_of_the_same_size_trains_anew(mnist_small, tmp_path):
    train, test = mnist_small
    folder = tmp_path / "runs"
    config = {**CONFIG, "epochs": 1}
    lu.train_classifier(config, 0, train, test, resume_dir=folder)
    flipped = lu.LabData(
        train.name, train.split, train.X.flip(-1), train.y, train.classes
    )
    lu.train_classifier(config, 0, flipped, test, resume_dir=folder)
    assert len(list(folder.glob("*.pt"))) == 2


def test_feature_snapshots_survive_a_resume(mnist_small, tmp_path):
    train, test = mnist_small
    probe = lu.TensorLoader(test, 100)
    folder = tmp_path / "runs"
    snaps = lu.FeatureSnapshots(probe, "hidden", epochs="all")
    with pytest.raises(Interrupt):
        lu.train_classifier(
            CONFIG,
            0,
            train,
            test,
            callbacks=[snaps, KillAfter(2)],
            resume_dir=folder,
        )
    snaps = lu.FeatureSnapshots(probe, "hidden", epochs="all")
    lu.train_classifier(
        CONFIG, 0, train, test, callbacks=[snaps], resume_dir=folder
    )
    assert list(snaps.snapshots) == [
        "before training",
        "epoch 1",
        "epoch 2",
        "epoch 3",
        "after training",
    ]


def _run_lab(results: Path, output: Path, data_dir: Path, **popen):
    env = {
        **os.environ,
        "LAB_DATA_DIR": str(data_dir),
        "LAB_RESULTS_DIR": str(results),
        "LAB_PROGRESS": "0",
    }
    command = [
        sys.executable,
        "-m",
        "lab_utils.tools.run_all",
        "--profile",
        "smoke",
        "--only",
        "2",
        "--output",
        str(output),
    ]
    return subprocess.Popen(
        command,
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **popen,
    )


def _metrics(results: Path) -> dict:
    lab = results / "02_cifar_cnn_ablations" / "smoke"
    found = {}
    for path in sorted(lab.glob("*/*/run.json")):
        saved = json.loads(path.read_text())
        key = str(path.parent.relative_to(lab))
        found[key] = (
            saved["metrics"]["val_acc"],
            saved["metrics"]["test_acc"],
        )
    final = lu.load_checkpoint(lab / "chosen_model.pt")
    found["final"] = final["metrics"]["test_acc"]
    return found


def test_a_killed_lab_run_again_reuses_its_runs_and_matches(
    data_dir, tmp_path, printed
):
    whole = _run_lab(tmp_path / "whole", tmp_path / "out-whole", data_dir)
    assert whole.wait(timeout=900) == 0, whole.stdout.read()

    results = tmp_path / "killed"
    ablations = results / "02_cifar_cnn_ablations" / "smoke" / "ablations"
    killed = _run_lab(
        results, tmp_path / "out-killed", data_dir, start_new_session=True
    )
    deadline = time.monotonic() + 600
    while len(list(ablations.glob("*/run.json"))) < 3:
        assert killed.poll() is None, "the lab ended before it was killed"
        assert time.monotonic() < deadline
        time.sleep(0.2)
    os.killpg(killed.pid, signal.SIGKILL)  # the kernel and its runner
    killed.wait()
    kept = {p: p.stat().st_mtime_ns for p in ablations.glob("*/run.json")}
    assert 3 <= len(kept) < 9

    again = _run_lab(results, tmp_path / "out-again", data_dir)
    assert again.wait(timeout=900) == 0, again.stdout.read()
    text = printed(
        tmp_path / "out-again" / "smoke" / "02_cifar_cnn_ablations.ipynb"
    )
    found = re.search(r"ablations: (\d+) of 9 runs found", text)
    assert found and int(found.group(1)) >= len(kept), text[:2000]
    # The finished runs were reused, not trained again...
    for path, mtime in kept.items():
        assert path.stat().st_mtime_ns == mtime
    # ...and every result equals the uninterrupted lab's.
    assert _metrics(results) == _metrics(tmp_path / "whole")
