"""Locks on instruments shared between racks of one station (``rackval run --all-racks``).

One file lock per VISA resource, held by a rack's run from connecting to its instruments until its
safe state is done: two racks never drive one load or read one analyzer at the same time. A rack that
waits says so in its log.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

from filelock import FileLock, Timeout

log = logging.getLogger(__name__)


def lock_dir() -> Path:
    path = Path(os.environ.get("RACKVAL_LOCK_DIR") or Path(tempfile.gettempdir()) / "rackval-locks")
    path.mkdir(parents=True, exist_ok=True)
    return path


class InstrumentLocks:
    def __init__(self, resources: list[str]) -> None:
        self.locks = {r: FileLock(str(lock_dir() / (hashlib.sha256(r.encode()).hexdigest()[:24] + ".lock")))
                      for r in sorted(set(resources))}  # sorted: every rack takes them in one order (no deadlock)

    def acquire(self) -> None:
        for resource, lock in self.locks.items():
            try:
                lock.acquire(timeout=0)
            except Timeout:
                log.info("instrument %s is in use by another rack: waiting", resource)
                lock.acquire()

    def release(self) -> None:
        for lock in reversed(list(self.locks.values())):
            if lock.is_locked:
                lock.release()


class RunLock:
    """Held by the process running a run, in its run directory, from opening to the end of its safe state.

    The kernel drops it when that process dies, however it dies (SIGKILL, power loss of the station
    PC): a run the store still calls RUNNING whose lock can be taken was left by a process that is gone,
    and may be resumed; one whose lock is held is running and must not be resumed twice.
    """

    def __init__(self, run_dir: Path) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        self.path = run_dir / ".rackval-run.lock"
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
