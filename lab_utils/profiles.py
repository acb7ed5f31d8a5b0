"""Run profiles: one table of sizes per lab, and the start/finish banners.

``smoke``: seconds on a CPU (CI). ``cpu``: minutes on a 2-core laptop,
meaningful results. ``full``: the real assignment on a GPU, all of the data
at full size, within 30 minutes on a Colab T4 (lab_utils.costs predicts
it). ``reproduce``: longer runs, at or toward the past reports' own
lengths, hours on a GPU; never chosen for you. ``auto``: full on CUDA,
else cpu. ``$LAB_PROFILE`` replaces the notebook's default ``auto``.
"""

from __future__ import annotations

import os
import platform
import shutil
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import dry_run
from .costs import LabPlan, plan_work, probe_waiting
from .data import default_data_dir, resolve_data_dir
from .data.catalog import is_whole
from .engine import default_device, seed_everything

PROFILE_NAMES = ("smoke", "cpu", "full", "reproduce")

# Every size a lab depends on, per profile. A lab reads its own row with
# ``profile_settings(lab, profile)``; keys are the lab's parameter names.
PROFILES: dict[str, dict[str, dict]] = {
    "01_data_exploration": {
        # pixels_per_dataset: pixel values per channel the histograms
        # sample; samples_per_class: rows of the example grids; ladder_*:
        # the small CIFAR-10 report's network, trained step by step as it
        # did (epochs: [before its dropout step, from it on]; seeds: of
        # every step), then its last step over robust_seeds.
        "smoke": {
            "pixels_per_dataset": 20_000,
            "samples_per_class": 1,
            "ladder_n_train": 400,
            "ladder_n_val": 100,
            "ladder_n_test": 200,
            "ladder_batch_size": 32,
            "ladder_epochs": [1, 2],
            "ladder_seeds": [0],
            "robust_seeds": [0, 1],
        },
        "cpu": {
            "pixels_per_dataset": 500_000,
            "samples_per_class": 2,
            "ladder_n_train": 6000,
            "ladder_n_val": 1500,
            "ladder_n_test": 5000,
            "ladder_batch_size": 32,
            "ladder_epochs": [6, 12],
            "ladder_seeds": [0, 1, 2],
            "robust_seeds": [0, 1, 2, 3, 4],
        },
        # Full: the report's data (80/20 split) and epochs (10, then 25),
        # but batches of 128 instead of its 32, so that three seeds of
        # every step and ten of the last fit a Colab session on a T4.
        "full": {
            "pixels_per_dataset": 2_000_000,
            "samples_per_class": 4,
            "ladder_n_train": None,
            "ladder_n_val": 10_000,
            "ladder_n_test": None,
            "ladder_batch_size": 128,
            "ladder_epochs": [10, 25],
            "ladder_seeds": [0, 1, 2],
            "robust_seeds": list(range(10)),
        },
        # The report's batch of 32 as well: about four times the steps.
        "reproduce": {
            "pixels_per_dataset": 2_000_000,
            "samples_per_class": 4,
            "ladder_n_train": None,
            "ladder_n_val": 10_000,
            "ladder_n_test": None,
            "ladder_batch_size": 32,
            "ladder_epochs": [10, 25],
            "ladder_seeds": [0, 1, 2],
            "robust_seeds": list(range(10)),
        },
    },
    "02_cifar_cnn_ablations": {
        # n_train/n_val/n_test: balanced subsets (None = everything);
        # epochs: per ablation run; grid_*: the lr x batch-size grid (one
        # seed); final_*: the chosen configuration's run (early stopping);
        # tsne_points: test images drawn in the latent-space figure;
        # loop_*: the plain training loop against fit (small preset).
        "smoke": {
            "base": "small",
            "n_train": 500,
            "n_val": 200,
            "n_test": 400,
            "batch_size": 64,
            "schedule": "constant",
            "epochs": 1,
            "seeds": [0],
            "grid_lrs": [1e-3, 3e-3],
            "grid_batch_sizes": [64, 128],
            "grid_epochs": 1,
            "final_epochs": 2,
            "final_patience": 2,
            "tsne_points": 150,
            "tsne_iter": 300,
            "loop_images": 500,
            "loop_epochs": 1,
        },
        "cpu": {
            "base": "small",
            "n_train": 6000,
            "n_val": 2000,
            "n_test": 5000,
            "batch_size": 64,
            "schedule": "constant",
            "epochs": 5,
            "seeds": [0, 1, 2],
            "grid_lrs": [3e-4, 1e-3, 3e-3],
            "grid_batch_sizes": [32, 64, 128],
            "grid_epochs": 5,
            "final_epochs": 15,
            "final_patience": 4,
            "tsne_points": 1000,
            "tsne_iter": 1000,
            "loop_images": 6000,
            "loop_epochs": 2,
        },
        # Full: one-cycle schedules converge in a few epochs, so the
        # ablations and design choices take 8 (two seeds: the cpu runs
        # show the seed spread), the grid 2 and the final run 20, within
        # a Colab session on a T4.
        "full": {
            "base": "wide",
            "n_train": None,
            "n_val": 5000,
            "n_test": None,
            "batch_size": 128,
            "schedule": "one-cycle",
            "epochs": 8,
            "seeds": [0, 1],
            "grid_lrs": [5e-4, 1e-3, 2e-3],
            "grid_batch_sizes": [64, 128, 256],
            "grid_epochs": 2,
            "final_epochs": 20,
            "final_patience": 5,
            "tsne_points": 2000,
            "tsne_iter": 1000,
            "loop_images": 10000,
            "loop_epochs": 2,
        },
        # Longer runs, toward the reports' (which trained up to 150
        # epochs, stopping after 10 without improvement): 30-epoch
        # ablations, up to 100 final epochs, constant rate. Hours on a
        # GPU, never a default.
        "reproduce": {
            "base": "wide",
            "n_train": None,
            "n_val": 5000,
            "n_test": None,
            "batch_size": 64,
            "schedule": "constant",
            "epochs": 30,
            "seeds": [0, 1, 2],
            "grid_lrs": [1e-4, 3e-4, 1e-3],
            "grid_batch_sizes": [64, 128, 256],
            "grid_epochs": 20,
            "final_epochs": 100,
            "final_patience": 10,
            "tsne_points": 2000,
            "tsne_iter": 1000,
            "loop_images": 10000,
            "loop_epochs": 2,
        },
    },
    "03_optimizers": {
        # lr_points: central points of each optimizer's lr grid to try;
        # sweep_epochs: per lr-sweep run (one seed); epochs: per final run;
        # target: validation accuracy for "epochs/seconds to target";
        # path_steps: steps on the 2-D test function.
        "smoke": {
            "n_train": 400,
            "n_val": 200,
            "n_test": 400,
            "batch_size": 64,
            "lr_points": 2,
            "sweep_epochs": 1,
            "epochs": 2,
            "seeds": [0],
            "target": 0.15,
            "path_steps": 300,
        },
        "cpu": {
            "n_train": 4000,
            "n_val": 1000,
            "n_test": 5000,
            "batch_size": 64,
            "lr_points": 5,
            "sweep_epochs": 3,
            "epochs": 6,
            "seeds": [0, 1, 2],
            "target": 0.40,
            "path_steps": 1000,
        },
        # Full: all of CIFAR-10 and three seeds; batches of 128 halve the
        # steps (a small net's step costs the GPU almost nothing but its
        # fixed overhead), and 8 epochs show which optimizer learns
        # fastest, within a Colab session on a T4.
        "full": {
            "n_train": None,
            "n_val": 5000,
            "n_test": None,
            "batch_size": 128,
            "lr_points": 3,
            "sweep_epochs": 3,
            "epochs": 8,
            "seeds": [0, 1, 2],
            "target": 0.65,
            "path_steps": 3000,
        },
        # Longer runs, toward the report's (up to 150 epochs per
        # optimizer, at one shared learning rate): 40 epochs per run,
        # five learning rates.
        "reproduce": {
            "n_train": None,
            "n_val": 5000,
            "n_test": None,
            "batch_size": 64,
            "lr_points": 5,
            "sweep_epochs": 10,
            "epochs": 40,
            "seeds": [0, 1, 2],
            "target": 0.75,
            "path_steps": 3000,
        },
    },
    "04_arcface": {
        # width: channel multiplier of the five-conv net; epochs_*: upper
        # bounds (early stopping); sphere_points: test digits drawn per
        # epoch; circle_*/grid_*/verify_*: the 2-D heads comparison, the
        # s x m grid and the verification experiment (training images,
        # epochs); n_pairs: same- and different-digit pairs for the ROC.
        "smoke": {
            "n_train": 1500,
            "n_test": 500,
            "width": 0.25,
            "epochs_3d": 1,
            "epochs_128": 1,
            "patience": 2,
            "sphere_points": 200,
            "animation": False,
            "circle_train": 600,
            "circle_epochs": 1,
            "grid_s": [8.0, 16.0],
            "grid_m": [0.1, 0.3],
            "grid_train": 600,
            "grid_epochs": 1,
            "verify_train": 600,
            "verify_epochs": 1,
            "n_pairs": 500,
        },
        "cpu": {
            "n_train": None,
            "n_test": None,
            "width": 0.5,
            "epochs_3d": 5,
            "epochs_128": 3,
            "patience": 3,
            "sphere_points": 1000,
            "animation": True,
            "circle_train": 10000,
            "circle_epochs": 5,
            "grid_s": [4.0, 16.0, 64.0],
            "grid_m": [0.1, 0.5],
            "grid_train": 10000,
            "grid_epochs": 2,
            "verify_train": 20000,
            "verify_epochs": 3,
            "n_pairs": 5000,
        },
        # Full: all of MNIST at full width, 12 epochs for the 3-D net
        # (its cosine schedule anneals to the end: 99.15% test on this
        # CPU, where 30 epochs cut at 16 by early stopping, the rate
        # still at half, gave 98.91%) and 12 for the 128-D one (its
        # cosine schedule from 3e-3 on shifted digits: 99.46% test, where
        # 1e-3 gave 99.28-99.33% with or without shifts), early stopping
        # on validation; the circle, the s x m grid and the verification
        # shorter, within a Colab session on a T4.
        "full": {
            "n_train": None,
            "n_test": None,
            "width": 1.0,
            "epochs_3d": 12,
            "epochs_128": 12,
            "patience": 5,
            "sphere_points": 2000,
            "animation": True,
            "circle_train": None,
            "circle_epochs": 5,
            "grid_s": [4.0, 8.0, 16.0, 32.0, 64.0],
            "grid_m": [0.1, 0.2, 0.3, 0.5],
            "grid_train": None,
            "grid_epochs": 3,
            "verify_train": None,
            "verify_epochs": 6,
            "n_pairs": 20000,
        },
        # The reports' lengths: the 3-D report's 50 epochs (its early
        # stopping never fired), the 128-D report's 10; a longer grid.
        "reproduce": {
            "n_train": None,
            "n_test": None,
            "width": 1.0,
            "epochs_3d": 50,
            "epochs_128": 10,
            "patience": 5,
            "sphere_points": 2000,
            "animation": True,
            "circle_train": None,
            "circle_epochs": 10,
            "grid_s": [4.0, 8.0, 16.0, 32.0, 64.0],
            "grid_m": [0.1, 0.2, 0.3, 0.5],
            "grid_train": None,
            "grid_epochs": 5,
            "verify_train": None,
            "verify_epochs": 10,
            "n_pairs": 20000,
        },
    },
    "05_fashion_pca_tsne": {
        # pca_images: raw images for the pixel PCA; tsne_points: test
        # images embedded by t-SNE; thumbnails: images drawn on the map.
        "smoke": {
            "n_train": 1000,
            "n_val": 200,
            "n_test": 500,
            "epochs": 1,
            "patience": 2,
            "pca_images": 500,
            "tsne_points": 150,
            "tsne_iter": 300,
            "thumbnails": 50,
        },
        "cpu": {
            "n_train": 20000,
            "n_val": 5000,
            "n_test": None,
            "epochs": 6,
            "patience": 3,
            "pca_images": 5000,
            "tsne_points": 2500,
            "tsne_iter": 1000,
            "thumbnails": 300,
        },
        "full": {
            "n_train": None,
            "n_val": 6000,
            "n_test": None,
            "epochs": 30,
            "patience": 5,
            "pca_images": 10000,
            "tsne_points": 10000,
            "tsne_iter": 1000,
            "thumbnails": 500,
        },
    },
    "06_vae_faces": {
        # epochs: the main model; sweep_epochs: each model of the beta
        # sweep. n_train/n_test: None = all of LFW's seeded split.
        "smoke": {
            "n_train": 300,
            "n_test": 100,
            "epochs": 1,
            "sweep_epochs": 1,
        },
        "cpu": {
            "n_train": None,
            "n_test": None,
            "epochs": 20,
            "sweep_epochs": 8,
        },
        # Full: all of LFW; 100 epochs (the report ran 500), within a
        # Colab session on a T4 (a batch of 32 small faces is all
        # per-step overhead on a GPU). Reproduce: the report's 500.
        "full": {
            "n_train": None,
            "n_test": None,
            "epochs": 100,
            "sweep_epochs": 30,
        },
        "reproduce": {
            "n_train": None,
            "n_test": None,
            "epochs": 500,
            "sweep_epochs": 50,
        },
    },
}


