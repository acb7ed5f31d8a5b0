"""The cache of decoded images, so that each dataset is decoded once.

Decoding 60,000 images takes longer than a short lab should wait, so the
tensors a reader returns are saved as a ``.pt`` file, one per (dataset,
split, source folder), in the user's cache folder: never in the data
folder, which may be a read-only copy. Each cache file records what it
was built from (every source file's path, size, modification and change
times and inode);
when any of that has changed, or the file is damaged, it is rebuilt,
never trusted.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import torch

from ..files import DiskFullError, atomic_write


def default_cache_dir() -> Path:
    """Where decoded tensors are cached: ``$LAB_CACHE_DIR``, else the user's
    cache folder. Never the data folder, which may be a read-only copy."""
    if os.environ.get("LAB_CACHE_DIR"):
        return Path(os.environ["LAB_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "deep-learning-labs"


def source_fingerprint(source: Path) -> str:
    """A digest of every file under ``source`` (or of ``source`` itself):
    relative path, size, modification time, change time (in nanoseconds)
    and inode. Deleting, adding, replacing, overwriting or truncating any
    file changes it: even an overwrite of the same size whose
    modification time was put back (``touch -r``) changes the change
    time, which only the system sets, and a file moved over another
    brings its own inode. Statting 60,000 files takes a fraction of a
    second, decoding them a minute. (A copy of the folder, or a chmod,
    also changes it: one decode more, never a stale image.)"""
    source = Path(source)
    digest = hashlib.sha1()
    if source.is_file():
        entries = [(source.name, source.stat())]
    else:
        entries = []
        for folder, dirs, files in os.walk(source):
            dirs.sort()
            for name in sorted(files):
                path = os.path.join(folder, name)
                entries.append((os.path.relpath(path, source), os.stat(path)))
    for rel, st in entries:
        digest.update(
            f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}"
            f"\0{st.st_ino}\n".encode()
        )
    return digest.hexdigest()


def read_cached(name, split, source: Path, reader):
    """``reader()`` (X, y, classes), decoded once per (dataset, split,
    source) and kept as a .pt copy that later calls load instead, for as
    long as the source files are unchanged."""
    key = hashlib.sha1(str(source.resolve()).encode()).hexdigest()[:10]
    if name == "lfw":
        split = "all"  # one decode serves both halves of the seeded split
    path = default_cache_dir() / f"{name}-{split}-{key}.pt"
    fingerprint = source_fingerprint(source)
    if path.is_file():
        try:
            blob = torch.load(path, weights_only=True)
            if blob.get("fingerprint") == fingerprint:
                return blob["X"], blob["y"], list(blob["classes"])
        except Exception:
            pass  # a damaged cache is rebuilt, never trusted
    X, y, classes = reader()
    blob = {"X": X, "y": y, "classes": classes, "fingerprint": fingerprint}
    try:
        atomic_write(path, lambda tmp: torch.save(blob, tmp))
    except DiskFullError as err:
        warnings.warn(
            f"The decoded images were not cached: {err} They are decoded "
            f"again next time.",
            stacklevel=3,
        )
    except OSError:
        pass  # a read-only home only costs a re-decode next time
    return X, y, classes
