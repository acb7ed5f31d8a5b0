"""Recipes: one flat config and a seed in, a trained model out.

Every lab trains through one of three recipes, and so does every sweep:

- ``train_classifier``: a ThreeConvNet (Labs 2 and 3) or FashionNet
  (Lab 5) with cross-entropy;
- ``train_margin_classifier``: an EmbeddingNet with a softmax, CosFace or
  ArcFace head (Lab 4);
- ``train_vae``: the convolutional VAE (Lab 6).

Each seeds everything, builds the model, the loaders, the optimizer, the
schedule and early stopping from the config, calls ``fit`` and returns a
:class:`Trained` record. Every key a config may hold is below: with its
default in ``DEFAULTS``, or in ``OPTIONAL_KEYS`` where the model or head
holds the default. A config only names what it changes. ``save_to``
writes the result as a checkpoint that ``load_trained`` rebuilds.

``resume_dir``: a folder where the run saves its training state after
every epoch, in a file named after its recipe, config, seed and data.
Run again with the same arguments, it continues from there (a run killed
midway, or a Colab runtime that was reset, loses at most one epoch; a
finished run only re-evaluates) and says so. A changed config or seed
gets a file of its own: it trains from the start, and nothing saved is
overwritten.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, fields
from math import nan
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn as nn

from . import dry_run
from .arcface import EmbeddingNet, MarginClassifier, make_head, margin_step
from .callbacks import EarlyStopping, rule_on
from .checkpoints import load_checkpoint, save_checkpoint
from .data import LabData, TensorLoader, get_augment
from .data.catalog import is_whole
from .engine import (
    DivergedError,
    classification_step,
    default_device,
    evaluate,
    fit,
    seed_everything,
)
from .metrics import metric_mode
from .models import (
    FashionNet,
    ThreeConvConfig,
    ThreeConvNet,
    count_parameters,
    three_conv_config,
)
from .optim import make_optimizer, make_scheduler
from .vae import DECODER_SIGMA, ConvVAE, vae_step

# Shared by every recipe: how to train.
TRAINING = {
    "optimizer": "adam",  # sgd, momentum, nesterov, rmsprop, adam, adamw
    "lr": 1e-3,  # the optimizer's (peak) learning rate
    "weight_decay": 0.0,  # L2 penalty through the optimizer
    "schedule": "constant",  # constant, cosine, one-cycle (per epoch)
    "epochs": 10,  # upper bound with early stopping
    "batch_size": 64,  # training images per step
    "eval_batch_size": 512,  # validation/test batch (no effect on results)
    "augment": "none",  # a name in lab_utils.data.AUGMENTATIONS
    "patience": 0,  # early stopping (on MONITOR below); 0 = off
    "min_delta": 0.0,  # smallest improvement that counts
}

# Per recipe: what to build, on top of TRAINING.
DEFAULTS = {
    "classifier": {
        **TRAINING,
        "model": "three_conv",  # three_conv (Labs 2, 3) or fashion_net
        "preset": "small",  # ThreeConvNet preset (models.PRESETS);
        # any ThreeConvNet option may follow: widths, fc, batch_norm,
        # dropout, dense, bias.
    },
    "margin": {
        **TRAINING,
        "epochs": 5,
        "batch_size": 128,
        "eval_batch_size": 1000,
        "preset": "five_conv",  # EmbeddingNet preset: five_conv, two_conv
        "embedding_dim": 3,
        "width": 1.0,  # channel multiplier (smaller: faster)
        "head": "arcface",  # softmax, cosface, arcface
        # s (scale) and m (margin) go to the head when given; each head
        # has its own defaults (see lab_utils.arcface).
    },
    "vae": {
        **TRAINING,
        "epochs": 20,
        "batch_size": 32,
        "eval_batch_size": 256,
        "latent_dim": 120,  # the report's latent size
        "beta": 1.0,  # weight of the KL term: 1 = the textbook VAE
        "sigma": DECODER_SIGMA,  # the decoder's std per pixel value
        # gaussian (squared error over sigma) or bernoulli (binary
        # cross-entropy, the other loss the VAE report tried)
        "likelihood": "gaussian",
    },
}

# Keys a config may add, whose defaults the model or head itself holds:
# ThreeConvNet's options (models.ThreeConvConfig: widths, fc, batch_norm,
# dropout, dense, bias) and the margin heads' scale s and margin m.
THREE_CONV_OPTIONS = tuple(f.name for f in fields(ThreeConvConfig))
OPTIONAL_KEYS = {
    "classifier": set(THREE_CONV_OPTIONS),
    "margin": {"s", "m"},
    "vae": set(),
}

# The two metrics every recipe reports about divergence, for a run that
# did not diverge (see _Run.diverged for one that did).
NOT_DIVERGED = {"diverged": False, "diverged_epoch": None}

# What early stopping watches, per recipe (the best epoch's weights are
# kept).
MONITOR = {"classifier": "val_acc", "margin": "val_acc", "vae": "val_loss"}


@dataclass
class Trained:
    """What a recipe returns: the model (trained, in eval mode), its
    per-epoch history, its metrics and the full config (defaults filled
    in)."""

    model: nn.Module
    history: pd.DataFrame
    metrics: dict
    config: dict
    recipe: str = "classifier"

    @property
    def kept_epoch(self) -> int | None:
        """The epoch whose weights the model holds: with early stopping
        the best one by the recipe's rule (``MONITOR``, ``min_delta``),
        else the last; None for a run with no epochs."""
        if len(self.history) == 0:
            return None
        epochs = self.history["epoch"]
        monitor = MONITOR[self.recipe]
        if not self.config.get("patience") or monitor not in self.history:
            return int(epochs.iloc[-1])
        best, _ = rule_on(
            self.history[monitor].tolist(),
            metric_mode(monitor),
            self.config["patience"],
            self.config.get("min_delta", 0.0),
        )
        return int(epochs.iloc[best - 1])


def with_defaults(recipe: str, config: dict) -> dict:
    """``config`` on top of the recipe's defaults; unknown keys, and values
    of the wrong type (a float batch size, a string learning rate), are an
    error that names the key (a typo would otherwise be silently ignored,
    or fail far from its cause). numpy numbers become Python's."""
    if recipe not in DEFAULTS:
        raise ValueError(
            f"Unknown recipe {recipe!r}. Choose one of: {', '.join(DEFAULTS)}."
        )
    if not isinstance(config, dict):
        raise ValueError(
            f"A config must be a dict of settings, got "
            f"{type(config).__name__}: {config!r}."
        )
    known = set(DEFAULTS[recipe]) | OPTIONAL_KEYS[recipe]
    unknown = sorted(set(config) - known)
    if unknown:
        raise ValueError(
            f"Unknown config key(s) for the {recipe} recipe: "
            f"{', '.join(unknown)}. Known keys: "
            f"{', '.join(sorted(known))}."
        )
    config = {k: _plain_number(v) for k, v in config.items()}
    for key, value in config.items():
        if key in DEFAULTS[recipe]:
            _check_type(key, value, DEFAULTS[recipe][key])
    return {**DEFAULTS[recipe], **config}


