"""Run profiles: one table of sizes per lab, and the start/finish banners.

``smoke``: seconds on a CPU (CI). ``cpu``: minutes on a 2-core laptop,
meaningful results. ``full``: the real assignment on a GPU. ``auto``: full on
CUDA, else cpu. ``$LAB_PROFILE`` replaces the notebook's default ``auto``.
"""
from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .data import default_data_dir
from .train import default_device, seed_everything

PROFILE_NAMES = ("smoke", "cpu", "full")

# Every size a lab depends on, per profile. A lab reads its own row with
# ``profile_settings(lab, profile)``; keys are the lab's parameter names.
PROFILES: dict[str, dict[str, dict]] = {
    "01_data_exploration": {
        # pixels_per_dataset: pixel values per channel the histograms
        # sample; samples_per_class: rows of the example grids.
        "smoke": {"pixels_per_dataset": 20_000, "samples_per_class": 1},
        "cpu": {"pixels_per_dataset": 500_000, "samples_per_class": 2},
        "full": {"pixels_per_dataset": 2_000_000, "samples_per_class": 4},
    },
}


def resolve_profile(profile: str | None = "auto", device=None) -> str:
    """The concrete profile for ``profile``: an explicit smoke/cpu/full wins;
    ``auto`` (or None) takes ``$LAB_PROFILE`` if set, else full on CUDA and
    cpu otherwise."""
    name = (profile or "auto").strip().lower()
    if name == "auto":
        name = os.environ.get("LAB_PROFILE", "auto").strip().lower()
        if name not in PROFILE_NAMES + ("auto",):
            raise ValueError(f"LAB_PROFILE={name!r} is not a profile. Use "
                             f"one of: smoke, cpu, full, auto.")
    if name == "auto":
        device = torch.device(device) if device else default_device()
        return "full" if device.type == "cuda" else "cpu"
    if name not in PROFILE_NAMES:
        raise ValueError(f"Unknown profile {profile!r}. Use one of: smoke "
                         f"(seconds, CI), cpu (minutes on a laptop), full "
                         f"(GPU) or auto.")
    return name


def profile_settings(lab: str, profile: str) -> dict:
    """A copy of the settings row of ``lab`` for a concrete ``profile``."""
    if lab not in PROFILES:
        raise ValueError(f"No profile table for lab {lab!r}. Known labs: "
                         f"{', '.join(PROFILES)}.")
    return dict(PROFILES[lab][resolve_profile(profile)])


@dataclass
class LabRun:
    """What a notebook needs to know about this run, printed at the top.

    lab, profile (concrete), settings (this lab's row of PROFILES), device,
    seed, data_dir, and the start time for ``finish``.
    """

    lab: str
    profile: str
    settings: dict
    device: torch.device
    seed: int
    data_dir: Path
    started: float = field(default_factory=time.perf_counter)

    def banner(self) -> str:
        import torchvision

        lines = [
            f"Lab {self.lab} | profile {self.profile} | device "
            f"{_device_name(self.device)} | seed {self.seed}",
            f"python {platform.python_version()} | torch "
            f"{torch.__version__} | torchvision {torchvision.__version__}",
            # Relative, so committed outputs name no machine's folders.
            f"data: {os.path.relpath(self.data_dir)}",
        ]
        if self.device.type == "cpu":
            lines += [
                "",
                "!" * 72,
                "!! NO GPU: this runtime is CPU-only. The labs still run "
                "(profile",
                f"!! '{self.profile}'), but slower and on smaller subsets. "
                "In Colab pick",
                "!! Runtime > Change runtime type > GPU, then run again.",
                "!" * 72,
            ]
        return "\n".join(lines)

    def finish(self) -> str:
        """One line with the wall time, for the last cell of a notebook."""
        seconds = time.perf_counter() - self.started
        return (f"Lab {self.lab} finished in {seconds:.1f} s (profile "
                f"{self.profile}, device {_device_name(self.device)}).")


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type


def start_lab(lab: str, profile: str = "auto", seed: int = 0,
              data_dir: str | Path | None = None, device=None) -> LabRun:
    """Resolve profile, device and data folder, seed everything, and return
    the run's record; print ``run.banner()`` in the notebook."""
    device = torch.device(device) if device else default_device()
    name = resolve_profile(profile, device)
    settings = profile_settings(lab, name)
    data_dir = Path(data_dir).expanduser() if data_dir else \
        default_data_dir()
    seed_everything(seed)
    return LabRun(lab, name, settings, device, seed, data_dir.resolve())
