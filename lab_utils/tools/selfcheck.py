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

import math
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..arcface import ArcMarginHead
from ..data import NORMALIZATION, channel_stats, load_dataset
from ..manifold import (
    conditional_probabilities,
    joint_probabilities,
    kl_gradient,
    squared_distances,
)
from ..models import ThreeConvNet, three_conv_config
from ..optim import adam_step, momentum_step
from ..vae import ConvVAE, kl_divergence


class SelfCheckFailed(AssertionError):
    """A student's function does not match the reference yet."""


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
    worst = tuple(torch.nonzero(difference == difference.max())[0].tolist())
    tolerance = f"atol {atol:g}" + (f", rtol {rtol:g}" if rtol else "")
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
        inside = [f for f in frames if f.filename != __file__]
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


# --- Lab 1 -------------------------------------------------------------------


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


# --- Lab 2 -------------------------------------------------------------------


def _conv_activations(data_dir) -> torch.Tensor:
    """Real CIFAR-10 activations after the first conv of a seeded net."""

    torch.manual_seed(0)
    net = ThreeConvNet(three_conv_config("small")).double()
    with torch.no_grad():
        return net.convs[0](_normalised(_images("cifar10", 8, data_dir)))


def check_batch_norm(fn, data_dir) -> list[Case]:
    X = _conv_activations(data_dir)
    g = torch.Generator().manual_seed(0)
    c = X.shape[1]
    cases = []
    for label, gamma, beta in (
        (
            "gamma = 1, beta = 0",
            torch.ones(c, dtype=X.dtype),
            torch.zeros(c, dtype=X.dtype),
        ),
        (
            "random gamma and beta",
            1 + 0.5 * torch.randn(c, generator=g, dtype=X.dtype),
            torch.randn(c, generator=g, dtype=X.dtype),
        ),
    ):
        case = Case(
            f"conv-1 activations of 8 CIFAR-10 images {_shape(X)}, {label}"
        )
        got, case.problems = _call(fn, X.clone(), gamma, beta, 1e-5)
        if not case.problems:
            expected = F.batch_norm(
                X, None, None, gamma, beta, training=True, eps=1e-5
            )
            case.problems = compare("the output", got, expected, atol=1e-8)
            if case.problems and not compare("", got, expected, atol=1e-3):
                case.problems.append(
                    "it is close but not equal: batch norm divides by the "
                    "biased standard deviation (unbiased=False)."
                )
        cases.append(case)
    return cases


def check_dense_features(fn, data_dir) -> list[Case]:

    X = _normalised(_images("cifar10", 16, data_dir))
    cases = []
    for batch_norm in (False, True):
        torch.manual_seed(0)
        model = (
            ThreeConvNet(
                three_conv_config("small", dense=True, batch_norm=batch_norm)
            )
            .double()
            .eval()
        )
        case = Case(
            f"16 CIFAR-10 images, dense small net, batch_norm={batch_norm}"
        )
        with torch.no_grad():
            got, case.problems = _call(fn, model, X.clone())
            if not case.problems:
                case.problems = compare(
                    "the feature maps", got, model.features(X), atol=1e-9
                )
                if (
                    isinstance(got, torch.Tensor)
                    and got.ndim == 4
                    and got.shape[1] != model.features(X).shape[1]
                ):
                    case.problems.append(
                        "the number of channels is off: the classifier "
                        "reads the image and all three conv outputs, "
                        "each pooled to the last size."
                    )
        cases.append(case)
    return cases


# --- Lab 3 -------------------------------------------------------------------


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
    fn, reference, state_names, options, data_dir, t_arg: bool = False
) -> list[str]:
    """Run ``fn`` and ``reference`` step by step from identical inputs;
    report the first step where p or a state tensor differs."""
    p, gradients = _gradient_sequence(data_dir)
    ref_p, ref_state = p, [torch.zeros_like(p) for _ in state_names]
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
        reference(ref_p, g, *ref_state, **extra, **options)
        for label, got, expected in zip(state_names, mine_state, ref_state):
            problems += compare(
                f"{label} after step {step}",
                got,
                expected,
                atol=1e-12,
                rtol=1e-9,
            )
        problems += compare(
            f"p after step {step}", mine_p, ref_p, atol=1e-12, rtol=1e-9
        )
        if problems:
            return problems
    return []


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
        )
        cases.append(case)
    return cases


# --- Lab 4 -------------------------------------------------------------------


def _mnist_cosines(data_dir):
    """Centred real MNIST images as embeddings, class-mean images as the
    class weights: cosines spread over both signs."""
    data = _images("mnist", 500, data_dir)
    X = _normalised(data).flatten(1)
    X = X - X.mean(0)
    weight = torch.stack([X[data.y == c].mean(0) for c in range(10)])
    return X[:64], weight, data.y[:64]


