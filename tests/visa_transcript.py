"""Transcript tests for the VISA drivers, in the style of pymeasure's ``expected_protocol``: a list of
expected (command, reply) steps is checked, in order, against what a driver sends through its real
:class:`~harness.drivers.visa.link.ScpiLink` -- no socket, no simulator.

A step is ``(command, reply)``:

* ``reply`` a string: the driver queries ``command`` and reads ``reply``;
* ``reply`` None (or a 1-tuple ``(command,)``): the driver writes ``command`` and reads nothing;
* ``reply`` an exception instance (e.g. :data:`TIMEOUT`): raised where the driver reads the reply of
  a query, or by the write itself for a write.

The link's own traffic is part of the transcript, because it is part of the protocol: the ``*IDN?``
probe when a connection opens, and the ``SYST:ERR?`` drained after every write. A command other than
the expected one fails at once naming the step; steps left over fail when the block ends.

    with expected_protocol(lambda link: ElectronicLoad(link, "chroma63600", max_current_a=60), [
        ("*IDN?", "CHROMA,63600-2,X,1.20"),
        ("LOAD OFF", None), ("SYST:ERR?", NO_ERROR), ("LOAD?", "OFF"),
    ]) as load:
        load.input_off()
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import pyvisa
from pyvisa.errors import VisaIOError

from harness.drivers.visa.link import ScpiLink

D = TypeVar("D")
Step = tuple[str] | tuple[str, "str | BaseException | None"]

NO_ERROR = '+0,"No error"'
TIMEOUT = VisaIOError(pyvisa.constants.StatusCode.error_timeout)


class TranscriptMismatch(AssertionError):
    """The driver's traffic left the transcript; the message names the step."""


class Transcript:
    """The expected steps and where the driver is in them; stands in for a pyvisa resource manager."""

    def __init__(self, steps: Sequence[Step]) -> None:
        self.steps: list[tuple[str, str | BaseException | None]] = [
            (step[0], step[1] if len(step) > 1 else None) for step in steps]  # type: ignore[misc]
        self.index = 0
        self.opened: list[str] = []  # resource strings, one per connection the link opened
        self.closed = 0
        self.failure: TranscriptMismatch | None = None
        self._pending: str | BaseException | None = None

    def link(self, name: str = "dut") -> ScpiLink:
        """A real ScpiLink whose connections are this transcript."""
        return ScpiLink(name, "TCPIP::transcript::5025::SOCKET", timeout_ms=100, rm=self)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ pyvisa resource-manager API
    def open_resource(self, resource: str, **_: Any) -> _Resource:
        self.opened.append(resource)
        return _Resource(self)

    # ------------------------------------------------------------------ checking
    def _fail(self, problem: str) -> TranscriptMismatch:
        self.failure = self.failure or TranscriptMismatch(problem)
        return self.failure

    def take(self, command: str, *, reading: bool) -> str | BaseException | None:
        """Match ``command`` against the next step; returns its reply."""
        number = self.index + 1
        if self.index >= len(self.steps):
            raise self._fail(f"step {number}: the driver sent {command!r} after the transcript's last step")
        expected, reply = self.steps[self.index]
        if command != expected:
            raise self._fail(f"step {number}: expected {expected!r}, the driver sent {command!r}")
        if reading and reply is None:
            raise self._fail(f"step {number}: {command!r} is a write in the transcript, the driver queried it")
        if not reading and isinstance(reply, str):
            raise self._fail(f"step {number}: {command!r} expects a query (reply {reply!r}), the driver only wrote it")
        self.index += 1
        return reply

    def assert_done(self) -> None:
        if self.failure is not None:
            raise self.failure
        if self.index < len(self.steps):
            left = self.steps[self.index:]
            raise TranscriptMismatch(f"step {self.index + 1} of {len(self.steps)} never happened: "
                                     f"expected {left[0][0]!r} ({len(left)} step(s) left)")


class _Resource:
    """One connection: ``query`` and ``write`` are what ScpiLink uses of a pyvisa resource."""

    def __init__(self, transcript: Transcript) -> None:
        self.transcript = transcript

    def query(self, command: str) -> str:
        reply = self.transcript.take(command, reading=True)
        if isinstance(reply, BaseException):
            raise reply
        assert reply is not None
        return reply + "\n"

    def write(self, command: str) -> int:
        reply = self.transcript.take(command, reading=False)
        if isinstance(reply, BaseException):
            raise reply
        return len(command) + 1

    def close(self) -> None:
        self.transcript.closed += 1


@contextmanager
def expected_protocol(make: Callable[[ScpiLink], D], steps: Sequence[Step], *,
                      name: str = "dut") -> Iterator[D]:
    """The driver ``make(link)`` on a link whose traffic must be exactly ``steps``; checked at the end
    of the block (a mismatch during the block fails at once, naming its step)."""
    transcript = Transcript(steps)
    yield make(transcript.link(name))
    transcript.assert_done()
