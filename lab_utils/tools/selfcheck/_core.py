"""What every self-check shares: comparing a student's tensor with the
reference's in words, calling a student's function safely, and small
real data loaded once per session."""

from __future__ import annotations

import contextlib
import numbers
import sysconfig
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ...data import NORMALIZATION, load_dataset

# Frames from these folders are library code (the package, PyTorch, NumPy,
# Python's own), not the student's: an error is reported at the innermost
# frame outside them, the student's own line.
_LIBRARIES = tuple(
    {
        str(Path(__file__).parents[3]) + "/lab_utils",
        *(
            sysconfig.get_paths()[key]
            for key in ("stdlib", "platstdlib", "purelib", "platlib")
        ),
        str(Path(torch.__file__).parent),
        str(Path(np.__file__).parent),
    }
)


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


def slack(got, expected: torch.Tensor) -> float:
    """The rounding a correct answer in ``got``'s dtype carries: 0 in
    float64, else 64 of its units in the last place at the reference's
    largest magnitude (float32 sums and subtractions lose a few bits
    each: a float32 batch norm is off by about 6e-7)."""
    dtype = getattr(got, "dtype", torch.float64)
    if not isinstance(dtype, torch.dtype):  # a NumPy array's
        dtype = torch.from_numpy(np.zeros(0, dtype=dtype)).dtype
    if not dtype.is_floating_point or dtype == torch.float64:
        return 0.0
    scale = float(expected.detach().abs().max()) if expected.numel() else 0
    return 64 * torch.finfo(dtype).eps * scale


def as_tensor(got, arrays: bool = False):
    """``got``, a NumPy array made a tensor where ``arrays`` allows one
    (the statement says so); anything else as it is."""
    if arrays and isinstance(got, np.ndarray) and got.dtype != object:
        return torch.from_numpy(np.array(got))
    return got


def compare(
    label: str,
    got,
    expected: torch.Tensor,
    atol: float,
    rtol: float = 0.0,
    arrays: bool = False,
) -> list[str]:
    """What is wrong with ``got`` as a stand-in for ``expected`` (a float
    tensor): type, shape, dtype, non-finite entries, values beyond
    ``atol + rtol * |expected|`` (widened by ``slack`` for an answer in
    a lower precision than float64). Empty when it matches. arrays: a
    NumPy array is an answer too."""
    got = as_tensor(got, arrays)
    if not isinstance(got, torch.Tensor):
        kinds = "a torch.Tensor" + (" or a NumPy array" if arrays else "")
        return [
            f"{label} is of type {type(got).__name__}; it should be {kinds}."
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
    atol = max(atol, slack(got, expected))
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
    tolerance = f"atol {atol:.3g}" + (f", rtol {rtol:g}" if rtol else "")
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


def matches(got, value: torch.Tensor, atol: float, rtol: float = 0.0) -> bool:
    """Whether ``got`` equals ``value`` (a slip's result) as ``compare``
    judges, in any dtype; False for anything it cannot compare."""
    try:
        return not compare("", got, value, atol, rtol, arrays=True)
    except Exception:  # a diagnosis never crashes the check
        return False


@contextlib.contextmanager
def diagnosis():
    """Run a diagnosis, which only adds hints: if it cannot run on this
    answer (an odd shape or dtype), the comparison already made stands
    alone instead of a traceback."""
    with contextlib.suppress(Exception):
        yield


def as_number(got):
    """A one-number answer (a Python or NumPy number, a one-element
    tensor) as a Python float; None for anything else."""
    if isinstance(got, torch.Tensor) and got.numel() == 1:
        if got.dtype == torch.bool:
            return None
        return float(got.detach())
    if isinstance(got, np.ndarray) and got.size == 1:
        got = got.reshape(()).item()
    if isinstance(got, (bool, np.bool_)):
        return None
    if isinstance(got, numbers.Real):
        return float(got)
    return None


def _call(fn: Callable, *args, **kwargs):
    """fn(*args); NotImplementedError passes through (the stub's hint),
    anything else becomes a problem naming the line it came from."""
    try:
        return fn(*args, **kwargs), []
    except NotImplementedError:
        raise
    except Exception as err:  # a student's bug: report it, do not crash
        where = _students_line(err)
        return None, [f"calling it raised {type(err).__name__}: {err}{where}"]


def _students_line(err: BaseException) -> str:
    """' (at `line`)': the innermost frame of the error's traceback that is
    not library code (the package, PyTorch, NumPy, Python): the student's
    own line, in their cell or function; empty if there is none."""
    frames = traceback.extract_tb(err.__traceback__)
    theirs = [f for f in frames if not f.filename.startswith(_LIBRARIES)]
    if not theirs or not theirs[-1].line:
        return ""
    return f" (at `{theirs[-1].line}`)"


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
