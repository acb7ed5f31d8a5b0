"""Figures for the labs: each takes results and returns a matplotlib Figure.

One seaborn theme for the whole course is set on import. Every figure has a
title, labelled axes with units, and class names rather than numbers.
"""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from matplotlib.ticker import MaxNLocator

from .data import LabData
from .metrics import metric_label, metric_mode, percent_scale

CHANNEL_COLORS = {1: ["0.3"], 3: ["tab:red", "tab:green", "tab:blue"]}
CHANNEL_NAMES = {1: ["grey"], 3: ["red", "green", "blue"]}


def set_theme() -> None:
    """The course's one look: seaborn whitegrid, readable in the book."""
    sns.set_theme(
        context="notebook",
        style="whitegrid",
        palette="deep",
        rc={
            "figure.dpi": 100,
            "savefig.bbox": "tight",
            "axes.titleweight": "bold",
        },
    )


set_theme()


DATASET_TITLES = {
    "mnist": "MNIST",
    "fashion_mnist": "Fashion-MNIST",
    "cifar10": "CIFAR-10",
    "lfw": "LFW faces",
}


def _title(data: LabData) -> str:
    return DATASET_TITLES.get(data.name, data.name)


def show_class_samples(
    data: LabData, n_per_class: int = 1, seed: int = 0
) -> plt.Figure:
    """A grid with ``n_per_class`` random images of every class (rows are
    samples, columns classes), titled by class name."""
    g = torch.Generator().manual_seed(seed)
    n_classes = len(data.classes)
    fig, axes = plt.subplots(
        n_per_class,
        n_classes,
        squeeze=False,
        figsize=(1.1 * n_classes, 1.25 * n_per_class + 0.5),
    )
    for c, name in enumerate(data.classes):
        idx = torch.nonzero(data.y == c).flatten()
        pick = idx[torch.randperm(len(idx), generator=g)[:n_per_class]]
        for r in range(n_per_class):
            ax = axes[r, c]
            ax.axis("off")
            if r < len(pick):
                img = data.X[pick[r]].permute(1, 2, 0).numpy()
                ax.imshow(
                    img.squeeze(-1) if img.shape[-1] == 1 else img,
                    cmap="gray",
                    vmin=0,
                    vmax=255,
                )
            if r == 0:
                ax.set_title(name, fontsize=9)
    part = {"train": "training", "val": "validation"}.get(
        data.split, data.split
    )
    fig.suptitle(
        f"{_title(data)}: one {part} image per class"
        if n_per_class == 1
        else f"{_title(data)}: {n_per_class} {part} images per class"
    )
    return fig


def _slant_xticks(ax, degrees: int = 30) -> None:
    """Slanted x tick labels anchored at their right end, so long class
    names ("automobile", "T-shirt/top") sit under their bar, apart."""
    plt.setp(
        ax.get_xticklabels(),
        rotation=degrees,
        ha="right",
        rotation_mode="anchor",
    )


def class_count_table(*parts: LabData) -> pd.DataFrame:
    """Images per class for each part (e.g. train, test), long format."""
    rows = []
    for part in parts:
        for name, count in zip(part.classes, part.class_counts()):
            rows.append(
                {
                    "dataset": part.name,
                    "split": part.split,
                    "class": name,
                    "images": int(count),
                }
            )
    return pd.DataFrame(rows)


def plot_class_counts(*parts: LabData) -> plt.Figure:
    """Bar chart of images per class, one bar colour per split."""
    table = class_count_table(*parts)
    fig, ax = plt.subplots(figsize=(9, 3.2))
    sns.barplot(table, x="class", y="images", hue="split", ax=ax)
    ax.set(
        xlabel="class",
        ylabel="images (count)",
        title=f"{_title(parts[0])}: images per class",
    )
    sns.move_legend(ax, "upper left", bbox_to_anchor=(1.0, 1.0))
    _slant_xticks(ax)
    return fig


def sample_pixels(data: LabData, n_pixels: int, seed: int = 0) -> pd.DataFrame:
    """``n_pixels`` random pixel values (0-255) per channel, long format."""
    n, c, h, w = data.X.shape
    g = torch.Generator().manual_seed(seed)
    flat = data.X.permute(1, 0, 2, 3).reshape(c, -1)
    pick = torch.randint(
        0, flat.shape[1], (min(n_pixels, flat.shape[1]),), generator=g
    )
    names = CHANNEL_NAMES.get(c, [str(i) for i in range(c)])
    return pd.DataFrame(
        {
            "intensity": flat[:, pick].flatten().numpy(),
            "channel": np.repeat(names, len(pick)),
        }
    )


