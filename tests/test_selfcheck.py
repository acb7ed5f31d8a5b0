"""The self-checks pass the labs' own solutions and fail typical mistakes,
saying what differs without printing the answer."""

import math
from pathlib import Path

import jupytext
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import lab_utils as lu
from lab_utils.tools import SelfCheckFailed, self_check, selfcheck

REPO = Path(__file__).resolve().parents[1]


def lab_solutions() -> dict:
    """Every exercise function, as the labs solve it (their solution cells
    executed here)."""
    namespace = {"torch": torch, "nn": nn, "F": F, "math": math, "lu": lu}
    for lab in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.py")):
        for cell in jupytext.read(lab).cells:
            if "# BEGIN SOLUTION" in cell.source:
                exec(cell.source, namespace)
    return {name: namespace[name] for name in selfcheck.CHECKS}


SOLUTIONS = lab_solutions()


def test_every_check_belongs_to_an_exercise():
    assert set(SOLUTIONS) == set(selfcheck.CHECKS)


@pytest.mark.parametrize("name", list(selfcheck.CHECKS))
def test_the_labs_solutions_pass(name, data_dir, capsys):
    self_check(name, SOLUTIONS[name], data_dir)
    out = capsys.readouterr().out
    assert out.startswith(f"PASS {name}: matches the reference")


# Typical mistakes, one per exercise: each must fail.
def std_is_variance(X):
    X = X.double() / 255
    return X.mean(dim=(0, 2, 3)), X.var(dim=(0, 2, 3), correction=0)


def not_scaled(X):
    X = X.double()
    return X.mean(dim=(0, 2, 3)), X.std(dim=(0, 2, 3), correction=0)


def unstratified(y, val_fraction, seed):
    order = torch.randperm(
        len(y), generator=torch.Generator().manual_seed(seed)
    )
    n_val = round(len(y) * val_fraction)
    return order[n_val:], order[:n_val]


def unbiased_batch_norm(X, gamma, beta, eps=1e-5):
    mean = X.mean(dim=(0, 2, 3), keepdim=True)
    std = X.std(dim=(0, 2, 3), keepdim=True)
    return gamma[:, None, None] * (X - mean) / std + beta[:, None, None]


def dense_without_image(model, X):
    maps = [X]
    for conv, norm in zip(model.convs, model.norms):
        new = model.pool(torch.relu(norm(conv(torch.cat(maps, 1)))))
        maps = [model.pool(m) for m in maps] + [new]
    return torch.cat(maps[1:], 1)  # the image itself is left out


def momentum_not_in_place(
    p, g, v, lr, momentum=0.9, nesterov=False, first=False
):
    v = g if first else momentum * v + g
    p = p - lr * v


def velocity_not_in_place(
    p, g, v, lr, momentum=0.9, nesterov=False, first=False
):
    v = g.clone() if first else momentum * v + g
    p.sub_(lr * v)


def adam_without_bias_correction(
    p, g, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8
):
    m.mul_(beta1).add_((1 - beta1) * g)
    v.mul_(beta2).add_((1 - beta2) * g * g)
    p.sub_(lr * m / (v.sqrt() + eps))


def weights_not_normalised(embeddings, weight):
    return (F.normalize(embeddings) @ weight.T).clamp(-1, 1)


def margin_on_every_class(cos, labels, s, m):
    return s * torch.cos(torch.acos(cos.clamp(-1, 1)) + m)


def arcface_without_fallback(cos, labels, s, m):
    theta = torch.acos(cos.clamp(-1, 1))
    target = torch.cos(theta + m)
    return s * torch.where(F.one_hot(labels, cos.shape[1]).bool(), target, cos)


def fixed_bandwidth(D, perplexity):
    P = torch.exp(-D / D.mean())
    P.fill_diagonal_(0)
    return P / P.sum(1, keepdim=True)


def gradient_without_factor_4(P, Y):
    return SOLUTIONS["kl_gradient"](P, Y) / 4


def sigma_is_variance(mean, log_var):
    return mean + torch.exp(log_var) * torch.randn_like(mean)


def kl_summed_over_batch(mean, log_var):
    return -0.5 * (1 + log_var - mean.pow(2) - log_var.exp()).sum()


