"""Resumable sweeps: a grid of configs x seeds, each run saved as it ends.

Every run lives in ``results_dir/<name>__seed<seed>/``: ``config.json``
first, then ``history.csv``, and ``metrics.json`` last, each written
atomically. ``metrics.json`` marks a run finished: running the sweep again
loads finished runs instead of training them, so an interrupted sweep
resumes where it stopped and nothing finished is recomputed or lost.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Callable

import pandas as pd
import torch
from tqdm.auto import tqdm

from .data import LabData, TensorLoader, get_augment
from .files import atomic_write
from .models import ThreeConvNet, count_parameters, three_conv_config
from .train import (NonFiniteLossError, _progress_enabled, default_device,
                    evaluate, fit_config, load_checkpoint, save_checkpoint,
                    seed_everything)

TrainFn = Callable[[dict, int], tuple[pd.DataFrame, dict]]


def _write_atomic(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text))


def _run_dir(results_dir: Path, name: str, seed: int) -> Path:
    safe = "".join(ch if ch.isalnum() or ch in "-_.+=" else "_"
                   for ch in name)
    return results_dir / f"{safe}__seed{seed}"


def run_sweep(configs: dict[str, dict], seeds, train_fn: TrainFn,
              results_dir: str | Path,
              progress: bool | None = None) -> pd.DataFrame:
    """Train ``train_fn(config, seed)`` for every config and seed, unless
    that run already finished in ``results_dir``; return one row per run.

    configs: name -> JSON-serialisable dict. train_fn returns (history
    DataFrame, metrics dict). Rows hold name, seed, the config, the metrics
    and ``reused`` (True when loaded from disk). A finished run whose saved
    config differs from the one asked for is an error, never overwritten.
    """
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    seeds = list(seeds)
    jobs = [(name, seed) for name in configs for seed in seeds]
    rows = []
    bar = tqdm(jobs, desc="sweep", unit="run",
               disable=not _progress_enabled(progress) or None)
    for name, seed in bar:
        config = json.loads(json.dumps(configs[name]))  # plain JSON types
        run_dir = _run_dir(results_dir, name, seed)
        done = run_dir / "metrics.json"
        wanted = {"name": name, "seed": seed, "config": config}
        if done.exists():
            saved = json.loads((run_dir / "config.json").read_text())
            if saved != wanted:
                raise ValueError(
                    f"{run_dir} holds a finished run of {name!r} (seed "
                    f"{seed}) with a different config: {saved['config']}. "
                    f"Give the new config another name, or use another "
                    f"results folder; the saved run was left as it is.")
            metrics = json.loads(done.read_text())
            reused = True
        else:
            run_dir.mkdir(parents=True, exist_ok=True)
            _write_atomic(run_dir / "config.json",
                          json.dumps(wanted, indent=1))
            history, metrics = train_fn(config, seed)
            _write_atomic(run_dir / "history.csv",
                          history.to_csv(index=False))
            _write_atomic(done, json.dumps(metrics, indent=1))
            reused = False
        rows.append({"name": name, "seed": seed, **config, **metrics,
                     "reused": reused})
    bar.close()
    return pd.DataFrame(rows)


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
            history.assign(name=saved["name"], seed=saved["seed"]))
    order = list(names) if names is not None else list(frames)
    parts = [f for name in order for f in frames.get(name, [])]
    if not parts:
        return pd.DataFrame()
    return pd.concat(parts, ignore_index=True)


def aggregate(results: pd.DataFrame, metrics=("val_acc", "test_acc",
                                              "seconds"),
              by: str | list[str] = "name") -> pd.DataFrame:
    """Mean and standard deviation over seeds of each metric, per group,
    in the order the groups first appear."""
    order = list(dict.fromkeys(results[by] if isinstance(by, str)
                               else map(tuple, results[by].values)))
    grouped = results.groupby(by, sort=False)[list(metrics)]
    table = grouped.agg(["mean", "std"])
    table.columns = [f"{m}_{stat}" for m, stat in table.columns]
    table["seeds"] = grouped.size()
    return table.loc[order] if isinstance(by, str) else table


def format_mean_std(table: pd.DataFrame, metrics, scale=100.0,
                    digits=1) -> pd.DataFrame:
    """``aggregate``'s table as "mean ± std" strings (accuracies in %;
    "-" where no seed has a value, e.g. a target never reached)."""
    out = pd.DataFrame(index=table.index)
    for m in metrics:
        s = scale if "acc" in m else 1.0
        mean = table[f"{m}_mean"] * s
        std = table[f"{m}_std"].fillna(0.0) * s
        out[m] = ["-" if math.isnan(a) else
                  f"{a:.{digits}f} ± {b:.{digits}f}" if n > 1 else
                  f"{a:.{digits}f}" for a, b, n in zip(mean, std,
                                                       table["seeds"])]
    out["seeds"] = table["seeds"]
    return out


# --- the standard classification run --------------------------------------

MODEL_OPTIONS = ("widths", "fc", "batch_norm", "dropout", "dense", "bias")


def train_classifier(config: dict, seed: int, train: LabData, val: LabData,
                     test: LabData, device=None, progress: bool = False,
                     save_to: str | Path | None = None,
                     callbacks=()) -> tuple[pd.DataFrame, dict]:
    """One run of a ThreeConvNet on (train, val, test) from a flat config.

    config keys: preset and any ThreeConvNet option (widths, fc,
    batch_norm, dropout, dense, bias); augment (a name in AUGMENTATIONS);
    optimizer, lr, weight_decay, schedule (constant, cosine, one-cycle),
    batch_size, epochs; patience (early stopping on validation accuracy,
    restoring the best weights; 0 = off). A run whose loss becomes NaN or
    infinite (a learning rate too large) ends there and is reported with
    ``diverged`` True and chance-level accuracy, so a sweep goes on.
    Returns the history and metrics of the final weights (the best epoch's
    with early stopping): val_acc, test_acc, test_loss, epochs run,
    seconds, parameters. save_to: write the final model, its optimizer
    state, the config and the metrics there (see ``load_classifier``).
    """
    device = torch.device(device) if device else default_device()
    seed_everything(seed)
    model = build_classifier(config, train)
    loader = TensorLoader(train, config.get("batch_size", 64), shuffle=True,
                          augment=get_augment(config.get("augment", "none")),
                          device=device, seed=seed)
    val_loader = TensorLoader(val, 512, device=device)
    start = time.perf_counter()
    try:
        history, optimizer = fit_config(model, config, loader, val_loader,
                                        callbacks=callbacks, device=device,
                                        progress=progress)
    except NonFiniteLossError:
        chance = 1.0 / len(train.classes)
        return pd.DataFrame({"epoch": []}), {
            "val_acc": chance, "test_acc": chance, "test_loss": math.nan,
            "epochs_run": 0, "seconds": time.perf_counter() - start,
            "parameters": count_parameters(model), "diverged": True}
    seconds = time.perf_counter() - start
    test_metrics = evaluate(model, TensorLoader(test, 512, device=device))
    val_acc = (history["val_acc"].max() if config.get("patience", 0)
               else history["val_acc"].iloc[-1])
    metrics = {
        "val_acc": float(val_acc),
        "test_acc": test_metrics["acc"], "test_loss": test_metrics["loss"],
        "epochs_run": int(len(history)), "seconds": seconds,
        "parameters": count_parameters(model), "diverged": False,
    }
    if save_to is not None:
        save_checkpoint(save_to, model=model.state_dict(),
                        optimizer=optimizer.state_dict(), config=config,
                        seed=seed, metrics=metrics,
                        history=history.to_dict("list"),
                        data={"name": train.name,
                              "shape": tuple(train.X.shape[1:]),
                              "classes": train.classes})
    return history, metrics


def build_classifier(config: dict, data: LabData) -> ThreeConvNet:
    """The ThreeConvNet a flat config describes, sized for ``data``."""
    changes = {k: tuple(v) if isinstance(v, list) else v
               for k, v in config.items() if k in MODEL_OPTIONS}
    c, h, _ = data.X.shape[1:]
    return ThreeConvNet(three_conv_config(config.get("preset", "small"),
                                          **changes),
                        in_channels=c, n_classes=len(data.classes),
                        image_size=h)


def load_classifier(path: str | Path, data: LabData, device=None):
    """Rebuild the model saved by ``train_classifier(save_to=path)``:
    returns (model in eval mode, the checkpoint dict with its optimizer
    state, config and metrics)."""
    ckpt = load_checkpoint(path)
    model = build_classifier(ckpt["config"], data)
    model.load_state_dict(ckpt["model"])
    device = torch.device(device) if device else default_device()
    return model.to(device).eval(), ckpt


def compare_to_baseline(results: pd.DataFrame, baseline: str = "baseline",
                        metric: str = "val_acc") -> pd.DataFrame:
    """Each config's mean change of ``metric`` against ``baseline`` over
    seeds, with a verdict: "better"/"worse" when the change exceeds two
    standard errors of the difference of the means, else "within noise"
    (a single seed can never claim more than "one run")."""
    stats = results.groupby("name", sort=False)[metric].agg(
        ["mean", "std", "count"])
    if baseline not in stats.index:
        raise ValueError(f"No runs named {baseline!r} in the results. "
                         f"Names: {', '.join(stats.index)}.")
    base = stats.loc[baseline]
    rows = []
    for name, row in stats.iterrows():
        delta = row["mean"] - base["mean"]
        if min(row["count"], base["count"]) < 2:
            verdict = "one run"
            stderr = float("nan")
        else:
            stderr = math.sqrt(row["std"] ** 2 / row["count"]
                               + base["std"] ** 2 / base["count"])
            verdict = ("within noise" if abs(delta) <= 2 * stderr
                       else "better" if delta > 0 else "worse")
        rows.append({"name": name, f"{metric} change": delta,
                     "two std errors": 2 * stderr,
                     "verdict": "-" if name == baseline else verdict})
    return pd.DataFrame(rows).set_index("name")


def combine_improvements(configs: dict[str, dict], verdicts: pd.DataFrame,
                         results: pd.DataFrame, baseline: str = "baseline",
                         metric: str = "val_acc") -> dict:
    """The baseline config plus the changes of every config whose verdict
    is "better" on validation; where two improvements set the same option
    (say two augmentations), the one with the higher mean wins."""
    means = results.groupby("name")[metric].mean()
    better = [n for n in verdicts.index if verdicts.loc[n, "verdict"] ==
              "better"]
    better.sort(key=lambda n: means[n])  # best last, so it wins
    chosen = dict(configs[baseline])
    for name in better:
        chosen.update({k: v for k, v in configs[name].items()
                       if configs[baseline].get(k) != v})
    return chosen


def time_to_target(histories: pd.DataFrame, target: float,
                   metric: str = "val_acc") -> pd.DataFrame:
    """Per run (name, seed): the first epoch at which ``metric`` reached
    ``target`` and the training seconds spent until then (NaN if never)."""
    rows = []
    for (name, seed), h in histories.groupby(["name", "seed"], sort=False):
        h = h.sort_values("epoch")
        reached = h[h[metric] >= target]
        first = reached["epoch"].iloc[0] if len(reached) else math.nan
        seconds = (h.loc[h["epoch"] <= first, "seconds"].sum()
                   if len(reached) else math.nan)
        rows.append({"name": name, "seed": seed, "epochs_to_target": first,
                     "seconds_to_target": seconds})
    return pd.DataFrame(rows)
