"""Run every lab notebook headlessly with papermill.

    python -m lab_utils.tools.run_all [--profile smoke|cpu|full|reproduce|auto]
                                [--only NAME ...] [--inplace]
                                [--plan [--no-probe] [--markdown]]
                                [--dry-run]
                                [--jobs N | --scheduler ADDRESS]

Each ``notebooks/NN_name.py`` (the jupytext source of truth) is executed in
a fresh kernel with ``$LAB_PROFILE`` set, so the notebook's own ``PROFILE =
"auto"`` default picks it up and no parameters cell is injected. Outputs go
to ``build/runs/<profile>/`` or, with ``--inplace``, into the paired
``notebooks/NN_name.ipynb``. A table of notebook, status and seconds is
printed; the exit code is 1 if any notebook failed, naming it and its cell.

``--plan`` runs nothing: it prints each notebook's work in the profile
(training runs and images, FLOPs counted on the real models, t-SNE and
PCA sizes) and its predicted minutes on this CPU (a short measured probe;
``--no-probe`` skips it), a T4, an A100 and an H200 (lab_utils.costs.DEVICES
says what is measured, what is assumed, and why); ``--markdown`` prints
the table alone, as the README shows it. ``--dry-run`` runs every
notebook with the profile's full-size data and models, but every
training run stops after two batches and every t-SNE after a few
iterations (lab_utils.dry_run);
outputs go to ``build/runs/<profile>-dry-run/``, never ``--inplace``.

``--jobs N`` runs N notebooks at once, each in a worker process of a
local Dask cluster (one torch thread each: give N up to the cores, or
the GPUs); ``--scheduler ADDRESS`` sends them to a running Dask cluster,
whose workers must see this repository, the data and the outputs at the
same paths (a shared filesystem). The table and the exit code are the
same as one at a time.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..data import resolve_data_dir
from ..profiles import PROFILE_NAMES, resolve_profile

# Cell metadata that papermill and nbclient add on every run; kept out of
# committed notebooks so a re-run changes only outputs.
_RUN_METADATA = ("papermill", "execution")


@dataclass
class RunResult:
    notebook: str
    status: str
    seconds: float
    detail: str = ""


def find_notebooks(folder: Path, only: list[str] | None = None) -> list[Path]:
    """The ``NN_name.py`` sources in ``folder``, filtered by ``only``
    (each a lab number, ``1`` or ``01``, or part of a name); a selector
    that matches nothing is an error, never silently dropped."""
    sources = sorted(p for p in folder.glob("[0-9][0-9]_*.py"))
    if not sources:
        raise FileNotFoundError(
            f"No notebooks (NN_name.py) in {folder}. "
            f"Run from the repository root or pass "
            f"--notebooks."
        )
    if not only:
        return sources
    unmatched = [o for o in only if not any(_matches(o, p) for p in sources)]
    if unmatched:
        names = ", ".join(p.stem for p in sources)
        raise ValueError(
            f"--only {' '.join(unmatched)} matches no notebook. Give a "
            f"number (1 or 01) or part of a name. Available: {names}."
        )
    return [p for p in sources if any(_matches(o, p) for o in only)]


def _matches(selector: str, source: Path) -> bool:
    """A number picks the notebook with that number (``1`` and ``01``
    both pick 01, ``0`` picks none); other text, any name containing it."""
    if selector.isdigit():
        return int(selector) == int(source.stem[:2])
    return selector in source.stem


def _inputs(nb) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


def check_in_sync(source: Path) -> None:
    """Refuse to overwrite a paired .ipynb whose code was edited after the
    .py: those edits would be lost."""
    import jupytext

    paired = source.with_suffix(".ipynb")
    if not paired.exists():
        return
    if paired.stat().st_mtime <= source.stat().st_mtime:
        return
    if _inputs(jupytext.read(paired)) != _inputs(jupytext.read(source)):
        raise RuntimeError(
            f"{paired} has edits that {source.name} does not have. Run "
            f"`jupytext --sync {source}` first, so the .py (the source of "
            f"truth) holds them; nothing was overwritten."
        )


def strip_run_metadata(nb):
    """Drop papermill's per-run metadata from a notebook, in place."""
    nb.metadata.pop("papermill", None)
    for cell in nb.cells:
        for key in _RUN_METADATA:
            cell.metadata.pop(key, None)
        if cell.metadata.get("tags") == []:
            del cell.metadata["tags"]
    return nb


