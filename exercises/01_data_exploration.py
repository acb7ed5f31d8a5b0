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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/deep-learning-labs/deep-learning-labs/blob/main/exercises/01_data_exploration.ipynb)

# %% [markdown]
# # Lab 1: Looking at the data before learning from it
#
# Every later lab trains on one of three image datasets. Before any model
# sees them, we look at them the way a careful experimenter would:
#
# 1. **What is in them**: how many images, what shape, which classes, and a
#    few examples of each class.
# 2. **Whether the classes are balanced**: a skewed dataset makes accuracy
#    a misleading number.
# 3. **What the pixels look like**: their distribution per colour channel.
# 4. **Normalisation**: the per-channel mean and standard deviation of the
#    training set, which every later lab uses to centre its inputs.
# 5. **A validation split**: carved out of the training set, stratified by
#    class and seeded so everyone gets the same one.
# 6. **A first network, as a past report trained it**: the report behind
#    this lab went on to improve a small CNN one fix at a time. We run its
#    steps again, over several seeds, and see which of its gains the noise
#    between seeds can explain.
#
# The datasets: **MNIST** (handwritten digits, LeCun et al.),
# **Fashion-MNIST** (photos of clothing, Xiao et al., 2017; a drop-in but
# harder MNIST) and **CIFAR-10** (small colour photos of ten object
# classes, Krizhevsky, 2009).

# %% [markdown]
# **This is the exercise version of the lab.** It has 2 exercises: 1.1
# `channel_stats`, 1.2 `stratified_split`. Each is a function whose body raises
# `NotImplementedError` with a hint. Write the body, run its cell, then run the
# self-check cell under it: the check compares your function with the reference
# in `lab_utils` on a little real data and says what differs (shape, values,
# tolerance), never what the answer is. *Run all* stops at the first exercise
# not done yet; everything else runs as in the solved lab.
#
# *Generated from `notebooks/01_data_exploration.py` by `python -m
# lab_utils.tools.exercises`; instructors edit the lab and regenerate, never
# this file.*

# %% tags=["parameters"]
PROFILE = "auto"  # smoke | cpu | full | reproduce | auto (full on a GPU)
SEED = 0  # one seed for every random choice in this notebook
DATA_DIR = None  # None: $LAB_DATA_DIR if set, else ./data
RESULTS_DIR = None  # None: $LAB_RESULTS_DIR if set, else ./results
# In Colab, True keeps the trained runs of section 8 on your Google Drive
# (you are asked to allow it), so a runtime reset loses nothing:
KEEP_ON_DRIVE = False
# Teaching staff: a Dask cluster for this lab's sweeps. None trains here;
# "local:4" starts four worker processes on this machine; an address
# ("tcp://10.0.0.5:8786") sends the runs to a running cluster.
SCHEDULER = None
VAL_FRACTION = 0.1  # share of each class held out for validation

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
import lab_utils as lu
from lab_utils import plots
from lab_utils.tools import self_check

run = lu.start_lab(
    "01_data_exploration",
    PROFILE,
    SEED,
    DATA_DIR,
    RESULTS_DIR,
    drive=KEEP_ON_DRIVE,
)
s = run.settings
print(run.banner())
executor = lu.sweep_executor(SCHEDULER)  # None: runs train here

# %% [markdown]
# ## 1. Loading the three datasets
#
# `lu.load_dataset` returns the images as one `uint8` tensor of shape
# `(n, channels, height, width)`, the labels, and the class names. It reads
# a local copy when there is one (the folder in `LAB_DATA_DIR`) and
# otherwise downloads with torchvision. Images are decoded once and cached,
# so the second time is fast, and later labs slice batches straight out of
# memory instead of decoding files in the training loop.

# %%
NAMES = ("mnist", "fashion_mnist", "cifar10")
train = {n: lu.load_dataset(n, "train", data_dir=run.data_dir) for n in NAMES}
test = {n: lu.load_dataset(n, "test", data_dir=run.data_dir) for n in NAMES}

# %%
summary = lu.describe(*[part[n] for n in NAMES for part in (train, test)])
print(summary.to_string(index=False))

# %% [markdown]
# MNIST and Fashion-MNIST are 28x28 grey images (one channel), 60,000 for
# training and 10,000 for testing. CIFAR-10 is 32x32 colour (three
# channels), 50,000 + 10,000. All use the full 0-255 range of a byte.
#
# ## 2. What each class looks like
#
# A few random training images per class (the profile sets how many).
# Notice how much easier it is to
# tell a "1" from a "7" than a "Shirt" from a "T-shirt/top", or a "cat"
# from a "dog" at 32x32 pixels: that ordering will show up again in the
# accuracies of later labs.