def _plain_number(value):
    """numpy scalars as Python numbers (so configs stay JSON)."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def _check_type(key: str, value, default) -> None:
    """``value`` must be of the kind ``default`` is: a whole number for
    integer settings, a number for float ones, text for names."""
    if isinstance(default, bool):
        ok, kind = isinstance(value, bool), "True or False"
    elif isinstance(default, int):
        ok, kind = is_whole(value), "a whole number (int)"
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        kind = "a number"
    elif isinstance(default, str):
        ok, kind = isinstance(value, str), "a name (str)"
    else:
        return
    if not ok:
        raise ValueError(
            f"Config key {key!r} must be {kind}, like its default "
            f"{default!r}; got {value!r} ({type(value).__name__})."
        )


# --- building models from configs ----------------------------------------


def build_classifier(config: dict, data: LabData) -> nn.Module:
    """The classifier a config describes, sized for ``data``."""
    config = with_defaults("classifier", config)
    c, h, _ = data.X.shape[1:]
    changes = {
        k: tuple(v) if isinstance(v, list) else v
        for k, v in config.items()
        if k in THREE_CONV_OPTIONS
    }
    if config["model"] == "fashion_net":
        if changes:
            raise ValueError(
                f"FashionNet has a fixed architecture; the ThreeConvNet "
                f"option(s) {', '.join(changes)} do not apply to it. "
                f"Remove them, or use model='three_conv'."
            )
        return FashionNet(len(data.classes))
    if config["model"] != "three_conv":
        raise ValueError(
            f"Unknown classifier model {config['model']!r}. "
            f"Choose three_conv or fashion_net."
        )
    return ThreeConvNet(
        three_conv_config(config["preset"], **changes),
        in_channels=c,
        n_classes=len(data.classes),
        image_size=h,
    )


def build_margin_classifier(config: dict, data: LabData) -> nn.Module:
    """An EmbeddingNet and its head, as a MarginClassifier."""
    config = with_defaults("margin", config)
    dim = config["embedding_dim"]
    backbone = EmbeddingNet(config["preset"], dim, config["width"])
    options = {k: config[k] for k in ("s", "m") if k in config}
    head = make_head(config["head"], dim, len(data.classes), **options)
    return MarginClassifier(backbone, head)


def build_vae(config: dict, data: LabData) -> nn.Module:
    """A ConvVAE for ``data``'s image size and channels."""
    config = with_defaults("vae", config)
    c, h, _ = data.X.shape[1:]
    return ConvVAE(h, c, config["latent_dim"])


