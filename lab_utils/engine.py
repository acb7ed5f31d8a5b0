"""One training engine for every lab: ``fit``, ``evaluate``, ``predict``.

``fit`` is the loop a first course writes by hand (forward, loss,
``zero_grad``, ``backward``, ``step``, then an evaluation) plus the
bookkeeping every lab needs: a history, callbacks (early stopping, feature
snapshots), checkpoints and resume, mixed precision on a GPU. A lab
changes what one batch does by passing its own ``step`` (ArcFace, the VAE).
"""

from __future__ import annotations

import math
import os
import random
import time
import warnings
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from . import dry_run
from .checkpoints import restore_training_state, save_training_state
from .data.catalog import is_whole
from .graphs import GraphedSteps, eager_update, graphs_enabled, wide


class DivergedError(FloatingPointError):
    """Training diverged: the loss became NaN or infinite, or rose far
    above where it started. ``epoch``: the epoch it happened in;
    ``history``: a DataFrame of the epochs before it, and of that epoch
    too when it ran to its end."""

    def __init__(self, message: str, epoch: int, history: pd.DataFrame | None):
        super().__init__(message)
        self.epoch = epoch
        self.history = history

    def __reduce__(self):  # so it crosses process boundaries (Dask)
        return type(self), (str(self), self.epoch, self.history)


class NonFiniteLossError(DivergedError):
    """The training loss became NaN or infinite."""


# An epoch whose mean training loss exceeds this many times the loss of
# the very first batch (or 1, if that was smaller) has diverged: a loss
# that has grown tenfold is not coming back. Losses in this course start
# near 2.3 (cross-entropy over ten classes), near s for the margin heads
# (at most about 2 s + 2.3 ever) and below 1 for the VAE (per-pixel
# error plus beta times KL), and fall.
DIVERGENCE_FACTOR = 10.0


def default_device() -> torch.device:
    """CUDA if available, then Apple's MPS, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if (
        getattr(torch.backends, "mps", None)
        and torch.backends.mps.is_available()
    ):
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int, deterministic: bool | None = None) -> None:
    """Seed Python, NumPy and torch, and ask torch for deterministic
    kernels where it has them, so two runs on one machine give identical
    histories. deterministic=False (or ``$LAB_DETERMINISTIC=0``) lets
    cuDNN pick its fastest kernels instead: measured on an H200, 0-11%
    faster by model (``benchmarks/results/gpu_probe_h200.json``)."""
    seed = int(seed)  # numpy's integers too (random.seed refuses them)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic is None:
        deterministic = os.environ.get(
            "LAB_DETERMINISTIC", "1"
        ).strip().lower() not in ("0", "false", "no")
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    # Deterministic mode also fills every new tensor with NaN, to expose
    # reads of memory nothing wrote: a kernel per allocation, captured
    # into every CUDA graph, for code that never reads such memory.
    torch.utils.deterministic.fill_uninitialized_memory = False
    if torch.backends.cudnn.is_available():
        torch.backends.cudnn.benchmark = not deterministic
    # cuBLAS needs this to be deterministic; harmless elsewhere.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def classification_step(model: nn.Module, batch) -> dict:
    """Cross-entropy on (X, y): returns the batch's loss and accuracy."""
    X, y = batch
    logits = model(X)
    loss = F.cross_entropy(logits, y)
    acc = (logits.argmax(dim=1) == y).float().mean()
    return {"loss": loss, "acc": acc}


Step = Callable[[nn.Module, tuple], dict]


def progress_enabled(progress: bool | None = None) -> bool:
    """Whether to draw progress bars: ``progress`` if given, else unless
    ``$LAB_PROGRESS`` is 0/false/no (tests and CI turn them off); where
    it is not set, not in a notebook run headlessly (papermill,
    nbconvert), whose bars no one watches: they would only land in the
    saved notebook as lines of text."""
    if progress is not None:
        return progress
    asked = os.environ.get("LAB_PROGRESS")
    if asked is not None:
        return asked not in ("0", "false", "no")
    return not _run_headlessly()


