"""Seeded subsets and splits of a :class:`LabData`.

A class-balanced subset, only some of the classes, a stratified
train/validation split, and the fixed train/test split that stands in for
LFW's missing official one. Each function draws from its own seeded
``torch.Generator``, so the same seed picks the same images on every run
and no global random state is touched.
"""

from __future__ import annotations

import torch

from .catalog import LabData


def balanced_subset(data: LabData, n_samples: int, seed: int = 0) -> LabData:
    """A seeded subset with (as nearly as possible) equal counts per class.

    Classes too small for their share give their remainder to the others.
    """
    g = torch.Generator().manual_seed(seed)
    by_class = [
        torch.nonzero(data.y == c).flatten() for c in range(len(data.classes))
    ]
    by_class = [idx[torch.randperm(len(idx), generator=g)] for idx in by_class]
    quota = _quotas([len(i) for i in by_class], n_samples)
    index = torch.cat([idx[:q] for idx, q in zip(by_class, quota)])
    return data.take(index.sort().values)


def _quotas(available: list[int], n: int) -> list[int]:
    """Split n across classes evenly, capped by what each class has."""
    quota = [0] * len(available)
    open_classes = [c for c, a in enumerate(available) if a > 0]
    left = min(n, sum(available))
    while left > 0 and open_classes:
        share = max(left // len(open_classes), 1)
        for c in list(open_classes):
            take = min(share, available[c] - quota[c], left)
            quota[c] += take
            left -= take
            if quota[c] == available[c]:
                open_classes.remove(c)
            if left == 0:
                break
    return quota


def keep_classes(data: LabData, classes: list[str]) -> LabData:
    """Only the images of ``classes`` (names), relabelled 0..k-1 in the
    order given: for training on some classes and holding out the rest."""
    if isinstance(classes, str):
        raise ValueError(
            f"classes must be a list of class names, got the string "
            f"{classes!r}: write [{classes!r}]."
        )
    classes = list(classes)
    if not classes:
        raise ValueError(
            f"keep_classes needs at least one class name; got none. "
            f"{data.name}'s classes: {', '.join(data.classes)}."
        )
    missing = [c for c in classes if c not in data.classes]
    if missing:
        raise ValueError(
            f"{data.name} has no class(es) {missing}. Classes:"
            f" {', '.join(data.classes)}."
        )
    old = torch.tensor([data.classes.index(c) for c in classes])
    index = torch.nonzero(torch.isin(data.y, old)).flatten()
    out = data.take(index)
    relabel = torch.full((len(data.classes),), -1, dtype=torch.long)
    relabel[old] = torch.arange(len(classes))
    out.y = relabel[out.y]
    out.classes = list(classes)
    return out


def train_val_split(
    data: LabData, val_fraction: float = 0.1, seed: int = 0
) -> tuple[LabData, LabData]:
    """Stratified, seeded split: each class keeps its share in both parts."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(
            f"val_fraction must be between 0 and 1 (exclusive),"
            f" got {val_fraction!r}."
        )
    g = torch.Generator().manual_seed(seed)
    train_idx, val_idx = [], []
    for c in range(len(data.classes)):
        idx = torch.nonzero(data.y == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        n_val = int(round(len(idx) * val_fraction))
        val_idx.append(idx[:n_val])
        train_idx.append(idx[n_val:])
    train = data.take(torch.cat(train_idx).sort().values, "train")
    val = data.take(torch.cat(val_idx).sort().values, "val")
    return train, val


def lfw_split(X, y, split, test_fraction=0.1, seed=0):
    """LFW has no official image split; a fixed seeded one by **person**
    stands in: nobody in the test faces appears in training.

    X: (n, c, h, w) images and y: (n,) person labels, all of LFW; returns
    the rows of ``split`` (``train`` or ``test``) in their original order.
    People are taken in a seeded random order into the test part while
    their images fit in ``test_fraction`` of all images (so the test part
    holds at most that share, and in LFW almost exactly it). Data with
    one label only (scikit-image's faces) has no people to split by and
    is split by image.
    """
    g = torch.Generator().manual_seed(seed)
    n_test = int(round(len(y) * test_fraction))
    # One label only: every image is its own "person".
    units = y if len(y.unique()) > 1 else torch.arange(len(y))
    counts = torch.bincount(units)
    people = torch.nonzero(counts).flatten()
    in_test = torch.zeros(len(counts), dtype=torch.bool)
    room = n_test
    for person in people[torch.randperm(len(people), generator=g)]:
        if counts[person] <= room:
            in_test[person] = True
            room -= int(counts[person])
    is_test = in_test[units]
    index = torch.nonzero(is_test if split == "test" else ~is_test)
    return X[index.flatten()], y[index.flatten()]
