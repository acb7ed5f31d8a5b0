"""Callbacks that plug into ``fit``: early stopping and feature snapshots.

``fit`` calls ``on_train_begin``, then ``on_epoch_end`` after every epoch
(True stops training), then ``on_train_end``; ``state_dict`` goes into the
checkpoint so a resumed run continues with the callback as it was.
"""

from __future__ import annotations

import torch

from .engine import extract_features
from .metrics import metric_mode


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


def early_stopping(
    values, patience: int, min_delta: float = 0.0
) -> tuple[int, bool]:
    """The early-stopping rule on a validation curve so far, higher is
    better: (best_epoch, stop). An epoch improves on the best so far only
    if it beats it by more than ``min_delta`` (a tie does not); best_epoch
    (1-based) is the last epoch that improved, the first epoch counting as
    one; stop is True once ``patience`` epochs in a row have not improved.
    values: one number per epoch, oldest first (at least one)."""
    best, best_epoch, wait = None, None, 0
    for epoch, value in enumerate(values, start=1):
        if best is None or value > best + min_delta:
            best, best_epoch, wait = value, epoch, 0
        else:
            wait += 1
    if best_epoch is None:
        raise ValueError("early_stopping needs at least one epoch's value.")
    return best_epoch, wait >= patience


def rule_on(
    values,
    mode: str,
    patience: int,
    min_delta: float = 0.0,
    rule=early_stopping,
) -> tuple[int, bool]:
    """``rule`` (higher is better) on a curve whose better direction is
    ``mode`` ("max" or "min"): a loss's values are negated first."""
    sign = 1.0 if mode == "max" else -1.0
    return rule([sign * v for v in values], patience, min_delta)


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for
    ``patience`` epochs (the rule of :func:`early_stopping`); optionally
    restore the best weights at the end. mode: "max" or "min"; by default
    ``metrics.metric_mode(monitor)`` (max for accuracies, min for losses).
    rule: another function with :func:`early_stopping`'s arguments and
    result (a student's, in Lab 3)."""

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 5,
        min_delta: float = 0.0,
        mode: str | None = None,
        restore_best: bool = True,
        rule=early_stopping,
    ):
        if patience < 1:
            raise ValueError(f"patience must be at least 1, got {patience}.")
        self.monitor = monitor
        self.patience = patience
        self.min_delta = min_delta
        self.mode = mode or metric_mode(monitor)
        if self.mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}.")
        self.restore_best = restore_best
        self.rule = rule
        self.best = None
        self.best_epoch = None
        self.best_weights = None
        self.wait = 0
        self.stopped_epoch = None

    def on_epoch_end(self, state: dict) -> bool:
        row = state["history"][-1]
        if self.monitor not in row:
            raise ValueError(
                f"EarlyStopping monitors {self.monitor!r}, which the history"
                f" does not have. Available: {', '.join(row)}. Pass a "
                f"validation loader to fit() to get val_* columns."
            )
        # The rule reads the whole curve (higher is better), so a resumed
        # run, whose history is restored, decides as an unbroken one.
        curve = [r[self.monitor] for r in state["history"]]
        best_epoch, stop = rule_on(
            curve, self.mode, self.patience, self.min_delta, self.rule
        )
        epoch = len(curve)
        self.wait = epoch - best_epoch
        if best_epoch == epoch:
            self.best, self.best_epoch = row[self.monitor], row["epoch"]
            if self.restore_best:
                self.best_weights = {
                    k: v.detach().clone()
                    for k, v in state["model"].state_dict().items()
                }
        if stop:
            self.stopped_epoch = row["epoch"]
        return bool(stop)

    def on_train_end(self, state: dict) -> None:
        if self.restore_best and self.best_weights is not None:
            state["model"].load_state_dict(self.best_weights)

    def state_dict(self) -> dict:
        return {
            "best": self.best,
            "best_epoch": self.best_epoch,
            "wait": self.wait,
            "best_weights": self.best_weights,
        }

    def load_state_dict(self, state: dict) -> None:
        self.best = state["best"]
        self.best_epoch = state["best_epoch"]
        self.wait = state["wait"]
        self.best_weights = state["best_weights"]


class FeatureSnapshots(Callback):
    """Record ``extract_features(model, loader, layer)`` before training,
    after each epoch in ``epochs`` ("all" for every epoch), and after
    training (once any earlier callback, such as early stopping, has
    restored the best weights).

    snapshots: label ("before training", "epoch 3", "after training") ->
    (features (n, d), labels (n,)), in that order.
    """

    def __init__(self, loader, layer: str, epochs: tuple[int, ...] | str = ()):
        if isinstance(epochs, str):
            if epochs != "all":
                raise ValueError(
                    f"epochs must be epoch numbers or 'all', got {epochs!r}."
                )
        else:
            epochs = {int(e) for e in epochs}
        self.loader, self.layer = loader, layer
        self.epochs = epochs
        self.snapshots: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def _take(self, model, label):
        self.snapshots[label] = extract_features(
            model, self.loader, self.layer
        )

    def on_train_begin(self, state: dict) -> None:
        if not state["history"]:
            self._take(state["model"], "before training")

    def on_epoch_end(self, state: dict) -> bool:
        epoch = state["history"][-1]["epoch"]
        if self.epochs == "all" or epoch in self.epochs:
            self._take(state["model"], f"epoch {epoch}")
        return False

    def on_train_end(self, state: dict) -> None:
        self._take(state["model"], "after training")

    # Saved with fit's checkpoints, so a resumed run keeps the snapshots
    # of the epochs it trained before it stopped.
    def state_dict(self) -> dict:
        return {"snapshots": dict(self.snapshots)}

    def load_state_dict(self, state: dict) -> None:
        self.snapshots = dict(state["snapshots"])
