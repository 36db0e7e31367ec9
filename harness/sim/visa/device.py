"""The part every simulated SCPI instrument shares: message processing, IEEE 488.2 common
commands, the error queue and the standard event status register.

A personality subclasses :class:`ScpiDevice` and :meth:`~ScpiDevice.declare` s its commands; the
table-driven personalities (:mod:`harness.sim.visa.personalities`) declare them from the model's
dialect, so a new instrument model is one more data file, not one more parser.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.sim.visa.parser import CommandTree, ScpiFault, number, split_unit, split_units

# Standard event status register bits (IEEE 488.2).
ESR_OPC, ESR_QYE, ESR_DDE, ESR_EXE, ESR_CME = 1, 4, 8, 16, 32

NO_DATA = "+9.91E+37"  # SCPI "not a number": what a measurement without a valid value answers
_NUMBER_IN_REPLY = re.compile(r"(?<![\w.])[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?(?![\w.])")

#: Faults a simulated instrument can be told to show (see :meth:`ScpiDevice.inject`).
DEVICE_FAULTS = ("stuck", "overrange", "protection_trip")


@dataclass(frozen=True)
class Wiring:
    """What the station says about one simulated instrument: its serial and what it is wired to."""

    serial: str
    max_current_a: float | None = None  # loads
    measures: str | None = None  # analyzers: the PDU whose inlet element 1 sees; AC source: the PSU it supplies
    channels: dict[int, str] = field(default_factory=dict)  # DAQ: channel -> twin thermocouple point


@dataclass(frozen=True)
class Call:
    """What a handler receives: the header as sent, its parameters, its numeric suffixes and
    whether it is the query form."""

    header: str
    args: list[str]
    suffixes: tuple[int, ...]
    query: bool = False

    @property
    def suffix(self) -> int:
        return self.suffixes[0] if self.suffixes else 1


Reply = str | None
Handler = Callable[[Call], Reply]


@dataclass(frozen=True)
class Declared:
    """A declared command: its handler, the parameter count it takes, whether it is a reading
    (the injected "stuck" and "overrange" faults act on exactly these)."""

    handler: Handler
    args: tuple[int, int]
    measurement: bool


def _arg_range(pattern: str, args: int | tuple[int, int] | None) -> tuple[int, int]:
    if args is None:
        return (0, 0) if pattern.rstrip().endswith("?") else (1, 1)
    return (args, args) if isinstance(args, int) else args


class ScpiDevice:
    """One instrument's SCPI brain. Thread-safe: one message is processed at a time, as on a real
    instrument, whichever connection it came from."""

    ERROR_QUEUE_SIZE = 20
    #: True when the personality puts the over-range sentinel into its readings itself (e.g. a
    #: DAQ on selected channels only); otherwise every number of a measurement reply is replaced.
    OWN_OVERRANGE = False

    def __init__(self, idn: str) -> None:
        self.idn = idn
        self.lock = threading.RLock()
        self.tree: CommandTree[Declared] = CommandTree()
        self._errors: deque[str] = deque()
        self.esr = 0
        self.ese = 0
        self.faults: dict[str, dict[str, Any]] = {}  # injected: fault name -> its parameters
        # told (fault, effect) when an injected fault changes a reply: the server points it at the fault log
        self.report: Callable[[str, str], None] = lambda fault, effect: None
        self._last: dict[tuple[str, tuple[int, ...], tuple[str, ...]], str] = {}  # last genuine readings
        for pattern, handler, nargs in self._common_commands():
            self.declare(pattern, handler, args=nargs)

    def declare(self, pattern: str, handler: Handler, *, args: int | tuple[int, int] | None = None,
                measurement: bool = False) -> None:
        """Serve ``pattern`` (manual notation, see :mod:`harness.sim.visa.parser`) with ``handler``.
        ``args`` is the parameter count (or a (min, max) range); by default 0 for a query, 1 otherwise."""
        self.tree.add(pattern, Declared(handler, _arg_range(pattern, args), measurement))

    # ------------------------------------------------------------------ processing
    def process(self, message: str) -> str | None:
        """Execute one program message; the replies of its queries joined by ``;`` (IEEE 488.2),
        or None when nothing is to be sent back."""
        replies: list[str] = []
        path: tuple[str, ...] = ()
        with self.lock:
            for unit in split_units(message):
                header, args = split_unit(unit)
                match = self.tree.lookup(header, path)
                if match is None:
                    self.push_error(ScpiFault(-113, header[:40]))
                    break  # a command error discards the rest of the message
                declared = match.handler
                lo, hi = declared.args
                try:
                    if len(args) < lo:
                        raise ScpiFault(-109, header[:40])
                    if len(args) > hi:
                        raise ScpiFault(-108, header[:40])
                    reply = declared.handler(Call(header, args, match.suffixes, match.pattern.endswith("?")))
                    if declared.measurement and reply is not None:
                        key = (match.pattern, match.suffixes, tuple(a.upper() for a in args))
                        reply = self._faulted(key, reply)
                except ScpiFault as fault:
                    self.push_error(fault)
                    if -199 <= fault.code <= -100:
                        break
                    continue
                path = match.path
                if reply is not None:
                    replies.append(reply)
        return ";".join(replies) if replies else None

    def _faulted(self, key: tuple[str, tuple[int, ...], tuple[str, ...]], reply: str) -> str:
        """A reading as the injected faults make it: frozen at its last value, or over range."""
        if "stuck" in self.faults and key in self._last:
            reply = self._last[key]
            self.report("stuck", "frozen reading served")
        else:
            self._last[key] = reply
        if "overrange" in self.faults and not self.OWN_OVERRANGE:
            reply = _NUMBER_IN_REPLY.sub(NO_DATA, reply)
            self.report("overrange", "over-range sentinel served")
        return reply

    # ------------------------------------------------------------------ fault injection
    def inject(self, fault: str, **params: Any) -> None:
        """Show a fault until :meth:`clear_faults`: ``stuck`` (readings frozen at their last value),
        ``overrange`` (readings are the 9.91E37 sentinel), ``protection_trip`` (see :meth:`trip`)."""
        if fault not in DEVICE_FAULTS:
            raise ValueError(f"unknown fault {fault!r} (known: drop, {', '.join(DEVICE_FAULTS)})")
        with self.lock:
            if fault == "protection_trip":
                self.trip(**params)
                self.report(fault, "protection tripped, output off")
                return
            if params and not (fault == "overrange" and self.OWN_OVERRANGE):
                raise ValueError(f"{type(self).__name__}: {fault} takes no parameters, got {sorted(params)}")
            self.faults[fault] = dict(params)

    def clear_faults(self, fault: str | None = None) -> None:
        """Stop showing one injected fault, or all. A latched protection trip stays latched until
        the instrument's own protection-clear command, as on the real one."""
        with self.lock:
            if fault is None:
                self.faults.clear()
            else:
                self.faults.pop(fault, None)

    def trip(self, **params: Any) -> None:
        """Protection trip: a personality with protection overrides this."""
        raise ValueError(f"{type(self).__name__} has no protection to trip")

    def attach(self) -> None:
        """The server started: hook into the twin (listeners). Idempotent."""

    def detach(self) -> None:
        """The server stopped: undo :meth:`attach` (a powered-off instrument sees nothing)."""

    def push_error(self, fault: ScpiFault) -> None:
        """Queue an error and set its class bit in the ESR; a full queue ends in -350.
        Positive (device-specific) codes set the device-dependent error bit."""
        with self.lock:
            code = fault.code
            if code > 0:
                self.esr |= ESR_DDE
            elif -199 <= code <= -100:
                self.esr |= ESR_CME
            elif -299 <= code <= -200:
                self.esr |= ESR_EXE
            elif -399 <= code <= -300:
                self.esr |= ESR_DDE
            elif -499 <= code <= -400:
                self.esr |= ESR_QYE
            if len(self._errors) >= self.ERROR_QUEUE_SIZE:
                self._errors[-1] = ScpiFault(-350).entry
            else:
                self._errors.append(fault.entry)

    def reset(self) -> None:
        """*RST: the personality's power-on settings."""

    # ------------------------------------------------------------------ IEEE 488.2 common commands
    def _common_commands(self) -> list[tuple[str, Handler, int | None]]:
        """(pattern, handler, parameter count or None for the default) of the commands every
        instrument answers alike."""
        return [
            ("*IDN?", self._idn, None), ("*RST", self._rst, 0), ("*CLS", self._cls, 0),
            ("*OPC?", self._opc_q, None), ("*OPC", self._opc, 0), ("*WAI", self._wai, 0),
            ("*ESR?", self._esr, None), ("*ESE", self._ese, None), ("*ESE?", self._ese_q, None),
            ("*STB?", self._stb, None), ("*TST?", self._tst, None),
            ("SYSTem:ERRor[:NEXT]?", self._syst_err, None), ("SYSTem:ERRor:COUNt?", self._syst_err_count, None),
            ("SYSTem:VERSion?", self._syst_version, None),
        ]

    def _idn(self, call: Call) -> Reply:
        return self.idn

    def _rst(self, call: Call) -> Reply:
        self.reset()
        return None

    def _cls(self, call: Call) -> Reply:
        self._errors.clear()
        self.esr = 0
        return None

    def _opc_q(self, call: Call) -> Reply:
        return "1"  # every simulated operation completes before the next message is read

    def _opc(self, call: Call) -> Reply:
        self.esr |= ESR_OPC
        return None

    def _wai(self, call: Call) -> Reply:
        return None

    def _esr(self, call: Call) -> Reply:
        value, self.esr = self.esr, 0
        return str(value)

    def _ese(self, call: Call) -> Reply:
        self.ese = int(number(call.args[0], 0, 255))
        return None

    def _ese_q(self, call: Call) -> Reply:
        return str(self.ese)

    def _stb(self, call: Call) -> Reply:
        stb = (4 if self._errors else 0) | (32 if self.esr & self.ese else 0)
        return str(stb)

    def _tst(self, call: Call) -> Reply:
        return "0"

    def _syst_err(self, call: Call) -> Reply:
        return self._errors.popleft() if self._errors else ScpiFault(0).entry.replace("0,", "+0,", 1)

    def _syst_err_count(self, call: Call) -> Reply:
        return str(len(self._errors))

    def _syst_version(self, call: Call) -> Reply:
        return "1999.0"
