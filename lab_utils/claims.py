"""Claims: which process is training a run, kept on a shared filesystem.

Before a sweep trains a run it claims the run's folder by creating
``claim.json`` there in one atomic step (a hard link, which a network
filesystem such as NFS creates atomically too): whoever creates the file
trains the run; everyone else waits for its ``run.json``. While it
trains, the owner touches the claim every ``HEARTBEAT`` seconds. A claim
whose owner is gone is taken over: at once when the owner was a process
on this machine that no longer runs (a killed worker, a restarted
kernel); else once its heartbeat has been seen silent for ``STALE_AFTER``
seconds by this process's own clock (another machine's clock, or the
file server's, may be off), or when it is older than ``LONG_SILENT``.
Taking over happens under a second claim, ``claim.json.break``, so that
of several processes that find a claim stale, one replaces it, after
checking that it is still the same file.

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

from .files import _alive, _host, reporting_full_disk, temporary_path

CLAIM_FILE = "claim.json"
HEARTBEAT = 15.0  # seconds between touches of a held claim
STALE_AFTER = 120.0  # a heartbeat seen silent this long: its owner is gone
LONG_SILENT = 1800.0  # a claim this old by the file's clock: gone too


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
                # A moment's network error, or the file is gone: stop only
                # once another process holds the run.
                record = owner(self.path.parent)
                if record and record.get("token") != self.token:
                    return

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


def describe(record: dict | None) -> str:
    """A claim's owner in words, for messages: 'pid 4711 on node07'."""
    if not record:
        return "another process"
    return f"pid {record.get('pid')} on {record.get('host')}"


def signature(folder: str | Path) -> tuple[int, int] | None:
    """The claim file's identity and last heartbeat (inode, mtime in ns),
    or None when there is no claim: what a take-over checks is still
    there."""
    try:
        stat = (Path(folder) / CLAIM_FILE).stat()
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns


# Each claim this process has watched: its signature, and when (by this
# process's clock) it was first seen with it.
_SEEN: dict[Path, tuple[tuple[int, int], float]] = {}


def is_stale(folder: str | Path, stale_after: float | None = None) -> bool:
    """Whether the claim on ``folder`` has lost its owner: a process on
    this machine that no longer runs, a heartbeat this process has seen
    silent for ``stale_after`` seconds (``STALE_AFTER``), or a claim
    older than ``LONG_SILENT``. No claim at all is not stale."""
    folder = Path(folder)
    stale_after = STALE_AFTER if stale_after is None else stale_after
    now = signature(folder)
    if now is None:
        return False
    record = owner(folder)
    if record and record.get("host") == _host():
        pid = record.get("pid")
        if isinstance(pid, int) and not _alive(pid):
            return True
    if time.time() - now[1] / 1e9 > LONG_SILENT:
        return True
    seen = _SEEN.get(folder)
    if seen is None or seen[0] != now:
        _SEEN[folder] = (now, time.monotonic())
        return False
    return time.monotonic() - seen[1] > stale_after


def acquire(
    folder: str | Path, take_over: tuple[int, int] | None = None
) -> Claim | None:
    """Claim ``folder`` for this process: a held ``Claim``, or None when
    another live process holds it. A claim this process finds stale is
    taken over, and so is one whose ``signature`` is ``take_over`` (one
    found stale by the process that sent this one to train the run)."""
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
    if _create(path, record):
        return Claim(path, token)
    judged = signature(folder)
    if judged is None or not (judged == take_over or is_stale(folder)):
        return None if judged else acquire(folder)
    # Replace it under a second claim, and only if it is still the file
    # judged stale: another process may have replaced it meanwhile.
    lock = path.with_name(CLAIM_FILE + ".break")
    if not _create(lock, record):
        _remove_if_abandoned(lock)
        return None
    try:
        if signature(folder) != judged:
            return None
        path.unlink(missing_ok=True)
        if _create(path, record):
            return Claim(path, token)
        return None
    finally:
        lock.unlink(missing_ok=True)


def _remove_if_abandoned(lock: Path) -> None:
    """A break claim lives for milliseconds; one a minute old was left by
    a process killed while taking over."""
    try:
        if time.time() - lock.stat().st_mtime > 60:
            lock.unlink(missing_ok=True)
    except FileNotFoundError:
        pass


def _read(path: Path) -> dict | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _create(path: Path, record: dict) -> bool:
    """Create ``path`` holding ``record`` unless it exists: True when this
    call created it. Written whole to a temporary file first, so a reader
    never sees half a claim."""
    tmp = temporary_path(path)
    try:
        with reporting_full_disk(path):
            tmp.write_text(json.dumps(record))
        try:
            os.link(tmp, path)
            return True
        except FileExistsError:
            # NFSv2/3 may answer a retried link that did succeed with
            # "exists": then the file has two names.
            return tmp.stat().st_nlink == 2
        except OSError:  # a filesystem without hard links
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                return False
            with reporting_full_disk(path), os.fdopen(fd, "w") as f:
                f.write(json.dumps(record))
            return True
    finally:
        tmp.unlink(missing_ok=True)
