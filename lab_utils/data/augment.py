"""Batched data augmentation with tensor ops, repeatable from a seed.

Random crops, left-right flips, affine transforms (rotation, shear, zoom)
and colour jitter, each applied to a whole float batch ``(n, c, h, w)`` at
once on whatever device it lives, with no per-image PIL code. Each draws
its randomness per image from the ``torch.Generator`` it is given, so a
seeded loader sees the same augmented batches every run; :class:`Augment`
chains them and :data:`AUGMENTATIONS` names the steps of Lab 2's ladder
and Lab 5's flips.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class Augment:
    """Random augmentation of a float batch (n, c, h, w) with tensor ops.

    Each op draws its randomness per image from ``generator``, so a seeded
    loader gives the same augmented batches every run. crop_padding: pad by
    this many pixels (reflect) and crop back at a random offset;
    hflip: flip half the images left-right; rotation: max degrees;
    shear: max degrees; scale: (min, max) zoom; color_jitter: max relative
    change of brightness, contrast and saturation.
    """

    crop_padding: int = 0
    hflip: bool = False
    rotation: float = 0.0
    shear: float = 0.0
    scale: tuple[float, float] | None = None
    color_jitter: float = 0.0

    def __call__(
        self, X: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        if self.crop_padding:
            X = random_crop(X, self.crop_padding, generator)
        if self.hflip:
            X = random_hflip(X, generator)
        if self.rotation or self.shear or self.scale:
            X = random_affine(
                X, self.rotation, self.shear, self.scale, generator
            )
        if self.color_jitter:
            X = color_jitter(X, self.color_jitter, generator)
        return X


# Named augmentations: the ladder of Lab 2 (from crop+flip on, each step
# adds to the one before), the flips of Lab 5, and the small CIFAR-10
# report's flips with colour jitter (brightness, contrast and saturation
# by up to 0.2, its values; Lab 1).
AUGMENTATIONS = {
    "none": None,
    # Digits: moved by up to two pixels, never flipped.
    "shift": Augment(crop_padding=2),
    "flip": Augment(hflip=True),
    "flip+color jitter": Augment(hflip=True, color_jitter=0.2),
    "crop+flip": Augment(crop_padding=4, hflip=True),
    "+rotate/affine": Augment(
        crop_padding=4, hflip=True, rotation=10.0, shear=10.0, scale=(0.8, 1.2)
    ),
    "+color jitter": Augment(
        crop_padding=4,
        hflip=True,
        rotation=10.0,
        shear=10.0,
        scale=(0.8, 1.2),
        color_jitter=0.2,
    ),
}


def get_augment(name: str) -> Augment | None:
    """The named step of :data:`AUGMENTATIONS`."""
    if name not in AUGMENTATIONS:
        raise ValueError(
            f"Unknown augmentation {name!r}. Choose one of: "
            f"{', '.join(AUGMENTATIONS)}."
        )
    return AUGMENTATIONS[name]


def _uniform(n, low, high, X, generator):
    u = torch.rand(n, generator=generator, device=X.device, dtype=X.dtype)
    return low + (high - low) * u


def random_crop(
    X: torch.Tensor, padding: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Pad each image by ``padding`` (reflect) and crop back at a random
    offset: all images at once, by gathering with per-image index grids."""
    n, c, h, w = X.shape
    padded = F.pad(X, (padding,) * 4, mode="reflect")
    dy = torch.randint(
        0, 2 * padding + 1, (n,), generator=generator, device=X.device
    )
    dx = torch.randint(
        0, 2 * padding + 1, (n,), generator=generator, device=X.device
    )
    rows = (dy[:, None] + torch.arange(h, device=X.device))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w, device=X.device))[:, None, None, :]
    batch = torch.arange(n, device=X.device)[:, None, None, None]
    chan = torch.arange(c, device=X.device)[None, :, None, None]
    return padded[batch, chan, rows, cols]


def random_hflip(
    X: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Flip a random half of the images left-right."""
    flip = torch.rand(len(X), generator=generator, device=X.device) < 0.5
    return torch.where(flip[:, None, None, None], X.flip(-1), X)


def random_affine(
    X: torch.Tensor,
    rotation: float = 0.0,
    shear: float = 0.0,
    scale: tuple[float, float] | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Random rotation (degrees), shear (degrees) and zoom per image, one
    ``grid_sample`` for the whole batch; pixels from outside become 0."""
    n = len(X)
    angle = _uniform(n, -rotation, rotation, X, generator)
    sh = _uniform(n, -shear, shear, X, generator)
    lo, hi = scale or (1.0, 1.0)
    zoom = _uniform(n, lo, hi, X, generator)
    return apply_affine(X, affine_matrix(angle, sh, zoom))


def affine_matrix(
    angle: torch.Tensor, shear: torch.Tensor, zoom: torch.Tensor
) -> torch.Tensor:
    """(n, 2, 3) sampling matrices for ``apply_affine``: rotate images
    counter-clockwise by ``angle`` degrees, shear by ``shear`` degrees and
    zoom in by ``zoom`` (all (n,) tensors)."""
    a = angle * math.pi / 180
    tan = (shear * math.pi / 180).tan()
    cos, sin = a.cos(), a.sin()
    # grid_sample maps output to input coordinates, so this is the inverse
    # of the image transform: (rotation @ shear) / zoom, with y pointing
    # down in image coordinates.
    theta = torch.zeros(len(a), 2, 3, device=a.device, dtype=a.dtype)
    theta[:, 0, 0] = cos / zoom
    theta[:, 0, 1] = (cos * tan - sin) / zoom
    theta[:, 1, 0] = sin / zoom
    theta[:, 1, 1] = (sin * tan + cos) / zoom
    return theta


def apply_affine(X: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Resample a batch (n, c, h, w) with per-image matrices (n, 2, 3)."""
    grid = F.affine_grid(theta, list(X.shape), align_corners=False)
    return F.grid_sample(X, grid, padding_mode="zeros", align_corners=False)


def color_jitter(
    X: torch.Tensor, strength: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Random brightness, contrast and saturation in [1 - s, 1 + s] per
    image, on [0, 1] RGB (grey images get brightness and contrast only)."""
    n = len(X)

    def factor():
        return _uniform(n, 1 - strength, 1 + strength, X, generator)[
            :, None, None, None
        ]

    X = X * factor()
    mean = X.mean(dim=(1, 2, 3), keepdim=True)
    X = (X - mean) * factor() + mean
    if X.shape[1] == 3:
        grey = 0.299 * X[:, :1] + 0.587 * X[:, 1:2] + 0.114 * X[:, 2:]
        X = (X - grey) * factor() + grey
    return X.clamp(0.0, 1.0)
