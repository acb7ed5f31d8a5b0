"""Classification heads on embeddings: softmax, CosFace and ArcFace.

All three share one interface: ``head(embeddings, labels=None) -> logits``.
With labels (training) the margin heads apply their margin to each row's
target class only; without labels (inference) they return s * cos(theta),
so prediction is by the largest cosine, with no margin.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class SoftmaxHead(nn.Module):
    """A plain linear layer: logits = W x + b (no normalisation)."""

    def __init__(self, embedding_dim: int, n_classes: int):
        super().__init__()
        self.linear = nn.Linear(embedding_dim, n_classes)

    def forward(self, embeddings: torch.Tensor,
                labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.linear(embeddings)

    def cosine(self, embeddings: torch.Tensor) -> torch.Tensor:
        """cos of the angle between each embedding and each class weight."""
        return F.linear(F.normalize(embeddings),
                        F.normalize(self.linear.weight))


class _CosineHead(nn.Module):
    """Shared part of the margin heads: normalised weights, scale s."""

    def __init__(self, embedding_dim: int, n_classes: int, s: float,
                 m: float):
        super().__init__()
        if s <= 0:
            raise ValueError(f"scale s must be positive, got {s}.")
        if not 0 <= m < math.pi / 2:
            raise ValueError(f"margin m must be in [0, pi/2) radians, got "
                             f"{m}; typical values are 0.2-0.5.")
        self.s, self.m = s, m
        self.weight = nn.Parameter(torch.empty(n_classes, embedding_dim))
        nn.init.xavier_uniform_(self.weight)

    def cosine(self, embeddings: torch.Tensor) -> torch.Tensor:
        """(n, n_classes) cos(theta), clamped to [-1, 1]: L2-normalised
        embeddings against L2-normalised class weights."""
        cos = F.linear(F.normalize(embeddings), F.normalize(self.weight))
        return cos.clamp(-1.0, 1.0)

    def target_logit(self, cos_target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, embeddings: torch.Tensor,
                labels: torch.Tensor | None = None) -> torch.Tensor:
        cos = self.cosine(embeddings)
        if labels is None:
            return self.s * cos
        target = cos.gather(1, labels[:, None])
        # Only the target column changes: the margin makes the true class
        # harder to win, never the others easier.
        cos = cos.scatter(1, labels[:, None], self.target_logit(target))
        return self.s * cos


class CosFaceHead(_CosineHead):
    """Additive cosine margin (CosFace): target logit s * (cos(theta) - m).
    """

    def __init__(self, embedding_dim: int, n_classes: int, s: float = 30.0,
                 m: float = 0.35):
        super().__init__(embedding_dim, n_classes, s, m)

    def target_logit(self, cos_target):
        return cos_target - self.m


class ArcMarginHead(_CosineHead):
    """Additive angular margin (ArcFace, Deng et al., 2019): target logit
    s * cos(theta + m).

    cos(theta + m) = cos(theta) cos(m) - sin(theta) sin(m), computed from
    the cosine without acos (whose gradient is infinite at +-1). Where
    theta + m would pass pi, cos(theta + m) stops decreasing and the loss
    would *reward* a larger angle; there the standard fallback
    cos(theta) - m sin(m) keeps the logit decreasing (or, with
    easy_margin, the margin is dropped where cos(theta) < 0).
    """

    def __init__(self, embedding_dim: int, n_classes: int, s: float = 30.0,
                 m: float = 0.5, easy_margin: bool = False):
        super().__init__(embedding_dim, n_classes, s, m)
        self.easy_margin = easy_margin
        self.cos_m, self.sin_m = math.cos(m), math.sin(m)
        self.threshold = math.cos(math.pi - m)  # theta + m == pi here
        self.fallback_shift = math.sin(math.pi - m) * m  # = m sin(m)

    def target_logit(self, cos_target):
        # Clamp before the square root: 1 - cos^2 can round below zero,
        # and sqrt'(0) is infinite, so keep a hair of distance from it (the
        # logit moves by at most s * sin(m) * 3e-5; where cos ~ 1 the
        # cross-entropy gradient that multiplies this one is ~0 anyway).
        sin = (1.0 - cos_target.pow(2)).clamp(min=1e-9).sqrt()
        phi = cos_target * self.cos_m - sin * self.sin_m
        if self.easy_margin:
            return torch.where(cos_target > 0, phi, cos_target)
        return torch.where(cos_target > self.threshold, phi,
                           cos_target - self.fallback_shift)


HEADS = {"softmax": SoftmaxHead, "cosface": CosFaceHead,
         "arcface": ArcMarginHead}


def make_head(name: str, embedding_dim: int, n_classes: int,
              **options) -> nn.Module:
    """A head by name: softmax, cosface or arcface (options: s, m, ...)."""
    if name not in HEADS:
        raise ValueError(f"Unknown head {name!r}. Choose one of: "
                         f"{', '.join(HEADS)}.")
    if name == "softmax":
        return SoftmaxHead(embedding_dim, n_classes)
    return HEADS[name](embedding_dim, n_classes, **options)


def margin_step(model: nn.Module, batch) -> dict:
    """One batch for a MarginClassifier: the loss on the training logits
    (margin on the target), the accuracy on the inference logits (largest
    cosine, no margin), as real use would predict."""
    X, y = batch
    embeddings = model.embed(X)
    loss = F.cross_entropy(model.head(embeddings, y), y)
    acc = (model.head(embeddings).argmax(dim=1) == y).float().mean()
    return {"loss": loss, "acc": acc}


def class_centre_angles(embeddings: torch.Tensor, labels: torch.Tensor,
                        n_classes: int) -> torch.Tensor:
    """(n_classes, n_classes) angles in degrees between the mean directions
    of each class's L2-normalised embeddings."""
    unit = F.normalize(embeddings.double())
    centres = torch.stack([F.normalize(unit[labels == c].mean(0), dim=0)
                           for c in range(n_classes)])
    cos = (centres @ centres.T).clamp(-1, 1)
    return torch.rad2deg(torch.acos(cos))


