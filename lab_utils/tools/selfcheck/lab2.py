"""Self-checks of Lab 2: the three-conv network."""

from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...data import TensorLoader
from ...engine import max_weight_difference
from ...models import ThreeConvNet, count_parameters, three_conv_config
from ._core import Case, _call, _images, _normalised, _shape, compare


def _conv_activations(data_dir) -> torch.Tensor:
    """Real CIFAR-10 activations after the first conv of a seeded net."""

    torch.manual_seed(0)
    net = ThreeConvNet(three_conv_config("small")).double()
    with torch.no_grad():
        return net.convs[0](_normalised(_images("cifar10", 8, data_dir)))


def _batch_norm_slips(got, X, gamma, beta) -> list[str]:
    """What a wrong batch norm did, recognised among the typical slips."""
    g, b = gamma[:, None, None], beta[:, None, None]
    mean = X.mean(dim=(0, 2, 3), keepdim=True)
    var = X.var(dim=(0, 2, 3), correction=0, keepdim=True)
    per_image = (X - X.mean(dim=(2, 3), keepdim=True)) / torch.sqrt(
        X.var(dim=(2, 3), correction=0, keepdim=True) + 1e-5
    )
    slips = {
        "it divides by the unbiased standard deviation (N - 1); batch "
        "norm uses the biased one (correction=0)": g
        * (X - mean)
        / torch.sqrt(X.var(dim=(0, 2, 3), keepdim=True) + 1e-5)
        + b,
        "its statistics are per image; batch norm takes them over the "
        "whole batch, dims (0, 2, 3)": g * per_image + b,
        "eps is added outside the square root: sqrt(var + eps)": g
        * (X - mean)
        / (torch.sqrt(var) + 1e-5)
        + b,
        "gamma and beta are not applied after normalising": (X - mean)
        / torch.sqrt(var + 1e-5),
    }
    if got.shape != X.shape:
        return []
    expected = F.batch_norm(X, None, None, gamma, beta, True, eps=1e-5)
    found = [
        f"It looks as if {slip}."
        for slip, value in slips.items()
        if torch.allclose(got.double(), value, atol=1e-8)
        and not torch.allclose(value, expected)
    ]
    if not found and torch.allclose(got.double(), expected, atol=1e-3):
        found.append(
            "it is close but not equal: check eps (inside the square "
            "root) and the biased standard deviation (unbiased=False)."
        )
    return found


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
            if case.problems and isinstance(got, torch.Tensor):
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
            raised = " ".join(case.problems)
            if "Sizes of tensors must match" in raised:
                case.problems.append(
                    "the maps to concatenate differ in size: after each "
                    "conv, pool every earlier map to the new, halved size."
                )
            elif "channels" in raised:
                case.problems.append(
                    "a conv got the wrong number of input channels: each "
                    "conv reads all the maps so far, concatenated."
                )
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
                    if torch.allclose(got, swapped, atol=1e-9):
                        case.problems.append(
                            "It looks as if batch norm comes after the "
                            "ReLU: the order is conv, norm, ReLU, pool."
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
            if case.problems and got.shape == expected.shape:
                params = list(reference.parameters())
                case.problems += [
                    f"it looks like {slip}."
                    for slip, switches in _SLIPS.items()
                    if torch.allclose(
                        got, _spec_forward(params, X, **switches), atol=1e-9
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
}


def check_train_one_epoch(fn, data_dir) -> list[Case]:
    return [
        _check_epoch(fn, data_dir, label, optimizer, batch_size)
        for label, optimizer, batch_size in _EPOCH_SETUPS
    ]


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
    reference, ref_opt, ref_loader = _epoch_setup(*setup)
    torch.manual_seed(1)
    batches = _slipped_epoch(reference, ref_loader, ref_opt)
    # The parameters only: batch norm's running statistics move anyway.
    if all(torch.equal(p, start[k]) for k, p in model.named_parameters()):
        case.problems.append(
            "the weights did not change: for every batch call "
            "loss.backward() and then optimizer.step() (zero_grad comes "
            "before backward, not between backward and step)."
        )
        return case
    difference = max_weight_difference(model, reference)
    if difference > 1e-5:
        case.problems.append(
            f"the weights after the epoch differ from the reference's "
            f"by up to {difference:.3g} (tolerance 1e-5)."
        )
        for slip, message in _EPOCH_SLIPS.items():
            other, other_opt, other_loader = _epoch_setup(*setup)
            torch.manual_seed(1)
            _slipped_epoch(other, other_loader, other_opt, slip)
            if max_weight_difference(model, other) <= 1e-5:
                case.problems.append(f"It looks as if {message}")
        if len(case.problems) == 1:
            case.problems.append(
                "one pass should do, per batch and in this order: "
                "forward, loss, zero_grad, backward, step (and call the "
                "model once per batch: dropout draws new masks per call)."
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
        got = float(got)
    if not isinstance(got, (float, int)) or isinstance(got, bool):
        return [
            f"it returned a {type(got).__name__}; it should return the "
            f"mean training loss per image, one Python float."
        ]
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
