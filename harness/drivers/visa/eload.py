"""DC electronic load on the busbar: constant current or constant power, input on/off, V/A/W.

One driver for every load model; a model is a :class:`Dialect` table. Setpoints are checked
against the station's ratings before anything is sent; ``input_off`` reads back, because the
safe state of a rack under test includes a load that is provably off.

Protection: each dialect names its protection status query, the meaning of its bits and its
clear command. Chroma 63600: ``LOAD:PROT?`` (UM-63600 bit layout) and ``LOAD:PROT:CLE``.
Keysight EL30000: [A: assumed from the Keysight DC-source family, verify against the EL30000
programming guide] ``STAT:QUES:COND?`` with b0 OV, b1 OC, b3 OP, b4 OT, and ``INP:PROT:CLE``.
"""

from __future__ import annotations

from typing import Literal

from harness.drivers.visa.link import ScpiLink
from harness.drivers.visa.properties import (
    FLOAT,
    INT,
    Control,
    Dialect,
    Measurement,
    ProtectedInstrument,
    TokenCodec,
    in_range,
)

Mode = Literal["CC", "CP"]

_ON_OFF = {True: ("ON", "1"), False: ("OFF", "0")}  # sent: the first word; read back: any
_ONE_ZERO = {True: ("1", "ON"), False: ("0", "OFF")}

DIALECTS: dict[str, Dialect] = {
    # Chroma 63600 mainframe, the selected channel (UM-63600; pymeasure upstream chroma_63600.py).
    "chroma63600": Dialect(
        name="chroma63600",
        commands={
            "mode": "MODE {}", "mode?": "MODE?",
            "current": "CURR:STAT:L1 {}", "current?": "CURR:STAT:L1?",
            "power": "POW:STAT:L1 {}", "power?": "POW:STAT:L1?",
            "input": "LOAD {}", "input?": "LOAD?",
            "voltage?": "MEAS:VOLT?", "measured_current?": "MEAS:CURR?", "measured_power?": "MEAS:POW?",
            "protection?": "LOAD:PROT?", "protection_clear": "LOAD:PROT:CLE",
        },
        tokens={
            # Sent: the high range, which covers the low ones; read back: any range.
            "mode": {"CC": ("CCH", "CCM", "CCL"), "CP": ("CPH", "CPM", "CPL")},
            "input": _ON_OFF,
        },
        bits={"protection": {0: "OTP", 1: "OVP", 2: "OCP", 3: "OPP", 4: "REV", 7: "FAN", 8: "INHIBIT"}},
    ),
    # Keysight EL30000 (EL34143A class): SCPI-99 style. [verify against the programming guide]
    "keysight_el30000": Dialect(
        name="keysight_el30000",
        commands={
            "mode": "FUNC {}", "mode?": "FUNC?",
            "current": "CURR {}", "current?": "CURR?",
            "power": "POW {}", "power?": "POW?",
            "input": "INP {}", "input?": "INP?",
            "voltage?": "MEAS:VOLT?", "measured_current?": "MEAS:CURR?", "measured_power?": "MEAS:POW?",
            # [A] questionable-condition register as on Keysight DC sources; verify for the EL30000
            "protection?": "STAT:QUES:COND?", "protection_clear": "INP:PROT:CLE",
        },
        tokens={
            "mode": {"CC": ("CURR", "CURRENT"), "CP": ("POW", "POWER")},
            "input": _ONE_ZERO,
        },
        bits={"protection": {0: "OVP", 1: "OCP", 3: "OPP", 4: "OTP"}},
    ),
}


class ElectronicLoad(ProtectedInstrument):
    """An electronic load: CC/CP setpoints within the station's ratings, input control, readings."""

    DIALECTS = DIALECTS

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

