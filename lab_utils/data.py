"""Datasets as uint8 tensors, read offline or downloaded, batched on device.

Every dataset comes back as a :class:`LabData`: images ``X`` as a
``(n, c, h, w)`` uint8 tensor, labels ``y`` as int64, and the class names.
Images are decoded once (and cached); training then slices batches out of
memory with :class:`TensorLoader`, and augments whole batches with tensor
ops (:class:`Augment`), so no per-image PIL code runs inside the loop.
"""
from __future__ import annotations

import difflib
import gzip
import hashlib
import math
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from .files import atomic_write

DATASETS = ("mnist", "fashion_mnist", "cifar10", "lfw")

MNIST_CLASSES = [str(d) for d in range(10)]
FASHION_MNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]
CIFAR10_CLASSES = [
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
]

# Per-channel mean and std of the *training* pixels scaled to [0, 1],
# measured by Lab 1 (and re-measured by tests/test_data.py). Later labs
# import these instead of recomputing them. CIFAR-10 is measured on the
# JPEG copy in the offline data folder; the official pickles differ in the
# fourth decimal.
NORMALIZATION = {
    "mnist": ((0.1307,), (0.3081,)),
    "fashion_mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4913, 0.4821, 0.4465), (0.2452, 0.2428, 0.2606)),
}

_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_TORCHVISION_FOLDER = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


class DatasetNotFoundError(FileNotFoundError):
    """A dataset is neither on disk nor downloadable."""


@dataclass
class LabData:
    """A labelled image set held in memory.

    X: (n, c, h, w) uint8 tensor; y: (n,) int64 tensor; classes: names in
    label order; source: where the images were read from.
    """

    name: str
    split: str
    X: torch.Tensor
    y: torch.Tensor
    classes: list[str]
    source: str = ""
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.y)

    def __repr__(self) -> str:
        c, h, w = self.X.shape[1:]
        return (f"LabData({self.name!r}, split={self.split!r}, "
                f"n_samples={len(self)}, shape=({c}, {h}, {w}), "
                f"n_classes={len(self.classes)})")

    def take(self, index: torch.Tensor, split: str | None = None) -> LabData:
        """The rows at ``index`` as a new LabData (same classes)."""
        index = torch.as_tensor(index, dtype=torch.long)
        return LabData(self.name, split or self.split, self.X[index],
                       self.y[index], self.classes, self.source,
                       dict(self.meta))

    def class_counts(self) -> np.ndarray:
        """Number of images per class, in label order."""
        return np.bincount(self.y.numpy(), minlength=len(self.classes))


def default_data_dir() -> Path:
    """``$LAB_DATA_DIR`` if set, else ``./data``."""
    return Path(os.environ.get("LAB_DATA_DIR") or "data").expanduser()


