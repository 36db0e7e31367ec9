"""Declarative instrument drivers in the style of pymeasure's ``control``/``measurement``, with the
command strings kept in per-model dialects (``dialects/<model>.yaml``, see :mod:`.dialect`).

A driver class declares *what* it controls once (``current_setpoint = Control("current", ...)``);
each dialect says *how* a model spells it (``current: {send: "CURR:STAT:L1 {}", ...}``). Models whose
logic is the same then differ only by their data, and a command a model lacks is a clear
:class:`UnsupportedCommand` instead of a wrong string on the wire.

Values are validated before anything is sent; replies are parsed strictly (see
:func:`harness.drivers.visa.link.parse_number`), and parse failures become
:class:`~harness.drivers.visa.link.InstrumentReplyError` naming the instrument and the command.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Generic, TypeVar, overload

from harness.drivers.visa.dialect import Dialect, UnsupportedCommand, dialect_for
from harness.drivers.visa.link import ScpiLink, parse_number
from harness.errors import InstrumentError

__all__ = ["FLOAT", "INT", "Codec", "Control", "Dialect", "Measurement", "ProtectedInstrument", "ReadbackMismatch",
           "TokenCodec", "UnsupportedCommand", "VisaInstrument", "format_number", "in_range"]

T = TypeVar("T")


class ReadbackMismatch(InstrumentError):
    """A setting read back differs from what was just set."""


class VisaInstrument:
    """Base of the VISA drivers: a link, and the dialect of one model of the class's ROLE."""

    ROLE: ClassVar[str] = ""

    def __init__(self, link: ScpiLink, dialect: str) -> None:
        try:
            self.dialect: Dialect = dialect_for(self.ROLE, dialect)
        except ValueError as exc:
            raise ValueError(f"{type(self).__name__}: unknown dialect {dialect!r} ({exc})") from None
        self.link = link

    @property
    def name(self) -> str:
        return self.link.name

    def identify(self) -> str:
        """The instrument's ``*IDN?`` (opens the link if needed): recorded with every run."""
        if self.link.is_open and self.link.idn:
            return self.link.idn
        return self.link.open()

    def run_action(self, key: str) -> None:
        """Send the dialect's commands for ``key`` in order, each checked against the error queue."""
        for command in self.dialect.action(key):
            self.link.write(command)


# ------------------------------------------------------------------------------ codecs
class Codec(Generic[T]):
    """How a value travels: ``encode`` for the wire, ``decode`` from a reply (ValueError if bad)."""

    def encode(self, driver: VisaInstrument, value: T) -> str:
        raise NotImplementedError

    def decode(self, driver: VisaInstrument, reply: str) -> T:
        raise NotImplementedError


def format_number(value: float) -> str:
    """Canonical NR2 text for setpoints: fixed point, at least one decimal (``100.0``, ``12.5``).

    One spelling for every backend: pyvisa-sim matches command strings exactly."""
    text = f"{value:.6f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


class FloatCodec(Codec[float]):
    def encode(self, driver: VisaInstrument, value: float) -> str:
        return format_number(value)

    def decode(self, driver: VisaInstrument, reply: str) -> float:
        return parse_number(reply)


class IntCodec(Codec[int]):
    def encode(self, driver: VisaInstrument, value: int) -> str:
        return str(int(value))

    def decode(self, driver: VisaInstrument, reply: str) -> int:
        number = parse_number(reply)
        if number != int(number):
            raise ValueError(f"not an integer: {reply[:40]!r}")
        return int(number)


