"""The VAE: shapes, the KL formula, reparameterisation gradients,
interpolation endpoints, and learning on real faces."""

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

import lab_utils as lu


def test_shapes_for_colour_and_grey():
    for channels in (3, 1):
        vae = lu.ConvVAE(image_size=32, channels=channels, latent_dim=20)
        X = torch.rand(5, channels, 32, 32)
        reconstruction, mean, log_var = vae(X)
        assert reconstruction.shape == X.shape
        assert mean.shape == log_var.shape == (5, 20)
        assert 0 <= reconstruction.min() and reconstruction.max() <= 1
        assert vae.sample(7).shape == (7, channels, 32, 32)
    with pytest.raises(ValueError, match="divisible"):
        lu.ConvVAE(image_size=30)


def test_report_preset_sizes():
    vae = lu.ConvVAE()
    linear = [m for m in vae.encoder if isinstance(m, torch.nn.Linear)][0]
    assert (linear.in_features, linear.out_features) == (2048, 256)
    assert vae.mean.out_features == 120


def test_kl_matches_torch_distributions():
    torch.manual_seed(0)
    mean = torch.randn(64, 10) * 2
    log_var = torch.randn(64, 10)
    ours = lu.kl_divergence(mean, log_var)
    theirs = kl_divergence(
        Normal(mean, (0.5 * log_var).exp()), Normal(0.0, 1.0)
    ).sum(1)
    assert torch.allclose(ours, theirs, atol=1e-5)
    assert torch.allclose(
        lu.kl_divergence(torch.zeros(3, 4), torch.zeros(3, 4)), torch.zeros(3)
    )


