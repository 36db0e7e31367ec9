"""The power-analyzer role: quantities at one PDU inlet (element 1), energy integration and peak
current capture, from :class:`InletMonitor`. Model spellings come from the dialect.

Two ways a model is asked, both served here: a numeric item list configured once and read in one
query (``numeric_item`` / ``numeric_values``, Yokogawa WT; items are NONE after *RST, so an analyzer
nobody configured answers the no-data value, as a mis-set real one would), or quantities named in the
query (``measure_items``, Chroma 66205). Energy is controlled by integration commands
(``integrate_*``) or by a trigger mode (``trigger_mode`` + ``trigger``: one mode runs at a time,
changing it ends what ran); peak current by max hold (``peak_hold``) or the inrush trigger mode, whose
value is the no-data value until armed.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, ClassVar

from harness.drivers.visa.dialect import Command, Dialect, short_form
from harness.sim.visa.device import NO_DATA, Call, Reply, Wiring
from harness.sim.visa.parser import boolean, number
from harness.sim.visa.personalities.base import TablePersonality
from harness.sim.visa.personalities.inlet_monitor import InletMonitor

if TYPE_CHECKING:
    from harness.sim.physics import RackTwin

_QUANTITIES = frozenset({"V", "A", "W", "PF", "VA", "VAR", "energy", "peak", "inrush"})


class AnalyzerPersonality(TablePersonality):
    """A power analyzer whose element 1 is wired to one PDU inlet."""

    ROLE = "power_analyzer"
    ELEMENTS = 1
    NEEDS: ClassVar[dict[str, tuple[str, ...]]] = {
        "numeric_item": ("choices",), "numeric_values?": ("format", "range"), "measure_items?": ("choices", "format"),
        "trigger_mode": ("choices",), "peak_hold?": ("words",), "trigger?": ("words",),
    }
    MEANINGS: ClassVar[dict[str, frozenset[str]]] = {
        "numeric_item": _QUANTITIES - {"inrush"} | {"none"}, "measure_items": _QUANTITIES,
        "trigger_mode": frozenset({"normal", "inrush", "integration"}),
    }

    def __init__(self, twin: RackTwin, wiring: Wiring, dialect: Dialect) -> None:
        if not wiring.measures:
            raise ValueError("a simulated power analyzer needs `measures` (the PDU it is wired to)")
        super().__init__(dialect, wiring.serial)
        self.twin, self.measures = twin, wiring.measures
        self.monitor = InletMonitor(twin, wiring.measures)
        if any(cmd.op == "numeric_values" for cmd in dialect.commands.values()):
            self.value("item_count")  # numeric_values answers the first item_count items: a setting
        self.reset()

    def reset(self) -> None:
        super().reset()
        self.items: dict[int, tuple[str, str, str]] = {}  # item -> (word, meaning, element)
        self.trigger_mode, self.trigger_on, self.inrush_armed = "normal", False, False
        self.monitor.hold(False)
        self.monitor.stop()
        self.monitor.reset()

    def attach(self) -> None:
        self.monitor.attach()

    def detach(self) -> None:
        self.monitor.detach()

    def _quantities(self, wanted: set[str]) -> dict[str, float | None]:
        """The wanted quantities of one moment (energy and peak only when asked: reading a held
        peak consumes the inrush events)."""
        r = self.monitor.reading()
        va = r["W"] / r["PF"] if r["PF"] else 0.0
        out: dict[str, float | None] = {"V": r["V"], "A": r["A"], "W": r["W"], "PF": r["PF"], "VA": va,
                                        "VAR": math.sqrt(max(0.0, va ** 2 - r["W"] ** 2))}
        if "energy" in wanted:
            out["energy"] = self.monitor.energy_wh()
        if "peak" in wanted:
            out["peak"] = self.monitor.peak_a(r["A"])
        if "inrush" in wanted:
            out["inrush"] = self.monitor.peak_a(r["A"]) if self.inrush_armed else None
        return out

    # ------------------------------------------------------------------ numeric item list
    def op_numeric_item(self, call: Call, cmd: Command) -> Reply:
        if call.query:
            word, _, element = self.items.get(call.suffix, ("NONE", "none", ""))
            return f"{short_form(word)},{element}" if element else short_form(word)
        word, meaning = self.choose(call.args[0], cmd)
        element = call.args[1].strip().upper() if len(call.args) > 1 else "1"
        if element not in ("SIGMA", "SIGMAA"):
            element = str(int(number(element, 1, self.ELEMENTS)))
        if meaning == "none":
            self.items.pop(call.suffix, None)
        else:
            self.items[call.suffix] = (word, meaning, element)
        return None

    def op_numeric_values(self, call: Call, cmd: Command) -> Reply:
        wanted = [int(self.in_range(call.args[0], cmd))] if call.args else range(1, int(self.value("item_count")) + 1)
        values = self._quantities({self.items[k][1] for k in wanted if k in self.items})
        return ",".join(self.number_reply(values[self.items[k][1]], cmd) if k in self.items else NO_DATA
                        for k in wanted)

    # ------------------------------------------------------------------ quantities named in the query
    def op_measure_items(self, call: Call, cmd: Command) -> Reply:
        meanings = [self.choose(arg, cmd)[1] for arg in call.args]
        values = self._quantities(set(meanings))
        return ",".join(self.number_reply(values[m], cmd) for m in meanings)

    # ------------------------------------------------------------------ energy and peak by command
    def op_integrate_start(self, call: Call, cmd: Command) -> Reply:
        self.monitor.start()
        return None

    def op_integrate_stop(self, call: Call, cmd: Command) -> Reply:
        self.monitor.stop()
        return None

    def op_integrate_reset(self, call: Call, cmd: Command) -> Reply:
        self.monitor.reset()
        return None

    def op_integration_state(self, call: Call, cmd: Command) -> Reply:
        return self.monitor.integration

    def op_peak_hold(self, call: Call, cmd: Command) -> Reply:
        if call.query:
            return cmd.words[self.monitor.hold_since is not None]
        self.monitor.hold(boolean(call.args[0]))
        return None

    # ------------------------------------------------------------------ energy and inrush by trigger mode
    def op_trigger_mode(self, call: Call, cmd: Command) -> Reply:
        if call.query:
            words = self.command_with("trigger_mode", "choices").choices
            return short_form(next((w for w, m in words.items() if m == self.trigger_mode), self.trigger_mode))
        _, mode = self.choose(call.args[0], cmd)
        if mode != self.trigger_mode:
            self._trigger(False)
            self.trigger_mode = mode
        return None

    def op_trigger(self, call: Call, cmd: Command) -> Reply:
        if call.query:
            return cmd.words[self.trigger_on]
        self._trigger(boolean(call.args[0]))
        return None

    def _trigger(self, on: bool) -> None:
        if on:
            if self.trigger_mode == "integration":
                self.monitor.stop()
                self.monitor.reset()
                self.monitor.start()
            elif self.trigger_mode == "inrush":
                self.monitor.hold(True)
                self.inrush_armed = True
        elif self.trigger_on and self.trigger_mode == "integration":
            self.monitor.stop()
        self.trigger_on = on

