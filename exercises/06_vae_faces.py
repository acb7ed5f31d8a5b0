# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     notebook_metadata_filter: kernelspec,-jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown] tags=["remove-cell"]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/deep-learning-labs/deep-learning-labs/blob/main/exercises/06_vae_faces.ipynb)

# %% [markdown]
# # Lab 6: A variational auto-encoder of faces
#
# An auto-encoder squeezes an image through a small code and rebuilds it.
# A **variational** auto-encoder (Kingma and Welling, 2014) makes the code
# a distribution: the encoder outputs a mean $\mu$ and a variance
# $\sigma^2$ per latent dimension, a code $z$ is *sampled* from
# $\mathcal N(\mu, \sigma^2)$, and the loss adds to the reconstruction
# error a **KL term** that pulls each of those distributions toward the
# prior $\mathcal N(0, I)$:
#
# $$\mathcal L = \underbrace{\lVert x - \hat x\rVert^2}_{\text{reconstruction}}
# + \beta\, \underbrace{\mathrm{KL}\big(\mathcal N(\mu,\sigma^2)\,\Vert\,
# \mathcal N(0, I)\big)}_{=\,-\frac12\sum_j (1 + \log\sigma_j^2 - \mu_j^2
# - \sigma_j^2)} .$$
#
# With $\beta$ in its place, the codes of all faces fill the prior's
# space without holes, so that **decoding a random $z \sim \mathcal
# N(0, I)$ gives a new face**, and walking between two codes morphs one
# face into another.
#
# A past report trained this model on 32x32 colour faces from Labeled
# Faces in the Wild (conv 3 -> 16 -> 32, FC 2048 -> 256, latent 120; a
# mirrored decoder), with MSE + 1e-5 x KL, noting that "a larger KL
# weight made every decoded face the same". Here is why.

# %% [markdown]
# **This is the exercise version of the lab.** It has 2 exercises: 6.1
# `reparameterize`, 6.2 `kl_divergence`. Each is a function whose body raises
# `NotImplementedError` with a hint. Write the body, run its cell, then run the
# self-check cell under it: the check compares your function with the reference
# in `lab_utils` on a little real data and says what differs (shape, values,
# tolerance), never what the answer is. *Run all* stops at the first exercise
# not done yet; everything else runs as in the solved lab.
#
# *Generated from `notebooks/06_vae_faces.py` by `python -m
# lab_utils.tools.exercises`; instructors edit the lab and regenerate, never
# this file.*

# %% tags=["parameters"]
PROFILE = "auto"  # smoke | cpu | full | reproduce | auto (full on a GPU)
SEED = 0  # seed of subsets, training and sampling
DATA_DIR = None  # None: $LAB_DATA_DIR if set, else ./data
BETA = 1e-3  # KL weight of the main model (the report used 1e-5)
LATENT = 120  # latent dimensions (the report's)
BETAS = [1e-5, 1e-3, 1e-2, 1e-1, 1.0]  # the beta sweep
RESULTS_DIR = None  # None: $LAB_RESULTS_DIR if set, else ./results
# In Colab, True keeps results and checkpoints on your Google Drive
# (you are asked to allow it), so a runtime reset loses nothing:
KEEP_ON_DRIVE = False
# The VAE's training (see lu.DEFAULTS["vae"]; epochs come from the
# profile): the report's Adam at 1e-3 on batches of 32 faces.
VAE = {
    "latent_dim": LATENT,
    "optimizer": "adam",
    "lr": 1e-3,
    "batch_size": 32,
    "eval_batch_size": 256,
}

# %%
# Setup: make `lab_utils` importable. In a clone of the repository the
# notebook uses the package one folder up; anywhere else (Colab) it is
# installed from GitHub, once, and nothing else is installed.
import importlib.util
import subprocess
import sys
from pathlib import Path

REPOSITORY = "https://github.com/deep-learning-labs/deep-learning-labs"
if Path("../lab_utils/__init__.py").is_file():
    sys.path.insert(0, str(Path("..").resolve()))
elif importlib.util.find_spec("lab_utils") is None:
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", f"git+{REPOSITORY}"],
        check=True,
    )

# %%
from functools import partial

import pandas as pd
import torch

import lab_utils as lu
from lab_utils import plots
from lab_utils.tools import self_check

run = lu.start_lab(
    "06_vae_faces", PROFILE, SEED, DATA_DIR, RESULTS_DIR, drive=KEEP_ON_DRIVE
)
s = run.settings
print(run.banner())

# %% [markdown]
# ## 1. Faces
#
# LFW through the data layer: torchvision's download online; offline, the
# folder `lfw/<person>/*.jpg` in the data directory; and, when neither is
# there, scikit-image's 100 built-in LFW faces (25x25 grey). Every figure
# names the data it shows. Faces are resized to 32x32, and LFW's fixed
# seeded 90/10 split holds out test faces.