def run_notebook(
    source: Path, output: Path, profile: str, kernel_name: str = "python3"
) -> RunResult:
    """Execute one notebook source into ``output``; never raises for a
    failure inside the notebook, which is reported in the result."""
    import jupytext
    import papermill as pm

    nb = jupytext.read(source)
    # The notebook reads its profile from the environment: its own default
    # stays "auto" and no injected-parameters cell appears in the output.
    os.environ["LAB_PROFILE"] = profile
    os.environ.setdefault("LAB_PROGRESS", "0")
    output.parent.mkdir(parents=True, exist_ok=True)
    lock = output.with_name(f".{output.stem}.runner")
    owner = _take_lock(lock)
    if owner is not None:
        return RunResult(
            source.stem,
            "FAILED",
            0.0,
            f"another runner ({owner}) is running this notebook into "
            f"{output}: wait for it to end, or stop it (a runner that was "
            f"killed on this machine is noticed, and its lock {lock.name} "
            f"taken over)",
        )
    try:
        _remove_dead_runners_files(output)
        return _run_locked(nb, source, output, kernel_name, pm, jupytext)
    finally:
        lock.unlink(missing_ok=True)


def _run_locked(nb, source, output, kernel_name, pm, jupytext) -> RunResult:
    # Each runner its own temporary file: a second runner can never
    # publish another's half-run notebook as its own.
    tmp = output.with_name(f".{output.stem}.{_me()}.running.ipynb")
    start = time.perf_counter()
    try:
        pm.execute_notebook(
            nb,
            str(tmp),
            kernel_name=kernel_name,
            cwd=str(source.parent),
            progress_bar=False,
            log_output=False,
        )
        status, detail = "ok", ""
    except pm.PapermillExecutionError as err:
        status = "FAILED"
        detail = (
            f"cell {err.cell_index} (execution count "
            f"{err.exec_count}): {err.ename}: {err.evalue}"
        )
    except Exception as err:  # kernel died, notebook unreadable, ...
        status, detail = "FAILED", f"{type(err).__name__}: {err}"
    seconds = time.perf_counter() - start
    if tmp.exists():
        done = strip_run_metadata(jupytext.read(tmp))
        # A failed run never replaces a good committed notebook.
        target = (
            output
            if status == "ok"
            else output.with_name(f"{output.stem}.failed.ipynb")
        )
        jupytext.write(done, target, fmt="ipynb")
        tmp.unlink()
        if status != "ok":
            detail += f" (executed copy: {target})"
    return RunResult(source.stem, status, seconds, detail)


def _me() -> str:
    from ..files import _host

    return f"{os.getpid()}@{_host()}"


def _take_lock(lock: Path) -> str | None:
    """Create ``lock`` holding this runner's pid@host: None when taken,
    else who holds it. A lock whose runner died on this machine is taken
    over; one from another machine is never judged."""
    from ..files import _alive, _host

    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                owner = lock.read_text().strip()
            except OSError:
                owner = ""
            pid, _, host = owner.partition("@")
            dead = pid.isdigit() and host == _host() and not _alive(int(pid))
            if not dead and owner:
                return f"pid {pid} on {host}"
            lock.unlink(missing_ok=True)  # its runner was killed
            continue
        with os.fdopen(fd, "w") as f:
            f.write(_me())
        return None
    return "a runner that keeps replacing the lock"


def _remove_dead_runners_files(output: Path) -> None:
    """Delete the temporary notebooks of runners killed on this machine
    (``.<stem>.<pid>@<host>.running.ipynb``, and the one name that every
    runner once shared)."""
    from ..files import _alive, _host

    legacy = output.with_name(f".{output.stem}.running.ipynb")
    legacy.unlink(missing_ok=True)
    prefix, suffix = f".{output.stem}.", ".running.ipynb"
    for tmp in output.parent.glob(f".{output.stem}.*@*.running.ipynb"):
        pid, _, host = tmp.name[len(prefix) : -len(suffix)].partition("@")
        if pid.isdigit() and host == _host() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)


# What a notebook's kernel reads from the runner's environment.
_RUN_ENVIRONMENT = (
    "LAB_DATA_DIR",
    "LAB_RESULTS_DIR",
    "LAB_DATA_DIR_AS_GIVEN",
    "LAB_RESULTS_DIR_AS_GIVEN",
    "LAB_DRY_RUN",
    "LAB_PROGRESS",
)


