"""ScpiLink: one SCPI instrument connection that is safe to share between threads and whose
failures say which instrument and which command.

Why a wrapper around a pyvisa resource (see the project's VISA notes):

* raw sockets need ``"\\n"`` terminations, the defaults make every query time out;
* pyvisa-py connects lazily, so :meth:`ScpiLink.open` probes ``*IDN?`` at once;
* a resource is not thread-safe, so every exchange holds the link's lock;
* failures come as ``VisaIOError`` (timeout), ``ConnectionRefusedError`` (first I/O to a dead
  port), a timeout after the peer closed, then ``BrokenPipeError``: all become
  :class:`InstrumentIOError`;
* after any I/O failure, or a reply that is not what the command promises (garbage may leave half
  a reply, or an extra line, unread), the socket may still deliver a late or stale reply, so the
  next call reconnects first. A failed *query* is retried once on a fresh connection (reading has no
  effect on the instrument); a failed *write* is never resent, because it may have been executed:
  the caller reads the state back and decides;
* an idle connection the instrument closed (a power cycle, its own socket reset) is noticed before
  the next exchange, which then reconnects at once: pyvisa-py would read the closed socket until the
  timeout, spinning on it (seconds of CPU at the default timeout, for every drop);
* a reconnect that finds a different ``*IDN?`` stops: results must belong to the instrument
  that was recorded.
"""

from __future__ import annotations

import logging
import math
import re
import select
import socket
import threading
from collections.abc import Callable
from typing import TypeVar

import pyvisa
from pyvisa.errors import VisaIOError

from harness.errors import InstrumentError, TransientDriverError

T = TypeVar("T")
log = logging.getLogger(__name__)

ERROR_QUERY = "SYST:ERR?"
MAX_ERROR_DRAIN = 32  # an error queue that never says "0" is itself an error
OVER_RANGE = 9.9e37  # SCPI: 9.9E37 is over range / infinity, 9.91E37 is "not a number"
_NR = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")

_rm: pyvisa.ResourceManager | None = None
_rm_lock = threading.Lock()


class InstrumentIOError(InstrumentError, TransientDriverError):
    """No usable exchange: timeout, refused, connection dropped. Asking again later may work."""


class InstrumentReplyError(InstrumentError):
    """The instrument answered something that is not what the command promises."""


class ScpiError(InstrumentError):
    """The instrument's error queue reported errors after a command; ``entries`` holds them."""

    def __init__(self, device: str, request: str, entries: list[str]) -> None:
        self.entries = entries
        super().__init__(device, request, "; ".join(entries))


def resource_manager() -> pyvisa.ResourceManager:
    """The process's one pyvisa-py resource manager (closing one RM invalidates the sessions of
    others, pyvisa/pyvisa#742, so links share this one unless given their own)."""
    global _rm
    with _rm_lock:
        if _rm is None:
            _rm = pyvisa.ResourceManager("@py")
        return _rm


def parse_number(text: str) -> float:
    """An SCPI NR1/NR2/NR3 number; ValueError for anything else, NaN, infinities and the 9.9E37
    over-range / 9.91E37 no-data sentinels (a reading that is not a reading)."""
    word = text.strip()
    if not _NR.fullmatch(word):
        shown = word if len(word) <= 40 else word[:40] + "..."
        raise ValueError(f"not a number: {shown!r}")
    value = float(word)
    if not math.isfinite(value) or abs(value) >= OVER_RANGE:
        raise ValueError(f"no valid reading: {word[:40]} (over range or no data)")
    return value