def plot_pixel_distribution(
    data: LabData, n_pixels: int = 100_000, seed: int = 0
) -> plt.Figure:
    """Histogram of pixel intensities per channel, from a random sample;
    the density axis is logarithmic where the densities span more than a
    factor of 20 (the background spike of digit images would hide the
    rest), linear otherwise (a log axis over one octave adds nothing)."""
    pixels = sample_pixels(data, n_pixels, seed)
    c = data.X.shape[1]
    densities = np.concatenate(
        [
            np.histogram(group, bins=64, range=(0, 255), density=True)[0]
            for _, group in pixels.groupby("channel")["intensity"]
        ]
    )
    nonzero = densities[densities > 0]
    log = bool(nonzero.max() > 20 * nonzero.min())
    fig, ax = plt.subplots(figsize=(7, 3))
    sns.histplot(
        pixels,
        x="intensity",
        hue="channel",
        bins=64,
        stat="density",
        element="step",
        fill=False,
        common_norm=False,
        linewidth=1.5,
        palette=CHANNEL_COLORS.get(c),
        log_scale=(False, log),
        ax=ax,
    )
    sns.move_legend(ax, "upper left", bbox_to_anchor=(1.0, 1.0))
    if not log:  # a linear axis cut above 0 would magnify every difference
        ax.set_ylim(bottom=0)
    ax.set(
        xlabel="pixel intensity (0-255)",
        ylabel="density (log scale)" if log else "density",
        xlim=(0, 255),
        title=f"{_title(data)}: pixel intensities "
        f"({len(pixels) // c:,} sampled pixels per channel)",
    )
    return fig


def plot_split_balance(train: LabData, val: LabData) -> plt.Figure:
    """Share of each class in the train and validation parts of a split."""
    rows = []
    for part in (train, val):
        counts = part.class_counts()
        for name, count in zip(part.classes, counts):
            rows.append(
                {
                    "class": name,
                    "part": part.split,
                    "share": 100.0 * count / counts.sum(),
                }
            )
    fig, ax = plt.subplots(figsize=(9, 3.2))
    sns.barplot(pd.DataFrame(rows), x="class", y="share", hue="part", ax=ax)
    sns.move_legend(ax, "upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set(
        xlabel="class",
        ylabel="share of the part (%)",
        title=f"{_title(train)}: class balance after a stratified split "
        f"({len(train):,} train / {len(val):,} validation)",
    )
    _slant_xticks(ax)
    return fig