def _run_on_worker(source, output, profile, environment) -> RunResult:
    """run_notebook in a Dask worker, with the runner's environment."""
    from ..cluster import undo_malloc_trim

    undo_malloc_trim()  # the kernel would inherit a slow malloc
    for var in _RUN_ENVIRONMENT:
        os.environ.pop(var, None)
    os.environ.update(environment)
    return run_notebook(source, output, profile)


def run_on_cluster(jobs, profile: str, executor) -> list[RunResult]:
    """Run each (source, output) of ``jobs`` on a Dask cluster, printing a
    line as each ends; the results in the order of ``jobs``. A notebook
    whose worker failed or died is reported FAILED, never lost."""
    from ..cluster import as_completed, submit

    environment = {
        var: os.environ[var] for var in _RUN_ENVIRONMENT if var in os.environ
    }
    futures = {
        submit(
            executor,
            _run_on_worker,
            source.resolve(),
            output.resolve(),
            profile,
            environment,
        ): i
        for i, (source, output) in enumerate(jobs)
    }
    results: list[RunResult | None] = [None] * len(jobs)
    for future in as_completed(executor, list(futures)):
        i = futures[future]
        try:
            result = future.result()
        except Exception as err:  # the worker died, or could not start it
            result = RunResult(
                jobs[i][0].stem, "FAILED", 0.0, f"{type(err).__name__}: {err}"
            )
        print(
            f"  {result.notebook}: {result.status} in {result.seconds:.1f} s",
            flush=True,
        )
        results[i] = result
    return results


def format_table(results: list[RunResult]) -> str:
    """A plain-text table: notebook, status, seconds."""
    width = max([len("notebook")] + [len(r.notebook) for r in results])
    lines = [
        f"{'notebook':<{width}}  status  seconds",
        f"{'-' * width}  ------  -------",
    ]
    for r in results:
        lines.append(f"{r.notebook:<{width}}  {r.status:<6}  {r.seconds:7.1f}")
    return "\n".join(lines)


def format_plan(
    sources: list[Path],
    profile: str,
    probe: bool = True,
    markdown: bool = False,
) -> str:
    """The --plan report: a table of each notebook's work and minutes, and
    what the device figures assume; ``markdown``: the table alone, as the
    README shows it (predicted device minutes, no CPU probe)."""
    import pandas as pd

    from ..costs import DEVICES, FIXED_SECONDS, plan_table
    from ..profiles import plan_lab

    table = plan_table(
        [plan_lab(source.stem, profile) for source in sources],
        cpu=probe and not markdown,
    )
    total = {"notebook": "total", "other work": ""}
    total.update(table.select_dtypes("number").sum().to_dict())
    table = pd.concat([table, pd.DataFrame([total])], ignore_index=True)
    if markdown:
        return _markdown_plan(table)
    lines = [
        f"Profile {profile}: predicted work and minutes per notebook "
        f"(upper bounds: early stopping may end runs sooner).",
        "",
        table.to_string(
            index=False,
            formatters={
                "runs": "{:.0f}".format,
                "train images (M)": "{:.2f}".format,
                "train PFLOP": "{:.3f}".format,
                **{c: "{:.1f}".format for c in table if c.startswith("min")},
            },
        ),
        "",
        "FLOPs: torch.utils.flop_counter on each real model, forward + "
        "backward per training image, forward per evaluated image.",
        f"Every notebook adds {FIXED_SECONDS:.0f} s (start, data, figures).",
    ]
    if probe:
        lines.append(
            "This CPU: a few timed training steps of each model "
            "(lab_utils.costs.cpu_probe)."
        )
    for key, spec in DEVICES.items():
        lines.append(f"{key.upper()}: {spec.source}.")
    return "\n".join(lines)