class ScpiLink:
    """One instrument connection: terminations set, one lock, errors that name the instrument and command."""

    def __init__(self, name: str, resource: str, *, timeout_ms: int = 5000,
                 rm: pyvisa.ResourceManager | None = None) -> None:
        self.name = name
        self.resource = resource
        self._timeout_ms = timeout_ms
        self.idn: str | None = None
        self._rm = rm
        self._res: pyvisa.resources.MessageBasedResource | None = None
        self._stale = False  # an I/O failure happened: reconnect before the next exchange
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ connection
    @property
    def timeout_ms(self) -> int:
        """How long one read waits for a reply; setting it applies to the open connection too."""
        return self._timeout_ms

    @timeout_ms.setter
    def timeout_ms(self, ms: int) -> None:
        with self._lock:
            self._timeout_ms = ms
            if self._res is not None:
                self._res.timeout = ms

    @property
    def is_open(self) -> bool:
        """A connection is up and usable: not failed, not closed by the instrument."""
        with self._lock:
            res = self._res
            return res is not None and not self._stale and not _not_clean(self._rm or resource_manager(), res)

    def open(self) -> str:
        """(Re)connect and probe ``*IDN?`` (pyvisa-py only connects on first I/O); returns the IDN."""
        with self._lock:
            self._connect("*IDN?")
            assert self.idn is not None
            return self.idn

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _drop(self) -> None:
        res, self._res = self._res, None
        if res is not None:
            try:
                res.close()
            except (VisaIOError, OSError):
                pass

    def _connect(self, request: str, *, reconnect: bool = False) -> None:
        self._drop()
        rm = self._rm or resource_manager()
        try:
            res = rm.open_resource(self.resource, read_termination="\n", write_termination="\n",
                                   timeout=self._timeout_ms)
        except (VisaIOError, OSError, ValueError) as exc:
            self._stale = True
            raise InstrumentIOError(self.name, request, f"cannot open {self.resource}: {exc}") from exc
        self._res = res  # type: ignore[assignment]
        _no_delay(rm, res)
        try:
            idn = res.query("*IDN?").strip()  # type: ignore[attr-defined]
        except (VisaIOError, OSError) as exc:
            self._stale = True
            raise InstrumentIOError(self.name, request, f"no *IDN? answer from {self.resource}: {_why(exc)}") from exc
        except UnicodeDecodeError as exc:
            self._stale = True
            raise InstrumentReplyError(self.name, request, f"non-ASCII *IDN? answer: {exc.object[:40]!r}") from exc
        if not idn:
            self._stale = True
            raise InstrumentReplyError(self.name, request, "empty *IDN? answer")
        if reconnect and self.idn is not None and idn != self.idn:
            self._stale = True  # never talk on to a different instrument as if it were this one
            raise InstrumentReplyError(self.name, request, f"identity changed on reconnect: {self.idn!r} -> {idn!r}")
        self.idn, self._stale = idn, False

    def _ready(self, request: str) -> pyvisa.resources.MessageBasedResource:
        if self._res is not None and not self._stale and _not_clean(self._rm or resource_manager(), self._res):
            log.warning("%s: reconnecting to %s: the instrument closed the connection (checking *IDN?)",
                        self.name, self.resource)
            self._connect(request, reconnect=self.idn is not None)
        if self._res is None or self._stale:
            if self._stale:  # a recovery, recorded in the run's log
                log.warning("%s: reconnecting to %s after a failed exchange (checking *IDN?)", self.name, self.resource)
            self._connect(request, reconnect=self.idn is not None)
        assert self._res is not None
        return self._res

    # ------------------------------------------------------------------ exchanges
    def _exchange(self, request: str, op: Callable[[pyvisa.resources.MessageBasedResource], T]) -> T:
        """One exchange; an I/O failure marks the link stale and raises InstrumentIOError."""
        res = self._ready(request)
        try:
            return op(res)
        except (VisaIOError, OSError) as exc:
            self._stale = True
            raise InstrumentIOError(self.name, request, f"{self.resource}: {_why(exc)}") from exc
        except UnicodeDecodeError as exc:
            raise self.distrust(request, f"non-ASCII reply: {exc.object[:40]!r}") from exc

    def distrust(self, request: str, problem: str) -> InstrumentReplyError:
        """A reply that is not what ``request`` promises: the error to raise, and the link marked stale.

        Garbage may be half a reply or one and a half (an extra terminator): whatever is still unread
        would answer the *next* query, a plausible number for the wrong question. The next exchange
        reconnects instead (and checks ``*IDN?``)."""
        self._stale = True
        return InstrumentReplyError(self.name, request, problem)

    def query(self, command: str) -> str:
        """Send a query and return the stripped reply; retried once on a fresh connection."""
        with self._lock:
            try:
                return self._exchange(command, lambda r: r.query(command)).strip()
            except InstrumentIOError as first:
                try:
                    return self._exchange(command, lambda r: r.query(command)).strip()
                except InstrumentIOError as again:
                    raise InstrumentIOError(self.name, command,
                                            f"{again.problem} (also after reconnecting; first: {first.problem})") from again

    def query_float(self, command: str) -> float:
        """A single NR1/NR2/NR3 reading; garbage, NaN or 9.91E37 -> InstrumentReplyError."""
        reply = self.query(command)
        try:
            return parse_number(reply)
        except ValueError as exc:
            raise self.distrust(command, str(exc)) from None

    def query_floats(self, command: str) -> list[float]:
        """A comma-separated list of readings, each checked as in :meth:`query_float`."""
        reply = self.query(command)
        try:
            return [parse_number(part) for part in reply.split(",")]
        except ValueError as exc:
            raise self.distrust(command, str(exc)) from None

    def write(self, command: str, *, check: bool = True) -> None:
        """Send a command, then (``check``) drain ``SYST:ERR?``; an entry -> :class:`ScpiError`.

        Never resent: if the write or its check fails on I/O, the command may or may not have
        run. The error says so, the next call reconnects, and the caller reads back.
        """
        with self._lock:
            try:
                self._exchange(command, lambda r: r.write(command))
            except InstrumentIOError as exc:
                raise InstrumentIOError(self.name, command, f"{exc.problem}; not resent") from exc
            if check:
                entries = self._drain_errors(command)
                if entries:
                    raise ScpiError(self.name, command, entries)

    def errors(self) -> list[str]:
        """Drain the error queue: the non-zero entries, oldest first."""
        with self._lock:
            return self._drain_errors(ERROR_QUERY)

    def _drain_errors(self, command: str) -> list[str]:
        entries: list[str] = []
        request = f"{command} -> {ERROR_QUERY}" if command != ERROR_QUERY else ERROR_QUERY
        for _ in range(MAX_ERROR_DRAIN):
            try:
                reply = self._exchange(request, lambda r: r.query(ERROR_QUERY)).strip()
            except InstrumentIOError as exc:
                raise InstrumentIOError(self.name, request,
                                        f"{exc.problem}; outcome unknown, not resent") from exc
            code_text = reply.split(",", 1)[0].strip()
            if not re.fullmatch(r"[+-]?[0-9]{1,6}", code_text):  # SCPI codes are small; no int() on a megabyte
                raise self.distrust(request, f"not an error-queue entry: {reply[:60]!r}")
            if int(code_text) == 0:
                return entries
            entries.append(reply[:200])
        entries.append(f"(error queue still not empty after {MAX_ERROR_DRAIN} reads)")
        return entries

    def __enter__(self) -> ScpiLink:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ScpiLink({self.name!r}, {self.resource!r})"


