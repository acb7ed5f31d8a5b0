"""What a lab costs in a profile: the work counted, and minutes predicted.

``plan_work(lab, settings)`` (or ``profiles.plan_lab(lab, profile)``)
lists a notebook's work as its profile row
describes it: every training run (model, images, epochs, batch size),
the t-SNE embeddings (n points, iterations) and the PCA matrices. Each
model's training FLOPs per image are counted on the real model with
``torch.utils.flop_counter`` (forward + backward, matmuls and convolutions;
element-wise work is not counted). Minutes are then predicted

- on this machine's CPU, from a short measured probe: a few timed training
  steps of each model at its batch size, and a small t-SNE;
- on an H200, from the effective throughput and per-step cost measured
  there (``benchmarks/gpu_probe.py``), and on a Colab T4 and an A100
  from those scaled by their datasheets' numbers (``DEVICES`` below says
  how, with its source, until a measurement replaces it).

The numbers are upper bounds where a run stops early (early stopping).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from functools import cache

import torch

from .data import LabData
from .models import PRESETS

# Images per split when a profile asks for "all" (None). LFW has no
# official split: lab_utils keeps a seeded 10% of its 13,233 faces apart.
FULL_SIZES = {
    "mnist": (60_000, 10_000),
    "fashion_mnist": (60_000, 10_000),
    "cifar10": (50_000, 10_000),
    "lfw": (13_233 - 1_323, 1_323),
}
SHAPES = {
    "mnist": (1, 28, 28),
    "fashion_mnist": (1, 28, 28),
    "cifar10": (3, 32, 32),
    "lfw": (3, 32, 32),
}
N_CLASSES = {
    "mnist": 10,
    "fashion_mnist": 10,
    "cifar10": 10,
    "lfw": 10,
}  # the VAE ignores labels

# Work every notebook does besides training: kernel start, imports,
# decoding data (cached after the first run) and drawing its figures.
# Lab 1 is nothing but this, and takes about half a minute on this
# machine's 2 cores (its cpu run), so every notebook is charged that.
FIXED_SECONDS = 30.0


@dataclass(frozen=True)
class Device:
    """How fast a device trains these labs' models, as the cost model
    assumes: ``train_flops`` effective FLOP/s of a training step's
    matmuls and convolutions (mixed precision, as ``fit`` runs on CUDA);
    ``host_factor`` times ``STEP_SECONDS`` (the H200's measured) is the
    fixed cost of one step there (its many small kernels, replayed as one
    CUDA graph);
    ``tsne_pair_seconds`` the seconds one t-SNE gradient iteration spends
    per pair of points (t-SNE runs where the features are)."""

    name: str
    train_flops: float
    host_factor: float
    tsne_pair_seconds: float
    source: str


# Measured on the lent H200 with CUDA graphs (lab_utils.graphs;
# benchmarks/results/gpu_probe_h200.json, 2026-12-04, torch 2.11): fit's
# step time grows with the FLOPs of a step at H200_TRAIN_FLOPS (the slope
# over the wide net at batch 64, 128 and 256), and what is left of each
# model's step is its fixed cost: the many small kernels of a step
# (element-wise work, the optimizer, the metrics), no longer the host's
# launches. The largest of each kind: batch norm and the dense block add
# kernels (wide 0.52 ms, with batch norm 0.75, dense 0.88; small 0.46).
# tests/test_costs.py derives them from the JSON again.
H200_TRAIN_FLOPS = 81e12
STEP_SECONDS = {
    "three_conv": 0.88e-3,
    "fashion_net": 1.10e-3,
    "margin": 0.77e-3,  # two_conv 0.77 ms, five_conv 0.52 ms
    "vae": 0.68e-3,
}

# The H200 is measured; the T4 and the A100 are derived from it with
# their datasheets' numbers (stated, not measured: a measurement replaces
# them). Effective FLOP/s scale with the tensor-core peak (the H200's
# dense bf16 989 TFLOP/s; memory bandwidth scales alike for the T4: 4.8
# against 0.32 TB/s). A step's fixed cost, small kernels that wait on
# latency more than on bandwidth, scales with the clock and the number
# of multiprocessors, which the factors below round up. t-SNE per pair:
# the H100's measured 1.4e-11 s at n = 10,000 scaled by memory
# bandwidth (H100 3.35 TB/s, H200 4.8, A100 1.56, T4 0.32).
DEVICES = {
    "t4": Device(
        "T4 (Colab)",
        train_flops=H200_TRAIN_FLOPS * 65 / 989,
        host_factor=1.5,
        tsne_pair_seconds=1.5e-10,
        source="derived from the H200's measured steps: effective "
        "FLOP/s x 65/989 (T4 fp16 tensor-core peak 65 TFLOP/s, H200 "
        "bf16 989: NVIDIA datasheets), fixed cost per step x 1.5 (T4: "
        "40 SMs at 1.59 GHz; H200: 132 at 1.98)",
    ),
    "a100": Device(
        "A100",
        train_flops=H200_TRAIN_FLOPS * 312 / 989,
        host_factor=1.25,
        tsne_pair_seconds=3e-11,
        source="derived from the H200's measured steps: effective "
        "FLOP/s x 312/989 (A100 bf16 tensor-core peak 312 TFLOP/s: "
        "NVIDIA datasheet), fixed cost per step x 1.25 (108 SMs at "
        "1.41 GHz)",
    ),
    "h200": Device(
        "H200",
        train_flops=H200_TRAIN_FLOPS,
        host_factor=1.0,
        tsne_pair_seconds=1.0e-11,
        source="measured: benchmarks/results/gpu_probe_h200.json (the "
        "lent H200, CUDA graphs, 2026-12-04)",
    ),
}


@dataclass(frozen=True)
class Training:
    """``runs`` training runs of one model: ``images`` per epoch for up
    to ``epochs`` epochs at ``batch_size``, then ``eval_images`` forward
    passes per epoch (validation) and ``test_images`` once per run."""

    label: str
    recipe: str
    config: tuple  # sorted (key, value) pairs: hashable
    dataset: str
    images: int
    epochs: int
    runs: int = 1
    eval_images: int = 0
    test_images: int = 0

    @property
    def kind(self) -> str:
        """The STEP_SECONDS entry for this model."""
        if self.recipe == "classifier":
            return dict(self.config).get("model", "three_conv")
        return self.recipe

    @property
    def batch_size(self) -> int:
        return int(dict(self.config).get("batch_size", 64))

    @property
    def steps(self) -> int:
        per_epoch = math.ceil(self.images / self.batch_size)
        return self.runs * self.epochs * per_epoch

    @property
    def train_images(self) -> int:
        return self.runs * self.epochs * self.images

    @property
    def forward_images(self) -> int:
        return self.runs * (self.epochs * self.eval_images + self.test_images)

    def flops(self) -> float:
        """Training plus evaluation FLOPs of all runs."""
        forward, train = count_flops(self.recipe, self.config, self.dataset)
        return self.train_images * train + self.forward_images * forward


@dataclass
class LabPlan:
    """One notebook's work in one profile."""

    lab: str
    profile: str
    trainings: list[Training] = field(default_factory=list)
    tsne: list[tuple[int, int]] = field(default_factory=list)  # (n, iter)
    pca: list[tuple[int, int]] = field(default_factory=list)  # (n, d)

    @property
    def train_images(self) -> int:
        return sum(t.train_images for t in self.trainings)

    def flops(self) -> float:
        return sum(t.flops() for t in self.trainings)

    def seconds(self, device: str = "cpu") -> float:
        """Predicted seconds on ``device``: "cpu" (this machine, probed),
        or a key of ``DEVICES``."""
        total = FIXED_SECONDS
        for t in self.trainings:
            total += training_seconds(t, device)
        for n, n_iter in self.tsne:
            total += tsne_seconds(n, n_iter, device)
        return total

    def describe(self, on_cpu: bool = True) -> str:
        """Two lines for a notebook's banner: the predicted minutes (on
        this CPU, probed, only when running on it) and the work."""
        here = (
            f"{self.seconds('cpu') / 60:.1f} min on this CPU, "
            if on_cpu
            else ""
        )
        return (
            f"predicted: {here}{self.seconds('t4') / 60:.1f} min on a "
            f"T4, {self.seconds('a100') / 60:.1f} on an A100, "
            f"{self.seconds('h200') / 60:.1f} on an H200\n"
            f"work: {self.train_images / 1e6:.2f} M training images, "
            f"{self.flops() / 1e15:.3f} PFLOP (run_all --plan: details)"
        )


def training_seconds(t: Training, device: str) -> float:
    """Predicted seconds for ``t`` on ``device`` ("cpu" or a DEVICES key)."""
    if device == "cpu":
        step, per_forward = cpu_probe(t.recipe, t.config, t.dataset)
        return t.steps * step + t.forward_images * per_forward
    spec = DEVICES[device]
    # Evaluation runs without gradients at a large batch: its steps cost
    # little next to training's, and its FLOPs are counted in flops().
    step = STEP_SECONDS[t.kind] * spec.host_factor
    return t.steps * step + t.flops() / spec.train_flops


def tsne_seconds(n: int, n_iter: int, device: str) -> float:
    """Predicted seconds of one t-SNE of n points: the affinities (about
    30 binary-search steps over the n x n distances) and n_iter gradient
    iterations, each a few passes over the n x n matrices."""
    if device == "cpu":
        per_pair_iter, per_pair_search = cpu_tsne_probe()
        return n * n * (n_iter * per_pair_iter + 30 * per_pair_search)
    spec = DEVICES[device]
    return n * n * (n_iter + 30) * spec.tsne_pair_seconds


# --- counting --------------------------------------------------------------


def _model_and_step(recipe: str, config: tuple, dataset: str):
    from .arcface import margin_step
    from .engine import classification_step
    from .recipes import BUILDERS
    from .vae import vae_step

    config = dict(config)
    c, h, w = SHAPES[dataset]
    n_classes = N_CLASSES[dataset]
    data = LabData(
        dataset,
        "train",
        torch.zeros(n_classes, c, h, w, dtype=torch.uint8),
        torch.arange(n_classes),
        [str(i) for i in range(n_classes)],
    )
    model = BUILDERS[recipe](config, data)
    step = {
        "classifier": classification_step,
        "margin": margin_step,
        "vae": vae_step(config.get("beta", 1.0)),
    }[recipe]
    return model, step, (c, h, w), n_classes


@cache
def count_flops(recipe: str, config: tuple, dataset: str):
    """(forward, forward + backward) FLOPs per image of the model a recipe
    builds from ``config`` for ``dataset``, counted on a batch of two."""
    from torch.utils.flop_counter import FlopCounterMode

    model, step, shape, n_classes = _model_and_step(recipe, config, dataset)
    X = torch.randn(2, *shape)
    y = torch.tensor([0, 1 % n_classes])
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        step(model, (X, y))
    forward = counter.get_total_flops() / 2
    model.train()
    with FlopCounterMode(display=False) as counter:
        step(model, (X, y))["loss"].backward()
    return forward, counter.get_total_flops() / 2


@cache
def cpu_probe(recipe: str, config: tuple, dataset: str, steps: int = 3):
    """Measured on this CPU: (seconds per training step at the config's
    batch size, seconds per image of an evaluation forward pass), each the
    fastest of ``steps`` timed Adam steps (and two forward passes) after
    one warm-up: the fastest is what the machine can do, where an average
    would charge the lab for whatever else ran during the probe."""
    model, step, shape, n_classes = _model_and_step(recipe, config, dataset)
    batch = int(dict(config).get("batch_size", 64))
    g = torch.Generator().manual_seed(0)
    X = torch.randn(batch, *shape, generator=g)
    y = torch.randint(0, n_classes, (batch,), generator=g)
    optimizer = torch.optim.Adam(model.parameters())
    model.train()

    def one_step():
        optimizer.zero_grad(set_to_none=True)
        step(model, (X, y))["loss"].backward()
        optimizer.step()

    def fastest(work, repeats: int) -> float:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            work()
            times.append(time.perf_counter() - start)
        return min(times)

    one_step()
    before = _scheduled_seconds()
    per_step = fastest(one_step, steps)
    model.eval()
    with torch.no_grad():
        per_forward = fastest(lambda: step(model, (X, y)), 2) / batch
    _note_waiting(before, _scheduled_seconds())
    return per_step, per_forward


# What share of their time the probes' threads spent waiting for a core
# (Linux's run-queue wait): near 0 on an idle machine, a half or more
# when other work keeps every core busy, and the probe then runs several
# times slower than the lab will.
_PROBE_WAITING: list[float] = []


def _scheduled_seconds() -> tuple[float, float] | None:
    """(seconds on a CPU, seconds runnable but waiting for one) of this
    process's threads so far, from /proc/self/task/*/schedstat; None
    where the system does not report them."""
    running = waiting = 0
    try:
        for task in os.scandir("/proc/self/task"):
            try:
                with open(os.path.join(task.path, "schedstat")) as f:
                    on_cpu, queued = f.read().split()[:2]
            except FileNotFoundError:  # the thread ended meanwhile
                continue
            running += int(on_cpu)
            waiting += int(queued)
    except (OSError, ValueError):
        return None
    return running / 1e9, waiting / 1e9


def _note_waiting(before, after) -> None:
    if before is None or after is None:
        return
    running, waiting = (b - a for a, b in zip(before, after))
    if running + waiting > 0:
        _PROBE_WAITING.append(max(waiting, 0.0) / (running + waiting))


def probe_waiting() -> float | None:
    """The largest share of time the CPU probes so far spent waiting for
    a core (0 to 1), or None where the system does not say."""
    return max(_PROBE_WAITING, default=None)


@cache
def cpu_tsne_probe(n: int = 1500, n_iter: int = 5):
    """Measured on this CPU: seconds per pair of points of one t-SNE
    gradient iteration, and of one affinity binary-search step."""
    from .manifold import _kl_gradient, joint_probabilities

    g = torch.Generator().manual_seed(0)
    X = torch.randn(n, 64, generator=g, dtype=torch.float64)
    start = time.perf_counter()
    P = joint_probabilities(X, 30.0).to(torch.float32)
    # The binary search usually stops within 30 steps; the probe's
    # random points take about as many as real features.
    search = (time.perf_counter() - start) / 30
    Y = torch.randn(n, 2, generator=g)
    work, work2 = torch.empty_like(P), torch.empty_like(P)
    start = time.perf_counter()
    for _ in range(n_iter):
        _kl_gradient(P, Y, 1.0, False, work, work2)
    per_iter = (time.perf_counter() - start) / n_iter
    return per_iter / (n * n), search / (n * n)


# --- each lab's work, as its notebook does it --------------------------------


def _frozen(config: dict) -> tuple:
    return tuple(sorted(config.items()))


def _size(n, dataset: str, split: str = "train") -> int:
    full = FULL_SIZES[dataset][0 if split == "train" else 1]
    return full if n is None else min(int(n), full)


def _lab1(s: dict) -> LabPlan:
    # The small report's ladder: every step over ladder_seeds, the last
    # also over robust_seeds (runs already done are reused).
    n_val = s["ladder_n_val"]
    n_train = (
        _size(s["ladder_n_train"] and s["ladder_n_train"] + n_val, "cifar10")
        - n_val
    )
    n_test = _size(s["ladder_n_test"], "cifar10", "test")
    short, long = s["ladder_epochs"]
    base = {"preset": "small", "batch_size": s["ladder_batch_size"]}
    regularised = {**base, "dropout": 0.5}
    last = {**regularised, "bias": False, "batch_norm": True}
    seeds = len(s["ladder_seeds"])
    extra = len(set(s["robust_seeds"]) - set(s["ladder_seeds"]))
    steps = [
        (base, short, seeds * 2),  # baseline, + weight decay
        (regularised, long, seeds * 2),  # + dropout, + flip and jitter
        ({**regularised, "bias": False}, long, seeds),
        (last, long, seeds + extra),
    ]
    plan = LabPlan("01_data_exploration", "")
    for config, epochs, runs in steps:
        plan.trainings.append(
            Training(
                "small report's ladder",
                "classifier",
                _frozen(config),
                "cifar10",
                n_train,
                epochs,
                runs,
                n_val,
                n_test,
            )
        )
    return plan


def _lab2(s: dict) -> LabPlan:
    # The notebook's ablations: one change each to the base preset.
    n_val = s["n_val"]
    n_train = _size(s["n_train"] and s["n_train"] + n_val, "cifar10") - n_val
    n_test = _size(s["n_test"], "cifar10", "test")
    base = {"preset": s["base"], "batch_size": s["batch_size"]}
    dropout = {"wide": 0.2, "small": 0.5}[s["base"]]
    ablations = [
        base,
        base,  # weight decay: the same arithmetic
        {**base, "dropout": dropout},
        {**base, "batch_norm": True},
        {**base, "dense": True},
        {**base, "bias": False},
        base,  # crop/flip
        base,  # rotate/affine
        base,  # colour jitter
    ]
    # The wide report's design choices: channel order, classifier depth.
    preset = PRESETS[s["base"]]
    widths, first = preset.widths, preset.fc[0]
    ablations += [
        {**base, "widths": widths[::-1]},
        {**base, "widths": (widths[1],) * 3},
    ] + [
        {**base, "fc": fc}
        for fc in ((first,), (first, 128), (first, 256, 128))
        if fc != preset.fc
    ]
    seeds = len(s["seeds"])
    plan = LabPlan("02_cifar_cnn_ablations", "")
    # The plain loop and lu.fit, side by side: the small preset, twice.
    plan.trainings.append(
        Training(
            "plain loop and fit",
            "classifier",
            _frozen({"preset": "small", "batch_size": 64}),
            "cifar10",
            min(s["loop_images"], n_train),
            s["loop_epochs"],
            2,
            n_val,
        )
    )
    for config in ablations:
        plan.trainings.append(
            Training(
                "ablations",
                "classifier",
                _frozen(config),
                "cifar10",
                n_train,
                s["epochs"],
                seeds,
                n_val,
                n_test,
            )
        )
    for batch_size in s["grid_batch_sizes"]:
        plan.trainings.append(
            Training(
                "lr x batch grid",
                "classifier",
                _frozen({**base, "batch_size": batch_size}),
                "cifar10",
                n_train,
                s["grid_epochs"],
                len(s["grid_lrs"]),
                n_val,
            )
        )
    # The chosen configuration is known only after the sweeps: plan the
    # dearest it can be (dense block and batch norm, smallest batch).
    final = {
        **base,
        "batch_norm": True,
        "dense": True,
        "batch_size": min(s["grid_batch_sizes"]),
    }
    plan.trainings.append(
        Training(
            "final run",
            "classifier",
            _frozen(final),
            "cifar10",
            n_train,
            s["final_epochs"],
            1,
            n_val,
            n_test,
        )
    )
    # Features of the probe images before, during and after the final run.
    plan.tsne += [(s["tsne_points"], s["tsne_iter"])] * 3
    return plan


def _lab3(s: dict) -> LabPlan:
    # The notebook's six optimizers on the "small" net; the schedules
    # sweep runs momentum and Adam under the three schedules.
    n_val = s["n_val"]
    n_train = _size(s["n_train"] and s["n_train"] + n_val, "cifar10") - n_val
    n_test = _size(s["n_test"], "cifar10", "test")
    config = _frozen({"preset": "small", "batch_size": s["batch_size"]})
    seeds = len(s["seeds"])
    optimizers = 6
    runs = (
        ("lr sweep", optimizers * s["lr_points"], s["sweep_epochs"]),
        ("own-lr comparison", optimizers * seeds, s["epochs"]),
        ("shared-lr comparison", optimizers * seeds, s["epochs"]),
        ("schedules", 2 * 3 * seeds, s["epochs"]),
    )
    plan = LabPlan("03_optimizers", "")
    for label, n_runs, epochs in runs:
        plan.trainings.append(
            Training(
                label,
                "classifier",
                config,
                "cifar10",
                n_train,
                epochs,
                n_runs,
                n_val,
                n_test,
            )
        )
    return plan


def _lab4(s: dict) -> LabPlan:
    # The notebook's CONFIG_3D (five_conv, 3-D, batch 128) and CONFIG_128
    # (two_conv, 128-D, batch 128); 10% of the training images validate.
    # Verification trains on the eight seen digits (then subsamples) and
    # validates on their part of the validation set; the grid and the
    # verification runs have no test set. The 3-D report's head against
    # ArcFace: two runs on the grid's images and epochs.
    full = _size(s["n_train"], "mnist")
    n_val = round(full * 0.1)
    n_train = full - n_val
    n_test = _size(s["n_test"], "mnist", "test")
    width = s["width"]
    five = {"preset": "five_conv", "width": width, "batch_size": 128}
    two = {"preset": "two_conv", "embedding_dim": 128, "batch_size": 128}

    def part(n, of=n_train):
        return of if n is None else min(int(n), of)

    seen = round(n_train * 0.8)
    runs = (
        ("3-D ArcFace", {**five, "embedding_dim": 3}, n_train,
         s["epochs_3d"], 1, n_val, n_test),
        ("128-D ArcFace", two, n_train, s["epochs_128"], 1, n_val, n_test),
        ("2-D heads (circle)", {**five, "embedding_dim": 2},
         part(s["circle_train"]), s["circle_epochs"], 3, n_val, n_test),
        ("report's head vs ArcFace", {**five, "embedding_dim": 3},
         part(s["grid_train"]), s["grid_epochs"], 2, n_val, n_test),
        ("s x m grid", {**five, "embedding_dim": 3}, part(s["grid_train"]),
         s["grid_epochs"], len(s["grid_s"]) * len(s["grid_m"]), n_val, 0),
        ("verification", two, part(s["verify_train"], seen),
         s["verify_epochs"], 2, round(n_val * 0.8), 0),
    )  # fmt: skip
    plan = LabPlan("04_arcface", "")
    for label, config, images, epochs, n_runs, val, test in runs:
        plan.trainings.append(
            Training(
                label,
                "margin",
                _frozen(config),
                "mnist",
                images,
                epochs,
                n_runs,
                val,
                test,
            )
        )
    return plan


def _lab5(s: dict) -> LabPlan:
    # The notebook's FASHION_NET (batch 128); one learned t-SNE and the
    # perplexity comparison (5, 30, 100).
    n_val = s["n_val"]
    n_train = (
        _size(s["n_train"] and s["n_train"] + n_val, "fashion_mnist") - n_val
    )
    n_test = _size(s["n_test"], "fashion_mnist", "test")
    config = _frozen({"model": "fashion_net", "batch_size": 128})
    plan = LabPlan("05_fashion_pca_tsne", "")
    plan.trainings.append(
        Training(
            "FashionNet",
            "classifier",
            config,
            "fashion_mnist",
            n_train,
            s["epochs"],
            1,
            n_val,
            n_test,
        )
    )
    plan.tsne += [(min(s["tsne_points"], n_test), s["tsne_iter"])] * 4
    plan.pca.append((s["pca_images"], 784))
    return plan


def _lab6(s: dict) -> LabPlan:
    # The notebook's VAE (latent 120, batch 32), the five-beta sweep and
    # the cross-entropy VAE (its squared-error twin is the sweep's beta
    # 1); the test faces validate.
    n_train = _size(s["n_train"], "lfw")
    n_test = _size(s["n_test"], "lfw", "test")
    config = _frozen({"latent_dim": 120, "batch_size": 32})
    plan = LabPlan("06_vae_faces", "")
    for label, epochs, runs in (
        ("VAE", s["epochs"], 1),
        ("beta sweep", s["sweep_epochs"], 5),
        ("cross-entropy VAE", s["sweep_epochs"], 1),
    ):
        plan.trainings.append(
            Training(
                label, "vae", config, "lfw", n_train, epochs, runs, n_test
            )
        )
    return plan


PLANNERS = {
    "01_data_exploration": _lab1,
    "02_cifar_cnn_ablations": _lab2,
    "03_optimizers": _lab3,
    "04_arcface": _lab4,
    "05_fashion_pca_tsne": _lab5,
    "06_vae_faces": _lab6,
}


def plan_work(lab: str, settings: dict, profile: str = "") -> LabPlan:
    """The work of ``lab`` with its profile row ``settings`` (see
    ``profiles.plan_lab``, which looks the row up by profile name)."""
    if lab not in PLANNERS:
        raise ValueError(
            f"No cost model for lab {lab!r}. Known labs: "
            f"{', '.join(PLANNERS)}."
        )
    plan = PLANNERS[lab](settings)
    plan.lab, plan.profile = lab, profile
    return plan


def plan_table(plans: list[LabPlan], cpu: bool = True):
    """One row per notebook: its work and its predicted minutes (a pandas
    DataFrame; ``cpu=False`` skips the probe of this machine)."""
    import pandas as pd

    rows = []
    for plan in plans:
        other = [f"t-SNE n={n:,} x {i:,} it" for n, i in plan.tsne]
        other += [f"PCA {n:,} x {d}" for n, d in plan.pca]
        row = {
            "notebook": plan.lab,
            "runs": sum(t.runs for t in plan.trainings),
            "train images (M)": plan.train_images / 1e6,
            "train PFLOP": plan.flops() / 1e15,
            "other work": "; ".join(_counted(other)) or "-",
        }
        if cpu:
            row["min, this CPU"] = plan.seconds("cpu") / 60
        for key in DEVICES:
            row[f"min, {key.upper()}"] = plan.seconds(key) / 60
        rows.append(row)
    return pd.DataFrame(rows)


def _counted(items: list[str]) -> list[str]:
    """["a", "a", "b"] -> ["2 x a", "b"], in first-seen order."""
    counts = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    return [f"{k}" if c == 1 else f"{c} x {k}" for k, c in counts.items()]
