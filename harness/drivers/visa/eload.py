"""DC electronic load on the busbar: constant current or constant power, input on/off, V/A/W.

One driver for every load model; a model is a dialect (``dialects/chroma63600.yaml``, ...). Setpoints are checked
against the station's ratings before anything is sent; ``input_off`` reads back, because the
safe state of a rack under test includes a load that is provably off.

Protection: each dialect names its protection status query, the meaning of its bits and its
clear command (Chroma 63600 ``LOAD:PROT?`` / ``LOAD:PROT:CLE``; Keysight EL30000
``STAT:QUES:COND?`` / ``INP:PROT:CLE``).
"""

from __future__ import annotations

from typing import Literal

from harness.drivers.visa.link import ScpiLink
from harness.drivers.visa.properties import (
    FLOAT,
    INT,
    Control,
    Measurement,
    ProtectedInstrument,
    TokenCodec,
    in_range,
)

Mode = Literal["CC", "CP"]


class ElectronicLoad(ProtectedInstrument):
    """An electronic load: CC/CP setpoints within the station's ratings, input control, readings."""

    ROLE = "eload"

    mode = Control[Mode]("mode", "Regulation mode, 'CC' or 'CP' (read back).",
                         codec=TokenCodec("mode"), verify=True)
    current_setpoint = Control[float]("current", "CC level in A.",
                                      validator=in_range(0.0, lambda d: d.max_current_a))
    power_setpoint = Control[float]("power", "CP level in W.",
                                    validator=in_range(0.0, lambda d: d.max_power_w))
    input_enabled = Control[bool]("input", "Whether the load draws current (read from the instrument).",
                                  codec=TokenCodec("input"), verify=True)
    voltage = Measurement[float]("voltage", "Voltage at the load's terminals, V.", codec=FLOAT)
    current = Measurement[float]("measured_current", "Current drawn, A.", codec=FLOAT)
    power = Measurement[float]("measured_power", "Power drawn, W.", codec=FLOAT)
    protection = Measurement[int]("protection", "Protection status bitfield (0 = none tripped).", codec=INT)

    def __init__(self, link: ScpiLink, dialect: str = "chroma63600", *, max_current_a: float,
                 max_power_w: float | None = None) -> None:
        super().__init__(link, dialect)
        if not max_current_a > 0:
            raise ValueError("max_current_a must be positive")
        self.max_current_a = max_current_a
        self.max_power_w = max_power_w

    def set_current(self, amps: float) -> None:
        """CC level; ValueError outside 0..max_current_a, before anything is sent."""
        self.current_setpoint = amps

    def set_power(self, watts: float) -> None:
        """CP level; ValueError if negative or above max_power_w, before anything is sent."""
        self.power_setpoint = watts

    def input_on(self) -> None:
        self.input_enabled = True

    def input_off(self) -> None:
        """Switch the input off and confirm it by reading back (the load's safe action)."""
        self.input_enabled = False

    def measure(self) -> tuple[float, float, float]:
        """(volts, amps, watts) at the load."""
        return self.voltage, self.current, self.power

    def protection_status(self) -> int:
        """The raw protection register (model-specific bits); 0 when nothing has tripped."""
        return self.protection

