"""Writing files so that nothing a user made is ever half-written."""

from __future__ import annotations

import glob
import os
import socket
from collections.abc import Callable
from pathlib import Path


def temporary_path(path: str | Path) -> Path:
    """The temporary file beside ``path`` that this process writes before
    moving it into place: ``.<name>.<pid>@<host>.tmp``. The host is part
    of the name so that a folder shared between machines (a network home,
    a cloud drive) never mistakes another machine's file for a dead
    process's."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}@{_host()}.tmp")


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then move it
    into place in one step: a crash mid-write leaves the old file intact.
    Missing parent folders are created. A write that fails (a full disk,
    Ctrl-C) removes its temporary file; one left by a process that was
    killed is removed by the next write to the same path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
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
