"""Deep Learning Labs: the shared code behind the course notebooks.

The public API, by name. The course tooling (self-checks, notebook runner,
exercise generator, Colab sync) lives in ``lab_utils.tools``, on top of
this package, which never imports it.
"""

from . import plots
from .arcface import (
    HEADS,
    ArcMarginHead,
    CosFaceHead,
    EmbeddingNet,
    MarginClassifier,
    ScaleDividedArcHead,
    SoftmaxHead,
    class_centre_angles,
    make_head,
    margin_accuracy,
    margin_step,
    nearest_class_weight,
    roc_curve,
    verification_pairs,
)
from .callbacks import (
    Callback,
    EarlyStopping,
    FeatureSnapshots,
    early_stopping,
)
from .checkpoints import load_checkpoint, save_checkpoint
from .cluster import sweep_executor
from .data import (
    AUGMENTATIONS,
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
    get_augment,
    keep_classes,
    load_dataset,
    load_splits,
    random_affine,
    random_crop,
    random_hflip,
    read_idx,
    resize,
    train_val_split,
)
from .engine import (
    DivergedError,
    NonFiniteLossError,
    classification_step,
    confusion_matrix,
    default_device,
    evaluate,
    extract_features,
    fit,
    loop_against_fit,
    max_weight_difference,
    predict,
    seed_everything,
    train_one_epoch,
)
from .files import DiskFullError
from .manifold import PCA, TSNE, kl_gradient, pca, tsne
from .models import (
    PRESETS,
    FashionNet,
    ThreeConvConfig,
    ThreeConvNet,
    count_parameters,
    forward_flops,
    summarize,
    three_conv_config,
)
from .optim import (
    OPTIMIZERS,
    SCHEDULES,
    HandWrittenOptimizer,
    adam_step,
    best_trajectory,
    compare_to_torch,
    make_optimizer,
    make_scheduler,
    momentum_step,
    rmsprop_step,
    rosenbrock,
    sgd_step,
    trajectory,
)
from .profiles import (
    PROFILE_NAMES,
    PROFILES,
    LabRun,
    plan_lab,
    profile_settings,
    resolve_profile,
    start_lab,
)
from .recipes import (
    DEFAULTS,
    Trained,
    build_classifier,
    build_margin_classifier,
    build_vae,
    load_trained,
    train_classifier,
    train_margin_classifier,
    train_vae,
)
from .sweep import (
    aggregate,
    combine_improvements,
    compare_steps,
    compare_to_baseline,
    early_stopping_on_curves,
    early_stopping_summary,
    format_mean_std,
    ladder,
    load_histories,
    read_run,
    run_dir,
    run_sweep,
    time_to_target,
)
from .vae import (
    DECODER_SIGMA,
    ConvVAE,
    bits_per_dim,
    farthest_pairs,
    interpolate,
    kl_divergence,
    reparameterize,
    slerp,
    vae_loss,
    vae_step,
)

__version__ = "0.1.0"
