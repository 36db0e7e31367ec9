"""Programmable AC source for line-voltage and frequency sweeps: setpoints, output, V/A/W/PF.

Two dialects of one driver (``dialects/chroma61800.yaml``, ``dialects/keysight_ac6800.yaml``).
Setpoints are checked against the station's ratings for what is plugged in (``max_voltage_v``,
``frequency_hz``) before anything is sent; ``output_off`` reads back, because it is the source's
safe action.
"""

from __future__ import annotations

from harness.drivers.visa.link import InstrumentReplyError, ScpiLink
from harness.drivers.visa.properties import (
    FLOAT,
    INT,
    Control,
    Measurement,
    ProtectedInstrument,
    TokenCodec,
    in_range,
)

FIELDS = ("V", "A", "W", "PF", "Hz")


class AcSource(ProtectedInstrument):
    """An AC source: voltage and frequency within the station's ratings, output control, readings."""

    ROLE = "ac_source"

    voltage_setpoint = Control[float]("voltage", "Output voltage setpoint, V rms.",
                                      validator=in_range(0.0, lambda d: d.max_voltage_v))
    frequency_setpoint = Control[float]("frequency", "Output frequency setpoint, Hz.",
                                        validator=in_range(lambda d: d.frequency_hz[0], lambda d: d.frequency_hz[1]))
    output_enabled = Control[bool]("output", "Whether the output is on (read from the instrument).",
                                   codec=TokenCodec("output"), verify=True)
    voltage = Measurement[float]("V", "Output voltage, V rms.", codec=FLOAT)
    current = Measurement[float]("A", "Output current, A rms.", codec=FLOAT)
    power = Measurement[float]("W", "Real output power, W.", codec=FLOAT)
    power_factor = Measurement[float]("PF", "Power factor of the load.", codec=FLOAT)
    frequency = Measurement[float]("Hz", "Output frequency, Hz.", codec=FLOAT)
    protection = Measurement[int]("protection", "Protection status register (0 = none tripped).", codec=INT)

    def __init__(self, link: ScpiLink, dialect: str = "chroma61800", *, max_voltage_v: float = 264.0,
                 frequency_hz: tuple[float, float] = (45.0, 65.0)) -> None:
        super().__init__(link, dialect)
        if not max_voltage_v > 0:
            raise ValueError("max_voltage_v must be positive")
        if not 0 < frequency_hz[0] <= frequency_hz[1]:
            raise ValueError("frequency_hz must be (low, high) with 0 < low <= high")
        self.max_voltage_v = max_voltage_v
        self.frequency_hz = frequency_hz

    def set_voltage(self, volts: float) -> None:
        """Voltage setpoint; ValueError outside 0..max_voltage_v, before anything is sent."""
        self.voltage_setpoint = volts

    def set_frequency(self, hz: float) -> None:
        """Frequency setpoint; ValueError outside frequency_hz, before anything is sent."""
        self.frequency_setpoint = hz

    def output_on(self) -> None:
        self.output_enabled = True

    def output_off(self) -> None:
        """Switch the output off and confirm it by reading back (the source's safe action)."""
        self.output_enabled = False

    def measure(self) -> dict[str, float]:
        """{"V", "A", "W", "PF", "Hz"} at the output. A power factor outside [-1, 1] or a negative
        voltage, current or frequency is an InstrumentReplyError."""
        reading: dict[str, float] = {}
        for key in FIELDS:
            command = self.dialect.command(key + "?")
            value = self.link.query_float(command)
            if (key == "PF" and not -1.0 <= value <= 1.0) or (key in ("V", "A", "Hz") and value < 0):
                raise InstrumentReplyError(self.name, command, f"{key} = {value} is impossible")
            reading[key] = value
        return reading

