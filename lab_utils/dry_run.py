"""Full-size dry runs: every path of a profile at its real size, briefly.

With ``$LAB_DRY_RUN`` set (``run_all --dry-run`` sets it), a notebook
loads its profile's real data and builds its real models, but every
training run stops after ``BATCHES`` batches of one epoch, every
evaluation or prediction after ``EVAL_BATCHES`` of ``EVAL_IMAGES``
images (features for t-SNE are taken in full), and every t-SNE after
``TSNE_ITERATIONS`` iterations (and as many steps of its affinities'
binary search). So memory, caches, shapes and figures of the ``full``
profile (all of CIFAR-10, 10,000 t-SNE points, the widest nets) are
proven on a laptop CPU in minutes; the numbers it prints mean nothing,
and its results go to a folder of their own.
"""

from __future__ import annotations

import itertools
import os
from contextlib import contextmanager

BATCHES = 2  # training batches per run
EVAL_BATCHES = 1  # batches per evaluation or prediction,
EVAL_IMAGES = 64  # of at most this many images (the wide net is slow)
TSNE_ITERATIONS = 5  # gradient iterations, and affinity search steps


def active() -> bool:
    """Whether this process is a dry run (``$LAB_DRY_RUN`` set, not 0)."""
    return os.environ.get("LAB_DRY_RUN", "").strip() not in ("", "0")


def epochs(n: int) -> int:
    """Epochs to run of ``n`` asked for: one in a dry run."""
    return min(n, 1) if active() else n


def tsne_iterations(n: int) -> int:
    return min(n, TSNE_ITERATIONS) if active() else n


def limit(batches_of, n: int = BATCHES):
    """``batches_of`` (a loader), cut to ``n`` batches in a dry run."""
    return itertools.islice(batches_of, n) if active() else batches_of


def evaluation(batches_of):
    """``batches_of`` for an evaluation: in a dry run, EVAL_BATCHES
    batches of at most EVAL_IMAGES images each."""
    if not active():
        return batches_of
    return (
        tuple(t[:EVAL_IMAGES] for t in batch)
        for batch in itertools.islice(batches_of, EVAL_BATCHES)
    )


@contextmanager
def suspended():
    """Inside, nothing is a dry run (the self-checks: they are small and
    must judge a student's code the same way in every run)."""
    saved = os.environ.pop("LAB_DRY_RUN", None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ["LAB_DRY_RUN"] = saved
