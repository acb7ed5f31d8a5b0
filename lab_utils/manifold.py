"""PCA and t-SNE written out with torch tensor ops (no scikit-learn).

Both are estimators in the scikit-learn manner (``fit`` returns self,
learned state ends in ``_``), with a plain function beside each for the
common call. They run on the CPU or a GPU, on whatever device X lives.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from . import dry_run


def _as_tensor(X, dtype=torch.float64) -> torch.Tensor:
    if isinstance(X, np.ndarray):
        X = torch.from_numpy(X)
    if X.dim() != 2:
        raise ValueError(
            f"X must be a 2-D (n_samples, n_features) array, "
            f"got shape {tuple(X.shape)}."
        )
    return X.to(dtype)


class PCA:
    """Principal component analysis by the SVD of the centred data.

    The SVD of X - mean gives the components directly, without forming
    X^T X, whose condition number is the square of X's: small components
    keep their precision. Signs are fixed so that the largest-magnitude
    entry of each component is positive, so results do not flip between
    runs or libraries.
    """

    def __init__(self, n_components: int):
        self.n_components = n_components

    def fit(self, X) -> PCA:
        X = _as_tensor(X)
        n, d = X.shape
        if not 1 <= self.n_components <= min(n, d):
            raise ValueError(
                f"n_components must be between 1 and "
                f"min(n_samples, n_features) = {min(n, d)}, "
                f"got {self.n_components}."
            )
        self.mean_ = X.mean(dim=0)
        U, S, Vt = torch.linalg.svd(X - self.mean_, full_matrices=False)
        biggest = Vt.abs().argmax(dim=1)
        signs = torch.sign(Vt[torch.arange(len(Vt)), biggest])
        Vt = Vt * signs[:, None]
        variance = S.pow(2) / (n - 1)
        k = self.n_components
        self.components_ = Vt[:k]
        self.explained_variance_ = variance[:k]
        self.explained_variance_ratio_ = variance[:k] / variance.sum()
        self.singular_values_ = S[:k]
        return self

    def transform(self, X) -> torch.Tensor:
        """(n, d) -> (n, n_components) coordinates."""
        return (_as_tensor(X) - self.mean_) @ self.components_.T

    def fit_transform(self, X) -> torch.Tensor:
        return self.fit(X).transform(X)

    def inverse_transform(self, Z) -> torch.Tensor:
        """(n, n_components) -> (n, d): the reconstruction from k
        components."""
        return _as_tensor(Z) @ self.components_ + self.mean_


def pca(X, k: int) -> torch.Tensor:
    """X (n, d) projected on its first ``k`` principal components."""
    return PCA(k).fit_transform(X)


def squared_distances(
    X: torch.Tensor, out: torch.Tensor | None = None
) -> torch.Tensor:
    """(n, n) squared Euclidean distances, clamped at 0 (rounding), written
    into ``out`` when given (t-SNE reuses one buffer every iteration)."""
    sq = X.pow(2).sum(dim=1)
    D = torch.mm(X, X.T, out=out)
    D.mul_(-2.0).add_(sq[:, None]).add_(sq[None, :])
    D.fill_diagonal_(0.0)
    return D.clamp_min_(0.0)


def conditional_probabilities(
    D: torch.Tensor, perplexity: float, tol: float = 1e-5, max_steps: int = 100
) -> tuple[torch.Tensor, torch.Tensor]:
    """Row-wise Gaussian affinities p_{j|i} whose entropy is
    log(perplexity), by a binary search on every row's precision
    beta_i = 1 / (2 sigma_i^2) at once.

    D: (n, n) squared distances. Returns (P (n, n) with rows summing to 1,
    beta (n,)).
    """
    n = D.shape[0]
    target = math.log(perplexity)
    beta = torch.ones(n, dtype=D.dtype, device=D.device)
    lo = torch.zeros_like(beta)
    hi = torch.full_like(beta, math.inf)
    # Shifting each row by its smallest distance leaves p_{j|i} unchanged
    # and keeps exp() from underflowing to an all-zero row.
    off = D + torch.diag(
        torch.full((n,), math.inf, dtype=D.dtype, device=D.device)
    )
    D = D - off.min(dim=1, keepdim=True).values
    eye = torch.eye(n, dtype=torch.bool, device=D.device)
    for _ in range(max_steps):
        P = torch.exp(-D * beta[:, None]).masked_fill_(eye, 0.0)
        total = P.sum(dim=1).clamp_min(1e-300)
        entropy = total.log() + beta * (D * P).sum(dim=1) / total
        diff = entropy - target
        if diff.abs().max() < tol:
            break
        # Entropy too high: the Gaussian is too wide, raise the precision.
        too_wide = diff > 0
        lo = torch.where(too_wide, beta, lo)
        hi = torch.where(too_wide, hi, beta)
        beta = torch.where(hi.isinf(), beta * 2.0, (lo + hi) / 2.0)
    return P / total[:, None], beta


def joint_probabilities(X, perplexity: float = 30.0) -> torch.Tensor:
    """Symmetric t-SNE affinities P = (P_cond + P_cond^T) / (2n)."""
    X = _as_tensor(X)
    n = X.shape[0]
    if not 1.0 < perplexity < n:
        raise ValueError(
            f"perplexity must be between 1 and n_samples - 1 "
            f"= {n - 1}, got {perplexity}."
        )
    P, _ = conditional_probabilities(
        squared_distances(X),
        perplexity,
        max_steps=dry_run.tsne_iterations(100),
    )
    P = (P + P.T) / (2.0 * n)
    return P.clamp_min_(1e-12)


class TSNE:
    """Exact t-SNE (van der Maaten and Hinton, 2008), vectorised.

    Gaussian affinities at the target perplexity in the input space,
    Student-t affinities in the embedding, gradient descent on KL(P || Q)
    with early exaggeration, a momentum switch and per-parameter gains, as
    in the reference implementation and scikit-learn. Memory is a handful
    of (n, n) matrices: about 2 GB at n = 10,000 in float32.

    learning_rate: "auto" = max(n / early_exaggeration / 4, 50).
    init: "pca" (scaled to std 1e-4) or "random".
    device: where to compute (None: where X lives); a GPU does 10,000
    points in seconds, a 2-core CPU in minutes. embedding_ comes back
    where X was. In a dry run (``$LAB_DRY_RUN``) only a few iterations
    run.
    """

    def __init__(
        self,
        n_components: int = 2,
        perplexity: float = 30.0,
        early_exaggeration: float = 12.0,
        learning_rate: float | str = "auto",
        n_iter: int = 1000,
        exaggeration_iter: int = 250,
        init: str = "pca",
        seed: int = 0,
        log_every: int = 50,
        device=None,
    ):
        self.n_components = n_components
        self.perplexity = perplexity
        self.early_exaggeration = early_exaggeration
        self.learning_rate = learning_rate
        self.n_iter = n_iter
        self.exaggeration_iter = exaggeration_iter
        self.init = init
        self.seed = seed
        self.log_every = log_every
        self.device = device

    def fit(self, X) -> TSNE:
        X = _as_tensor(X)
        origin = X.device
        if self.device is not None:
            X = X.to(self.device)
        n = X.shape[0]
        P = joint_probabilities(X, self.perplexity).to(torch.float32)
        lr = (
            max(n / self.early_exaggeration / 4.0, 50.0)
            if self.learning_rate == "auto"
            else float(self.learning_rate)
        )
        Y = self._initial_embedding(X).to(torch.float32)
        update = torch.zeros_like(Y)
        gains = torch.ones_like(Y)
        work, work2 = torch.empty_like(P), torch.empty_like(P)
        self.kl_history_ = []
        n_iter = dry_run.tsne_iterations(self.n_iter)
        for it in range(n_iter):
            early = it < self.exaggeration_iter
            exaggeration = self.early_exaggeration if early else 1.0
            momentum = 0.5 if early else 0.8
            # The last iteration is always logged, so a short run has a
            # history too.
            last = bool(self.log_every) and it == n_iter - 1
            log = self._log_now(it) or last
            grad, kl = _kl_gradient(P, Y, exaggeration, log, work, work2)
            # Gains grow where the gradient keeps its direction relative to
            # the last step and shrink where it flips: a cheap adaptive rate.
            same = (update * grad) < 0.0
            gains = torch.where(same, gains + 0.2, gains * 0.8)
            gains.clamp_(min=0.01)
            update = momentum * update - lr * gains * grad
            Y = Y + update
            if kl is not None:
                self.kl_history_.append((it + 1, kl))
        self.kl_divergence_ = _kl_gradient(P, Y, 1.0, True, work, work2)[1]
        self.embedding_ = Y.to(origin)
        self.learning_rate_ = lr
        self.n_iter_ = n_iter
        return self

    def _log_now(self, it: int) -> bool:
        return bool(self.log_every) and (it + 1) % self.log_every == 0

    def _initial_embedding(self, X: torch.Tensor) -> torch.Tensor:
        if self.init == "pca":
            Y = pca(X, self.n_components)
            return Y / Y[:, 0].std(correction=0) * 1e-4
        if self.init == "random":
            g = torch.Generator(device="cpu").manual_seed(self.seed)
            Y = 1e-4 * torch.randn(
                X.shape[0], self.n_components, generator=g, dtype=torch.float64
            )
            return Y.to(X.device)
        raise ValueError(f"init must be 'pca' or 'random', got {self.init!r}.")

    def fit_transform(self, X) -> torch.Tensor:
        return self.fit(X).embedding_


def _kl_gradient(
    P: torch.Tensor,
    Y: torch.Tensor,
    exaggeration: float,
    want_kl: bool,
    work: torch.Tensor | None = None,
    work2: torch.Tensor | None = None,
):
    """Gradient of KL(exaggeration * P || Q) at Y, and KL(P || Q) itself,
    the true objective without exaggeration: a history of it is one curve
    throughout, with no cliff where exaggeration ends.

    work, work2: (n, n) buffers reused across iterations. Allocating fresh
    n x n matrices every step makes the allocator map and zero new pages
    each time, which costs more than the arithmetic once n is in the
    thousands; with the buffers, every step works in place.
    """
    if work is None:
        work, work2 = torch.empty_like(P), torch.empty_like(P)
    # Student-t kernel 1 / (1 + |y_i - y_j|^2), in place in ``work``.
    num = squared_distances(Y, out=work).add_(1.0).reciprocal_()
    num.fill_diagonal_(0.0)
    total = num.sum()
    W = torch.mul(num, -1.0 / total, out=work2)  # -q_ij
    W.add_(P, alpha=exaggeration).mul_(num)  # (p_ij - q_ij) * num_ij
    grad = 4.0 * (W.sum(dim=1, keepdim=True) * Y - W @ Y)
    kl = None
    if want_kl:
        Q = torch.div(num, total, out=work2).clamp_min_(1e-12)
        kl = float((P * (P / Q).log()).sum())
    return grad, kl


def kl_gradient(
    P: torch.Tensor, Y: torch.Tensor, exaggeration: float = 1.0
) -> torch.Tensor:
    """Gradient (n, n_components) of KL(exaggeration * P || Q) with
    respect to the embedding Y (n, n_components); P: (n, n) joint
    affinities. The t-SNE paper's equation 5."""
    return _kl_gradient(P, Y, exaggeration, False)[0]


def tsne(
    X, n_components: int = 2, perplexity: float = 30.0, **options
) -> torch.Tensor:
    """The t-SNE embedding (n, n_components) of X (n, d); options as in
    :class:`TSNE`."""
    return TSNE(n_components, perplexity, **options).fit_transform(X)
