"""The run directory of a run that is still opening, before its Recorder exists.

From the moment a run claims its directory (the run lock) to the moment the Recorder takes the log
over, ``rackval.log`` is written here: a run that cannot start (a TLS failure, a BMC that does not
answer) leaves its cause and what the drivers logged on the way. A start that is refused (bad input:
the wrong rack, a fault that does not fit the rack) or given up at a question leaves nothing at all:
no empty ``runs/<id>/`` holding only a lock file.
"""

from __future__ import annotations

import logging
from pathlib import Path

from harness.errors import RackvalError
from harness.locks import RUN_LOCK_NAME
from harness.results.scrub import Scrubber, ScrubFilter

LOG_NAME = "rackval.log"  # the Recorder appends to the same file
log = logging.getLogger("rackval")


class OpeningLog:
    def __init__(self, run_dir: Path, secrets: list[str], *, made_dir: bool) -> None:
        self.run_dir, self.made_dir = run_dir, made_dir
        self.log_existed = self.log_path.exists()  # a resumed run's log, or one in a directory given with --out
        self.handler: logging.Handler | None = logging.FileHandler(run_dir / LOG_NAME, encoding="utf-8", delay=True)
        self.handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self.handler.addFilter(ScrubFilter(Scrubber(secrets)))
        root = logging.getLogger()
        root.addHandler(self.handler)
        logging.getLogger("redfish").setLevel(logging.WARNING)  # as the Recorder: not every request at INFO
        if root.level > logging.INFO or root.level == logging.NOTSET:
            root.setLevel(logging.INFO)

    def handover(self) -> None:
        """The Recorder writes the log from now on."""
        if self.handler is not None:
            logging.getLogger().removeHandler(self.handler)
            self.handler.close()
            self.handler = None

    def failed(self, error: BaseException) -> None:
        """The run could not start: its cause in the log (with the traceback if it is a bug, not a device)."""
        log.error("the run could not start: %s: %s", type(error).__name__, error,
                  exc_info=None if isinstance(error, RackvalError) else error)

    def close(self, *, keep_log: bool) -> None:
        """The run never started (its lock is released): keep the log that says why, or leave nothing."""
        self.handover()
        if not keep_log and not self.log_existed:
            self.log_path.unlink(missing_ok=True)
        if not self.made_dir:  # a directory the operator made (--out) or a resumed run's: not ours to tidy
            return
        (self.run_dir / RUN_LOCK_NAME).unlink(missing_ok=True)
        try:
            self.run_dir.rmdir()  # only if nothing else is in it
        except OSError:
            pass

    @property
    def log_path(self) -> Path:
        return self.run_dir / LOG_NAME