# --- more slips per exercise: at least three each -------------------------


def sample_std(X):
    X = X.double() / 255
    return X.mean(dim=(0, 2, 3)), X.std(dim=(0, 2, 3))  # divides by N - 1


def stats_per_image(X):
    X = X.double() / 255
    return X.mean(dim=(2, 3)), X.std(dim=(2, 3), correction=0)


def _split_with(rounding):
    def split(y, val_fraction, seed):
        generator = torch.Generator().manual_seed(seed)
        train_idx, val_idx = [], []
        for c in y.unique():
            idx = torch.nonzero(y == c).flatten()
            idx = idx[torch.randperm(len(idx), generator=generator)]
            n_val = rounding(len(idx), val_fraction)
            val_idx.append(idx[:n_val])
            train_idx.append(idx[n_val:])
        return torch.cat(train_idx), torch.cat(val_idx)

    return split


split_rounding_down = _split_with(lambda n, f: int(n * f))
split_rounding_up = _split_with(lambda n, f: math.ceil(n * f))
split_same_count = _split_with(lambda n, f: 20)


def batch_norm_per_image(X, gamma, beta, eps=1e-5):
    mean = X.mean(dim=(2, 3), keepdim=True)
    var = X.var(dim=(2, 3), correction=0, keepdim=True)
    X_hat = (X - mean) / torch.sqrt(var + eps)
    return gamma[:, None, None] * X_hat + beta[:, None, None]


def batch_norm_eps_outside(X, gamma, beta, eps=1e-5):
    mean = X.mean(dim=(0, 2, 3), keepdim=True)
    std = X.std(dim=(0, 2, 3), correction=0, keepdim=True)
    return (
        gamma[:, None, None] * (X - mean) / (std + eps) + beta[:, None, None]
    )


def batch_norm_without_gamma_beta(X, gamma, beta, eps=1e-5):
    mean = X.mean(dim=(0, 2, 3), keepdim=True)
    var = X.var(dim=(0, 2, 3), correction=0, keepdim=True)
    return (X - mean) / torch.sqrt(var + eps)


def dense_without_pooling_old_maps(model, X):
    maps = [X]
    for conv, norm in zip(model.convs, model.norms):
        maps.append(model.pool(torch.relu(norm(conv(torch.cat(maps, 1))))))
    return torch.cat(maps, 1)


def dense_norm_after_relu(model, X):
    maps = [X]
    for conv, norm in zip(model.convs, model.norms):
        new = model.pool(norm(torch.relu(conv(torch.cat(maps, 1)))))
        maps = [model.pool(m) for m in maps] + [new]
    return torch.cat(maps, 1)


def momentum_ignoring_first(
    p, g, v, lr, momentum=0.9, nesterov=False, first=False
):
    v.mul_(momentum).add_(g)
    p.sub_(lr * (g + momentum * v if nesterov else v))


def momentum_ignoring_nesterov(
    p, g, v, lr, momentum=0.9, nesterov=False, first=False
):
    if first:
        v.copy_(g)
    else:
        v.mul_(momentum).add_(g)
    p.sub_(lr * v)