# %%
train = lu.load_dataset(
    "lfw",
    "train",
    data_dir=run.data_dir,
    n_samples=s["n_train"],
    seed=SEED,
    image_size=32,
)
test = lu.load_dataset(
    "lfw",
    "test",
    data_dir=run.data_dir,
    n_samples=s["n_test"],
    seed=SEED,
    image_size=32,
)
source = "LFW" if train.X.shape[1] == 3 else "scikit-image's LFW subset (grey)"
print(
    f"{source}: {len(train):,} training and {len(test):,} test faces, "
    f"{tuple(train.X.shape[1:])}"
)
fig = plots.show_image_rows(
    {"": train.X[:10].float() / 255}, title=f"{source}: training faces, 32x32"
)

# %% [markdown]
# ## 2. The model and its training
#
# The report's architecture (`lu.ConvVAE` with its defaults), trained with
# Adam 1e-3 and batch 32 as in the report, logging the objective and its
# two terms every epoch.

# %%
vae = lu.ConvVAE(image_size=32, channels=3, latent_dim=LATENT)
print(f"ConvVAE: {lu.count_parameters(vae):,} parameters")
print(vae)

# %% [markdown]
# ### Exercise 6.1: the reparameterisation trick
#
# Sampling $z \sim \mathcal N(\mu, \sigma^2)$ directly would cut the
# gradient's path back to the encoder. The trick: draw
# $\epsilon \sim \mathcal N(0, I)$, which depends on nothing, and set
# $z = \mu + \sigma\,\epsilon$, which is differentiable in $\mu$ and
# $\sigma$. The encoder outputs $\log\sigma^2$ (any real number is a
# valid log-variance). Write `reparameterize(mean, log_var)`. The
# self-check feeds it the encoder outputs for 8 real LFW faces, checks the
# gradients that flow back to `mean` and `log_var`, and checks on 20,000
# draws that the noise is standard normal and fresh on every call.

# %%
import torch


def reparameterize(mean, log_var):
    """mean, log_var: (n, latent) -> a sample z (n, latent) of
    N(mean, exp(log_var)) through which gradients flow."""
    # Exercise 6.1: write this part, then run the self-check cell below.
    raise NotImplementedError(
        "Exercise 6.1 (reparameterize): get sigma from log_var (the log of "
        "the variance, not of sigma); the noise is standard normal, with the "
        "shape of mean.")


# %%
self_check("reparameterize", reparameterize, run.data_dir)


# %% [markdown]
# ### Exercise 6.2: the KL term
#
# Write `kl_divergence(mean, log_var)`: for each face, the KL divergence
# from $\mathcal N(\mu, \sigma^2)$ to the prior $\mathcal N(0, I)$, in
# nats, summed over the latent dimensions (the formula under the
# objective at the top of this lab). The self-check compares it with
# `lu.kl_divergence` on the encoder outputs for 8 real LFW faces.

# %%
def kl_divergence(mean, log_var):
    """mean, log_var: (n, latent) -> KL(N(mean, exp(log_var)) || N(0, I))
    per sample, (n,), in nats."""
    # Exercise 6.2: write this part, then run the self-check cell below.
    raise NotImplementedError(
        "Exercise 6.2 (kl_divergence): sigma^2 is exp(log_var); sum over "
        "dim=1 only, one number per face.")


# %%
self_check("kl_divergence", kl_divergence, run.data_dir)

# %% [markdown]
# Training uses the library's versions of both (`lu.reparameterize` inside
# `lu.ConvVAE`, `lu.kl_divergence` inside `lu.vae_loss`):

# %%
RUNS = run.results_dir / "runs"  # every run's state: run again to continue
trained = lu.train_vae(
    {**VAE, "beta": BETA, "epochs": s["epochs"]},
    SEED,
    train,
    test,
    run.device,
    resume_dir=RUNS,
)
vae, history = trained.model, trained.history
last = history.iloc[-1]
print(
    f"beta {BETA:g}, {len(history)} epochs: test reconstruction MSE "
    f"{last['val_recon']:.4f}, KL {last['val_kl']:.1f} nats per face "
    f"({run.profile} profile)"
)

# %%
fig = plots.plot_history(
    history,
    ("loss", "recon", "kl"),
    labels={
        "loss": "objective",
        "recon": "reconstruction MSE",
        "kl": "KL (nats per face)",
    },
    val_label="test",
    title=f"{source}: the objective and its two terms (beta {BETA:g})",
)

# %% [markdown]
# ## 3. Reconstructions and samples

# %%
faces = test.X[:10].float().to(run.device) / 255
with torch.no_grad():
    mean, _ = vae.encode(faces)
    rebuilt = vae.decode(mean)
    samples = vae.sample(10, torch.Generator(run.device).manual_seed(SEED))
