"""Deep Learning Labs: the shared code behind the course notebooks."""
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
from . import plots
from .heads import (
    HEADS,
    ArcMarginHead,
    CosFaceHead,
    SoftmaxHead,
    class_centre_angles,
    make_head,
    margin_step,
    roc_curve,
    train_margin_classifier,
    verification_pairs,
)
from .manifold import PCA, TSNE, kl_gradient, pca, tsne
from .models import (
    PRESETS,
    EmbeddingNet,
    FashionNet,
    MarginClassifier,
    SmallCNN,
    ThreeConvConfig,
    ThreeConvNet,
    count_parameters,
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
    profile_settings,
    resolve_profile,
    start_lab,
)
from .selfcheck import SelfCheckFailed, self_check
from .train import (
    Callback,
    EarlyStopping,
    FeatureSnapshots,
    NonFiniteLossError,
    classification_step,
    confusion_matrix,
    default_device,
    evaluate,
    extract_features,
    fit,
    fit_config,
    load_checkpoint,
    predict,
    save_checkpoint,
    seed_everything,
)

from .sweep import (
    aggregate,
    build_classifier,
    combine_improvements,
    compare_to_baseline,
    format_mean_std,
    load_classifier,
    load_histories,
    run_sweep,
    time_to_target,
    train_classifier,
)

from .vae import (
    ConvVAE,
    interpolate,
    kl_divergence,
    reparameterize,
    slerp,
    vae_loss,
    vae_step,
)

__version__ = "0.1.0"
