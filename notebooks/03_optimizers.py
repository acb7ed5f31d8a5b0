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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/deep-learning-labs/deep-learning-labs/blob/main/notebooks/03_optimizers.ipynb)

# %% [markdown]
# # Lab 3: Comparing optimizers fairly
#
# A past course report compared SGD, SGD with momentum 0.9, RMSprop and
# Adam on its three-conv CIFAR-10 network (Lab 2's `wide` preset with
# batch norm), **all at one learning rate, 1e-4** (and weight decay for
# Adam alone), and concluded that Adam optimised the network best and
# plain SGD was very slow: SGD stood near 63% after 150 epochs, and
# momentum reached 80% only near epoch 120.
#
# That comparison is unfair. The learning rate sets the step size, and the
# step size each optimizer needs is different: Adam and RMSprop divide
# each step by a running gradient scale, so their good rates are small;
# plain SGD's steps are proportional to the raw gradient, so it needs
# far larger rates (section 3's sweep finds each one's own). Giving every
# optimizer Adam's rate starves the others.
#
# This lab does it right:
#
# 1. The update rules, written out as formulas and as code, checked
#    against `torch.optim`.
# 2. How they move on a 2-D landscape with a narrow, curved valley.
# 3. A **fair** comparison on CIFAR-10: the same initial weights and data
#    order for every optimizer, a learning-rate sweep per optimizer that
#    picks each one's best rate on validation data, then several seeds.
# 4. The unfair shared-rate comparison beside it, early stopping replayed
#    on the recorded curves (with your rule), and learning-rate schedules.
#
# What this lab trains is not the report's network: it is Lab 2's `small`
# preset (channels 16, 32, 64) without batch norm, a fraction of the wide
# net's arithmetic, so that every optimizer's sweep and seeds fit the
# profile's time, on the images and epochs of
# the profile. And no optimizer here has weight decay but AdamW (its
# decoupled 1e-2; the report did not try AdamW), where the report gave
# Adam alone an L2 penalty of 3e-4 and SGD and RMSprop none: within each
# protocol the optimizers differ only in their update rule and, in the
# own-rate protocol, their learning rate.

# %% tags=["parameters"]
PROFILE = "auto"  # smoke | cpu | full | reproduce | auto (full on a GPU)
SEED = 0  # seed of the data subset and split
DATA_DIR = None  # None: $LAB_DATA_DIR if set, else ./data
RESULTS_DIR = None  # None: $LAB_RESULTS_DIR if set, else ./results
# In Colab, True keeps results and checkpoints on your Google Drive
# (you are asked to allow it), so a runtime reset loses nothing:
KEEP_ON_DRIVE = False
# Teaching staff: a Dask cluster for this lab's sweeps. None trains here;
# "local:4" starts four worker processes on this machine; an address
# ("tcp://10.0.0.5:8786") sends the runs to a running cluster.
SCHEDULER = None
SHARED_LR = 1e-4  # the report's one learning rate for every optimizer
BATCH_SIZE = None  # the same for every optimizer; None: the profile's
# Learning rates each optimizer's sweep may try (log grid, factor ~3);
# the profile decides how many central points are used.
LR_GRIDS = {
    "sgd": [3e-3, 1e-2, 3e-2, 1e-1, 3e-1],
    "momentum": [1e-3, 3e-3, 1e-2, 3e-2, 1e-1],
    "nesterov": [1e-3, 3e-3, 1e-2, 3e-2, 1e-1],
    "rmsprop": [3e-5, 1e-4, 3e-4, 1e-3, 3e-3],
    "adam": [1e-4, 3e-4, 1e-3, 3e-3, 1e-2],
    "adamw": [1e-4, 3e-4, 1e-3, 3e-3, 1e-2],
}
ADAMW_WEIGHT_DECAY = 1e-2  # AdamW's decoupled decay (torch's default)
# Early stopping replayed on the recorded curves (section 5): epochs
# without improvement before stopping, and the smallest improvement.
PATIENCE = 2
MIN_DELTA = 0.0
# True: section 5 uses your early_stopping (the exercise version sets it);
# False: the reference, lu.early_stopping.
YOUR_CODE = False

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
import inspect
import math

