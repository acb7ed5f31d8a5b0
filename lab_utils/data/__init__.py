"""Datasets as uint8 tensors, read offline or downloaded, batched on device.

Every dataset comes back as a :class:`LabData`: images ``X`` as a
``(n, c, h, w)`` uint8 tensor, labels ``y`` as int64, and the class names.
Images are decoded once (and cached); training then slices batches out of
memory with :class:`TensorLoader`, and augments whole batches with tensor
ops (:class:`Augment`), so no per-image PIL code runs inside the loop.

The modules, from the bottom up: ``catalog`` (names, class names,
normalisation, :class:`LabData`), ``sources`` (finding, reading and
downloading files), ``cache`` (decoded tensors on disk), ``subsets``
(seeded subsets and splits), ``datasets`` (:func:`load_dataset`, tying
those together), ``augment``, ``loader`` and ``summary``.
"""

from .augment import (
    AUGMENTATIONS,
    Augment,
    affine_matrix,
    apply_affine,
    color_jitter,
    get_augment,
    random_affine,
    random_crop,
    random_hflip,
)
from .cache import default_cache_dir
from .catalog import (
    CIFAR10_CLASSES,
    DATASETS,
    FASHION_MNIST_CLASSES,
    MNIST_CLASSES,
    NORMALIZATION,
    DatasetNotFoundError,
    LabData,
)
from .datasets import (
    check_dataset_name,
    default_data_dir,
    load_dataset,
    load_splits,
    resize,
    resolve_data_dir,
)
from .loader import TensorLoader
from .sources import read_idx
from .subsets import balanced_subset, keep_classes, train_val_split
from .summary import channel_stats, describe

# The public surface of lab_utils.data; the modules' other names are
# internal to the package.
__all__ = [
    "AUGMENTATIONS",
    "CIFAR10_CLASSES",
    "DATASETS",
    "FASHION_MNIST_CLASSES",
    "MNIST_CLASSES",
    "NORMALIZATION",
    "Augment",
    "DatasetNotFoundError",
    "LabData",
    "TensorLoader",
    "affine_matrix",
    "apply_affine",
    "balanced_subset",
    "channel_stats",
    "check_dataset_name",
    "color_jitter",
    "default_cache_dir",
    "default_data_dir",
    "describe",
    "get_augment",
    "keep_classes",
    "load_dataset",
    "load_splits",
    "random_affine",
    "random_crop",
    "random_hflip",
    "read_idx",
    "resize",
    "resolve_data_dir",
    "train_val_split",
]
