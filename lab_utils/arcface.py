"""ArcFace and its relatives: the embedding networks, the heads (softmax,
CosFace, ArcFace), the training step, and the verification metrics.

Every head shares one interface: ``head(embeddings, labels=None) ->
logits``. With labels (training) the margin heads apply their margin to
each row's target class only; without labels (inference) they return
s * cos(theta), so prediction is by the largest cosine, with no margin.
``head.class_weights`` is the (n_classes, embedding_dim) matrix of class
directions for every head.
"""

from __future__ import annotations

import math
from contextlib import nullcontext

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import dry_run
from .models import check_images

# --- embedding networks --------------------------------------------------


def _conv_bn(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(),
    )


class EmbeddingNet(nn.Module):
    """An MNIST backbone that maps a (n, 1, 28, 28) batch to embeddings.

    preset "five_conv": the 3-D report's net, convs 1->64 (stride 2),
    64->256 (s2), 256->256, 256->64, 64->16 (s2), all 3x3, then linear
    256 -> embedding_dim; batch norm after every conv (the report's last
    conv had none). preset "two_conv": the 128-D report's net, convs 1->32
    and 32->64 (3x3, 2x2 max-pool each), then linear 3136 ->
    embedding_dim, with batch norm added after each conv (the report had
    none). width: multiplies every conv's channels (1.0 = the report's;
    smaller for a quick CPU run).
    """

    PRESETS = ("five_conv", "two_conv")

    def __init__(
        self,
        preset: str = "five_conv",
        embedding_dim: int = 3,
        width: float = 1.0,
    ):
        super().__init__()
        if preset not in self.PRESETS:
            raise ValueError(
                f"Unknown preset {preset!r}. Choose one of: "
                f"{', '.join(self.PRESETS)}."
            )

        def w(c):
            return max(1, round(c * width))

        if preset == "five_conv":
            self.features = nn.Sequential(
                _conv_bn(1, w(64), 2),
                _conv_bn(w(64), w(256), 2),
                _conv_bn(w(256), w(256)),
                _conv_bn(w(256), w(64)),
                _conv_bn(w(64), 16, 2),
                nn.Flatten(),
            )
            flat = 16 * 4 * 4  # 28 -> 14 -> 7 -> 4
        else:
            self.features = nn.Sequential(
                _conv_bn(1, w(32)),
                nn.MaxPool2d(2),
                _conv_bn(w(32), w(64)),
                nn.MaxPool2d(2),
                nn.Flatten(),
            )
            flat = w(64) * 7 * 7
        self.embedding = nn.Linear(flat, embedding_dim)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """X: (n, 1, 28, 28) -> embeddings (n, embedding_dim)."""
        check_images(self, X, 1, 28, fixed=True)
        return self.embedding(self.features(X))