# Where full already runs as long as the reports, reproduce is full.
for _rows in PROFILES.values():
    _rows.setdefault("reproduce", _rows["full"])


# What a profile's numbers are worth, said in the banner and beside the
# verdicts. The text describes full-size results where it quotes numbers,
# and prints this run's own; smoke's numbers mean nothing.
PROFILE_CAVEATS = {
    "smoke": "a few batches on a few hundred images, to prove that every "
    "cell runs. Its numbers mean nothing (accuracies near chance, a VAE "
    "that has barely begun to train), and what the text says about "
    "results does not hold for them.",
    "cpu": "class-balanced subsets and short runs, so accuracies are "
    "lower than the full profile's (and than the reports'), and a "
    "difference must beat the seed spread printed beside it.",
}


def resolve_profile(profile: str | None = "auto", device=None) -> str:
    """The concrete profile for ``profile``: an explicit name wins;
    ``auto`` (or None) takes ``$LAB_PROFILE`` if set, else full on CUDA and
    cpu otherwise."""
    if profile is not None and not isinstance(profile, str):
        raise ValueError(
            f"PROFILE must be a name in quotes: 'smoke', 'cpu', 'full', "
            f"'reproduce' or 'auto'; got {profile!r} "
            f"({type(profile).__name__})."
        )
    name = (profile or "auto").strip().lower()
    if name == "auto":
        name = os.environ.get("LAB_PROFILE", "auto").strip().lower()
        if name not in PROFILE_NAMES + ("auto",):
            raise ValueError(
                f"LAB_PROFILE={name!r} is not a profile. Use "
                f"one of: smoke, cpu, full, reproduce, auto."
            )
    if name == "auto":
        device = torch.device(device) if device else default_device()
        return "full" if device.type == "cuda" else "cpu"
    if name not in PROFILE_NAMES:
        raise ValueError(
            f"Unknown profile {profile!r}. Use one of: smoke "
            f"(seconds, CI), cpu (minutes on a laptop), full "
            f"(GPU, under 30 minutes), reproduce (the reports' run "
            f"lengths, hours on a GPU) or auto."
        )
    return name


