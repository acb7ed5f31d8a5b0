"""One training engine for every lab: ``fit``, ``evaluate``, ``predict``.

A lab changes what one batch does by passing its own ``step`` (ArcFace, the
VAE); early stopping and checkpoints are callbacks. ``fit`` returns the
per-epoch history as a pandas DataFrame.
"""
from __future__ import annotations

import os
import random
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from .files import atomic_write


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite."""


def default_device() -> torch.device:
    """CUDA if available, then Apple's MPS, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and \
            torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch, and ask torch for deterministic
    kernels where it has them, so two CPU runs give identical histories."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    if torch.backends.cudnn.is_available():
        torch.backends.cudnn.benchmark = False
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


def _progress_enabled(progress: bool | None) -> bool:
    if progress is not None:
        return progress
    return os.environ.get("LAB_PROGRESS", "1") not in ("0", "false", "no")


def _autocast(device: torch.device, amp: bool):
    if amp and device.type == "cuda":
        dtype = (torch.bfloat16 if torch.cuda.is_bf16_supported()
                 else torch.float16)
        return torch.autocast("cuda", dtype=dtype)
    return nullcontext()


def _to_device(batch, device):
    return tuple(t.to(device, non_blocking=True) for t in batch)


@torch.no_grad()
def evaluate(model: nn.Module, loader, step: Step = classification_step,
             device=None, amp: bool | None = None) -> dict:
    """Mean of each ``step`` metric over ``loader``, in eval mode and without
    gradients; the model's train/eval mode is restored afterwards."""
    device = torch.device(device) if device else _model_device(model)
    amp = device.type == "cuda" if amp is None else amp
    was_training = model.training
    model.eval()
    sums, n = {}, 0
    try:
        for batch in loader:
            batch = _to_device(batch, device)
            with _autocast(device, amp):
                out = step(model, batch)
            size = len(batch[0])
            for k, v in out.items():
                sums[k] = sums.get(k, 0.0) + float(v) * size
            n += size
    finally:
        model.train(was_training)
    if n == 0:
        raise ValueError("evaluate() got an empty loader: check the "
                         "dataset size and batch_size.")
    return {k: v / n for k, v in sums.items()}


@torch.no_grad()
def predict(model: nn.Module, loader, device=None):
    """Model outputs and labels for every batch: (outputs, y) tensors on
    the CPU, in loader order."""
    device = torch.device(device) if device else _model_device(model)
    was_training = model.training
    model.eval()
    outs, ys = [], []
    try:
        for X, y in loader:
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
        raise ValueError(f"The model has no layer named {layer!r}. "
                         f"Layers: {names}.")
    captured = []
    hook = modules[layer].register_forward_hook(
        lambda mod, inp, out: captured.append(out.detach().float().cpu()))
    try:
        _, y = predict(model, loader, device)
    finally:
        hook.remove()
    return torch.cat([c.flatten(1) for c in captured]), y


def confusion_matrix(y_true: torch.Tensor, y_pred: torch.Tensor,
                     n_classes: int) -> np.ndarray:
    """(n_classes, n_classes) counts: row = true class, column = predicted."""
    index = y_true.long() * n_classes + y_pred.long()
    counts = torch.bincount(index.cpu(), minlength=n_classes * n_classes)
    return counts.view(n_classes, n_classes).numpy()


