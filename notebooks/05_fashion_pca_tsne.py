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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/deep-learning-labs/deep-learning-labs/blob/main/notebooks/05_fashion_pca_tsne.ipynb)

# %% [markdown]
# # Lab 5: What a Fashion-MNIST CNN learned, seen with PCA and t-SNE
#
# A past report trained "FashionNet" (four conv blocks, 1 -> 16 -> 32 ->
# 64 -> 128 channels, then FC 512 -> 256 -> 128 -> 10, batch norm
# throughout) on 32x32 Fashion-MNIST to "92% at most" test accuracy,
# then wrote its own PCA and t-SNE in NumPy to look at the network's
# features in 2-D. Its t-SNE looped over points in Python, and, worse, it
# did not compute t-SNE: its low-dimensional similarities $Q$ came from
# distances in the input $X$, never in the map $Y$, and its adaptive
# gains were used without ever being set (section 3 shows both).
#
# The network here, `lu.FashionNet`, follows the report's layers with
# one change: its hidden linear layers run Linear, BatchNorm, ReLU, the
# usual order, where the report's ran Linear, ReLU, BatchNorm (its conv
# blocks keep the report's conv, ReLU, batch norm, pool).
#
# Here both algorithms are written with tensor operations only, in
# `lab_utils.manifold` (no scikit-learn inside; the tests compare them
# with scikit-learn):
#
# - **PCA** by the SVD of the centred data, with a fixed sign convention.
# - **Exact t-SNE**, fully vectorised: no loop over points, so it runs
#   thousands of points in seconds on a CPU and more on a GPU.

