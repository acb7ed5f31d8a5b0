"""Where a dataset's files are and how they are read.

The local layouts searched (this course's offline copy and torchvision's
download folders), the readers that decode each format (IDX files, image
folders, CIFAR pickles, scikit-image's faces) into uint8 tensors, the
download routes (torchvision, then scikit-learn for LFW), and the error
that lists every place looked in. Each search returns a *reader*, a
function that decodes when called, so the caller decides whether to go
through the cache; nothing here caches, resizes or subsets.
"""

from __future__ import annotations

import gzip
import os
import pickle
import shutil
import tempfile
import zlib
from functools import partial
from pathlib import Path

import numpy as np
import torch

from .catalog import (
    CIFAR10_CLASSES,
    FASHION_MNIST_CLASSES,
    MNIST_CLASSES,
    DatasetNotFoundError,
)

_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_TORCHVISION_FOLDER = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


# --- finding files ---------------------------------------------------------


def find_local(name, split, root: Path, tried: list[str]):
    """Return (reader, source path) for the first local layout found, or
    None; every place looked in is appended to ``tried``."""
    if name in _TORCHVISION_FOLDER:
        raw = root / _TORCHVISION_FOLDER[name] / "raw"
        tried.append(f"{raw}/{{{','.join(_IDX_FILES[split])}}}[.gz]")
        paths = [_existing(raw / f) for f in _IDX_FILES[split]]
        if all(paths):
            classes = (
                MNIST_CLASSES if name == "mnist" else FASHION_MNIST_CLASSES
            )
            return (lambda: (*_read_idx_pair(*paths), classes)), raw
        return None
    if name == "cifar10":
        folder = root / "cifar10" / split
        tried.append(f"{folder}/<class>/*.jpg")
        if folder.is_dir():
            return partial(_read_image_folder, folder), folder
        pickles = root / "cifar-10-batches-py"
        tried.append(f"{pickles}/ (torchvision's download)")
        if (pickles / "batches.meta").is_file():
            return partial(_read_cifar_pickles, pickles, split), pickles
        return None
    # lfw: the offline copy, then torchvision's download layout.
    for folder in (root / "lfw", root / "lfw-py" / "lfw_funneled"):
        tried.append(f"{folder}/<person>/*.jpg")
        if folder.is_dir():
            return partial(_read_image_folder, folder), folder
    return None


def _existing(path: Path) -> Path | None:
    gz = path.with_name(path.name + ".gz")
    return path if path.is_file() else gz if gz.is_file() else None


def not_found_error(name, data_dir, tried, download) -> DatasetNotFoundError:
    """The error for a dataset found nowhere: every place looked in, then
    the fix (which depends on whether downloading was allowed)."""
    where = "\n".join(f"  - {t}" for t in tried)
    how = (
        "connect to the internet and call again with download=True"
        if download is False
        else "connect to the internet so torchvision can download it"
    )
    return DatasetNotFoundError(
        f"Could not find the {name!r} dataset. Looked in:\n{where}\n"
        f"Fix: point LAB_DATA_DIR (or data_dir=) at a folder that holds it "
        f"in one of those layouts (for this course's offline copy, "
        f"LAB_DATA_DIR=../shared/datasets), or {how}."
    )


# --- downloading -----------------------------------------------------------


def try_download(name, split, root: Path, tried: list[str]):
    """Download into ``root`` with torchvision (for LFW, scikit-learn if
    that fails); return (reader, source path), or None with the failure
    appended to ``tried``. Files arrive in a temporary folder first and
    move into ``root`` only when the download succeeded, so a failed one
    leaves ``root`` as it was (torchvision alone would leave empty
    folders behind)."""
    import torchvision.datasets as tvd

    builders = {
        "mnist": lambda into: tvd.MNIST(
            into, train=split == "train", download=True
        ),
        "fashion_mnist": lambda into: tvd.FashionMNIST(
            into, train=split == "train", download=True
        ),
        "cifar10": lambda into: tvd.CIFAR10(
            into, train=split == "train", download=True
        ),
        "lfw": lambda into: tvd.LFWPeople(into, split="10fold", download=True),
    }
    created = not root.exists()
    staging = _staging_folder(root)
    try:
        found = _download(builders[name], staging, root, tried)
        if found is None and name == "lfw":
            found = _lfw_sklearn(staging, root, tried)
        elif found is not None:
            found = find_local(name, split, root, [])
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if created:
            _remove_empty(root)  # a failed download leaves no empty folder
    return found


