"""Self-checks of Lab 1: data."""

from __future__ import annotations

import torch

from ...data import channel_stats
from ._core import Case, _as_pair, _call, _images, _shape, compare


def check_channel_stats(fn, data_dir) -> list[Case]:

    cases = []
    for name in ("mnist", "cifar10"):
        data = _images(name, 512, data_dir)
        case = Case(
            f"{data.name}, {len(data)} training images {_shape(data.X)}"
        )
        X = data.X.clone()
        result, case.problems = _call(fn, X)
        if not case.problems:
            got, case.problems = _as_pair(result, ("mean", "std"))
        if not case.problems:
            for label, g, e in zip(("mean", "std"), got, channel_stats(X)):
                problems = compare(label, g, e, atol=1e-5)
                if (
                    problems
                    and isinstance(g, torch.Tensor)
                    and g.shape == e.shape
                    and torch.allclose(g.double(), e * 255, rtol=1e-4)
                ):
                    problems.append(
                        "it is 255 times too large: scale the "
                        "pixels to [0, 1] first."
                    )
                case.problems += problems
        if not torch.equal(X, data.X):
            case.problems.append(
                "it changed the images passed in; work on a copy."
            )
        cases.append(case)
    return cases


def check_stratified_split(fn, data_dir) -> list[Case]:
    data = _images("mnist", 2000, data_dir)
    cases = []
    for fraction in (0.1, 0.25):
        case = Case(
            f"labels of {len(data)} MNIST images, val_fraction {fraction}"
        )
        cases.append(case)
        result, case.problems = _call(fn, data.y.clone(), fraction, 0)
        if case.problems:
            continue
        parts, case.problems = _as_pair(result, ("train_idx", "val_idx"))
        if case.problems:
            continue
        for label, part in zip(("train_idx", "val_idx"), parts):
            if (
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
        if len(both) != len(data) or not torch.equal(
            both.sort().values, torch.arange(len(data))
        ):
            overlap = len(set(train_idx.tolist()) & set(val_idx.tolist()))
            case.problems.append(
                f"together the parts hold {len(both)} indices for "
                f"{len(data)} images ({overlap} in both parts); every "
                f"image must be in exactly one part."
            )
            continue
        for c in range(len(data.classes)):
            n_class = int((data.y == c).sum())
            want = int(round(n_class * fraction))
            have = int((data.y[val_idx] == c).sum())
            if have != want:
                case.problems.append(
                    f"class {data.classes[c]!r} has {have} of its "
                    f"{n_class} images in validation; it should have "
                    f"round({n_class} * {fraction}) = {want}."
                )
        again, _ = _call(fn, data.y.clone(), fraction, 0)
        other, _ = _call(fn, data.y.clone(), fraction, 1)
        if again is None or not torch.equal(
            again[1].sort().values, val_idx.sort().values
        ):
            case.problems.append(
                "the same seed gave a different split; "
                "draw the permutation from a "
                "torch.Generator seeded with `seed`."
            )
        elif other is not None and torch.equal(
            other[1].sort().values, val_idx.sort().values
        ):
            case.problems.append(
                "seed 0 and seed 1 gave the same split; "
                "the split should be random."
            )
    return cases