import lab_utils as lu
from lab_utils import plots
from lab_utils.tools import self_check

run = lu.start_lab(
    "03_optimizers", PROFILE, SEED, DATA_DIR, RESULTS_DIR, drive=KEEP_ON_DRIVE
)
s = run.settings
print(run.banner())
executor = lu.sweep_executor(SCHEDULER)  # None: runs train here

# %% [markdown]
# ## 1. The update rules
#
# For a weight $w$ with gradient $g_t$ at step $t$ and learning rate
# $\eta$:
#
# | optimizer | update |
# |---|---|
# | SGD | $w \leftarrow w - \eta\, g_t$ |
# | momentum | $v \leftarrow \mu v + g_t$, $\quad w \leftarrow w - \eta\, v$ |
# | Nesterov | $v \leftarrow \mu v + g_t$, $\quad w \leftarrow w - \eta\,(g_t + \mu v)$ |
# | RMSprop | $s \leftarrow \alpha s + (1-\alpha)\, g_t^2$, $\quad w \leftarrow w - \eta\, g_t / (\sqrt{s} + \epsilon)$ |
# | Adam | $m \leftarrow \beta_1 m + (1-\beta_1) g_t$, $\ v \leftarrow \beta_2 v + (1-\beta_2) g_t^2$, $\ \hat m = \frac{m}{1-\beta_1^t}$, $\ \hat v = \frac{v}{1-\beta_2^t}$, $\ w \leftarrow w - \eta\, \hat m / (\sqrt{\hat v} + \epsilon)$ |
# | AdamW | Adam, plus $w \leftarrow w - \eta \lambda w$ applied directly (decoupled weight decay) |
#
# Momentum keeps a running sum of past gradients, so steps build up along
# directions where gradients agree and cancel where they oscillate.
# RMSprop divides by a running root-mean-square of the gradient: every
# weight gets a step of about $\eta$, whatever the scale of its gradient.
# Adam does both, and corrects the bias of its averages, which start at
# zero. Two of the rules in code, from `lab_utils.optim`: each takes a
# parameter tensor `p`, its gradient `g` and its state, and updates `p`
# and the state **in place** (an optimizer owns its parameters; it never
# replaces them).

# %% tags=["nbval-check-output"]
for step in (lu.sgd_step, lu.rmsprop_step):
    print(inspect.getsource(step))

# %% [markdown]
# ### Exercise 3.1: momentum and Nesterov
#
# Write `momentum_step(p, g, v, lr, momentum, nesterov, first)` in the
# same style, from the table above: on the first step (`first=True`) the
# velocity `v` starts as the gradient itself (as in `torch.optim.SGD`),
# whatever the buffer held before. Update `p` and `v` in place and return
# nothing; `v` holds PyTorch's velocity, `momentum * v + g` (not the other
# convention's `momentum * v - lr * g`). The self-check runs it for six steps on
# real gradients (a linear classifier on CIFAR-10 images) beside
# `lu.momentum_step`, from identical inputs at every step (the buffer
# holds leftovers before the first), and reports the first step where `p`
# or `v` differ.


# %% tags=["hide-input"]
def momentum_step(p, g, v, lr, momentum=0.9, nesterov=False, first=False):
    """Update p and the velocity v in place for one step of SGD with
    (optionally Nesterov) momentum."""
    # BEGIN SOLUTION
    # hint: update v in place first (on the first step it is simply g),
    # then move p against v; Nesterov's step looks one momentum step
    # further ahead.
    if first:
        v.copy_(g)
    else:
        v.mul_(momentum).add_(g)
    direction = g + momentum * v if nesterov else v
    p.sub_(lr * direction)
    # END SOLUTION


# %% tags=["nbval-check-output"]
self_check("momentum_step", momentum_step, run.data_dir)

# %% [markdown]
# ### Exercise 3.2: Adam
#
# Write `adam_step(p, g, m, v, t, lr, beta1, beta2, eps)`: update the
# running means `m` (of the gradients) and `v` (of their squares) in
# place, correct their bias with the step number `t` (1 on the first
# step), and move `p` in place; it returns nothing. `m` and `v` keep the
# plain running means (the bias-corrected ones are new tensors). The
# self-check compares it with `lu.adam_step`
# step by step, as above.


