"""Self-checks of Lab 5: t-SNE."""

from __future__ import annotations

import math

import torch

from ...manifold import (
    conditional_probabilities,
    joint_probabilities,
    kl_gradient,
    squared_distances,
)
from ._core import Case, _call, _images, compare, diagnosis, matches


def _fashion_distances(data_dir, n: int = 300) -> torch.Tensor:

    data = _images("fashion_mnist", n, data_dir)
    return squared_distances(data.X.flatten(1).to(torch.float64) / 255)


def check_conditional_probabilities(fn, data_dir) -> list[Case]:

    D = _fashion_distances(data_dir)
    cases = []
    for perplexity in (5.0, 30.0):
        case = Case(
            f"squared distances of 300 Fashion-MNIST images, "
            f"perplexity {perplexity:g}"
        )
        cases.append(case)
        got, case.problems = _call(fn, D.clone(), perplexity)
        if case.problems:
            continue
        expected = conditional_probabilities(D, perplexity)[0]
        shape = compare("P", got, expected, atol=math.inf)
        if shape:
            case.problems = shape
            continue
        P = got.detach().double()
        rows = P.sum(1)
        if (rows - 1).abs().max() > 1e-6:
            i = int((rows - 1).abs().argmax())
            case.problems.append(
                f"row {i} sums to {rows[i]:.6f}; every "
                f"row of P should sum to 1."
            )
        if P.diagonal().abs().max() > 0:
            case.problems.append(
                "the diagonal is not 0: a point is not "
                "its own neighbour (p_{i|i} = 0)."
            )
        entropy = -(P * P.clamp_min(1e-300).log()).sum(1)
        achieved = entropy.exp()
        off = (achieved / perplexity - 1).abs()
        if off.max() > 1e-3:
            i = int(off.argmax())
            case.problems.append(
                f"{int((off > 1e-3).sum())} of {len(P)} rows miss the "
                f"target perplexity by more than 0.1%; row {i} has "
                f"perplexity {achieved[i]:.3f}, it should be "
                f"{perplexity:g}."
            )
        if not case.problems:
            case.problems = compare("P", P, expected, atol=1e-4)
            for slip, other in (
                ("the distances are squared a second time: D already "
                 "holds squared distances", D.square()),
                ("the square root of D is taken: D already holds the "
                 "squared distances that the Gaussian needs", D.sqrt()),
            ):  # fmt: skip
                if case.problems and not compare(
                    "", P, conditional_probabilities(other, perplexity)[0],
                    atol=1e-4,
                ):  # fmt: skip
                    case.problems.append(f"It looks as if {slip}.")
    return cases


def _gradient_with_self_pairs(P, Y):
    """The t-SNE gradient with w_ii = 1 left in Q's normaliser (a slip)."""
    differences = Y[:, None, :] - Y[None, :, :]
    w = 1.0 / (1.0 + differences.square().sum(dim=2))
    Q = w / w.sum()
    w.fill_diagonal_(0.0)
    Q.fill_diagonal_(0.0)
    return 4.0 * (((P - Q) * w)[:, :, None] * differences).sum(dim=1)


def _gradient_slips(got, P, Y, expected) -> list[str]:
    """What a wrong t-SNE gradient did, where the numbers single it out."""
    if matches(got, -expected, atol=1e-12, rtol=1e-6):
        # P, Q and w are symmetric: summing over i instead of j gives
        # exactly minus the gradient, so the two slips look the same.
        return [
            "it is exactly minus the gradient: either the sign is flipped "
            "(the pairs' differences are y_i - y_j), or the sum runs over "
            "the wrong index (for point i, sum over j: dim=1); P and w "
            "are symmetric, so both give these numbers."
        ]
    if matches(got, _gradient_with_self_pairs(P, Y), atol=1e-12, rtol=1e-7):
        return [
            "It looks as if each point's pair with itself (w_ii = 1) is "
            "in the normaliser: set the diagonal of w to 0 before summing "
            "it."
        ]
    g = got.detach().double()
    ratio = float((g * expected).sum() / expected.pow(2).sum())
    if abs(ratio - 1) > 1e-3 and matches(
        got, ratio * expected, atol=1e-12, rtol=1e-6
    ):
        return [
            f"it is the right direction times {ratio:.3g}: check the "
            f"constant factor."
        ]
    return []


def check_kl_gradient(fn, data_dir) -> list[Case]:

    data = _images("fashion_mnist", 200, data_dir)
    P = joint_probabilities(data.X.flatten(1).to(torch.float64) / 255, 30.0)
    g = torch.Generator().manual_seed(0)
    cases = []
    for label, Y in (
        (
            "a random start (std 1e-4)",
            1e-4 * torch.randn(len(P), 2, generator=g, dtype=torch.float64),
        ),
        (
            "a spread-out layout (std 5)",
            5 * torch.randn(len(P), 2, generator=g, dtype=torch.float64),
        ),
    ):
        case = Case(
            f"P of 200 Fashion-MNIST images (perplexity 30), Y {label}"
        )
        got, case.problems = _call(fn, P.clone(), Y.clone())
        if not case.problems:
            expected = kl_gradient(P, Y)
            case.problems = compare(
                "the gradient", got, expected, atol=1e-12, rtol=1e-7
            )
            if case.problems:
                with diagnosis():
                    case.problems += _gradient_slips(got, P, Y, expected)
        cases.append(case)
    return cases