fig = plots.show_image_rows(
    {"test face": faces, "reconstruction": rebuilt, "from the prior": samples},
    title=f"{source}: unseen test faces, their "
    f"reconstructions, and new faces decoded from "
    f"z ~ N(0, I)",
)

# %% [markdown]
# ## 4. Walking between two faces
#
# Decode the codes between two test faces' means, for
# $\alpha = 0, 0.2, \dots, 1$. **Linear** interpolation
# $(1-\alpha) z_1 + \alpha z_2$ cuts straight through the latent space,
# and its midpoint is *shorter* than either end (the table below). Under a
# Gaussian prior that matters: in $d$ dimensions, samples of
# $\mathcal N(0, I)$ concentrate near a sphere of radius $\sqrt d$, and
# short codes near the centre are rare. **Spherical** interpolation
# (slerp) walks along the great circle between the two directions and
# interpolates the length, so every code on the way has a typical norm.

# %%
alphas = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
rows = {}
for a, b in ((0, 1), (2, 3)):
    for method in ("linear", "slerp"):
        codes = lu.interpolate(mean[a], mean[b], alphas, method)
        with torch.no_grad():
            rows[f"faces {a}->{b}, {method}"] = vae.decode(codes)
fig = plots.show_image_rows(
    rows,
    title=f"{source}: interpolation, alpha = "
    f"0, 0.2, ..., 1 (first and last: the two faces' "
    f"reconstructions)",
)

# %%
z1, z2 = mean[0], mean[1]
norms = pd.DataFrame(
    {
        "alpha": alphas,
        "linear |z|": [
            float(z.norm()) for z in lu.interpolate(z1, z2, alphas, "linear")
        ],
        "slerp |z|": [
            float(z.norm()) for z in lu.interpolate(z1, z2, alphas, "slerp")
        ],
    }
)
norms.round(2)

# %% [markdown]
# ## 5. The KL weight: sharp reconstructions or a usable prior
#
# The same model trained with different $\beta$ (decoded test faces and
# samples from the prior for each), and the two terms at the end:
#
# - The report's tiny $\beta = 10^{-5}$ gives the sharpest reconstructions
#   (the lowest error) and a KL of over a hundred nats: the codes sit far
#   from the prior, so samples from $\mathcal N(0, I)$ fall partly where
#   the encoder put no real face. With this small decoder they still look
#   like faces, but blurrier and more uniform than the reconstructions.
# - From $\beta = 10^{-2}$ on, the KL drops to about zero: every code is
#   the prior, $z$ carries no information, and the decoder outputs the
#   same average face whatever the input. That is **posterior collapse**,
#   the report's "every decoded face the same".
# - In between ($10^{-3}$, the main model above) the KL is a few nats:
#   a few latent dimensions carry the face's lighting, colour and pose,
#   and both reconstructions and samples are plausible but soft.

# %%
betas = {
    f"beta {beta:g}": {**VAE, "beta": beta, "epochs": s["sweep_epochs"]}
    for beta in BETAS
}
sweep_dir = run.results_dir / "beta_sweep"
sweep = lu.run_sweep(
    betas,
    [SEED],
    partial(
        lu.train_vae, train=train, val=test, device=run.device, resume_dir=RUNS
    ),
    sweep_dir,
    save_models=True,
)
print(
    f"{sweep['reused'].sum()} of {len(sweep)} runs reused from "
    f"{sweep_dir.name}/"
)
panels = {}
for name in betas:
    model = lu.load_trained(
        lu.run_dir(sweep_dir, name, SEED) / "model.pt", train, run.device
    ).model
    with torch.no_grad():
        m, _ = model.encode(faces[:6])
        panels[f"{name}: reconstruction"] = model.decode(m)
        panels[f"{name}: sample"] = model.sample(
            6, torch.Generator(run.device).manual_seed(SEED)
        )
fig = plots.show_image_rows(
    panels,
    title=f"{source}: reconstructions and prior samples for each KL weight",
)

# %%
sweep_table = sweep.rename(
    columns={
        "val_recon": "test reconstruction MSE",
        "val_kl": "KL (nats per face)",
    }
)
sweep_table[
    ["beta", "test reconstruction MSE", "KL (nats per face)"]
].style.format(
    {
        "beta": "{:g}",
        "test reconstruction MSE": "{:.4f}",
        "KL (nats per face)": "{:.1f}",
    }
)

# %% [markdown]
# ## What to take away
#
# - The KL term is what makes an auto-encoder **generative**: it is the
#   price of each code's distance from the prior, and without it the
#   codes scatter wherever reconstruction likes.
# - $\beta$ trades reconstruction against the prior: small $\beta$ gives
#   the sharpest reconstructions and codes far from the prior; large
#   $\beta$ gives codes that carry no information (KL near zero) and one
#   average face.
# - Interpolate along the sphere where a Gaussian prior puts its mass:
#   slerp keeps the code's norm; the straight line shrinks it.

# %%
print(run.finish())
