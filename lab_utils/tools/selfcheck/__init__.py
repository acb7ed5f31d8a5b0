"""Self-checks for the exercises: each runs a student's function and the
reference from ``lab_utils`` on the same small piece of real data and
prints PASS, or FAIL with what differs (shape, dtype, which entries, by
how much, against what tolerance). A report never prints the expected
values: it says where to look, not what to write.

    from lab_utils.tools import self_check
    self_check("channel_stats", channel_stats, run.data_dir)

A stub that still raises NotImplementedError stops the cell with its hint;
any other exception inside the student's function is reported as a
failure, with the line it came from.
"""

from __future__ import annotations

from collections.abc import Callable

from ... import dry_run
from . import lab1, lab2, lab3, lab4, lab5, lab6
from ._core import (
    Case,
    ExerciseNotDone,
    SelfCheckFailed,
    _students_line,
    compare,
)

__all__ = [
    "CHECKS",
    "Case",
    "ExerciseNotDone",
    "SelfCheckFailed",
    "compare",
    "run_check",
    "report",
    "self_check",
]

CHECKS: dict[str, Callable] = {
    "channel_stats": lab1.check_channel_stats,
    "stratified_split": lab1.check_stratified_split,
    "batch_norm": lab2.check_batch_norm,
    "dense_features": lab2.check_dense_features,
    "ThreeConvClassifier": lab2.check_ThreeConvClassifier,
    "train_one_epoch": lab2.check_train_one_epoch,
    "momentum_step": lab3.check_momentum_step,
    "adam_step": lab3.check_adam_step,
    "early_stopping": lab3.check_early_stopping,
    "cosine_logits": lab4.check_cosine_logits,
    "arcface_logits": lab4.check_arcface_logits,
    "margin_head_accuracy": lab4.check_margin_head_accuracy,
    "conditional_probabilities": lab5.check_conditional_probabilities,
    "kl_gradient": lab5.check_kl_gradient,
    "reparameterize": lab6.check_reparameterize,
    "kl_divergence": lab6.check_kl_divergence,
    "vae_objective": lab6.check_vae_objective,
}


def run_check(name: str, fn: Callable, data_dir=None) -> list[Case]:
    """The cases of exercise ``name`` for ``fn``, without printing."""
    if name not in CHECKS:
        raise ValueError(
            f"No self-check named {name!r}. Known: {', '.join(CHECKS)}."
        )
    if not callable(fn):
        raise TypeError(
            f"self_check({name!r}, ...) needs your function "
            f"itself, got a {type(fn).__name__}: pass "
            f"`{name}`, without calling it."
        )
    # The check's own small data and models, never cut short by a dry run
    # (whose references would then see a batch where the student's code
    # sees all).
    with dry_run.suspended():
        try:
            return CHECKS[name](fn, data_dir)
        except NotImplementedError:
            raise
        except Exception as err:  # the check's own code met an odd answer
            return [
                Case(
                    "the self-check itself",
                    [
                        f"it could not finish judging this answer: "
                        f"{type(err).__name__}: {err}{_students_line(err)}. "
                        f"Compare what your function returns with what the "
                        f"exercise's statement asks for (type, shape)."
                    ],
                )
            ]


def report(name: str, cases: list[Case]) -> str:
    """The text a self-check prints."""
    failed = [c for c in cases if c.problems]
    if not failed:
        how_many = f"all {len(cases)} cases" if len(cases) > 1 else "its case"
        return (
            f"PASS {name}: matches the reference in {how_many}:\n"
            + "\n".join(f"  - {c.name}" for c in cases)
        )
    lines = [
        f"FAIL {name}: {len(failed)} of {len(cases)} cases differ "
        f"from the reference."
    ]
    for case in cases:
        lines.append(
            f"  {'ok  ' if not case.problems else 'FAIL'} {case.name}"
        )
        lines += [f"       - {p}" for p in case.problems]
    return "\n".join(lines)


def self_check(name: str, fn: Callable, data_dir=None) -> None:
    """Compare your ``fn`` for exercise ``name`` with the reference on
    small real data; print PASS, or FAIL with what differs and raise
    SelfCheckFailed so that "run all" stops here. A stub not written yet
    stops it with its hint alone (ExerciseNotDone)."""
    try:
        cases = run_check(name, fn, data_dir)
    except NotImplementedError as err:
        raise ExerciseNotDone(str(err)) from None
    print(report(name, cases))
    if any(c.problems for c in cases):
        raise SelfCheckFailed(
            f"{name} does not match the reference yet: "
            f"see the report above, fix the function "
            f"and run its cell and this one again."
        )
