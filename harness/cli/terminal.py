"""The operator's terminal for the length of `rackval run`: what is shown while the plan runs, and where
the answers to its questions come from.

`rackval run` runs the plan inside pytest, and pytest captures the process's standard streams while it
collects and runs the steps: fd 0 reads /dev/null, fds 1 and 2 write to temporary files, ``sys.stdin``
refuses to be read. So the progress line is drawn on a duplicate of the terminal's stdout taken before
pytest starts (pytest redirects fd 1, not the duplicate), and every question reads its answer from the
controlling terminal, /dev/tty, never from ``sys.stdin``. A run without a terminal asks nothing: it needs
``--yes``, and a question it would have asked fails with :class:`NoTerminal`, which says so.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import IO, Any

from rich.console import Console, ConsoleDimensions

from harness.errors import ConfigError

TTY = "/dev/tty"


class NoTerminal(ConfigError):
    """A question had to be asked and there is no terminal to ask it on (bad input: run it in a terminal,
    or pass --yes)."""

    def __init__(self, question: str, why: str) -> None:
        super().__init__("command line", None, "--yes",
                         f"{question!r} needs an answer and there is no terminal to ask on ({why}): run it in a "
                         "terminal, or pass --yes to run unattended")


class TerminalConsole(Console):
    """A rich console on a file descriptor of its own, measured on that descriptor: while pytest has
    fds 0-2 redirected, rich's own measurement would find no terminal and fall back to 80 columns."""

    def __init__(self, fd: int, **kwargs: Any) -> None:
        self.fd = fd
        super().__init__(file=os.fdopen(fd, "w", encoding="utf-8", errors="replace", closefd=True), **kwargs)

    @property  # type: ignore[override]
    def size(self) -> ConsoleDimensions:
        try:
            columns, lines = os.get_terminal_size(self.fd)
        except OSError:
            return super().size
        return ConsoleDimensions(self._width or columns or 80, self._height or lines or 25)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self._width, self._height = new_size


def _stdout_fd() -> int:
    try:
        return sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # replaced by a stream without a descriptor (a test's capture)
        return 1


def _answer_yes_no(text: str) -> bool | None:
    word = text.strip().lower()
    if word in ("y", "yes"):
        return True
    if word in ("", "n", "no"):
        return False
    return None


class Terminal:
    """Where `rackval run` talks to the operator: ``console`` (the progress line and messages while the
    plan runs) and :meth:`ask` / :meth:`prompt`, which pause ``live`` (the progress display) while the
    question is on the screen."""

    def __init__(self, *, yes: bool, stdin: IO[str] | None = None, tty_path: str = TTY) -> None:
        self.tty_path = tty_path
        stdin = sys.stdin if stdin is None else stdin
        self.why_not = ("--yes: unattended" if yes else
                        "standard input is not a terminal" if stdin is None or not stdin.isatty() else
                        f"{tty_path} cannot be opened" if not self._tty_opens() else "")
        self.interactive = not self.why_not
        self.console = TerminalConsole(os.dup(_stdout_fd()), highlight=False)
        self.live: Any = None  # the rich Progress shown meanwhile: stopped while a question is asked
        self.asking = False  # a question is on the screen (a Ctrl-C now aborts at once)

    def _tty_opens(self) -> bool:
        try:
            with open(self.tty_path, "r+b", buffering=0):
                return True
        except OSError:
            return False

    def ask(self, question: str) -> bool:
        """A yes/no question (default no); raises NoTerminal without a terminal. A Ctrl-C while it is
        asked raises KeyboardInterrupt out of it (``rackval run``'s handler: a second Ctrl-C aborts)."""
        while True:
            answer = _answer_yes_no(self._question(f"{question} [y/N]: ", question))
            if answer is not None:
                return answer

    def prompt(self, label: str) -> str:
        """A line of text (an operator id, a scanned serial); raises NoTerminal without a terminal, and
        KeyboardInterrupt on Ctrl-C or end of input (the operator gave up: nothing was started)."""
        return self._question(f"{label}: ", label, eof=KeyboardInterrupt).strip()

    def _question(self, text: str, what: str, eof: Callable[[], BaseException] | None = None) -> str:
        if not self.interactive:
            raise NoTerminal(what, self.why_not)
        live, self.asking, line = self.live, True, ""
        try:
            if live is not None:
                live.stop()
            try:
                with open(self.tty_path, "r+b", buffering=0) as tty:  # a terminal is not seekable: raw I/O
                    tty.write(text.encode("utf-8"))
                    try:
                        line = tty.readline().decode("utf-8", "replace")
                    finally:
                        if not line.endswith("\n"):  # Ctrl-C or Ctrl-D: what follows starts on a line of its own
                            tty.write(b"\n")
            except OSError as exc:  # no controlling terminal (any more): a hang-up, a detached session
                raise NoTerminal(what, f"{self.tty_path}: {exc.strerror or exc}") from None
            if not line:  # end of input (Ctrl-D): no answer
                if eof is not None:
                    raise eof()
                return ""
            return line
        finally:
            self.asking = False
            if live is not None:
                live.start()

    def print(self, message: str, *, style: str = "") -> None:
        """A message for the operator while the plan runs (above the progress line), as text, never markup."""
        self.console.print(message, style=style or None, markup=False, highlight=False, soft_wrap=True)

    def close(self) -> None:
        self.console.file.close()
