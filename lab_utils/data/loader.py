"""Batches sliced out of tensors that already live on the device.

:class:`TensorLoader` is this course's stand-in for
``torch.utils.data.DataLoader``: the uint8 images move to the device once,
and each batch is indexed out of them, converted to float, augmented and
normalised there, with no worker processes and no per-image Python code.
"""

from __future__ import annotations

import math

import torch

from .augment import Augment
from .catalog import NORMALIZATION, LabData, is_whole

# Images converted, augmented and normalised at once on CUDA (a float32
# CIFAR-10 chunk of 8,192 images is 100 MB).
CHUNK_IMAGES = 8192


class TensorLoader:
    """Batches of (X, y) sliced from tensors that live on ``device``.

    The uint8 images move to the device once; each batch is converted to
    float in [0, 1], augmented (training only) and normalised there (on
    CUDA a chunk of batches at once: ``batches_per_chunk``). A seeded
    generator fixes the shuffling and augmentation order, and its state is
    part of :meth:`state_dict`, so a resumed run sees the same batches.
    """

    def __init__(
        self,
        data: LabData,
        batch_size: int = 128,
        *,
        shuffle: bool = False,
        augment: Augment | None = None,
        normalize: tuple | None = None,
        device=None,
        seed: int = 0,
        drop_last: bool = False,
    ):
        if not is_whole(batch_size) or batch_size < 1:
            raise ValueError(
                f"batch_size must be a whole number of images, at least 1; "
                f"got {batch_size!r} ({type(batch_size).__name__})."
            )
        if data.X.dtype != torch.uint8:
            raise ValueError(
                f"{data.name}'s images are {data.X.dtype}, but the loader "
                f"expects uint8 (it divides by 255 itself). Build the "
                f"LabData from the images, which converts floats in [0, 1]."
            )
        batch_size = int(batch_size)
        self.device = torch.device(device or "cpu")
        self.X = data.X.to(self.device)
        self.y = data.y.to(self.device)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.augment = augment
        self.drop_last = drop_last
        if normalize is None:
            normalize = NORMALIZATION.get(data.name)
        self.mean = self.std = None
        if normalize is not None:
            mean, std = (
                torch.tensor(v, dtype=torch.float32, device=self.device).view(
                    1, -1, 1, 1
                )
                for v in normalize
            )
            _check_normalize(mean, std)
            self.mean, self.std = mean, std
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(seed)

    def __len__(self) -> int:
        n = len(self.y)
        return (
            n // self.batch_size
            if self.drop_last
            else math.ceil(n / self.batch_size)
        )

    def __iter__(self):
        n, size = len(self.y), self.batch_size
        if self.shuffle:
            order = torch.randperm(
                n, generator=self.generator, device=self.device
            )
        else:
            order = torch.arange(n, device=self.device)
        per = self.batches_per_chunk()
        for first in range(0, len(self), per):
            last = min(first + per, len(self))
            idx = order[first * size : last * size]
            X, y = self._prepare(self.X[idx]), self.y[idx]
            for b in range(0, len(y), size):
                yield X[b : b + size], y[b : b + size]

    def batches_per_chunk(self) -> int:
        """Batches prepared at once: on CUDA, enough for CHUNK_IMAGES
        images, so that a batch costs no kernel launches of its own (a
        small net's step is shorter than the launches of its batch); one
        elsewhere, where a launch costs nothing."""
        if self.device.type != "cuda":
            return 1
        return max(1, CHUNK_IMAGES // self.batch_size)

    def _prepare(self, X: torch.Tensor) -> torch.Tensor:
        """uint8 images to float in [0, 1], augmented, normalised."""
        X = X.float().div_(255.0)
        if self.augment is not None:
            X = self.augment(X, self.generator)
        if self.mean is not None:
            X = (X - self.mean) / self.std
        return X

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])


def _check_normalize(mean: torch.Tensor, std: torch.Tensor) -> None:
    """Refuse a normalisation that would turn images into NaN or inf: a
    std of 0 (a constant channel) divides by zero."""
    bad = ~(torch.isfinite(std) & (std > 0)) | ~torch.isfinite(mean)
    if bool(bad.any()):
        channel = int(bad.flatten().nonzero()[0])
        raise ValueError(
            f"normalize=(mean, std) needs finite means and positive "
            f"standard deviations, got mean "
            f"{mean.flatten().tolist()} and std {std.flatten().tolist()} "
            f"(channel {channel}). A std of 0 means a constant channel: "
            f"compute the statistics on the training images "
            f"(lu.channel_stats), or leave normalize=None for the "
            f"dataset's own."
        )
