"""What a Ctrl-C means during `rackval run`: asked on the operator's terminal (harness.cli.terminal)."""

from __future__ import annotations

import signal
import threading
from typing import Any, Self

from harness.cli.terminal import NoTerminal, Terminal
from harness.interrupts import STOP

ABORT_QUESTION = "Abort the run? The rack will be brought to its safe state"


class CtrlC:
    """First Ctrl-C asks for confirmation on the terminal (interactive runs); yes, a second Ctrl-C (also
    one pressed while any question is on the screen), or --yes aborts: the run then reaches its safe
    state, keeps its partial records and is marked ABORTED. While the run is finishing it is held."""

    def __init__(self, terminal: Terminal) -> None:
        self.terminal = terminal
        self.prev: Any = None

    def __enter__(self) -> Self:
        if threading.current_thread() is threading.main_thread():
            self.prev = signal.signal(signal.SIGINT, self.handle)
            STOP.on_held = self.held
        return self

    def __exit__(self, *exc: object) -> None:
        if self.prev is not None:
            signal.signal(signal.SIGINT, self.prev)
            STOP.on_held = None

    def handle(self, signum: int, frame: Any) -> None:
        t = self.terminal
        if STOP.is_held or not t.interactive or t.asking:
            STOP.request("Ctrl-C")  # while the run is finishing this only records it (harness.interrupts)
            return
        try:
            abort = t.ask(ABORT_QUESTION)
        except NoTerminal as exc:  # the terminal went away since the run started: nobody to ask
            t.print(f"Ctrl-C: aborting, nobody to ask ({exc.problem})")
            abort = True
        if abort:
            STOP.request("Ctrl-C")  # raises now, or once the store write it interrupted is committed
        else:
            t.print("continuing")

    def held(self, what: str) -> None:
        self.terminal.print(f"{what}: the run is finishing (safe state, records); it cannot be interrupted, "
                            "please wait")
