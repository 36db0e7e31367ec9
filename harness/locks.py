"""Locks on instruments shared between racks of one station (``rackval run --all-racks``).

One file lock per VISA resource, held by a rack's run from connecting to its instruments until its
safe state is done: two racks never drive one load or read one analyzer at the same time. A rack that
waits says so in its log, naming the holder.

Every wait, acquisition and release is also appended to ``journal.jsonl`` in the lock directory with
real wall time, the holder (``RACKVAL_RACK``, set per rack by ``--all-racks``, else the process id) and
the process id: the record that shows who had a shared instrument when. It is rotated at 1 MB.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path

from filelock import FileLock, Timeout

from harness.clock import wall_now

log = logging.getLogger(__name__)

JOURNAL_MAX_BYTES = 1_000_000


def lock_dir() -> Path:
    path = Path(os.environ.get("RACKVAL_LOCK_DIR") or Path(tempfile.gettempdir()) / "rackval-locks")
    path.mkdir(parents=True, exist_ok=True)
    return path


def holder_name() -> str:
    """Who takes the locks: the rack of an ``--all-racks`` child, else this process."""
    return os.environ.get("RACKVAL_RACK") or f"pid {os.getpid()}"


def read_journal(directory: Path | None = None) -> list[dict[str, object]]:
    path = (directory or lock_dir()) / "journal.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


class InstrumentLocks:
    def __init__(self, resources: list[str], holder: str | None = None) -> None:
        self.holder = holder or holder_name()
        self.locks = {r: FileLock(str(self._path(r))) for r in sorted(set(resources))}  # sorted: one order, no deadlock

    @staticmethod
    def _path(resource: str) -> Path:
        return lock_dir() / (hashlib.sha256(resource.encode()).hexdigest()[:24] + ".lock")

    def acquire(self) -> None:
        for resource, lock in self.locks.items():
            try:
                lock.acquire(timeout=0)
            except Timeout:
                by = self._holder_of(resource)
                log.info("instrument %s is in use by another rack (%s): waiting", resource, by)
                self._journal("waiting", resource, held_by=by)
                lock.acquire()
            self._path(resource).with_suffix(".holder").write_text(self.holder, encoding="utf-8")
            self._journal("acquired", resource)

    def release(self) -> None:
        for resource, lock in reversed(list(self.locks.items())):
            if lock.is_locked:
                self._journal("released", resource)
                lock.release()

    def _holder_of(self, resource: str) -> str:
        try:
            return self._path(resource).with_suffix(".holder").read_text(encoding="utf-8") or "?"
        except OSError:
            return "?"

    def _journal(self, event: str, resource: str, **extra: str) -> None:
        """One line, appended in a single write (O_APPEND: lines of concurrent racks never interleave)."""
        path = lock_dir() / "journal.jsonl"
        try:
            if path.exists() and path.stat().st_size > JOURNAL_MAX_BYTES:
                path.replace(path.with_suffix(".jsonl.1"))
            line = json.dumps({"t": wall_now().isoformat(), "event": event, "resource": resource,
                               "holder": self.holder, "pid": os.getpid(), **extra}) + "\n"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                os.write(fd, line.encode("utf-8"))
            finally:
                os.close(fd)
        except OSError as exc:  # the journal is a record, never a reason to stop a run
            log.warning("lock journal not written: %s", exc)


RUN_LOCK_NAME = ".rackval-run.lock"


class RunLock:
    """Held by the process running a run, in its run directory, from opening to the end of its safe state.

    The kernel drops it when that process dies, however it dies (SIGKILL, power loss of the station
    PC): a run the store still calls RUNNING whose lock can be taken was left by a process that is gone,
    and may be resumed; one whose lock is held is running and must not be resumed twice.
    """

    def __init__(self, run_dir: Path) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        self.path = run_dir / RUN_LOCK_NAME
        self._lock = FileLock(str(self.path))

    def try_acquire(self) -> bool:
        try:
            self._lock.acquire(timeout=0)
            return True
        except Timeout:
            return False

    def release(self) -> None:
        if self._lock.is_locked:
            self._lock.release()