def default_cache_dir() -> Path:
    """Where decoded tensors are cached: ``$LAB_CACHE_DIR``, else the user's
    cache folder. Never the data folder, which may be a read-only copy."""
    if os.environ.get("LAB_CACHE_DIR"):
        return Path(os.environ["LAB_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "deep-learning-labs"


def check_dataset_name(name: str) -> str:
    """Return the canonical dataset name or raise a ValueError that helps."""
    key = str(name).lower().replace("-", "_")
    if key in DATASETS:
        return key
    close = difflib.get_close_matches(key, DATASETS, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"Unknown dataset {name!r}.{hint} "
                     f"Choose one of: {', '.join(DATASETS)}.")


def load_dataset(name: str, split: str = "train", *,
                 data_dir: str | Path | None = None,
                 n_samples: int | None = None, seed: int = 0,
                 download: bool | None = None,
                 image_size: int | None = None,
                 cache: bool = True) -> LabData:
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
    data_dir = Path(data_dir).expanduser() if data_dir else default_data_dir()
    if n_samples is not None and n_samples <= 0:
        raise ValueError(f"n_samples must be a positive integer or None, "
                         f"got {n_samples!r}.")

    data = _load_full(name, split, data_dir, download, cache)
    if image_size is not None and data.X.shape[-1] != image_size:
        data.X = resize(data.X, image_size)
    if n_samples is not None and n_samples < len(data):
        data = balanced_subset(data, n_samples, seed=seed)
    return data


def _load_full(name, split, data_dir, download, cache) -> LabData:
    tried: list[str] = []
    found = _find_local(name, split, data_dir, tried)
    if found is None and download is not False:
        found = _download(name, split, data_dir, tried)
    if found is None and name == "lfw":
        try:
            X, y, classes = _skimage_faces()
        except (ImportError, OSError):
            tried.append("scikit-image's lfw_subset (not installed)")
        else:
            X, y = _lfw_split(X, y, split)
            return LabData(name, split, X, y, classes,
                           "skimage.data.lfw_subset (100 faces, 25x25 grey)")
    if found is None:
        raise _not_found(name, data_dir, tried, download)
    reader, source = found
    if not cache:
        X, y, classes = reader()
    else:
        X, y, classes = _cached(name, split, source, reader)
    if name == "lfw":
        X, y = _lfw_split(X, y, split)
    return LabData(name, split, X, y, classes, str(source))


def _find_local(name, split, root: Path, tried: list[str]):
    """Return (reader, source path) for the first local layout found."""
    if name in _TORCHVISION_FOLDER:
        raw = root / _TORCHVISION_FOLDER[name] / "raw"
        tried.append(f"{raw}/{{{','.join(_IDX_FILES[split])}}}[.gz]")
        paths = [_existing(raw / f) for f in _IDX_FILES[split]]
        if all(paths):
            classes = (MNIST_CLASSES if name == "mnist"
                       else FASHION_MNIST_CLASSES)
            return (lambda: (*_read_idx_pair(*paths), classes)), raw
        return None
    if name == "cifar10":
        folder = root / "cifar10" / split
        tried.append(f"{folder}/<class>/*.jpg")
        if folder.is_dir():
            return (lambda: _read_image_folder(folder)), folder
        pickles = root / "cifar-10-batches-py"
        tried.append(f"{pickles}/ (torchvision's download)")
        if (pickles / "batches.meta").is_file():
            return (lambda: _read_cifar_pickles(pickles, split)), pickles
        return None
    # lfw: the offline copy, then torchvision's download layout.
    for folder in (root / "lfw", root / "lfw-py" / "lfw_funneled"):
        tried.append(f"{folder}/<person>/*.jpg")
        if folder.is_dir():
            return (lambda: _read_image_folder(folder)), folder
    return None


def _skimage_faces():
    """scikit-image's 100 real LFW faces (25x25 grey), shipped with the
    package: a small offline stand-in when no LFW copy is available."""
    from skimage.data import lfw_subset

    faces = lfw_subset()[:100]  # the other 100 images are not faces
    X = torch.from_numpy((faces * 255).round().astype(np.uint8))
    return X.unsqueeze(1), torch.zeros(100, dtype=torch.long), ["face"]


def _existing(path: Path) -> Path | None:
    gz = path.with_name(path.name + ".gz")
    return path if path.is_file() else gz if gz.is_file() else None


def _download(name, split, root: Path, tried: list[str]):
    import torchvision.datasets as tvd

    builders = {
        "mnist": lambda: tvd.MNIST(root, train=split == "train",
                                   download=True),
        "fashion_mnist": lambda: tvd.FashionMNIST(
            root, train=split == "train", download=True),
        "cifar10": lambda: tvd.CIFAR10(root, train=split == "train",
                                       download=True),
        "lfw": lambda: tvd.LFWPeople(root, split="10fold", download=True),
    }
    try:
        builders[name]()
    except Exception as err:  # network errors come in many types
        tried.append(f"download with torchvision into {root} failed: "
                     f"{type(err).__name__}: {err}")
        if name == "lfw":
            return _download_lfw_sklearn(root, tried)
        return None
    return _find_local(name, split, root, [])


def _download_lfw_sklearn(root: Path, tried: list[str]):
    """Second route to LFW online: scikit-learn's fetch_lfw_people (colour,
    funneled), cached under ``root/lfw_sklearn``."""
    try:
        from sklearn.datasets import fetch_lfw_people

        home = root / "lfw_sklearn"
        faces = fetch_lfw_people(data_home=str(home), color=True,
                                 resize=1.0, funneled=True,
                                 download_if_missing=True)
    except Exception as err:
        tried.append(f"download with scikit-learn's fetch_lfw_people into "
                     f"{root / 'lfw_sklearn'} failed: "
                     f"{type(err).__name__}: {err}")
        return None
    images = np.asarray(faces.images, dtype=np.float32)
    scale = 255.0 if images.max() <= 1.0 else 1.0  # versions differ
    X = torch.from_numpy((images * scale).round().clip(0, 255)
                         .astype(np.uint8)).permute(0, 3, 1, 2)
    # Square centre crop (the faces are taller than wide).
    h, w = X.shape[-2:]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    X = X[..., top:top + side, left:left + side].contiguous()
    y = torch.from_numpy(np.asarray(faces.target, dtype=np.int64))
    classes = [str(n) for n in faces.target_names]
    return (lambda: (X, y, classes)), home


def _not_found(name, data_dir, tried, download) -> DatasetNotFoundError:
    where = "\n".join(f"  - {t}" for t in tried)
    how = ("connect to the internet and call again with download=True"
           if download is False else
           "connect to the internet so torchvision can download it")
    return DatasetNotFoundError(
        f"Could not find the {name!r} dataset. Looked in:\n{where}\n"
        f"Fix: point LAB_DATA_DIR (or data_dir=) at a folder that holds it "
        f"in one of those layouts (for this course's offline copy, "
        f"LAB_DATA_DIR=../shared/datasets), or {how}.")


def _cached(name, split, source: Path, reader):
    """Decode once per (dataset, split, source) and keep a .pt copy."""
    key = hashlib.sha1(str(source.resolve()).encode()).hexdigest()[:10]
    if name == "lfw":
        split = "all"  # one decode serves both halves of the seeded split
    path = default_cache_dir() / f"{name}-{split}-{key}.pt"
    if path.is_file() and path.stat().st_mtime >= source.stat().st_mtime:
        try:
            blob = torch.load(path, weights_only=True)
            return blob["X"], blob["y"], list(blob["classes"])
        except Exception:
            pass  # a damaged cache is rebuilt, never trusted
    X, y, classes = reader()
    try:
        atomic_write(path, lambda tmp: torch.save(
            {"X": X, "y": y, "classes": classes}, tmp))
    except OSError:
        pass  # a read-only home only costs a re-decode next time
    return X, y, classes


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (MNIST's format), plain or gzipped, with checks."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file (bad "
                         f"header). It is corrupt: delete it and download "
                         f"the dataset again.")
    ndim = raw[3]
    dims = np.frombuffer(raw, ">i4", count=ndim, offset=4)
    expected = 4 + 4 * ndim + int(np.prod(dims))
    if len(raw) != expected:
        raise ValueError(f"{path} holds {len(raw)} bytes but its header "
                         f"promises {expected}: the file is truncated or "
                         f"corrupt. Delete it and download the dataset "
                         f"again.")
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _read_idx_pair(images: Path, labels: Path):
    X = torch.from_numpy(read_idx(images).copy()).unsqueeze(1)
    y = torch.from_numpy(read_idx(labels).astype(np.int64))
    if len(X) != len(y):
        raise ValueError(f"{images} has {len(X)} images but {labels} has "
                         f"{len(y)} labels: one of them is corrupt. Delete "
                         f"both and download the dataset again.")
    return X, y


def _read_image_folder(folder: Path):
    """Decode an ImageFolder tree (one sub-folder per class) to uint8."""
    from PIL import Image

    classes = sorted(d.name for d in folder.iterdir() if d.is_dir())
    files, labels = [], []
    for label, cls in enumerate(classes):
        names = sorted(f for f in os.listdir(folder / cls)
                       if f.lower().endswith(_IMAGE_SUFFIXES))
        files += [folder / cls / f for f in names]
        labels += [label] * len(names)
    if not files:
        raise DatasetNotFoundError(
            f"{folder} has no .jpg/.png images in class sub-folders. Expected"
            f" {folder}/<class>/<image>.jpg; check LAB_DATA_DIR.")
    images = []
    for path in files:
        try:
            with Image.open(path) as img:
                images.append(np.asarray(img.convert("RGB")))
        except OSError as err:
            raise ValueError(f"Cannot decode {path} ({err}). The file is "
                             f"corrupt: delete or replace it.") from None
    X = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
    return X, torch.tensor(labels), classes


def _read_cifar_pickles(folder: Path, split: str):
    names = ([f"data_batch_{i}" for i in range(1, 6)] if split == "train"
             else ["test_batch"])
    xs, ys = [], []
    for n in names:
        with open(folder / n, "rb") as f:
            batch = pickle.load(f, encoding="latin1")
        xs.append(np.asarray(batch["data"], np.uint8).reshape(-1, 3, 32, 32))
        ys.append(np.asarray(batch["labels"], np.int64))
    return (torch.from_numpy(np.concatenate(xs)),
            torch.from_numpy(np.concatenate(ys)), list(CIFAR10_CLASSES))


def _lfw_split(X, y, split, test_fraction=0.1, seed=0):
    """LFW has no official image split; a fixed seeded one stands in."""
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(y), generator=g)
    n_test = int(round(len(y) * test_fraction))
    index = order[:n_test] if split == "test" else order[n_test:]
    index = index.sort().values
    return X[index], y[index]


def resize(X: torch.Tensor, size: int) -> torch.Tensor:
    """Resize uint8 images (n, c, h, w) to (n, c, size, size), antialiased."""
    out = F.interpolate(X.float(), size=(size, size), mode="bilinear",
                        antialias=True, align_corners=False)
    return out.round_().clamp_(0, 255).to(torch.uint8)


def balanced_subset(data: LabData, n_samples: int, seed: int = 0) -> LabData:
    """A seeded subset with (as nearly as possible) equal counts per class.

    Classes too small for their share give their remainder to the others.
    """
    g = torch.Generator().manual_seed(seed)
    by_class = [torch.nonzero(data.y == c).flatten()
                for c in range(len(data.classes))]
    by_class = [idx[torch.randperm(len(idx), generator=g)]
                for idx in by_class]
    quota = _quotas([len(i) for i in by_class], n_samples)
    index = torch.cat([idx[:q] for idx, q in zip(by_class, quota)])
    return data.take(index.sort().values)


def _quotas(available: list[int], n: int) -> list[int]:
    """Split n across classes evenly, capped by what each class has."""
    quota = [0] * len(available)
    open_classes = [c for c, a in enumerate(available) if a > 0]
    left = min(n, sum(available))
    while left > 0 and open_classes:
        share = max(left // len(open_classes), 1)
        for c in list(open_classes):
            take = min(share, available[c] - quota[c], left)
            quota[c] += take
            left -= take
            if quota[c] == available[c]:
                open_classes.remove(c)
            if left == 0:
                break
    return quota


def keep_classes(data: LabData, classes: list[str]) -> LabData:
    """Only the images of ``classes`` (names), relabelled 0..k-1 in the
    order given: for training on some classes and holding out the rest."""
    missing = [c for c in classes if c not in data.classes]
    if missing:
        raise ValueError(f"{data.name} has no class(es) {missing}. Classes:"
                         f" {', '.join(data.classes)}.")
    old = torch.tensor([data.classes.index(c) for c in classes])
    index = torch.nonzero(torch.isin(data.y, old)).flatten()
    out = data.take(index)
    relabel = torch.full((len(data.classes),), -1, dtype=torch.long)
    relabel[old] = torch.arange(len(classes))
    out.y = relabel[out.y]
    out.classes = list(classes)
    return out


def train_val_split(data: LabData, val_fraction: float = 0.1,
                    seed: int = 0) -> tuple[LabData, LabData]:
    """Stratified, seeded split: each class keeps its share in both parts."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be between 0 and 1 (exclusive),"
                         f" got {val_fraction!r}.")
    g = torch.Generator().manual_seed(seed)
    train_idx, val_idx = [], []
    for c in range(len(data.classes)):
        idx = torch.nonzero(data.y == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        n_val = int(round(len(idx) * val_fraction))
        val_idx.append(idx[:n_val])
        train_idx.append(idx[n_val:])
    train = data.take(torch.cat(train_idx).sort().values, "train")
    val = data.take(torch.cat(val_idx).sort().values, "val")
    return train, val


def load_splits(name: str, n_train: int | None, n_val: int,
                n_test: int | None, seed: int = 0, **options
                ) -> tuple[LabData, LabData, LabData]:
    """Train, validation and test parts of a dataset: a balanced subset of
    ``n_train + n_val`` training images (all of them if n_train is None)
    split with :func:`train_val_split`, and ``n_test`` test images (None =
    all). options go to :func:`load_dataset` (data_dir, download, ...)."""
    full = load_dataset(name, "train", n_samples=n_train and n_train + n_val,
                        seed=seed, **options)
    test = load_dataset(name, "test", n_samples=n_test, seed=seed, **options)
    train, val = train_val_split(full, n_val / len(full), seed=seed)
    return train, val, test


def channel_stats(X: torch.Tensor, batch_size: int = 4096):
    """Per-channel mean and std of uint8 images (n, c, h, w) scaled to [0, 1].

    Sums run in float64 over chunks, so 50k CIFAR images need little memory
    and the result does not depend on the chunk size.
    """
    c = X.shape[1]
    total = torch.zeros(c, dtype=torch.float64)
    total_sq = torch.zeros(c, dtype=torch.float64)
    for start in range(0, len(X), batch_size):
        chunk = X[start:start + batch_size].to(torch.float64) / 255.0
        total += chunk.sum(dim=(0, 2, 3))
        total_sq += chunk.pow(2).sum(dim=(0, 2, 3))
    n = X.shape[0] * X.shape[2] * X.shape[3]
    mean = total / n
    std = (total_sq / n - mean.pow(2)).clamp_min(0).sqrt()
    return mean, std


# --- batched augmentation ------------------------------------------------

@dataclass
class Augment:
    """Random augmentation of a float batch (n, c, h, w) with tensor ops.

    Each op draws its randomness per image from ``generator``, so a seeded
    loader gives the same augmented batches every run. crop_padding: pad by
    this many pixels (reflect) and crop back at a random offset;
    hflip: flip half the images left-right; rotation: max degrees;
    shear: max degrees; scale: (min, max) zoom; color_jitter: max relative
    change of brightness, contrast and saturation.
    """

    crop_padding: int = 0
    hflip: bool = False
    rotation: float = 0.0
    shear: float = 0.0
    scale: tuple[float, float] | None = None
    color_jitter: float = 0.0

    def __call__(self, X: torch.Tensor,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        if self.crop_padding:
            X = random_crop(X, self.crop_padding, generator)
        if self.hflip:
            X = random_hflip(X, generator)
        if self.rotation or self.shear or self.scale:
            X = random_affine(X, self.rotation, self.shear, self.scale,
                              generator)
        if self.color_jitter:
            X = color_jitter(X, self.color_jitter, generator)
        return X


# The augmentation ladder of Lab 2, each step adding to the one before.
AUGMENTATIONS = {
    "none": None,
    "crop+flip": Augment(crop_padding=4, hflip=True),
    "+rotate/affine": Augment(crop_padding=4, hflip=True, rotation=10.0,
                              shear=10.0, scale=(0.8, 1.2)),
    "+color jitter": Augment(crop_padding=4, hflip=True, rotation=10.0,
                             shear=10.0, scale=(0.8, 1.2),
                             color_jitter=0.2),
}


def get_augment(name: str) -> Augment | None:
    """The named step of :data:`AUGMENTATIONS`."""
    if name not in AUGMENTATIONS:
        raise ValueError(f"Unknown augmentation {name!r}. Choose one of: "
                         f"{', '.join(AUGMENTATIONS)}.")
    return AUGMENTATIONS[name]


def _uniform(n, low, high, X, generator):
    u = torch.rand(n, generator=generator, device=X.device, dtype=X.dtype)
    return low + (high - low) * u


def random_crop(X: torch.Tensor, padding: int,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Pad each image by ``padding`` (reflect) and crop back at a random
    offset: all images at once, by gathering with per-image index grids."""
    n, c, h, w = X.shape
    padded = F.pad(X, (padding,) * 4, mode="reflect")
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator,
                       device=X.device)
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator,
                       device=X.device)
    rows = (dy[:, None] + torch.arange(h, device=X.device))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w, device=X.device))[:, None, None, :]
    batch = torch.arange(n, device=X.device)[:, None, None, None]
    chan = torch.arange(c, device=X.device)[None, :, None, None]
    return padded[batch, chan, rows, cols]


