"""Resumable sweeps: a grid of configs x seeds, each run saved as it ends.

Every run lives in ``results_dir/<name>__seed<seed>/``. When it ends, its
name, seed, config, metrics and history are written together as one file,
``run.json``, in one atomic step: a run is finished exactly when that
file exists, and what it says about the run cannot disagree with itself.
Running the sweep again loads finished runs instead of training them, so
an interrupted sweep resumes where it stopped and nothing finished is
recomputed or lost. Two sweeps that give one run name different configs
(two notebooks sharing a results folder, say) never overwrite each other:
the second to finish is refused with a message. A damaged ``run.json`` is
set aside as ``run.damaged.json`` and the run is trained again.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import os
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from . import claims, cluster
from .callbacks import early_stopping, rule_on
from .data.catalog import is_whole
from .engine import progress_enabled
from .files import (
    DiskFullError,
    remove_stale_temporaries,
    reporting_full_disk,
    temporary_path,
)
from .metrics import is_accuracy, metric_mode

# train_fn(config, seed) -> a recipes.Trained, or (history, metrics).
TrainFn = Callable[[dict, int], object]

RUN_FILE = "run.json"


def run_dir(results_dir: str | Path, name: str, seed: int) -> Path:
    """The folder of one run of a sweep; ``run_dir(...) / "model.pt"`` is
    its model when the sweep was run with ``save_models=True``."""
    safe = "".join(ch if ch.isalnum() or ch in "-_.+=" else "_" for ch in name)
    return Path(results_dir) / f"{safe}__seed{seed}"


def run_sweep(
    configs: dict[str, dict],
    seeds,
    train_fn: TrainFn,
    results_dir: str | Path,
    progress: bool | None = None,
    save_models: bool = False,
    executor=None,
    gpus_per_run=None,
) -> pd.DataFrame:
    """Train ``train_fn(config, seed)`` for every config and seed, unless
    that run already finished in ``results_dir``; return one row per run.

    configs: name -> JSON-serialisable dict. train_fn returns a
    ``recipes.Trained`` (or a (history DataFrame, metrics dict) pair).
    Rows hold name, seed, the config, the metrics and ``reused`` (True
    when loaded from disk, or trained meanwhile by another sweep), in the
    order of configs, then seeds. A finished run whose saved config
    differs from the one asked for is an error, never overwritten.
    save_models: call ``train_fn(config, seed, save_to=...)`` and keep
    the model as ``run_dir(...) / "model.pt"``, so that each run's model
    can be reloaded later (``recipes.load_trained``); a finished run
    whose model.pt is missing, or is not the one its run.json recorded,
    is trained again.

    executor: None trains here, one run after another; a
    ``concurrent.futures`` executor (a process pool) or a Dask
    ``distributed.Client`` (see ``cluster.sweep_executor``) trains the
    runs in parallel, each saved by the process that trained it. Every
    run is claimed before it trains (``claims``), so two sweeps on one
    folder, here or on machines sharing it, never train the same run:
    each waits for the other's. On Dask, results_dir must be a path
    every worker sees; a run whose worker dies is trained again. On CPU
    the rows equal a serial sweep's at the same number of torch threads
    (a Dask worker has one; a different count reorders float sums, which
    moves losses in their sixth digit).
    gpus_per_run (Dask only): the share of a worker's ``GPU`` resource
    each run holds, or a function of the config giving it (0.25: four
    runs share a GPU). None: 1 when some worker offers a GPU, else 0.
    On a worker, train_fn is called with ``device=`` (the GPU when the
    run holds one, else the CPU) if it takes that argument.
    """
    if save_models and not _takes(train_fn, "save_to"):
        raise ValueError(
            "save_models=True needs a train_fn that takes save_to= (every "
            "recipe in lab_utils.recipes does; so does functools.partial "
            "of one)."
        )
    how = cluster.kind(executor)
    results_dir = Path(results_dir).resolve()
    results_dir.mkdir(parents=True, exist_ok=True)
    seeds = list(seeds)
    # First what is on disk (each record read once): a changed run is an
    # error before anything trains, and the student is told what is kept.
    # This sweep's id, written into each record it trains: a run found
    # now was trained by another, and is reused.
    sweep = uuid.uuid4().hex
    jobs = []
    for name in configs:
        for seed in seeds:
            # Plain JSON types, as they will be read back.
            config = json.loads(json.dumps(configs[name], default=_plain))
            job = _Job(name, seed, config, run_dir(results_dir, name, seed))
            saved = read_run(job.folder, set_aside_damaged=True)
            if saved is None:
                _warn_if_old_layout(job.folder)
            else:
                job.outcome = _outcome(
                    job.folder, saved, job.run, save_models, sweep
                )
            jobs.append(job)
    todo = [job for job in jobs if job.outcome is None]
    gpus = _placement(gpus_per_run, todo, executor, how, train_fn)
    if how == "dask" and todo:
        cluster.check_folder_visible(executor, results_dir)
    _say_what_is_found(results_dir.name, len(jobs) - len(todo), len(jobs))
    bar = tqdm(
        total=len(jobs),
        initial=len(jobs) - len(todo),
        desc="sweep",
        unit="run",
        disable=not progress_enabled(progress) or None,
    )
    runner = _Runner(train_fn, save_models, executor, gpus, bar, sweep)
    try:
        if how == "serial":
            for job in todo:
                runner.here(job)
        else:
            runner.elsewhere(todo)
        runner.wait_for_others(todo)
    finally:
        bar.close()
    rows = [
        {
            "name": job.name,
            "seed": job.seed,
            **job.config,
            **job.outcome[0],
            "reused": job.outcome[1],
        }
        for job in jobs
    ]
    return pd.DataFrame(rows)


@dataclass
class _Job:
    name: str
    seed: int
    config: dict
    folder: Path
    outcome: tuple | None = None  # (metrics, reused) once known
    take_over: tuple | None = None  # a stale claim's signature

    @property
    def run(self) -> tuple:
        return self.name, self.seed, self.config


def _placement(gpus_per_run, todo, executor, how, train_fn) -> dict:
    """Each run's GPU share (by folder): None off Dask, where runs use
    train_fn's own device."""
    if how != "dask":
        if gpus_per_run:
            raise ValueError(
                "gpus_per_run places runs on Dask workers that offer a "
                "GPU; with executor=None or a process pool, train_fn's "
                "own device is used. Drop gpus_per_run, or pass a "
                "distributed.Client as executor."
            )
        return {job.folder: None for job in todo}
    if gpus_per_run is None:
        gpus_per_run = float(any(cluster.worker_gpus(executor).values()))
    gpus = {}
    for job in todo:
        share = (
            gpus_per_run(job.config)
            if callable(gpus_per_run)
            else gpus_per_run
        )
        if isinstance(share, bool) or not (
            isinstance(share, (int, float)) and share >= 0
        ):
            raise ValueError(
                f"gpus_per_run must be a number of GPUs (0, 0.25, 1, ...) "
                f"or a function of the config giving one; for "
                f"{job.name!r} it gave {share!r}."
            )
        gpus[job.folder] = float(share)
    needed = max(gpus.values(), default=0.0)
    if needed:
        cluster.check_gpus(executor, needed)
        if not _takes(train_fn, "device"):
            raise ValueError(
                "Runs placed on GPU workers need a train_fn that takes "
                "device= (every recipe in lab_utils.recipes does; give "
                "your own function a device=None argument and pass it "
                "on)."
            )
    return gpus