def check_cosine_logits(fn, data_dir) -> list[Case]:
    embeddings, weight, _ = _mnist_cosines(data_dir)
    cases, results = [], []
    for label, scale in (("as they are", 1.0), ("scaled by 7", 7.0)):
        case = Case(f"64 MNIST images (784-D) against 10 class means, {label}")
        e, w = embeddings * scale, weight * scale
        got, case.problems = _call(fn, e.clone(), w.clone())
        if not case.problems:
            expected = F.linear(F.normalize(e), F.normalize(w))
            case.problems = compare(
                "cos", got, expected.clamp(-1, 1), atol=1e-9
            )
            if not compare("", got, expected, atol=math.inf):
                results.append(got.detach().double())
                if got.abs().max() > 1 + 1e-6:
                    case.problems.append(
                        "some values are outside [-1, 1]: a cosine never is."
                    )
        cases.append(case)
    if len(results) == 2 and not torch.allclose(*results, atol=1e-9):
        cases[1].problems.append(
            "scaling the inputs by 7 changed the result, but a cosine "
            "depends on directions only: normalise both the embeddings and "
            "the class weights to length 1."
        )
    return cases


def _arcface_reference(cos, labels, s, m):

    head = ArcMarginHead(1, 1, s=s, m=m)
    target = head.target_logit(cos.gather(1, labels[:, None]))
    return s * cos.scatter(1, labels[:, None], target)


def check_arcface_logits(fn, data_dir) -> list[Case]:
    embeddings, weight, y = _mnist_cosines(data_dir)
    real = F.linear(F.normalize(embeddings), F.normalize(weight))
    angles = torch.linspace(0, math.pi, 181, dtype=torch.float64)
    sweep = torch.stack([torch.cos(angles), torch.cos(angles.flip(0))], 1)
    cases = []
    for label, cos, labels, s, m in (
        (
            "cosines of 64 MNIST images and 10 class means, s=30, m=0.5",
            real,
            y,
            30.0,
            0.5,
        ),
        (
            "target angle 0..180 degrees in 1-degree steps, s=1, m=0.5",
            sweep,
            torch.zeros(181, dtype=torch.long),
            1.0,
            0.5,
        ),
        (
            "the same angles, s=4, m=0.2",
            sweep,
            torch.zeros(181, dtype=torch.long),
            4.0,
            0.2,
        ),
    ):
        case = Case(label)
        got, case.problems = _call(fn, cos.clone(), labels.clone(), s, m)
        if not case.problems:
            expected = _arcface_reference(cos, labels, s, m)
            # A hair of slack at cos = +-1, where the reference keeps sin
            # a little above 0 (its gradient is infinite there).
            case.problems = compare("the logits", got, expected, atol=2e-4 * s)
            if (
                case.problems
                and isinstance(got, torch.Tensor)
                and got.shape == expected.shape
            ):
                others = torch.ones_like(cos, dtype=torch.bool).scatter(
                    1, labels[:, None], False
                )
                if not torch.allclose(got[others], expected[others]):
                    case.problems.append(
                        "columns other than the target class differ: they "
                        "are plain s * cos(theta), with no margin."
                    )
                else:
                    wrong = (got - expected).abs().amax(1) > 2e-4 * s
                    theta = torch.acos(cos.gather(1, labels[:, None]))[:, 0]
                    if bool((theta[wrong] > math.pi - m).all()):
                        case.problems.append(
                            "only rows with theta > pi - m differ: that is "
                            "where the fallback applies."
                        )
        cases.append(case)
    return cases


# --- Lab 5 -------------------------------------------------------------------


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
    return cases


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
            if (
                case.problems
                and isinstance(got, torch.Tensor)
                and got.shape == expected.shape
            ):
                ratio = (got * expected).sum() / expected.pow(2).sum()
                if abs(ratio - 1) > 1e-3 and torch.allclose(
                    got, ratio * expected, rtol=1e-6, atol=1e-12
                ):
                    case.problems.append(
                        f"it is the right direction times {ratio:.3g}: "
                        f"check the constant factor."
                    )
        cases.append(case)
    return cases


# --- Lab 6 -------------------------------------------------------------------


def _encoded_faces(data_dir):
    """mean and log_var of a seeded, untrained ConvVAE's encoder for 8
    real LFW faces."""

    faces = _images("lfw", 8, data_dir)
    torch.manual_seed(0)
    model = ConvVAE(32, faces.X.shape[1]).double().eval()
    with torch.no_grad():
        return model.encode(faces.X.to(torch.float64) / 255)


