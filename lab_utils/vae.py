"""A convolutional variational auto-encoder and what goes with it: the
reparameterisation, the KL term written out, the loss, a training step
for ``fit``, and latent interpolation (linear and spherical)."""

from __future__ import annotations

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


def vae_loss(reconstruction, X, mean, log_var, beta: float = 1.0) -> dict:
    """The report's objective: per-pixel mean squared error plus beta times
    the mean per-image KL. With MSE, this is (up to constants) the
    negative ELBO of a Gaussian decoder whose variance beta sets, which is
    why beta trades sharp reconstructions against a usable prior."""
    recon = F.mse_loss(reconstruction, X)
    kl = kl_divergence(mean, log_var).mean()
    return {"loss": recon + beta * kl, "recon": recon, "kl": kl}


def vae_step(beta: float):
    """A ``fit`` step for a ConvVAE with KL weight ``beta``: logs loss,
    reconstruction MSE and KL (nats per image)."""

    def step(model, batch):
        X = batch[0]
        reconstruction, mean, log_var = model(X)
        return vae_loss(reconstruction, X, mean, log_var, beta)

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
