"""Self-checks of Lab 2: the three-conv network."""

from __future__ import annotations

import copy
import re

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...data import TensorLoader
from ...engine import max_weight_difference
from ...models import ThreeConvNet, count_parameters, three_conv_config
from ._core import (
    _DATA,
    Case,
    _call,
    _images,
    _normalised,
    _shape,
    as_number,
    compare,
    diagnosis,
    matches,
)


def _conv_activations(data_dir) -> torch.Tensor:
    """Real CIFAR-10 activations after the first conv of a seeded net."""

    torch.manual_seed(0)
    net = ThreeConvNet(three_conv_config("small")).double()
    with torch.no_grad():
        return net.convs[0](_normalised(_images("cifar10", 8, data_dir)))


_BN_SLIPS = {
    "unbiased": "it divides by the unbiased standard deviation (N - 1); "
    "batch norm uses the biased one (correction=0)",
    "eps outside": "eps is added outside the square root: sqrt(var + eps)",
    "no eps": "eps is left out: sqrt(var + eps)",
    "no affine": "gamma and beta are not applied after normalising",
    "per image": "its statistics are per image; batch norm takes them "
    "over the whole batch, dims (0, 2, 3)",
}


def _batch_norm_variant(X, gamma, beta, slips=()) -> torch.Tensor:
    """Batch norm in training mode, or with a combination of slips."""
    dims = (2, 3) if "per image" in slips else (0, 2, 3)
    mean = X.mean(dim=dims, keepdim=True)
    var = X.var(dim=dims, correction=int("unbiased" in slips), keepdim=True)
    if "eps outside" in slips:
        X_hat = (X - mean) / (var.sqrt() + 1e-5)
    elif "no eps" in slips:
        X_hat = (X - mean) / var.sqrt()
    else:
        X_hat = (X - mean) / (var + 1e-5).sqrt()
    if "no affine" in slips:
        return X_hat
    return gamma[:, None, None] * X_hat + beta[:, None, None]


def _batch_norm_slips(got, X, gamma, beta) -> list[str]:
    """What a wrong batch norm did: the typical slips, alone or two at
    once, whose result ``got`` is."""
    expected = F.batch_norm(X, None, None, gamma, beta, True, eps=1e-5)
    single = [(name,) for name in _BN_SLIPS]
    pairs = [
        (a, b)
        for i, a in enumerate(_BN_SLIPS)
        for b in list(_BN_SLIPS)[i + 1 :]
        if {a, b} != {"eps outside", "no eps"}
    ]
    for slips in single + pairs:
        value = _batch_norm_variant(X, gamma, beta, slips)
        if matches(got, value, atol=1e-8) and not matches(
            value, expected, atol=1e-8
        ):
            return [f"It looks as if {_BN_SLIPS[name]}." for name in slips]
    return []


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
            if case.problems:
                with diagnosis():
                    case.problems += _batch_norm_slips(got, X, gamma, beta)
        cases.append(case)
    return cases


def _dense_norm_after_relu(model, X):
    """The dense features with ReLU before batch norm (a typical slip)."""
    maps = [X]
    for conv, norm in zip(model.convs, model.norms):
        new = model.pool(norm(torch.relu(conv(torch.cat(maps, 1)))))
        maps = [model.pool(m) for m in maps] + [new]
    return torch.cat(maps, 1)


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
        # Batch norm with statistics and affine parameters as a trained
        # net has them (an untrained one's are nearly the identity, under
        # which conv-norm-ReLU and conv-ReLU-norm agree).
        g = torch.Generator().manual_seed(1)
        for norm in model.norms if batch_norm else ():
            for tensor, low, high in (
                (norm.running_mean, -0.5, 0.5),
                (norm.running_var, 0.5, 2.0),
                (norm.weight.data, 0.5, 1.5),
                (norm.bias.data, -0.5, 0.5),
            ):
                tensor.copy_(
                    low
                    + (high - low)
                    * torch.rand(tensor.shape, generator=g, dtype=tensor.dtype)
                )
        case = Case(
            f"16 CIFAR-10 images, dense small net, batch_norm={batch_norm}"
        )
        with torch.no_grad():
            got, case.problems = _call(fn, model, X.clone())
            case.problems += _dense_error_hint(" ".join(case.problems))
            if not case.problems:
                case.problems = compare(
                    "the feature maps", got, model.features(X), atol=1e-9
                )
                if (
                    case.problems
                    and batch_norm
                    and got.shape == X.shape[:1] + model.features(X).shape[1:]
                ):
                    swapped = _dense_norm_after_relu(model, X)
                    if matches(got, swapped, atol=1e-9):
                        case.problems.append(
                            "It looks as if batch norm comes after the "
                            "ReLU: the order is conv, norm, ReLU, pool."
                        )
                if (
                    isinstance(got, torch.Tensor)
                    and got.ndim == 4
                    and got.shape[0] == len(X)
                    and got.shape[1] != model.features(X).shape[1]
                ):
                    case.problems.append(
                        "the number of channels is off: the classifier "
                        "reads the image and all three conv outputs, "
                        "each pooled to the last size."
                    )
        cases.append(case)
    return cases


