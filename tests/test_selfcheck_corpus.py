"""A corpus of answers for every exercise, as students write them: right
answers in other styles (float32, built-ins, NumPy where the statement
allows it, rearrangements) must PASS; wrong ones, beyond the typical
mistakes of test_selfcheck.py, must FAIL with their numbers, never crash,
and name a slip only when it is that slip."""

import math
from collections import Counter

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from test_selfcheck import MISTAKES, SOLUTIONS, slip_words

from lab_utils.tools import SelfCheckFailed, self_check, selfcheck

# --- Lab 1 -----------------------------------------------------------------


def cs_float32(X):
    X = X.float() / 255
    return X.mean(dim=(0, 2, 3)), X.std(dim=(0, 2, 3), correction=0)


def cs_numpy(X):
    pixels = X.numpy() / 255.0
    return pixels.mean(axis=(0, 2, 3)), pixels.std(axis=(0, 2, 3))


def cs_std_mean(X):
    std, mean = torch.std_mean(X.double() / 255, dim=(0, 2, 3), correction=0)
    return mean, std


def cs_per_channel_rows(X):
    rows = X.transpose(0, 1).reshape(X.shape[1], -1).double() / 255
    mean = rows.mean(1)
    return mean, (rows - mean[:, None]).square().mean(1).sqrt()


def cs_keepdim(X):
    X = X.double() / 255
    return (
        X.mean(dim=(0, 2, 3), keepdim=True),
        X.std(dim=(0, 2, 3), correction=0, keepdim=True),
    )


def cs_swapped(X):
    mean, std = cs_float32(X)
    return std, mean


def cs_over_256(X):
    X = X.double() / 256
    return X.mean(dim=(0, 2, 3)), X.std(dim=(0, 2, 3), correction=0)


def cs_numpy_per_image(X):
    pixels = X.numpy() / 255.0
    return pixels.mean(axis=(2, 3)), pixels.std(axis=(2, 3))


def cs_mean_of_image_stds(X):
    X = X.double() / 255
    return X.mean(dim=(0, 2, 3)), X.std(dim=(2, 3), correction=0).mean(0)


def ss_numpy(y, val_fraction, seed):
    rng = np.random.default_rng(seed)
    labels = y.numpy()
    train, val = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_val = round(len(idx) * val_fraction)
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    return np.concatenate(train), np.concatenate(val)


def ss_one_permutation(y, val_fraction, seed):
    order = torch.randperm(
        len(y), generator=torch.Generator().manual_seed(seed)
    )
    shuffled = y[order]
    val = []
    for c in y.unique():
        in_class = order[shuffled == c]
        val.append(in_class[: round(len(in_class) * val_fraction)])
    val = torch.cat(val)
    is_val = torch.zeros(len(y), dtype=torch.bool)
    is_val[val] = True
    return torch.nonzero(~is_val).flatten(), val


def ss_int32_sorted(y, val_fraction, seed):
    train, val = SOLUTIONS["stratified_split"](y, val_fraction, seed)
    return train.sort().values.int(), val.sort().values.int()


def ss_masks(y, val_fraction, seed):
    _, val = SOLUTIONS["stratified_split"](y, val_fraction, seed)
    is_val = torch.zeros(len(y), dtype=torch.bool)
    is_val[val] = True
    return ~is_val, is_val


def ss_unseeded(y, val_fraction, seed):
    train, val = [], []
    for c in y.unique():
        idx = torch.nonzero(y == c).flatten()
        idx = idx[torch.randperm(len(idx))]
        n_val = round(len(idx) * val_fraction)
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    return torch.cat(train), torch.cat(val)


def ss_swapped(y, val_fraction, seed):
    train, val = SOLUTIONS["stratified_split"](y, val_fraction, seed)
    return val, train


def ss_overlap(y, val_fraction, seed):
    _, val = SOLUTIONS["stratified_split"](y, val_fraction, seed)
    return torch.arange(len(y)), val


# --- Lab 2 -----------------------------------------------------------------


def bn_float32(X, gamma, beta, eps=1e-5):
    X, gamma, beta = X.float(), gamma.float(), beta.float()
    mean = X.mean(dim=(0, 2, 3), keepdim=True)
    var = X.var(dim=(0, 2, 3), correction=0, keepdim=True)
    return gamma.view(1, -1, 1, 1) * (X - mean) / torch.sqrt(
        var + eps
    ) + beta.view(1, -1, 1, 1)


def bn_functional(X, gamma, beta, eps=1e-5):
    return F.batch_norm(X, None, None, gamma, beta, training=True, eps=eps)


def bn_var_mean_rsqrt(X, gamma, beta, eps=1e-5):
    var, mean = torch.var_mean(X, dim=(0, 2, 3), correction=0, keepdim=True)
    X_hat = (X - mean) * torch.rsqrt(var + eps)
    return X_hat * gamma[:, None, None] + beta[:, None, None]


def bn_per_pixel(X, gamma, beta, eps=1e-5):
    mean = X.mean(dim=0, keepdim=True)
    var = X.var(dim=0, correction=0, keepdim=True)
    X_hat = (X - mean) / torch.sqrt(var + eps)
    return gamma[:, None, None] * X_hat + beta[:, None, None]


def bn_eps_typed_in(X, gamma, beta, eps=1e-5):
    return bn_functional(X, gamma, beta, eps=1e-3)


def bn_gamma_beta_swapped(X, gamma, beta, eps=1e-5):
    return bn_functional(X, beta, gamma, eps)