def _model_device(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


# --- callbacks -----------------------------------------------------------

class Callback:
    """Hook into ``fit``: ``on_epoch_end`` returns True to stop training."""

    def on_train_begin(self, state: dict) -> None:
        pass

    def on_epoch_end(self, state: dict) -> bool:
        return False

    def on_train_end(self, state: dict) -> None:
        pass

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for
    ``patience`` epochs; optionally restore the best weights at the end."""

    def __init__(self, monitor: str = "val_loss", patience: int = 5,
                 min_delta: float = 0.0, mode: str | None = None,
                 restore_best: bool = True):
        if patience < 1:
            raise ValueError(f"patience must be at least 1, got {patience}.")
        self.monitor = monitor
        self.patience = patience
        self.min_delta = min_delta
        self.mode = mode or ("max" if "acc" in monitor else "min")
        if self.mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}.")
        self.restore_best = restore_best
        self.best = None
        self.best_epoch = None
        self.best_weights = None
        self.wait = 0
        self.stopped_epoch = None

    def _improved(self, value: float) -> bool:
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, state: dict) -> bool:
        row = state["history"][-1]
        if self.monitor not in row:
            raise ValueError(
                f"EarlyStopping monitors {self.monitor!r}, which the history"
                f" does not have. Available: {', '.join(row)}. Pass a "
                f"validation loader to fit() to get val_* columns.")
        value = row[self.monitor]
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, row["epoch"], 0
            if self.restore_best:
                self.best_weights = {k: v.detach().clone() for k, v in
                                     state["model"].state_dict().items()}
            return False
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = row["epoch"]
            return True
        return False

    def on_train_end(self, state: dict) -> None:
        if self.restore_best and self.best_weights is not None:
            state["model"].load_state_dict(self.best_weights)

    def state_dict(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch,
                "wait": self.wait, "best_weights": self.best_weights}

    def load_state_dict(self, state: dict) -> None:
        self.best = state["best"]
        self.best_epoch = state["best_epoch"]
        self.wait = state["wait"]
        self.best_weights = state["best_weights"]


class FeatureSnapshots(Callback):
    """Record ``extract_features(model, loader, layer)`` before training,
    after each epoch in ``epochs``, and after training (once any earlier
    callback, such as early stopping, has restored the best weights).

    snapshots: label ("before training", "epoch 3", "after training") ->
    (features (n, d), labels (n,)), in that order.
    """

    def __init__(self, loader, layer: str, epochs: tuple[int, ...] = ()):
        self.loader, self.layer = loader, layer
        self.epochs = set(epochs)
        self.snapshots: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def _take(self, model, label):
        self.snapshots[label] = extract_features(model, self.loader,
                                                 self.layer)

    def on_train_begin(self, state: dict) -> None:
        if not state["history"]:
            self._take(state["model"], "before training")

    def on_epoch_end(self, state: dict) -> bool:
        epoch = state["history"][-1]["epoch"]
        if epoch in self.epochs:
            self._take(state["model"], f"epoch {epoch}")
        return False

    def on_train_end(self, state: dict) -> None:
        self._take(state["model"], "after training")


def save_checkpoint(path: str | Path, **state) -> Path:
    """Write ``state`` with ``torch.save`` atomically: a crash mid-write
    leaves the previous checkpoint intact."""
    return atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """Read a checkpoint written by ``fit``, with an error that says what
    to do when the file is missing or damaged."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No checkpoint at {path}. Train first, or "
                                f"check the path.")
    try:
        return torch.load(path, map_location=map_location,
                          weights_only=False)
    except Exception as err:
        raise ValueError(f"Cannot read the checkpoint {path} ({err}). It is "
                         f"damaged or not a checkpoint; it was left as it "
                         f"is.") from None


# --- the engine ----------------------------------------------------------

def fit(model: nn.Module, train_loader, val_loader=None, *, epochs: int,
        optimizer: torch.optim.Optimizer | None = None, lr: float = 1e-3,
        step: Step = classification_step, scheduler=None,
        callbacks: list[Callback] = (), device=None,
        amp: bool | None = None, checkpoint: str | Path | None = None,
        resume: bool = False, progress: bool | None = None,
        channels_last: bool | None = None) -> pd.DataFrame:
    """Train ``model`` for ``epochs`` and return one history row per epoch.

    step(model, batch) -> dict of scalar tensors with at least ``loss``;
    every key becomes ``train_<key>`` and ``val_<key>`` columns (means
    weighted by batch size), beside ``epoch``, ``lr`` and ``seconds``.
    optimizer: defaults to Adam(lr). scheduler: stepped once per epoch.
    checkpoint: a file written atomically after every epoch (model,
    optimizer, scheduler, callbacks, loader and RNG state, history);
    resume=True continues from it, so an interrupted run finishes as if it
    never stopped. An existing checkpoint is never overwritten unless
    resume=True. amp: mixed precision, default on for CUDA.
    channels_last: NHWC memory layout for convolutions, default on for
    CUDA, where tensor cores want it.
    """
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got "
                         f"{epochs!r}.")
    device = torch.device(device) if device else default_device()
    amp = device.type == "cuda" if amp is None else amp
    if channels_last is None:
        channels_last = device.type == "cuda"
    memory_format = (torch.channels_last if channels_last
                     else torch.contiguous_format)
    model.to(device, memory_format=memory_format)
    if optimizer is None:
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    # fp16 needs loss scaling; bf16 (and fp32) do not.
    scaler = torch.amp.GradScaler("cuda", enabled=amp and device.type ==
                                  "cuda" and not
                                  torch.cuda.is_bf16_supported())
    history: list[dict] = []
    state = {"model": model, "optimizer": optimizer, "history": history}
    start_epoch = 1
    if checkpoint is not None:
        checkpoint = Path(checkpoint)
        if checkpoint.exists() and not resume:
            raise FileExistsError(
                f"{checkpoint} already exists and would be overwritten. "
                f"Pass resume=True to continue from it, or choose another "
                f"checkpoint path (delete the file yourself if you no "
                f"longer need it).")
        if resume and checkpoint.exists():
            last, stopped = _restore(checkpoint, model, optimizer,
                                     scheduler, callbacks, train_loader,
                                     history)
            # A run that early stopping had ended stays ended.
            start_epoch = epochs + 1 if stopped else last + 1
    for cb in callbacks:
        cb.on_train_begin(state)

    bar = tqdm(range(start_epoch, epochs + 1), desc="epochs", unit="epoch",
               disable=not _progress_enabled(progress) or None,
               initial=start_epoch - 1, total=epochs)
    stop = False
    for epoch in bar:
        t0 = time.perf_counter()
        model.train()
        sums, n = {}, 0
        for b, batch in enumerate(train_loader, start=1):
            batch = _to_device(batch, device)
            if channels_last and batch[0].dim() == 4:
                batch = (batch[0].contiguous(memory_format=memory_format),
                         *batch[1:])
            with _autocast(device, amp):
                out = step(model, batch)
            loss = out["loss"]
            if not torch.isfinite(loss):
                raise NonFiniteLossError(
                    f"The training loss became {loss.item()} at epoch "
                    f"{epoch}, batch {b}. Lower the learning rate (now "
                    f"{optimizer.param_groups[0]['lr']:g}), check the "
                    f"inputs are normalised, or clip gradients. The last "
                    f"checkpoint (if any) holds the last good epoch.")
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            size = len(batch[0])
            for k, v in out.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach()) * size
            n += size
        if n == 0:
            raise ValueError("The training loader produced no batches: "
                             "check the dataset size and batch_size.")
        row = {"epoch": epoch}
        row.update({f"train_{k}": v / n for k, v in sums.items()})
        if val_loader is not None:
            metrics = evaluate(model, val_loader, step, device, amp)
            row.update({f"val_{k}": v for k, v in metrics.items()})
        row["lr"] = optimizer.param_groups[0]["lr"]
        if scheduler is not None:
            scheduler.step()
        row["seconds"] = time.perf_counter() - t0
        history.append(row)
        for cb in callbacks:
            stop = cb.on_epoch_end(state) or stop
        if checkpoint is not None:
            _save(checkpoint, epoch, model, optimizer, scheduler,
                  callbacks, train_loader, history, stop)
        bar.set_postfix({k: f"{v:.4g}" for k, v in row.items()
                         if k.endswith(("loss", "acc"))})
        if stop:
            break
    bar.close()
    for cb in callbacks:
        cb.on_train_end(state)
    return pd.DataFrame(history)


