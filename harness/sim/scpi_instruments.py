"""Simulated instrument personalities: each model is a table of SCPI declarations over the twin.

Only the instruments of the shipped profiles are modelled (Chroma 63600 load, Yokogawa WT5000
analyzer); another model is another :class:`ScpiDevice` subclass registered in :data:`MODELS`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.sim.scpi_device import Call, Reply, ScpiDevice, scpi
from harness.sim.scpi_parser import ScpiFault, boolean, choice, number

if TYPE_CHECKING:
    from harness.sim.twin import RackTwin

NO_DATA = "+9.91E+37"  # what an SCPI instrument sends for "no data / over range" [A: verify per model]


@dataclass(frozen=True)
class Wiring:
    """What the station says about one simulated instrument: its serial and what it is wired to."""

    serial: str
    max_current_a: float | None = None  # loads
    measures: str | None = None  # analyzers: the PDU whose inlet element 1 sees


class Chroma63600Load(ScpiDevice):
    """A Chroma 63600 mainframe with one load channel on the busbar: static CC and CP levels.

    The twin models the load as a current sink. CP is therefore simulated by converting the power
    level to a current with the busbar voltage *at the moment* the level, the mode or the input
    changes; a later busbar change does not re-regulate as a real CP load would.
    """

    MODEL = "63600-2"
    MODES = ("CCL", "CCM", "CCH", "CPL", "CPM", "CPH")
    VOLTS_FOR_POWER_RATING = 60.0  # [A] max CP level = max_current_a x 60 V (no rating in the profile)

    DEFAULT_MAX_CURRENT_A = 60.0

    def __init__(self, twin: RackTwin, wiring: Wiring) -> None:
        super().__init__(f"CHROMA,{self.MODEL},{wiring.serial},1.20")
        self.twin = twin
        self.max_current_a = wiring.max_current_a or self.DEFAULT_MAX_CURRENT_A
        self.max_power_w = self.max_current_a * self.VOLTS_FOR_POWER_RATING
        self.mode = "CCH"
        self.cc = {1: twin.eload_current_a, 2: 0.0}
        self.cp = {1: 0.0, 2: 0.0}
        self.load_on = twin.eload_on
        self.protection = 0

    def reset(self) -> None:
        self.mode, self.cc, self.cp, self.load_on, self.protection = "CCH", {1: 0.0, 2: 0.0}, {1: 0.0, 2: 0.0}, False, 0
        self._apply()

    def _apply(self) -> None:
        """Push the present setting to the twin (CP: converted at today's busbar voltage)."""
        if self.mode.startswith("CC"):
            amps = self.cc[1]
        else:
            volts = self.twin.busbar_v()
            amps = min(self.max_current_a, self.cp[1] / volts) if volts > 1.0 else 0.0
        self.twin.set_eload(current_a=amps, input_on=self.load_on)

    @staticmethod
    def _level(call: Call) -> int:
        if call.suffix not in (1, 2):
            raise ScpiFault(-114, call.header)
        return call.suffix

    @scpi("MODE")
    def _mode(self, call: Call) -> Reply:
        mode = call.args[0].strip().upper()
        if mode not in self.MODES:
            raise ScpiFault(-224, f"mode {mode[:10]} not simulated")
        self.mode = mode
        self._apply()
        return None

    @scpi("MODE?")
    def _mode_q(self, call: Call) -> Reply:
        return self.mode

    @scpi("CURRent:STATic:L#")
    def _curr(self, call: Call) -> Reply:
        self.cc[self._level(call)] = number(call.args[0], 0.0, self.max_current_a)
        self._apply()
        return None

    @scpi("CURRent:STATic:L#?")
    def _curr_q(self, call: Call) -> Reply:
        return f"{self.cc[self._level(call)]:.4f}"

    @scpi("POWer:STATic:L#")
    def _pow(self, call: Call) -> Reply:
        self.cp[self._level(call)] = number(call.args[0], 0.0, self.max_power_w)
        self._apply()
        return None

    @scpi("POWer:STATic:L#?")
    def _pow_q(self, call: Call) -> Reply:
        return f"{self.cp[self._level(call)]:.3f}"

    @scpi("LOAD[:STATe]")
    def _load(self, call: Call) -> Reply:
        self.load_on = boolean(call.args[0])
        self._apply()
        return None

    @scpi("LOAD[:STATe]?")
    def _load_q(self, call: Call) -> Reply:
        return "ON" if self.load_on else "OFF"

    @scpi("LOAD:PROTection?", "FETCh:STATus?")
    def _prot_q(self, call: Call) -> Reply:
        return str(self.protection)

    @scpi("LOAD:PROTection:CLEar", args=0)
    def _prot_clear(self, call: Call) -> Reply:
        self.protection = 0
        return None

    @scpi("CHANnel[:LOAD]")
    def _chan(self, call: Call) -> Reply:
        number(call.args[0], 1, 1)  # one simulated channel
        return None

    @scpi("CHANnel[:LOAD]?")
    def _chan_q(self, call: Call) -> Reply:
        return "1"

    @scpi("MEASure:VOLTage?", "FETCh:VOLTage?")
    def _meas_v(self, call: Call) -> Reply:
        return f"{self.twin.eload_reading()[0]:.4f}"

    @scpi("MEASure:CURRent?", "FETCh:CURRent?")
    def _meas_i(self, call: Call) -> Reply:
        return f"{self.twin.eload_reading()[1]:.4f}"

    @scpi("MEASure:POWer?", "FETCh:POWer?")
    def _meas_p(self, call: Call) -> Reply:
        return f"{self.twin.eload_reading()[2]:.3f}"


def _apparent(r: dict[str, float]) -> float:
    return r["W"] / r["PF"] if r["PF"] else 0.0


#: WT5000 numeric functions the simulator computes from the twin's analyzer reading.
WT_FUNCTIONS: dict[str, Callable[[dict[str, float]], float]] = {
    "URMS": lambda r: r["V"],
    "IRMS": lambda r: r["A"],
    "P": lambda r: r["W"],
    "LAMBDA": lambda r: r["PF"],
    "S": _apparent,
    "Q": lambda r: math.sqrt(max(0.0, _apparent(r) ** 2 - r["W"] ** 2)),
}


class YokogawaWT5000(ScpiDevice):
    """A Yokogawa WT5000 whose element 1 (and SIGMA) is wired to one PDU inlet.

    Numeric items default to NONE after *RST, so an analyzer nobody configured answers the
    no-data value, as a mis-set real one would. Only ASCII numeric format is simulated.
    """

    ELEMENTS = 1
    MAX_ITEMS = 255

    def __init__(self, twin: RackTwin, wiring: Wiring) -> None:
        if not wiring.measures:
            raise ValueError("a simulated power analyzer needs `measures` (the PDU it is wired to)")
        super().__init__(f"YOKOGAWA,WT5000,{wiring.serial},F1.01")
        self.twin, self.measures = twin, wiring.measures
        self.reset()

    def reset(self) -> None:
        self.number = 15
        self.items: dict[int, tuple[str, str]] = {}
        self.header = False

    def _item(self, call: Call) -> int:
        if not 1 <= call.suffix <= self.MAX_ITEMS:
            raise ScpiFault(-114, call.header)
        return call.suffix

    @scpi(":NUMeric:FORMat")
    def _format(self, call: Call) -> Reply:
        if choice(call.args[0], ("ASCii", "FLOat")) != "ASCII":
            raise ScpiFault(-221, "only ASCii is simulated")
        return None

    @scpi(":NUMeric:FORMat?")
    def _format_q(self, call: Call) -> Reply:
        return "ASCII"

    @scpi(":NUMeric[:NORMal]:NUMBer")
    def _number(self, call: Call) -> Reply:
        self.number = int(number(call.args[0], 1, self.MAX_ITEMS))
        return None

    @scpi(":NUMeric[:NORMal]:NUMBer?")
    def _number_q(self, call: Call) -> Reply:
        return str(self.number)

    @scpi(":NUMeric[:NORMal]:ITEM#", args=(1, 2))
    def _set_item(self, call: Call) -> Reply:
        k = self._item(call)
        func = choice(call.args[0], ("NONE", *WT_FUNCTIONS))
        element = call.args[1].strip().upper() if len(call.args) > 1 else "1"
        if element not in ("SIGMA", "SIGMAA"):
            element = str(int(number(element, 1, self.ELEMENTS)))
        if func == "NONE":
            self.items.pop(k, None)
        else:
            self.items[k] = (func, element)
        return None

    @scpi(":NUMeric[:NORMal]:ITEM#?")
    def _item_q(self, call: Call) -> Reply:
        func, element = self.items.get(self._item(call), ("NONE", ""))
        return f"{func},{element}" if element else func

    @scpi(":NUMeric[:NORMal]:VALue?", args=(0, 1))
    def _value(self, call: Call) -> Reply:
        reading = self.twin.analyzer_reading(self.measures)
        wanted = [int(number(call.args[0], 1, self.MAX_ITEMS))] if call.args else range(1, self.number + 1)
        out = []
        for k in wanted:
            item = self.items.get(k)
            out.append(f"{WT_FUNCTIONS[item[0]](reading):+.5E}" if item else NO_DATA)
        return ",".join(out)

    @scpi(":COMMunicate:HEADer")
    def _header(self, call: Call) -> Reply:
        self.header = boolean(call.args[0])
        return None

    @scpi(":COMMunicate:HEADer?")
    def _header_q(self, call: Call) -> Reply:
        return "1" if self.header else "0"


#: (role, model) -> personality class. Adding an instrument model means adding a row here.
MODELS: dict[tuple[str, str], Callable[[RackTwin, Wiring], ScpiDevice]] = {
    ("eload", "chroma63600"): Chroma63600Load,
    ("power_analyzer", "yokogawa_wt5000"): YokogawaWT5000,
}