def _no_delay(rm: pyvisa.ResourceManager, res: object) -> None:
    """Turn Nagle off, as NI-VISA does by default: a write followed by ``SYST:ERR?`` otherwise
    stalls ~40 ms on the peer's delayed ACK. pyvisa-py 0.8 declares VI_ATTR_TCPIP_NODELAY for
    sockets but its setter raises, so fall back to the session's socket. Best effort only: a
    backend without either (pyvisa-sim, VXI-11) is simply left as it is."""
    try:
        res.set_visa_attribute(pyvisa.constants.ResourceAttribute.tcpip_nodelay,  # type: ignore[attr-defined]
                               pyvisa.constants.VI_TRUE)
        return
    except Exception:  # noqa: BLE001 - pyvisa-py raises its private UnknownAttribute here
        pass
    try:
        session = rm.visalib.sessions[res.session]  # type: ignore[attr-defined]
        sock = getattr(session, "interface", None)
        if isinstance(sock, socket.socket):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except Exception:  # noqa: BLE001 - private API of one backend; never fail a connection over it
        pass


def _not_clean(rm: pyvisa.ResourceManager, res: object) -> bool:
    """Whether an idle connection is unusable: closed or reset by the instrument, or holding bytes nobody
    asked for (a late reply, which would answer the next query). Only a socket session can tell (the
    same private pyvisa-py path as :func:`_no_delay`); any other backend is taken as clean."""
    try:
        session = rm.visalib.sessions[res.session]  # type: ignore[attr-defined]
        sock = getattr(session, "interface", None)
        if not isinstance(sock, socket.socket):
            return False
        if getattr(session, "_pending_buffer", None):  # bytes pyvisa-py read past the last reply
            return True
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        sock.recv(1, socket.MSG_PEEK)  # b"" (closed) or a byte (unasked): either way, not clean
        return True
    except OSError:  # reset by the peer, or the socket is gone
        return True
    except Exception:  # noqa: BLE001 - private API of one backend; never fail an exchange over it
        return False


def _why(exc: BaseException) -> str:
    if isinstance(exc, VisaIOError):
        if exc.error_code == pyvisa.constants.StatusCode.error_timeout:
            return "timeout (no reply, or the connection was dropped)"
        return exc.description or str(exc)
    return f"{type(exc).__name__}: {exc}"
