"""What the course's datasets are, before any file is read.

The dataset names, their class names in label order, the per-channel
normalisation measured on their training pixels, the :class:`LabData`
record that every loading function returns, and the error raised when a
dataset cannot be found. The other modules of :mod:`lab_utils.data` build
on these names and this module imports none of them, so the package's
imports point one way, with no cycles.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
import torch

DATASETS = ("mnist", "fashion_mnist", "cifar10", "lfw")

MNIST_CLASSES = [str(d) for d in range(10)]
FASHION_MNIST_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
CIFAR10_CLASSES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]

# Per-channel mean and std of the *training* pixels scaled to [0, 1],
# measured by Lab 1 (and re-measured by tests/test_data.py). Later labs
# import these instead of recomputing them. CIFAR-10 is measured on the
# JPEG copy in the offline data folder; the official pickles differ in the
# fourth decimal.
NORMALIZATION = {
    "mnist": ((0.1307,), (0.3081,)),
    "fashion_mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4913, 0.4821, 0.4465), (0.2452, 0.2428, 0.2606)),
}


def is_whole(value) -> bool:
    """An integer, Python's or numpy's; not a bool and not a float (for
    counts such as epochs, batch_size, n_samples and seeds)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def as_uint8_images(X) -> torch.Tensor:
    """X as a (n, c, h, w) uint8 tensor: uint8 as it is, integer pixels in
    0..255 cast, float pixels in [0, 1] scaled by 255; anything else is a
    ValueError that says what is expected."""
    X = torch.as_tensor(X)
    if X.dim() != 4:
        hint = (
            " For grey images of shape (n, h, w) add the channel axis: "
            "X.unsqueeze(1)."
            if X.dim() == 3
            else ""
        )
        raise ValueError(
            f"Images must be a (n, channels, height, width) tensor, got "
            f"shape {tuple(X.shape)}.{hint}"
        )
    if X.dtype == torch.uint8 or X.numel() == 0:
        return X.to(torch.uint8)
    if X.dtype == torch.bool:
        raise ValueError("Images must be uint8 or float, got bool.")
    if X.is_floating_point():
        bad = ~torch.isfinite(X)
        if bool(bad.any()):
            where = tuple(int(i) for i in bad.nonzero()[0])
            n_nan, n_inf = int(X.isnan().sum()), int(X.isinf().sum())
            raise ValueError(
                f"Float images must hold finite values in [0, 1]; "
                f"{n_nan:,} of {X.numel():,} values are NaN and {n_inf:,} "
                f"infinite, the first at index {where} (image {where[0]}, "
                f"channel {where[1]}, row {where[2]}, column {where[3]}). "
                f"Find where they came from (a division by zero, a "
                f"missing pixel), or replace them: "
                f"torch.nan_to_num(X, nan=0.0, posinf=1.0, neginf=0.0)."
            )
    low, high = float(X.min()), float(X.max())
    if X.is_floating_point():
        if 0.0 <= low and high <= 1.0:
            return (X.float() * 255.0).round_().to(torch.uint8)
        raise ValueError(
            f"Float images must hold values in [0, 1]; these range from "
            f"{low:g} to {high:g}. For pixel values 0..255 pass uint8 "
            f"(X.round().to(torch.uint8)); for normalised images, undo "
            f"the normalisation first: the loaders normalise themselves."
        )
    if 0 <= low and high <= 255:
        return X.to(torch.uint8)
    raise ValueError(
        f"Integer images must hold values in 0..255; these range from "
        f"{low:g} to {high:g}."
    )


class DatasetNotFoundError(FileNotFoundError):
    """A dataset is neither on disk nor downloadable."""


@dataclass
class LabData:
    """A labelled image set held in memory.

    X: (n, c, h, w) uint8 tensor; y: (n,) int64 tensor; classes: names in
    label order; source: where the images were read from.

    Images are checked as they come in: float images with values in
    [0, 1] are stored as uint8 (x 255, rounded), so nothing downstream
    divides them by 255 a second time; any other range, dtype or shape is
    refused with a message that says what is expected.
    """

    name: str
    split: str
    X: torch.Tensor
    y: torch.Tensor
    classes: list[str]
    source: str = ""

    def __post_init__(self):
        self.X = as_uint8_images(self.X)
        self.y = torch.as_tensor(self.y)
        if self.y.dtype != torch.int64:
            if self.y.is_floating_point() or self.y.dtype == torch.bool:
                raise ValueError(
                    f"Labels y must be integers (class indices), got "
                    f"{self.y.dtype}."
                )
            self.y = self.y.long()
        if self.y.shape != (len(self.X),):
            raise ValueError(
                f"y must hold one label per image: {len(self.X)} images "
                f"but y has shape {tuple(self.y.shape)}."
            )
        if self.classes and len(self.y):
            low, high = int(self.y.min()), int(self.y.max())
            if low < 0 or high >= len(self.classes):
                raise ValueError(
                    f"Labels must be class indices 0..{len(self.classes) - 1}"
                    f" (one per class name), got {low}..{high}."
                )

    def __len__(self) -> int:
        return len(self.y)

    def __repr__(self) -> str:
        c, h, w = self.X.shape[1:]
        return (
            f"LabData({self.name!r}, split={self.split!r}, "
            f"n_samples={len(self)}, shape=({c}, {h}, {w}), "
            f"n_classes={len(self.classes)})"
        )

    def take(self, index: torch.Tensor, split: str | None = None) -> LabData:
        """The rows at ``index`` as a new LabData (same classes)."""
        index = torch.as_tensor(index, dtype=torch.long)
        return LabData(
            self.name,
            split or self.split,
            self.X[index],
            self.y[index],
            self.classes,
            self.source,
        )

    def class_counts(self) -> np.ndarray:
        """Number of images per class, in label order."""
        return np.bincount(self.y.numpy(), minlength=len(self.classes))