# %% tags=["hide-input"]
def adam_step(p, g, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    """Update p and Adam's moment estimates m and v in place; t counts
    steps from 1."""
    # BEGIN SOLUTION
    # hint: m and v are exponential moving averages (mul_ then add_);
    # divide them by 1 - beta ** t before using them; eps goes outside
    # the square root.
    m.mul_(beta1).add_((1 - beta1) * g)
    v.mul_(beta2).add_((1 - beta2) * g.square())
    m_hat = m / (1 - beta1**t)
    v_hat = v / (1 - beta2**t)
    p.sub_(lr * m_hat / (v_hat.sqrt() + eps))
    # END SOLUTION


# %% tags=["nbval-check-output"]
self_check("adam_step", adam_step, run.data_dir)

# %% [markdown]
# `lu.HandWrittenOptimizer` applies the library's rules to a model.
# Trained side by side with `torch.optim` from the same weights on the same
# real CIFAR-10 batches (in float64, so rounding stays negligible), the
# weights agree after 20 steps to within float64 rounding accumulated over
# the steps (the largest difference, printed below, is many orders of
# magnitude below how far the weights moved): the formulas are the ones
# PyTorch implements.

# %%
check_data = lu.load_dataset(
    "cifar10", n_samples=256, seed=SEED, data_dir=run.data_dir
)
for rule, lr in (
    ("sgd", 0.01),
    ("momentum", 0.01),
    ("nesterov", 0.01),
    ("rmsprop", 1e-3),
    ("adam", 1e-3),
):
    lu.seed_everything(SEED)
    difference, moved = lu.compare_to_torch(
        rule,
        lu.ThreeConvNet(lu.PRESETS["small"]),
        lu.TensorLoader(check_data, 32, shuffle=True, seed=SEED),
        lr,
        20,
    )
    print(
        f"{rule:>9}: weights moved up to {moved:.1e}; largest difference"
        f" from torch.optim after 20 steps {difference:.1e}"
    )

# %% [markdown]
# ## 2. On a 2-D landscape
#
# The Rosenbrock function $f(x, y) = (1-x)^2 + 100\,(y-x^2)^2$ has its
# minimum at $(1, 1)$ at the bottom of a long, curved, narrow valley:
# steep across, almost flat along. That is the shape that makes plain
# gradient descent slow (a step large enough to move along the valley
# overshoots across it). Each optimizer runs from the same start with its
# own best learning rate from a small grid, as a fair comparison must.

# %%
paths = {}
for name in ("sgd", "momentum", "nesterov", "rmsprop", "adam"):
    lr, path = lu.best_trajectory(
        lu.rosenbrock,
        [-1.5, 2.0],
        name,
        [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1],
        s["path_steps"],
    )
    paths[f"{name} (lr {lr:g})"] = path
fig = plots.plot_trajectories(
    lu.rosenbrock,
    paths,
    title="Rosenbrock's valley: square = start, star = "
    "minimum, each optimizer at its best rate",
)
# %% [markdown]
# Where each ended, after the same number of steps:

# %%
for name, path in paths.items():
    x, y = path[-1]
    print(
        f"{name:>22}: ends at ({x:.3f}, {y:.3f}), "
        f"{math.hypot(x - 1, y - 1):.3f} from the minimum, "
        f"f = {lu.rosenbrock(path[-1]):.2g}"
    )

# %% [markdown]
# SGD crawls: the steep walls cap its learning rate, and along the flat
# valley floor the gradient is tiny. Momentum accumulates the consistent
# downhill component and travels much further for the same rate. RMSprop
# and Adam rescale each coordinate's step, so the flat direction gets a
# larger step and the steep one a smaller one: a different cure for the
# same valley. Which one ends closest depends on the number of steps and
# the rates tried (the distances above, and the bars in the figure's last
# cell); none of them is the fastest on every valley.
#
# ## 3. The fair comparison on CIFAR-10
#
# **Same start, same data**: `lu.train_classifier` seeds everything before
# it builds the model and the data loader, so for a given seed every
# optimizer starts from identical weights and sees the batches in the same
# order. Only the optimizer and its learning rate differ.
#
# **Each optimizer's own rate**: a short sweep over each optimizer's
# learning-rate grid (one seed) chooses its rate on the validation set.

# %%
train, val, test = lu.load_splits(
    "cifar10",
    s["n_train"],
    s["n_val"],
    s["n_test"],
    SEED,
    data_dir=run.data_dir,
)
print(
    f"train {len(train):,} | validation {len(val):,} | test "
    f"{len(test):,} images"
)


RUNS = run.results_dir / "runs"  # every run's state: run again to continue


def train_run(config, seed, device=run.device):
    # resume_dir: a run cut short continues from its last epoch.
    return lu.train_classifier(
        config, seed, train, val, test, device, resume_dir=RUNS
    )


def config_for(optimizer, lr, epochs, **extra):
    return {
        "preset": "small",
        "optimizer": optimizer,
        "lr": lr,
        "batch_size": BATCH_SIZE or s["batch_size"],
        "epochs": epochs,
        "weight_decay": ADAMW_WEIGHT_DECAY if optimizer == "adamw" else 0.0,
        **extra,
    }


def central(grid, n):
    start = (len(grid) - n + 1) // 2
    return grid[start : start + n]


sweep = {
    f"{opt} lr={lr:g}": config_for(opt, lr, s["sweep_epochs"])
    for opt, grid in LR_GRIDS.items()
    for lr in central(grid, s["lr_points"])
}
sweep_results = lu.run_sweep(
    sweep, [SEED], train_run, run.results_dir / "lr_sweep", executor=executor
)
fig = plots.plot_lr_sweep(sweep_results)
# %%
best = (
    sweep_results.sort_values("val_acc", ascending=False)
    .groupby("optimizer", sort=False)
    .head(1)
    .set_index("optimizer")
    .loc[list(LR_GRIDS)]
)
tried = {opt: central(grid, s["lr_points"]) for opt, grid in LR_GRIDS.items()}
best["at grid edge"] = [
    lr in (tried[o][0], tried[o][-1]) for o, lr in best["lr"].items()
]
best[["lr", "val_acc", "at grid edge"]]

# %% [markdown]
# The best rates span two orders of magnitude, exactly as the update rules
# predict. (A best rate at the edge of its grid means the grid should be
# widened; the `smoke` profile tries only two rates, so there it always
# is.)
#
# Now each optimizer at its own best rate, and, side by side, every
# optimizer at the report's shared rate, each over several seeds.

# %%
fair = {
    f"{opt} (own lr {lr:g})": config_for(opt, float(lr), s["epochs"])
    for opt, lr in best["lr"].items()
}
shared = {
    f"{opt} (shared lr {SHARED_LR:g})": config_for(opt, SHARED_LR, s["epochs"])
    for opt in LR_GRIDS
}
results = lu.run_sweep(
    {**fair, **shared},
    s["seeds"],
    train_run,
    run.results_dir / "comparison",
    executor=executor,
)
results["protocol"] = [
    "own lr" if "own" in n else "shared lr" for n in results["name"]
]
histories = lu.load_histories(
    run.results_dir / "comparison", names=list(fair) + list(shared)
)

# %%
fig = plots.plot_protocols(
    histories,
    {
        "own learning rate": list(fair),
        f"shared learning rate {SHARED_LR:g}": list(shared),
    },
    title="Validation accuracy against epochs (top) and wall time "
    "(bottom), mean ± std over seeds",
)
# %%
per_epoch = (
    histories.assign(optimizer=histories["name"].str.split(" ").str[0])
    .groupby("optimizer", sort=False)["seconds"]
    .mean()
)
print(
    "Wall time per epoch (training and its validation pass), mean over "
    "runs: "
    + ", ".join(f"{o} {v:.2f}" for o, v in per_epoch.items())
    + f" s.\nThe dearest optimizer's epoch costs "
    f"{per_epoch.max() / per_epoch.min():.2f} times the cheapest's "
    f"({run.profile} profile), so against time one optimizer's curve is "
    f"stretched relative to another's by about that factor, on average."
)

# %% [markdown]
# ## 4. Results
#
# Per optimizer and protocol: the validation and test accuracy of the
# final weights, and the epochs and seconds until validation accuracy
# first reached the target, as mean ± standard deviation over seeds.

# %%
reach = lu.time_to_target(histories, s["target"])
table = results.merge(reach, on=["name", "seed"])
metrics = ("val_acc", "test_acc", "epochs_to_target", "seconds_to_target")
summary = lu.aggregate(table, metrics)
shown = lu.format_mean_std(summary, metrics)
shown["reached target"] = (
    table.groupby("name", sort=False)["epochs_to_target"].count().astype(str)
    + f"/{len(s['seeds'])}"
)
print(
    f"target: {s['target']:.0%} validation accuracy | {run.profile} "
    f"profile, {s['epochs']} epochs, seeds {s['seeds']}"
)
shown

# %%
fig = plots.plot_ablation(table, title="Own learning rate vs the shared 1e-4")
# %% [markdown]
# ## 5. Early stopping, replayed on these curves
#
# The ablation report stopped when validation accuracy had not improved
# for ten epochs and kept the best epoch's weights; the 3-D ArcFace report
# meant to watch test accuracy (its accuracy function returned nothing, so
# it never stopped) and saved the latest weights, and the others
# trained a fixed number of epochs. The rule has two knobs:
# **patience**, the number of epochs in a row without improvement before
# stopping, and **min_delta**, how much a value must beat the best so far
# to count as an improvement (a tie is no improvement).
#
# ### Exercise 3.3: the early-stopping rule
#
# Write `early_stopping(values, patience, min_delta)`. `values` is the
# validation curve so far, one number per epoch, oldest first, higher is
# better (pass minus the loss to watch a loss); it is called after every
# epoch. Return `(best_epoch, stop)`, an integer and a boolean (Python's
# or NumPy's): the epoch (counted from 1) of the last improvement, the
# first epoch counting as one, and whether
# `patience` epochs in a row have now passed without one. The self-check
# calls it after every epoch of curves recorded by Lab 2's runs, one with
# ties, one that never improves and one of negative values (as minus a
# loss is).


# %% tags=["hide-input"]
def early_stopping(values, patience, min_delta=0.0):
    """values: a validation curve so far (higher is better) ->
    (best_epoch, stop)."""
    # BEGIN SOLUTION
    # hint: walk the curve keeping the best value, its epoch and a count
    # of epochs since; a value improves only if above best + min_delta.
    best, best_epoch, wait = None, None, 0
    for epoch, value in enumerate(values, start=1):
        if best is None or value > best + min_delta:
            best, best_epoch, wait = value, epoch, 0
        else:
            wait += 1
    return best_epoch, wait >= patience
    # END SOLUTION


# %% tags=["nbval-check-output"]
self_check("early_stopping", early_stopping, run.data_dir)

# %% [markdown]
# Each run above trained for all its epochs. Replayed on its recorded
# validation accuracy, the rule says where it would have stopped, which
# epoch's weights it would have kept, and what that cost or saved. With
# `YOUR_CODE = True` (the exercise version) your rule decides.

# %%
rule = early_stopping if YOUR_CODE else lu.early_stopping
replayed = lu.early_stopping_on_curves(histories, PATIENCE, MIN_DELTA,
                                       rule=rule)  # fmt: skip
replayed = replayed[replayed["name"].isin(list(fair))]
print(
    f"patience {PATIENCE}, min_delta {MIN_DELTA:g}, own learning rates, "
    f"{run.profile} profile: {s['epochs']} epochs, seeds {s['seeds']}"
)
print(lu.early_stopping_summary(replayed))
replayed.round(4)

# %% [markdown]
# ## 6. Learning-rate schedules
#
# A constant rate is a compromise between fast early progress and a fine
# final approach. A **cosine** schedule decays the rate smoothly to zero;
# **one-cycle** first warms it up (useful when early gradients are wild),
# then anneals it. For momentum and Adam at their own best rates:

# %%
schedules = {
    f"{opt}, {schedule}": config_for(
        opt, float(best.loc[opt, "lr"]), s["epochs"], schedule=schedule
    )
    for opt in ("momentum", "adam")
    for schedule in lu.SCHEDULES
}
schedule_results = lu.run_sweep(
    schedules,
    s["seeds"],
    train_run,
    run.results_dir / "schedules",
    executor=executor,
)
lu.format_mean_std(
    lu.aggregate(schedule_results, ("val_acc", "test_acc")),
    ("val_acc", "test_acc"),
)

# %% [markdown]
# ## 7. What the fair comparison shows
#
# This run's numbers, from the tables above (the committed outputs are
# the `cpu` profile's: a subset of CIFAR-10, a few epochs, three seeds):

# %%
val = table.groupby("name", sort=False)["val_acc"].agg(["mean", "std"])
own, shared_ = val.loc[list(fair)], val.loc[list(shared)]


def spread(part):
    top, bottom = part["mean"].idxmax(), part["mean"].idxmin()
    gap = part.loc[top, "mean"] - part.loc[bottom, "mean"]
    return f"{top} {part.loc[top, 'mean']:.1%}, {bottom} " + (
        f"{part.loc[bottom, 'mean']:.1%}: a gap of {gap:.1%}"
    )


print(f"- Shared rate {SHARED_LR:g}: {spread(shared_)}.")
print(f"- Own rates: {spread(own)}.")
leader = own["mean"].idxmax()
for name, row in own.drop(leader).iterrows():
    # The gap in standard deviations of the difference of two means.
    sd = math.sqrt(row["std"] ** 2 + own.loc[leader, "std"] ** 2)
    gap = own.loc[leader, "mean"] - row["mean"]
    print(
        f"    {name}: {gap:.1%} below the best, "
        + (
            f"{gap / sd:.1f} seed standard deviations"
            if sd > 0
            else "(one seed: no spread to compare with)"
        )
    )
sched = schedule_results.groupby("name", sort=False)["val_acc"].mean()
for opt in ("momentum", "adam"):
    constant = sched[f"{opt}, constant"]
    changes = ", ".join(
        f"{schedule} {sched[f'{opt}, {schedule}'] - constant:+.1%}"
        for schedule in lu.SCHEDULES
        if schedule != "constant"
    )
    print(f"- Schedules for {opt}, against a constant rate: {changes}.")
if run.caveat():
    print(run.caveat().strip())

# %% [markdown]
# How to read them:
#
# - **At the shared rate the report's picture appears**: 1e-4 is the
#   rate the report's grid picked for Adam in its runs of up to 150
#   epochs (its baseline ran Adam at the usual 1e-3), and a hundred to a
#   thousand times too small for SGD. In short runs Adam wants more: the
#   sweep above prints each optimizer's chosen rate (in the committed
#   `cpu` run, Adam's was above 1e-4). So the adaptive optimizers pull ahead and plain SGD and
#   momentum barely move in a short run.
# - **At each optimizer's own rate the gap shrinks**, and the optimizers
#   sit closer together; how close, in units of the seed-to-seed spread,
#   is printed above (a gap under about two standard deviations is not
#   a ranking).
# - **Adaptive methods are forgiving**: in the learning-rate sweep their
#   accuracy changes less across the grid. That robustness, and reaching
#   the target in fewer epochs, is Adam's real advantage here, not a
#   higher ceiling.
# - **A schedule is a hyper-parameter too**: a cosine decay spends the
#   last epochs on a fine approach; one-cycle's warm-up pays where early
#   gradients are wild and the run is long enough to recover from the
#   low start. The changes above say which helped in this run.
# - **Time, not just epochs**: an optimizer's update is a few
#   element-wise operations per parameter, small next to the network's
#   forward and backward passes, so its steps should cost about alike;
#   the figure's lower row and the seconds printed under it show how
#   alike they were in this run.
#
# The lesson reaches beyond optimizers: **a comparison is only as fair as
# the tuning each contender gets**. Tune each method's own
# hyper-parameters on validation data with the same budget, then compare
# over seeds.

# %%
print(run.finish())
