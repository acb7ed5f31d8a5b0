"""The cache of decoded images, so that each dataset is decoded once.

Decoding 60,000 images takes longer than a short lab should wait, so the
tensors a reader returns are saved as a ``.pt`` file, one per (dataset,
split, source folder), in the user's cache folder: never in the data
folder, which may be a read-only copy. A cache file older than its source,
or damaged, is rebuilt, never trusted.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch

from ..files import atomic_write


def default_cache_dir() -> Path:
    """Where decoded tensors are cached: ``$LAB_CACHE_DIR``, else the user's
    cache folder. Never the data folder, which may be a read-only copy."""
    if os.environ.get("LAB_CACHE_DIR"):
        return Path(os.environ["LAB_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "deep-learning-labs"


def read_cached(name, split, source: Path, reader):
    """``reader()`` (X, y, classes), decoded once per (dataset, split,
    source) and kept as a .pt copy that later calls load instead."""
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
        atomic_write(
            path,
            lambda tmp: torch.save({"X": X, "y": y, "classes": classes}, tmp),
        )
    except OSError:
        pass  # a read-only home only costs a re-decode next time
    return X, y, classes