# %%
for n in NAMES:
    plots.show_class_samples(
        train[n], n_per_class=run.settings["samples_per_class"], seed=SEED
    )

# %% [markdown]
# ## 3. Are the classes balanced?
#
# Counting images per class for both splits. When classes are balanced,
# plain accuracy is a fair summary, and a model that always answers the
# most common class scores only 10%.

# %%
for n in NAMES:
    plots.plot_class_counts(train[n], test[n])

# %%
counts = plots.class_count_table(
    *[part[n] for n in NAMES for part in (train, test)]
)
balance = counts.groupby(["dataset", "split"])["images"].agg(
    ["min", "max", "sum"]
)
balance["max / min"] = (balance["max"] / balance["min"]).round(3)
print(balance.to_string())

# %% [markdown]
# CIFAR-10 and Fashion-MNIST are perfectly balanced (exactly 6,000 or
# 5,000 per class). MNIST is not quite: its most common training digit
# ("1") has about 24% more images than its rarest ("5"). Mild, but it is
# why a careful split is *stratified*, as in section 6.
#
# The exploration report counted CIFAR-10's classes this way too, over
# the whole training and test sets, and read its bar charts as 40,000
# training images at 4,000 per class and 1,000 test images at 100 per
# class. The full sets hold 50,000 and 10,000: 5,000 and 1,000 per class,
# as the totals printed above say.
#
# ## 4. What the pixels look like
#
# A histogram of pixel intensities, per channel, from a random sample of
# pixels (the sample size depends on the profile; the shapes do not). For
# the digits and the clothes the density axis is logarithmic: on a linear
# one, their black background would flatten everything else. CIFAR-10's
# densities span less than a factor of 20, so its axis stays linear.

# %%
for n in NAMES:
    plots.plot_pixel_distribution(
        train[n], run.settings["pixels_per_dataset"], seed=SEED
    )

# %% [markdown]
# The digit images are mostly background: a huge spike at 0 (black), a
# smaller one near 255 for the centres of the strokes, and few values in
# between (the anti-aliased stroke edges). Fashion-MNIST uses the grey
# levels in between much more: fabric has texture. CIFAR-10's photos spread
# over the whole range, each channel's mean a little below the middle
# (blue's the lowest; the table in section 5). Every channel has a narrow
# spike in its last bin (values 252 to 255): near-white, from clipped
# highlights and white backgrounds; every channel also rises in its
# first bin (0 to 3), blue the most. Such different inputs are why each dataset gets its
# own normalisation constants.
#
# ## 5. Normalisation constants
#
# Networks train best when inputs are centred near 0 with unit spread. We
# scale pixels to [0, 1] and compute, **on the training set only**, the
# mean and standard deviation of each channel. (Using test images here
# would leak information about the test set into training.) The values
# computed below are the ones stored in `lu.NORMALIZATION`, which every
# later lab imports; the table shows they agree.

# %% [markdown]
# ### Exercise 1.1: per-channel mean and standard deviation
#
# Write `channel_stats(X)`: for a `uint8` tensor of images `(n, c, h, w)`,
# the mean and the standard deviation of each channel, over all images
# and all pixel positions, after scaling the pixels to [0, 1]. Use the
# population standard deviation (divide by the number of pixels, not one
# less). Return `(mean, std)`, each of shape `(c,)`: tensors or NumPy
# arrays, in float32 or float64 (the self-check's tolerance follows your
# dtype). Then run the self-check under it: it compares your function with
# `lu.channel_stats` on 512 real MNIST and CIFAR-10 images.

# %%
import torch


def channel_stats(X):
    """X: (n, c, h, w) uint8 images -> (mean, std), each a (c,) float
    tensor, of the pixel values scaled to [0, 1]."""
    # Exercise 1.1: write this part, then run the self-check cell below.
    raise NotImplementedError(
        "Exercise 1.1 (channel_stats): convert to float64 and divide by 255, "
        "then reduce over every dimension except the channel one (dim=1).")


# %%
self_check("channel_stats", channel_stats, run.data_dir)

# %% [markdown]
# On the full training sets, the table uses `lu.channel_stats`: the same
# numbers, but summed in chunks, so that 50,000 CIFAR-10 images never
# need a float64 copy (1.2 GB) in memory at once.

# %%
import pandas as pd