class _Attempt:
    """One run's training, as a sweep process (or a worker) does it: claim
    the run, reuse it if it finished meanwhile, else train and save it.
    Returns (metrics, reused), or None when another live process holds
    the claim. ``sweep``: the id of the sweep that asked, written into
    the record, so that a run this sweep trained (on a worker that then
    died, say) is never reported as reused."""

    def __init__(self, train_fn, save_models, sweep):
        self.train_fn = train_fn
        self.save_models = save_models
        self.sweep = sweep

    def __call__(self, folder, name, seed, config, gpus, take_over=None):
        claim = claims.acquire(folder, take_over)
        if claim is None:
            return None
        with claim:
            saved = read_run(folder, set_aside_damaged=True)
            if saved is not None:
                outcome = _outcome(
                    folder,
                    saved,
                    (name, seed, config),
                    self.save_models,
                    self.sweep,
                )
                if outcome is not None:
                    return outcome
                # Its model is missing or not the one it recorded: the
                # record goes, and the run is trained again.
                (folder / RUN_FILE).unlink(missing_ok=True)
            extra = {}
            if gpus is not None and _takes(self.train_fn, "device"):
                extra["device"] = cluster.placed_device(gpus)
            return _train_and_claim(
                folder,
                name,
                seed,
                config,
                self.train_fn,
                self.save_models,
                extra,
                self.sweep,
            )