BUILDERS = {
    "classifier": build_classifier,
    "margin": build_margin_classifier,
    "vae": build_vae,
}


# --- the recipes ---------------------------------------------------------


def train_classifier(
    config: dict,
    seed: int,
    train: LabData,
    val: LabData,
    test: LabData | None = None,
    device=None,
    callbacks=(),
    progress: bool = False,
    save_to: str | Path | None = None,
    resume_dir: str | Path | None = None,
) -> Trained:
    """Train a classifier (keys: ``DEFAULTS["classifier"]``).

    A run that diverges (its loss NaN, infinite, or ten times where it
    started: a learning rate too large) ends there and is reported with
    ``diverged`` True, the epoch in ``diverged_epoch`` and chance-level
    accuracy, so a sweep goes on. metrics: val_acc (the best epoch's with
    early stopping, else the last), test_acc and test_loss (with
    ``test``), epochs_run, seconds, parameters, diverged, diverged_epoch.
    """
    run = _Run.start("classifier", config, seed, train, device, resume_dir)
    return run.classify(
        val, test, classification_step, callbacks, progress, save_to
    )


def train_margin_classifier(
    config: dict,
    seed: int,
    train: LabData,
    val: LabData,
    test: LabData | None = None,
    device=None,
    callbacks=(),
    progress: bool = False,
    save_to: str | Path | None = None,
    resume_dir: str | Path | None = None,
) -> Trained:
    """Train an EmbeddingNet + head (keys: ``DEFAULTS["margin"]``, plus s
    and m for the margin heads). Accuracy is measured as real use
    predicts: by the largest cosine, with no margin. metrics: val_acc,
    test_acc and test_loss (with ``test``), epochs_run, seconds,
    parameters, diverged, diverged_epoch (as for ``train_classifier``)."""
    run = _Run.start("margin", config, seed, train, device, resume_dir)
    return run.classify(val, test, margin_step, callbacks, progress, save_to)


# What a VAE run reports, from its last epoch on the validation images.
VAE_METRICS = ("val_loss", "val_recon", "val_kl", "val_nelbo", "val_mse")


def train_vae(
    config: dict,
    seed: int,
    train: LabData,
    val: LabData,
    device=None,
    callbacks=(),
    progress: bool = False,
    save_to: str | Path | None = None,
    resume_dir: str | Path | None = None,
    loss=None,
) -> Trained:
    """Train a ConvVAE (keys: ``DEFAULTS["vae"]``) with the loss of
    ``vae.vae_loss``. metrics: the last epoch's val_loss, val_recon,
    val_kl, val_nelbo (nats per image) and val_mse (NaN for a run that
    diverged), epochs_run, seconds, parameters, diverged,
    diverged_epoch. loss: train on this objective instead (see
    ``vae_step``); its saved state is kept apart from the reference's,
    and from that of any other version of the function's code."""
    run = _Run.start("vae", config, seed, train, device, resume_dir)
    if loss is not None:
        run.objective = code_digest(loss)
    step = vae_step(
        run.config["beta"],
        run.config["sigma"],
        run.config["likelihood"],
        loss=loss,
    )
    try:
        history = run.fit(val, step, callbacks, progress)
    except DivergedError as err:
        return run.diverged(err, None, save_to)
    last = history.iloc[-1]
    metrics = {
        **{k: float(last[k]) for k in VAE_METRICS},
        **run.summary(history),
        **NOT_DIVERGED,
    }
    return run.finish(history, metrics, save_to)


RECIPES = {
    "classifier": train_classifier,
    "margin": train_margin_classifier,
    "vae": train_vae,
}


