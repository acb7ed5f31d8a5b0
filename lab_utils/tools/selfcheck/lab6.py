"""Self-checks of Lab 6: the VAE."""

from __future__ import annotations

import math

import torch

from ...vae import ConvVAE, kl_divergence, vae_loss
from ._core import (
    Case,
    _call,
    _images,
    _shape,
    compare,
    diagnosis,
    matches,
    slack,
)


def _encoded_faces(data_dir):
    """mean and log_var of a seeded, untrained ConvVAE's encoder for 8
    real LFW faces."""

    faces = _images("lfw", 8, data_dir)
    torch.manual_seed(0)
    model = ConvVAE(32, faces.X.shape[1]).double().eval()
    with torch.no_grad():
        return model.encode(faces.X.to(torch.float64) / 255)


def check_reparameterize(fn, data_dir) -> list[Case]:
    mean, log_var = _encoded_faces(data_dir)
    case = Case(
        f"encoder outputs for 8 LFW faces, mean and log_var {_shape(mean)}"
    )
    m = mean.clone().requires_grad_(True)
    lv = log_var.clone().requires_grad_(True)
    z, case.problems = _call(fn, m, lv)
    if case.problems:
        return [case]
    case.problems = compare("z", z, mean, atol=math.inf)
    if case.problems:
        return [case]
    if not z.requires_grad:
        case.problems.append(
            "z carries no gradient to mean and log_var: "
            "build it from them with tensor operations."
        )
        return [case]
    z.sum().backward()
    if m.grad is None or lv.grad is None:
        case.problems.append("z does not depend on both mean and log_var.")
        return [case]
    if not m.grad.any():
        case.problems.append(
            "no gradient reaches mean: a sampler such as torch.normal "
            "draws z without a path back to its arguments. Draw the noise "
            "alone (torch.randn_like) and build z = mean + sigma * eps."
        )
        return [case]
    # The gradients come back in float64 (mean's dtype) even where z was
    # computed in float32: they carry z's rounding.
    tol = max(1e-9, slack(z, mean))
    case.problems += compare(
        "dz/d(mean)", m.grad, torch.ones_like(mean), atol=tol
    )
    shift = z.detach().double() - mean
    problems = compare("dz/d(log_var)", lv.grad, 0.5 * shift, atol=tol)
    if problems:
        problems.append(
            "z = mean + sigma * eps with sigma = exp(0.5 * log_var) has "
            "dz/d(log_var) = (z - mean) / 2"
        )
        with diagnosis():
            if matches(lv.grad, shift, atol=tol):
                problems[-1] += (
                    "; yours is z - mean, as if sigma = exp(log_var), the "
                    "variance, not the standard deviation"
                )
            elif matches(lv.grad, shift / log_var, atol=tol):
                problems[-1] += (
                    "; yours is (z - mean) / log_var, as if sigma were "
                    "log_var itself, which is the log of the variance"
                )
        problems[-1] += "."
    case.problems += problems

    draws = Case(
        "20,000 draws for one face: eps = (z - mean) / sigma "
        "should be standard normal"
    )
    big_mean = mean[:1].expand(20_000, -1).contiguous()
    big_log_var = log_var[:1].expand(20_000, -1).contiguous()
    z, draws.problems = _call(fn, big_mean, big_log_var)
    if not draws.problems:
        draws.problems += _noise_problems(z, big_mean, big_log_var)
        second, _ = _call(fn, big_mean[:2], big_log_var[:2])
        if (
            isinstance(second, torch.Tensor)
            and torch.equal(second, z[:2])
            and not torch.equal(second, big_mean[:2].to(second.dtype))
        ):
            draws.problems.append(
                "two calls gave the same z: draw fresh noise on every call."
            )
    return [case, draws]


def _noise_problems(z, mean, log_var) -> list[str]:
    """Whether eps = (z - mean) / sigma of many draws for one face looks
    standard normal, and if not, what it looks like instead."""
    eps = (z.detach().double() - mean) / torch.exp(0.5 * log_var)
    low, high = eps.mean(0), eps.std(0)
    # 20k draws: the standard error of a mean is 0.007, of a std 0.005.
    if low.abs().max() <= 0.05 and (high - 1).abs().max() <= 0.05:
        return []
    problems = [
        f"eps = (z - mean) / sigma has mean up to "
        f"{low.abs().max():.2f} and std between {high.min():.2f} and "
        f"{high.max():.2f} over 20,000 draws; it should be N(0, 1)."
    ]
    if eps.abs().max() < 1e-9:
        problems.append(
            "z equals mean: no noise is added (z = mean + sigma * eps)."
        )
    elif high.max() < 1e-9:
        problems.append(
            "every row got the same noise: draw one eps per row, of "
            "mean's shape (torch.randn_like(mean))."
        )
    elif (low - 0.5).abs().max() < 0.05 and (high - 12**-0.5).abs().max() < (
        0.05
    ):
        problems.append(
            "eps is uniform on [0, 1]: use torch.randn, not torch.rand."
        )
    return problems


