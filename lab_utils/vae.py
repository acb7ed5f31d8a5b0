"""A convolutional variational auto-encoder and what goes with it: the
reparameterisation, the KL term written out, the loss, a training step
for ``fit``, and latent interpolation (linear and spherical)."""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .models import check_images


class ConvVAE(nn.Module):
    """Encoder: stride-2 3x3 convs (channels ``widths``), then FC to
    ``hidden``, then two heads for the mean and log-variance of q(z|x).
    Decoder: the mirror image, FC then 4x4 stride-2 transposed convs, and
    a sigmoid for pixels in [0, 1].

    The default is the report's model: 3 -> 16 -> 32 on 32x32 RGB, FC
    2048 -> 256, latent 120.
    """

    def __init__(
        self,
        image_size: int = 32,
        channels: int = 3,
        latent_dim: int = 120,
        widths: tuple[int, ...] = (16, 32),
        hidden: int = 256,
    ):
        super().__init__()
        side = image_size // 2 ** len(widths)
        if side * 2 ** len(widths) != image_size:
            raise ValueError(
                f"image_size {image_size} must be divisible by"
                f" {2 ** len(widths)} (one halving per conv)."
            )
        self.latent_dim = latent_dim
        self.channels, self.image_size = channels, image_size
        layers, c = [], channels
        for w in widths:
            layers += [nn.Conv2d(c, w, 3, stride=2, padding=1), nn.ReLU()]
            c = w
        self.encoder = nn.Sequential(
            *layers,
            nn.Flatten(),
            nn.Linear(c * side * side, hidden),
            nn.ReLU(),
        )
        self.mean = nn.Linear(hidden, latent_dim)
        self.log_var = nn.Linear(hidden, latent_dim)
        layers = []
        for w_in, w_out in zip(widths[::-1], widths[::-1][1:] + (channels,)):
            layers += [
                nn.ConvTranspose2d(w_in, w_out, 4, stride=2, padding=1),
                nn.ReLU(),
            ]
        layers[-1] = nn.Sigmoid()
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, hidden),
            nn.ReLU(),
            nn.Linear(hidden, c * side * side),
            nn.ReLU(),
            nn.Unflatten(1, (c, side, side)),
            *layers,
        )

    def encode(self, X: torch.Tensor):
        """X (n, c, h, w) in [0, 1] -> mean and log-variance, (n, latent)."""
        check_images(self, X, self.channels, self.image_size)
        h = self.encoder(X)
        return self.mean(h), self.log_var(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (n, latent) -> images (n, c, h, w) in [0, 1]."""
        return self.decoder(z)

    def forward(self, X: torch.Tensor):
        """Reconstruction of X through a sampled z, with q's parameters:
        (reconstruction, mean, log_var)."""
        mean, log_var = self.encode(X)
        return self.decode(reparameterize(mean, log_var)), mean, log_var

    def sample(self, n: int, generator: torch.Generator | None = None):
        """n images decoded from the prior N(0, I)."""
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator, device=device)
        return self.decode(z)


def reparameterize(
    mean: torch.Tensor,
    log_var: torch.Tensor,
    generator: torch.Generator | None = None,
):
    """z = mean + sigma * eps with eps ~ N(0, I): the randomness moves into
    eps, so gradients flow to mean and log_var."""
    eps = torch.randn(
        mean.shape, generator=generator, device=mean.device, dtype=mean.dtype
    )
    return mean + torch.exp(0.5 * log_var) * eps


def kl_divergence(mean: torch.Tensor, log_var: torch.Tensor):
    """KL(N(mean, exp(log_var)) || N(0, I)) per sample, in nats:
    -1/2 * sum(1 + log_var - mean^2 - exp(log_var))."""
    return -0.5 * (1 + log_var - mean.pow(2) - log_var.exp()).sum(dim=1)


# The decoder's likelihood: every pixel value (on the [0, 1] scale) is
# Gaussian around the decoded one with this standard deviation, about
# the typical reconstruction error of this small model (a calibrated
# decoder: Rybkin et al., 2021). It sets what beta = 1 means.
DECODER_SIGMA = 0.1


LIKELIHOODS = ("gaussian", "bernoulli")


def _check_likelihood(likelihood: str) -> None:
    if likelihood not in LIKELIHOODS:
        raise ValueError(
            f"Unknown likelihood {likelihood!r}: choose 'gaussian' (a "
            f"squared error, scaled by sigma) or 'bernoulli' (binary "
            f"cross-entropy)."
        )


def vae_loss(
    reconstruction,
    X,
    mean,
    log_var,
    beta: float = 1.0,
    sigma: float = DECODER_SIGMA,
    likelihood: str = "gaussian",
) -> dict:
    """The VAE's objective per image, in nats, with a Gaussian decoder
    p(x | z) = N(x_hat, sigma^2 I) over the D pixel values in [0, 1].

    recon = -log p(x | z) = |x - x_hat|^2 / (2 sigma^2) + D log(sigma
    sqrt(2 pi)); kl = KL(q(z | x) || N(0, I)); loss = recon + beta * kl,
    so that beta = 1 is the textbook VAE, whose loss is the negative ELBO
    (``nelbo``, logged at every beta). Also logged: ``mse``, the mean
    squared error per pixel value. All are means over the batch; recon
    and nelbo can be negative, as a density over continuous values can
    exceed 1 (``bits_per_dim`` turns them into a positive rate).

    likelihood="bernoulli": recon is the binary cross-entropy summed over
    the pixel values instead (sigma unused), as if each value in [0, 1]
    were the probability of a coin. For values between 0 and 1 that is
    not a normalised density, so its ``nelbo`` is on another scale than
    the Gaussian's: compare the two by ``mse`` and by eye.
    """
    _check_likelihood(likelihood)
    dims = X[0].numel()
    squared = (reconstruction - X).pow(2).flatten(1).sum(1)
    if likelihood == "gaussian":
        recon = squared / (2 * sigma**2) + dims * math.log(
            sigma * math.sqrt(2 * math.pi)
        )
    else:
        # Autocast refuses binary_cross_entropy in half precision: its
        # logarithms need float32 near 0 and 1.
        with torch.autocast(X.device.type, enabled=False):
            recon = F.binary_cross_entropy(
                reconstruction.float(), X.float(), reduction="none"
            )
        recon = recon.flatten(1).sum(1)
    kl = kl_divergence(mean, log_var)
    return {
        "loss": (recon + beta * kl).mean(),
        "recon": recon.mean(),
        "kl": kl.mean(),
        "nelbo": (recon + kl).mean(),
        "mse": squared.mean() / dims,
    }


def bits_per_dim(nelbo: float, dims: int, levels: int = 256) -> float:
    """The negative ELBO (nats per image of ``dims`` values in [0, 1]) as
    bits per value of the ``levels``-level (8-bit) image: each value's
    bin of width 1/levels adds log2(levels) bits to the density's rate."""
    return nelbo / (dims * math.log(2)) + math.log2(levels)


def vae_step(
    beta: float,
    sigma: float = DECODER_SIGMA,
    likelihood: str = "gaussian",
    loss=None,
):
    """A ``fit`` step for a ConvVAE with KL weight ``beta`` and decoder
    standard deviation ``sigma`` (or a ``"bernoulli"`` decoder): logs
    loss, recon, kl, nelbo (nats per image) and mse (per pixel value);
    see ``vae_loss``.

    loss: another objective to train on, ``loss(reconstruction, X, mean,
    log_var, beta, sigma)`` -> a scalar tensor (a student's, in Lab 6's
    exercise). It replaces ``loss`` only: recon, kl, nelbo and mse are
    still the reference's, so a wrong objective shows in them."""
    if not beta >= 0:
        raise ValueError(
            f"beta, the KL weight, must be 0 or more, got {beta!r} "
            f"(1 is the textbook VAE)."
        )
    if not sigma > 0:
        raise ValueError(
            f"sigma, the decoder's standard deviation per pixel value, "
            f"must be positive, got {sigma!r} (0.1 is a typical choice)."
        )
    _check_likelihood(likelihood)

    if loss is not None and likelihood != "gaussian":
        raise ValueError(
            "A loss of your own is for the Gaussian decoder (the lab's "
            "exercise); use likelihood='gaussian' with it."
        )

    def step(model, batch):
        X = batch[0]
        reconstruction, mean, log_var = model(X)
        out = vae_loss(
            reconstruction, X, mean, log_var, beta, sigma, likelihood
        )
        if loss is not None:
            out["loss"] = loss(reconstruction, X, mean, log_var, beta, sigma)
        return out

    return step


def slerp(z1: torch.Tensor, z2: torch.Tensor, alpha: float) -> torch.Tensor:
    """Spherical interpolation: along the great circle between z1 and z2,
    with the norm interpolated linearly. Under a Gaussian prior, typical
    codes lie near a sphere of radius sqrt(d); the straight line between
    two of them cuts inside it, through codes the decoder rarely saw."""
    n1, n2 = z1.norm(dim=-1, keepdim=True), z2.norm(dim=-1, keepdim=True)
    u1, u2 = z1 / n1, z2 / n2
    omega = torch.acos((u1 * u2).sum(-1, keepdim=True).clamp(-1, 1))
    so = torch.sin(omega)
    if float(so.abs().min()) < 1e-6:  # (anti)parallel: fall back to lerp
        direction = (1 - alpha) * u1 + alpha * u2
    else:
        direction = (
            torch.sin((1 - alpha) * omega) * u1 + torch.sin(alpha * omega) * u2
        ) / so
    return direction * ((1 - alpha) * n1 + alpha * n2)


def farthest_pairs(codes: torch.Tensor, n_pairs: int) -> list[tuple]:
    """Up to ``n_pairs`` disjoint index pairs (i, j), i < j, of the rows of
    ``codes`` (n, latent) furthest apart in angle, the furthest first:
    where linear and spherical interpolation differ most."""
    unit = F.normalize(codes.double(), dim=1)
    cos = unit @ unit.T
    n = len(codes)
    order = sorted(
        (float(cos[i, j]), i, j) for i in range(n) for j in range(i + 1, n)
    )
    pairs, used = [], set()
    for _, i, j in order:
        if len(pairs) == n_pairs:
            break
        if i not in used and j not in used:
            pairs.append((i, j))
            used |= {i, j}
    return pairs


def interpolate(
    z1: torch.Tensor, z2: torch.Tensor, alphas, method: str = "linear"
) -> torch.Tensor:
    """Codes between z1 and z2 (each (latent,)) at each alpha: (len(alphas),
    latent). method: linear ((1 - a) z1 + a z2) or slerp."""
    if method == "linear":
        return torch.stack([(1 - a) * z1 + a * z2 for a in alphas])
    if method == "slerp":
        return torch.stack([slerp(z1, z2, a) for a in alphas])
    raise ValueError(f"method must be 'linear' or 'slerp', got {method!r}.")