def _run_headlessly() -> bool:
    """Whether this process is a kernel that papermill or nbconvert
    started (its parent's command line says so, on Linux; elsewhere we
    cannot tell, and say no)."""
    try:
        with open(f"/proc/{os.getppid()}/cmdline", "rb") as f:
            parent = f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return any(name in parent for name in ("papermill", "nbconvert"))


def autocast_dtype() -> torch.dtype:
    """The half-precision format of mixed precision on CUDA: bf16 where
    the GPU has it, else fp16 (a T4). ``$LAB_AMP_DTYPE=float16`` asks for
    fp16 anyway (to test a T4's path on a newer GPU)."""
    asked = os.environ.get("LAB_AMP_DTYPE", "").strip().lower()
    if asked in ("float16", "fp16", "half"):
        return torch.float16
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _autocast(device: torch.device, amp: bool):
    if amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=autocast_dtype())
    return nullcontext()


def _to_device(batch, device):
    return tuple(t.to(device, non_blocking=True) for t in batch)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader,
    step: Step = classification_step,
    device=None,
    amp: bool | None = None,
) -> dict:
    """Mean of each ``step`` metric over ``loader``, in eval mode and without
    gradients; the model's train/eval mode is restored afterwards."""
    device = torch.device(device) if device else _model_device(model)
    amp = device.type == "cuda" if amp is None else amp
    was_training = model.training
    model.eval()
    sums, n = {}, 0
    try:
        for batch in dry_run.evaluation(loader):
            batch = _to_device(batch, device)
            with _autocast(device, amp):
                out = step(model, batch)
            size = len(batch[0])
            for k, v in out.items():
                sums[k] = sums.get(k, 0.0) + wide(v) * size
            n += size
    finally:
        model.train(was_training)
    if n == 0:
        raise ValueError(
            "evaluate() got an empty loader: check the "
            "dataset size and batch_size."
        )
    return {k: float(v) / n for k, v in sums.items()}


@torch.no_grad()
def predict(model: nn.Module, loader, device=None):
    """Model outputs and labels for every batch: (outputs, y) tensors on
    the CPU, in loader order (a dry run's: its first batch)."""
    return _predict(model, dry_run.evaluation(loader), device)


def _predict(model: nn.Module, batches, device=None):
    device = torch.device(device) if device else _model_device(model)
    was_training = model.training
    model.eval()
    outs, ys = [], []
    try:
        for X, y in batches:
            outs.append(model(X.to(device)).float().cpu())
            ys.append(y.cpu())
    finally:
        model.train(was_training)
    return torch.cat(outs), torch.cat(ys)


@torch.no_grad()
def extract_features(model: nn.Module, loader, layer: str, device=None):
    """Outputs of the sub-module named ``layer`` (see
    ``model.named_modules()``) for every batch, flattened to (n, d), and the
    labels."""
    modules = dict(model.named_modules())
    if layer not in modules:
        names = ", ".join(n for n in modules if n) or "(none)"
        raise ValueError(
            f"The model has no layer named {layer!r}. Layers: {names}."
        )
    captured = []
    hook = modules[layer].register_forward_hook(
        lambda mod, inp, out: captured.append(out.detach().float().cpu())
    )
    try:
        # Every batch, even in a dry run: features feed t-SNE at its
        # full size.
        _, y = _predict(model, loader, device)
    finally:
        hook.remove()
    return torch.cat([c.flatten(1) for c in captured]), y


def confusion_matrix(
    y_true: torch.Tensor, y_pred: torch.Tensor, n_classes: int
) -> np.ndarray:
    """(n_classes, n_classes) counts: row = true class, column = predicted."""
    index = y_true.long() * n_classes + y_pred.long()
    counts = torch.bincount(index.cpu(), minlength=n_classes * n_classes)
    return counts.view(n_classes, n_classes).numpy()