# %% tags=["parameters"]
PROFILE = "auto"  # smoke | cpu | full | reproduce | auto (full on a GPU)
SEED = 0  # seed of subsets, splits, training and t-SNE
DATA_DIR = None  # None: $LAB_DATA_DIR if set, else ./data
RESULTS_DIR = None  # None: $LAB_RESULTS_DIR if set, else ./results
# In Colab, True keeps results and checkpoints on your Google Drive
# (you are asked to allow it), so a runtime reset loses nothing:
KEEP_ON_DRIVE = False
PERPLEXITY = 30.0  # t-SNE's effective number of neighbours
# FashionNet's training (see lu.DEFAULTS["classifier"]; epochs and
# patience come from the profile): Adam at 1e-3, batch 128, random
# horizontal flips (ours: the report states none of these).
FASHION_NET = {
    "model": "fashion_net",
    "optimizer": "adam",
    "lr": 1e-3,
    "batch_size": 128,
    "augment": "flip",
    "eval_batch_size": 1000,
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
import numpy as np
import torch

import lab_utils as lu
from lab_utils import plots
from lab_utils.tools import self_check

run = lu.start_lab(
    "05_fashion_pca_tsne",
    PROFILE,
    SEED,
    DATA_DIR,
    RESULTS_DIR,
    drive=KEEP_ON_DRIVE,
)
s = run.settings
print(run.banner())

# %% [markdown]
# ## 1. FashionNet
#
# The report fed the network 32x32 images; FashionNet here also takes the
# original 28x28 images and pads them with two pixels per side. The
# padding is added to the *normalised* image, so it is 0 there: the
# dataset's mean grey, not the black of the background (which normalises
# to about -0.8). A convolution learns either; what matters is that
# training and test pad the same way.

# %% tags=["nbval-check-output"]
net = lu.FashionNet()
print(f"FashionNet: {lu.count_parameters(net):,} parameters")
print(lu.summarize(net, (1, 28, 28)).to_string(index=False))

# %%
train, val, test = lu.load_splits(
    "fashion_mnist",
    s["n_train"],
    s["n_val"],
    s["n_test"],
    SEED,
    data_dir=run.data_dir,
)
trained = lu.train_classifier(
    {**FASHION_NET, "epochs": s["epochs"], "patience": s["patience"]},
    SEED,
    train,
    val,
    test,
    run.device,
    resume_dir=run.results_dir / "runs",  # run again: continues, not anew
)
model, history = trained.model, trained.history
test_acc = trained.metrics["test_acc"]
trained_for = f"{len(history)} epoch" + ("" if len(history) == 1 else "s")
print(
    f"FashionNet: test accuracy {test_acc:.2%} on {len(test):,} images "
    f"after {trained_for} ({run.profile} profile; the report: "
    f"92%, on all 60,000 training images)" + run.caveat()
)

# %%
fig = plots.plot_history(
    history,
    title="FashionNet: training curves",
    kept_epoch=trained.kept_epoch,
)

# %%
logits, y = lu.predict(model, lu.TensorLoader(test, 1000, device=run.device))
fig = plots.plot_confusion_matrix(
    lu.confusion_matrix(y, logits.argmax(1), 10),
    test.classes,
    title=f"FashionNet on {len(test):,} test images: {test_acc:.1%}",
)
# %%
counts = lu.confusion_matrix(y, logits.argmax(1), 10)
np.fill_diagonal(counts, 0)
print(f"The most frequent mistakes ({run.profile} profile):")
for flat in counts.ravel().argsort()[::-1][:5]:
    true, predicted = divmod(int(flat), 10)
    print(
        f"  {test.classes[true]} taken for {test.classes[predicted]}: "
        f"{counts[true, predicted]} of {int((y == true).sum())}"
    )

# %% [markdown]
# Look at which classes the mistakes join: garments with similar
# outlines (the upper-body ones, the shoes) are where a person would
# hesitate too. Keep them in mind for the pictures below.
#
# ## 2. PCA of the raw pixels
#
# PCA finds the orthogonal directions along which the data varies most.
# With $X$ the centred data ($n$ images x 784 pixels), its SVD
# $X = U S V^\top$ gives them directly: the rows of $V^\top$ are the
# principal components, and $S^2/(n-1)$ their variances.
#
# *Why the SVD and not the eigenvectors of the covariance $X^\top X$?*
# Forming $X^\top X$ squares the condition number: a component with a
# thousand times less spread than the first has a million times smaller
# eigenvalue, and in float32 its eigenvector drowns in rounding error
# (float64, used here, has room to spare at this size). The SVD works on
# $X$ itself and keeps those small components accurate, at a cost of the
# same order ($n d^2$) for tall data.
#
# The sign of each component is arbitrary (both $v$ and $-v$ are
# eigenvectors), so `lu.PCA` flips each to make its largest entry
# positive: the same data always gives the same picture.

# %%
pixels = lu.balanced_subset(train, s["pca_images"], SEED)
X = pixels.X.flatten(1).double() / 255.0
pca = lu.PCA(50).fit(X)
fig = plots.plot_explained_variance(
    pca.explained_variance_ratio_,
    title=f"PCA of {len(X):,} Fashion-MNIST images (raw pixels)",
)
# %%
Z = pca.transform(X)
fig = plots.plot_embeddings(
    {"raw pixels, first two components": (Z[:, :2], pixels.y)},
    train.classes,
    axis="PC",
)
# %% [markdown]
# Reconstructions from the first $k$ components,
# $\hat x = \bar x + \sum_{i \le k} z_i v_i$: a handful already gives the
# garment type, and fine detail (patterns, logos) needs many more.

# %%
rows = {"original": X[:8].view(-1, 1, 28, 28)}
for k in (2, 10, 50):
    part = lu.PCA(k).fit(X)
    rows[f"k = {k}"] = (
        part.inverse_transform(part.transform(X[:8]))
        .view(-1, 1, 28, 28)
        .clamp(0, 1)
    )
fig = plots.show_image_rows(
    {name: images.float() for name, images in rows.items()},
    title="PCA reconstructions with k components",
)
# %% [markdown]
# ## 3. The network's features: PCA against t-SNE
#
# The input of FashionNet's last layer, the 128 numbers the classifier
# reads, for test images. PCA keeps the directions of largest variance:
# a faithful but crowded linear shadow. t-SNE instead keeps
# **neighbourhoods**:
#
# 1. In the original space, each point $i$ gets a Gaussian over the other
#    points, with its own width $\sigma_i$ found by binary search so that
#    its **perplexity** (roughly, its number of effective neighbours)
#    equals the target: dense regions get narrow Gaussians, sparse ones
#    wide. All points are searched at once, as tensor operations.
# 2. The conditional probabilities are symmetrised into joint ones,
#    $p_{ij} = (p_{j|i} + p_{i|j}) / 2n$.
# 3. In 2-D, similarities use a heavy-tailed Student-t kernel,
#    $q_{ij} \propto (1 + \lVert y_i - y_j\rVert^2)^{-1}$, so moderately
#    distant points can be placed far apart without penalty: clusters get
#    room.
# 4. Gradient descent moves the points to minimise
#    $\mathrm{KL}(P\,\Vert\,Q)$: first with $P$ exaggerated 12x (clusters
#    form and move as a whole), with momentum and adaptive gains, one per
#    coordinate of each point.
#
# ### What the report's t-SNE did instead
#
# Two lines decide whether a t-SNE is t-SNE. The report's (written anew
# here, with its mistake) computed $Q$ inside its gradient-descent loop,
# at every iteration, from the distances of the input:
#
# ```python
# Q = 1 / (1 + squared_distances(X))  # input space: Y never enters
# ```
#
# where t-SNE computes it from the map's current positions:
#
# ```python
# Q = 1 / (1 + squared_distances(Y))  # the map: it moves as Y moves
# ```
#
# With $Q$ fixed, the error it printed, $\mathrm{KL}(P\,\Vert\,Q)$,
# cannot change whatever $Y$ does, and its gradient, with the input's
# kernel where the map's belongs, is the gradient of no t-SNE objective.
# Its update also read `gains` and the previous step before any line had
# set them, so the code as printed cannot run; and its early
# exaggeration (4x) was never switched off.
#
# Two smaller choices differ from t-SNE's usual ones. It standardised
# every input feature by its standard deviation, which divides by zero
# for a feature that is constant over the sample (a ReLU unit that never
# fires on it gives one): its column becomes NaN, and with it every
# distance, every affinity and the whole map. `lu.TSNE` uses the
# features as they are. And it started the map from a standard normal,
# spread 1, where t-SNE starts from a tiny one (here the first two
# principal components, scaled so that the first has a standard
# deviation of 1e-4), so that early
# exaggeration can gather each cluster before the points spread out.

# %% [markdown]
# ### Exercise 5.1: the perplexity binary search
#
# Write `conditional_probabilities(D, perplexity)` for step 1. `D` is the
# `(n, n)` matrix of squared distances. Row $i$ of the result holds
# $p_{j|i} \propto \exp(-\beta_i D_{ij})$ for $j \ne i$ (and
# $p_{i|i} = 0$), normalised to sum to 1, with $\beta_i = 1/2\sigma_i^2$
# chosen so that the row's entropy $H_i = -\sum_j p_{j|i}\log p_{j|i}$
# equals $\log(\text{perplexity})$. $H_i$ falls as $\beta_i$ grows, so
# a binary search finds it: keep a lower and an upper bound on $\beta_i$
# (start at 0 and infinity, doubling $\beta_i$ while there is no upper
# bound) and halve the interval until $H_i$ is within `tol`. One row at
# a time is fine here. Return `P` as an `(n, n)` tensor whose row `i`
# holds $p_{j|i}$ (each row sums to 1, the diagonal is 0). The self-check
# uses the squared distances of 300
# real Fashion-MNIST images, at perplexities 5 and 30, and checks each
# row's perplexity as well as the values.

# %% tags=["hide-input"]
import math

import torch


def conditional_probabilities(D, perplexity, tol=1e-5, max_steps=100):
    """D: (n, n) squared distances -> P (n, n), row i holding p_{j|i},
    with perplexity exp(H_i) equal to ``perplexity`` in every row."""
    target = math.log(perplexity)
    P = torch.zeros_like(D)
    for i in range(len(D)):
        # Fill row i of P; P[i, i] stays 0.
        # BEGIN SOLUTION
        # hint: take row i without its diagonal entry; for a given beta,
        # p = exp(-beta * d) / sum, H = -sum(p log p); raise beta while H
        # is above the target, lower it while below.
        d = torch.cat([D[i, :i], D[i, i + 1 :]])
        # Shifting by the smallest distance leaves p unchanged after
        # normalising, and keeps exp() from underflowing to all zeros.
        d = d - d.min()
        low, high, beta = 0.0, math.inf, 1.0
        for _ in range(max_steps):
            p = torch.exp(-beta * d)
            p = p / p.sum()
            entropy = -(p * p.clamp_min(1e-300).log()).sum()
            if abs(entropy - target) < tol:
                break
            if entropy > target:  # too many neighbours: narrower Gaussian
                low = beta
                beta = beta * 2 if math.isinf(high) else (low + high) / 2
            else:
                high = beta
                beta = (low + high) / 2
        P[i, :i], P[i, i + 1 :] = p[:i], p[i:]
        # END SOLUTION
    return P


# %% tags=["nbval-check-output"]
self_check(
    "conditional_probabilities", conditional_probabilities, run.data_dir
)

# %% [markdown]
# ### Exercise 5.2: the gradient of t-SNE's objective
#
# Write `kl_gradient(P, Y)` for step 4: the gradient of
# $\mathrm{KL}(P\,\Vert\,Q)$ with respect to the 2-D positions `Y`
# `(n, 2)`, given the joint probabilities `P` `(n, n)`. With the kernel
# $w_{ij} = (1 + \lVert y_i - y_j\rVert^2)^{-1}$ (and $w_{ii} = 0$) and
# $q_{ij} = w_{ij} / \sum_{k \ne l} w_{kl}$, it is (van der Maaten and
# Hinton, 2008, equation 5)
#
# $$\frac{\partial\,\mathrm{KL}}{\partial y_i} = 4 \sum_j (p_{ij} -
# q_{ij})\, w_{ij}\, (y_i - y_j).$$
#
# Return the gradient as an `(n, 2)` tensor, row `i` for $y_i$. The
# self-check compares it with `lu.kl_gradient` for the joint
# probabilities of 200 real Fashion-MNIST images, from a tiny random
# start and from a spread-out layout.


# %% tags=["hide-input"]
def kl_gradient(P, Y):
    """P: (n, n) joint probabilities, Y: (n, 2) -> dKL/dY, (n, 2)."""
    # BEGIN SOLUTION
    # hint: the differences y_i - y_j of all pairs at once are
    # Y[:, None, :] - Y[None, :, :], shape (n, n, 2).
    differences = Y[:, None, :] - Y[None, :, :]
    w = 1.0 / (1.0 + differences.square().sum(dim=2))
    w.fill_diagonal_(0.0)
    Q = w / w.sum()
    return 4.0 * (((P - Q) * w)[:, :, None] * differences).sum(dim=1)
    # END SOLUTION


# %% tags=["nbval-check-output"]
self_check("kl_gradient", kl_gradient, run.data_dir)

# %% [markdown]
# `lu.TSNE` does all four steps, with the binary search vectorised over
# all rows at once and the gradient computed in place in reused buffers
# (`benchmarks/tsne.py` times it against scikit-learn's exact method on
# the same images). On the network's features:

# %%
probe = lu.balanced_subset(test, s["tsne_points"], SEED)
features, labels = lu.extract_features(
    model, lu.TensorLoader(probe, 1000, device=run.device), "hidden"
)
learned = lu.TSNE(
    perplexity=PERPLEXITY, n_iter=s["tsne_iter"], seed=SEED, device=run.device
).fit(features)
fig = plots.plot_embeddings(
    {
        "PCA (first two components)": (lu.pca(features, 2), labels),
        f"t-SNE (perplexity {PERPLEXITY:g})": (learned.embedding_, labels),
    },
    test.classes,
    axis="coordinate",
    title=f"FashionNet features of {len(probe):,} test images",
)
# %%
fig = plots.plot_kl_history(
    {f"perplexity {PERPLEXITY:g}": learned.kl_history_},
    title="t-SNE's objective during optimisation",
    exaggeration_iter=learned.exaggeration_iter,
)
# %% [markdown]
# The curve is the true objective, $\mathrm{KL}(P\,\Vert\,Q)$, computed
# every `log_every` iterations (every 50 by default; each point is one)
# and at the last. Until the dotted line the points are moved to fit $12P$
# instead (early exaggeration: clusters form and travel as wholes), so
# the true KL need not fall there; once exaggeration ends, the gradient
# follows the true objective and the map settles.
# %% [markdown]
# ## 4. Perplexity
#
# Perplexity sets how many neighbours each point tries to keep. Small
# values preserve very local structure and fragment clusters; large values
# blend them toward the global layout.

# %%
panels = {}
for perplexity in (5.0, 30.0, 100.0):
    if perplexity >= len(features) - 1:
        continue  # too few points for this perplexity (smoke profile)
    Y = lu.tsne(
        features,
        perplexity=perplexity,
        n_iter=s["tsne_iter"],
        seed=SEED,
        device=run.device,
    )
    panels[f"perplexity {perplexity:g}"] = (Y, labels)
fig = plots.plot_embeddings(
    panels, test.classes, title="The same features, three perplexities"
)
# %% [markdown]
# ## 5. The images themselves, at their t-SNE positions

# %%
fig = plots.plot_thumbnails(
    learned.embedding_,
    probe.X,
    labels,
    test.classes,
    n_shown=s["thumbnails"],
    seed=SEED,
    title="Test images placed by t-SNE of FashionNet's features",
)
# %% [markdown]
# ## What t-SNE distances do and do not mean
#
# - **Clusters mean something**: points close together in the map were
#   neighbours in the feature space. Compare which classes form islands of
#   their own and which touch with the mistakes printed under the
#   confusion matrix: the network confuses what its features put
#   together.
# - **Distances between clusters mostly do not**: the Student-t kernel
#   lets moderately distant groups drift apart, so the gap between two
#   islands says little about how different they are.
# - **Cluster sizes do not**: each point's Gaussian adapts to its local
#   density, so a tight cluster and a spread one can come out the same
#   size.
# - **Run it more than once**, with a few perplexities, before reading a
#   structure into it; PCA, which is linear and deterministic, is the
#   sober second opinion.

# %%
print(run.finish())
