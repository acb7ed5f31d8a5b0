"""Claims: which process is training a run, kept on a shared filesystem.

Before a sweep trains a run it claims the run's folder by creating
``claim.json`` there in one atomic step (a hard link, which a network
filesystem such as NFS creates atomically too): whoever creates the file
trains the run; everyone else waits for its ``run.json``. While it
trains, the owner touches the claim every ``HEARTBEAT`` seconds. A claim
whose owner is gone is taken over: at once when the owner was a process
on this machine that no longer runs (a killed worker, a restarted
kernel), else when its heartbeat has been silent for ``STALE_AFTER``
seconds (another machine, or a runtime that was reset). Taking over
renames the old claim away, which only one process can do.

A claim only saves work; it never guards the results. The run's record is
written by its own atomic claim (``sweep``), so even two processes that
both trained a run (a heartbeat starved past ``STALE_AFTER``) never mix
or corrupt what is saved: the second finds the run finished and keeps
the first's.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from .files import _alive, _host, temporary_path

CLAIM_FILE = "claim.json"
HEARTBEAT = 15.0  # seconds between touches of a held claim
STALE_AFTER = 120.0  # a claim silent this long has lost its owner


@dataclass
class Claim:
    """A held claim on a run's folder; ``release()`` (or leaving a
    ``with`` block) deletes it and stops its heartbeat."""

    path: Path
    token: str
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self):
        beat = threading.Thread(target=self._beat, daemon=True)
        beat.start()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT):
            try:
                os.utime(self.path)
            except OSError:
                return  # taken over or removed: nothing left to keep alive

    def release(self) -> None:
        self._stop.set()
        if (owner(self.path.parent) or {}).get("token") == self.token:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def owner(folder: str | Path) -> dict | None:
    """Who holds the claim on ``folder``: host, pid, token and started
    (a Unix time), or None when nobody does (or the file is unreadable:
    being written, or damaged)."""
    return _read(Path(folder) / CLAIM_FILE)


def _read(path: Path) -> dict | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def describe(record: dict | None) -> str:
    """A claim's owner in words, for messages: 'pid 4711 on node07'."""
    if not record:
        return "another process"
    return f"pid {record.get('pid')} on {record.get('host')}"


def is_stale(folder: str | Path, stale_after: float = STALE_AFTER) -> bool:
    """Whether the claim on ``folder`` has lost its owner: a process on
    this machine that no longer runs, or a heartbeat silent for
    ``stale_after`` seconds. No claim at all is not stale."""
    path = Path(folder) / CLAIM_FILE
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return False
    record = owner(folder)
    if record and record.get("host") == _host():
        pid = record.get("pid")
        if isinstance(pid, int) and not _alive(pid):
            return True
    return age > stale_after


def acquire(
    folder: str | Path, stale_after: float = STALE_AFTER
) -> Claim | None:
    """Claim ``folder`` for this process: a held ``Claim``, or None when
    another live process holds it. A stale claim is taken over."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / CLAIM_FILE
    token = uuid.uuid4().hex
    record = {
        "host": _host(),
        "pid": os.getpid(),
        "token": token,
        "started": time.time(),
    }
    for _ in range(5):
        if _create(path, record):
            return Claim(path, token)
        old = owner(folder)
        if not is_stale(folder, stale_after):
            return None
        # Rename it away: of several processes that saw it stale, one
        # succeeds; a later rename would move the winner's fresh claim,
        # so it is checked and put back.
        moved = path.with_name(f".{CLAIM_FILE}.{token}.stale")
        try:
            os.rename(path, moved)
        except FileNotFoundError:
            continue
        taken = _read(moved)
        if old and taken and taken.get("token") != old.get("token"):
            try:
                os.link(moved, path)
            except OSError:
                pass
        moved.unlink(missing_ok=True)
    return None


def _create(path: Path, record: dict) -> bool:
    """Create ``path`` holding ``record`` unless it exists: True when this
    call created it. Written whole to a temporary file first, so a reader
    never sees half a claim."""
    tmp = temporary_path(path)
    try:
        tmp.write_text(json.dumps(record))
        try:
            os.link(tmp, path)
            return True
        except FileExistsError:
            return False
        except OSError:  # a filesystem without hard links
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                return False
            with os.fdopen(fd, "w") as f:
                f.write(json.dumps(record))
            return True
    finally:
        tmp.unlink(missing_ok=True)