def verification_pairs(embeddings: torch.Tensor, labels: torch.Tensor,
                       n_pairs: int, seed: int = 0):
    """Cosine similarity of ``n_pairs`` same-class and ``n_pairs``
    different-class random pairs: (scores (2 n_pairs,), same (bool))."""
    g = torch.Generator().manual_seed(seed)
    unit = F.normalize(embeddings.double())
    n = len(labels)
    same_pairs, diff_pairs = [], []
    while len(same_pairs) < n_pairs or len(diff_pairs) < n_pairs:
        i = torch.randint(0, n, (4 * n_pairs,), generator=g)
        j = torch.randint(0, n, (4 * n_pairs,), generator=g)
        keep = i != j
        i, j = i[keep], j[keep]
        is_same = labels[i] == labels[j]
        same_pairs += list(zip(i[is_same].tolist(), j[is_same].tolist()))
        diff_pairs += list(zip(i[~is_same].tolist(), j[~is_same].tolist()))
    pairs = torch.tensor(same_pairs[:n_pairs] + diff_pairs[:n_pairs])
    scores = (unit[pairs[:, 0]] * unit[pairs[:, 1]]).sum(1)
    same = torch.arange(2 * n_pairs) < n_pairs
    return scores, same


def roc_curve(scores: torch.Tensor, positive: torch.Tensor):
    """False- and true-positive rates at every threshold (descending
    scores), from (0, 0) to (1, 1), and the area under the curve."""
    order = torch.argsort(scores.double(), descending=True)
    scores, positive = scores.double()[order], positive[order].double()
    tp = torch.cumsum(positive, 0)
    fp = torch.cumsum(1 - positive, 0)
    # Ties share one point: keep the last index of each run of equal scores.
    last = torch.ones_like(scores, dtype=torch.bool)
    last[:-1] = scores[1:] != scores[:-1]
    tpr = torch.cat([torch.zeros(1, dtype=tp.dtype), tp[last] / tp[-1]])
    fpr = torch.cat([torch.zeros(1, dtype=fp.dtype), fp[last] / fp[-1]])
    auc = torch.trapezoid(tpr, fpr).item()
    return fpr.numpy(), tpr.numpy(), auc


def train_margin_classifier(config: dict, seed: int, train, val,
                            device=None, callbacks=(),
                            progress: bool = False):
    """Train an EmbeddingNet + head from a flat config; returns (model,
    history).

    config keys: preset (five_conv, two_conv), embedding_dim, width; head
    (softmax, cosface, arcface), s, m; optimizer, lr, weight_decay,
    schedule (constant, cosine, one-cycle), batch_size, epochs; patience
    and min_delta (early stopping on validation accuracy, best weights
    restored; 0 = off).
    """
    from .data import TensorLoader
    from .models import EmbeddingNet, MarginClassifier
    from .train import default_device, fit_config, seed_everything

    device = torch.device(device) if device else default_device()
    seed_everything(seed)
    dim = config.get("embedding_dim", 3)
    backbone = EmbeddingNet(config.get("preset", "five_conv"), dim,
                            config.get("width", 1.0))
    options = {k: config[k] for k in ("s", "m") if k in config}
    head = make_head(config.get("head", "arcface"), dim, len(train.classes),
                     **options)
    model = MarginClassifier(backbone, head)
    history, _ = fit_config(
        model, config,
        TensorLoader(train, config.get("batch_size", 128), shuffle=True,
                     device=device, seed=seed),
        TensorLoader(val, 1000, device=device), step=margin_step,
        callbacks=callbacks, device=device, progress=progress,
        default_epochs=5)
    return model, history
