"""Thermocouple data logger (Keysight DAQ970A class): type-K scans of named measurement points.

The station wires each DAQ channel to a point (``{101: "coolant_supply", ...}``); the driver
configures those channels as type-K thermocouples, makes them the scan list and answers one
reading per point. A channel that answers the over-range / no-data sentinel (about 9.9E37: an
open or broken thermocouple, or an input out of range) is an :class:`OpenThermocouple` naming the
instrument and the channel, never a number. ``MEAS:TEMP?`` on a DAQ970A redefines the scan list,
so after :meth:`measure_channel` the next :meth:`read` configures the scan again.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from harness.drivers.visa.link import OVER_RANGE, InstrumentReplyError, ScpiLink, parse_number
from harness.drivers.visa.properties import VisaInstrument

TYPE_K_RANGE_C = (-200.0, 1372.0)  # beyond this a type-K reading is not a temperature


class OpenThermocouple(InstrumentReplyError):
    """A channel read the over-range / no-data sentinel: open thermocouple or input out of range."""

    def __init__(self, device: str, request: str, channel: int, point: str, reply: str) -> None:
        self.channel, self.point = channel, point
        super().__init__(device, request,
                         f"channel {channel} ({point}): open thermocouple or over range ({reply.strip()[:20]})")


def channel_list(channels: list[int]) -> str:
    """[101, 102, 103, 105] -> ``(@101:103,105)``: runs of consecutive channels as ranges."""
    parts: list[str] = []
    i = 0
    while i < len(channels):
        j = i
        while j + 1 < len(channels) and channels[j + 1] == channels[j] + 1:
            j += 1
        parts.append(f"{channels[i]}:{channels[j]}" if j > i else str(channels[i]))
        i = j + 1
    return "(@" + ",".join(parts) + ")"


class ThermocoupleDaq(VisaInstrument):
    """A DAQ whose ``read()`` returns {point name: °C} for the wired channels, in one scan."""

    ROLE = "daq"

    def __init__(self, link: ScpiLink, dialect: str = "keysight_daq970a", *, channels: Mapping[int, str]) -> None:
        super().__init__(link, dialect)
        if not channels:
            raise ValueError(f"{link.name}: a DAQ needs at least one channel -> point")
        bad = [ch for ch in channels if not isinstance(ch, int) or isinstance(ch, bool) or not 100 <= ch <= 999]
        if bad:
            raise ValueError(f"{link.name}: channel numbers are slot*100+channel (e.g. 101), not {bad[0]!r}")
        if len(set(channels.values())) != len(channels):
            raise ValueError(f"{link.name}: two channels wired to one point")
        self.channels = dict(sorted(channels.items()))
        self._configured = False

    def configure(self) -> None:
        """Type-K thermocouples in °C, internal reference junction, scan list = the wired channels."""
        chans = channel_list(list(self.channels))
        for key in ("configure", "unit", "reference", "scan"):
            self.link.write(self.dialect.command(key, chans))
        self._configured = True

    def read(self) -> dict[str, float]:
        """One scan: {point: °C}. An open channel -> :class:`OpenThermocouple`; a reply of the wrong
        length, or a value that is no type-K temperature -> InstrumentReplyError."""
        if not self._configured:
            self.configure()
        command = self.dialect.command("read?")
        reply = self.link.query(command)
        parts = reply.split(",")
        if len(parts) != len(self.channels):
            raise InstrumentReplyError(self.name, command, f"{len(parts)} readings for {len(self.channels)} channels")
        return {point: self._value(command, ch, point, text)
                for (ch, point), text in zip(self.channels.items(), parts, strict=True)}

    def measure_channel(self, channel: int) -> float:
        """One channel, one shot (``MEAS:TEMP?``); this redefines the instrument's scan list."""
        if channel not in self.channels:
            raise ValueError(f"{self.name}: channel {channel} is not wired (wired: {sorted(self.channels)})")
        self._configured = False
        command = self.dialect.command("measure?", channel_list([channel]))
        return self._value(command, channel, self.channels[channel], self.link.query(command))

    def _value(self, command: str, channel: int, point: str, text: str) -> float:
        word = text.strip()
        try:
            number = float(word)
        except ValueError:
            number = math.nan
        if math.isinf(number) or (math.isfinite(number) and abs(number) >= OVER_RANGE):
            raise OpenThermocouple(self.name, command, channel, point, word)
        try:
            value = parse_number(word)
        except ValueError as exc:
            raise InstrumentReplyError(self.name, command, f"channel {channel} ({point}): {exc}") from None
        lo, hi = TYPE_K_RANGE_C
        if not lo <= value <= hi:
            raise InstrumentReplyError(self.name, command,
                                       f"channel {channel} ({point}): {value:g} °C is outside type K's {lo:g}..{hi:g}")
        return value
