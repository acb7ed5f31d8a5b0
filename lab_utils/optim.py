"""Optimizers: by name for sweeps, and the lecture's update rules written
out with plain tensor operations.

The hand-written rules (``sgd_step``, ``momentum_step``, ``rmsprop_step``,
``adam_step``) follow PyTorch's conventions (momentum without dampening,
eps outside the square root), so :class:`HandWrittenOptimizer` matches
``torch.optim`` step for step; the tests check it on a real model.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F

OPTIMIZERS = ("sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw")
SCHEDULES = ("constant", "cosine", "one-cycle")


def make_optimizer(
    name: str,
    params,
    lr: float,
    weight_decay: float = 0.0,
    momentum: float = 0.9,
) -> torch.optim.Optimizer:
    """A torch optimizer by lecture name: sgd, momentum (SGD with
    momentum), nesterov, rmsprop, adam or adamw."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay)
    if name in ("momentum", "nesterov"):
        return torch.optim.SGD(
            params,
            lr=lr,
            momentum=momentum,
            nesterov=name == "nesterov",
            weight_decay=weight_decay,
        )
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(
        f"Unknown optimizer {name!r}. Choose one of: {', '.join(OPTIMIZERS)}."
    )


def make_scheduler(name: str, optimizer: torch.optim.Optimizer, epochs: int):
    """A per-epoch learning-rate schedule: constant (None), cosine (decay
    to 0 over ``epochs``) or one-cycle (warm up to the optimizer's lr for
    30% of the epochs, then anneal)."""
    if name == "constant":
        return None
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=epochs
        )
    if name == "one-cycle":
        lr = optimizer.param_groups[0]["lr"]
        # One step per epoch, plus one so the last epoch still has a rate.
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=lr, total_steps=epochs + 1
        )
    raise ValueError(
        f"Unknown schedule {name!r}. Choose one of: {', '.join(SCHEDULES)}."
    )


# --- the update rules, one parameter tensor at a time ----------------------
# Each takes the parameter p, its gradient g and its state, and updates p
# and the state in place.


def sgd_step(p, g, lr):
    """p <- p - lr * g"""
    p.sub_(lr * g)


def momentum_step(p, g, v, lr, momentum=0.9, nesterov=False, first=False):
    """v <- momentum * v + g   (v = g on the first step)
    p <- p - lr * v            (Nesterov: p - lr * (g + momentum * v))"""
    if first:
        v.copy_(g)
    else:
        v.mul_(momentum).add_(g)
    p.sub_(lr * (g + momentum * v if nesterov else v))


def rmsprop_step(p, g, s, lr, alpha=0.99, eps=1e-8):
    """s <- alpha * s + (1 - alpha) * g^2
    p <- p - lr * g / (sqrt(s) + eps)"""
    s.mul_(alpha).add_((1 - alpha) * g * g)
    p.sub_(lr * g / (s.sqrt() + eps))