def check_reparameterize(fn, data_dir) -> list[Case]:
    mean, log_var = _encoded_faces(data_dir)
    case = Case(
        f"encoder outputs for 8 LFW faces, mean and log_var {_shape(mean)}"
    )
    m = mean.clone().requires_grad_(True)
    lv = log_var.clone().requires_grad_(True)
    z, case.problems = _call(fn, m, lv)
    if case.problems:
        return [case]
    case.problems = compare("z", z, mean, atol=math.inf)
    if case.problems:
        return [case]
    if not z.requires_grad:
        case.problems.append(
            "z carries no gradient to mean and log_var: "
            "build it from them with tensor operations."
        )
        return [case]
    z.sum().backward()
    if m.grad is None or lv.grad is None:
        case.problems.append("z does not depend on both mean and log_var.")
        return [case]
    case.problems += compare(
        "dz/d(mean)", m.grad, torch.ones_like(mean), atol=1e-9
    )
    problems = compare(
        "dz/d(log_var)", lv.grad, 0.5 * (z.detach() - mean), atol=1e-9
    )
    if problems:
        problems.append(
            "z = mean + sigma * eps with sigma taken from "
            "log_var (the log of the variance, not of sigma)."
        )
    case.problems += problems

    draws = Case(
        "20,000 draws for one face: eps = (z - mean) / sigma "
        "should be standard normal"
    )
    big_mean = mean[:1].expand(20_000, -1).contiguous()
    big_log_var = log_var[:1].expand(20_000, -1).contiguous()
    z, draws.problems = _call(fn, big_mean, big_log_var)
    if not draws.problems:
        eps = (z.detach() - big_mean) / torch.exp(0.5 * big_log_var)
        # 20k draws: the standard error of a mean is 0.007, of a std 0.005.
        if (
            eps.mean(0).abs().max() > 0.05
            or (eps.std(0) - 1).abs().max() > 0.05
        ):
            draws.problems.append(
                f"eps has mean up to {eps.mean(0).abs().max():.2f} and "
                f"std between {eps.std(0).min():.2f} and "
                f"{eps.std(0).max():.2f}; it should be N(0, 1) "
                f"(torch.randn, not torch.rand)."
            )
        second, _ = _call(fn, big_mean[:2], big_log_var[:2])
        if second is not None and torch.equal(second, z[:2]):
            draws.problems.append(
                "two calls gave the same z: draw fresh noise on every call."
            )
    return [case, draws]


def check_kl_divergence(fn, data_dir) -> list[Case]:

    mean, log_var = _encoded_faces(data_dir)
    g = torch.Generator().manual_seed(0)
    cases = []
    for label, m, lv in (
        ("encoder outputs for 8 LFW faces", mean, log_var),
        (
            "the same, spread wider (mean x 3, log_var + N(0, 1))",
            3 * mean,
            log_var
            + torch.randn(log_var.shape, generator=g, dtype=log_var.dtype),
        ),
    ):
        case = Case(f"{label}, {_shape(mean)}")
        got, case.problems = _call(fn, m.clone(), lv.clone())
        if not case.problems:
            expected = kl_divergence(m, lv)
            case.problems = compare(
                "KL per face", got, expected, atol=1e-9, rtol=1e-9
            )
            if isinstance(got, torch.Tensor) and got.ndim == 0:
                case.problems.append(
                    "it returned one number: return one "
                    "KL per face, summed over the latent "
                    "dimensions only."
                )
        cases.append(case)
    return cases


CHECKS: dict[str, Callable] = {
    "channel_stats": check_channel_stats,
    "stratified_split": check_stratified_split,
    "batch_norm": check_batch_norm,
    "dense_features": check_dense_features,
    "momentum_step": check_momentum_step,
    "adam_step": check_adam_step,
    "cosine_logits": check_cosine_logits,
    "arcface_logits": check_arcface_logits,
    "conditional_probabilities": check_conditional_probabilities,
    "kl_gradient": check_kl_gradient,
    "reparameterize": check_reparameterize,
    "kl_divergence": check_kl_divergence,
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
    return CHECKS[name](fn, data_dir)


def report(name: str, cases: list[Case]) -> str:
    """The text a self-check prints."""
    failed = [c for c in cases if c.problems]
    if not failed:
        return (
            f"PASS {name}: matches the reference in all {len(cases)} "
            f"cases:\n" + "\n".join(f"  - {c.name}" for c in cases)
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
    SelfCheckFailed so that "run all" stops here."""
    cases = run_check(name, fn, data_dir)
    print(report(name, cases))
    if any(c.problems for c in cases):
        raise SelfCheckFailed(
            f"{name} does not match the reference yet: "
            f"see the report above, fix the function "
            f"and run its cell and this one again."
        )