class TokenCodec(Codec[Any]):
    """A value spelled by the dialect's words for ``table`` (modes, ON/OFF): the first is sent."""

    def __init__(self, table: str) -> None:
        self.table = table

    def _table(self, driver: VisaInstrument) -> Mapping[Any, tuple[str, ...]]:
        table = driver.dialect.tokens(self.table)
        if table is None:
            raise UnsupportedCommand(driver.dialect.name, self.table, f"no {self.table!r} tokens")
        return table

    def encode(self, driver: VisaInstrument, value: Any) -> str:
        table = self._table(driver)
        if value not in table:
            raise ValueError(f"{self.table} must be one of {sorted(map(str, table))}, not {value!r}")
        return table[value][0]

    def decode(self, driver: VisaInstrument, reply: str) -> Any:
        word = reply.strip().upper()
        for value, words in self._table(driver).items():
            if word in (w.upper() for w in words):
                return value
        raise ValueError(f"unexpected {self.table} reply {reply[:40]!r}")


FLOAT: Codec[float] = FloatCodec()
INT: Codec[int] = IntCodec()

Limit = float | Callable[[Any], float | None]
Validator = Callable[[Any, str, Any], None]


def in_range(lo: Limit, hi: Limit) -> Validator:
    """Validator: a finite number in [lo, hi]; either bound may be a function of the driver
    (e.g. ``lambda d: d.max_current_a``); a bound of None is not checked."""

    def check(driver: Any, what: str, value: Any) -> None:
        low = lo(driver) if callable(lo) else lo
        high = hi(driver) if callable(hi) else hi
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"{driver.name}: {what} must be a finite number, not {value!r}")
        if (low is not None and value < low) or (high is not None and value > high):
            raise ValueError(f"{driver.name}: {what} {value!r} outside {low}..{high}")

    return check


# ------------------------------------------------------------------------------ descriptors
class Measurement(Generic[T]):
    """A read-only quantity: ``dialect.commands[key + "?"]`` decoded by ``codec``."""

    def __init__(self, key: str, doc: str, *, codec: Codec[T] = FLOAT) -> None:  # type: ignore[assignment]
        self.key, self.codec = key, codec
        self.__doc__ = doc

    def __set_name__(self, owner: type, name: str) -> None:
        self.attr = name

    @overload
    def __get__(self, driver: None, owner: type) -> Measurement[T]: ...
    @overload
    def __get__(self, driver: VisaInstrument, owner: type) -> T: ...

    def __get__(self, driver: VisaInstrument | None, owner: type) -> Any:
        if driver is None:
            return self
        return self.read(driver)

    def read(self, driver: VisaInstrument) -> T:
        command = driver.dialect.command(self.key + "?")
        reply = driver.link.query(command)
        try:
            return self.codec.decode(driver, reply)
        except ValueError as exc:
            raise driver.link.distrust(command, str(exc)) from None


class Control(Measurement[T]):
    """A read/write setting. Setting validates first (ValueError, nothing sent), writes with the
    error-queue check, and with ``verify`` reads back and raises :class:`ReadbackMismatch`."""

    def __init__(self, key: str, doc: str, *, codec: Codec[T] = FLOAT,  # type: ignore[assignment]
                 validator: Validator | None = None, verify: bool = False) -> None:
        super().__init__(key, doc, codec=codec)
        self.validator, self.verify = validator, verify

    def __set__(self, driver: VisaInstrument, value: T) -> None:
        if self.validator is not None:
            self.validator(driver, self.attr, value)
        command = driver.dialect.command(self.key, self.codec.encode(driver, value))
        driver.link.write(command)
        if self.verify:
            got = self.read(driver)
            if got != value:
                raise ReadbackMismatch(driver.name, command, f"read back {got!r}, expected {value!r}")


class ProtectedInstrument(VisaInstrument):
    """An instrument with latched protections (a load, a source): its dialect decodes the ``protection``
    register and names the clear command. Clearing never switches the input/output back on: that is
    the caller's decision."""

    protection: int  # a Measurement of the subclass: the raw protection register

    def protection_tripped(self) -> frozenset[str]:
        """Names of the tripped protections ("OCP", "OVP", ...); empty when none."""
        return self.dialect.decode_bits("protection", self.protection)

    def clear_protection(self) -> frozenset[str]:
        """Clear latched protections and read back; returns what is still tripped (the cause may persist)."""
        self.link.write(self.dialect.command("protection_clear"))
        return self.protection_tripped()