def bn_float32_unbiased(X, gamma, beta, eps=1e-5):
    X = X.float()
    mean = X.mean(dim=(0, 2, 3), keepdim=True)
    var = X.var(dim=(0, 2, 3), keepdim=True)  # N - 1
    X_hat = (X - mean) / torch.sqrt(var + eps)
    return gamma.float()[:, None, None] * X_hat + beta.float()[:, None, None]


def df_one_tensor(model, X):
    features = X
    for conv, norm in zip(model.convs, model.norms):
        new = model.pool(torch.relu(norm(conv(features))))
        features = torch.cat([model.pool(features), new], dim=1)
    return features


def df_functional_pool(model, X):
    maps = [X]
    for conv, norm in zip(model.convs, model.norms):
        new = F.max_pool2d(F.relu(norm(conv(torch.cat(maps, 1)))), 2)
        maps = [F.max_pool2d(m, 2) for m in maps] + [new]
    return torch.cat(maps, 1)


def df_relu_after_pool(model, X):
    maps = [X]
    for conv, norm in zip(model.convs, model.norms):
        new = torch.relu(model.pool(norm(conv(torch.cat(maps, 1)))))
        maps = [model.pool(m) for m in maps] + [new]
    return torch.cat(maps, 1)


def df_batch_axis(model, X):
    maps = [X]
    for conv, norm in zip(model.convs, model.norms):
        new = model.pool(torch.relu(norm(conv(torch.cat(maps, 0)))))
        maps = [model.pool(m) for m in maps] + [new]
    return torch.cat(maps, 0)


def df_no_relu(model, X):
    maps = [X]
    for conv, norm in zip(model.convs, model.norms):
        new = model.pool(norm(conv(torch.cat(maps, 1))))
        maps = [model.pool(m) for m in maps] + [new]
    return torch.cat(maps, 1)


def df_average_pool(model, X):
    maps = [X]
    for conv, norm in zip(model.convs, model.norms):
        new = F.avg_pool2d(torch.relu(norm(conv(torch.cat(maps, 1)))), 2)
        maps = [F.avg_pool2d(m, 2) for m in maps] + [new]
    return torch.cat(maps, 1)


def df_last_map_only(model, X):
    maps = [X]
    for conv, norm in zip(model.convs, model.norms):
        new = model.pool(torch.relu(norm(conv(torch.cat(maps, 1)))))
        maps = [model.pool(m) for m in maps] + [new]
    return maps[-1]


class TcSequential(nn.Module):
    def __init__(self, widths=(16, 32, 64), fc=(500,), n_classes=10):
        super().__init__()
        channels = (3, *widths)
        self.features = nn.Sequential(
            *(
                layer
                for a, b in zip(channels, channels[1:])
                for layer in (
                    nn.Conv2d(a, b, 3, padding=1),
                    nn.ReLU(),
                    nn.MaxPool2d(2),
                )
            ),
            nn.Flatten(),
        )
        sizes = [widths[2] * 16, *fc]
        layers = []
        for a, b in zip(sizes, sizes[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.classifier = nn.Sequential(
            *layers, nn.Linear(sizes[-1], n_classes)
        )

    def forward(self, X):
        return self.classifier(self.features(X))


class TcView(nn.Module):
    def __init__(self, widths=(16, 32, 64), fc=(500,), n_classes=10):
        super().__init__()
        self.convs = nn.ModuleList()
        for a, b in zip((3, *widths), widths):
            self.convs.append(nn.Conv2d(a, b, kernel_size=3, padding=1))
        self.fcs = nn.ModuleList()
        n_in = widths[-1] * 4 * 4
        for n_out in fc:
            self.fcs.append(nn.Linear(n_in, n_out))
            n_in = n_out
        self.out = nn.Linear(n_in, n_classes)

    def forward(self, X):
        for conv in self.convs:
            X = F.max_pool2d(F.relu(conv(X)), kernel_size=2, stride=2)
        X = X.view(X.size(0), -1)
        for fc in self.fcs:
            X = F.relu(fc(X))
        return self.out(X)


class TcPoolThenRelu(TcView):
    def forward(self, X):
        for conv in self.convs:
            X = torch.relu(F.max_pool2d(conv(X), 2))
        X = torch.flatten(X, start_dim=1)
        for fc in self.fcs:
            X = fc(X).clamp(min=0)
        return self.out(X)


class TcLazy(TcView):
    def __init__(self, widths=(16, 32, 64), fc=(500,), n_classes=10):
        super().__init__(widths, fc, n_classes)
        self.fcs[0] = nn.LazyLinear(fc[0])


class TcAveragePool(TcView):
    def forward(self, X):
        for conv in self.convs:
            X = F.avg_pool2d(F.relu(conv(X)), 2)
        X = X.flatten(1)
        for fc in self.fcs:
            X = F.relu(fc(X))
        return self.out(X)


class TcNoBias(TcView):
    def __init__(self, widths=(16, 32, 64), fc=(500,), n_classes=10):
        super().__init__(widths, fc, n_classes)
        for k, conv in enumerate(self.convs):
            self.convs[k] = nn.Conv2d(
                conv.in_channels, conv.out_channels, 3, padding=1, bias=False
            )


class TcFiveByFive(TcView):
    def __init__(self, widths=(16, 32, 64), fc=(500,), n_classes=10):
        super().__init__(widths, fc, n_classes)
        for k, conv in enumerate(self.convs):
            self.convs[k] = nn.Conv2d(
                conv.in_channels, conv.out_channels, 5, padding=2
            )


class TcFlattenedBatch(TcView):
    def forward(self, X):
        for conv in self.convs:
            X = F.max_pool2d(F.relu(conv(X)), 2)
        X = X.flatten()  # the batch too: the first Linear gets one row
        for fc in self.fcs:
            X = F.relu(fc(X))
        return self.out(X)


def te_item_per_batch(model, loader, optimizer):
    model.train()
    total, n = 0.0, 0
    for X, y in loader:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(X), y)
        loss.backward()
        optimizer.step()
        total += loss.item() * X.shape[0]
        n += X.shape[0]
    return total / n


def te_log_softmax(model, loader, optimizer):
    model.train()
    losses, sizes = [], []
    for X, y in loader:
        loss = F.nll_loss(F.log_softmax(model(X), dim=1), y)
        optimizer.zero_grad(set_to_none=False)
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())
        sizes.append(len(y))
    weights = torch.tensor(sizes, dtype=torch.float32)
    return torch.dot(torch.stack(losses), weights) / weights.sum()


