"""Programmable AC source for line-voltage and frequency sweeps: setpoints, output, V/A/W/PF.

Two dialects of one driver: Chroma 61800 (``VOLT:AC``, ``FREQ``, ``OUTP``, ``MEAS:...:AC?``) and
Keysight AC6800B (``VOLT``, ``FREQ``, ``OUTP``, ``MEAS:...?``). Setpoints are checked against the
station's ratings for what is plugged in (``max_voltage_v``, ``frequency_hz``) before anything is
sent; ``output_off`` reads back, because it is the source's safe action.
"""

from __future__ import annotations

from harness.drivers.visa.link import InstrumentReplyError, ScpiLink
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

FIELDS = ("V", "A", "W", "PF", "Hz")

DIALECTS: dict[str, Dialect] = {
    # Chroma 61800 / 61845 grid simulator, outputs coupled (61800 and 61600 manuals).
    "chroma61800": Dialect(
        name="chroma61800",
        commands={
            "voltage": "VOLT:AC {}", "voltage?": "VOLT:AC?",
            "frequency": "FREQ {}", "frequency?": "FREQ?",
            "output": "OUTP {}", "output?": "OUTP?",
            "V?": "MEAS:VOLT:ACDC?", "A?": "MEAS:CURR:AC?", "W?": "MEAS:POW:AC?",
            "PF?": "MEAS:POW:AC:PFAC?", "Hz?": "MEAS:FREQ?",
            "protection?": "STAT:QUES:COND?", "protection_clear": "OUTP:PROT:CLE",
        },
        tokens={"output": {True: ("ON", "1"), False: ("OFF", "0")}},
        fields=FIELDS,
        bits={"protection": {0: "OVP", 1: "OCP", 3: "OPP", 4: "OTP"}},
    ),
    # Keysight AC6800B basic AC source. [standard Keysight forms; verify against the guide]
    "keysight_ac6800": Dialect(
        name="keysight_ac6800",
        commands={
            "voltage": "VOLT {}", "voltage?": "VOLT?",
            "frequency": "FREQ {}", "frequency?": "FREQ?",
            "output": "OUTP {}", "output?": "OUTP?",
            "V?": "MEAS:VOLT:AC?", "A?": "MEAS:CURR:AC?", "W?": "MEAS:POW:AC?",
            "PF?": "MEAS:POW:AC:PFAC?", "Hz?": "MEAS:FREQ?",
            "protection?": "STAT:QUES:COND?", "protection_clear": "OUTP:PROT:CLE",
        },
        tokens={"output": {True: ("1", "ON"), False: ("0", "OFF")}},
        fields=FIELDS,
        bits={"protection": {0: "OVP", 1: "OCP", 3: "OPP", 4: "OTP"}},
    ),
}


class AcSource(ProtectedInstrument):
    """An AC source: voltage and frequency within the station's ratings, output control, readings."""

    DIALECTS = DIALECTS

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