def _epoch_ticks(ax: plt.Axes, epochs) -> None:
    """Integer epoch ticks: every epoch while there are few (a single
    epoch centred), else a few round ones."""
    epochs = sorted(set(int(e) for e in epochs))
    if epochs and len(epochs) <= 12:
        ax.set_xticks(epochs)
        ax.set_xlim(epochs[0] - 0.5, epochs[-1] + 0.5)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def plot_history(
    history: pd.DataFrame,
    metrics: tuple[str, ...] = ("loss", "acc"),
    title: str = "Training history",
    labels: dict[str, str] | None = None,
    val_label: str = "validation",
    kept_epoch: int | None = None,
) -> plt.Figure:
    """Train and validation curves of each metric against epochs, one
    panel per metric; accuracies (``acc``) in %. labels: metric -> axis
    label (default: the name); val_label: what the ``val_`` columns were
    measured on; kept_epoch: the epoch whose weights were kept (early
    stopping's ``Trained.kept_epoch``), marked in every panel when it is
    not the last."""
    labels = {"loss": "loss", "acc": "accuracy (%)", **(labels or {})}
    fig, axes = plt.subplots(
        1, len(metrics), squeeze=False, figsize=(4.7 * len(metrics), 3.4)
    )
    last = history["epoch"].max() if len(history) else None
    for ax, metric in zip(axes[0], metrics):
        scale = 100.0 if metric == "acc" else 1.0
        for part in ("train", "val"):
            col = f"{part}_{metric}"
            if col not in history:
                continue
            style = (  # the training line on top of hollow validation dots
                {"marker": ".", "linewidth": 1.8, "zorder": 3}
                if part == "train"
                else {"marker": "o", "mfc": "none", "ls": "--", "zorder": 2}
            )
            ax.plot(
                history["epoch"],
                scale * history[col],
                label={"val": val_label}.get(part, "training"),
                **style,
            )
        if kept_epoch is not None and kept_epoch != last:
            ax.axvline(
                kept_epoch,
                color="0.35",
                ls=":",
                lw=1.2,
                label=f"weights kept (epoch {kept_epoch})",
            )
        label = labels.get(metric, metric)
        ax.set(
            xlabel="epoch",
            ylabel="\n".join(textwrap.wrap(label, 24)),
            title=label,
        )
        _epoch_ticks(ax, history["epoch"])
        ax.legend(fontsize="small")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def show_image_rows(
    rows: dict[str, torch.Tensor], title: str = ""
) -> plt.Figure:
    """Rows of float images in [0, 1], shape (n, c, h, w) each, one row per
    entry, labelled by its key (e.g. originals above their augmentation)."""
    n_cols = max(len(v) for v in rows.values())
    # Constrained layout sizes the margins to the row labels and the
    # title, so neither leaves a blank band nor runs into the images.
    fig, axes = plt.subplots(
        len(rows),
        n_cols,
        squeeze=False,
        figsize=(1.1 * n_cols + 1.5, 1.1 * len(rows) + 0.5),
        layout="constrained",
    )
    for r, (label, images) in enumerate(rows.items()):
        for c in range(n_cols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            if c < len(images):
                img = images[c].detach().cpu().clamp(0, 1).permute(1, 2, 0)
                ax.imshow(
                    img.squeeze(-1) if img.shape[-1] == 1 else img,
                    cmap="gray",
                    vmin=0,
                    vmax=1,
                )
        axes[r, 0].set_ylabel(  # long labels wrapped, not widening the figure
            "\n".join(textwrap.wrap(label, 16)),
            rotation=0,
            ha="right",
            va="center",
        )
    fig.suptitle(title)
    return fig


def plot_ablation(
    results: pd.DataFrame,
    metrics=("val_acc", "test_acc"),
    title: str = "Ablations",
) -> plt.Figure:
    """Accuracy per config as points with error bars (one standard
    deviation over seeds), one colour per metric."""
    long = results.melt(
        id_vars=["name", "seed"],
        value_vars=list(metrics),
        var_name="metric",
        value_name="accuracy",
    )
    long["accuracy"] *= 100
    long["metric"] = (
        long["metric"]
        .map({"val_acc": "validation", "test_acc": "test"})
        .fillna(long["metric"])
    )
    fig, ax = plt.subplots(figsize=(8, 0.45 * results["name"].nunique() + 1.4))
    sns.pointplot(
        long,
        y="name",
        x="accuracy",
        hue="metric",
        errorbar="sd",
        dodge=0.4,
        linestyle="none",
        capsize=0.2,
        markers="o",
        ax=ax,
    )
    n_seeds = results["seed"].nunique()
    ax.set(
        ylabel="",
        xlabel=f"accuracy (%), mean ± std over {n_seeds} "
        f"seed{'s' if n_seeds > 1 else ''}",
        title=title,
    )
    sns.move_legend(ax, "upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def _mean_curve(data: pd.DataFrame, name: str) -> pd.DataFrame:
    """Per epoch of run ``name``: the seeds' mean elapsed time (when
    ``data`` has an ``elapsed`` column) and the mean and standard
    deviation (0 for one seed) of its ``value``."""
    aggregates = {"mean": ("value", "mean"), "sd": ("value", "std")}
    if "elapsed" in data:
        aggregates["elapsed"] = ("elapsed", "mean")
    return (
        data[data["name"] == name]
        .groupby("epoch")
        .agg(**aggregates)
        .fillna({"sd": 0.0})
    )


def _band(ax: plt.Axes, x, mean, sd, color=None, alpha: float = 0.2):
    """A band of one standard deviation around a mean curve."""
    ax.fill_between(
        x, mean - sd, mean + sd, color=color, alpha=alpha, linewidth=0
    )


def plot_learning_curves(
    histories: pd.DataFrame,
    metric: str = "val_acc",
    title: str = "Learning curves",
    x: str = "epoch",
    ax: plt.Axes | None = None,
) -> plt.Figure:
    """``metric`` per config against epochs or, with x="seconds", against
    training time: the mean over seeds, with a band of one standard
    deviation (against time, each epoch sits at the seeds' mean elapsed
    time, since seeds take slightly different times)."""
    data = histories.assign(value=histories[metric] * percent_scale(metric))
    order = list(dict.fromkeys(data["name"]))
    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 3.8))
    fig = ax.figure
    if x == "seconds":
        data = data.sort_values(["name", "seed", "epoch"])
        data["elapsed"] = data.groupby(["name", "seed"])["seconds"].cumsum()
        palette = sns.color_palette(n_colors=len(order))
        for name, color in zip(order, palette):
            curve = _mean_curve(data, name)
            ax.plot(curve["elapsed"], curve["mean"], color=color, label=name)
            _band(ax, curve["elapsed"], curve["mean"], curve["sd"], color)
        ax.legend()
        ax.set_xlabel("training time (s), mean over seeds")
        # Three to six round ticks (no 2.5 steps, whose labels carry an
        # extra digit): legends beside narrow panels leave little room.
        ax.xaxis.set_major_locator(
            MaxNLocator(nbins=5, steps=[1, 2, 5, 10], min_n_ticks=3)
        )
    else:
        sns.lineplot(
            data,
            x="epoch",
            y="value",
            hue="name",
            errorbar="sd",
            marker="o",
            hue_order=order,
            ax=ax,
        )
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_xlabel("epoch")
    ax.set(ylabel=metric_label(metric), title=title)
    sns.move_legend(ax, "upper left", bbox_to_anchor=(1.0, 1.0), title=None)
    return fig