def _run_task(payload, digest, save_models, sweep, job_args):
    """What a worker runs for one run of a sweep."""
    cluster.settle_worker()
    train_fn = cluster.unpack(payload, digest)
    return _Attempt(train_fn, save_models, sweep)(*job_args)


# How often a sweep looks whether another sweep finished a run it waits
# for, and says that it still waits (seconds).
POLL = 2.0
REMIND = 300.0
# How many times a sweep sends its train_fn again when the workers that
# held it died.
RESENDS = 3


class _Runner:
    """How one sweep trains its runs: here, or on an executor's workers,
    then waiting for the runs other sweeps hold."""

    def __init__(self, train_fn, save_models, executor, gpus, bar, sweep):
        self.train_fn = train_fn
        self.save_models = save_models
        self.executor = executor
        self.gpus = gpus
        self.bar = bar
        self.sweep = sweep
        self.payload = None

    def _args(self, job) -> tuple:
        return (job.folder, *job.run, self.gpus[job.folder], job.take_over)

    def here(self, job) -> None:
        attempt = _Attempt(self.train_fn, self.save_models, self.sweep)
        job.outcome = attempt(*self._args(job))
        self.bar.update(job.outcome is not None)

    def elsewhere(self, jobs) -> None:
        """Submit ``jobs`` to the executor and record each outcome as it
        comes back; on a failure, cancel what has not started and raise
        (finished runs are saved, and a new sweep resumes). When the
        workers that held the sweep's train_fn all died, it is sent again
        and the runs without an outcome are submitted again."""
        for _ in range(RESENDS + 1):
            if not jobs or not self._submit(jobs):
                return
            jobs = [job for job in jobs if job.outcome is None]
            self.payload = None
            print(
                f"The Dask workers that held this sweep's train_fn died; "
                f"sending it again and resubmitting {len(jobs)} runs."
            )
        raise RuntimeError(
            f"The Dask workers kept dying ({RESENDS + 1} times in a row, "
            f"each time losing this sweep's train_fn). The runs that "
            f"finished are saved and none is half-written; look at the "
            f"workers' logs (memory, a crash in train_fn), then run the "
            f"sweep again to train the rest."
        )

    def _submit(self, jobs) -> bool:
        """Submit and collect ``jobs``; True when the payload was lost (a
        task was cancelled by the scheduler, not by this sweep)."""
        if self.payload is None:  # packed and sent once per sweep
            payload, digest = cluster.pack(self.train_fn)
            self.payload = cluster.share(self.executor, payload), digest
        futures = {
            cluster.submit(
                self.executor,
                _run_task,
                *self.payload,
                self.save_models,
                self.sweep,
                self._args(job),
                gpus=self.gpus[job.folder] or 0.0,
            ): job
            for job in jobs
        }
        job = None
        try:
            for future in cluster.as_completed(self.executor, list(futures)):
                job = futures[future]
                job.outcome = future.result()
                self.bar.update(job.outcome is not None)
        except BaseException as err:
            cluster.cancel(self.executor, list(futures))
            if cluster.lost_data(err):
                return True
            if type(err).__name__ in ("BrokenProcessPool", "KilledWorker"):
                done = sum(j.outcome is not None for j in jobs)
                raise RuntimeError(
                    f"Training {job.name!r} (seed {job.seed}) ended its "
                    f"worker process ({type(err).__name__}), most often by "
                    f"running out of memory: give each worker more (fewer "
                    f"workers per machine, or a larger memory limit). The "
                    f"{done} runs that finished are saved and none is "
                    f"half-written; run the sweep again (with a new "
                    f"process pool, if it was one) to train the rest."
                ) from err
            raise
        return False

    def wait_for_others(self, todo) -> None:
        """Runs that another sweep held when this one came to them: wait
        for their results, and train any whose claim went stale (its
        owner died) or was released without a result."""
        waiting = [job for job in todo if job.outcome is None]
        said = -math.inf
        while waiting:
            if time.monotonic() - said > REMIND:
                holder = claims.describe(claims.owner(waiting[0].folder))
                print(
                    f"{len(waiting)} runs are claimed by other processes "
                    f"({holder}, ...); waiting for their results. A claim "
                    f"whose heartbeat stops for {claims.STALE_AFTER:.0f} s "
                    f"is taken over."
                )
                said = time.monotonic()
            time.sleep(POLL)
            retry = []
            for job in waiting:
                if self._finished_by_another(job):
                    continue
                if claims.owner(job.folder) is None or claims.is_stale(
                    job.folder
                ):
                    job.take_over = claims.signature(job.folder)
                    retry.append(job)
            if self.executor is None:
                for job in retry:
                    self.here(job)
            else:
                self.elsewhere(retry)
            waiting = [job for job in waiting if job.outcome is None]

    def _finished_by_another(self, job) -> bool:
        saved = read_run(job.folder)
        if saved is None or claims.owner(job.folder) is not None:
            return False
        job.outcome = _outcome(
            job.folder, saved, job.run, self.save_models, self.sweep
        )
        if job.outcome is None:
            return False
        self.bar.update()
        return True