rows = []
for n in NAMES:
    mean, std = lu.channel_stats(train[n].X)
    stored_mean, stored_std = lu.NORMALIZATION[n]
    rows.append(
        {
            "dataset": n,
            "mean": [round(v, 4) for v in mean.tolist()],
            "std": [round(v, 4) for v in std.tolist()],
            "matches lu.NORMALIZATION": bool(
                (mean - torch.tensor(stored_mean)).abs().max() < 5e-4
                and (std - torch.tensor(stored_std)).abs().max() < 5e-4
            ),
        }
    )
print(pd.DataFrame(rows).to_string(index=False))

# %% [markdown]
# After normalising with these constants, a training batch should have a
# mean near 0 and a standard deviation near 1 in every channel. A batch
# from `lu.TensorLoader` (which normalises with `lu.NORMALIZATION` by
# default) confirms it:

# %%
for n in NAMES:
    loader = lu.TensorLoader(
        train[n], batch_size=4096, shuffle=True, seed=SEED
    )
    X, y = next(iter(loader))
    print(
        f"{n:>13}: batch {tuple(X.shape)}, per-channel mean "
        f"{[round(v, 2) + 0.0 for v in X.mean(dim=(0, 2, 3)).tolist()]}"
        f", std {[round(v, 2) for v in X.std(dim=(0, 2, 3)).tolist()]}"
    )

# %% [markdown]
# A past report normalised CIFAR-10 with mean 0.5 and standard deviation
# 0.5 in every channel, `transforms.Normalize((0.5,) * 3, (0.5,) * 3)`,
# reasoning that mapping $[0, 1]$ onto $[-1, 1]$ gives mean 0 and
# standard deviation 1. It gives the range, not the moments: the data's
# own mean and spread are only shifted and doubled. Measured on the same
# kind of batch:

# %%
rows = torch.randperm(
    len(train["cifar10"]), generator=torch.Generator().manual_seed(SEED)
)[:4096]
X = train["cifar10"].X[rows].double() / 255
halves = (X - 0.5) / 0.5  # the report's constants
print(
    f"(x - 0.5) / 0.5 on CIFAR-10: per-channel mean "
    f"{[round(v, 2) for v in halves.mean(dim=(0, 2, 3)).tolist()]}, std "
    f"{[round(v, 2) for v in halves.std(dim=(0, 2, 3)).tolist()]}"
)


# %% [markdown]
# ## 6. A stratified, seeded validation split
#
# Choosing hyper-parameters on the test set would make its accuracy an
# optimistic lie, so later labs hold out part of the *training* set for
# validation. `lu.train_val_split` holds out the same fraction of every
# class (stratified), so both parts keep the class balance, and it is
# seeded, so everyone gets the same split.

# %% [markdown]
# ### Exercise 1.2: a stratified, seeded split
#
# Write `stratified_split(y, val_fraction, seed)`: given the labels `y`
# (a 1-D tensor of class indices), return `(train_idx, val_idx)`, two 1-D
# tensors (or NumPy arrays) of integer indices into `y`, in any order (not
# boolean masks). Every image goes to exactly one part, each
# class puts `round(n_class * val_fraction)` of its images into
# validation, chosen at random, and the same seed always gives the same
# split. The self-check runs it on the labels of 1,986 real MNIST images,
# 187 to 211 per class (not balanced, so that rounding shows).

# %%
def stratified_split(y, val_fraction, seed):
    """y: (n,) class indices -> (train_idx, val_idx), 1-D index tensors;
    each class sends round(n_class * val_fraction) of its images to
    validation."""
    # Exercise 1.2: write this part, then run the self-check cell below.
    raise NotImplementedError(
        "Exercise 1.2 (stratified_split): for each class, shuffle its "
        "indices with torch.randperm and a torch.Generator seeded with "
        "`seed`, and cut off the first part.")


# %%
self_check("stratified_split", stratified_split, run.data_dir)

# %% [markdown]
# The library's `lu.train_val_split` does the same on a whole dataset and
# returns the two parts:

# %%
splits = {
    n: lu.train_val_split(train[n], VAL_FRACTION, seed=SEED) for n in NAMES
}
for n in NAMES:
    plots.plot_split_balance(*splits[n])

# %%
for n in NAMES:
    tr, va = splits[n]
    tr_share = 100 * tr.class_counts() / len(tr)
    share = tr_share - 100 * va.class_counts() / len(va)
    print(
        f"{n:>13}: {len(tr):,} train / {len(va):,} validation; largest "
        f"class-share difference {abs(share).max():.2f} percentage points"
    )

# %% [markdown]
# Each class's share differs by at most a few hundredths of a percentage
# point between the two parts (the rounding of one image). A plain random
# split would differ by several tenths on MNIST's smaller validation
# classes.
#
# ## 7. Augmentation, batched
#
# Later labs augment training images: random crops and flips for CIFAR-10,
# for instance. `lu.Augment` does it on whole batches of tensors (on the
# GPU when there is one), so augmentation costs almost nothing. Here are
# eight random CIFAR-10 images, and the same images after a padded random
# crop and a random horizontal flip:

# %%
augment = lu.Augment(crop_padding=4, hflip=True)
generator = torch.Generator().manual_seed(SEED)
pick = torch.randperm(len(train["cifar10"]), generator=generator)[:8]
images = train["cifar10"].X[pick].float() / 255
fig = plots.show_image_rows(
    {"original": images, "crop + flip": augment(images, generator)},
    title="CIFAR-10: batched augmentation",
)

# %% [markdown]
# ## 8. The report's small CNN, one fix at a time, over seeds
#
# The report whose normalisation section 5 corrects
# (`cifar10-exploration-small-cnn.txt` in the course's reports) went on to
# train a small CNN, the `small` preset of Lab 2's `lu.ThreeConvNet`
# (convs of 16, 32 and 64 channels, a hidden layer of 500), with Adam at
# learning rate 1e-3 on batches of 32, for 10 epochs, on an 80/20 split of
# the training set. Its losses showed **over-fitting**, so it improved
# the network a step at a time, **each step on top of the last** (two
# steps changed two things: the dropout step also trained 25 epochs, the
# batch-norm step also lowered the learning rate), and reported the test
# accuracy of one run after each:
#
# | step | its test accuracy |
# |---|---|
# | baseline | 71.77% |
# | + weight decay 1e-5 | 72.89% |
# | + dropout 0.5, and 25 epochs instead of 10 | 74.45% |
# | + random flips and colour jitter | 75.50% |
# | no biases anywhere | 76.63% |
# | + batch norm after each conv, learning rate 7e-4 | 77.70% |
#
# Then it trained the last model with ten seeds and found it "consistent"
# from the plots, without a number. Here the same ladder runs over several
# seeds per step, and the last step over more, so that each step's gain can
# be set against the spread between seeds. The profile's sizes:

# %%
print(
    f"{s['ladder_n_train'] or 'all'} training images "
    f"({s['ladder_n_val']:,} held out for validation), batches of "
    f"{s['ladder_batch_size']}, epochs {s['ladder_epochs'][0]} and, from "
    f"the dropout step on, {s['ladder_epochs'][1]}; seeds "
    f"{s['ladder_seeds']} for every step, {len(s['robust_seeds'])} for "
    f"the last ({run.profile} profile)"
)

# %% [markdown]
# Where this differs from the report, and why: our loader normalises with
# the training set's own statistics (section 5), not 0.5 and 0.5; dropout
# acts after the hidden layer only (the report also dropped the last
# conv's output); batch norm sits before each ReLU (the report put it
# after) and also after the hidden layer; the report's colour jitter
# reached its validation images too, ours only the training ones. The
# `full` profile uses batches of 128 so that all of it fits a Colab
# session; `reproduce` uses the report's 32. Every finished run is saved:
# run the cell again after an interruption and only the missing runs
# train.

# %%
cifar_train, cifar_val, cifar_test = lu.load_splits(
    "cifar10",
    s["ladder_n_train"],
    s["ladder_n_val"],
    s["ladder_n_test"],
    SEED,
    data_dir=run.data_dir,
)
RUNS = run.results_dir / "runs"  # every run's state: run again to continue
short, long = s["ladder_epochs"]
steps = lu.ladder(
    {
        "preset": "small",
        "optimizer": "adam",
        "lr": 1e-3,
        "batch_size": s["ladder_batch_size"],
        "epochs": short,
    },
    {
        "+ weight decay 1e-5": {"weight_decay": 1e-5},
        f"+ dropout 0.5, {long} epochs": {"dropout": 0.5, "epochs": long},
        "+ flips, colour jitter": {"augment": "flip+color jitter"},
        "no biases": {"bias": False},
        "+ batch norm, lr 7e-4": {"batch_norm": True, "lr": 7e-4},
    },
)
# The report's test accuracy after each step (%, one run each).
REPORT = [71.77, 72.89, 74.45, 75.50, 76.63, 77.70]


def train_run(config, seed, device=run.device):
    # resume_dir: a run cut short continues from its last epoch.
    return lu.train_classifier(
        config,
        seed,
        cifar_train,
        cifar_val,
        cifar_test,
        device,
        resume_dir=RUNS,
    )