def adam_eps_inside_sqrt(p, g, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    m.mul_(beta1).add_((1 - beta1) * g)
    v.mul_(beta2).add_((1 - beta2) * g * g)
    m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
    p.sub_(lr * m_hat / (v_hat + eps).sqrt())


def adam_v_of_gradients(p, g, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    m.mul_(beta1).add_((1 - beta1) * g)
    v.mul_(beta2).add_((1 - beta2) * g.abs())
    m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
    p.sub_(lr * m_hat / (v_hat.sqrt() + eps))


def adam_m_without_weight(p, g, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    m.mul_(beta1).add_(g)
    v.mul_(beta2).add_((1 - beta2) * g * g)
    m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
    p.sub_(lr * m_hat / (v_hat.sqrt() + eps))


def embeddings_not_normalised(embeddings, weight):
    return (embeddings @ F.normalize(weight).T).clamp(-1, 1)


def normalised_along_columns(embeddings, weight):
    return F.normalize(embeddings, dim=0) @ F.normalize(weight, dim=0).T


def arcface_fallback_reversed(cos, labels, s, m):
    sin = (1 - cos.square()).clamp(min=0).sqrt()
    with_margin = cos * math.cos(m) - sin * math.sin(m)
    fallback = cos - m * math.sin(m)
    past_pi = cos > math.cos(math.pi - m)  # reversed
    target = torch.where(past_pi, fallback, with_margin)
    is_target = F.one_hot(labels, cos.shape[1]).bool()
    return s * torch.where(is_target, target, cos)


def cosface_instead(cos, labels, s, m):
    is_target = F.one_hot(labels, cos.shape[1]).bool()
    return s * torch.where(is_target, cos - m, cos)


def distances_squared_again(D, perplexity):
    return lu.manifold.conditional_probabilities(D.square(), perplexity)[0]


def rows_not_normalised(D, perplexity):
    P = lu.manifold.conditional_probabilities(D, perplexity)[0]
    return P * 2


def diagonal_kept(D, perplexity):
    P = lu.manifold.conditional_probabilities(D, perplexity)[0]
    P = P + torch.eye(len(P), dtype=P.dtype) / len(P)
    return P / P.sum(1, keepdim=True)


def gradient_sign_flipped(P, Y):
    return -SOLUTIONS["kl_gradient"](P, Y)


def gradient_with_self_pairs(P, Y):
    differences = Y[:, None, :] - Y[None, :, :]
    w = 1.0 / (1.0 + differences.square().sum(dim=2))
    Q = w / w.sum()  # the diagonal's w_ii = 1 is in the sum
    return 4.0 * (((P - Q) * w)[:, :, None] * differences).sum(dim=1)


def reparameterize_with_normal(mean, log_var):
    return torch.normal(mean, torch.exp(0.5 * log_var))


def reparameterize_uniform(mean, log_var):
    return mean + torch.exp(0.5 * log_var) * torch.rand_like(mean)


def reparameterize_same_noise(mean, log_var):
    eps = torch.randn(
        mean.shape,
        generator=torch.Generator().manual_seed(0),
        dtype=mean.dtype,
    )
    return mean + torch.exp(0.5 * log_var) * eps


def kl_sign_flipped(mean, log_var):
    return 0.5 * (1 + log_var - mean.pow(2) - log_var.exp()).sum(1)


def kl_mean_over_dims(mean, log_var):
    return -0.5 * (1 + log_var - mean.pow(2) - log_var.exp()).mean(1)


# --- the exercises at the heart of each assignment ----------------------


class NoReluAfterConvs(nn.Module):
    def __init__(self, widths=(16, 32, 64), fc=(500,), n_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, widths[0], 3, padding=1)
        self.conv2 = nn.Conv2d(widths[0], widths[1], 3, padding=1)
        self.conv3 = nn.Conv2d(widths[1], widths[2], 3, padding=1)
        sizes = [widths[2] * 16, *fc]
        self.hidden = nn.ModuleList(
            nn.Linear(a, b) for a, b in zip(sizes, sizes[1:])
        )
        self.output = nn.Linear(sizes[-1], n_classes)

    def forward(self, X):
        for conv in (self.conv1, self.conv2, self.conv3):
            X = F.max_pool2d(conv(X), 2)
        X = X.flatten(1)
        for layer in self.hidden:
            X = torch.relu(layer(X))
        return self.output(X)


class SoftmaxAtTheEnd(NoReluAfterConvs):
    def forward(self, X):
        for conv in (self.conv1, self.conv2, self.conv3):
            X = F.max_pool2d(torch.relu(conv(X)), 2)
        X = X.flatten(1)
        for layer in self.hidden:
            X = torch.relu(layer(X))
        return torch.softmax(self.output(X), dim=1)


class OutputLayerFirst(nn.Module):
    def __init__(self, widths=(16, 32, 64), fc=(500,), n_classes=10):
        super().__init__()
        self.output = nn.Linear(fc[-1], n_classes)
        self.conv1 = nn.Conv2d(3, widths[0], 3, padding=1)
        self.conv2 = nn.Conv2d(widths[0], widths[1], 3, padding=1)
        self.conv3 = nn.Conv2d(widths[1], widths[2], 3, padding=1)
        sizes = [widths[2] * 16, *fc]
        self.hidden = nn.ModuleList(
            nn.Linear(a, b) for a, b in zip(sizes, sizes[1:])
        )

    forward = NoReluAfterConvs.forward


class SizesTypedIn(nn.Module):
    """Right for the small preset's spec only: ignores its arguments."""

    def __init__(self, widths=(16, 32, 64), fc=(500,), n_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.conv3 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(1024, 500)
        self.output = nn.Linear(500, 10)

    def forward(self, X):
        for conv in (self.conv1, self.conv2, self.conv3):
            X = F.max_pool2d(torch.relu(conv(X)), 2)
        return self.output(torch.relu(self.fc1(X.flatten(1))))


def epoch_without_zero_grad(model, loader, optimizer):
    model.train()
    total, n = 0.0, 0
    for X, y in loader:
        loss = F.cross_entropy(model(X), y)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(y)
        n += len(y)
    return total / n


def epoch_in_eval_mode(model, loader, optimizer):
    total, n = 0.0, 0
    for X, y in loader:
        loss = F.cross_entropy(model(X), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() * len(y)
        n += len(y)
    return total / n


def epoch_zero_grad_before_step(model, loader, optimizer):
    model.train()
    total, n = 0.0, 0
    for X, y in loader:
        loss = F.cross_entropy(model(X), y)
        loss.backward()
        optimizer.zero_grad()
        optimizer.step()
        total += loss.item() * len(y)
        n += len(y)
    return total / n


def epoch_mean_of_batch_means(model, loader, optimizer):
    model.train()
    losses = []
    for X, y in loader:
        loss = F.cross_entropy(model(X), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return sum(losses) / len(losses)


def epoch_returns_last_loss(model, loader, optimizer):
    model.train()
    for X, y in loader:
        loss = F.cross_entropy(model(X), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return loss


def stopping_on_ties(values, patience, min_delta=0.0):
    best, best_epoch, wait = None, None, 0
    for epoch, value in enumerate(values, start=1):
        if best is None or value >= best + min_delta:
            best, best_epoch, wait = value, epoch, 0
        else:
            wait += 1
    return best_epoch, wait >= patience


def stopping_without_min_delta(values, patience, min_delta=0.0):
    best = max(values)
    best_epoch = values.index(best) + 1
    return best_epoch, len(values) - best_epoch >= patience


def stopping_a_epoch_late(values, patience, min_delta=0.0):
    best, best_epoch, wait = None, None, 0
    for epoch, value in enumerate(values, start=1):
        if best is None or value > best + min_delta:
            best, best_epoch, wait = value, epoch, 0
        else:
            wait += 1
    return best_epoch, wait > patience


def stopping_a_epoch_early(values, patience, min_delta=0.0):
    best, best_epoch, wait = None, None, 0
    for epoch, value in enumerate(values, start=1):
        if best is None or value > best + min_delta:
            best, best_epoch, wait = value, epoch, 0
        else:
            wait += 1
    return best_epoch, wait >= patience - 1


def stopping_against_the_previous_epoch(values, patience, min_delta=0.0):
    best_epoch, wait = 1, 0
    for epoch in range(2, len(values) + 1):
        if values[epoch - 1] > values[epoch - 2] + min_delta:
            best_epoch, wait = epoch, 0
        else:
            wait += 1
    return best_epoch, wait >= patience


def stopping_counted_from_zero(values, patience, min_delta=0.0):
    best, best_epoch, wait = None, None, 0
    for epoch, value in enumerate(values):
        if best is None or value > best + min_delta:
            best, best_epoch, wait = value, epoch, 0
        else:
            wait += 1
    return best_epoch, wait >= patience


def accuracy_with_labels_in_the_head(model, loader):
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for X, y in loader:
            correct += int((model(X, y).argmax(1) == y).sum())
            total += len(y)
    model.train()
    return correct / total


def accuracy_in_train_mode(model, loader):
    correct = total = 0
    with torch.no_grad():
        for X, y in loader:
            correct += int((model(X).argmax(1) == y).sum())
            total += len(y)
    return correct / total


def accuracy_left_in_eval_mode(model, loader):
    model.eval()
    with torch.no_grad():
        hits = [(model(X).argmax(1) == y).float() for X, y in loader]
    return float(torch.cat(hits).mean())


def accuracy_as_a_count(model, loader):
    was_training = model.training
    model.eval()
    with torch.no_grad():
        correct = sum(int((model(X).argmax(1) == y).sum()) for X, y in loader)
    model.train(was_training)
    return correct


def _kl(mean, log_var):
    return -0.5 * (1 + log_var - mean.pow(2) - log_var.exp()).sum(1)


def objective_with_mse(reconstruction, X, mean, log_var, beta, sigma):
    D = X[0].numel()
    recon = F.mse_loss(reconstruction, X, reduction="none").mean((1, 2, 3))
    recon = recon / (2 * sigma**2) + D * math.log(
        sigma * math.sqrt(2 * math.pi)
    )
    return (recon + beta * _kl(mean, log_var)).mean()


def objective_minus_kl(reconstruction, X, mean, log_var, beta, sigma):
    D = X[0].numel()
    squared = (reconstruction - X).pow(2).sum((1, 2, 3))
    recon = squared / (2 * sigma**2) + D * math.log(
        sigma * math.sqrt(2 * math.pi)
    )
    return (recon - beta * _kl(mean, log_var)).mean()


def objective_beta_on_recon(reconstruction, X, mean, log_var, beta, sigma):
    D = X[0].numel()
    squared = (reconstruction - X).pow(2).sum((1, 2, 3))
    recon = squared / (2 * sigma**2) + D * math.log(
        sigma * math.sqrt(2 * math.pi)
    )
    return (beta * recon + _kl(mean, log_var)).mean()


def objective_without_constant(reconstruction, X, mean, log_var, beta, sigma):
    squared = (reconstruction - X).pow(2).sum((1, 2, 3))
    return (squared / (2 * sigma**2) + beta * _kl(mean, log_var)).mean()


def objective_summed_over_faces(reconstruction, X, mean, log_var, beta, sigma):
    D = X[0].numel()
    squared = (reconstruction - X).pow(2).sum((1, 2, 3))
    recon = squared / (2 * sigma**2) + D * math.log(
        sigma * math.sqrt(2 * math.pi)
    )
    return (recon + beta * _kl(mean, log_var)).sum()


def objective_as_a_float(reconstruction, X, mean, log_var, beta, sigma):
    loss = SOLUTIONS["vae_objective"](
        reconstruction, X, mean, log_var, beta, sigma
    )
    return loss.item()


MISTAKES = [
    ("channel_stats", std_is_variance, "it is the variance"),
    ("channel_stats", not_scaled, "255 times too large"),
    ("stratified_split", unstratified, "in validation; it should have"),
    ("batch_norm", unbiased_batch_norm, "biased standard deviation"),
    ("dense_features", dense_without_image, "number of channels is off"),
    ("momentum_step", momentum_not_in_place, "p did not change"),
    ("momentum_step", velocity_not_in_place, "v did not change at step 1"),
    ("adam_step", adam_without_bias_correction, "correction is missing"),
    ("cosine_logits", weights_not_normalised, "weights are not normal"),
    ("arcface_logits", margin_on_every_class, "other than the target"),
    ("arcface_logits", arcface_without_fallback, "fallback applies"),
    ("conditional_probabilities", fixed_bandwidth, "target perplexity"),
    ("kl_gradient", gradient_without_factor_4, "constant factor"),
    ("reparameterize", sigma_is_variance, "sigma = exp(log_var), the"),
    ("kl_divergence", kl_summed_over_batch, "one KL per face"),
    ("channel_stats", sample_std, "divides by N - 1"),
    ("channel_stats", stats_per_image, "one mean per channel"),
    ("stratified_split", split_rounding_down, "it rounds down"),
    ("stratified_split", split_rounding_up, "it rounds up"),
    ("stratified_split", split_same_count, "the same number"),
    ("batch_norm", batch_norm_per_image, "statistics are per image"),
    ("batch_norm", batch_norm_eps_outside, "outside the square root"),
    ("batch_norm", batch_norm_without_gamma_beta, "are not applied"),
    ("dense_features", dense_without_pooling_old_maps, "pool every earlier"),
    ("dense_features", dense_norm_after_relu, "batch norm comes after"),
    ("momentum_step", momentum_ignoring_first, "first step (first=True)"),
    ("momentum_step", momentum_ignoring_nesterov, "look ahead"),
    ("adam_step", adam_eps_inside_sqrt, "eps belongs outside"),
    ("adam_step", adam_v_of_gradients, "squared gradients"),
    ("adam_step", adam_m_without_weight, "m averages the gradients"),
    ("cosine_logits", embeddings_not_normalised, "embeddings are not"),
    ("cosine_logits", normalised_along_columns, "wrong dimension"),
    ("arcface_logits", arcface_fallback_reversed, "condition is reversed"),
    ("arcface_logits", cosface_instead, "(CosFace)"),
    ("conditional_probabilities", distances_squared_again, "squared a sec"),
    ("conditional_probabilities", rows_not_normalised, "should sum to 1"),
    ("conditional_probabilities", diagonal_kept, "diagonal is not 0"),
    ("kl_gradient", gradient_sign_flipped, "sign is flipped"),
    ("kl_gradient", gradient_with_self_pairs, "w_ii = 1"),
    ("reparameterize", reparameterize_with_normal, "torch.normal"),
    ("reparameterize", reparameterize_uniform, "torch.randn, not"),
    ("reparameterize", reparameterize_same_noise, "fresh noise"),
    ("kl_divergence", kl_sign_flipped, "sign is flipped"),
    ("kl_divergence", kl_mean_over_dims, "averaged over the latent"),
    ("ThreeConvClassifier", NoReluAfterConvs, "no ReLU after the conv"),
    ("ThreeConvClassifier", SoftmaxAtTheEnd, "through a softmax"),
    ("ThreeConvClassifier", OutputLayerFirst, "in the spec's order"),
    ("ThreeConvClassifier", SizesTypedIn, "read every size"),
    ("train_one_epoch", epoch_without_zero_grad, "never cleared"),
    ("train_one_epoch", epoch_in_eval_mode, "call model.train()"),
    ("train_one_epoch", epoch_zero_grad_before_step, "weights did not"),
    ("train_one_epoch", epoch_mean_of_batch_means, "weight each batch"),
    ("train_one_epoch", epoch_returns_last_loss, "graph of the last"),
    ("early_stopping", stopping_on_ties, "a tie counts as an improvement"),
    ("early_stopping", stopping_without_min_delta, "min_delta is ignored"),
    ("early_stopping", stopping_a_epoch_late, "one epoch late"),
    ("early_stopping", stopping_counted_from_zero, "counted from 0"),
    ("early_stopping", stopping_a_epoch_early, "one epoch early"),
    ("early_stopping", stopping_against_the_previous_epoch, "the one before"),
    (
        "margin_head_accuracy",
        accuracy_with_labels_in_the_head,
        "labels passed",
    ),
    ("margin_head_accuracy", accuracy_in_train_mode, "statistics changed"),
    ("margin_head_accuracy", accuracy_left_in_eval_mode, "came back in"),
    ("margin_head_accuracy", accuracy_as_a_count, "above 1"),
    ("vae_objective", objective_with_mse, "averaged over the pixel"),
    ("vae_objective", objective_minus_kl, "KL term is subtracted"),
    ("vae_objective", objective_beta_on_recon, "beta multiplies"),
    ("vae_objective", objective_without_constant, "normalising constant"),
    ("vae_objective", objective_summed_over_faces, "summed over the faces"),
    ("vae_objective", objective_as_a_float, "backward()"),
]


# Words of MISTAKES that say what differs (a count, a sum, a perplexity)
# rather than name a slip: other answers may show them too.
FACTUAL = {"in validation; it should have", "target perplexity",
           "should sum to 1", "diagonal is not 0", "came back in"}  # fmt: skip

# Slips that come together: a mistake that makes both shows both.
TOGETHER = {"accuracy_with_labels_in_the_head": {"came back in"}}


def slip_words(name: str, but=()) -> dict:
    """The words naming each typical slip of exercise ``name``, by the
    mistake's function name, leaving out ``but`` and the factual ones."""
    return {
        wrong.__name__: says
        for check, wrong, says in MISTAKES
        if check == name and says not in FACTUAL and wrong.__name__ not in but
    }


@pytest.mark.parametrize(
    "name, wrong, says", MISTAKES, ids=[m[1].__name__ for m in MISTAKES]
)
def test_typical_mistakes_fail_and_name_their_own_slip_only(
    name, wrong, says, data_dir, capsys
):
    with pytest.raises(SelfCheckFailed, match=name):
        self_check(name, wrong, data_dir)
    out = capsys.readouterr().out
    assert out.startswith(f"FAIL {name}:") and says in out, out
    assert "tensor(" not in out  # no values are printed, only differences
    others = [
        other
        for other, words in slip_words(name, but=[wrong.__name__]).items()
        if words in out and words not in TOGETHER.get(wrong.__name__, ())
    ]
    assert not others, (others, out)


def test_a_report_never_shows_the_expected_values(data_dir, capsys):
    cifar = lu.load_dataset(
        "cifar10", n_samples=512, seed=0, data_dir=data_dir
    )
    mean, std = lu.channel_stats(cifar.X)
    with pytest.raises(SelfCheckFailed):
        self_check("channel_stats", std_is_variance, data_dir)
    out = capsys.readouterr().out
    for value in std.tolist() + mean.tolist():
        for digits in (2, 3, 4):
            assert f"{value:.{digits}f}" not in out, (value, out)


def test_a_bug_in_the_students_function_is_reported_with_its_line(
    data_dir, capsys
):
    def crashes(X):
        return X.mean(dim=(0, 2, 3))  # uint8 has no mean

    with pytest.raises(SelfCheckFailed):
        self_check("channel_stats", crashes, data_dir)
    out = capsys.readouterr().out
    assert "calling it raised RuntimeError" in out
    assert "return X.mean(dim=(0, 2, 3))" in out


def test_a_stub_stops_with_its_own_hint_alone(data_dir):
    def stub(X):
        raise NotImplementedError("Exercise 1.1 (channel_stats): a hint")

    with pytest.raises(NotImplementedError, match="a hint") as err:
        self_check("channel_stats", stub, data_dir)
    # Jupyter shows this instead of the frames of the self-check's code.
    assert err.value._render_traceback_() == [
        "ExerciseNotDone: Exercise 1.1 (channel_stats): a hint"
    ]
    assert err.value.__suppress_context__


def test_a_failed_check_shows_its_report_not_a_traceback(data_dir):
    with pytest.raises(SelfCheckFailed) as err:
        self_check("channel_stats", std_is_variance, data_dir)
    (line,) = err.value._render_traceback_()
    assert line.startswith("SelfCheckFailed: channel_stats does not match")


def test_wrong_arguments_are_explained():
    with pytest.raises(ValueError, match="Known: channel_stats"):
        self_check("chanel_stats", std_is_variance)
    with pytest.raises(TypeError, match="without calling it"):
        self_check("channel_stats", (0.5, 0.2))


def test_compare_names_shape_dtype_and_nonfinite_values():
    expected = torch.zeros(3, 2, dtype=torch.float64)
    assert selfcheck.compare("x", expected.clone(), expected, 1e-9) == []
    assert (
        "shape (2, 3)"
        in selfcheck.compare("x", torch.zeros(2, 3), expected, 1e-9)[0]
    )
    assert (
        "dtype torch.int64"
        in selfcheck.compare(
            "x", torch.zeros(3, 2, dtype=torch.long), expected, 1e-9
        )[0]
    )
    bad = expected.clone()
    bad[1, 0] = math.nan
    assert "index (1, 0)" in selfcheck.compare("x", bad, expected, 1e-9)[0]
    off = expected.clone()
    off[2, 1] = 0.5
    message = selfcheck.compare("x", off, expected, 1e-3)[0]
    assert "1 of 6 entries" in message and "(2, 1)" in message
    assert "of type list" in selfcheck.compare("x", [0.0], expected, 1)[0]


def test_a_check_judges_the_same_in_a_dry_run(data_dir, monkeypatch, capsys):
    monkeypatch.setenv("LAB_DRY_RUN", "1")
    self_check(
        "margin_head_accuracy", SOLUTIONS["margin_head_accuracy"], data_dir
    )
    assert capsys.readouterr().out.startswith("PASS margin_head_accuracy")
    assert lu.dry_run.active()  # and the dry run goes on after it
