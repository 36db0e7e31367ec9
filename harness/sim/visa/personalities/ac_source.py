"""The AC-source role: voltage and frequency setpoints, the output, readings and a latched protection
register. Model spellings and setpoint ranges come from the dialect (chroma61800, keysight_ac6800).

What the source supplies (documented choice): a bench copy of one of the rack's PSUs (the profile
entry's ``measures``, by default the twin's first PSU, ``shelf1.psu1``), drawing the input power that
PSU draws in the twin at that moment. A PSU is a constant-power load, so the current scales inversely
with the source voltage: A = W / (V x PF), PF being that of the PDU feeding the PSU in the profile.
Below :data:`PSU_DROPOUT_V` the PSU drops out and draws nothing; with the output off everything reads
0. Readings are therefore coherent (W = V x A x PF) and as deterministic as the twin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from harness.drivers.visa.dialect import Command, Dialect
from harness.sim.visa.device import Call, Reply, Wiring
from harness.sim.visa.parser import boolean
from harness.sim.visa.personalities.base import ProtectedPersonality

if TYPE_CHECKING:
    from harness.sim.physics import RackTwin

PSU_DROPOUT_V = 90.0  # [A] a universal-input PSU stops drawing below this


class AcSourcePersonality(ProtectedPersonality):
    """A programmable AC source whose output feeds a bench copy of one twin PSU."""

    ROLE = "ac_source"
    SWITCHED = "output"
    QUANTITIES = ("V", "A", "W", "PF", "Hz")
    NEEDS: ClassVar[dict[str, tuple[str, ...]]] = {
        "voltage": ("range",), "voltage?": ("format",), "frequency": ("range",), "frequency?": ("format",),
        "output?": ("words",), "reading?": ("quantity", "format"),
    }

    def __init__(self, twin: RackTwin, wiring: Wiring, dialect: Dialect) -> None:
        psu = wiring.measures or next(iter(twin.psus))
        if psu not in twin.psus:
            raise ValueError(f"AC source supplies unknown PSU {psu!r} (e.g. {next(iter(twin.psus))})")
        super().__init__(dialect, wiring.serial)
        self.twin, self.psu = twin, psu
        feed = twin.feeds.get(psu)
        self.pf = twin.pdu_specs[feed[0]].power_factor if feed else 0.98
        self.reset()

    def reset(self) -> None:
        super().reset()
        self.volts, self.hz, self.output = 0.0, 50.0, False

    def switch_off(self) -> None:
        self.output = False

    def readings(self) -> dict[str, float]:
        """{"V", "A", "W", "PF", "Hz"} at the output terminals."""
        if not self.output:
            return {"V": 0.0, "A": 0.0, "W": 0.0, "PF": 0.0, "Hz": 0.0}
        watts = self.twin.psu_reading(self.psu)["input_w"] if self.volts >= PSU_DROPOUT_V else 0.0
        amps = watts / (self.volts * self.pf) if watts else 0.0
        return {"V": self.volts, "A": amps, "W": watts, "PF": self.pf if watts else 0.0, "Hz": self.hz}

    # ------------------------------------------------------------------ ops
    def op_voltage(self, call: Call, cmd: Command) -> Reply:
        if call.query:
            return self.number_reply(self.volts, cmd)
        self.volts = self.in_range(call.args[0], cmd)
        return None

    def op_frequency(self, call: Call, cmd: Command) -> Reply:
        if call.query:
            return self.number_reply(self.hz, cmd)
        self.hz = self.in_range(call.args[0], cmd)
        return None

    def op_output(self, call: Call, cmd: Command) -> Reply:
        if call.query:
            return cmd.words[self.output]
        on = boolean(call.args[0])
        if on:
            self.refuse_if_tripped()
        self.output = on
        return None

    def op_reading(self, call: Call, cmd: Command) -> Reply:
        return self.number_reply(self.readings()[str(cmd.quantity)], cmd)
