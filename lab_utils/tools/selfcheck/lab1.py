"""Self-checks of Lab 1: data."""

from __future__ import annotations

import math

import torch

from ...data import channel_stats
from ._core import (
    Case,
    _as_pair,
    _call,
    _images,
    _shape,
    as_tensor,
    compare,
    diagnosis,
    matches,
)


def check_channel_stats(fn, data_dir) -> list[Case]:

    cases = []
    # Two images last: so few values per channel that dividing by N - 1
    # instead of N shows (with 512 images it is below the tolerance).
    for name, n in (("mnist", 512), ("cifar10", 512), ("cifar10", 2)):
        data = _images(name, 512, data_dir)
        X = data.X[:n].clone()
        case = Case(f"{data.name}, {n} training images {_shape(X)}")
        result, case.problems = _call(fn, X)
        if not case.problems:
            got, case.problems = _as_pair(result, ("mean", "std"))
        if not case.problems:
            for label, g, e in zip(("mean", "std"), got, channel_stats(X)):
                problems = compare(label, g, e, atol=1e-5, arrays=True)
                if problems:
                    with diagnosis():
                        problems += _stats_slips(
                            label, as_tensor(g, True), X, e
                        )
                case.problems += problems
        if not torch.equal(X, data.X[:n]):
            case.problems.append(
                "it changed the images passed in; work on a copy."
            )
        cases.append(case)
    return cases


def _stats_slips(label, g, X, e) -> list[str]:
    """What a wrong mean or std did, among the typical slips."""
    if not isinstance(g, torch.Tensor):
        return []
    if g.shape != e.shape:
        if g.numel() == e.numel():
            return [
                f"it keeps the reduced dimensions (keepdim=True): return "
                f"shape {_shape(e)}, a value for each channel."
            ]
        if g.ndim >= 1 and e.numel() in g.shape:
            return [
                f"one {label} per channel: reduce over the images and "
                f"the pixel positions, dims (0, 2, 3)."
            ]
        return []
    pixels = X.double() / 255
    slips = {
        "it is 255 times too large: scale the pixels to [0, 1] first": (
            e * 255
        ),
    }
    if label == "std":
        slips[
            "it divides by N - 1, the sample standard deviation; the "
            "dataset's own divides by N (correction=0)"
        ] = pixels.std(dim=(0, 2, 3))
        slips["it is the variance: take its square root"] = e**2
        slips["it is the standard deviation of the unscaled pixels"] = e * 255
    return [
        f"{slip}."
        for slip, value in slips.items()
        if matches(g, value, atol=1e-6, rtol=1e-4)
    ][:1]


# Images kept per class: unbalanced, so that n_class * val_fraction has a
# fractional part (never one half) and rounding down or up shows.
_PER_CLASS = (200, 203, 207, 196, 211, 189, 193, 201, 199, 187)


def _unbalanced_labels(data_dir) -> tuple[torch.Tensor, list[str]]:
    """Real MNIST labels, _PER_CLASS of each class, in the set's order."""
    data = _images("mnist", 2400, data_dir)
    keep = (
        torch.cat(
            [
                torch.nonzero(data.y == c).flatten()[:count]
                for c, count in enumerate(_PER_CLASS)
            ]
        )
        .sort()
        .values
    )
    return data.y[keep], data.classes


def _rounding_slip(y, val_idx, fraction) -> str | None:
    """How a wrong number of validation images per class was rounded."""
    counts = [int((y == c).sum()) for c in range(len(_PER_CLASS))]
    have = [int((y[val_idx] == c).sum()) for c in range(len(_PER_CLASS))]
    if have == [math.floor(n * fraction) for n in counts]:
        return "it rounds down (int() or //): round to the nearest, round()."
    if have == [math.ceil(n * fraction) for n in counts]:
        return "it rounds up (ceil): round to the nearest, round()."
    if len(set(have)) == 1:
        return (
            "every class has the same number of validation images: take "
            "the fraction of each class's own count."
        )
    return None


def check_stratified_split(fn, data_dir) -> list[Case]:
    y, classes = _unbalanced_labels(data_dir)
    cases = []
    for fraction in (0.1, 0.25):
        case = Case(
            f"labels of {len(y):,} MNIST images, {min(_PER_CLASS)} to "
            f"{max(_PER_CLASS)} per class, val_fraction {fraction}"
        )
        cases.append(case)
        result, case.problems = _call(fn, y.clone(), fraction, 0)
        if case.problems:
            continue
        parts, case.problems = _as_pair(result, ("train_idx", "val_idx"))
        if case.problems:
            continue
        parts = [as_tensor(part, arrays=True) for part in parts]
        for label, part in zip(("train_idx", "val_idx"), parts):
            if isinstance(part, torch.Tensor) and part.dtype == torch.bool:
                case.problems.append(
                    f"{label} is a boolean mask of {len(part)} entries; it "
                    f"should hold the indices themselves "
                    f"(torch.nonzero(mask).flatten() turns a mask into "
                    f"them)."
                )
            elif (
                not isinstance(part, torch.Tensor)
                or part.ndim != 1
                or part.is_floating_point()
            ):
                case.problems.append(
                    f"{label} should be a 1-D tensor of integer indices."
                )
        if case.problems:
            continue
        train_idx, val_idx = parts
        both = torch.cat([train_idx, val_idx])
        if len(both) != len(y) or not torch.equal(
            both.sort().values, torch.arange(len(y))
        ):
            overlap = len(set(train_idx.tolist()) & set(val_idx.tolist()))
            case.problems.append(
                f"together the parts hold {len(both)} indices for "
                f"{len(y)} images ({overlap} in both parts); every "
                f"image must be in exactly one part."
            )
            continue
        wrong = []
        for c in range(len(classes)):
            n_class = int((y == c).sum())
            want = int(round(n_class * fraction))
            have = int((y[val_idx] == c).sum())
            if have != want:
                wrong.append(
                    f"class {classes[c]!r} has {have} of its "
                    f"{n_class} images in validation; it should have "
                    f"round({n_class} * {fraction})."
                )
        if wrong:
            slip = _rounding_slip(y, val_idx, fraction)
            case.problems += wrong[:3] + (
                [f"... and {len(wrong) - 3} more classes."]
                if len(wrong) > 3
                else []
            )
            case.problems += [slip] if slip else []
        again = _sorted_val(_call(fn, y.clone(), fraction, 0)[0])
        other = _sorted_val(_call(fn, y.clone(), fraction, 1)[0])
        if again is None or not torch.equal(again, val_idx.sort().values):
            case.problems.append(
                "the same seed gave a different split; "
                "draw the permutation from a "
                "torch.Generator seeded with `seed`."
            )
        elif other is not None and torch.equal(other, val_idx.sort().values):
            case.problems.append(
                "seed 0 and seed 1 gave the same split; "
                "the split should be random."
            )
    return cases


def _sorted_val(result):
    """The validation indices of a split, sorted; None if unreadable."""
    with diagnosis():
        return as_tensor(result[1], arrays=True).sort().values
    return None
