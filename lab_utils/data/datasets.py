"""Loading a dataset by name: the public entry points.

:func:`load_dataset` checks the request at the boundary (name, split,
size), finds or downloads the files with :mod:`.sources`, decodes them
once through :mod:`.cache`, then resizes and takes a balanced subset;
:func:`load_splits` builds the train, validation and test parts of a lab
on top of it with :mod:`.subsets`. This is the only module that ties the
others together.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import torch
import torch.nn.functional as F

from .cache import read_cached
from .catalog import DATASETS, LabData, is_whole
from .sources import find_local, not_found_error, skimage_faces, try_download
from .subsets import balanced_subset, lfw_split, train_val_split


def default_data_dir() -> Path:
    """``$LAB_DATA_DIR`` if set (see :func:`resolve_data_dir`), else
    ``./data``, as an absolute path."""
    value = os.environ.get("LAB_DATA_DIR")
    return resolve_data_dir(value) if value else Path("data").resolve()


def resolve_data_dir(path: str | Path) -> Path:
    """A folder the user named (``LAB_DATA_DIR``, ``DATA_DIR``, ...) as an
    absolute path, resolved once.

    A relative path is taken first from the folder the user started in,
    the shell's ``$PWD``, when the current folder is inside it: a notebook
    kernel runs in ``notebooks/`` but inherits ``$PWD`` from the shell
    that started Jupyter or papermill at the repository root, so
    ``LAB_DATA_DIR=../shared/datasets`` means there what it meant in the
    shell. If the folder exists only relative to the current folder, that
    one is used; if it exists nowhere, the start folder's is returned, and
    the error that follows names it.
    """
    path = Path(path).expanduser()
    if path.is_absolute():
        return path
    here = (Path.cwd() / path).resolve()
    start = _start_folder()
    if start is None:
        return here
    there = (start / path).resolve()
    if there.exists() or not here.exists():
        return there
    return here


def _start_folder() -> Path | None:
    """``$PWD`` when it is a real folder that holds the current one (a
    ``$PWD`` left over from an unrelated process is ignored)."""
    value = os.environ.get("PWD")
    if not value:
        return None
    start, cwd = Path(value).resolve(), Path.cwd().resolve()
    if start == cwd or start == Path(start.anchor):
        return None  # the same folder, or a filesystem root: no help
    return start if cwd.is_relative_to(start) else None


def check_dataset_name(name: str) -> str:
    """Return the canonical dataset name or raise a ValueError that helps."""
    key = str(name).lower().replace("-", "_")
    if key in DATASETS:
        return key
    close = difflib.get_close_matches(key, DATASETS, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(
        f"Unknown dataset {name!r}.{hint} "
        f"Choose one of: {', '.join(DATASETS)}."
    )


def load_dataset(
    name: str,
    split: str = "train",
    *,
    data_dir: str | Path | None = None,
    n_samples: int | None = None,
    seed: int = 0,
    download: bool | None = None,
    image_size: int | None = None,
    cache: bool = True,
) -> LabData:
    """Load a dataset by name as uint8 tensors.

    name: ``mnist``, ``fashion_mnist``, ``cifar10`` or ``lfw`` (faces).
    split: ``train`` or ``test`` (LFW has no official split: a seeded 90/10
    split of its images stands in). n_samples: keep a seeded, class-balanced
    subset of this size. download: None tries local copies first and then
    torchvision's download; False never touches the network.
    image_size: resize (antialiased) to a square of this side.
    """
    name = check_dataset_name(name)
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}.")
    data_dir = resolve_data_dir(data_dir) if data_dir else default_data_dir()
    for key, value in (("n_samples", n_samples), ("image_size", image_size)):
        if value is not None and (not is_whole(value) or value <= 0):
            raise ValueError(
                f"{key} must be a positive whole number or None, got "
                f"{value!r} ({type(value).__name__})."
            )

    data = _load_full(name, split, data_dir, download, cache)
    if image_size is not None and data.X.shape[-1] != image_size:
        data.X = resize(data.X, image_size)
    if n_samples is not None and n_samples < len(data):
        data = balanced_subset(data, n_samples, seed=seed)
    return data


def _load_full(name, split, data_dir, download, cache) -> LabData:
    """Every image of the split: local files, else a download, else (LFW
    only) scikit-image's faces, else a DatasetNotFoundError."""
    tried: list[str] = []
    found = find_local(name, split, data_dir, tried)
    if found is None and download is not False:
        found = try_download(name, split, data_dir, tried)
    if found is None and name == "lfw":
        try:
            X, y, classes = skimage_faces()
        except (ImportError, OSError):
            tried.append("scikit-image's lfw_subset (not installed)")
        else:
            X, y = lfw_split(X, y, split)
            return LabData(
                name,
                split,
                X,
                y,
                classes,
                "skimage.data.lfw_subset (100 faces, 25x25 grey)",
            )
    if found is None:
        raise not_found_error(name, data_dir, tried, download)
    reader, source = found
    if not cache:
        X, y, classes = reader()
    else:
        X, y, classes = read_cached(name, split, source, reader)
    if name == "lfw":
        X, y = lfw_split(X, y, split)
    return LabData(name, split, X, y, classes, str(source))


def load_splits(
    name: str,
    n_train: int | None,
    n_val: int,
    n_test: int | None,
    seed: int = 0,
    **options,
) -> tuple[LabData, LabData, LabData]:
    """Train, validation and test parts of a dataset: a balanced subset of
    ``n_train + n_val`` training images (all of them if n_train is None)
    split with :func:`train_val_split`, and ``n_test`` test images (None =
    all). options go to :func:`load_dataset` (data_dir, download, ...)."""
    full = load_dataset(
        name,
        "train",
        n_samples=n_train and n_train + n_val,
        seed=seed,
        **options,
    )
    test = load_dataset(name, "test", n_samples=n_test, seed=seed, **options)
    train, val = train_val_split(full, n_val / len(full), seed=seed)
    return train, val, test


def resize(X: torch.Tensor, size: int) -> torch.Tensor:
    """Resize uint8 images (n, c, h, w) to (n, c, size, size), antialiased."""
    out = F.interpolate(
        X.float(),
        size=(size, size),
        mode="bilinear",
        antialias=True,
        align_corners=False,
    )
    return out.round_().clamp_(0, 255).to(torch.uint8)