def adam_step(p, g, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    """m <- beta1 * m + (1 - beta1) * g        (mean of gradients)
    v <- beta2 * v + (1 - beta2) * g^2      (mean of squared gradients)
    m_hat = m / (1 - beta1^t), v_hat = v / (1 - beta2^t)   (bias fix)
    p <- p - lr * m_hat / (sqrt(v_hat) + eps)"""
    m.mul_(beta1).add_((1 - beta1) * g)
    v.mul_(beta2).add_((1 - beta2) * g * g)
    m_hat = m / (1 - beta1**t)
    v_hat = v / (1 - beta2**t)
    p.sub_(lr * m_hat / (v_hat.sqrt() + eps))


class HandWrittenOptimizer(torch.optim.Optimizer):
    """The rules above as a drop-in optimizer: rule is sgd, momentum,
    nesterov, rmsprop or adam; weight_decay adds weight_decay * p to the
    gradient (L2), as torch.optim does."""

    RULES = ("sgd", "momentum", "nesterov", "rmsprop", "adam")

    def __init__(
        self,
        params,
        rule: str,
        lr: float,
        momentum: float = 0.9,
        alpha: float = 0.99,
        betas=(0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ):
        if rule not in self.RULES:
            raise ValueError(
                f"Unknown rule {rule!r}. Choose one of: "
                f"{', '.join(self.RULES)}."
            )
        self.rule = rule
        super().__init__(
            params,
            dict(
                lr=lr,
                momentum=momentum,
                alpha=alpha,
                betas=betas,
                eps=eps,
                weight_decay=weight_decay,
            ),
        )

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr = group["lr"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                if group["weight_decay"]:
                    g = g + group["weight_decay"] * p
                state = self.state[p]
                first = not state
                if first:
                    state["t"] = 0
                    state["a"] = torch.zeros_like(p)
                    state["b"] = torch.zeros_like(p)
                state["t"] += 1
                if self.rule == "sgd":
                    sgd_step(p, g, lr)
                elif self.rule in ("momentum", "nesterov"):
                    momentum_step(
                        p,
                        g,
                        state["a"],
                        lr,
                        group["momentum"],
                        self.rule == "nesterov",
                        first,
                    )
                elif self.rule == "rmsprop":
                    rmsprop_step(
                        p, g, state["a"], lr, group["alpha"], group["eps"]
                    )
                else:
                    beta1, beta2 = group["betas"]
                    adam_step(
                        p,
                        g,
                        state["a"],
                        state["b"],
                        state["t"],
                        lr,
                        beta1,
                        beta2,
                        group["eps"],
                    )
        return loss


def compare_to_torch(
    rule: str,
    model: torch.nn.Module,
    loader,
    lr: float,
    steps: int,
    weight_decay: float = 0.0,
) -> tuple[float, float]:
    """Train two float64 copies of ``model``, one with
    HandWrittenOptimizer(rule), one with its torch.optim twin
    (``make_optimizer``, same hyper-parameters), on the same
    batches for ``steps`` steps of cross-entropy. Returns (largest weight
    difference between them, largest distance moved from the start).

    In float64 rounding stays near 1e-16 per step, so any difference in
    the formulas shows far above it.
    """
    start = copy.deepcopy(model).double()
    ours, theirs = copy.deepcopy(start), copy.deepcopy(start)
    pairs = [
        (
            ours,
            HandWrittenOptimizer(
                ours.parameters(), rule, lr, weight_decay=weight_decay
            ),
        ),
        (theirs, make_optimizer(rule, theirs.parameters(), lr, weight_decay)),
    ]
    done = 0
    while done < steps:
        for X, y in loader:
            for net, opt in pairs:
                opt.zero_grad()
                F.cross_entropy(net(X.double()), y).backward()
                opt.step()
            done += 1
            if done == steps:
                break

    def largest(a, b):
        return max(
            (x - y).abs().max().item()
            for x, y in zip(a.parameters(), b.parameters())
        )

    return largest(ours, theirs), largest(ours, start)


# --- optimizers on a 2-D landscape -----------------------------------------


def rosenbrock(xy: torch.Tensor, a: float = 1.0, b: float = 100.0):
    """(a - x)^2 + b (y - x^2)^2: a curved, narrow valley, minimum at
    (a, a^2). xy: (..., 2)."""
    x, y = xy[..., 0], xy[..., 1]
    return (a - x) ** 2 + b * (y - x**2) ** 2


def trajectory(
    fn, start, optimizer: str, lr: float, steps: int = 500
) -> np.ndarray:
    """Positions (steps + 1, 2) of ``optimizer`` minimising ``fn`` from
    ``start``, using the hand-written rules (adamw -> adam here: no weights
    to decay)."""
    rule = {"adamw": "adam"}.get(optimizer, optimizer)
    xy = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    opt = HandWrittenOptimizer([xy], rule, lr)
    path = [xy.detach().clone()]
    for _ in range(steps):
        opt.zero_grad()
        fn(xy).backward()
        opt.step()
        if not torch.isfinite(xy).all():
            break  # diverged: keep the path up to here
        path.append(xy.detach().clone())
    return torch.stack(path).numpy()


def best_trajectory(
    fn, start, optimizer: str, lrs, steps: int = 500, minimum=(1.0, 1.0)
) -> tuple[float, np.ndarray]:
    """Try each learning rate in ``lrs`` and return (lr, path) of the one
    that ends closest to ``minimum``: each optimizer at its own good rate."""
    best = None
    for lr in lrs:
        path = trajectory(fn, start, optimizer, lr, steps)
        diverged = len(path) < steps + 1
        distance = (
            np.inf
            if diverged
            else float(np.hypot(*(path[-1] - np.asarray(minimum))))
        )
        if best is None or distance < best[0]:
            best = (distance, lr, path)
    return best[1], best[2]