def _markdown_plan(table) -> str:
    minutes = [c for c in table if c.startswith("min, ")]
    head = ["notebook", "runs", "training images", "training FLOPs"]
    head += ["other work"] + [f"{c[5:]} min (predicted)" for c in minutes]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, row in table.iterrows():
        cells = [
            row["notebook"],
            f"{row['runs']:.0f}",
            f"{row['train images (M)']:.1f} M",
            f"{row['train PFLOP']:.2f} PFLOP",
            "" if row["other work"] in ("-", "") else row["other work"],
        ] + [f"{row[c]:.1f}" for c in minutes]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lab_utils.tools.run_all",
        description="Run the lab notebooks headlessly with papermill.",
    )
    parser.add_argument(
        "--profile",
        default="auto",
        choices=PROFILE_NAMES + ("auto",),
        help="smoke (seconds), cpu (minutes), full (GPU) or "
        "auto (full on CUDA, else cpu)",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="NAME",
        help="run only these notebooks: a number (1 or 01) picks that "
        "lab, other text every name containing it (e.g. arcface)",
    )
    parser.add_argument(
        "--inplace",
        action="store_true",
        help="write outputs into notebooks/*.ipynb",
    )
    parser.add_argument(
        "--plan",
        action="store_true",
        help="print each notebook's work and predicted minutes; run nothing",
    )
    parser.add_argument(
        "--no-probe",
        action="store_true",
        help="with --plan: skip the measured probe of this CPU",
    )
    parser.add_argument(
        "--markdown",
        action="store_true",
        help="with --plan: the table alone, in markdown (the README's)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="full-size data and models, two batches per training run",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="run N notebooks at once on a local Dask cluster",
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run the notebooks on the Dask cluster at ADDRESS "
        "(tcp://host:8786), whose workers share this filesystem",
    )
    parser.add_argument(
        "--notebooks",
        type=Path,
        default=Path("notebooks"),
        help="folder of NN_name.py sources",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=Path("build/runs"),
        help="where outputs go without --inplace",
    )
    args = parser.parse_args(argv)

    try:
        profile = resolve_profile(args.profile)
        sources = find_notebooks(args.notebooks, args.only)
        if args.jobs < 1:
            raise ValueError(
                f"--jobs {args.jobs}: give how many notebooks run at once "
                f"(1 or more)."
            )
        if args.jobs > 1 and args.scheduler:
            raise ValueError(
                "Give --jobs (a local cluster) or --scheduler (a running "
                "one), not both."
            )
        if args.plan and (args.jobs > 1 or args.scheduler):
            raise ValueError("--plan runs nothing: drop --jobs/--scheduler.")
        if args.no_probe and not args.plan:
            raise ValueError("--no-probe goes with --plan.")
        if args.markdown and not args.plan:
            raise ValueError("--markdown goes with --plan.")
        if args.plan and (args.dry_run or args.inplace):
            raise ValueError(
                "--plan runs nothing: drop --dry-run and --inplace."
            )
        if args.plan:
            report = format_plan(
                sources,
                profile,
                probe=not args.no_probe,
                markdown=args.markdown,
            )
        if args.dry_run and args.inplace:
            raise ValueError(
                "--dry-run outputs mean nothing: they never replace the "
                "committed notebooks. Drop --inplace."
            )
        if args.inplace:
            for source in sources:
                check_in_sync(source)
    except (FileNotFoundError, ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.plan:
        print(report)
        return 0
    # The kernels inherit this environment: a dry run only when asked for
    # here, never because the shell had LAB_DRY_RUN set.
    if args.dry_run:
        os.environ["LAB_DRY_RUN"] = "1"
    else:
        os.environ.pop("LAB_DRY_RUN", None)
    # Kernels run inside the notebooks' folder: make the data and results
    # folders absolute, relative to where the runner was started.
    for var, default in (
        ("LAB_DATA_DIR", "data"),
        ("LAB_RESULTS_DIR", "results"),
    ):
        given = os.environ.get(var) or default
        # The banner prints the folder as given; the kernel needs it
        # absolute.
        os.environ.setdefault(f"{var}_AS_GIVEN", given)
        os.environ[var] = str(resolve_data_dir(given))
    print(
        f"Running {len(sources)} notebook(s), profile {profile}, data "
        f"{os.environ['LAB_DATA_DIR']}",
        flush=True,
    )

    jobs = [
        (
            source,
            source.with_suffix(".ipynb")
            if args.inplace
            else args.output
            / (f"{profile}-dry-run" if args.dry_run else profile)
            / f"{source.stem}.ipynb",
        )
        for source in sources
    ]
    if args.jobs > 1 or args.scheduler:
        from ..cluster import connect, describe

        try:
            executor = connect(args.scheduler or f"local:{args.jobs}")
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print(f"Notebooks run on {describe(executor)}", flush=True)
        with executor:
            results = run_on_cluster(jobs, profile, executor)
    else:
        results = []
        for source, output in jobs:
            result = run_notebook(source, output, profile)
            print(
                f"  {result.notebook}: {result.status} in "
                f"{result.seconds:.1f} s",
                flush=True,
            )
            results.append(result)
    print()
    print(format_table(results))
    failed = [r for r in results if r.status != "ok"]
    for r in failed:
        print(f"\n{r.notebook} failed at {r.detail}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
