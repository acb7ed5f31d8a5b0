"""The cost model against the clock: predicted and measured minutes.

    LAB_DATA_DIR=../shared/datasets python benchmarks/plan_vs_measured.py \
        [--profile cpu] [--only 5 6] [--inplace]

For each notebook, predicts its minutes on this CPU with
``lab_utils.costs`` (FLOPs counted on the real models, a short measured
probe of each model's training step), then runs it headlessly with
``run_all`` in a fresh results folder (so every run trains; nothing is
reused) and times it. Prints predicted, measured and measured/predicted
per notebook and in total. The model is wrong if a ratio is outside
1/1.5 .. 1.5: the exit code is then 1.

All six cpu notebooks take about an hour on a 2-core machine; ``--only``
picks some. ``--inplace`` writes the executed notebooks into
``notebooks/*.ipynb``, as ``run_all --inplace`` does, so one hour both
measures the model and refreshes the committed outputs; it then trains
into ``./results`` (so the banners name that folder), and refuses to
start if that holds runs of the profile already (move them away: they
would be reused, and nothing would be measured). Run nothing else
heavy meanwhile: two processes sharing the cores time each other.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lab_utils.profiles import plan_lab  # noqa: E402
from lab_utils.tools import run_all  # noqa: E402

TOLERANCE = 1.5


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--only", nargs="+", metavar="NAME")
    parser.add_argument("--inplace", action="store_true")
    args = parser.parse_args(argv)

    sources = run_all.find_notebooks(REPO / "notebooks", args.only)
    if args.inplace:
        for source in sources:
            run_all.check_in_sync(source)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        results = Path(scratch) / "results"
        if args.inplace:
            results = REPO / "results"
            held = [
                s.stem
                for s in sources
                if (results / s.stem / args.profile).exists()
            ]
            if held:
                print(
                    f"error: {results} already holds {args.profile} runs "
                    f"of {', '.join(held)}; they would be reused and "
                    f"nothing measured. Move them away first."
                )
                return 2
        os.environ["LAB_RESULTS_DIR"] = str(results)
        # Kernels run inside notebooks/: the data folder must be absolute.
        data = os.environ.get("LAB_DATA_DIR") or str(REPO / "data")
        os.environ["LAB_DATA_DIR"] = str(Path(data).resolve())
        for source in sources:
            predicted = plan_lab(source.stem, args.profile).seconds("cpu")
            start = time.perf_counter()
            output = (
                source.with_suffix(".ipynb")
                if args.inplace
                else Path(scratch) / f"{source.stem}.ipynb"
            )
            result = run_all.run_notebook(source, output, args.profile)
            measured = time.perf_counter() - start
            if result.status != "ok":
                print(f"{source.stem} failed: {result.detail}")
                return 2
            rows.append((source.stem, predicted, measured))
            print(
                f"{source.stem}: predicted {predicted / 60:.1f} min, "
                f"measured {measured / 60:.1f} min",
                flush=True,
            )

    print(f"\nprofile {args.profile}, this CPU ({os.cpu_count()} cores)")
    print(f"{'notebook':<24} predicted  measured  measured/predicted")
    bad = []
    for name, predicted, measured in rows:
        ratio = measured / predicted
        if not 1 / TOLERANCE <= ratio <= TOLERANCE:
            bad.append(name)
        print(
            f"{name:<24} {predicted / 60:7.1f}m {measured / 60:8.1f}m "
            f"{ratio:10.2f}"
        )
    total_p = sum(r[1] for r in rows)
    total_m = sum(r[2] for r in rows)
    print(
        f"{'total':<24} {total_p / 60:7.1f}m {total_m / 60:8.1f}m "
        f"{total_m / total_p:10.2f}"
    )
    if bad:
        print(f"outside 1/{TOLERANCE}..{TOLERANCE}: {', '.join(bad)}")
        return 1
    print(f"every notebook within a factor of {TOLERANCE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
