"""Summaries of loaded images, for looking at a dataset before training.

The per-channel pixel mean and std (how :data:`NORMALIZATION` was
measured) and a table with one row per dataset part: its size, image
shape, number of classes and pixel range.
"""

from __future__ import annotations

import pandas as pd
import torch

from .catalog import LabData


def channel_stats(X: torch.Tensor, batch_size: int = 4096):
    """Per-channel mean and std of uint8 images (n, c, h, w) scaled to [0, 1].

    Sums run in float64 over chunks, so 50k CIFAR images need little memory
    and the result does not depend on the chunk size.
    """
    if len(X) == 0:
        raise ValueError(
            "channel_stats got no images: the mean and std of an empty set "
            "are undefined. Check the subset (n_samples, keep_classes)."
        )
    c = X.shape[1]
    total = torch.zeros(c, dtype=torch.float64)
    total_sq = torch.zeros(c, dtype=torch.float64)
    for start in range(0, len(X), batch_size):
        chunk = X[start : start + batch_size].to(torch.float64) / 255.0
        total += chunk.sum(dim=(0, 2, 3))
        total_sq += chunk.pow(2).sum(dim=(0, 2, 3))
    n = X.shape[0] * X.shape[2] * X.shape[3]
    mean = total / n
    std = (total_sq / n - mean.pow(2)).clamp_min(0).sqrt()
    return mean, std


def describe(*parts: LabData) -> pd.DataFrame:
    """One row per dataset part: images, image shape, classes, pixel range."""
    return pd.DataFrame(
        [
            {
                "dataset": p.name,
                "split": p.split,
                "images": len(p),
                "shape (c, h, w)": tuple(p.X.shape[1:]),
                "dtype": str(p.X.dtype),
                "classes": len(p.classes),
                "pixel range": (
                    (int(p.X.min()), int(p.X.max())) if len(p) else "(empty)"
                ),
            }
            for p in parts
        ]
    )