def profile_settings(lab: str, profile: str) -> dict:
    """A copy of the settings row of ``lab`` for a concrete ``profile``."""
    if lab not in PROFILES:
        raise ValueError(
            f"No profile table for lab {lab!r}. Known labs: "
            f"{', '.join(PROFILES)}."
        )
    return dict(PROFILES[lab][resolve_profile(profile)])


def plan_lab(lab: str, profile: str, **overrides) -> LabPlan:
    """The work of ``lab`` in ``profile`` and its predicted minutes
    (``lab_utils.costs``); overrides replace entries of the profile's row,
    e.g. ``final_epochs=100``."""
    name = resolve_profile(profile)
    return plan_work(lab, {**profile_settings(lab, name), **overrides}, name)


@dataclass
class LabRun:
    """What a notebook needs to know about this run, printed at the top.

    lab, profile (concrete), settings (this lab's row of PROFILES), device,
    seed, data_dir, results_dir (this lab's and profile's own folder for
    sweeps and checkpoints), and the start time for ``finish``.
    """

    lab: str
    profile: str
    settings: dict
    device: torch.device
    seed: int
    data_dir: Path
    results_dir: Path
    started: float = field(default_factory=time.perf_counter)
    # The two folders as the user gave them (the banner prints these):
    shown: tuple[str, str] | None = None

    def caveat(self) -> str:
        """What this profile's numbers are worth, for printing beside a
        verdict: empty for full and reproduce, whose results the text
        describes at full size; else a new line that says what to make
        of them (``print(verdict + run.caveat())``)."""
        if self.profile not in PROFILE_CAVEATS:
            return ""
        return f"\n({self.profile} profile: {PROFILE_CAVEATS[self.profile]})"

    def banner(self) -> str:
        import torchvision

        lines = [
            f"Lab {self.lab} | profile {self.profile} | device "
            f"{_device_name(self.device)} | seed {self.seed}",
            *(
                textwrap.wrap(
                    f"What these numbers are: {PROFILE_CAVEATS[self.profile]}",
                    79,
                )
                if self.profile in PROFILE_CAVEATS
                else []
            ),
            f"python {platform.python_version()} | torch "
            f"{torch.__version__} | torchvision {torchvision.__version__}",
            "data: {} | results: {}".format(
                *(self.shown or (self.data_dir, self.results_dir))
            ),
            self.prediction(),
        ]
        if dry_run.active():
            lines += [
                "DRY RUN: full-size data and models, but every training "
                "run stops after",
                f"{dry_run.BATCHES} batches and every t-SNE after "
                f"{dry_run.TSNE_ITERATIONS} iterations; the numbers below "
                "mean nothing.",
            ]
        if self.device.type == "cpu":
            lines += [
                "",
                "!" * 72,
                "!! NO GPU: this runtime is CPU-only. The labs still run "
                "(profile",
                f"!! '{self.profile}'), but slower"
                + (
                    " and on smaller subsets. In Colab pick"
                    if self.profile in ("smoke", "cpu")
                    else ": see the prediction above. In Colab pick"
                ),
                "!! Runtime > Change runtime type > GPU, then run again.",
                "!" * 72,
            ]
        return "\n".join(lines)

    def prediction(self) -> str:
        """The banner's lines on predicted minutes. Planning builds models:
        it runs on a forked random state, so the lab's seeded results are
        the same with or without it. The CPU probe is skipped in a dry run
        (it proves paths, not speed) and in smoke (seconds anyway)."""
        probe = (
            self.device.type == "cpu"
            and self.profile != "smoke"
            and not dry_run.active()
        )
        with torch.random.fork_rng(devices=[]):
            text = plan_lab(self.lab, self.profile).describe(on_cpu=probe)
        busy = _other_work() if probe else None
        if busy is not None:
            text += (
                f"\n(other work kept this CPU busy while it was timed: "
                f"{busy}; the CPU minutes hold for a machine this busy, "
                f"and fall when it frees up)"
            )
        return text

    def finish(self) -> str:
        """One line with the wall time, for the last cell of a notebook."""
        seconds = time.perf_counter() - self.started
        return (
            f"Lab {self.lab} finished in {seconds:.1f} s (profile "
            f"{self.profile}, device {_device_name(self.device)})."
        )


