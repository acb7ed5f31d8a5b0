"""Resumable sweeps: a grid of configs x seeds, each run saved as it ends.

Every run lives in ``results_dir/<name>__seed<seed>/``: ``config.json``
first, then ``history.csv``, and ``metrics.json`` last, each written
atomically. ``metrics.json`` marks a run finished: running the sweep again
loads finished runs instead of training them, so an interrupted sweep
resumes where it stopped and nothing finished is recomputed or lost.
"""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from .engine import progress_enabled
from .files import atomic_write
from .metrics import is_accuracy, metric_mode

# train_fn(config, seed) -> a recipes.Trained, or (history, metrics).
TrainFn = Callable[[dict, int], object]


def _write_atomic(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text))


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
) -> pd.DataFrame:
    """Train ``train_fn(config, seed)`` for every config and seed, unless
    that run already finished in ``results_dir``; return one row per run.

    configs: name -> JSON-serialisable dict. train_fn returns a
    ``recipes.Trained`` (or a (history DataFrame, metrics dict) pair).
    Rows hold name, seed, the config, the metrics and ``reused`` (True
    when loaded from disk). A finished run whose saved config differs from
    the one asked for is an error, never overwritten. save_models: call
    ``train_fn(config, seed, save_to=run_dir(...) / "model.pt")`` so that
    each run's model can be reloaded later (``recipes.load_trained``); a
    finished run whose model.pt is missing is then trained again.
    """
    if save_models and not _takes_save_to(train_fn):
        raise ValueError(
            "save_models=True needs a train_fn that takes save_to= (every "
            "recipe in lab_utils.recipes does; so does functools.partial "
            "of one)."
        )
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    seeds = list(seeds)
    jobs = [(name, seed) for name in configs for seed in seeds]
    rows = []
    bar = tqdm(
        jobs,
        desc="sweep",
        unit="run",
        disable=not progress_enabled(progress) or None,
    )
    for name, seed in bar:
        config = json.loads(json.dumps(configs[name]))  # plain JSON types
        folder = run_dir(results_dir, name, seed)
        done = folder / "metrics.json"
        wanted = {"name": name, "seed": seed, "config": config}
        if done.exists():
            saved = json.loads((folder / "config.json").read_text())
            if saved != wanted:
                raise ValueError(
                    f"{folder} holds a finished run of {name!r} (seed "
                    f"{seed}) with a different config: {saved['config']}. "
                    f"Give the new config another name, or use another "
                    f"results folder; the saved run was left as it is."
                )
        # With save_models, a run counts as finished only with its model.
        if done.exists() and (
            not save_models or (folder / "model.pt").exists()
        ):
            metrics = json.loads(done.read_text())
            reused = True
        else:
            folder.mkdir(parents=True, exist_ok=True)
            _write_atomic(folder / "config.json", json.dumps(wanted, indent=1))
            extra = {"save_to": folder / "model.pt"} if save_models else {}
            history, metrics = _history_and_metrics(
                train_fn(config, seed, **extra)
            )
            _write_atomic(folder / "history.csv", history.to_csv(index=False))
            _write_atomic(done, json.dumps(metrics, indent=1))
            reused = False
        rows.append(
            {"name": name, "seed": seed, **config, **metrics, "reused": reused}
        )
    bar.close()
    return pd.DataFrame(rows)


def _takes_save_to(fn) -> bool:
    parameters = inspect.signature(fn).parameters.values()
    return any(
        p.name == "save_to" or p.kind is inspect.Parameter.VAR_KEYWORD
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
    for done in sorted(Path(results_dir).glob("*/metrics.json")):
        saved = json.loads((done.parent / "config.json").read_text())
        if names is not None and saved["name"] not in names:
            continue
        history = pd.read_csv(done.parent / "history.csv")
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