def test_reparameterisation_passes_gradients_and_samples_right():
    mean = torch.tensor([1.0, -2.0], requires_grad=True)
    log_var = torch.tensor([0.0, 1.0], requires_grad=True)
    g = torch.Generator().manual_seed(0)
    z = lu.reparameterize(mean, log_var, g)
    z.sum().backward()
    eps = torch.randn(2, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(mean.grad, torch.ones(2))
    assert torch.allclose(
        log_var.grad, 0.5 * (0.5 * log_var.detach()).exp() * eps
    )
    many = lu.reparameterize(
        mean.detach().expand(20000, 2), log_var.detach().expand(20000, 2), g
    )
    assert torch.allclose(many.mean(0), mean.detach(), atol=0.05)
    assert torch.allclose(
        many.std(0), (0.5 * log_var.detach()).exp(), atol=0.05
    )


def test_interpolation_endpoints_decode_to_the_endpoints():
    torch.manual_seed(1)
    vae = lu.ConvVAE(latent_dim=16).eval()
    X = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        mean, _ = vae.encode(X)
        ends = vae.decode(mean)
        for method in ("linear", "slerp"):
            codes = lu.interpolate(mean[0], mean[1], [0.0, 0.5, 1.0], method)
            images = vae.decode(codes)
            assert torch.allclose(images[0], ends[0], atol=1e-5)
            assert torch.allclose(images[-1], ends[1], atol=1e-5)
    a, b = torch.randn(16) * 4, torch.randn(16) * 4
    half_lin = lu.interpolate(a, b, [0.5], "linear")[0]
    half_slerp = lu.slerp(a, b, 0.5)
    # The straight line cuts inside the sphere; slerp keeps the norm.
    assert half_lin.norm() < half_slerp.norm()
    assert half_slerp.norm() == pytest.approx(
        float(a.norm() + b.norm()) / 2, rel=1e-5
    )
    with pytest.raises(ValueError, match="slerp"):
        lu.interpolate(a, b, [0.5], "cubic")


def test_farthest_pairs_are_disjoint_and_furthest_in_angle():
    codes = torch.tensor(
        [[1.0, 0.0], [-1.0, 0.1], [0.0, 1.0], [0.1, -1.0], [1.0, 0.05]]
    )
    pairs = lu.farthest_pairs(codes, 2)
    assert pairs[0] == (1, 4) or pairs[0] == (0, 1)  # about 180 degrees
    assert len({*pairs[0], *pairs[1]}) == 4  # disjoint
    assert lu.farthest_pairs(codes[:2], 5) == [(0, 1)]


def test_vae_learns_real_faces(data_dir):
    faces = lu.load_dataset(
        "lfw", data_dir=data_dir, n_samples=600, image_size=32, download=False
    )
    lu.seed_everything(0)
    vae = lu.ConvVAE(latent_dim=32)
    history = lu.fit(
        vae,
        lu.TensorLoader(faces, 32, shuffle=True),
        epochs=8,
        lr=1e-3,
        step=lu.vae_step(1.0),
        device="cpu",
    )
    assert {"train_loss", "train_recon", "train_kl", "train_nelbo"} <= set(
        history
    )
    # Better than drawing the average face for everyone: the codes carry
    # information about each face.
    X = faces.X.float() / 255
    average_face_mse = ((X - X.mean(0)) ** 2).mean().item()
    assert history["train_mse"].iloc[-1] < 0.8 * average_face_mse
    # At beta = 1 the objective is the negative ELBO.
    assert history["train_loss"].equals(history["train_nelbo"])


def test_vae_loss_is_the_negative_elbo_in_nats_per_face(data_dir):
    faces = lu.load_dataset(
        "lfw", data_dir=data_dir, n_samples=16, image_size=32, download=False
    )
    X = faces.X.double() / 255
    torch.manual_seed(0)
    reconstruction = (X + 0.05 * torch.randn_like(X)).clamp(0, 1)
    mean, log_var = torch.randn(16, 8).double(), torch.randn(16, 8).double()
    out = lu.vae_loss(reconstruction, X, mean, log_var, beta=0.5, sigma=0.1)
    # -log p(x | z) of a Gaussian decoder, summed over the 3,072 values.
    decoder = Normal(reconstruction.flatten(1), 0.1)
    recon = -decoder.log_prob(X.flatten(1)).sum(1)
    kl = lu.kl_divergence(mean, log_var)
    assert out["recon"].item() == pytest.approx(recon.mean().item())
    assert out["nelbo"].item() == pytest.approx((recon + kl).mean().item())
    assert out["loss"].item() == pytest.approx(
        (recon + 0.5 * kl).mean().item()
    )
    assert out["mse"].item() == pytest.approx(
        torch.nn.functional.mse_loss(reconstruction, X).item()
    )
    # A uniform density on [0, 1] (-log p = 0) costs 8 bits per 8-bit value.
    assert lu.bits_per_dim(0.0, 3072) == pytest.approx(8.0)
    assert lu.bits_per_dim(-3072 * math.log(2), 3072) == pytest.approx(7.0)


def test_bernoulli_decoder_is_the_cross_entropy_over_pixel_values(data_dir):
    faces = lu.load_dataset(
        "lfw", data_dir=data_dir, n_samples=16, image_size=32, download=False
    )
    X = faces.X.double() / 255
    torch.manual_seed(0)
    reconstruction = (X + 0.05 * torch.randn_like(X)).clamp(0.01, 0.99)
    mean, log_var = torch.randn(16, 8).double(), torch.randn(16, 8).double()
    out = lu.vae_loss(
        reconstruction, X, mean, log_var, beta=0.5, likelihood="bernoulli"
    )
    # -sum [x log x_hat + (1 - x) log(1 - x_hat)] over the 3,072 values.
    recon = (
        -(X * reconstruction.log() + (1 - X) * (1 - reconstruction).log())
        .flatten(1)
        .sum(1)
    )
    kl = lu.kl_divergence(mean, log_var)
    assert out["recon"].item() == pytest.approx(recon.mean().item())
    assert out["loss"].item() == pytest.approx(
        (recon + 0.5 * kl).mean().item()
    )
    # The squared error is logged the same way whatever the likelihood.
    gaussian = lu.vae_loss(reconstruction, X, mean, log_var)
    assert out["mse"].item() == pytest.approx(gaussian["mse"].item())
    # For grey values the cross-entropy cannot reach 0 even when the
    # reconstruction is exact: it is not a density over [0, 1].
    exact = lu.vae_loss(X, X, mean, log_var, likelihood="bernoulli")
    assert exact["recon"].item() > 0.3 * 3072


def test_bad_vae_weights_are_explained():
    with pytest.raises(ValueError, match="beta"):
        lu.vae_step(-1.0)
    with pytest.raises(ValueError, match="sigma"):
        lu.vae_step(1.0, sigma=0.0)
    with pytest.raises(ValueError, match="bernoulli"):
        lu.vae_step(1.0, likelihood="laplace")


def test_offline_fallback_faces_come_from_scikit_image(tmp_path):
    faces = lu.load_dataset(
        "lfw", data_dir=tmp_path, download=False, image_size=32
    )
    assert faces.X.shape[1:] == (1, 32, 32)
    assert "lfw_subset" in faces.source