def _model_device(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def train_one_epoch(model: nn.Module, loader, optimizer) -> float:
    """One epoch of the plain training loop, as a first course writes it
    (Lab 2's exercise): train mode, then for every batch (X, y) the
    forward pass, cross-entropy, ``zero_grad``, ``backward`` and ``step``.
    Returns the mean training loss per image (each batch weighted by its
    size). ``fit`` runs the same updates, with its bookkeeping."""
    model.train()
    total, n = 0.0, 0
    for X, y in loader:
        loss = F.cross_entropy(model(X), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        # Summed on the device and read once: no wait per batch.
        total = total + loss.detach() * len(y)
        n += len(y)
    if n == 0:
        raise ValueError(
            "The loader produced no batches: check the dataset size."
        )
    return float(total) / n


def max_weight_difference(model_a: nn.Module, model_b: nn.Module) -> float:
    """The largest absolute difference between two models' parameters and
    buffers, entry by entry (0.0: identical). Their state dicts must have
    the same shapes in the same order; names may differ (a student's
    ``conv1`` against the reference's ``convs.0``)."""
    a = list(model_a.state_dict().values())
    b = list(model_b.state_dict().values())
    shapes_a = [tuple(t.shape) for t in a]
    shapes_b = [tuple(t.shape) for t in b]
    if shapes_a != shapes_b:
        raise ValueError(
            f"The two models hold tensors of different shapes, so their "
            f"weights cannot be compared: {shapes_a} against {shapes_b}."
        )
    return max(
        (
            float(
                (x.detach().double().cpu() - y.detach().double().cpu())
                .abs()
                .max()
            )
            for x, y in zip(a, b)
            if x.numel()
        ),
        default=0.0,
    )


def loop_against_fit(
    model: nn.Module,
    reference: nn.Module,
    loop_history: list[dict],
    fit_history: pd.DataFrame,
) -> str:
    """The plain loop's epochs (rows with train_loss and val_acc) beside
    ``fit``'s, and a verdict on whether the two ended with the same
    weights (Lab 2's section 2), as text to print."""
    loop = pd.DataFrame(loop_history)
    table = pd.DataFrame(
        {
            "epoch": fit_history["epoch"],
            "loop train_loss": loop["train_loss"],
            "fit train_loss": fit_history["train_loss"],
            "loop val_acc": loop["val_acc"],
            "fit val_acc": fit_history["val_acc"],
        }
    )
    text = table.round(4).to_string(index=False)
    try:
        difference = max_weight_difference(model, reference)
    except ValueError as err:
        return f"{text}\nThe loop's network is not the reference's: {err}"
    if difference == 0:
        verdict = (
            "The loop and fit ended with identical weights: fit is this "
            "loop plus bookkeeping."
        )
    elif difference < 1e-4:
        verdict = (
            f"The loop and fit ended with the same weights up to "
            f"{difference:.1g}, the rounding of a GPU's parallel sums: "
            f"fit is this loop plus bookkeeping."
        )
    else:
        verdict = (
            f"The loop's weights differ from fit's by up to "
            f"{difference:.3g}: the loop did not train the way fit does. "
            f"With YOUR_CODE = True that is your network or your epoch: "
            f"see their self-checks."
        )
    return f"{text}\n{verdict}"


# --- the engine ----------------------------------------------------------


@dataclass
class Precision:
    """Where and in which number format training runs: the device, mixed
    precision (bf16, or fp16 with loss scaling) and the memory layout."""

    device: torch.device
    amp: bool
    channels_last: bool

    @classmethod
    def choose(
        cls,
        device=None,
        amp: bool | None = None,
        channels_last: bool | None = None,
    ) -> Precision:
        """Defaults: the best device; mixed precision and channels-last
        (NHWC, what tensor cores want) on CUDA only."""
        device = torch.device(device) if device else default_device()
        cuda = device.type == "cuda"
        return cls(
            device,
            cuda if amp is None else amp,
            cuda if channels_last is None else channels_last,
        )

    @property
    def memory_format(self) -> torch.memory_format:
        return (
            torch.channels_last
            if self.channels_last
            else torch.contiguous_format
        )

    def amp_dtype(self) -> torch.dtype:
        return autocast_dtype() if self.device.type == "cuda" else None

    def scaler(self) -> torch.amp.GradScaler:
        # fp16 needs loss scaling; bf16 (and fp32) do not.
        return torch.amp.GradScaler(
            "cuda",
            enabled=self.amp
            and self.device.type == "cuda"
            and autocast_dtype() == torch.float16,
        )

    def batch(self, batch) -> tuple:
        """The batch on the device, images in the chosen memory layout."""
        batch = _to_device(batch, self.device)
        if self.channels_last and batch[0].dim() == 4:
            batch = (
                batch[0].contiguous(memory_format=self.memory_format),
                *batch[1:],
            )
        return batch

    def autocast(self):
        return _autocast(self.device, self.amp)


def fit(
    model: nn.Module,
    train_loader,
    val_loader=None,
    *,
    epochs: int,
    optimizer: torch.optim.Optimizer | None = None,
    lr: float = 1e-3,
    step: Step = classification_step,
    scheduler=None,
    callbacks: list = (),
    device=None,
    amp: bool | None = None,
    checkpoint: str | Path | None = None,
    resume: bool = False,
    progress: bool | None = None,
    channels_last: bool | None = None,
    cuda_graphs: bool | None = None,
) -> pd.DataFrame:
    """Train ``model`` for ``epochs`` and return one history row per epoch.

    step(model, batch) -> dict of scalar tensors with at least ``loss``;
    every key becomes ``train_<key>`` and ``val_<key>`` columns (means
    weighted by batch size), beside ``epoch``, ``lr`` and ``seconds``.
    optimizer: defaults to Adam(lr). scheduler: stepped once per epoch.
    callbacks: see ``lab_utils.callbacks``.
    checkpoint: a file written atomically after every epoch (model,
    optimizer, scheduler, callbacks, loader and RNG state, history);
    resume=True continues from it, so an interrupted run finishes as if it
    never stopped. An existing checkpoint is never overwritten unless
    resume=True. amp: mixed precision, default on for CUDA. In a dry run
    (``lab_utils.dry_run``) one epoch of two batches runs.
    channels_last: NHWC memory layout for convolutions, default on for
    CUDA, where tensor cores want it. cuda_graphs: on CUDA, replay each
    step as a captured CUDA graph (``lab_utils.graphs``); default on
    unless ``$LAB_CUDA_GRAPHS`` is 0. Ignored elsewhere. The history's
    ``attrs["steps"]`` says how the batches were trained.
    """
    if not is_whole(epochs) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}.")
    epochs = dry_run.epochs(int(epochs))
    precision = Precision.choose(device, amp, channels_last)
    model.to(precision.device, memory_format=precision.memory_format)
    if optimizer is None:
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scaler = precision.scaler()
    history: list[dict] = []
    # What callbacks see, and what a checkpoint saves and restores.
    state = {
        "model": model,
        "optimizer": optimizer,
        "history": history,
        "scheduler": scheduler,
        "callbacks": callbacks,
        "loader": train_loader,
        "start_loss": None,  # the first batch's, for spotting divergence
        "scaler": scaler,
    }
    start_epoch = _start_epoch(checkpoint, resume, epochs, state)
    steps = _Steps(model, optimizer, step, precision, scaler, cuda_graphs)
    for cb in callbacks:
        cb.on_train_begin(state)
    bar = tqdm(
        range(start_epoch, epochs + 1),
        desc="epochs",
        unit="epoch",
        disable=not progress_enabled(progress) or None,
        initial=start_epoch - 1,
        total=epochs,
    )
    warned = False
    for epoch in bar:
        t0 = time.perf_counter()
        row = {"epoch": epoch}
        try:
            metrics, first_loss = steps.train(train_loader, epoch)
        except DivergedError as err:
            if err.history is None:
                err.history = pd.DataFrame(history)  # the epochs before
            raise
        row.update(metrics)
        if state["start_loss"] is None:
            state["start_loss"] = first_loss
        _check_divergence(row, state, optimizer)
        if val_loader is not None:
            metrics = steps.evaluate(val_loader)
            row.update({f"val_{k}": v for k, v in metrics.items()})
            warned = _warn_non_finite_validation(row, warned)
        row["lr"] = optimizer.param_groups[0]["lr"]
        if scheduler is not None:
            scheduler.step()
        row["seconds"] = time.perf_counter() - t0
        history.append(row)
        # Every callback sees every epoch, even after one asked to stop.
        stop = any([cb.on_epoch_end(state) for cb in callbacks])
        if checkpoint is not None:
            save_training_state(checkpoint, epoch, state, stop)
        bar.set_postfix(
            {
                k: f"{v:.4g}"
                for k, v in row.items()
                if k.endswith(("loss", "acc"))
            }
        )
        if stop:
            break
    bar.close()
    for cb in callbacks:
        cb.on_train_end(state)
    result = pd.DataFrame(history)
    result.attrs["steps"] = steps.summary()
    return result


class _Steps:
    """How ``fit`` trains and evaluates: replayed CUDA graphs where the
    device is CUDA (``lab_utils.graphs``), else ``fit_epoch`` and
    ``evaluate`` eagerly."""

    def __init__(self, model, optimizer, step, precision, scaler, graphs):
        self.args = (model, optimizer, step, precision, scaler)
        use = graphs_enabled(precision.device) if graphs is None else graphs
        self.graphed = (
            GraphedSteps(*self.args)
            if use and precision.device.type == "cuda"
            else None
        )

    def train(self, loader, epoch: int) -> tuple[dict, float]:
        model, optimizer, step, precision, scaler = self.args
        if self.graphed is None:
            return fit_epoch(
                model, loader, optimizer, step, precision, scaler, epoch
            )

        def check(loss_sum, first_batch, last_batch):
            _check_finite(loss_sum, epoch, first_batch, last_batch, optimizer)

        return self.graphed.train_epoch(
            dry_run.limit(loader), check, CHECK_EVERY
        )

    def summary(self) -> dict:
        """How the batches were trained: eagerly, or by CUDA graphs
        (captures, replays, eager batches, and why not, if not)."""
        g = self.graphed
        if g is None:
            return {"cuda_graphs": False}
        return {
            "cuda_graphs": g.fallback is None,
            "captures": g.captures,
            "replays": g.replays,
            "eager": g.eager,
            "fallback": g.fallback,
        }

    def evaluate(self, loader) -> dict:
        model, _, step, precision, _ = self.args
        if self.graphed is None:
            return evaluate(
                model, loader, step, precision.device, precision.amp
            )
        return self.graphed.evaluate(dry_run.evaluation(loader))


# How often fit_epoch reads the running loss to the host to check it is
# finite: once per this many batches, not per batch, so the GPU is never
# kept waiting for nothing (a read is a sync: the CPU waits for every
# queued kernel). A NaN is then caught within this many batches.
CHECK_EVERY = 100


def fit_epoch(
    model: nn.Module,
    loader,
    optimizer,
    step: Step,
    precision: Precision,
    scaler,
    epoch: int,
) -> tuple[dict, float]:
    """One pass over ``loader`` in train mode: the batch-size-weighted mean
    of each ``step`` metric, as ``train_<key>``, and the loss of the first
    batch (before its update). Sums stay on the device; the loss is read
    every CHECK_EVERY batches to stop a run that became NaN, and everything
    once at the end."""
    model.train()
    sums, n, first, checked = {}, 0, None, 0
    for b, batch in enumerate(dry_run.limit(loader), start=1):
        batch = precision.batch(batch)
        out = eager_update(model, batch, optimizer, step, precision, scaler)
        if first is None:
            first = out["loss"].detach().float()
        size = len(batch[0])
        for k, v in out.items():
            sums[k] = sums.get(k, 0.0) + wide(v) * size
        n += size
        if b % CHECK_EVERY == 0:
            _check_finite(sums["loss"], epoch, checked + 1, b, optimizer)
            checked = b
    if n == 0:
        raise ValueError(
            "The training loader produced no batches: "
            "check the dataset size and batch_size."
        )
    if checked < b:
        _check_finite(sums["loss"], epoch, checked + 1, b, optimizer)
    return {f"train_{k}": float(v) / n for k, v in sums.items()}, float(first)


def _check_finite(loss_sum, epoch, first_batch, last_batch, optimizer):
    value = float(loss_sum)
    if math.isfinite(value):
        return
    raise NonFiniteLossError(
        f"Training diverged at epoch {epoch}: the training loss became "
        f"{value} between batches {first_batch} and {last_batch}. "
        f"{_ADVICE.format(lr=optimizer.param_groups[0]['lr'])}",
        epoch,
        None,  # fit adds the history
    )


_ADVICE = (
    "Lower the learning rate (now {lr:g}), check the inputs are "
    "normalised, or clip gradients. The last checkpoint (if any) holds "
    "the last good epoch."
)


def _warn_non_finite_validation(row: dict, warned: bool) -> bool:
    """Warn, once per fit, when validation gives NaN or infinite metrics
    while training does not: the validation data (or the model's output
    on it) holds them, and early stopping or a chosen epoch that reads
    them means nothing. Returns whether a warning has been given."""
    if warned:
        return True
    bad = [
        k
        for k, v in row.items()
        if k.startswith("val_") and not math.isfinite(v)
    ]
    if not bad:
        return False
    warnings.warn(
        f"At epoch {row['epoch']} validation gave {row[bad[0]]} for "
        f"{', '.join(bad)}, while the training loss is "
        f"{row['train_loss']:.4g}: the validation images (or the "
        f"model's output on them) hold NaN or infinite values. Check "
        f"them (torch.isfinite(X).all()); early stopping on {bad[0]} "
        f"cannot work until they are fixed.",
        stacklevel=3,
    )
    return True


def _check_divergence(row: dict, state: dict, optimizer) -> None:
    """Raise DivergedError when the epoch's mean training loss is NaN or
    infinite, or DIVERGENCE_FACTOR times above the first batch's."""
    loss, start = row["train_loss"], state["start_loss"]
    reference = abs(start) if math.isfinite(start) else 1.0
    limit = DIVERGENCE_FACTOR * max(reference, 1.0)
    if math.isfinite(loss) and loss <= limit:
        return
    epoch = row["epoch"]
    history = pd.DataFrame([*state["history"], row])
    what = (
        f"became {loss}"
        if not math.isfinite(loss)
        else f"rose to {loss:.3g}, more than {DIVERGENCE_FACTOR:g} times "
        f"the first batch's {start:.3g}"
    )
    error = NonFiniteLossError if not math.isfinite(loss) else DivergedError
    raise error(
        f"Training diverged at epoch {epoch}: the mean training loss "
        f"{what}. {_ADVICE.format(lr=optimizer.param_groups[0]['lr'])}",
        epoch,
        history,
    )


def _start_epoch(checkpoint, resume: bool, epochs: int, state: dict) -> int:
    """The first epoch to train: 1, or the one after the checkpoint's."""
    if checkpoint is None:
        return 1
    checkpoint = Path(checkpoint)
    if checkpoint.exists() and not resume:
        raise FileExistsError(
            f"{checkpoint} already exists and would be overwritten. "
            f"Pass resume=True to continue from it, or choose another "
            f"checkpoint path (delete the file yourself if you no "
            f"longer need it)."
        )
    if not (resume and checkpoint.exists()):
        return 1
    last, stopped = restore_training_state(checkpoint, state)
    # A run that early stopping had ended stays ended.
    return epochs + 1 if stopped else last + 1