def _download(build, staging: Path, root: Path, tried: list[str]):
    """``build(staging)`` (torchvision's download), then the files moved
    into ``root``; True, or None with the failure in ``tried``."""
    try:
        build(staging)
    except Exception as err:  # network errors come in many types
        tried.append(
            f"download with torchvision into {root} failed: "
            f"{type(err).__name__}: {err}"
        )
        return None
    return True if _moved_into(staging, root, tried) else None


def _lfw_sklearn(staging: Path, root: Path, tried: list[str]):
    """LFW through scikit-learn: from its own cache in ``root/lfw_sklearn``
    when an earlier call left one there, else downloaded into the staging
    folder and moved into ``root`` (only its own folder: whatever a failed
    torchvision download left beside it stays behind)."""
    home = root / "lfw_sklearn"
    if home.is_dir():
        reader = _download_lfw_sklearn(home, tried)
        return None if reader is None else (reader, home)
    reader = _download_lfw_sklearn(staging / "lfw_sklearn", tried)
    if reader is None:
        return None
    (staging / "sklearn_only").mkdir()
    shutil.move(str(staging / "lfw_sklearn"), str(staging / "sklearn_only"))
    if not _moved_into(staging / "sklearn_only", root, tried):
        return None
    return reader, home


def _staging_folder(root: Path) -> Path:
    """A temporary folder for a download, inside ``root`` (created if
    need be, so the move is a rename); the system's when ``root`` cannot
    be written."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=".lab-download-", dir=root))
    except OSError:
        return Path(tempfile.mkdtemp(prefix="lab-download-"))


def _remove_empty(folder: Path) -> None:
    """Remove ``folder`` if a failed download left it empty."""
    try:
        folder.rmdir()
    except OSError:
        pass  # not empty, or already gone


def _moved_into(staging: Path, root: Path, tried: list[str]) -> bool:
    try:
        _move_into(staging, root)
    except OSError as err:
        tried.append(
            f"the download succeeded but could not be moved into {root}: {err}"
        )
        return False
    return True


def _move_into(staging: Path, root: Path) -> None:
    """Move everything in ``staging`` into ``root``, merging folders and
    never replacing a file that is already there."""
    root.mkdir(parents=True, exist_ok=True)
    for item in staging.iterdir():
        target = root / item.name
        if item.is_dir() and target.is_dir():
            _move_into(item, target)
        elif not target.exists():
            shutil.move(str(item), str(target))


def _download_lfw_sklearn(home: Path, tried: list[str]):
    """Second route to LFW online: scikit-learn's fetch_lfw_people (colour,
    funneled) with its files in ``home``; returns a reader, or None."""
    try:
        from sklearn.datasets import fetch_lfw_people

        faces = fetch_lfw_people(
            data_home=str(home),
            color=True,
            resize=1.0,
            funneled=True,
            download_if_missing=True,
        )
    except Exception as err:
        tried.append(
            f"download with scikit-learn's fetch_lfw_people failed: "
            f"{type(err).__name__}: {err}"
        )
        return None
    images = np.asarray(faces.images, dtype=np.float32)
    scale = 255.0 if images.max() <= 1.0 else 1.0  # versions differ
    X = torch.from_numpy(
        (images * scale).round().clip(0, 255).astype(np.uint8)
    ).permute(0, 3, 1, 2)
    # Square centre crop (the faces are taller than wide).
    h, w = X.shape[-2:]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    X = X[..., top : top + side, left : left + side].contiguous()
    y = torch.from_numpy(np.asarray(faces.target, dtype=np.int64))
    classes = [str(n) for n in faces.target_names]
    return lambda: (X, y, classes)


# --- reading ---------------------------------------------------------------


def skimage_faces():
    """scikit-image's 100 real LFW faces (25x25 grey), shipped with the
    package: a small offline stand-in when no LFW copy is available."""
    from skimage.data import lfw_subset

    faces = lfw_subset()[:100]  # the other 100 images are not faces
    X = torch.from_numpy((faces * 255).round().astype(np.uint8))
    return X.unsqueeze(1), torch.zeros(100, dtype=torch.long), ["face"]


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (MNIST's format), plain or gzipped, with checks."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise ValueError(
            f"{path} cannot be decompressed ({type(err).__name__}: {err}): "
            f"the download was cut short or the file is corrupt. Delete it "
            f"and download the dataset again."
        ) from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(
            f"{path} is not an unsigned-byte IDX file (bad "
            f"header). It is corrupt: delete it and download "
            f"the dataset again."
        )
    ndim = raw[3]
    dims = np.frombuffer(raw, ">i4", count=ndim, offset=4)
    expected = 4 + 4 * ndim + int(np.prod(dims))
    if len(raw) != expected:
        raise ValueError(
            f"{path} holds {len(raw)} bytes but its header "
            f"promises {expected}: the file is truncated or "
            f"corrupt. Delete it and download the dataset "
            f"again."
        )
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _read_idx_pair(images: Path, labels: Path):
    X = torch.from_numpy(read_idx(images).copy()).unsqueeze(1)
    y = torch.from_numpy(read_idx(labels).astype(np.int64))
    if len(X) != len(y):
        raise ValueError(
            f"{images} has {len(X)} images but {labels} has "
            f"{len(y)} labels: one of them is corrupt. Delete "
            f"both and download the dataset again."
        )
    return X, y


def _read_image_folder(folder: Path):
    """Decode an ImageFolder tree (one sub-folder per class) to uint8."""
    from PIL import Image

    classes = sorted(d.name for d in folder.iterdir() if d.is_dir())
    files, labels = [], []
    for label, cls in enumerate(classes):
        names = sorted(
            f
            for f in os.listdir(folder / cls)
            if f.lower().endswith(_IMAGE_SUFFIXES)
        )
        files += [folder / cls / f for f in names]
        labels += [label] * len(names)
    if not files:
        raise DatasetNotFoundError(
            f"{folder} has no .jpg/.png images in class sub-folders. Expected"
            f" {folder}/<class>/<image>.jpg; check LAB_DATA_DIR."
        )
    images = []
    for path in files:
        try:
            with Image.open(path) as img:
                images.append(np.asarray(img.convert("RGB")))
        except OSError as err:
            raise ValueError(
                f"Cannot decode {path} ({err}). The file is "
                f"corrupt: delete or replace it."
            ) from None
    X = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
    return X, torch.tensor(labels), classes


def _read_cifar_pickles(folder: Path, split: str):
    names = (
        [f"data_batch_{i}" for i in range(1, 6)]
        if split == "train"
        else ["test_batch"]
    )
    xs, ys = [], []
    for n in names:
        try:
            with open(folder / n, "rb") as f:
                batch = pickle.load(f, encoding="latin1")
        except (OSError, EOFError, MemoryError, pickle.UnpicklingError) as err:
            raise ValueError(
                f"Cannot read {folder / n} ({type(err).__name__}: {err}): "
                f"it is missing, cut short or corrupt. Delete {folder} and "
                f"download the dataset again."
            ) from None
        xs.append(np.asarray(batch["data"], np.uint8).reshape(-1, 3, 32, 32))
        ys.append(np.asarray(batch["labels"], np.int64))
    return (
        torch.from_numpy(np.concatenate(xs)),
        torch.from_numpy(np.concatenate(ys)),
        list(CIFAR10_CLASSES),
    )