class MarginClassifier(nn.Module):
    """A backbone producing embeddings and a head turning them into logits
    (see the heads below). ``model(X)`` gives inference logits (no
    margin); ``model(X, y)`` the training logits with the margin."""

    def __init__(self, backbone: nn.Module, head: nn.Module):
        super().__init__()
        self.backbone, self.head = backbone, head

    def forward(
        self, X: torch.Tensor, labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self.head(self.backbone(X), labels)

    def embed(self, X: torch.Tensor) -> torch.Tensor:
        return self.backbone(X)


# --- heads ---------------------------------------------------------------


class SoftmaxHead(nn.Module):
    """A plain linear layer: logits = W x + b (no normalisation)."""

    def __init__(self, embedding_dim: int, n_classes: int):
        super().__init__()
        self.linear = nn.Linear(embedding_dim, n_classes)

    def forward(
        self, embeddings: torch.Tensor, labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self.linear(embeddings)

    @property
    def class_weights(self) -> torch.Tensor:
        """(n_classes, embedding_dim): one weight vector per class."""
        return self.linear.weight

    def cosine(self, embeddings: torch.Tensor) -> torch.Tensor:
        """cos of the angle between each embedding and each class weight."""
        return F.linear(
            F.normalize(embeddings), F.normalize(self.linear.weight)
        )


def _full_precision(device: torch.device):
    """Autocast switched off where fit may switch it on (CUDA, CPU); older
    torch refuses autocast on other devices even to disable it."""
    if device.type in ("cuda", "cpu"):
        return torch.autocast(device.type, enabled=False)
    return nullcontext()


class _CosineHead(nn.Module):
    """Shared part of the margin heads: normalised weights, scale s."""

    def __init__(self, embedding_dim: int, n_classes: int, s: float, m: float):
        super().__init__()
        if s <= 0:
            raise ValueError(f"scale s must be positive, got {s}.")
        if not 0 <= m < math.pi / 2:
            raise ValueError(
                f"margin m must be in [0, pi/2) radians, got "
                f"{m}; typical values are 0.2-0.5."
            )
        self.s, self.m = s, m
        self.weight = nn.Parameter(torch.empty(n_classes, embedding_dim))
        nn.init.xavier_uniform_(self.weight)

    @property
    def class_weights(self) -> torch.Tensor:
        """(n_classes, embedding_dim): one weight vector per class."""
        return self.weight

    def cosine(self, embeddings: torch.Tensor) -> torch.Tensor:
        """(n, n_classes) cos(theta), clamped to [-1, 1]: L2-normalised
        embeddings against L2-normalised class weights, in float32.

        Under mixed precision (fit's default on a GPU) the product would
        run in bf16/fp16, whose 3-4 significant digits blur angles a
        margin of a few tenths of a radian is meant to separate, so the
        head always computes in float32.
        """
        dtype = torch.promote_types(embeddings.dtype, torch.float32)
        with _full_precision(embeddings.device):
            cos = F.linear(
                F.normalize(embeddings.to(dtype)),
                F.normalize(self.weight.to(dtype)),
            )
        return cos.clamp(-1.0, 1.0)

    def target_logit(self, cos_target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @property
    def logit_scale(self) -> float:
        """What multiplies every column's logit: s."""
        return self.s

    def forward(
        self, embeddings: torch.Tensor, labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        cos = self.cosine(embeddings)
        if labels is None:
            return self.logit_scale * cos
        target = cos.gather(1, labels[:, None])
        # Only the target column changes: the margin makes the true class
        # harder to win, never the others easier.
        cos = cos.scatter(1, labels[:, None], self.target_logit(target))
        return self.logit_scale * cos


class CosFaceHead(_CosineHead):
    """Additive cosine margin (CosFace): target logit s * (cos(theta) - m)."""

    def __init__(
        self,
        embedding_dim: int,
        n_classes: int,
        s: float = 30.0,
        m: float = 0.35,
    ):
        super().__init__(embedding_dim, n_classes, s, m)

    def target_logit(self, cos_target):
        return cos_target - self.m


class ArcMarginHead(_CosineHead):
    """Additive angular margin (ArcFace, Deng et al., 2019): target logit
    s * cos(theta + m).

    cos(theta + m) = cos(theta) cos(m) - sin(theta) sin(m), computed from
    the cosine (no acos and cos round trip; the test theta + m > pi is a
    comparison with cos(pi - m)); its slope is infinite at +-1 like acos's,
    hence the clamp in target_logit. Where
    theta + m would pass pi, cos(theta + m) stops decreasing and the loss
    would *reward* a larger angle; there the standard fallback
    cos(theta) - m sin(m) keeps the logit decreasing (or, with
    easy_margin, the margin is dropped where cos(theta) < 0).
    """

    def __init__(
        self,
        embedding_dim: int,
        n_classes: int,
        s: float = 30.0,
        m: float = 0.5,
        easy_margin: bool = False,
    ):
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
        return torch.where(
            cos_target > self.threshold, phi, cos_target - self.fallback_shift
        )


class ScaleDividedArcHead(_CosineHead):
    """The 3-D report's head, written anew to measure its defect: it
    divides cos(theta) by s *before* the margin, then multiplies by s
    again inside the exponential.

    Its target probability is exp(s phi) / (exp(s phi) + sum over the
    other classes of exp(cos)), with phi = c cos(m) - sqrt(1 - c^2) sin(m)
    at c = cos(theta) / s. As logits (cross-entropy gives the same loss):
    every other class gets cos(theta), so the scale is effectively 1; the
    target gets s phi ~ cos(theta) cos(m) - s sin(m), since c is tiny and
    sqrt(1 - c^2) ~ 1: the "margin" is a shift of about s sin(m) (2.0 at
    the report's s=20, m=0.1), nearly the same at every angle. The loss
    can never fall below ``loss_floor(n_classes)`` (ln 10 = 2.30 for the
    report's ten digits), however well the classes separate. Without
    labels it returns cos(theta): prediction by the largest cosine, as the
    report's argmax was (no fallback: theta + m cannot pass pi here).
    """

    def __init__(
        self,
        embedding_dim: int,
        n_classes: int,
        s: float = 20.0,
        m: float = 0.1,
    ):
        super().__init__(embedding_dim, n_classes, s, m)

    # The scale is lost: every column's logit is its bare cosine, and the
    # target's s sits inside target_logit.
    logit_scale = 1.0

    def target_logit(self, cos_target):
        c = cos_target / self.s
        sin = (1.0 - c.pow(2)).sqrt()  # c is at most 1/s: never near 0
        return self.s * (c * math.cos(self.m) - sin * math.sin(self.m))

    def loss_floor(self, n_classes: int) -> float:
        """The lowest cross-entropy this head allows: the target at
        cos(theta) = 1 and every other class at cos(theta) = -1."""
        best = float(self.target_logit(torch.tensor(1.0, dtype=torch.float64)))
        return math.log1p((n_classes - 1) * math.exp(-1.0 - best))


HEADS = {
    "softmax": SoftmaxHead,
    "cosface": CosFaceHead,
    "arcface": ArcMarginHead,
    "arcface_divided": ScaleDividedArcHead,
}


def make_head(
    name: str, embedding_dim: int, n_classes: int, **options
) -> nn.Module:
    """A head by name: softmax, cosface, arcface (options: s, m, ...) or
    arcface_divided (the 3-D report's head, ``ScaleDividedArcHead``)."""
    if name not in HEADS:
        raise ValueError(
            f"Unknown head {name!r}. Choose one of: {', '.join(HEADS)}."
        )
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


@torch.no_grad()
def margin_accuracy(
    model: nn.Module, loader, labels_to_head: bool = False
) -> float:
    """Accuracy of a MarginClassifier over ``loader``.

    labels_to_head=False: prediction by the largest cosine, no margin
    (right: at test time the label is what we want to find).
    labels_to_head=True: the true labels go into the head, as the 128-D
    report's ``evaluate()`` did, so the margin lowers the true class's
    logit before the argmax: a wrong, lower accuracy.
    """
    was_training = model.training
    model.eval()
    correct = total = 0
    try:
        for X, y in dry_run.evaluation(loader):
            logits = model(X, y) if labels_to_head else model(X)
            correct += int((logits.argmax(1) == y).sum())
            total += len(y)
    finally:
        model.train(was_training)
    return correct / total


def class_centre_angles(
    embeddings: torch.Tensor, labels: torch.Tensor, n_classes: int
) -> torch.Tensor:
    """(n_classes, n_classes) angles in degrees between the mean directions
    of each class's L2-normalised embeddings."""
    centres = _class_centres(embeddings, labels, n_classes)
    cos = (centres @ centres.T).clamp(-1, 1)
    return torch.rad2deg(torch.acos(cos))


def nearest_class_weight(
    embeddings: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """(n_classes,) for each class, the index of the class weight whose
    direction is closest to the class's mean embedding direction; class
    c "sits on its own arrow" where the result is c."""
    centres = _class_centres(embeddings, labels, len(weights))
    return (centres @ F.normalize(weights.double()).T).argmax(1)


def _class_centres(embeddings, labels, n_classes) -> torch.Tensor:
    """(n_classes, d) unit mean direction of each class's unit embeddings."""
    unit = F.normalize(embeddings.double())
    return torch.stack(
        [
            F.normalize(unit[labels == c].mean(0), dim=0)
            for c in range(n_classes)
        ]
    )


def verification_pairs(
    embeddings: torch.Tensor, labels: torch.Tensor, n_pairs: int, seed: int = 0
):
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