def _outcome(folder, saved, run, save_models, sweep) -> tuple | None:
    """A saved run's (metrics, reused), or None when its model is missing
    or not the one it recorded. A changed run is an error; ``reused`` is
    False for a run this sweep trained (on a worker, say)."""
    _check_same_run(folder, saved, *run)
    if save_models and not _model_matches(folder, saved):
        return None
    return saved["metrics"], saved.get("sweep") != sweep


def _say_what_is_found(where: str, found: int, total: int) -> None:
    """One line before a sweep: how many runs are already on disk and will
    be reused, so a student who runs a notebook again sees that finished
    work is kept."""
    if found == total:
        print(f"{where}: all {found} runs found, training none.")
    elif found:
        print(
            f"{where}: {found} of {total} runs found, training the "
            f"remaining {total - found}."
        )
    else:
        print(
            f"{where}: training {total} runs; each is saved as it ends, so "
            f"running this again after an interruption trains only the "
            f"missing ones."
        )


def read_run(folder: str | Path, set_aside_damaged: bool = False):
    """The finished run saved in ``folder`` as a dict (name, seed, config,
    metrics, history, model), or None when there is none. A damaged
    ``run.json`` gives a warning that names it and None; with
    ``set_aside_damaged`` (what a sweep does) it is also renamed
    ``run.damaged.json``, kept for a look and never read again, and the
    run is trained afresh."""
    path = Path(folder) / RUN_FILE
    try:
        record = json.loads(path.read_text())
        _check_record(record)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as err:  # bad bytes, bad JSON
        then = (
            "it is set aside as run.damaged.json and the run will be "
            "trained again"
            if set_aside_damaged
            else "the run is skipped"
        )
        warnings.warn(f"{path} is damaged ({err}); {then}.", stacklevel=3)
        if set_aside_damaged:
            os.replace(path, path.with_name("run.damaged.json"))
        return None
    return record


