"""What `rackval run` asks the operator at the terminal: yes/no questions, and what a Ctrl-C means."""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

import typer
from rich.progress import Progress

from harness.cli.app import err
from harness.interrupts import STOP


def interactive(yes: bool) -> bool:
    return not yes and sys.stdin is not None and sys.stdin.isatty()


def ask(question: str) -> bool:
    """A yes/no question in the terminal (the progress display pauses while it is asked)."""
    return typer.confirm(question, default=False, err=True)


class CtrlC:
    """First Ctrl-C asks for confirmation (interactive runs); yes, a second Ctrl-C, or --yes aborts:
    the run then reaches its safe state, keeps its partial records and is marked ABORTED."""

    def __init__(self, confirm: bool, progress: Progress | None) -> None:
        self.confirm, self.progress, self.asking = confirm, progress, False
        self.prev: Any = None

    def __enter__(self) -> CtrlC:
        if threading.current_thread() is threading.main_thread():
            self.prev = signal.signal(signal.SIGINT, self.handle)
            STOP.on_held = self.held
        return self

    def __exit__(self, *exc: object) -> None:
        if self.prev is not None:
            signal.signal(signal.SIGINT, self.prev)
            STOP.on_held = None

    def handle(self, signum: int, frame: Any) -> None:
        if STOP.is_held or not self.confirm or self.asking:
            STOP.request("Ctrl-C")  # while the run is finishing this only records it (harness.interrupts)
            return
        self.asking = True
        try:
            if self.progress is not None:
                self.progress.stop()
            if ask("Abort the run? The rack will be brought to its safe state"):
                STOP.request("Ctrl-C")  # raises now, or once the store write it interrupted is committed
            else:
                err.print("continuing")
        finally:
            self.asking = False
            if self.progress is not None:
                self.progress.start()

    @staticmethod
    def held(what: str) -> None:
        err.print(f"{what}: the run is finishing (safe state, records); it cannot be interrupted, please wait",
                  highlight=False)