def _dense_error_hint(raised: str) -> list[str]:
    """A hint for an error the dense forward raised, where its text
    says which slip it was; none otherwise."""
    cat = re.search(
        r"Sizes of tensors must match except in dimension (\d+)", raised
    )
    if cat and cat.group(1) != "1":
        return [
            f"the maps are concatenated along dimension {cat.group(1)}: "
            f"concatenate them along the channels, dim=1."
        ]
    if cat:
        return [
            "the maps to concatenate differ in height or width: after "
            "each conv, pool every earlier map to the new, halved size."
        ]
    if re.search(r"expected input\[.*\] to have \d+ channels", raised):
        return [
            "a conv got the wrong number of input channels: each conv "
            "reads all the maps so far, concatenated."
        ]
    return []


# --- the three-conv network, to the written spec -------------------------

# Two specs: the small preset's, and one whose layer sizes are all
# different, so a size typed in by hand instead of read from the
# arguments shows.
_SPECS = (((16, 32, 64), (500,)), ((8, 16, 24), (48, 40)))
_ORDER = (
    "create the layers in the spec's order (conv1, conv2, conv3, the "
    "hidden Linear layers, the output layer)"
)


def _spec_forward(params, X, conv_relu=True, hidden_relu=True, last=None):
    """The spec's network as functions of the reference's parameters,
    with the typical slips as switches (for the diagnosis)."""
    weights = list(params)
    for k in range(3):
        X = F.conv2d(X, weights[2 * k], weights[2 * k + 1], padding=1)
        X = F.max_pool2d(torch.relu(X) if conv_relu else X, 2)
    X = X.flatten(1)
    linear = weights[6:]
    for k in range(0, len(linear) - 2, 2):
        X = F.linear(X, linear[k], linear[k + 1])
        X = torch.relu(X) if hidden_relu else X
    X = F.linear(X, linear[-2], linear[-1])
    return last(X) if last else X


_SLIPS = {
    "no ReLU after the convolutions": {"conv_relu": False},
    "no ReLU after the hidden Linear layers": {"hidden_relu": False},
    "the logits go through a softmax: return the raw scores, "
    "cross_entropy applies the softmax itself": {
        "last": lambda z: torch.softmax(z, 1)
    },
    "the logits go through a ReLU: the output layer has no "
    "activation (a logit may be negative)": {"last": torch.relu},
}


def _structure(model, reference) -> list[str]:
    """Parameter count and shapes, in creation order, against the
    reference's; empty when they agree."""
    mine = [(n, tuple(p.shape)) for n, p in model.named_parameters()]
    theirs = [tuple(p.shape) for p in reference.parameters()]
    count, want = count_parameters(model), count_parameters(reference)
    problems = []
    if count != want:
        problems.append(
            f"it has {count:,} trainable parameters in {len(mine)} "
            f"tensors; the spec's network has {want:,} in {len(theirs)} "
            f"(a weight and a bias per layer)."
        )
    if (
        sorted(s for _, s in mine) == sorted(theirs)
        and [s for _, s in mine] != theirs
    ):
        return [f"its layers have the right sizes, but {_ORDER}."]
    for k, ((name, shape), spec) in enumerate(zip(mine, theirs), start=1):
        if shape != spec:
            problems.append(
                f"parameter {k} ({name}) has shape {shape}; the spec's "
                f"parameter {k} has shape {spec}."
            )
            if len(shape) == 2 and len(spec) == 2 and shape[0] == spec[0]:
                problems.append(
                    "a Linear layer reads the wrong number of inputs: "
                    "the first reads the flattened maps, channels x 4 x 4 "
                    "after three 2x2 poolings of a 32x32 image."
                )
            break
    return problems


