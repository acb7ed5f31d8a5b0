"""Run every lab notebook in one profile, timed, and record what it gives.

    python benchmarks/gpu_full.py [--profile full] [--only 01 02 ...]
        [--parallel N] [--out benchmarks/results/full_<gpu>.json]

Runs each notebook headlessly (``lab_utils.tools.run_all``, one after
another, or ``--parallel N`` at once, each in its own kernel) with
``$LAB_DATA_DIR`` as given and a fresh results folder, so that every run
trains from scratch. Then writes one JSON: the machine, and per notebook
its status, wall-clock minutes, the seconds its training runs reported,
and every run record it left (``run.json``: name, seed, epochs and test
metrics: the accuracies, the VAE's negative ELBO), with the totals.
``benchmarks/gpu_full.sh`` calls it on a lent GPU; on a CPU,
``--profile smoke`` checks it in a few minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
LABS = (
    "01_data_exploration",
    "02_cifar_cnn_ablations",
    "03_optimizers",
    "04_arcface",
    "05_fashion_pca_tsne",
    "06_vae_faces",
)


def machine() -> dict:
    import torch

    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu_threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info


def run_records(folder: Path) -> list[dict]:
    """Every run a notebook's sweeps and recipes recorded under
    ``folder``: what was trained, for how long, and its test metrics."""
    records = []
    for path in sorted(folder.rglob("run.json")):
        record = json.loads(path.read_text())
        metrics = record.get("metrics", {})
        records.append(
            {
                "run": str(path.parent.relative_to(folder)),
                "name": record.get("name"),
                "seed": record.get("seed"),
                "epochs_run": metrics.get("epochs_run"),
                "seconds": metrics.get("seconds"),
                **{
                    k: v
                    for k, v in metrics.items()
                    if k.startswith(("test_", "val_"))
                },
            }
        )
    return records


def run_lab(lab: str, profile: str, output: Path, results: Path) -> dict:
    env_cmd = [
        sys.executable,
        "-m",
        "lab_utils.tools.run_all",
        "--profile",
        profile,
        "--only",
        lab[:2],
        "--output",
        str(output),
    ]
    start = time.perf_counter()
    done = subprocess.run(
        env_cmd,
        cwd=REPO,
        env={**os.environ, "LAB_RESULTS_DIR": str(results)},
        capture_output=True,
        text=True,
    )
    minutes = (time.perf_counter() - start) / 60
    records = run_records(results / lab)
    return {
        "status": "ok" if done.returncode == 0 else "failed",
        "minutes": round(minutes, 2),
        "training_seconds": round(sum(r["seconds"] or 0 for r in records), 1),
        "runs": records,
        **({} if done.returncode == 0 else {"log": done.stdout[-2000:]}),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--profile", default="full")
    p.add_argument("--only", nargs="*", default=None)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--output", type=Path, default=REPO / "build" / "runs")
    p.add_argument(
        "--parallel",
        type=int,
        default=1,
        help="notebooks run at once (each its own kernel, one GPU)",
    )
    args = p.parse_args(argv)
    labs = [
        lab
        for lab in LABS
        if not args.only or any(lab.startswith(o.zfill(2)) for o in args.only)
    ]
    info = machine()
    gpu = info.get("gpu", "cpu").split()[-1].lower()
    out = args.out or REPO / "benchmarks" / "results" / f"full_{gpu}.json"
    results = Path(tempfile.mkdtemp(prefix="gpu-full-results-"))
    report = {
        "profile": args.profile,
        "parallel": args.parallel,
        "machine": info,
        "labs": {},
    }
    start = time.perf_counter()

    def one(lab):
        entry = run_lab(lab, args.profile, args.output, results)
        report["labs"][lab] = entry
        report["wall_minutes"] = round((time.perf_counter() - start) / 60, 2)
        report["total_training_minutes"] = round(
            sum(v["training_seconds"] for v in report["labs"].values()) / 60,
            2,
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=1) + "\n")
        print(
            f"{lab}: {entry['status']}, {entry['minutes']:.2f} min, "
            f"training {entry['training_seconds']:.0f} s in "
            f"{len(entry['runs'])} runs",
            flush=True,
        )

    # Several notebooks at once share the GPU: a lab of small nets leaves
    # most of it idle. Longest first (as the cost model predicts it on
    # an H200), so the last to start ends early.
    from lab_utils.profiles import plan_lab

    labs.sort(key=lambda lab: -plan_lab(lab, args.profile).seconds("h200"))
    with ThreadPoolExecutor(args.parallel) as pool:
        list(pool.map(one, labs))
    print(
        f"all: {report['wall_minutes']:.2f} min of wall time, training "
        f"{report['total_training_minutes']:.2f} min -> {out}"
    )
    ok = all(v["status"] == "ok" for v in report["labs"].values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