def load_trained(path: str | Path, data: LabData, device=None) -> Trained:
    """Rebuild what a recipe saved with ``save_to=path``; the model comes
    back on ``device`` in eval mode. ``data``: any split of the dataset it
    was trained on (for the image shape and the classes)."""
    ckpt = load_checkpoint(path)
    if "recipe" not in ckpt:
        raise ValueError(
            f"{path} was not written by a recipe (no 'recipe' entry): "
            f"read it with lu.load_checkpoint, or retrain with a recipe's "
            f"save_to=."
        )
    saved = ckpt["data"]
    here = {
        "name": data.name,
        "shape": tuple(data.X.shape[1:]),
        "classes": data.classes,
    }
    if saved != here:
        raise ValueError(
            f"{path} holds a model trained on {saved['name']} images of "
            f"shape {saved['shape']} with {len(saved['classes'])} classes, "
            f"not on this {here['name']} data of shape {here['shape']} with "
            f"{len(here['classes'])} classes. Pass the dataset it was "
            f"trained on, or delete the file to train again."
        )
    model = BUILDERS[ckpt["recipe"]](ckpt["config"], data)
    model.load_state_dict(ckpt["model"])
    model = model.to(_device(device)).eval()
    return Trained(
        model,
        pd.DataFrame(ckpt["history"]),
        ckpt["metrics"],
        ckpt["config"],
        ckpt["recipe"],
    )


# --- the shared steps ----------------------------------------------------


def _say_resuming(state_file: Path, epochs: int) -> None:
    """One line when a saved state is found, so a student sees that work
    was kept, not silently skipped."""
    if not state_file.exists():
        return
    saved = load_checkpoint(state_file)
    done = saved.get("epoch", 0)
    where = state_file.parent.name + "/" + state_file.name
    if done >= epochs or saved.get("stopped"):
        print(f"Found this finished run in {where}: reusing it.")
    else:
        print(
            f"Found this run in {where} after {done} of {epochs} epochs: "
            f"training the remaining {epochs - done}."
        )


def code_digest(fn) -> str:
    """A digest of a function's code (its bytecode, constants and names,
    nested functions included, and the code of the functions it calls by
    a global name, such as a student's own ``kl_divergence``): it changes
    when any of that code is edited, and stays the same when the same code
    is run again in a new session."""
    digest = hashlib.sha1()
    seen = set()

    def add(code, namespace):
        digest.update(code.co_code)
        digest.update(repr(code.co_names).encode())
        for const in code.co_consts:
            if hasattr(const, "co_code"):
                add(const, namespace)
            else:
                digest.update(repr(const).encode())
        for name in code.co_names:
            called = namespace.get(name)
            inner = getattr(called, "__code__", None)
            if inner is not None and id(inner) not in seen:
                seen.add(id(inner))
                add(inner, getattr(called, "__globals__", {}))

    if not hasattr(fn, "__code__"):
        fn = type(fn).__call__
    seen.add(id(fn.__code__))
    add(fn.__code__, getattr(fn, "__globals__", {}))
    return digest.hexdigest()[:12]


def _device(device) -> torch.device:
    return torch.device(device) if device else default_device()