def check_ThreeConvClassifier(fn, data_dir) -> list[Case]:  # noqa: N802
    X = _normalised(_images("cifar10", 16, data_dir))
    cases = []
    for widths, fc in _SPECS:
        case = Case(
            f"widths={widths}, fc={fc}: 16 CIFAR-10 images {_shape(X)}, "
            f"the reference's weights loaded into yours"
        )
        cases.append(case)
        torch.manual_seed(0)
        model, case.problems = _call(fn, widths=widths, fc=fc, n_classes=10)
        if case.problems:
            continue
        if not isinstance(model, nn.Module):
            case.problems = [
                f"calling it gave a {type(model).__name__}; it should "
                f"build an nn.Module (subclass nn.Module and call "
                f"super().__init__() first)."
            ]
            continue
        lazy = [
            name
            for name, p in model.named_parameters()
            if isinstance(p, nn.parameter.UninitializedParameter)
        ]
        if lazy:
            case.problems = [
                f"{len(lazy)} of its {len(list(model.parameters()))} "
                f"parameter tensors ({', '.join(lazy)}) have no shape "
                f"until the first call (a lazy layer such as "
                f"nn.LazyLinear): the spec gives every size, so create "
                f"each layer with its sizes (the lab counts the "
                f"parameters and builds the optimizer before any call)."
            ]
            continue
        torch.manual_seed(0)
        reference = ThreeConvNet(
            three_conv_config("small", widths=widths, fc=fc)
        )
        case.problems = _structure(model, reference)
        if case.problems:
            continue
        model = model.double().eval()
        reference = reference.double().eval()
        with torch.no_grad():
            for mine, theirs in zip(
                model.parameters(), reference.parameters()
            ):
                mine.copy_(theirs)
            got, case.problems = _call(model, X.clone())
            if case.problems:
                continue
            expected = reference(X)
            case.problems = compare("the logits", got, expected, atol=1e-9)
            if case.problems:
                params = list(reference.parameters())
                with diagnosis():
                    case.problems += [
                        f"it looks like {slip}."
                        for slip, switches in _SLIPS.items()
                        if matches(
                            got, _spec_forward(params, X, **switches), 1e-9
                        )
                    ]
    if not cases[0].problems and cases[1].problems:
        cases[1].problems.append(
            "the small preset's spec passes but this one does not: read "
            "every size from the arguments widths, fc and n_classes."
        )
    return cases


# --- one epoch of the training loop --------------------------------------


# The two set-ups the epoch is checked on: (label, optimizer, batch size).
# Adam with a short last batch (a plain mean of batch means is off), and
# SGD with momentum, whose velocity also carries gradients that were not
# cleared.
_EPOCH_SETUPS = (
    ("Adam, batches of 64, 64, 64, 8", "adam", 64),
    ("SGD with momentum 0.9, batches of 50", "momentum", 50),
)


def _epoch_setup(data_dir, optimizer: str = "adam", batch_size: int = 64):
    """A small net with batch norm and dropout (so train mode matters),
    in eval mode as a finished evaluation leaves it, its optimizer, and a
    seeded loader of 200 real CIFAR-10 images."""
    train = _images("cifar10", 200, data_dir)
    torch.manual_seed(0)
    model = ThreeConvNet(
        three_conv_config("small", batch_norm=True, dropout=0.3)
    ).eval()
    if optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loader = TensorLoader(train, batch_size, shuffle=True, seed=0)
    return model, opt, loader


def _slipped_epoch(model, loader, optimizer, slip=None) -> list[float]:
    """The reference epoch, or one with a typical slip; the loss of every
    batch, in order."""
    if slip != "no train mode":
        model.train()
    losses = []
    for X, y in loader:
        if slip == "sum":
            loss = F.cross_entropy(model(X), y, reduction="sum")
        elif slip == "nll on logits":
            loss = F.nll_loss(model(X), y)
        else:
            loss = F.cross_entropy(model(X), y)
        if slip != "no zero_grad":
            optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append((float(loss.detach()), len(y)))
    return losses


