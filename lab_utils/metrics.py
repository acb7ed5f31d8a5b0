"""Which way is better for each metric a lab records, in one place.

Every ``step`` returns a ``loss`` (lower is better) and possibly an
``acc`` (higher is better); histories prefix them with ``train_`` or
``val_``, tables with ``test_`` or ``best_val_``. A name's last word says
what it measures, so early stopping, the tables' "%" columns and the
plots' axes ask here instead of each guessing from the name.
"""

from __future__ import annotations

# Last words of metrics that are fractions in [0, 1], higher is better,
# shown in %.
ACCURACIES = ("acc", "accuracy", "auc")

_WORDS = {
    "train": "training",
    "val": "validation",
    "acc": "accuracy (%)",
    "accuracy": "accuracy (%)",
    "auc": "AUC (%)",
    "recon": "reconstruction",
    "kl": "KL",
}


def is_accuracy(name: str) -> bool:
    """True for accuracies (``val_acc``, ``best_val_acc``, ``test_auc``):
    shown in %, higher is better."""
    return name.split("_")[-1] in ACCURACIES


def metric_mode(name: str) -> str:
    """ "max" for accuracies, "min" for everything else (losses, errors,
    KL, seconds)."""
    return "max" if is_accuracy(name) else "min"


def percent_scale(name: str) -> float:
    """100 for accuracies (shown in %), 1 for other metrics."""
    return 100.0 if is_accuracy(name) else 1.0


def metric_label(name: str) -> str:
    """An axis label for a history or results column: ``val_acc`` ->
    "validation accuracy (%)", ``best_val_acc`` -> "best validation
    accuracy (%)"."""
    return " ".join(_WORDS.get(word, word) for word in name.split("_"))