def plot_changes_against(
    histories: pd.DataFrame,
    baseline: str,
    metric: str = "val_acc",
    title: str = "Each change against the baseline",
    ncols: int = 4,
) -> plt.Figure:
    """One small panel per config other than ``baseline``: its ``metric``
    against epochs next to the baseline's (grey), each the mean over seeds
    with a band of one standard deviation. Panels share their axes, so a
    curve above the grey one gained in every panel alike."""
    if baseline not in set(histories["name"]):
        raise ValueError(
            f"No runs named {baseline!r} in the histories; their names: "
            f"{', '.join(dict.fromkeys(histories['name']))}."
        )
    data = histories.assign(value=histories[metric] * percent_scale(metric))
    others = [n for n in dict.fromkeys(data["name"]) if n != baseline]
    nrows = max(1, -(-len(others) // ncols))
    fig, axes = plt.subplots(
        nrows,
        ncols,
        squeeze=False,
        sharex=True,
        sharey=True,
        figsize=(2.6 * ncols, 2.2 * nrows + 0.6),
        layout="constrained",
    )
    # The palette without its grey, which is the baseline's.
    deep = sns.color_palette("deep", 10)
    palette = [c for i, c in enumerate(deep) if i != 7]
    colors = [palette[(i + 1) % len(palette)] for i in range(len(others))]
    epochs = sorted(set(data["epoch"]))

    def draw(ax, name, color, label, ls="-"):
        c = _mean_curve(data, name)
        ax.plot(
            c.index, c["mean"], color=color, marker=".", ls=ls, label=label
        )
        _band(ax, c.index, c["mean"], c["sd"], color)

    for ax, name, color in zip(axes.flat, others, colors):
        draw(ax, baseline, "0.45", baseline, ls="--")
        draw(ax, name, color, name)
        ax.set_title("\n".join(textwrap.wrap(name, 24)), fontsize="medium")
        _epoch_ticks(ax, epochs)
    for ax in axes.flat[len(others) :]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel(metric_label(metric))
    for ax in axes[-1]:
        ax.set_xlabel("epoch")
    axes[0, 0].legend(
        handles=axes[0, 0].lines[:1],
        labels=[f"{baseline} (in every panel)"],
        loc="upper left",
        fontsize="small",
    )
    fig.suptitle(title)
    return fig


def plot_protocols(
    histories: pd.DataFrame,
    protocols: dict[str, list[str]],
    metric: str = "val_acc",
    title: str = "",
) -> plt.Figure:
    """One column per protocol (its run names), ``metric`` against epochs
    (top) and against wall time (bottom; each epoch's ``seconds``, its
    validation pass included): the same curves twice, so
    the two x axes can be compared. A run's colour and line style follow
    its name's first word (the optimizer), alike in every panel, with one
    legend for the figure; mean over seeds with a band of one standard
    deviation."""
    recorded = set(histories["name"])
    missing = [
        n for names in protocols.values() for n in names if n not in recorded
    ]
    if missing:
        raise ValueError(
            f"No histories for {', '.join(map(repr, missing))}; the runs "
            f"recorded are: {', '.join(dict.fromkeys(histories['name']))}."
        )
    data = histories.assign(value=histories[metric] * percent_scale(metric))
    data = data.sort_values(["name", "seed", "epoch"])
    data["elapsed"] = data.groupby(["name", "seed"])["seconds"].cumsum()
    keys = list(
        dict.fromkeys(n.split(" ")[0] for names in protocols.values()
                      for n in names)
    )  # fmt: skip
    colors = dict(zip(keys, sns.color_palette(n_colors=len(keys))))
    styles = dict(zip(keys, ["-", "--", "-.", ":"] * len(keys)))
    markers = dict(zip(keys, "osD^vP*X"))
    fig, axes = plt.subplots(
        2,
        len(protocols),
        squeeze=False,
        sharey=True,
        figsize=(5.2 * len(protocols), 6.4),
        layout="constrained",
    )
    for col, (protocol, names) in enumerate(protocols.items()):
        for name in dict.fromkeys(names):
            key = name.split(" ")[0]
            curve = _mean_curve(data, name)
            for row, x in enumerate((curve.index, curve["elapsed"])):
                ax = axes[row, col]
                ax.plot(
                    x,
                    curve["mean"],
                    color=colors[key],
                    ls=styles[key],
                    marker=markers[key],
                    markersize=4,
                    label=key,
                )
                _band(ax, x, curve["mean"], curve["sd"], colors[key], 0.15)
        axes[0, col].set_title(protocol)
        axes[0, col].set_xlabel("epoch")
        _epoch_ticks(axes[0, col], data["epoch"])
        axes[1, col].set_xlabel("wall time (s, validation included), mean")
        axes[1, col].xaxis.set_major_locator(
            MaxNLocator(nbins=5, steps=[1, 2, 5, 10])
        )
    for ax in axes[:, 0]:
        ax.set_ylabel(metric_label(metric))
    handles, labels = axes[0, 0].get_legend_handles_labels()
    seen = dict(zip(labels, handles))
    fig.legend(
        seen.values(),
        seen.keys(),
        loc="outside lower center",
        ncol=len(seen),
        frameon=False,
    )
    fig.suptitle(title)
    return fig


def plot_overfitting(
    histories: pd.DataFrame,
    names,
    metric: str = "loss",
    title: str = "Training against validation",
) -> plt.Figure:
    """One panel per config in ``names``: the training and validation
    ``metric`` against epochs, mean over seeds with a band of one standard
    deviation, and a dotted line at the epoch where the mean validation
    loss (or accuracy) was best: where the curves part, the model starts
    to learn its training images rather than the task."""
    names = list(names)
    missing = [n for n in names if n not in set(histories["name"])]
    if missing:
        raise ValueError(
            f"No histories for {', '.join(map(repr, missing))}. "
            f"Names: {', '.join(dict.fromkeys(histories['name']))}."
        )
    scale = percent_scale(f"val_{metric}")
    fig, axes = plt.subplots(
        1,
        len(names),
        squeeze=False,
        figsize=(4.6 * len(names), 3.5),
        sharey=True,
    )
    for ax, name in zip(axes[0], names):
        runs = histories[histories["name"] == name]
        curves = runs.groupby("epoch")[[f"train_{metric}", f"val_{metric}"]]
        mean, sd = curves.mean() * scale, curves.std().fillna(0.0) * scale
        for part, label in (("train", "training"), ("val", "validation")):
            col = f"{part}_{metric}"
            (line,) = ax.plot(mean.index, mean[col], marker="o", label=label)
            _band(ax, mean.index, mean[col], sd[col], line.get_color())
        val = mean[f"val_{metric}"]
        maximise = metric_mode(f"val_{metric}") == "max"
        best = val.idxmax() if maximise else val.idxmin()
        ax.axvline(best, color="grey", linestyle=":", linewidth=1)
        n_seeds = runs["seed"].nunique()
        ax.set(
            xlabel=f"epoch (best validation: {best})",
            title=f"{name} ({n_seeds} seed{'s' * (n_seeds > 1)})",
        )
        ax.xaxis.get_major_locator().set_params(integer=True)
    axes[0][0].legend()
    axes[0][0].set_ylabel(
        metric_label(f"val_{metric}").replace("validation ", "")
    )
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_lr_sweep(
    results: pd.DataFrame,
    group: str = "optimizer",
    metric: str = "val_acc",
    ax: plt.Axes | None = None,
) -> plt.Figure:
    """``metric`` against the learning rate (log scale), one line per
    ``group``; runs that diverged are marked with a cross at chance."""
    data = results.assign(value=results[metric] * percent_scale(metric))
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4))
    fig = ax.figure
    sns.lineplot(
        data, x="lr", y="value", hue=group, marker="o", errorbar="sd", ax=ax
    )
    if "diverged" in data and data["diverged"].any():
        bad = data[data["diverged"].astype(bool)]
        ax.scatter(
            bad["lr"],
            bad["value"],
            marker="x",
            color="black",
            s=60,
            zorder=3,
            label="diverged",
        )
    ax.set_xscale("log")
    ax.set(
        xlabel="learning rate (log scale)",
        ylabel=metric_label(metric),
        title="Learning-rate sweep: each optimizer's own good rate",
    )
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def plot_trajectories(
    fn,
    paths: dict[str, np.ndarray],
    extent=(-2.0, 2.0, -1.0, 3.0),
    minimum=(1.0, 1.0),
    title: str = "",
    n_cols: int = 3,
) -> plt.Figure:
    """Small multiples: each optimizer's path over the contour plot of a
    2-D function ``fn(xy (..., 2) tensor) -> (...)``; paths maps a name to
    positions (steps, 2)."""
    x0, x1, y0, y1 = extent
    xs = torch.linspace(x0, x1, 300, dtype=torch.float64)
    ys = torch.linspace(y0, y1, 300, dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)
    levels = np.log10(fn(grid).numpy() + 1e-3)
    n_rows = -(-len(paths) // n_cols)
    fig, axes = plt.subplots(
        n_rows,
        n_cols,
        squeeze=False,
        sharex=True,
        sharey=True,
        figsize=(4.6 * n_cols, 3.5 * n_rows),
    )
    palette = sns.color_palette("deep", len(paths))
    distances = [
        float(np.hypot(*(path[-1] - np.asarray(minimum))))
        for path in paths.values()
    ]
    for ax, color, distance, (name, path) in zip(
        axes.flat, palette, distances, paths.items()
    ):
        ax.contour(xs, ys, levels, levels=20, cmap="Greys", linewidths=0.6)
        ax.plot(
            path[:, 0],
            path[:, 1],
            color=color,
            lw=1.6,
            marker=".",
            markersize=2,
        )
        ax.scatter(*path[0], marker="s", color="black", s=30, zorder=4)
        ax.scatter(
            *minimum,
            marker="*",
            color="gold",
            edgecolor="black",
            s=180,
            zorder=4,
        )
        ax.set(xlim=(x0, x1), ylim=(y0, y1))
        ax.set_title(
            f"{name}\n{len(path) - 1} steps, ends {distance:.2g}"
            f" from the minimum",
            fontsize=10,
        )
        ax.grid(False)
    spare = list(axes.flat[len(paths) :])
    for ax in axes[:, 0]:
        ax.set_ylabel("y")
    for ax in axes[-1]:
        ax.set_xlabel("x")
    if spare:
        # A free cell of the grid compares where each path ended.
        ax = spare.pop(0)
        ax.remove()
        ax = fig.add_subplot(n_rows, n_cols, len(paths) + 1)
        names = [name.split(" (")[0] for name in paths]
        # Distances span orders of magnitude: a log axis, values printed.
        bars = ax.barh(names[::-1], distances[::-1], color=palette[::-1])
        ax.bar_label(bars, labels=[f"{d:.2g}" for d in distances[::-1]],
                     padding=3, fontsize="small")  # fmt: skip
        ax.set_xscale("log")
        shown = [d for d in distances if d > 0] or [1.0]
        ax.set_xlim(min(shown) / 3, max(shown) * 8)  # room for the labels
        ax.set(
            xlabel="distance from the minimum at the end (log scale)",
            title="where each path ended",
        )
    for ax in spare:
        ax.remove()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_grid_heatmap(
    results: pd.DataFrame,
    row: str = "lr",
    col: str = "batch_size",
    value: str = "val_acc",
    title: str = "Validation accuracy (%)",
) -> plt.Figure:
    """A heatmap of ``value`` (mean over seeds) over a 2-D grid."""
    table = results.pivot_table(
        index=row, columns=col, values=value, aggfunc="mean"
    ) * percent_scale(value)
    fig, ax = plt.subplots(
        figsize=(1.3 * table.shape[1] + 2, 0.8 * table.shape[0] + 1.2)
    )
    sns.heatmap(
        table,
        annot=True,
        fmt=".1f",
        cmap="viridis",
        ax=ax,
        cbar_kws={"label": "accuracy (%)"},
    )
    names = {"lr": "learning rate", "batch_size": "batch size"}
    ax.set(ylabel=names.get(row, row), xlabel=names.get(col, col), title=title)
    return fig


def plot_confusion_matrix(
    cm: np.ndarray, classes: list[str], title: str = "Confusion matrix"
) -> plt.Figure:
    """Row-normalised confusion matrix (% of each true class)."""
    share = 100 * cm / cm.sum(axis=1, keepdims=True).clip(min=1)
    fig, ax = plt.subplots(figsize=(7, 6))
    sns.heatmap(
        share,
        annot=True,
        fmt=".0f",
        cmap="Blues",
        vmin=0,
        vmax=100,
        xticklabels=classes,
        yticklabels=classes,
        cbar_kws={"label": "% of the true class"},
        ax=ax,
    )
    ax.set(xlabel="predicted class", ylabel="true class", title=title)
    return fig


def plot_embeddings(
    panels: dict[str, tuple],
    classes: list[str],
    title: str = "",
    axis: str = "t-SNE",
) -> plt.Figure:
    """Small multiples of 2-D embeddings coloured by class: panels maps a
    panel title to (Y (n, 2), labels (n,)); axis names the coordinates
    (t-SNE's have no units)."""
    fig, axes = plt.subplots(
        1, len(panels), squeeze=False, figsize=(4.2 * len(panels), 4.4)
    )
    palette = sns.color_palette("tab10", len(classes))
    for ax, (name, (Y, labels)) in zip(axes[0], panels.items()):
        Y = np.asarray(Y)
        labels = np.asarray(labels)
        for c, cls in enumerate(classes):
            pts = Y[labels == c]
            ax.scatter(
                pts[:, 0],
                pts[:, 1],
                s=6,
                color=palette[c],
                label=cls,
                alpha=0.8,
                linewidths=0,
            )
        ax.set(title=name, xticks=[], yticks=[])
        ax.set_xlabel(f"{axis} 1")
        ax.set_ylabel(f"{axis} 2")
    axes[0, -1].legend(
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
        markerscale=3,
        title="class",
    )
    fig.suptitle(title)
    return fig


def _unit(E) -> np.ndarray:
    E = np.asarray(E, dtype=np.float64)
    return E / np.linalg.norm(E, axis=1, keepdims=True).clip(min=1e-12)


def _draw_on_sphere(ax, E, labels, palette, title: str) -> None:
    """Unit-normalised 3-D points on a 3-D axes, one colour per class."""
    P, labels = _unit(E), np.asarray(labels)
    for c, colour in enumerate(palette):
        pts = P[labels == c]
        ax.scatter(*pts.T, s=3, color=colour, depthshade=False)
    ax.set(xlim=(-1, 1), ylim=(-1, 1), zlim=(-1, 1), title=title)
    ax.set(xticks=[], yticks=[], zticks=[])


def plot_sphere_embeddings(
    panels: dict[str, tuple],
    classes: list[str],
    title: str = "",
    max_panels: int = 8,
) -> plt.Figure:
    """Small multiples of L2-normalised 3-D embeddings on the unit sphere,
    coloured by class: panels maps a title to (E (n, 3), labels (n,)).

    Shows at most ``max_panels``, evenly spaced, the first and the last
    always, in full rows of 4 or 3 (never an empty cell)."""
    names = list(panels)
    count, n_cols = _full_rows(min(len(names), max_panels))
    picked = np.linspace(0, len(names) - 1, count).round().astype(int)
    panels = {names[i]: panels[names[i]] for i in picked}
    n_rows = count // n_cols
    fig = plt.figure(figsize=(3.6 * n_cols, 3.6 * n_rows + 0.6))
    palette = sns.color_palette("tab10", len(classes))
    u, v = np.mgrid[0 : 2 * np.pi : 24j, 0 : np.pi : 12j]
    sphere = (np.cos(u) * np.sin(v), np.sin(u) * np.sin(v), np.cos(v))
    for k, (name, (E, labels)) in enumerate(panels.items()):
        ax = fig.add_subplot(n_rows, n_cols, k + 1, projection="3d")
        ax.plot_wireframe(*sphere, color="0.85", linewidth=0.4)
        _draw_on_sphere(ax, E, labels, palette, name)
        ax.set_box_aspect((1, 1, 1))
    handles = [
        plt.Line2D([], [], marker="o", ls="", color=palette[c], label=cls)
        for c, cls in enumerate(classes)
    ]
    fig.legend(
        handles=handles,
        loc="lower center",
        ncol=len(classes),
        title="class",
        frameon=False,
    )
    fig.suptitle(title)
    return fig


def _full_rows(count: int) -> tuple[int, int]:
    """(panels, columns): up to ``count`` panels in full rows of 4 or 3
    columns (or a single row of fewer)."""
    if count <= 4:
        return count, max(count, 1)
    while count % 4 and count % 3:
        count -= 1
    return count, 4 if count % 4 == 0 else 3


def save_sphere_animation(
    panels: dict[str, tuple], classes: list[str], path, fps: int = 2
) -> None:
    """The sphere panels as frames of a GIF at ``path`` (one per panel)."""
    from matplotlib.animation import FuncAnimation, PillowWriter

    fig = plt.figure(figsize=(5, 5))
    ax = fig.add_subplot(projection="3d")
    palette = sns.color_palette("tab10", len(classes))
    frames = list(panels.items())

    def draw(k):
        ax.clear()
        name, (E, labels) = frames[k]
        _draw_on_sphere(ax, E, labels, palette, name)
        ax.view_init(elev=20, azim=30 + 10 * k)

    FuncAnimation(fig, draw, frames=len(frames)).save(
        str(path), writer=PillowWriter(fps=fps)
    )
    plt.close(fig)


def plot_circle_embeddings(
    panels: dict[str, tuple], classes: list[str], title: str = ""
) -> plt.Figure:
    """2-D embeddings projected on the unit circle, one panel per head:
    panels maps a title to (E (n, 2), labels (n,), class weights (k, 2) or
    None). Class weight directions are drawn as arrows."""
    fig, axes = plt.subplots(
        1,
        len(panels),
        squeeze=False,
        figsize=(4.2 * len(panels), 4.6),
        layout="constrained",
    )
    palette = sns.color_palette("tab10", len(classes))
    t = np.linspace(0, 2 * np.pi, 200)
    step = 0.025
    rings = 1 + step * (np.arange(len(classes)) - (len(classes) - 1) / 2)
    for ax, (name, (E, labels, W)) in zip(axes[0], panels.items()):
        P, labels = _unit(E), np.asarray(labels)
        ax.plot(np.cos(t), np.sin(t), color="0.8", lw=1)
        # Each class on its own ring, so that classes at the same angle
        # stay visible; the figure says so (only the angle is data).
        for c, cls in enumerate(classes):
            pts = P[labels == c] * rings[c]
            ax.scatter(pts[:, 0], pts[:, 1], s=3, color=palette[c], label=cls)
        if W is not None:
            for c, w in enumerate(_unit(W)):
                ax.annotate(
                    "",
                    xy=0.8 * w,
                    xytext=(0, 0),
                    arrowprops=dict(arrowstyle="->", color=palette[c], lw=1.5),
                )
        ax.set(
            xlim=(-1.25, 1.25),
            ylim=(-1.25, 1.25),
            aspect="equal",
            xticks=[],
            yticks=[],
            title=name,
        )
        ax.grid(False)
    axes[0, -1].legend(
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
        markerscale=4,
        title="class",
    )
    fig.suptitle(title)
    fig.supxlabel(
        f"Only a point's angle is its embedding's: each class is drawn on "
        f"its own ring (radius {rings[0]:.2f} for {classes[0]} to "
        f"{rings[-1]:.2f} for {classes[-1]}) so that classes at the same "
        f"angle stay visible.",
        fontsize="small",
        color="0.3",
    )
    return fig


def plot_angle_matrix(
    angles,
    classes: list[str],
    title: str = "Angles between class centres (degrees)",
) -> plt.Figure:
    """Heatmap of the angles between class centres."""
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    sns.heatmap(
        np.asarray(angles),
        annot=True,
        fmt=".0f",
        cmap="magma",
        xticklabels=classes,
        yticklabels=classes,
        vmin=0,
        vmax=180,
        cbar_kws={"label": "angle (degrees)"},
        ax=ax,
    )
    ax.set(title=title, xlabel="class", ylabel="class")
    return fig


def plot_roc(curves: dict[str, tuple], title: str = "") -> plt.Figure:
    """ROC curves: curves maps a name to (fpr, tpr, auc)."""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for name, (fpr, tpr, auc) in curves.items():
        ax.plot(fpr, tpr, lw=2, label=f"{name} (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], color="0.6", ls="--", label="chance")
    ax.set(
        xlabel="false positive rate (different digits accepted)",
        ylabel="true positive rate (same digit accepted)",
        title=title,
        aspect="equal",
    )
    ax.legend(loc="lower right")
    return fig


def plot_explained_variance(ratio, title: str = "") -> plt.Figure:
    """Explained-variance ratio per component and its running total."""
    ratio = np.asarray(ratio)
    k = np.arange(1, len(ratio) + 1)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.bar(k, 100 * ratio, color="tab:blue", alpha=0.6, label="per component")
    ax.plot(
        k,
        100 * np.cumsum(ratio),
        color="tab:red",
        marker=".",
        label="cumulative",
    )
    ax.set(
        xlabel="principal component",
        ylabel="variance explained (%)",
        ylim=(0, 100),
        title=title,
    )
    ax.legend(loc="center right")
    return fig


def plot_thumbnails(
    Y,
    images,
    labels,
    classes: list[str],
    n_shown: int = 300,
    zoom: float = 0.6,
    seed: int = 0,
    title: str = "",
) -> plt.Figure:
    """Images (n, 1 or 3, h, w) uint8 drawn at their 2-D positions Y (n, 2),
    with a coloured frame per class; a random ``n_shown`` of them."""
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    Y, labels = np.asarray(Y), np.asarray(labels)
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(Y), size=min(n_shown, len(Y)), replace=False)
    palette = sns.color_palette("tab10", len(classes))
    fig, ax = plt.subplots(figsize=(10, 10))
    ax.scatter(Y[:, 0], Y[:, 1], s=2, color="0.85")
    for i in pick:
        img = np.asarray(images[i]).transpose(1, 2, 0).squeeze()
        box = OffsetImage(img, cmap="gray_r", zoom=zoom)
        ab = AnnotationBbox(
            box,
            Y[i],
            frameon=True,
            pad=0.05,
            bboxprops=dict(edgecolor=palette[labels[i]], lw=1.2),
        )
        ax.add_artist(ab)
    handles = [
        plt.Line2D([], [], marker="s", ls="", color=palette[c], label=cls)
        for c, cls in enumerate(classes)
    ]
    ax.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
        title="frame = class",
    )
    ax.set(
        xticks=[],
        yticks=[],
        xlabel="t-SNE 1 (no units)",
        ylabel="t-SNE 2 (no units)",
        title=title,
    )
    return fig


def plot_kl_history(
    histories: dict[str, list],
    title: str = "",
    exaggeration_iter: int | None = None,
    ax: plt.Axes | None = None,
) -> plt.Figure:
    """KL divergence against iteration for t-SNE runs: histories maps a name
    to the estimator's ``kl_history_`` [(iteration, kl), ...];
    exaggeration_iter: where early exaggeration ended (the estimator's
    ``exaggeration_iter``), marked with a dotted line."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.5))
    fig = ax.figure
    for name, history in histories.items():
        it, kl = zip(*history)
        ax.plot(it, kl, marker=".", label=name)
    ax.set(xlabel="iteration", ylabel="KL(P || Q) (nats)", title=title)
    if exaggeration_iter is not None:
        ax.axvline(exaggeration_iter, color="0.5", ls=":", lw=1)
        ax.text(
            exaggeration_iter,
            ax.get_ylim()[1],
            " early exaggeration ends",
            va="top",
            fontsize=9,
            color="0.4",
        )
    ax.legend()
    return fig