_EPOCH_SLIPS = {
    "no zero_grad": "the gradients were never cleared, so every step "
    "used the sum of all the batches' gradients so far: call "
    "optimizer.zero_grad() for every batch, before backward().",
    "no train mode": "the model was left in eval mode, so batch norm "
    "used its running statistics and dropout was off: call "
    "model.train() before the first batch.",
    "sum": "the loss is summed over the batch (reduction='sum'), so each "
    "step is as many times too large as the batch has images: use "
    "F.cross_entropy's default, the mean over the batch.",
    "nll on logits": "the loss is F.nll_loss on the raw logits, which "
    "expects log-probabilities: use F.cross_entropy (log_softmax and "
    "nll_loss in one).",
}


def check_train_one_epoch(fn, data_dir) -> list[Case]:
    return [
        _check_epoch(fn, data_dir, label, optimizer, batch_size)
        for label, optimizer, batch_size in _EPOCH_SETUPS
    ]


def _reference_epoch(setup, slip=None):
    """The model after the reference's epoch (or one with ``slip``) and
    its batch losses, for a set-up; computed once per session."""
    key = ("epoch", str(setup[0]), *setup[1:], slip)
    if key not in _DATA:
        model, optimizer, loader = _epoch_setup(*setup)
        torch.manual_seed(1)  # dropout's masks, as the student's had
        batches = _slipped_epoch(model, loader, optimizer, slip)
        _DATA[key] = (model, batches)
    return _DATA[key]


def _check_epoch(fn, data_dir, label, optimizer, batch_size) -> Case:
    case = Case(
        f"one epoch of 200 CIFAR-10 images for a small net with batch "
        f"norm and dropout, {label}; same seed, weights and batches as "
        f"the reference"
    )
    setup = (data_dir, optimizer, batch_size)
    model, opt, loader = _epoch_setup(*setup)
    start = copy.deepcopy(model.state_dict())
    torch.manual_seed(1)  # dropout's masks: the same draws for both
    got, case.problems = _call(fn, model, loader, opt)
    if case.problems:
        return case
    reference, batches = _reference_epoch(setup)
    # The parameters only: batch norm's running statistics move anyway.
    if all(torch.equal(p, start[k]) for k, p in model.named_parameters()):
        case.problems.append(
            "the weights did not change: for every batch call "
            "optimizer.zero_grad(), then loss.backward(), then "
            "optimizer.step()."
        )
        return case
    difference = max_weight_difference(model, reference)
    if difference > 1e-5:
        case.problems.append(
            f"the weights after the epoch differ from the reference's "
            f"by up to {difference:.3g} (tolerance 1e-5)."
        )
        for slip, message in _EPOCH_SLIPS.items():
            other, _ = _reference_epoch(setup, slip)
            if max_weight_difference(model, other) <= 1e-5:
                case.problems.append(f"It looks as if {message}")
        if len(case.problems) == 1:
            case.problems.append(
                "compare your loop with the reference's, which does, per "
                "batch: one forward call (dropout draws new masks per "
                "call), F.cross_entropy(logits, y), zero_grad, backward, "
                "step."
            )
    mean = sum(loss * n for loss, n in batches) / sum(n for _, n in batches)
    case.problems += _check_mean_loss(got, mean, batches)
    return case


def _check_mean_loss(got, mean, batches) -> list[str]:
    """The returned value against the mean loss per image."""
    if isinstance(got, torch.Tensor) and got.numel() == 1:
        if got.requires_grad:
            return [
                "it returned a tensor that still holds the graph of the "
                "last batch: return a Python number (float(...))."
            ]
    number = as_number(got)
    if number is None:
        return [
            f"it returned a {type(got).__name__}; it should return the "
            f"mean training loss per image, one Python float."
        ]
    got = number
    if abs(got - mean) <= 1e-5 * max(1.0, abs(mean)):
        return []
    problems = [
        f"the loss it returned differs from the mean loss per image of "
        f"the epoch by {abs(got - mean):.3g}."
    ]
    losses = [loss for loss, _ in batches]
    if abs(got - losses[-1]) < 1e-6:
        problems.append("it is the last batch's loss, not the epoch's.")
    elif abs(got - sum(losses) / len(losses)) < 1e-6:
        problems.append(
            "it is the plain mean of the batch losses: weight each batch "
            "by its number of images (the last batch is smaller)."
        )
    elif abs(got - sum(loss * n for loss, n in batches)) < 1e-3:
        problems.append("it is a sum over images: divide by their number.")
    return problems
