"""Figures for the labs: each takes results and returns a matplotlib Figure.

One seaborn theme for the whole course is set on import. Every figure has a
title, labelled axes with units, and class names rather than numbers.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch

from .data import LabData

CHANNEL_COLORS = {1: ["0.3"], 3: ["tab:red", "tab:green", "tab:blue"]}
CHANNEL_NAMES = {1: ["grey"], 3: ["red", "green", "blue"]}


def set_theme() -> None:
    """The course's one look: seaborn whitegrid, readable in the book."""
    sns.set_theme(context="notebook", style="whitegrid", palette="deep",
                  rc={"figure.dpi": 100, "savefig.bbox": "tight",
                      "axes.titleweight": "bold"})


set_theme()


DATASET_TITLES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST",
                  "cifar10": "CIFAR-10", "lfw": "LFW faces"}


def _title(data: LabData) -> str:
    return DATASET_TITLES.get(data.name, data.name)


def show_class_samples(data: LabData, n_per_class: int = 1,
                       seed: int = 0) -> plt.Figure:
    """A grid with ``n_per_class`` random images of every class (rows are
    samples, columns classes), titled by class name."""
    g = torch.Generator().manual_seed(seed)
    n_classes = len(data.classes)
    fig, axes = plt.subplots(n_per_class, n_classes, squeeze=False,
                             figsize=(1.1 * n_classes, 1.25 * n_per_class
                                      + 0.5))
    for c, name in enumerate(data.classes):
        idx = torch.nonzero(data.y == c).flatten()
        pick = idx[torch.randperm(len(idx), generator=g)[:n_per_class]]
        for r in range(n_per_class):
            ax = axes[r, c]
            ax.axis("off")
            if r < len(pick):
                img = data.X[pick[r]].permute(1, 2, 0).numpy()
                ax.imshow(img.squeeze(-1) if img.shape[-1] == 1 else img,
                          cmap="gray", vmin=0, vmax=255)
            if r == 0:
                ax.set_title(name, fontsize=9)
    part = {"train": "training", "val": "validation"}.get(data.split,
                                                            data.split)
    fig.suptitle(f"{_title(data)}: one {part} image per class"
                 if n_per_class == 1 else
                 f"{_title(data)}: {n_per_class} {part} images per class")
    return fig


def class_count_table(*parts: LabData) -> pd.DataFrame:
    """Images per class for each part (e.g. train, test), long format."""
    rows = []
    for part in parts:
        for name, count in zip(part.classes, part.class_counts()):
            rows.append({"dataset": part.name, "split": part.split,
                         "class": name, "images": int(count)})
    return pd.DataFrame(rows)


def plot_class_counts(*parts: LabData) -> plt.Figure:
    """Bar chart of images per class, one bar colour per split."""
    table = class_count_table(*parts)
    fig, ax = plt.subplots(figsize=(9, 3.2))
    sns.barplot(table, x="class", y="images", hue="split", ax=ax)
    ax.set(xlabel="class", ylabel="images (count)",
           title=f"{_title(parts[0])}: images per class")
    sns.move_legend(ax, "upper left", bbox_to_anchor=(1.0, 1.0))
    ax.tick_params(axis="x", rotation=30)
    return fig


def sample_pixels(data: LabData, n_pixels: int, seed: int = 0
                  ) -> pd.DataFrame:
    """``n_pixels`` random pixel values (0-255) per channel, long format."""
    n, c, h, w = data.X.shape
    g = torch.Generator().manual_seed(seed)
    flat = data.X.permute(1, 0, 2, 3).reshape(c, -1)
    pick = torch.randint(0, flat.shape[1], (min(n_pixels, flat.shape[1]),),
                         generator=g)
    names = CHANNEL_NAMES.get(c, [str(i) for i in range(c)])
    return pd.DataFrame({
        "intensity": flat[:, pick].flatten().numpy(),
        "channel": np.repeat(names, len(pick)),
    })


def plot_pixel_distribution(data: LabData, n_pixels: int = 100_000,
                            seed: int = 0) -> plt.Figure:
    """Histogram of pixel intensities per channel, from a random sample,
    on a log scale so the background spike of digit images does not hide
    the rest."""
    pixels = sample_pixels(data, n_pixels, seed)
    c = data.X.shape[1]
    fig, ax = plt.subplots(figsize=(7, 3))
    sns.histplot(pixels, x="intensity", hue="channel", bins=64,
                 stat="density", element="step", fill=False,
                 common_norm=False, linewidth=1.5,
                 palette=CHANNEL_COLORS.get(c), log_scale=(False, True),
                 ax=ax)
    sns.move_legend(ax, "upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set(xlabel="pixel intensity (0-255)", ylabel="density (log scale)",
           xlim=(0, 255), title=f"{_title(data)}: pixel intensities "
           f"({len(pixels) // c:,} sampled pixels per channel)")
    return fig


def plot_split_balance(train: LabData, val: LabData) -> plt.Figure:
    """Share of each class in the train and validation parts of a split."""
    rows = []
    for part in (train, val):
        counts = part.class_counts()
        for name, count in zip(part.classes, counts):
            rows.append({"class": name, "part": part.split,
                         "share": 100.0 * count / counts.sum()})
    fig, ax = plt.subplots(figsize=(9, 3.2))
    sns.barplot(pd.DataFrame(rows), x="class", y="share", hue="part", ax=ax)
    sns.move_legend(ax, "upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set(xlabel="class", ylabel="share of the part (%)",
           title=f"{_title(train)}: class balance after a stratified split "
           f"({len(train):,} train / {len(val):,} validation)")
    ax.tick_params(axis="x", rotation=30)
    return fig


def plot_history(history: pd.DataFrame,
                 metrics: tuple[str, ...] = ("loss", "acc"),
                 title: str = "Training history") -> plt.Figure:
    """Train and validation curves of each metric against epochs."""
    labels = {"loss": "loss", "acc": "accuracy"}
    fig, axes = plt.subplots(1, len(metrics), squeeze=False,
                             figsize=(4.5 * len(metrics), 3.2))
    for ax, metric in zip(axes[0], metrics):
        for part in ("train", "val"):
            col = f"{part}_{metric}"
            if col in history:
                ax.plot(history["epoch"], history[col], marker="o",
                        label={"val": "validation"}.get(part, part))
        ax.set(xlabel="epoch", ylabel=labels.get(metric, metric),
               title=labels.get(metric, metric))
        ax.legend()
    fig.suptitle(title)
    return fig


def show_image_rows(rows: dict[str, torch.Tensor],
                    title: str = "") -> plt.Figure:
    """Rows of float images in [0, 1], shape (n, c, h, w) each, one row per
    entry, labelled by its key (e.g. originals above their augmentation)."""
    n_cols = max(len(v) for v in rows.values())
    fig, axes = plt.subplots(len(rows), n_cols, squeeze=False,
                             figsize=(1.1 * n_cols, 1.2 * len(rows) + 0.4))
    for r, (label, images) in enumerate(rows.items()):
        for c in range(n_cols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            if c < len(images):
                img = images[c].detach().cpu().clamp(0, 1).permute(1, 2, 0)
                ax.imshow(img.squeeze(-1) if img.shape[-1] == 1 else img,
                          cmap="gray", vmin=0, vmax=1)
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center")
    fig.suptitle(title)
    return fig
