"""Self-checks of Lab 3: optimizers."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ...optim import adam_step, momentum_step
from ._core import (
    Case,
    _as_pair,
    _call,
    _images,
    _normalised,
    compare,
    diagnosis,
)


def _gradient_sequence(data_dir, steps: int = 6):
    """A parameter tensor and the real gradients of cross-entropy on
    CIFAR-10 batches along a short SGD path (float64)."""
    data = _images("cifar10", 6 * 32, data_dir)
    X = _normalised(data).flatten(1)
    torch.manual_seed(0)
    w = 0.01 * torch.randn(10, X.shape[1], dtype=torch.float64)
    gradients = []
    for k in range(steps):
        w.requires_grad_(True)
        batch = slice(32 * k, 32 * (k + 1))
        F.cross_entropy(X[batch] @ w.T, data.y[batch]).backward()
        gradients.append(w.grad.detach().clone())
        w = (w - 0.1 * w.grad).detach()
    return w.detach(), gradients


def _compare_steps(
    fn,
    reference,
    state_names,
    options,
    data_dir,
    t_arg: bool = False,
    hint=None,
    stale_start: bool = False,
) -> list[str]:
    """Run ``fn`` and ``reference`` step by step from identical inputs;
    report the first step where p or a state tensor differs, with
    ``hint(step, differing labels, inputs, student's p, student's
    state)``'s advice.
    stale_start: the state holds leftover values before step 1 (as a
    buffer reused from an earlier run would), which ``first=True`` must
    ignore."""
    p, gradients = _gradient_sequence(data_dir)
    ref_state = [torch.zeros_like(p) for _ in state_names]
    if stale_start:
        ref_state = [torch.full_like(p, 0.01) for _ in state_names]
    ref_p = p
    for step, g in enumerate(gradients, start=1):
        mine_p = ref_p.clone()
        mine_state = [s.clone() for s in ref_state]
        extra = {"t": step} if t_arg else {"first": step == 1}
        args = (mine_p, g.clone(), *mine_state)
        _, problems = _call(fn, *args, **extra, **options)
        if problems:
            return problems
        # Until the reference takes its step, ref_p and ref_state still
        # hold this step's inputs: anything equal to them was not updated.
        if torch.equal(mine_p, ref_p):
            return [
                "p did not change: update p and the state tensors in "
                "place (p.sub_(...), v.mul_(...).add_(...)); a new "
                "tensor assigned to a name is lost when the function "
                "returns."
            ]
        problems = [
            f"{label} did not change at step {step}: update the "
            f"state in place too ({label}.mul_(...).add_(...))."
            for label, got, before in zip(state_names, mine_state, ref_state)
            if torch.equal(got, before)
        ]
        if problems:
            return problems
        inputs = (ref_p.clone(), g, [t.clone() for t in ref_state])
        reference(ref_p, g, *ref_state, **extra, **options)
        differ = []
        for label, got, expected in zip(
            (*state_names, "p"), (*mine_state, mine_p), (*ref_state, ref_p)
        ):
            found = compare(
                f"{label} after step {step}",
                got,
                expected,
                atol=1e-12,
                rtol=1e-9,
            )
            problems += found
            differ += [label] if found else []
        if problems:
            advice = None
            with diagnosis():
                advice = hint(step, differ, inputs, mine_p, mine_state)
            return problems + ([advice] if advice else [])
    return []


def _close(a, b) -> bool:
    return torch.allclose(a, b, atol=1e-12, rtol=1e-9)


def _momentum_hint(nesterov, lr=0.1, momentum=0.9):
    def hint(step, differ, inputs, mine_p, mine_state):
        p, g, (v,) = inputs
        (mine_v,) = mine_state
        new_v = g if step == 1 else momentum * v + g
        if differ == ["v"] and _close(mine_v, -lr * new_v):
            return (
                "p is right, but v holds -lr times the velocity: that is "
                "the other convention (v = momentum * v - lr * g, then "
                "p += v). This exercise keeps PyTorch's, which the "
                "optimizer's saved state uses: v = momentum * v + g, "
                "then p -= lr * v."
            )
        if step == 1 and "v" in differ and _close(mine_v, momentum * v + g):
            return (
                "on the first step (first=True) v becomes g itself, "
                "whatever the buffer held before: it is a new velocity."
            )
        if "v" in differ and _close(mine_v, momentum * v + (1 - momentum) * g):
            return (
                "v is momentum * v + g: g has no factor (1 - momentum) "
                "in front of it."
            )
        if differ == ["p"] and nesterov:
            if _close(mine_p, p - lr * new_v):
                return (
                    "with nesterov=True, p moves by lr * (g + momentum * "
                    "v), a look ahead along the velocity, not by lr * v."
                )
        if "v" in differ:
            return (
                "v differs: the velocity is v = g on the first step, then "
                "v = momentum * v + g."
            )
        return None

    return hint


def _adam_hint(beta1, beta2, lr=1e-3, eps=1e-8):
    def hint(step, differ, inputs, mine_p, mine_state):
        p, g, (m, v) = inputs
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat, v_hat = m / (1 - beta1**step), v / (1 - beta2**step)
        if differ == ["p"]:
            if _close(mine_p, p - lr * m / (v.sqrt() + eps)):
                return (
                    "m and v match, p does not: it looks as if the bias "
                    "correction is missing (divide m by 1 - beta1^t and v "
                    "by 1 - beta2^t before the update)."
                )
            if _close(mine_p, p - lr * m_hat / (v_hat + eps).sqrt()):
                return (
                    "m and v match, p does not: eps belongs outside the "
                    "square root, sqrt(v_hat) + eps."
                )
            return "m and v match, p does not: check the update of p."
        mine_m, mine_v = mine_state
        if _close(mine_m, m_hat) and _close(mine_v, v_hat):
            return (
                "m and v hold the bias-corrected averages: keep m and v "
                "as the plain running averages (the next step builds on "
                "them), and compute m_hat and v_hat as new tensors."
            )
        if "v" in differ and "m" not in differ:
            return "v averages the squared gradients: (1 - beta2) * g * g."
        if "m" in differ and "v" not in differ:
            return "m averages the gradients: beta1 * m + (1 - beta1) * g."
        return (
            "m and v both differ: m = beta1 * m + (1 - beta1) * g and "
            "v = beta2 * v + (1 - beta2) * g * g."
        )

    return hint


def check_momentum_step(fn, data_dir) -> list[Case]:

    cases = []
    for nesterov in (False, True):
        case = Case(
            f"6 steps on real CIFAR-10 gradients of a linear "
            f"classifier, lr 0.1, momentum 0.9, nesterov={nesterov}"
        )
        case.problems = _compare_steps(
            fn,
            momentum_step,
            ("v",),
            {"lr": 0.1, "momentum": 0.9, "nesterov": nesterov},
            data_dir,
            hint=_momentum_hint(nesterov),
            stale_start=True,
        )
        cases.append(case)
    return cases


def check_adam_step(fn, data_dir) -> list[Case]:

    cases = []
    for beta1, beta2 in ((0.9, 0.999), (0.5, 0.9)):
        case = Case(
            f"6 steps on real CIFAR-10 gradients of a linear "
            f"classifier, lr 1e-3, betas ({beta1}, {beta2})"
        )
        case.problems = _compare_steps(
            fn,
            adam_step,
            ("m", "v"),
            {"lr": 1e-3, "beta1": beta1, "beta2": beta2, "eps": 1e-8},
            data_dir,
            t_arg=True,
            hint=_adam_hint(beta1, beta2),
        )
        cases.append(case)
    return cases


# --- the early-stopping rule ---------------------------------------------

# Validation curves recorded by Lab 2's cpu run of its chosen model (14
# epochs on 2,000 validation images), and two short curves with the
# cases a rule gets wrong: ties (accuracies on a fixed set move in steps,
# so equal values happen) and a curve that never beats its first epoch.
_ACCURACY = (0.528, 0.5745, 0.5675, 0.578, 0.5765, 0.588, 0.5935, 0.6025,
             0.606, 0.6095, 0.59, 0.571, 0.5815, 0.5715)  # fmt: skip
_LOSS = (1.3048, 1.167, 1.2351, 1.261, 1.2848, 1.3319, 1.4205, 1.3945,
         1.4649, 1.4966, 1.6047, 1.838, 1.739, 1.767)  # fmt: skip
_CURVES = (
    ("Lab 2's recorded validation accuracy", _ACCURACY, 4, 0.0),
    ("the same, min_delta 0.005", _ACCURACY, 2, 0.005),
    ("minus its recorded validation loss", tuple(-v for v in _LOSS), 3, 0.0),
    # Negative values: a min_delta taken relative to the best (best * (1 +
    # min_delta)) lowers the bar here instead of raising it.
    (
        "a curve of negative values, min_delta 0.02",
        (-0.5, -0.49, -0.495, -0.48, -0.47, -0.47),
        2,
        0.02,
    ),
    ("a curve with ties", (0.52, 0.55, 0.55, 0.55, 0.56, 0.56, 0.56), 2, 0.0),
    ("a curve that never improves", (0.61, 0.6, 0.6, 0.58, 0.59), 3, 0.0),
)


def _variant(improves, stops, base: int = 1):
    """A rule built from an improvement test and a stopping test: the
    reference and its typical slips, for the diagnosis."""

    def rule(values, patience, min_delta):
        best, best_epoch, previous, wait = None, None, None, 0
        for epoch, value in enumerate(values, start=base):
            if best is None or improves(value, best, previous, min_delta):
                best, best_epoch, wait = value, epoch, 0
            else:
                wait += 1
            previous = value
        return best_epoch, stops(wait, patience)

    return rule


_REFERENCE = _variant(lambda v, b, p, d: v > b + d, lambda w, n: w >= n)
_RULE_SLIPS = {
    "a tie counts as an improvement: only a value above best + "
    "min_delta improves (>, not >=)": _variant(
        lambda v, b, p, d: v >= b + d, lambda w, n: w >= n
    ),
    "min_delta is ignored: an improvement must beat the best by more "
    "than min_delta": _variant(lambda v, b, p, d: v > b, lambda w, n: w >= n),
    "it stops one epoch late: stop once `patience` epochs in a row have "
    "not improved": _variant(lambda v, b, p, d: v > b + d, lambda w, n: w > n),
    "it stops one epoch early: stop once `patience` epochs in a row have "
    "not improved": _variant(
        lambda v, b, p, d: v > b + d, lambda w, n: w >= n - 1
    ),
    "the epochs are counted from 0: the first epoch is epoch 1": _variant(
        lambda v, b, p, d: v > b + d, lambda w, n: w >= n, base=0
    ),
    "it compares each epoch with the one before it, not with the best "
    "so far": _variant(
        lambda v, b, p, d: p is None or v > p + d, lambda w, n: w >= n
    ),
}


def _rule_outputs(rule, values, patience, min_delta):
    """(best_epoch, stop) after every epoch of a curve."""
    return [
        rule(list(values[:k]), patience, min_delta)
        for k in range(1, len(values) + 1)
    ]


def check_early_stopping(fn, data_dir) -> list[Case]:
    cases, answers = [], []
    for label, values, patience, min_delta in _CURVES:
        case = Case(
            f"{label} ({len(values)} epochs), patience {patience}, "
            f"called after every epoch"
        )
        cases.append(case)
        expected = _rule_outputs(_REFERENCE, values, patience, min_delta)
        for epoch in range(1, len(values) + 1):
            result, failed = _call(
                fn, list(values[:epoch]), patience, min_delta
            )
            if not failed:
                got, failed = _as_pair(result, ("best_epoch", "stop"))
            if failed:
                case.problems += failed
                break
            best_epoch, stop = got
            answers.append((best_epoch, stop))
            want_best, want_stop = expected[epoch - 1]
            if case.problems or (best_epoch, bool(stop)) == (
                want_best,
                want_stop,
            ):
                continue  # the first difference is the one reported
            what = [
                name
                for name, g, w in (
                    ("best_epoch", best_epoch, want_best),
                    ("stop", bool(stop), want_stop),
                )
                if g != w
            ]
            case.problems.append(
                f"after epoch {epoch} it returned best_epoch="
                f"{best_epoch!r}, stop={stop!r}: {' and '.join(what)} "
                f"{'is' if len(what) == 1 else 'are'} not what the "
                f"rule gives."
            )
    if any(c.problems for c in cases) and len(answers) == sum(
        len(v) for _, v, _, _ in _CURVES
    ):
        for slip, rule in _RULE_SLIPS.items():
            theirs = [
                out
                for _, values, patience, min_delta in _CURVES
                for out in _rule_outputs(rule, values, patience, min_delta)
            ]
            if [(b, bool(s)) for b, s in answers] == theirs:
                next(c for c in cases if c.problems).problems.append(
                    f"It looks as if {slip}."
                )
    return cases