# The share of time the CPU probe may wait for a core before the banner
# says that other work slowed it.
BUSY_WAITING = 0.2


def _other_work() -> str | None:
    """How other work slowed the CPU probe (its threads then wait for a
    core, and for each other), or None when it did not. Where Linux
    reports it, the share of the probe's time spent waiting for a core,
    measured during the probe itself; elsewhere the 1-minute load
    average (which lags) when it fills every core."""
    waiting = probe_waiting()
    if waiting is not None:
        if waiting < BUSY_WAITING:
            return None
        return f"its threads waited for a core {waiting:.0%} of the time"
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return None
    cores = os.cpu_count() or 1
    if load < cores:
        return None
    return f"load {load:.1f} on {cores} cores"


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type


def start_lab(
    lab: str,
    profile: str = "auto",
    seed: int = 0,
    data_dir: str | Path | None = None,
    results_dir: str | Path | None = None,
    device=None,
    drive: bool = False,
) -> LabRun:
    """Resolve profile, device, data and results folders, seed everything,
    and return the run's record; print ``run.banner()`` in the notebook.

    results_dir: None = ``$LAB_RESULTS_DIR``, else ``./results``; the run
    writes into ``<results_dir>/<lab>/<profile>/``. drive: in Colab, keep
    results on Google Drive (``DRIVE_RESULTS``, mounted on first use), so
    that a runtime reset loses nothing.
    """
    _check_parameters(seed=seed, data_dir=data_dir, results_dir=results_dir)
    _check_injected_parameters(_executed_cells())
    if drive is not False and drive is not True:
        raise ValueError(
            f"KEEP_ON_DRIVE must be True or False, got {drive!r}."
        )
    if drive:
        if results_dir is not None:
            raise ValueError(
                "Give RESULTS_DIR or KEEP_ON_DRIVE = True, not both: "
                "KEEP_ON_DRIVE puts results in your Google Drive "
                f"({DRIVE_RESULTS})."
            )
        results_dir = _mount_drive()
    device = torch.device(device) if device else default_device()
    name = resolve_profile(profile, device)
    settings = profile_settings(lab, name)
    shown_data = _as_given(data_dir, "LAB_DATA_DIR", "data")
    shown_results = _as_given(results_dir, "LAB_RESULTS_DIR", "results")
    data_dir = resolve_data_dir(data_dir) if data_dir else default_data_dir()
    results_dir = results_dir or os.environ.get("LAB_RESULTS_DIR")
    results = (
        resolve_data_dir(results_dir)
        if results_dir
        else Path("results").resolve()
    )
    seed_everything(seed)
    folder = results / lab / name
    if dry_run.active():
        # A dry run's results are meaningless: they live apart, and
        # start empty so that every run of the lab trains again.
        folder = results / lab / f"{name}-dry-run"
        shutil.rmtree(folder, ignore_errors=True)
    shown = (
        shown_data,
        os.path.join(shown_results, *folder.relative_to(results).parts),
    )
    return LabRun(
        lab, name, settings, device, int(seed), data_dir, folder, shown=shown
    )