def te_module_loss(model, loader, optimizer):
    criterion = nn.CrossEntropyLoss(reduction="sum")
    model.train(True)
    total = torch.zeros(())
    count = 0
    for X, y in loader:
        summed = criterion(model(X), y)
        optimizer.zero_grad()
        (summed / len(y)).backward()
        optimizer.step()
        total += summed.detach()
        count += len(y)
    return (total / count).item()


def te_sum(model, loader, optimizer):
    model.train()
    total, n = 0.0, 0
    for X, y in loader:
        loss = F.cross_entropy(model(X), y, reduction="sum")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item()
        n += len(y)
    return total / n


def te_nll_on_logits(model, loader, optimizer):
    model.train()
    total, n = 0.0, 0
    for X, y in loader:
        loss = F.nll_loss(model(X), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() * len(y)
        n += len(y)
    return total / n


def te_two_forward_calls(model, loader, optimizer):
    model.train()
    total, n = 0.0, 0
    for X, y in loader:
        optimizer.zero_grad()
        F.cross_entropy(model(X), y).backward()
        optimizer.step()
        with torch.no_grad():
            total += F.cross_entropy(model(X), y).item() * len(y)
        n += len(y)
    return total / n


def te_step_before_backward(model, loader, optimizer):
    model.train()
    total, n = 0.0, 0
    for X, y in loader:
        loss = F.cross_entropy(model(X), y)
        optimizer.zero_grad()
        optimizer.step()
        loss.backward()
        total += loss.item() * len(y)
        n += len(y)
    return total / n


# --- Lab 3 -----------------------------------------------------------------


def ms_alpha(p, g, v, lr, momentum=0.9, nesterov=False, first=False):
    if first:
        v.zero_().add_(g)
    else:
        v.mul_(momentum).add_(g)
    if nesterov:
        p.add_(g, alpha=-lr).add_(v, alpha=-lr * momentum)
    else:
        p.add_(v, alpha=-lr)


def ms_copy_then_step(p, g, v, lr, momentum=0.9, nesterov=False, first=False):
    v[:] = g if first else momentum * v + g
    step = g + momentum * v if nesterov else v
    p -= lr * step


def ms_functional_copy(p, g, v, lr, momentum=0.9, nesterov=False, first=False):
    new_v = g.clone() if first else torch.add(g, v, alpha=momentum)
    v.copy_(new_v)
    p.copy_(p - lr * (torch.add(g, v, alpha=momentum) if nesterov else v))


def ms_other_convention(
    p, g, v, lr, momentum=0.9, nesterov=False, first=False
):
    if first:
        v.copy_(-lr * g)
    else:
        v.mul_(momentum).sub_(lr * g)
    p.add_(momentum * v - lr * g if nesterov else v)


def ms_dampened(p, g, v, lr, momentum=0.9, nesterov=False, first=False):
    if first:
        v.copy_(g)
    else:
        v.mul_(momentum).add_((1 - momentum) * g)
    p.sub_(lr * (g + momentum * v if nesterov else v))


def ms_lr_in_velocity(p, g, v, lr, momentum=0.9, nesterov=False, first=False):
    if first:
        v.copy_(lr * g)
    else:
        v.mul_(momentum).add_(lr * g)
    p.sub_(lr * g + momentum * v if nesterov else v)


def ms_nesterov_old_velocity(
    p, g, v, lr, momentum=0.9, nesterov=False, first=False
):
    old = v.clone()
    if first:
        v.copy_(g)
    else:
        v.mul_(momentum).add_(g)
    p.sub_(lr * (g + momentum * old if nesterov else v))


def as_addcmul(p, g, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    m.mul_(beta1).add_(g, alpha=1 - beta1)
    v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
    m_hat = m / (1 - beta1**t)
    denom = (v / (1 - beta2**t)).sqrt().add_(eps)
    p.addcdiv_(m_hat, denom, value=-lr)


def as_lerp(p, g, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    m.lerp_(g, 1 - beta1)
    v.lerp_(g * g, 1 - beta2)
    p -= lr * (m / (1 - beta1**t)) / ((v / (1 - beta2**t)).sqrt() + eps)


def as_step_size(p, g, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    m.mul_(beta1).add_((1 - beta1) * g)
    v.mul_(beta2).add_((1 - beta2) * g.pow(2))
    step_size = lr / (1 - beta1**t)
    denom = v.sqrt() / math.sqrt(1 - beta2**t) + eps
    p.addcdiv_(m, denom, value=-step_size)


def as_corrected_state(p, g, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    m.mul_(beta1).add_((1 - beta1) * g)
    v.mul_(beta2).add_((1 - beta2) * g * g)
    m.div_(1 - beta1**t)
    v.div_(1 - beta2**t)
    p.sub_(lr * m / (v.sqrt() + eps))


def as_betas_swapped(p, g, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    m.mul_(beta2).add_((1 - beta2) * g)
    v.mul_(beta1).add_((1 - beta1) * g * g)
    p.sub_(lr * (m / (1 - beta2**t)) / ((v / (1 - beta1**t)).sqrt() + eps))


def as_no_square_root(p, g, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    m.mul_(beta1).add_((1 - beta1) * g)
    v.mul_(beta2).add_((1 - beta2) * g * g)
    p.sub_(lr * (m / (1 - beta1**t)) / (v / (1 - beta2**t) + eps))


def as_t_from_zero(p, g, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    as_addcmul(p, g, m, v, t - 1, lr, beta1, beta2, eps)


def es_while_loop(values, patience, min_delta=0.0):
    best_epoch, epoch = 1, 2
    while epoch <= len(values):
        if values[epoch - 1] > values[best_epoch - 1] + min_delta:
            best_epoch = epoch
        epoch += 1
    return best_epoch, len(values) - best_epoch >= patience


def es_numpy_types(values, patience, min_delta=0.0):
    curve = np.asarray(values)
    best, best_epoch = curve[0], np.int64(1)
    for k in range(1, len(curve)):
        if curve[k] > best + min_delta:
            best, best_epoch = curve[k], np.int64(k + 1)
    return best_epoch, np.bool_(len(curve) - best_epoch >= patience)


def es_history_list(values, patience, min_delta=0.0):
    improved = []
    best = -math.inf
    for value in values:
        improved.append(value > best + min_delta)
        best = value if improved[-1] else best
    best_epoch = max(k for k, up in enumerate(improved, start=1) if up)
    return best_epoch, not any(improved[-patience:])


def es_relative_delta(values, patience, min_delta=0.0):
    best, best_epoch, wait = None, None, 0
    for epoch, value in enumerate(values, start=1):
        if best is None or value > best * (1 + min_delta):
            best, best_epoch, wait = value, epoch, 0
        else:
            wait += 1
    return best_epoch, wait >= patience


def es_lower_is_better(values, patience, min_delta=0.0):
    best, best_epoch, wait = None, None, 0
    for epoch, value in enumerate(values, start=1):
        if best is None or value < best - min_delta:
            best, best_epoch, wait = value, epoch, 0
        else:
            wait += 1
    return best_epoch, wait >= patience


def es_latest_epoch(values, patience, min_delta=0.0):
    _, stop = SOLUTIONS["early_stopping"](values, patience, min_delta)
    return len(values), stop


# --- Lab 4 -----------------------------------------------------------------


def cl_cosine_similarity(embeddings, weight):
    return F.cosine_similarity(embeddings[:, None], weight[None], dim=2)


def cl_float32(embeddings, weight):
    e = F.normalize(embeddings.float(), dim=1)
    w = F.normalize(weight.float(), dim=1)
    return (e @ w.T).clamp(-1, 1)


def cl_norms(embeddings, weight):
    e = embeddings / embeddings.norm(dim=1, keepdim=True)
    w = weight / torch.linalg.vector_norm(weight, dim=-1, keepdim=True)
    return torch.einsum("nd,cd->nc", e, w)


def cl_transposed(embeddings, weight):
    return cl_norms(embeddings, weight).T


def cl_dot_products(embeddings, weight):
    return embeddings @ weight.T


def cl_squared_norms(embeddings, weight):
    e = embeddings / embeddings.square().sum(1, keepdim=True)
    w = weight / weight.square().sum(1, keepdim=True)
    return e @ w.T


def cl_float32_weights_raw(embeddings, weight):
    return (F.normalize(embeddings.float()) @ weight.float().T).clamp(-1, 1)


def _arcface(cos, labels, s, m, margin):
    """ArcFace logits with a given target formula (fallback kept)."""
    past_pi = cos <= math.cos(math.pi - m)
    target = torch.where(past_pi, cos - m * math.sin(m), margin(cos, m))
    is_target = F.one_hot(labels, cos.shape[1]).bool()
    return s * torch.where(is_target, target, cos)


def af_acos(cos, labels, s, m):
    theta = torch.acos(cos.clamp(-1 + 1e-7, 1 - 1e-7))
    target_cos = cos.gather(1, labels[:, None])
    target_theta = theta.gather(1, labels[:, None])
    target = torch.where(
        target_theta + m > math.pi,
        target_cos - m * math.sin(m),
        torch.cos(target_theta + m),
    )
    return s * cos.scatter(1, labels[:, None], target)


def af_float32(cos, labels, s, m):
    return SOLUTIONS["arcface_logits"](cos.float(), labels, s, m)


def af_mask_arithmetic(cos, labels, s, m):
    sin = torch.sqrt(torch.clamp(1.0 - cos * cos, min=0.0))
    phi = cos * math.cos(m) - sin * math.sin(m)
    phi = torch.where(cos > -math.cos(m), phi, cos - math.sin(m) * m)
    one_hot = torch.zeros_like(cos)
    one_hot[torch.arange(len(labels)), labels] = 1.0
    return s * (one_hot * phi + (1.0 - one_hot) * cos)


def af_cos_plus_m(cos, labels, s, m):
    return _arcface(cos, labels, s, m, lambda c, m: c + m)


def af_sin_without_square(cos, labels, s, m):
    def margin(c, m):
        sin = (1 - c).clamp(min=0).sqrt()
        return c * math.cos(m) - sin * math.sin(m)

    return _arcface(cos, labels, s, m, margin)


def af_sign(cos, labels, s, m):
    def margin(c, m):
        sin = (1 - c.square()).clamp(min=0).sqrt()
        return c * math.cos(m) + sin * math.sin(m)

    return _arcface(cos, labels, s, m, margin)


def af_cos_of_cosine(cos, labels, s, m):
    return _arcface(cos, labels, s, m, lambda c, m: torch.cos(c + m))


def af_without_s(cos, labels, s, m):
    return SOLUTIONS["arcface_logits"](cos, labels, s, m) / s


def af_float32_without_fallback(cos, labels, s, m):
    cos = cos.float()
    theta = torch.acos(cos.clamp(-1, 1))
    is_target = F.one_hot(labels, cos.shape[1]).bool()
    return s * torch.where(is_target, torch.cos(theta + m), cos)


def mh_float_mean(model, loader):
    was_training = model.training
    model.eval()
    hits = []
    with torch.no_grad():
        for X, y in loader:
            hits.append(model(X).argmax(dim=1) == y)
    model.train(was_training)
    return torch.cat(hits).float().mean()


def mh_inference_mode(model, loader):
    was_training = model.training
    model.eval()
    correct = torch.zeros((), dtype=torch.long)
    total = 0
    with torch.inference_mode():
        for X, y in loader:
            correct += (model(X).argmax(1) == y).sum()
            total += y.numel()
    model.train(was_training)
    return (correct / total).item()


def mh_float32_count(model, loader):
    was_training = model.training
    model.eval()
    correct = torch.tensor(0.0)
    total = torch.tensor(0.0)
    with torch.no_grad():
        for X, y in loader:
            correct += (model(X).max(1).indices == y).float().sum()
            total += len(y)
    model.train(was_training)
    return float(correct / total)


def mh_percent(model, loader):
    return 100 * SOLUTIONS["margin_head_accuracy"](model, loader)


def mh_first_batch(model, loader):
    was_training = model.training
    model.eval()
    with torch.no_grad():
        X, y = next(iter(loader))
        accuracy = float((model(X).argmax(1) == y).float().mean())
    model.train(was_training)
    return accuracy


def mh_per_batch(model, loader):
    was_training = model.training
    model.eval()
    with torch.no_grad():
        accuracy = torch.stack(
            [(model(X).argmax(1) == y).float().mean() for X, y in loader]
        )
    model.train(was_training)
    return accuracy


def mh_error_rate(model, loader):
    return 1 - SOLUTIONS["margin_head_accuracy"](model, loader)


# --- Lab 5 -----------------------------------------------------------------


def _search(D, perplexity, tol=1e-5, steps=200):
    """A vectorised binary search over every row's precision at once."""
    n = len(D)
    off = ~torch.eye(n, dtype=torch.bool)
    target = math.log(perplexity)
    low = torch.zeros(n, 1, dtype=D.dtype)
    high = torch.full((n, 1), math.inf, dtype=D.dtype)
    beta = torch.ones(n, 1, dtype=D.dtype)
    d = D - D.masked_fill(~off, math.inf).min(1, keepdim=True).values
    for _ in range(steps):
        logits = (-beta * d).masked_fill(~off, -math.inf)
        P = torch.softmax(logits, dim=1)
        H = -(P * torch.log_softmax(logits, dim=1).masked_fill(~off, 0)).sum(
            1, keepdim=True
        )
        if (H - target).abs().max() < tol:
            break
        wide = H > target
        low = torch.where(wide, beta, low)
        high = torch.where(wide, high, beta)
        beta = torch.where(torch.isinf(high), beta * 2, (low + high) / 2)
    return P


def cp_vectorised(D, perplexity):
    return _search(D, perplexity)


def cp_float32(D, perplexity):
    return _search(D.float(), perplexity, tol=1e-4)


def cp_numpy_rows(D, perplexity):
    distances = D.numpy()
    P = np.zeros_like(distances)
    for i in range(len(distances)):
        d = np.delete(distances[i], i)
        low, high = 0.0, np.inf
        beta = 1.0
        for _ in range(200):
            p = np.exp(-(d - d.min()) * beta)
            p /= p.sum()
            H = -np.sum(p * np.log(np.maximum(p, 1e-300)))
            if abs(H - np.log(perplexity)) < 1e-5:
                break
            if H > np.log(perplexity):
                low, beta = (
                    beta,
                    beta * 2 if high == np.inf else (beta + high) / 2,
                )
            else:
                high, beta = beta, (low + beta) / 2
        P[i] = np.insert(p, i, 0.0)
    return torch.from_numpy(P)


def cp_unit_bandwidth(D, perplexity):
    P = torch.exp(-D)
    P.fill_diagonal_(0)
    return P / P.sum(1, keepdim=True)


def cp_transposed(D, perplexity):
    return SOLUTIONS["conditional_probabilities"](D, perplexity).T


def cp_square_root(D, perplexity):
    return SOLUTIONS["conditional_probabilities"](D.sqrt(), perplexity)


def kg_float32(P, Y):
    return SOLUTIONS["kl_gradient"](P.float(), Y.float())


def kg_row_loop(P, Y):
    n = len(Y)
    w = 1 / (1 + torch.cdist(Y, Y).square())
    w.fill_diagonal_(0)
    Q = w / w.sum()
    gradient = torch.zeros_like(Y)
    for i in range(n):
        gradient[i] = 4 * ((P[i] - Q[i]) * w[i]) @ (Y[i] - Y)
    return gradient


def kg_einsum(P, Y):
    d = Y.unsqueeze(1) - Y.unsqueeze(0)
    w = (1 + torch.einsum("ijk,ijk->ij", d, d)).reciprocal()
    w = w * (1 - torch.eye(len(Y), dtype=Y.dtype))
    Q = w / w.sum()
    return 4 * torch.einsum("ij,ijk->ik", (P - Q) * w, d)


def kg_wrong_axis(P, Y):
    differences = Y[:, None, :] - Y[None, :, :]
    w = 1.0 / (1.0 + differences.square().sum(dim=2))
    w.fill_diagonal_(0.0)
    Q = w / w.sum()
    return 4.0 * (((P - Q) * w)[:, :, None] * differences).sum(dim=0)


def kg_float32_sign_flipped(P, Y):
    return -kg_float32(P, Y)


def kg_without_w(P, Y):
    differences = Y[:, None, :] - Y[None, :, :]
    w = 1.0 / (1.0 + differences.square().sum(dim=2))
    w.fill_diagonal_(0.0)
    Q = w / w.sum()
    return 4.0 * ((P - Q)[:, :, None] * differences).sum(dim=1)


def kg_q_not_normalised(P, Y):
    differences = Y[:, None, :] - Y[None, :, :]
    w = 1.0 / (1.0 + differences.square().sum(dim=2))
    w.fill_diagonal_(0.0)
    return 4.0 * (((P - w) * w)[:, :, None] * differences).sum(dim=1)


# --- Lab 6 -----------------------------------------------------------------


def rp_distributions(mean, log_var):
    return torch.distributions.Normal(mean, torch.exp(0.5 * log_var)).rsample()


def rp_sqrt_of_variance(mean, log_var):
    eps = torch.randn(mean.shape, dtype=mean.dtype)
    return eps * log_var.exp().sqrt() + mean


def rp_float32(mean, log_var):
    sigma = torch.exp(log_var.float() / 2)
    return mean.float() + sigma * torch.randn_like(sigma)


def rp_std_is_log_var(mean, log_var):
    return mean + log_var * torch.randn_like(mean)


def rp_one_noise_vector(mean, log_var):
    eps = torch.randn(1, mean.shape[1], dtype=mean.dtype)
    return mean + torch.exp(0.5 * log_var) * eps


def rp_no_noise(mean, log_var):
    return mean + 0 * log_var


def rp_half_the_noise(mean, log_var):
    return mean + 0.5 * torch.exp(0.5 * log_var) * torch.randn_like(mean)


def kd_distributions(mean, log_var):
    posterior = torch.distributions.Normal(mean, torch.exp(0.5 * log_var))
    prior = torch.distributions.Normal(0.0, 1.0)
    return torch.distributions.kl_divergence(posterior, prior).sum(1)


def kd_float32(mean, log_var):
    mean, log_var = mean.float(), log_var.float()
    return -0.5 * torch.sum(1 + log_var - mean**2 - torch.exp(log_var), dim=1)


def kd_rearranged(mean, log_var):
    return 0.5 * (mean.square() + log_var.exp() - 1 - log_var).sum(-1)


def kd_log_var_as_log_sigma(mean, log_var):
    terms = 1 + 2 * log_var - mean.square() - (2 * log_var).exp()
    return -0.5 * terms.sum(1)


def kd_without_half(mean, log_var):
    return -(1 + log_var - mean.square() - log_var.exp()).sum(1)


def kd_per_dimension(mean, log_var):
    return -0.5 * (1 + log_var - mean.square() - log_var.exp())


def kd_float32_sign_flipped(mean, log_var):
    return -kd_float32(mean, log_var)


def vo_float32(reconstruction, X, mean, log_var, beta, sigma):
    return SOLUTIONS["vae_objective"](
        reconstruction.float(),
        X.float(),
        mean.float(),
        log_var.float(),
        beta,
        sigma,
    )


def vo_distributions(reconstruction, X, mean, log_var, beta, sigma):
    likelihood = torch.distributions.Normal(reconstruction, sigma)
    nll = -likelihood.log_prob(X).sum(dim=(1, 2, 3))
    posterior = torch.distributions.Normal(mean, torch.exp(0.5 * log_var))
    prior = torch.distributions.Normal(torch.zeros_like(mean), 1.0)
    kl = torch.distributions.kl_divergence(posterior, prior).sum(1)
    return torch.mean(nll + beta * kl)


def vo_mse_sum(reconstruction, X, mean, log_var, beta, sigma):
    n, D = len(X), X[0].numel()
    squared = F.mse_loss(reconstruction, X, reduction="sum")
    constant = D * (math.log(sigma) + 0.5 * math.log(2 * math.pi))
    kl = 0.5 * (mean**2 + log_var.exp() - 1 - log_var).sum()
    return squared / (2 * sigma**2) / n + constant + beta * kl / n


def _objective_with(reconstruction, X, mean, log_var, beta, sigma, scale):
    D = X[0].numel()
    squared = (reconstruction - X).square().sum(dim=(1, 2, 3))
    constant = D * math.log(sigma * math.sqrt(2 * math.pi))
    kl = -0.5 * (1 + log_var - mean.square() - log_var.exp()).sum(1)
    return (squared / scale + constant + beta * kl).mean()


def vo_sigma_not_squared(reconstruction, X, mean, log_var, beta, sigma):
    return _objective_with(
        reconstruction, X, mean, log_var, beta, sigma, 2 * sigma
    )


def vo_no_division(reconstruction, X, mean, log_var, beta, sigma):
    return _objective_with(reconstruction, X, mean, log_var, beta, sigma, 1)


def vo_without_beta(reconstruction, X, mean, log_var, beta, sigma):
    return SOLUTIONS["vae_objective"](
        reconstruction, X, mean, log_var, 1.0, sigma
    )


def vo_float32_minus_kl(reconstruction, X, mean, log_var, beta, sigma):
    return SOLUTIONS["vae_objective"](
        reconstruction.float(),
        X.float(),
        mean.float(),
        log_var.float(),
        -beta,
        sigma,
    )


def vo_mean_of_everything(reconstruction, X, mean, log_var, beta, sigma):
    squared = (reconstruction - X).square().mean()
    kl = -0.5 * (1 + log_var - mean.square() - log_var.exp()).mean()
    return squared / (2 * sigma**2) + beta * kl


RIGHT = [
    ("channel_stats", cs_float32),
    ("channel_stats", cs_numpy),
    ("channel_stats", cs_std_mean),
    ("channel_stats", cs_per_channel_rows),
    ("stratified_split", ss_numpy),
    ("stratified_split", ss_one_permutation),
    ("stratified_split", ss_int32_sorted),
    ("batch_norm", bn_float32),
    ("batch_norm", bn_functional),
    ("batch_norm", bn_var_mean_rsqrt),
    ("dense_features", df_one_tensor),
    ("dense_features", df_functional_pool),
    ("dense_features", df_relu_after_pool),
    ("ThreeConvClassifier", TcSequential),
    ("ThreeConvClassifier", TcView),
    ("ThreeConvClassifier", TcPoolThenRelu),
    ("train_one_epoch", te_item_per_batch),
    ("train_one_epoch", te_log_softmax),
    ("train_one_epoch", te_module_loss),
    ("momentum_step", ms_alpha),
    ("momentum_step", ms_copy_then_step),
    ("momentum_step", ms_functional_copy),
    ("adam_step", as_addcmul),
    ("adam_step", as_lerp),
    ("adam_step", as_step_size),
    ("early_stopping", es_while_loop),
    ("early_stopping", es_numpy_types),
    ("early_stopping", es_history_list),
    ("cosine_logits", cl_cosine_similarity),
    ("cosine_logits", cl_float32),
    ("cosine_logits", cl_norms),
    ("arcface_logits", af_acos),
    ("arcface_logits", af_float32),
    ("arcface_logits", af_mask_arithmetic),
    ("margin_head_accuracy", mh_float_mean),
    ("margin_head_accuracy", mh_inference_mode),
    ("margin_head_accuracy", mh_float32_count),
    ("conditional_probabilities", cp_vectorised),
    ("conditional_probabilities", cp_float32),
    ("conditional_probabilities", cp_numpy_rows),
    ("kl_gradient", kg_float32),
    ("kl_gradient", kg_row_loop),
    ("kl_gradient", kg_einsum),
    ("reparameterize", rp_distributions),
    ("reparameterize", rp_sqrt_of_variance),
    ("reparameterize", rp_float32),
    ("kl_divergence", kd_distributions),
    ("kl_divergence", kd_float32),
    ("kl_divergence", kd_rearranged),
    ("vae_objective", vo_float32),
    ("vae_objective", vo_distributions),
    ("vae_objective", vo_mse_sum),
]

_EITHER_WAY = (
    "the sign is flipped (the pairs' differences are y_i - y_j), or the "
    "sum runs over the wrong index"
)

# Wrong answers beyond the typical mistakes, with the words their report
# must hold (a specific slip where the numbers single it out), or None:
# then no typical slip of the exercise may be named.
WRONG = [
    ("channel_stats", cs_keepdim, "keeps the reduced dimensions"),
    ("channel_stats", cs_swapped, None),
    ("channel_stats", cs_over_256, None),
    ("channel_stats", cs_numpy_per_image, "one mean per channel"),
    ("channel_stats", cs_mean_of_image_stds, None),
    ("stratified_split", ss_masks, "boolean mask of 1986 entries"),
    ("stratified_split", ss_unseeded, "the same seed gave a different"),
    ("stratified_split", ss_swapped, None),
    ("stratified_split", ss_overlap, "(199 in both parts)"),
    ("batch_norm", bn_per_pixel, None),
    ("batch_norm", bn_eps_typed_in, None),
    ("batch_norm", bn_gamma_beta_swapped, None),
    ("batch_norm", bn_float32_unbiased, "biased standard deviation"),
    ("dense_features", df_batch_axis, "along dimension 0"),
    ("dense_features", df_no_relu, None),
    ("dense_features", df_average_pool, None),
    ("dense_features", df_last_map_only, "number of channels is off"),
    ("ThreeConvClassifier", TcLazy, "nn.LazyLinear"),
    ("ThreeConvClassifier", TcAveragePool, None),
    ("ThreeConvClassifier", TcNoBias, "in 7 tensors"),
    ("ThreeConvClassifier", TcFiveByFive, "shape (16, 3, 5, 5)"),
    ("ThreeConvClassifier", TcFlattenedBatch, "(at `X = F.relu(fc(X))`)"),
    ("train_one_epoch", te_sum, "reduction='sum'"),
    ("train_one_epoch", te_nll_on_logits, "nll_loss on the raw logits"),
    ("train_one_epoch", te_two_forward_calls, "compare your loop"),
    ("train_one_epoch", te_step_before_backward, "weights did not change"),
    ("momentum_step", ms_other_convention, "the other convention"),
    ("momentum_step", ms_dampened, "(1 - momentum)"),
    ("momentum_step", ms_lr_in_velocity, "v differs"),
    ("momentum_step", ms_nesterov_old_velocity, None),
    ("adam_step", as_corrected_state, "hold the bias-corrected averages"),
    ("adam_step", as_betas_swapped, "m and v both differ"),
    ("adam_step", as_no_square_root, "check the update of p"),
    ("adam_step", as_t_from_zero, "NaN or infinite"),
    ("early_stopping", es_relative_delta, None),
    ("early_stopping", es_lower_is_better, None),
    ("early_stopping", es_latest_epoch, None),
    ("cosine_logits", cl_transposed, "shape (10, 64)"),
    ("cosine_logits", cl_dot_products, None),
    ("cosine_logits", cl_squared_norms, None),
    ("cosine_logits", cl_float32_weights_raw, "weights are not normalised"),
    ("arcface_logits", af_cos_plus_m, "with theta <= pi - m differ"),
    ("arcface_logits", af_sin_without_square, "with theta <= pi - m differ"),
    ("arcface_logits", af_sign, "with theta <= pi - m differ"),
    ("arcface_logits", af_cos_of_cosine, None),
    ("arcface_logits", af_without_s, "not multiplied by s"),
    ("arcface_logits", af_float32_without_fallback, "fallback applies"),
    ("margin_head_accuracy", mh_percent, "above 1"),
    ("margin_head_accuracy", mh_first_batch, "of the 500 digits"),
    ("margin_head_accuracy", mh_per_batch, "it returned a Tensor"),
    ("margin_head_accuracy", mh_error_rate, "of the 500 digits"),
    ("conditional_probabilities", cp_unit_bandwidth, "target perplexity"),
    ("conditional_probabilities", cp_transposed, "should sum to 1"),
    ("conditional_probabilities", cp_square_root, "the square root of D"),
    ("kl_gradient", kg_wrong_axis, _EITHER_WAY),
    ("kl_gradient", kg_float32_sign_flipped, _EITHER_WAY),
    ("kl_gradient", kg_without_w, None),
    ("kl_gradient", kg_q_not_normalised, None),
    ("reparameterize", rp_std_is_log_var, "as if sigma were log_var"),
    ("reparameterize", rp_one_noise_vector, "every row got the same noise"),
    ("reparameterize", rp_no_noise, "z equals mean"),
    ("reparameterize", rp_half_the_noise, None),
    ("kl_divergence", kd_log_var_as_log_sigma, None),
    ("kl_divergence", kd_without_half, None),
    ("kl_divergence", kd_per_dimension, "shape (8, 120)"),
    ("kl_divergence", kd_float32_sign_flipped, "the sign is flipped"),
    ("vae_objective", vo_sigma_not_squared, "sigma is not squared"),
    ("vae_objective", vo_no_division, "not divided by 2 sigma^2"),
    ("vae_objective", vo_without_beta, None),
    ("vae_objective", vo_float32_minus_kl, "KL term is subtracted"),
    ("vae_objective", vo_mean_of_everything, None),
]


def _ids(rows):
    return [row[1].__name__ for row in rows]


@pytest.mark.parametrize("name, right", RIGHT, ids=_ids(RIGHT))
def test_right_answers_in_other_styles_pass(name, right, data_dir, capsys):
    self_check(name, right, data_dir)
    assert capsys.readouterr().out.startswith(f"PASS {name}:")


@pytest.mark.parametrize("name, wrong, says", WRONG, ids=_ids(WRONG))
def test_wrong_answers_fail_with_numbers_and_no_wrong_guess(
    name, wrong, says, data_dir, capsys
):
    with pytest.raises(SelfCheckFailed, match=name):
        self_check(name, wrong, data_dir)
    out = capsys.readouterr().out
    assert out.startswith(f"FAIL {name}:"), out
    assert "could not finish judging" not in out, out  # the check's own crash
    if says is not None:
        assert says in out, out
    guesses = [
        words
        for words in slip_words(name).values()
        if words in out and (says is None or words not in says)
    ]
    assert not guesses, (guesses, out)


def test_every_exercise_has_its_corpus():
    right = Counter(name for name, _ in RIGHT)
    new = Counter(name for name, _, _ in WRONG)
    typical = Counter(name for name, _, _ in MISTAKES)
    for name in selfcheck.CHECKS:
        assert right[name] >= 3, name
        assert new[name] >= 3 and new[name] + typical[name] >= 6, name


def test_an_error_inside_pytorch_is_reported_at_the_students_line(
    data_dir, capsys
):
    def wrong_width(embeddings, weight):
        e = F.normalize(embeddings, dim=1)
        return F.linear(e, F.normalize(weight, dim=1).T)  # (d, c): wrong

    with pytest.raises(SelfCheckFailed):
        self_check("cosine_logits", wrong_width, data_dir)
    out = capsys.readouterr().out
    assert "calling it raised RuntimeError" in out
    assert "(at `return F.linear(e, F.normalize(weight, dim=1).T)" in out