results = lu.run_sweep(
    steps,
    s["ladder_seeds"],
    train_run,
    run.results_dir / "ladder",
    executor=executor,
)
table = lu.format_mean_std(lu.aggregate(results, ["test_acc"]), ["test_acc"])
table.insert(0, "report, one run", [f"{r:.2f}" for r in REPORT])
step_verdicts = lu.compare_steps(results, "test_acc")
table["change on the step before"] = step_verdicts["test_acc change"].map(
    "{:+.1%}".format
) + step_verdicts["two std errors"].map(
    lambda band: "" if band != band else f" ± {band:.1%}"  # NaN: one seed
)
table["verdict"] = step_verdicts["verdict"]
print(f"{run.profile} profile, seeds {s['ladder_seeds']}" + run.caveat())
table.fillna("-").rename(columns={"test_acc": "ours, test accuracy (%)"})

# %% [markdown]
# The verdict compares each step with the one before it, as the report
# did, over the seeds (a change counts when it is larger than two
# standard errors). These are test accuracies, because the report quoted
# test accuracies; a lab choosing between models would decide on
# validation (Lab 2 does).
#
# **The last step over more seeds** (ten in `full`, as the report ran
# it). The spread between them is the noise that every single-run
# comparison above carries:

# %%
last = list(steps)[-1]
robust = lu.run_sweep(
    {last: steps[last]},
    s["robust_seeds"],
    train_run,
    run.results_dir / "ladder",
    executor=executor,
)
acc = robust["test_acc"] * 100
gains = [b - a for a, b in zip(REPORT, REPORT[1:])]
print(
    f"{last}: test accuracy over {len(robust)} seeds "
    f"{acc.mean():.2f} ± {acc.std():.2f}% (lowest {acc.min():.2f}, "
    f"highest {acc.max():.2f}; {run.profile} profile).\n"
    f"The report's step gains, {', '.join(f'{g:+.2f}' for g in gains)} "
    f"points, are {min(gains) / acc.std():.1f} to "
    f"{max(gains) / acc.std():.1f} times this spread: one run per step "
    f"cannot tell "
    + (
        "most of them from luck."
        if sum(g < 2 * acc.std() for g in gains) > len(gains) / 2
        else "the smaller ones from luck."
    )
)

# %% [markdown]
# **Over-fitting, as the report saw it.** In the report's losses plot its
# baseline's validation loss turned upwards while the training loss kept
# falling. Whether this lab's runs do the same depends on how many epochs
# the profile gives them. Below, the baseline and the last step, mean
# over seeds with a band of one standard deviation; the dotted line marks
# the epoch of lowest validation loss, and the printout under the figure
# says, for this run, whether the validation loss rose after it.

# %%
histories = lu.load_histories(
    run.results_dir / "ladder", names=["baseline", last]
)
fig = plots.plot_overfitting(
    histories,
    ["baseline", last],
    title=f"The small CNN's losses, first and last step ({run.profile} "
    f"profile)",
)

# %%
for name in ("baseline", last):
    runs = histories[histories["name"] == name]
    h = runs.groupby("epoch").mean(numeric_only=True)
    low = int(h["val_loss"].idxmin())
    end = h.iloc[-1]
    rise = end["val_loss"] - h["val_loss"].min()
    # The seeds' spread of the last epoch's validation loss: a rise
    # smaller than it is no evidence of over-fitting.
    spread = runs[runs["epoch"] == h.index[-1]]["val_loss"].std()
    if low == h.index[-1]:
        trend = ": still at its lowest at the last epoch"
    elif runs["seed"].nunique() > 1 and rise > spread:
        trend = (
            f", then {rise:.3f} higher at the end, more than the seeds' "
            f"spread ({spread:.3f}): over-fitting"
        )
    else:
        trend = (
            f", {rise:.3f} higher at the end, within the seeds' spread "
            f"({spread:.3f})"
            if runs["seed"].nunique() > 1
            else f", {rise:.3f} higher at the end (one seed: no spread)"
        )
    print(
        f"{name}: validation loss lowest at epoch {low} of {len(h)}{trend}"
        f"; at the end training accuracy {end['train_acc']:.1%}, "
        f"validation {end['val_acc']:.1%} (a gap of "
        f"{100 * (end['train_acc'] - end['val_acc']):.1f} points)."
    )

# %% [markdown]
# ## What to take away
#
# - Look at the data first: its shape, classes, balance and pixel range
#   decide the model's input layer, the loss and the metric.
# - Normalisation constants come from the training set only.
# - A validation split is stratified and seeded; the test set is touched
#   once, at the very end.
# - One run per configuration is an anecdote: repeat it over seeds and
#   compare a gain with the spread before calling it an improvement.
#   Lab 2 takes this network (and a wider one) apart, one change at a
#   time, on that rule.

# %%
print(run.finish())
