"""Self-checks of Lab 4: ArcFace."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ...arcface import ArcMarginHead, margin_accuracy
from ...data import TensorLoader
from ...recipes import train_margin_classifier
from ._core import (
    _DATA,
    Case,
    _call,
    _images,
    _normalised,
    as_number,
    compare,
    diagnosis,
    matches,
)


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
            slips = {
                "the class weights are not normalised: divide each row "
                "of the weights by its length too": F.normalize(e) @ w.T,
                "the embeddings are not normalised: divide each row by "
                "its length too": e @ F.normalize(w).T,
                "the vectors are normalised along the wrong dimension: "
                "each row (one embedding, one class) gets length 1, "
                "dim=1": F.normalize(e, dim=0) @ F.normalize(w, dim=0).T,
            }
            if case.problems:
                case.problems += [
                    f"It looks as if {slip}."
                    for slip, value in slips.items()
                    if matches(got, value.clamp(-1, 1), atol=1e-9)
                    or matches(got, value, atol=1e-9)
                ]
            if not compare("", got, expected, atol=math.inf):
                results.append(got.detach())
                if got.abs().max() > 1 + 1e-6:
                    case.problems.append(
                        "some values are outside [-1, 1]: a cosine never is."
                    )
        cases.append(case)
    if len(results) == 2 and not matches(
        results[1], results[0].double(), atol=1e-9
    ):
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


def _arcface_slips(got, cos, labels, s, m) -> list[str]:
    """What a wrong ArcFace logit did: a typical slip where ``got`` is
    that slip's result, else where it differs (target or other columns,
    which side of theta = pi - m), never a guess."""
    expected = _arcface_reference(cos, labels, s, m)
    atol = 2e-4 * s
    target = cos.gather(1, labels[:, None])
    theta = torch.acos(target.clamp(-1, 1))
    sin = torch.sin(theta)
    with_margin = target * math.cos(m) - sin * math.sin(m)
    fallback = target - m * math.sin(m)
    past_pi = theta > math.pi - m

    def logits(value):
        return s * cos.scatter(1, labels[:, None], value)

    slips = {
        "the logits are not multiplied by s: every column is s * cos, "
        "the target's with its margin": expected / s,
        "m is subtracted from the cosine (CosFace); ArcFace adds m to the "
        "angle: cos(theta + m)": logits(target - m),
        "the fallback's condition is reversed: the margin cos(theta + m) "
        "applies where theta <= pi - m, the fallback beyond": logits(
            torch.where(past_pi, with_margin, fallback)
        ),
        "the margin is added to every class: columns other than the "
        "target class stay s * cos(theta)": s
        * torch.cos(torch.acos(cos.clamp(-1, 1)) + m),
    }
    found = [
        f"It looks as if {slip}."
        for slip, value in slips.items()
        if matches(got, value, atol=atol)
    ]
    if found or not isinstance(got, torch.Tensor):
        return found
    got = got.detach().double()
    others = torch.ones_like(cos, dtype=torch.bool).scatter(
        1, labels[:, None], False
    )
    if (got[others] - expected[others]).abs().max() > atol:
        return [
            "columns other than the target class differ: they should be "
            "plain s * cos(theta), with no margin."
        ]
    wrong = (got - expected).abs().amax(1) > atol
    if bool(past_pi[:, 0][wrong].all()):
        return [
            "only rows with theta > pi - m differ: that is where the "
            "fallback applies, cos(theta) - m sin(m)."
        ]
    if bool((~past_pi[:, 0][wrong]).all()):
        return [
            "only target logits with theta <= pi - m differ, where the "
            "margin applies: s * cos(theta + m) = s * (cos(theta) cos(m) "
            "- sin(theta) sin(m))."
        ]
    return []


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
            if case.problems:
                with diagnosis():
                    case.problems += _arcface_slips(got, cos, labels, s, m)
        cases.append(case)
    return cases


# --- prediction with a margin head ---------------------------------------


def _trained_margin_model(data_dir):
    """A small EmbeddingNet (batch norm inside) with an ArcFace head,
    trained for two epochs on 1,200 real MNIST digits (a few seconds),
    and a loader of 500 test digits; cached for the session."""
    key = ("margin model", str(data_dir))
    if key not in _DATA:
        train = _images("mnist", 1200, data_dir)
        test = _images("mnist", 500, data_dir, split="test")
        config = {
            "preset": "two_conv",
            "embedding_dim": 16,
            "width": 0.5,
            "epochs": 2,
            "head": "arcface",
            "s": 16.0,
            "m": 0.5,
            "batch_size": 64,
        }
        trained = train_margin_classifier(config, 0, train, test, device="cpu")
        _DATA[key] = (trained.model, TensorLoader(test, 100))
    return _DATA[key]


def check_margin_head_accuracy(fn, data_dir) -> list[Case]:
    model, loader = _trained_margin_model(data_dir)
    expected = margin_accuracy(model, loader)
    leaked = margin_accuracy(model, loader, labels_to_head=True)
    cases = []
    for mode in ("train", "eval"):
        case = Case(
            f"an ArcFace model (s=16, m=0.5) trained on 1,200 MNIST digits, "
            f"500 test digits in batches of 100, the model in {mode} mode "
            f"before the call"
        )
        cases.append(case)
        model.train(mode == "train")
        buffers = [b.clone() for b in model.buffers()]
        got, case.problems = _call(fn, model, loader)
        if case.problems:
            continue
        if model.training != (mode == "train"):
            case.problems.append(
                f"the model came back in "
                f"{'train' if model.training else 'eval'} mode: put it "
                f"back in the mode it was in (model.train(was_training))."
            )
        if any(
            not torch.equal(a, b) for a, b in zip(buffers, model.buffers())
        ):
            case.problems.append(
                "batch norm's running statistics changed: the model ran in "
                "train mode; call model.eval() before predicting."
            )
            for a, b in zip(model.buffers(), buffers):
                a.copy_(b)  # undo, for the next case and the lab
        number = as_number(got)
        if number is None:
            case.problems.append(
                f"it returned a {type(got).__name__}; it should return "
                f"the accuracy, one float between 0 and 1."
            )
            continue
        # An accuracy is a count over n digits: any float that rounds to
        # the reference's count is right (float32 gives 0.8320000171...).
        n = len(loader.y)
        if number > 1:
            case.problems.append(
                f"it returned {number:g}, above 1: divide the number of "
                f"correct predictions by the number of digits."
            )
        elif abs(number - expected) * n >= 0.5 and not case.problems:
            case.problems.append(
                f"the accuracy differs from the reference's by "
                f"{abs(number - expected) * n:.1f} of the {n} digits "
                f"(prediction by the largest cosine, no margin)."
            )
            if abs(number - leaked) * n < 0.5:
                case.problems.append(
                    "it is the accuracy with the labels passed to the "
                    "head, so the margin pushed the true class down: at "
                    "test time call model(X) alone, the label is what we "
                    "want to find."
                )
    model.eval()
    return cases
