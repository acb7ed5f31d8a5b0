"""What the course's datasets are, before any file is read.

The dataset names, their class names in label order, the per-channel
normalisation measured on their training pixels, the :class:`LabData`
record that every loading function returns, and the error raised when a
dataset cannot be found. The other modules of :mod:`lab_utils.data` build
on these names and this module imports none of them, so the package's
imports point one way, with no cycles.
"""

from __future__ import annotations

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


class DatasetNotFoundError(FileNotFoundError):
    """A dataset is neither on disk nor downloadable."""


@dataclass
class LabData:
    """A labelled image set held in memory.

    X: (n, c, h, w) uint8 tensor; y: (n,) int64 tensor; classes: names in
    label order; source: where the images were read from.
    """

    name: str
    split: str
    X: torch.Tensor
    y: torch.Tensor
    classes: list[str]
    source: str = ""

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
