"""The electronic-load role: CC/CP levels pushed to the twin's busbar load, the input, readings and a
latched protection register. Model spellings come from the dialect (chroma63600, keysight_el30000).

The twin models the load as a current sink. CP is therefore simulated by converting the power level
to a current with the busbar voltage *at the moment* the level, the mode or the input changes; a
later busbar change does not re-regulate as a real CP load would.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from harness.drivers.visa.dialect import Command, Dialect, short_form
from harness.sim.visa.device import Call, Reply, Wiring
from harness.sim.visa.parser import ScpiFault, boolean, number
from harness.sim.visa.personalities.base import ProtectedPersonality

if TYPE_CHECKING:
    from harness.sim.physics import RackTwin


class LoadPersonality(ProtectedPersonality):
    """A DC electronic load on the busbar, one channel; levels 1 and 2 (the driver uses level 1)."""

    ROLE = "eload"
    SWITCHED = "input"
    QUANTITIES = ("V", "A", "W")
    NEEDS: ClassVar[dict[str, tuple[str, ...]]] = {
        "mode": ("choices",), "cc_level?": ("format",), "cp_level?": ("format",), "input?": ("words",),
        "reading?": ("quantity", "format"),
    }
    MEANINGS: ClassVar[dict[str, frozenset[str]]] = {"mode": frozenset({"CC", "CP"})}
    VOLTS_FOR_POWER_RATING = 60.0  # [A] max CP level = max_current_a x 60 V (no rating in the profile)
    DEFAULT_MAX_CURRENT_A = 60.0

    def __init__(self, twin: RackTwin, wiring: Wiring, dialect: Dialect) -> None:
        super().__init__(dialect, wiring.serial)
        self.twin = twin
        self.max_current_a = wiring.max_current_a or self.DEFAULT_MAX_CURRENT_A
        self.max_power_w = self.max_current_a * self.VOLTS_FOR_POWER_RATING
        modes = self.command_with("mode", "choices").choices
        self.cc_word = next((w for w, m in modes.items() if m == "CC"), None)
        if self.cc_word is None:
            raise dialect.error("the mode choices need a CC word", "commands")
        # power-on state: whatever the twin's load is doing (a restarted simulator finds it so)
        self.mode_word, self.cp_mode = self.cc_word, False
        self.cc = {1: twin.eload_current_a, 2: 0.0}
        self.cp = {1: 0.0, 2: 0.0}
        self.load_on = twin.eload_on

    def reset(self) -> None:
        """*RST: CC, levels 0, input off. The protection latch survives a reset."""
        super().reset()
        self.mode_word, self.cp_mode = self.cc_word, False
        self.cc, self.cp, self.load_on = {1: 0.0, 2: 0.0}, {1: 0.0, 2: 0.0}, False
        self._apply()

    def _apply(self) -> None:
        """Push the present setting to the twin (CP: converted at today's busbar voltage)."""
        if not self.cp_mode:
            amps = self.cc[1]
        else:
            volts = self.twin.busbar_v()
            amps = min(self.max_current_a, self.cp[1] / volts) if volts > 1.0 else 0.0
        self.twin.set_eload(current_a=amps, input_on=self.load_on)

    def switch_off(self) -> None:
        self.load_on = False
        self._apply()

    # ------------------------------------------------------------------ ops
    def op_mode(self, call: Call, cmd: Command) -> Reply:
        if call.query:
            return short_form(self.mode_word)
        self.mode_word, meaning = self.choose(call.args[0], cmd)
        self.cp_mode = meaning == "CP"
        self._apply()
        return None

    def op_cc_level(self, call: Call, cmd: Command) -> Reply:
        return self._level(self.cc, call, cmd, self.max_current_a)

    def op_cp_level(self, call: Call, cmd: Command) -> Reply:
        return self._level(self.cp, call, cmd, self.max_power_w)

    def _level(self, levels: dict[int, float], call: Call, cmd: Command, limit: float) -> Reply:
        if call.suffix not in levels:
            raise ScpiFault(-114, call.header)
        if call.query:
            return self.number_reply(levels[call.suffix], cmd)
        levels[call.suffix] = number(call.args[0], 0.0, limit)
        self._apply()
        return None

    def op_input(self, call: Call, cmd: Command) -> Reply:
        if call.query:
            return cmd.words[self.load_on]
        on = boolean(call.args[0])
        if on:
            self.refuse_if_tripped()
        self.load_on = on
        self._apply()
        return None

    def op_reading(self, call: Call, cmd: Command) -> Reply:
        volts, amps, watts = self.twin.eload_reading()
        return self.number_reply({"V": volts, "A": amps, "W": watts}[str(cmd.quantity)], cmd)
