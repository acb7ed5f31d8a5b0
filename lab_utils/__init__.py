"""Deep Learning Labs: the shared code behind the course notebooks."""
from .data import (
    CIFAR10_CLASSES,
    DATASETS,
    FASHION_MNIST_CLASSES,
    MNIST_CLASSES,
    NORMALIZATION,
    Augment,
    DatasetNotFoundError,
    LabData,
    TensorLoader,
    affine_matrix,
    apply_affine,
    balanced_subset,
    channel_stats,
    color_jitter,
    default_cache_dir,
    default_data_dir,
    describe,
    load_dataset,
    random_affine,
    random_crop,
    random_hflip,
    read_idx,
    resize,
    train_val_split,
)
from . import plots
from .models import SmallCNN, count_parameters
from .profiles import (
    PROFILE_NAMES,
    PROFILES,
    LabRun,
    profile_settings,
    resolve_profile,
    start_lab,
)
from .train import (
    Callback,
    EarlyStopping,
    NonFiniteLossError,
    classification_step,
    default_device,
    evaluate,
    extract_features,
    fit,
    load_checkpoint,
    predict,
    save_checkpoint,
    seed_everything,
)

__version__ = "0.1.0"
