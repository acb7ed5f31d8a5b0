"""What every self-check shares: comparing a student's tensor with the
reference's in words, calling a student's function safely, and small
real data loaded once per session."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ...data import NORMALIZATION, load_dataset

# Frames from here are the self-check's own, not the student's.
_PACKAGE = str(Path(__file__).parent)


class _Brief:
    """An error that Jupyter (IPython) shows as its one-line message, not
    under the frames of the self-check's own code: what it says is all a
    student needs, and the frames only bury it."""

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]


class SelfCheckFailed(_Brief, AssertionError):
    """A student's function does not match the reference yet."""


class ExerciseNotDone(_Brief, NotImplementedError):
    """The exercise's function still raises its stub's hint."""


@dataclass
class Case:
    """One comparison on one piece of data; problems empty = it passed."""

    name: str
    problems: list[str] = field(default_factory=list)


def _shape(t) -> str:
    return str(tuple(t.shape))


def _where(index: tuple[int, ...]) -> str:
    return str(index[0]) if len(index) == 1 else str(index)


def compare(
    label: str, got, expected: torch.Tensor, atol: float, rtol: float = 0.0
) -> list[str]:
    """What is wrong with ``got`` as a stand-in for ``expected`` (a float
    tensor): type, shape, dtype, non-finite entries, values beyond
    ``atol + rtol * |expected|``. Empty when it matches."""
    if not isinstance(got, torch.Tensor):
        return [
            f"{label} is of type {type(got).__name__}; it should be a "
            f"torch.Tensor."
        ]
    if got.shape != expected.shape:
        return [
            f"{label} has shape {_shape(got)}; it should have shape "
            f"{_shape(expected)}."
        ]
    if expected.is_floating_point() and not got.is_floating_point():
        return [
            f"{label} has dtype {got.dtype}; it should be a "
            f"floating-point tensor."
        ]
    got = got.detach().to("cpu", torch.float64)
    expected = expected.detach().to("cpu", torch.float64)
    bad_values = ~torch.isfinite(got)
    if bad_values.any():
        index = tuple(torch.nonzero(bad_values)[0].tolist())
        return [
            f"{label} has {int(bad_values.sum())} NaN or infinite "
            f"entries, the first at index {_where(index)}."
        ]
    difference = (got - expected).abs()
    wrong = difference > atol + rtol * expected.abs()
    if not wrong.any():
        return []
    tolerance = f"atol {atol:g}" + (f", rtol {rtol:g}" if rtol else "")
    if expected.ndim == 0:
        return [
            f"{label} differs by {difference:.3g}, beyond the tolerance "
            f"({tolerance})."
        ]
    worst = tuple(torch.nonzero(difference == difference.max())[0].tolist())
    return [
        f"{label}: {int(wrong.sum())} of {wrong.numel()} entries "
        f"differ beyond the tolerance ({tolerance}); the largest "
        f"difference is {difference.max():.3g}, at index "
        f"{_where(worst)}."
    ]


def _call(fn: Callable, *args, **kwargs):
    """fn(*args); NotImplementedError passes through (the stub's hint),
    anything else becomes a problem naming the line it came from."""
    try:
        return fn(*args, **kwargs), []
    except NotImplementedError:
        raise
    except Exception as err:  # a student's bug: report it, do not crash
        frames = traceback.extract_tb(err.__traceback__)
        inside = [f for f in frames if not f.filename.startswith(_PACKAGE)]
        where = (
            f" (at `{inside[-1].line}`)" if inside and inside[-1].line else ""
        )
        return None, [f"calling it raised {type(err).__name__}: {err}{where}"]


def _as_pair(result, names: tuple[str, ...]) -> tuple[list, list[str]]:
    """Unpack a function's tuple result into ``names``, or say why not."""
    if not isinstance(result, (tuple, list)) or len(result) != len(names):
        count = (
            len(result)
            if isinstance(result, (tuple, list))
            else f"one {type(result).__name__}"
        )
        return [], [
            f"it returned {count}; it should return "
            f"{len(names)} values: ({', '.join(names)})."
        ]
    return list(result), []


# --- small real data, loaded once per session --------------------------------

_DATA: dict = {}


def _images(name: str, n: int, data_dir, split: str = "train"):

    key = (name, n, split, str(data_dir))
    if key not in _DATA:
        size = {"image_size": 32} if name == "lfw" else {}
        _DATA[key] = load_dataset(
            name, split, n_samples=n, seed=0, data_dir=data_dir, **size
        )
    return _DATA[key]


def _normalised(data) -> torch.Tensor:

    mean, std = (
        torch.tensor(v, dtype=torch.float64)[:, None, None]
        for v in NORMALIZATION[data.name]
    )
    return (data.X.to(torch.float64) / 255 - mean) / std