# Where KEEP_ON_DRIVE keeps results: Google Drive, as Colab mounts it.
DRIVE_RESULTS = "/content/drive/MyDrive/deep-learning-labs/results"


def _mount_drive() -> str:
    """Mount Google Drive in Colab (it asks for permission once) and
    return the results folder on it."""
    try:
        from google.colab import drive
    except ImportError:
        raise ValueError(
            "KEEP_ON_DRIVE = True works in Google Colab, where it mounts "
            "your Google Drive. Outside Colab results already stay on "
            "disk: set KEEP_ON_DRIVE = False (and RESULTS_DIR to choose "
            "the folder)."
        ) from None
    drive.mount("/content/drive")
    Path(DRIVE_RESULTS).mkdir(parents=True, exist_ok=True)
    return DRIVE_RESULTS


def _as_given(folder, variable: str, default: str) -> str:
    """A folder as the user gave it, for the banner: the parameter, else
    the environment variable (as typed where ``run_all`` was started,
    which passes it on as ``<variable>_AS_GIVEN``: it makes the variable
    itself absolute for the kernels), else the default."""
    if folder:
        return str(folder)
    return (
        os.environ.get(f"{variable}_AS_GIVEN")
        or os.environ.get(variable)
        or default
    )


# The first line of the cell papermill adds after a notebook's
# parameters cell, holding the values given with -p.
_INJECTED = "# Parameters"