@dataclass
class _Run:
    """One recipe's run in progress: what every recipe does the same way."""

    recipe: str
    config: dict
    seed: int
    train: LabData
    device: torch.device
    model: nn.Module
    resume_dir: Path | None = None
    optimizer: torch.optim.Optimizer | None = None
    seconds: float = 0.0
    # The digest of a loss function of the student's own, if it trains on
    # one (see code_digest).
    objective: str | None = None

    @classmethod
    def start(cls, recipe, config, seed, train, device, resume_dir) -> _Run:
        """The config with its defaults, then seed, then the model, in
        that order, so a seed gives the same initial weights every time."""
        config = with_defaults(recipe, config)
        device = _device(device)
        seed_everything(seed)
        model = BUILDERS[recipe](config, train)
        folder = Path(resume_dir) if resume_dir is not None else None
        return cls(recipe, config, seed, train, device, model, folder)

    def state_file(self, val) -> Path | None:
        """Where this run keeps its training state: named by a digest of
        everything that decides its result (recipe, config, seed, data)."""
        if self.resume_dir is None:
            return None
        key = {
            "recipe": self.recipe,
            "config": self.config,
            "seed": self.seed,
            "classes": self.train.classes,
            "dry_run": dry_run.active(),
        }
        if self.objective is not None:
            key["objective"] = self.objective
        digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode())
        # The data by content: every label, and every 64th image.
        for data in (self.train, val):
            digest.update(data.y.numpy().tobytes())
            digest.update(data.X[::64].contiguous().numpy().tobytes())
        digest = digest.hexdigest()[:12]
        return self.resume_dir / f"{self.recipe}-{digest}.pt"

    def fit(self, val, step, callbacks, progress) -> pd.DataFrame:
        """Loaders, optimizer, schedule and early stopping from the
        config, then ``fit``; ``seconds`` times everything after the
        loaders."""
        config = self.config
        loader = TensorLoader(
            self.train,
            config["batch_size"],
            shuffle=True,
            augment=get_augment(config["augment"]),
            device=self.device,
            seed=self.seed,
        )
        val_loader = TensorLoader(
            val, config["eval_batch_size"], device=self.device
        )
        state_file = self.state_file(val)
        if state_file is not None:
            _say_resuming(state_file, config["epochs"])
        started = time.perf_counter()
        self.optimizer = make_optimizer(
            config["optimizer"],
            self.model.parameters(),
            config["lr"],
            config["weight_decay"],
        )
        scheduler = make_scheduler(
            config["schedule"], self.optimizer, config["epochs"]
        )
        # Early stopping comes first, so later callbacks see the restored
        # best weights at the end.
        monitor = MONITOR[self.recipe]
        stop = (
            [EarlyStopping(monitor, config["patience"], config["min_delta"])]
            if config["patience"]
            else []
        )
        try:
            return fit(
                self.model,
                loader,
                val_loader,
                epochs=config["epochs"],
                optimizer=self.optimizer,
                scheduler=scheduler,
                step=step,
                callbacks=stop + list(callbacks),
                device=self.device,
                progress=progress,
                checkpoint=state_file,
                resume=state_file is not None,
            )
        finally:
            self.seconds = time.perf_counter() - started

    def classify(self, val, test, step, callbacks, progress, save_to):
        """Train a classifier (the classifier and margin recipes), then
        its metrics: val_acc, test_acc and test_loss (with ``test``),
        the summary, and whether it diverged."""
        try:
            history = self.fit(val, step, callbacks, progress)
        except DivergedError as err:
            return self.diverged(err, test, save_to)
        metrics = {
            "val_acc": self.val_acc(history),
            **self.test_metrics(test, step),
            **self.summary(history),
            **NOT_DIVERGED,
        }
        return self.finish(history, metrics, save_to)

    def val_acc(self, history: pd.DataFrame) -> float:
        """The best epoch's with early stopping (its weights are the ones
        kept), else the last epoch's."""
        column = history["val_acc"]
        best = self.config["patience"]
        return float(column.max() if best else column.iloc[-1])

    def test_metrics(self, test, step) -> dict:
        if test is None:
            return {}
        loader = TensorLoader(
            test, self.config["eval_batch_size"], device=self.device
        )
        metrics = evaluate(self.model, loader, step)
        return {"test_acc": metrics["acc"], "test_loss": metrics["loss"]}

    def summary(self, history) -> dict:
        # A resumed run's epochs were timed when they ran: their sum.
        seconds = (
            float(history["seconds"].sum())
            if self.resume_dir is not None and "seconds" in history
            else self.seconds
        )
        return {
            "epochs_run": int(len(history)),
            "seconds": seconds,
            "parameters": count_parameters(self.model),
        }

    def diverged(self, err: DivergedError, test, save_to) -> Trained:
        """The record of a run that diverged at ``err.epoch``: its model
        predicts nothing useful, so classifiers score chance accuracy and
        the VAE NaN losses; the history holds every epoch up to it."""
        if self.recipe == "vae":
            scores = dict.fromkeys(VAE_METRICS, nan)
        else:
            chance = 1.0 / len(self.train.classes)
            scores = {"val_acc": chance}
            if test is not None:
                scores.update({"test_acc": chance, "test_loss": nan})
        metrics = {
            **scores,
            **self.summary(err.history),
            "diverged": True,
            "diverged_epoch": err.epoch,
        }
        # Saved too, so a sweep sees the run as finished.
        return self.finish(err.history, metrics, save_to)

    def finish(self, history, metrics, save_to) -> Trained:
        """The Trained record; with ``save_to``, also a checkpoint that
        ``load_trained`` reads."""
        if save_to is not None:
            save_checkpoint(
                save_to,
                recipe=self.recipe,
                model=self.model.state_dict(),
                optimizer=self.optimizer.state_dict(),
                config=self.config,
                seed=self.seed,
                metrics=metrics,
                history=history.to_dict("list"),
                data={
                    "name": self.train.name,
                    "shape": tuple(self.train.X.shape[1:]),
                    "classes": self.train.classes,
                },
            )
        return Trained(
            self.model.eval(), history, metrics, self.config, self.recipe
        )