_RECORD_FIELDS = {
    "name": str,
    "seed": int,
    "config": dict,
    "metrics": dict,
    "history": list,
}


def _check_record(record) -> None:
    if not isinstance(record, dict):
        raise ValueError(f"a {type(record).__name__}, not a run record")
    for key, kind in _RECORD_FIELDS.items():
        if not isinstance(record.get(key), kind):
            raise ValueError(f"{key!r} missing or not a {kind.__name__}")


def _warn_if_old_layout(folder: Path) -> None:
    """Runs saved before run.json (config.json, history.csv and
    metrics.json written one by one) cannot be checked to agree with
    each other, so they are trained again; say so, once per run."""
    if (folder / "metrics.json").exists():
        warnings.warn(
            f"{folder} holds a run in the old layout (config.json, "
            f"history.csv, metrics.json), whose files cannot be checked "
            f"to belong together; it is trained again and saved as "
            f"run.json. The old files are left as they are.",
            stacklevel=3,
        )


def _check_same_run(folder, saved, name, seed, config) -> None:
    wanted = {"name": name, "seed": seed, "config": config}
    have = {k: saved[k] for k in wanted}
    if have != wanted:
        raise ValueError(
            f"{folder} holds a finished run of {saved['name']!r} (seed "
            f"{saved['seed']}) with a different config: {saved['config']} "
            f"(asked for {config}). Give the new config another name, or "
            f"use another results folder; the saved run was left as it is."
        )


def _train_and_claim(
    folder, name, seed, config, train_fn, save_models, extra=None, sweep=None
):
    """Train one run, then write its record and (with save_models) its
    model in place; returns (metrics, reused). The model is trained into
    a private file first and moved in only by the process whose record
    claimed the run, so two processes never mix a model and a record. A
    process that finds the run finished meanwhile by another, with the
    same config, uses that one (reused True) and drops its own."""
    folder.mkdir(parents=True, exist_ok=True)
    model = folder / "model.pt"
    for path in (folder / RUN_FILE, model):
        remove_stale_temporaries(path)  # left by a killed process
    private = temporary_path(model)
    extra = dict(extra or {})
    if save_models:
        extra["save_to"] = private
    try:
        history, metrics = _history_and_metrics(
            train_fn(config, seed, **extra)
        )
        record = {
            "name": name,
            "seed": seed,
            "config": config,
            "metrics": metrics,
            "history": history.to_dict("records"),
            "model": _fingerprint(private) if save_models else None,
            "sweep": sweep,
        }
        try:
            other = _claim(folder, record)
        except DiskFullError as err:
            raise _unrecorded(
                name, seed, metrics, err, private, model
            ) from err
        if other is not None:
            return other["metrics"], other.get("sweep") != sweep
        if save_models:
            os.replace(private, model)
    finally:
        private.unlink(missing_ok=True)
    return metrics, False


def _unrecorded(name, seed, metrics, err, private, model) -> DiskFullError:
    """A DiskFullError for a run that trained but whose record could not
    be written: its metrics are in the message and its model (if saved)
    is moved into place, so nothing it computed is lost unsaid."""
    kept = ""
    if private.is_file():
        os.replace(private, model)  # a rename needs no space
        kept = f" Its model is kept at {model}."
    results = ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
        for k, v in metrics.items()
    )
    return DiskFullError(
        err.errno,
        f"The run {name!r} (seed {seed}) trained, but its record could not "
        f"be written, so the sweep will train it again next time: "
        f"{err.strerror} "
        f"Its results: {results}.{kept}",
    )