def _executed_cells() -> list[str]:
    """The sources of the cells this kernel ran so far (IPython's input
    history), or [] outside IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return []
    shell = get_ipython()
    if shell is None:
        return []
    return [c for c in shell.user_ns.get("In", []) if isinstance(c, str)]


def _assigned_names(source: str) -> list[str]:
    import ast

    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    return [
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign | ast.AnnAssign)
        for target in (
            node.targets if isinstance(node, ast.Assign) else [node.target]
        )
        if isinstance(target, ast.Name)
    ]


def _check_injected_parameters(cells: list[str]) -> None:
    """Stop a run given a parameter its notebook does not have
    (``papermill -p PROFIL smoke``): papermill only warns, and the
    notebook would run on with its default, for minutes, as if asked. The
    injected cell follows the notebook's parameters cell, whose names are
    the ones it has."""
    for i, cell in enumerate(cells):
        if not cell.lstrip().startswith(_INJECTED) or i == 0:
            continue
        declared = _assigned_names(cells[i - 1])
        unknown = [n for n in _assigned_names(cell) if n not in declared]
        if unknown:
            names = ", ".join(unknown)
            raise ValueError(
                f"This notebook has no parameter {names} (given with "
                f"papermill's -p). Its parameters are: "
                f"{', '.join(declared)}. Check the spelling and run "
                f"again."
            )


def _check_parameters(seed, data_dir, results_dir) -> None:
    """The parameters cell's values, checked before anything uses them
    (papermill's ``-p SEED 1`` gives an int, ``-p SEED one`` a string)."""
    if not is_whole(seed):
        raise ValueError(
            f"SEED must be a whole number (an int such as 0), got "
            f"{seed!r} ({type(seed).__name__})."
        )
    for key, value in (("DATA_DIR", data_dir), ("RESULTS_DIR", results_dir)):
        if value is not None and not isinstance(value, (str, os.PathLike)):
            raise ValueError(
                f"{key} must be None or a folder path in quotes, got "
                f"{value!r} ({type(value).__name__})."
            )
