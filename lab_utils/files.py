"""Writing files so that nothing a user made is ever half-written."""

from __future__ import annotations

import errno
import glob
import os
import shutil
import socket
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path


def temporary_path(path: str | Path) -> Path:
    """The temporary file beside ``path`` that this process writes before
    moving it into place: ``.<name>.<pid>@<host>.tmp``. The host is part
    of the name so that a folder shared between machines (a network home,
    a cloud drive) never mistakes another machine's file for a dead
    process's."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}@{_host()}.tmp")


class DiskFullError(OSError):
    """A write failed because its disk (or quota) is full. The message
    names the file and the space left; earlier files are intact."""


def disk_full(path: str | Path, err: BaseException) -> DiskFullError | None:
    """``err``, raised while writing ``path``, as a DiskFullError that
    says so, or None when it is some other failure. Python reports a full
    disk as ``OSError: [Errno 28]``, torch.save as ``RuntimeError: [enforce
    fail at inline_container.cc] ... unexpected pos``, neither with the
    file or the space left."""
    if isinstance(err, DiskFullError):
        return err
    full = isinstance(err, OSError) and err.errno in (
        errno.ENOSPC,
        getattr(errno, "EDQUOT", errno.ENOSPC),
    )
    text = str(err)
    torch_writer = isinstance(err, RuntimeError) and (
        "inline_container" in text
        or "unexpected pos" in text
        or "file write failed" in text
    )
    if not (full or torch_writer):
        return None
    path = Path(path)
    left = free_space(path.parent)
    return DiskFullError(
        errno.ENOSPC,
        f"Could not write {path}: the disk is full ({left} left on its "
        f"filesystem). Free some space, or point LAB_RESULTS_DIR (or the "
        f"path) at another disk, and run again; files written before are "
        f"intact.",
    )


@contextmanager
def reporting_full_disk(path: str | Path):
    """Inside, a full disk while writing ``path`` raises DiskFullError
    (see :func:`disk_full`); any other error passes unchanged."""
    try:
        yield
    except (OSError, RuntimeError) as err:
        full = disk_full(path, err)
        if full is None or full is err:
            raise
        raise full from err


def free_space(folder: str | Path) -> str:
    """The space left on ``folder``'s filesystem, for people: "12 KiB"."""
    folder = Path(folder)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        left = float(shutil.disk_usage(folder).free)
    except OSError:
        return "unknown space"
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if left < 1024 or unit == "GiB":
            return (
                f"{left:.0f} {unit}"
                if unit == "bytes"
                else f"{left:.1f} {unit}"
            )
        left /= 1024
    return f"{left:.1f} TiB"


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then move it
    into place in one step: a crash mid-write leaves the old file intact.
    Missing parent folders are created. A write that fails (a full disk,
    Ctrl-C) removes its temporary file, and a full disk is reported as a
    DiskFullError naming the file and the space left; a temporary file
    left by a process that was killed is removed by the next write to the
    same path."""
    path = Path(path)
    with reporting_full_disk(path):
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        full = disk_full(path, err)
        if full is not None and full is not err:
            raise full from err
        raise
    remove_stale_temporaries(path)
    return path


def remove_stale_temporaries(path: str | Path) -> None:
    """Delete the temporary files beside ``path`` (see
    :func:`temporary_path`) whose process, on this machine, no longer
    runs: killed mid-write, and a checkpoint's can be 100 MB."""
    path = Path(path)
    prefix = f".{path.name}."
    for tmp in path.parent.glob(f"{glob.escape(prefix)}*.tmp"):
        owner = tmp.name[len(prefix) : -len(".tmp")]
        pid, _, host = owner.partition("@")
        if not pid.isdigit() or (host and host != _host()):
            continue  # not ours to judge
        if int(pid) != os.getpid() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)


def _host() -> str:
    name = socket.gethostname() or "host"
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)


def _alive(pid: int) -> bool:
    if os.name == "nt":
        return True  # Windows' os.kill would end the process: never ask
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists but is not ours, or we cannot tell: keep it
    return True