def check_kl_divergence(fn, data_dir) -> list[Case]:

    mean, log_var = _encoded_faces(data_dir)
    g = torch.Generator().manual_seed(0)
    cases = []
    for label, m, lv in (
        ("encoder outputs for 8 LFW faces", mean, log_var),
        (
            "the same, spread wider (mean x 3, log_var + N(0, 1))",
            3 * mean,
            log_var
            + torch.randn(log_var.shape, generator=g, dtype=log_var.dtype),
        ),
    ):
        case = Case(f"{label}, {_shape(mean)}")
        got, case.problems = _call(fn, m.clone(), lv.clone())
        if not case.problems:
            expected = kl_divergence(m, lv)
            case.problems = compare(
                "KL per face", got, expected, atol=1e-9, rtol=1e-9
            )
            if case.problems:
                with diagnosis():
                    case.problems += _kl_slips(got, expected, m.shape[1])
            if isinstance(got, torch.Tensor) and got.ndim == 0:
                case.problems.append(
                    "it returned one number: return one "
                    "KL per face, summed over the latent "
                    "dimensions only."
                )
        cases.append(case)
    return cases


def _kl_slips(got, expected, dims) -> list[str]:
    """What a wrong KL per face did, where the numbers single it out."""
    if matches(got, -expected, atol=1e-9, rtol=1e-9):
        return [
            "it is negative, and a KL divergence never is: the sign is "
            "flipped (-1/2 times the sum)."
        ]
    if matches(got, expected / dims, atol=1e-9, rtol=1e-9):
        return [
            "it is averaged over the latent dimensions: sum over them (dim=1)."
        ]
    if isinstance(got, torch.Tensor) and bool((got < 0).any()):
        return [
            "some values are negative, and a KL divergence never is: "
            "check the sign of each term."
        ]
    return []


# --- the VAE's loss ------------------------------------------------------


def _decoded_faces(data_dir):
    """8 real LFW faces X, and a seeded, untrained ConvVAE's
    reconstruction, mean and log_var for them (float64)."""
    faces = _images("lfw", 8, data_dir)
    X = faces.X.to(torch.float64) / 255
    torch.manual_seed(0)
    model = ConvVAE(32, faces.X.shape[1]).double().eval()
    with torch.no_grad():
        mean, log_var = model.encode(X)
        return X, model.decode(mean), mean, log_var


def _loss_slips(reconstruction, X, mean, log_var, beta, sigma) -> dict:
    """The loss with each typical slip, by what the student should read."""
    dims = X[0].numel()
    squared = (reconstruction - X).pow(2).flatten(1).sum(1)
    constant = dims * math.log(sigma * math.sqrt(2 * math.pi))
    recon = squared / (2 * sigma**2) + constant
    kl = kl_divergence(mean, log_var)
    return {
        "the reconstruction term lacks D log(sigma sqrt(2 pi)), the "
        "Gaussian's normalising constant (D: the number of pixel "
        "values)": (squared / (2 * sigma**2) + beta * kl).mean(),
        "the squared error is not divided by 2 sigma^2": (
            squared + constant + beta * kl
        ).mean(),
        "sigma is not squared in 2 sigma^2": (
            squared / (2 * sigma) + constant + beta * kl
        ).mean(),
        "the squared error is averaged over the pixel values; the "
        "likelihood sums over them": (
            squared / dims / (2 * sigma**2) + constant + beta * kl
        ).mean(),
        "beta multiplies the reconstruction term; it weighs the KL": (
            beta * recon + kl
        ).mean(),
        "the KL term is subtracted; it is added (the KL is never negative)": (
            recon - beta * kl
        ).mean(),
        "the KL is averaged over the latent dimensions; it sums over them": (
            recon + beta * kl / mean.shape[1]
        ).mean(),
        "it is summed over the faces; the loss is their mean": (
            recon + beta * kl
        ).sum(),
    }


def check_vae_objective(fn, data_dir) -> list[Case]:
    X, reconstruction, mean, log_var = _decoded_faces(data_dir)
    g = torch.Generator().manual_seed(1)
    spread = log_var + torch.randn(log_var.shape, generator=g, dtype=X.dtype)
    cases = []
    for label, m, lv, beta, sigma in (
        ("the encoder's codes, beta 1, sigma 0.1", mean, log_var, 1.0, 0.1),
        ("codes spread wider, beta 4, sigma 0.2", 3 * mean, spread, 4.0, 0.2),
    ):
        case = Case(
            f"8 LFW faces {_shape(X)} and an untrained VAE's "
            f"reconstructions, {label}"
        )
        cases.append(case)
        inputs = [
            t.clone().requires_grad_(True) for t in (reconstruction, m, lv)
        ]
        got, case.problems = _call(
            fn, inputs[0], X.clone(), inputs[1], inputs[2], beta, sigma
        )
        if case.problems:
            continue
        if not isinstance(got, torch.Tensor) or got.numel() != 1:
            what = (
                f"shape {_shape(got)}"
                if isinstance(got, torch.Tensor)
                else type(got).__name__
            )
            case.problems.append(
                f"it returned a {what}; it should return one number as a "
                f"tensor (the mean over the faces), which training calls "
                f"backward() on."
            )
            continue
        if not got.requires_grad:
            case.problems.append(
                "the loss carries no gradient: compute it with tensor "
                "operations from the inputs (no .item(), no float())."
            )
            continue
        expected = vae_loss(reconstruction, X, m, lv, beta, sigma)["loss"]
        case.problems = compare(
            "the loss", got.reshape(()), expected, atol=1e-9, rtol=1e-9
        )
        if case.problems:
            slips = _loss_slips(reconstruction, X, m, lv, beta, sigma)
            case.problems += [
                f"It looks as if {slip}."
                for slip, value in slips.items()
                if matches(got.reshape(()), value, atol=0, rtol=1e-9)
            ]
    return cases