def random_hflip(X: torch.Tensor,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Flip a random half of the images left-right."""
    flip = torch.rand(len(X), generator=generator, device=X.device) < 0.5
    return torch.where(flip[:, None, None, None], X.flip(-1), X)


def random_affine(X: torch.Tensor, rotation: float = 0.0, shear: float = 0.0,
                  scale: tuple[float, float] | None = None,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Random rotation (degrees), shear (degrees) and zoom per image, one
    ``grid_sample`` for the whole batch; pixels from outside become 0."""
    n = len(X)
    angle = _uniform(n, -rotation, rotation, X, generator)
    sh = _uniform(n, -shear, shear, X, generator)
    lo, hi = scale or (1.0, 1.0)
    zoom = _uniform(n, lo, hi, X, generator)
    return apply_affine(X, affine_matrix(angle, sh, zoom))


def affine_matrix(angle: torch.Tensor, shear: torch.Tensor,
                  zoom: torch.Tensor) -> torch.Tensor:
    """(n, 2, 3) sampling matrices for ``apply_affine``: rotate images
    counter-clockwise by ``angle`` degrees, shear by ``shear`` degrees and
    zoom in by ``zoom`` (all (n,) tensors)."""
    a = angle * math.pi / 180
    tan = (shear * math.pi / 180).tan()
    cos, sin = a.cos(), a.sin()
    # grid_sample maps output to input coordinates, so this is the inverse
    # of the image transform: (rotation @ shear) / zoom, with y pointing
    # down in image coordinates.
    theta = torch.zeros(len(a), 2, 3, device=a.device, dtype=a.dtype)
    theta[:, 0, 0] = cos / zoom
    theta[:, 0, 1] = (cos * tan - sin) / zoom
    theta[:, 1, 0] = sin / zoom
    theta[:, 1, 1] = (sin * tan + cos) / zoom
    return theta


def apply_affine(X: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Resample a batch (n, c, h, w) with per-image matrices (n, 2, 3)."""
    grid = F.affine_grid(theta, list(X.shape), align_corners=False)
    return F.grid_sample(X, grid, padding_mode="zeros", align_corners=False)


def color_jitter(X: torch.Tensor, strength: float,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Random brightness, contrast and saturation in [1 - s, 1 + s] per
    image, on [0, 1] RGB (grey images get brightness and contrast only)."""
    n = len(X)

    def factor():
        return _uniform(n, 1 - strength, 1 + strength, X,
                        generator)[:, None, None, None]

    X = X * factor()
    mean = X.mean(dim=(1, 2, 3), keepdim=True)
    X = (X - mean) * factor() + mean
    if X.shape[1] == 3:
        grey = (0.299 * X[:, :1] + 0.587 * X[:, 1:2] + 0.114 * X[:, 2:])
        X = (X - grey) * factor() + grey
    return X.clamp(0.0, 1.0)


# --- batching ------------------------------------------------------------

class TensorLoader:
    """Batches of (X, y) sliced from tensors that live on ``device``.

    The uint8 images move to the device once; each batch is converted to
    float in [0, 1], augmented (training only) and normalised there. A seeded
    generator fixes the shuffling and augmentation order, and its state is
    part of :meth:`state_dict`, so a resumed run sees the same batches.
    """

    def __init__(self, data: LabData, batch_size: int = 128, *,
                 shuffle: bool = False, augment: Augment | None = None,
                 normalize: tuple | None = None, device=None,
                 seed: int = 0, drop_last: bool = False):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got "
                             f"{batch_size!r}.")
        self.device = torch.device(device or "cpu")
        self.X = data.X.to(self.device)
        self.y = data.y.to(self.device)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.augment = augment
        self.drop_last = drop_last
        if normalize is None:
            normalize = NORMALIZATION.get(data.name)
        self.mean = self.std = None
        if normalize is not None:
            mean, std = (torch.tensor(v, dtype=torch.float32,
                                      device=self.device).view(1, -1, 1, 1)
                         for v in normalize)
            self.mean, self.std = mean, std
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(seed)

    def __len__(self) -> int:
        n = len(self.y)
        return n // self.batch_size if self.drop_last else math.ceil(
            n / self.batch_size)

    def __iter__(self):
        n = len(self.y)
        if self.shuffle:
            order = torch.randperm(n, generator=self.generator,
                                   device=self.device)
        else:
            order = torch.arange(n, device=self.device)
        for b in range(len(self)):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            X = self.X[idx].float().div_(255.0)
            if self.augment is not None:
                X = self.augment(X, self.generator)
            if self.mean is not None:
                X = (X - self.mean) / self.std
            yield X, self.y[idx]

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])


def describe(*parts: LabData) -> pd.DataFrame:
    """One row per dataset part: images, image shape, classes, pixel range."""
    return pd.DataFrame([{
        "dataset": p.name, "split": p.split, "images": len(p),
        "shape (c, h, w)": tuple(p.X.shape[1:]), "dtype": str(p.X.dtype),
        "classes": len(p.classes),
        "pixel range": (int(p.X.min()), int(p.X.max())),
    } for p in parts])