def _claim(folder: Path, record: dict):
    """Write ``record`` as folder/run.json, unless the run is there
    already: then return that record if its config is the same, and
    refuse if it differs (the saved run stays). Returns None when this
    record was written. Hard links make the claim atomic; where a drive
    has none (some cloud drives), the check and the write are two steps."""
    path = folder / RUN_FILE
    tmp = temporary_path(path)
    try:
        with reporting_full_disk(path):
            tmp.write_text(json.dumps(record, indent=1, default=_plain))
        try:
            os.link(tmp, path)  # fails if the file exists: an atomic claim
            return None
        except FileExistsError:
            pass
        except OSError:
            if not path.exists():
                os.replace(tmp, path)
                return None
        other = read_run(folder, set_aside_damaged=True)
        if other is None:  # it was damaged, and is now set aside
            os.replace(tmp, path)
            return None
        _check_same_run(
            folder, other, record["name"], record["seed"], record["config"]
        )
        return other
    finally:
        tmp.unlink(missing_ok=True)


def _plain(value):
    """numpy scalars (in a history or metrics) as plain Python numbers."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{value!r} ({type(value).__name__}) is not JSON data")


def _fingerprint(path: Path) -> dict:
    data = path.read_bytes()
    return {"bytes": len(data), "sha1": hashlib.sha1(data).hexdigest()}


def _model_matches(folder: Path, saved: dict) -> bool:
    """Whether model.pt beside a saved run is the model it recorded."""
    model = saved.get("model")
    path = folder / "model.pt"
    return bool(model) and path.is_file() and _fingerprint(path) == model


def _takes(fn, argument: str) -> bool:
    """Whether ``fn`` accepts the keyword ``argument``."""
    parameters = inspect.signature(fn).parameters.values()
    return any(
        p.name == argument or p.kind is inspect.Parameter.VAR_KEYWORD
        for p in parameters
    )


def _history_and_metrics(result) -> tuple[pd.DataFrame, dict]:
    if hasattr(result, "history") and hasattr(result, "metrics"):
        return result.history, result.metrics
    history, metrics = result
    return history, metrics


def load_histories(results_dir: str | Path, names=None) -> pd.DataFrame:
    """Every finished run's history in one long DataFrame (name, seed,
    epoch, metrics...); with ``names``, only those runs, in that order."""
    frames = {}
    for done in sorted(Path(results_dir).glob(f"*/{RUN_FILE}")):
        saved = read_run(done.parent)
        if saved is None or (names is not None and saved["name"] not in names):
            continue
        history = pd.DataFrame(saved["history"])
        frames.setdefault(saved["name"], []).append(
            history.assign(name=saved["name"], seed=saved["seed"])
        )
    order = list(names) if names is not None else list(frames)
    parts = [f for name in order for f in frames.get(name, [])]
    if not parts:
        return pd.DataFrame()
    return pd.concat(parts, ignore_index=True)


def aggregate(
    results: pd.DataFrame,
    metrics=("val_acc", "test_acc", "seconds"),
    by: str | list[str] = "name",
) -> pd.DataFrame:
    """Mean and standard deviation over seeds of each metric, per group,
    in the order the groups first appear."""
    order = list(
        dict.fromkeys(
            results[by]
            if isinstance(by, str)
            else map(tuple, results[by].values)
        )
    )
    grouped = results.groupby(by, sort=False)[list(metrics)]
    table = grouped.agg(["mean", "std"])
    table.columns = [f"{m}_{stat}" for m, stat in table.columns]
    table["seeds"] = grouped.size()
    return table.loc[order] if isinstance(by, str) else table


def format_mean_std(
    table: pd.DataFrame, metrics, scale=100.0, digits=1
) -> pd.DataFrame:
    """``aggregate``'s table as "mean ± std" strings (accuracies in %;
    "-" where no seed has a value, e.g. a target never reached)."""
    out = pd.DataFrame(index=table.index)
    for m in metrics:
        s = scale if is_accuracy(m) else 1.0
        mean = table[f"{m}_mean"] * s
        std = table[f"{m}_std"].fillna(0.0) * s
        out[m] = [
            "-"
            if math.isnan(a)
            else f"{a:.{digits}f} ± {b:.{digits}f}"
            if n > 1
            else f"{a:.{digits}f}"
            for a, b, n in zip(mean, std, table["seeds"])
        ]
    out["seeds"] = table["seeds"]
    return out


def compare_to_baseline(
    results: pd.DataFrame, baseline: str = "baseline", metric: str = "val_acc"
) -> pd.DataFrame:
    """Each config's mean change of ``metric`` against ``baseline`` over
    seeds, with a verdict: "better"/"worse" when the change exceeds two
    standard errors of the difference of the means, else "within noise"
    (a single seed can never claim more than "one run")."""
    stats = results.groupby("name", sort=False)[metric].agg(
        ["mean", "std", "count"]
    )
    if baseline not in stats.index:
        raise ValueError(
            f"No runs named {baseline!r} in the results. "
            f"Names: {', '.join(stats.index)}."
        )
    base = stats.loc[baseline]
    rows = []
    for name, row in stats.iterrows():
        delta = row["mean"] - base["mean"]
        if min(row["count"], base["count"]) < 2:
            verdict = "one run"
            stderr = float("nan")
        else:
            stderr = math.sqrt(
                row["std"] ** 2 / row["count"]
                + base["std"] ** 2 / base["count"]
            )
            verdict = (
                "within noise"
                if abs(delta) <= 2 * stderr
                else "better"
                if delta > 0
                else "worse"
            )
        rows.append(
            {
                "name": name,
                f"{metric} change": delta,
                "two std errors": 2 * stderr,
                "verdict": "-" if name == baseline else verdict,
            }
        )
    return pd.DataFrame(rows).set_index("name")


def ladder(base: dict, steps: dict[str, dict]) -> dict[str, dict]:
    """Cumulative configs, as a report that keeps every improvement runs
    them: ``"baseline"`` is ``base``, and each of ``steps`` (name -> the
    options it changes) is applied on top of all the steps before it, so
    the last config holds every change."""
    if "baseline" in steps:
        raise ValueError(
            "A ladder step may not be called 'baseline': that name is the "
            "base config. Rename the step."
        )
    configs = {"baseline": dict(base)}
    current = dict(base)
    for name, changes in steps.items():
        if not isinstance(changes, dict):
            raise TypeError(
                f"Ladder step {name!r} must be a dict of the options it "
                f"changes, got {type(changes).__name__}."
            )
        current = {**current, **changes}
        configs[name] = current
    return configs


def compare_steps(
    results: pd.DataFrame, metric: str = "test_acc"
) -> pd.DataFrame:
    """Each config against the one before it (in the order the names
    first appear, as a ``ladder`` runs them), by ``compare_to_baseline``'s
    rule: "better"/"worse" only beyond two standard errors."""
    names = list(dict.fromkeys(results["name"]))
    rows = []
    for before, name in zip(names, names[1:]):
        pair = results[results["name"].isin([before, name])]
        row = compare_to_baseline(pair, before, metric).loc[[name]]
        rows.append(row.assign(**{"compared with": before}))
    if not rows:
        raise ValueError(
            f"compare_steps needs at least two configs; the results name "
            f"only {', '.join(names) or 'none'}."
        )
    return pd.concat(rows)


def combine_improvements(
    configs: dict[str, dict],
    verdicts: pd.DataFrame,
    results: pd.DataFrame,
    baseline: str = "baseline",
    metric: str = "val_acc",
) -> dict:
    """The baseline config plus the changes of every config whose verdict
    is "better" on validation; where two improvements set the same option
    (say two augmentations), the one with the higher mean wins."""
    means = results.groupby("name")[metric].mean()
    better = [
        n for n in verdicts.index if verdicts.loc[n, "verdict"] == "better"
    ]
    better.sort(key=lambda n: means[n])  # best last, so it wins
    chosen = dict(configs[baseline])
    for name in better:
        chosen.update(
            {
                k: v
                for k, v in configs[name].items()
                if configs[baseline].get(k) != v
            }
        )
    return chosen


def time_to_target(
    histories: pd.DataFrame, target: float, metric: str = "val_acc"
) -> pd.DataFrame:
    """Per run (name, seed): the first epoch at which ``metric`` reached
    ``target`` (at or above it for accuracies, at or below for losses) and
    the training seconds spent until then (NaN if never)."""
    rows = []
    for (name, seed), h in histories.groupby(["name", "seed"], sort=False):
        h = h.sort_values("epoch")
        better = metric_mode(metric) == "max"
        reached = h[h[metric] >= target if better else h[metric] <= target]
        first = reached["epoch"].iloc[0] if len(reached) else math.nan
        seconds = (
            h.loc[h["epoch"] <= first, "seconds"].sum()
            if len(reached)
            else math.nan
        )
        rows.append(
            {
                "name": name,
                "seed": seed,
                "epochs_to_target": first,
                "seconds_to_target": seconds,
            }
        )
    return pd.DataFrame(rows)


def early_stopping_on_curves(
    histories: pd.DataFrame,
    patience: int,
    min_delta: float = 0.0,
    metric: str = "val_acc",
    rule=early_stopping,
) -> pd.DataFrame:
    """Early stopping replayed on recorded runs: per run (name, seed), the
    epoch at which ``rule`` (:func:`callbacks.early_stopping`, or a
    student's with its arguments and result) would have stopped it
    (``stopped_at``, NaN if it never would), the best epoch it would have
    kept, ``metric`` there (``kept``) and at the last epoch trained
    (``last``), and the epochs it would have saved."""
    mode = metric_mode(metric)
    rows = []
    for (name, seed), h in histories.groupby(["name", "seed"], sort=False):
        values = list(h.sort_values("epoch")[metric])
        stopped_at, best_epoch = math.nan, None
        for epoch in range(1, len(values) + 1):
            best_epoch, stop = rule_on(
                values[:epoch], mode, patience, min_delta, rule
            )
            if not (is_whole(best_epoch) and 1 <= best_epoch <= epoch):
                raise ValueError(
                    f"The early-stopping rule returned best_epoch="
                    f"{best_epoch!r} after epoch {epoch} of {name!r}; it "
                    f"must be an epoch number from 1 to {epoch}."
                )
            if stop:
                stopped_at = epoch
                break
        rows.append(
            {
                "name": name,
                "seed": seed,
                "epochs_run": len(values),
                "stopped_at": stopped_at,
                "best_epoch": best_epoch,
                "kept": values[best_epoch - 1],
                "last": values[-1],
                "epochs_saved": 0
                if math.isnan(stopped_at)
                else len(values) - stopped_at,
            }
        )
    return pd.DataFrame(rows)


def early_stopping_summary(replayed: pd.DataFrame) -> str:
    """One sentence on :func:`early_stopping_on_curves`'s table: how many
    runs it would have stopped, the epochs saved, and what keeping the
    best epoch gained or lost against the last, in points."""
    stopped = replayed["stopped_at"].notna()
    gain = 100 * (replayed["kept"] - replayed["last"])
    return (
        f"Early stopping would have stopped {int(stopped.sum())} of "
        f"{len(replayed)} runs early, saving "
        f"{int(replayed['epochs_saved'].sum())} of "
        f"{int(replayed['epochs_run'].sum())} epochs; keeping the best "
        f"epoch instead of the last changed validation accuracy by "
        f"{gain.mean():+.2f} points on average (from {gain.min():+.2f} to "
        f"{gain.max():+.2f})."
    )