def fit_config(model: nn.Module, config: dict, train_loader, val_loader,
               *, step: Step = classification_step, callbacks=(),
               device=None, progress: bool | None = None,
               default_epochs: int = 10):
    """``fit`` with its optimizer, schedule and early stopping read from a
    flat config, the shared part of every lab's "one run from a config".

    config keys: optimizer, lr, weight_decay (see ``make_optimizer``);
    schedule (constant, cosine, one-cycle); epochs; patience and min_delta
    (early stopping on validation accuracy, best weights restored; 0 =
    off). Early stopping comes before ``callbacks``, so they see the
    restored weights at the end. Returns (history, optimizer).
    """
    from .optim import make_optimizer, make_scheduler

    optimizer = make_optimizer(config.get("optimizer", "adam"),
                               model.parameters(), config.get("lr", 1e-3),
                               config.get("weight_decay", 0.0))
    epochs = config.get("epochs", default_epochs)
    scheduler = make_scheduler(config.get("schedule", "constant"),
                               optimizer, epochs)
    stop = ([EarlyStopping("val_acc", config["patience"],
                           config.get("min_delta", 0.0))]
            if config.get("patience", 0) else [])
    history = fit(model, train_loader, val_loader, epochs=epochs,
                  optimizer=optimizer, scheduler=scheduler, step=step,
                  callbacks=stop + list(callbacks), device=device,
                  progress=progress)
    return history, optimizer


def _save(path, epoch, model, optimizer, scheduler, callbacks, loader,
          history, stopped):
    save_checkpoint(
        path, epoch=epoch, model=model.state_dict(),
        optimizer=optimizer.state_dict(),
        scheduler=scheduler.state_dict() if scheduler else None,
        callbacks=[cb.state_dict() for cb in callbacks],
        loader=loader.state_dict() if hasattr(loader, "state_dict")
        else None,
        torch_rng=torch.get_rng_state(), history=list(history),
        stopped=stopped)


def _restore(path, model, optimizer, scheduler, callbacks, loader,
             history) -> tuple[int, bool]:
    ckpt = load_checkpoint(path)
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as err:
        raise ValueError(
            f"The checkpoint {path} was written by a different model "
            f"({str(err).splitlines()[0]}). Use the model it was trained "
            f"with, or a new checkpoint path; the file was left as it "
            f"is.") from None
    optimizer.load_state_dict(ckpt["optimizer"])
    if scheduler is not None and ckpt.get("scheduler"):
        scheduler.load_state_dict(ckpt["scheduler"])
    for cb, cb_state in zip(callbacks, ckpt.get("callbacks", [])):
        cb.load_state_dict(cb_state)
    if ckpt.get("loader") and hasattr(loader, "load_state_dict"):
        loader.load_state_dict(ckpt["loader"])
    torch.set_rng_state(ckpt["torch_rng"])
    history.extend(ckpt["history"])
    return ckpt["epoch"], bool(ckpt.get("stopped"))
