"""Simulated instrument personalities: each model is a table of SCPI declarations over the twin.

Loads live here (Chroma 63600, Keysight EL30000); analyzers in :mod:`harness.sim.visa.analyzers`,
the DAQ in :mod:`harness.sim.visa.daq`, AC sources in :mod:`harness.sim.visa.ac_source`. Another
model is another :class:`ScpiDevice` subclass registered in :data:`MODELS`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from harness.sim.visa.ac_source import Chroma61800, KeysightAC6800
from harness.sim.visa.analyzers import Chroma66205, YokogawaWT5000
from harness.sim.visa.daq import KeysightDAQ970A
from harness.sim.visa.device import NO_DATA, Call, Reply, ScpiDevice, Wiring, scpi
from harness.sim.visa.parser import ScpiFault, boolean, choice, number

if TYPE_CHECKING:
    from harness.sim.physics import RackTwin

__all__ = [
    "MODELS",
    "NO_DATA",
    "Chroma61800",
    "Chroma63600Load",
    "Chroma66205",
    "KeysightAC6800",
    "KeysightDAQ970A",
    "KeysightEL30000Load",
    "SimLoad",
    "Wiring",
    "YokogawaWT5000",
]

#: Device-specific error code a tripped protection queues (positive: SCPI leaves them to the maker).
PROTECTION_ERROR = 301


class SimLoad(ScpiDevice):
    """What the load personalities share: CC/CP levels pushed to the twin, the input, and a
    latched protection status.

    The twin models the load as a current sink. CP is therefore simulated by converting the power
    level to a current with the busbar voltage *at the moment* the level, the mode or the input
    changes; a later busbar change does not re-regulate as a real CP load would.

    A protection trip (injected) forces the input off, sets its bit and queues an error; the input
    cannot be switched on again (-221) until the model's protection-clear command.
    """

    VOLTS_FOR_POWER_RATING = 60.0  # [A] max CP level = max_current_a x 60 V (no rating in the profile)
    DEFAULT_MAX_CURRENT_A = 60.0
    #: protection name -> bit value in the model's protection status register
    PROTECTION_BITS: ClassVar[dict[str, int]] = {}

    def __init__(self, twin: RackTwin, wiring: Wiring, idn: str) -> None:
        super().__init__(idn)
        self.twin = twin
        self.max_current_a = wiring.max_current_a or self.DEFAULT_MAX_CURRENT_A
        self.max_power_w = self.max_current_a * self.VOLTS_FOR_POWER_RATING
        self.cp_mode = False
        self.cc = {1: twin.eload_current_a, 2: 0.0}
        self.cp = {1: 0.0, 2: 0.0}
        self.load_on = twin.eload_on
        self.protection = 0

    def reset(self) -> None:
        """*RST: CC, levels 0, input off. The protection latch survives a reset."""
        self.cp_mode, self.cc, self.cp, self.load_on = False, {1: 0.0, 2: 0.0}, {1: 0.0, 2: 0.0}, False
        self._apply()

    def _apply(self) -> None:
        """Push the present setting to the twin (CP: converted at today's busbar voltage)."""
        if not self.cp_mode:
            amps = self.cc[1]
        else:
            volts = self.twin.busbar_v()
            amps = min(self.max_current_a, self.cp[1] / volts) if volts > 1.0 else 0.0
        self.twin.set_eload(current_a=amps, input_on=self.load_on)

    def set_input(self, on: bool) -> None:
        if on and self.protection:
            raise ScpiFault(-221, "protection tripped; clear it before switching the input on")
        self.load_on = on
        self._apply()

    def trip(self, **params: Any) -> None:
        """Protection trip: ``kind`` (default OCP) must be one of the model's protections."""
        kind = str(params.pop("kind", "OCP")).upper()
        if params:
            raise ValueError(f"protection_trip takes only kind=, got {sorted(params)}")
        if kind not in self.PROTECTION_BITS:
            raise ValueError(f"{type(self).__name__}: no {kind} protection (known: {', '.join(self.PROTECTION_BITS)})")
        self.protection |= self.PROTECTION_BITS[kind]
        self.load_on = False
        self._apply()
        self.push_error(ScpiFault(PROTECTION_ERROR, f"{kind}, input off"))

    def clear_protection(self) -> None:
        self.protection = 0

    def readings(self) -> tuple[float, float, float]:
        return self.twin.eload_reading()


class Chroma63600Load(SimLoad):
    """A Chroma 63600 mainframe with one load channel on the busbar: static CC and CP levels.

    ``LOAD:PROT?`` bits (UM-63600): b0 OTP, b1 OVP, b2 OCP, b3 OPP, b4 reverse voltage;
    ``LOAD:PROT:CLE`` clears the latch.
    """

    MODEL = "63600-2"
    MODES = ("CCL", "CCM", "CCH", "CPL", "CPM", "CPH")
    PROTECTION_BITS: ClassVar[dict[str, int]] = {"OTP": 1, "OVP": 2, "OCP": 4, "OPP": 8, "REV": 16}

    def __init__(self, twin: RackTwin, wiring: Wiring) -> None:
        super().__init__(twin, wiring, f"CHROMA,{self.MODEL},{wiring.serial},1.20")
        self.mode = "CCH"

    def reset(self) -> None:
        self.mode = "CCH"
        super().reset()

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
        self.mode, self.cp_mode = mode, mode.startswith("CP")
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
        self.set_input(boolean(call.args[0]))
        return None

    @scpi("LOAD[:STATe]?")
    def _load_q(self, call: Call) -> Reply:
        return "ON" if self.load_on else "OFF"

    @scpi("LOAD:PROTection?", "FETCh:STATus?")
    def _prot_q(self, call: Call) -> Reply:
        return str(self.protection)

    @scpi("LOAD:PROTection:CLEar", args=0)
    def _prot_clear(self, call: Call) -> Reply:
        self.clear_protection()
        return None

    @scpi("CHANnel[:LOAD]")
    def _chan(self, call: Call) -> Reply:
        number(call.args[0], 1, 1)  # one simulated channel
        return None

    @scpi("CHANnel[:LOAD]?")
    def _chan_q(self, call: Call) -> Reply:
        return "1"

    @scpi("MEASure:VOLTage?", "FETCh:VOLTage?", measurement=True)
    def _meas_v(self, call: Call) -> Reply:
        return f"{self.readings()[0]:.4f}"

    @scpi("MEASure:CURRent?", "FETCh:CURRent?", measurement=True)
    def _meas_i(self, call: Call) -> Reply:
        return f"{self.readings()[1]:.4f}"

    @scpi("MEASure:POWer?", "FETCh:POWer?", measurement=True)
    def _meas_p(self, call: Call) -> Reply:
        return f"{self.readings()[2]:.3f}"


class KeysightEL30000Load(SimLoad):
    """A Keysight EL30000-class load (EL34143A) in SCPI-99 style: ``FUNC CURR|POW``, ``CURR``,
    ``POW``, ``INP``, ``MEAS:VOLT|CURR|POW?``.

    Protection [A: assumed from the Keysight DC-source family, verify against the EL30000
    programming guide]: tripped protections are bits of ``STAT:QUES:COND?`` (b0 OV, b1 OC, b3 OP,
    b4 OT) and ``INP:PROT:CLE`` clears the latch.
    """

    MODEL = "EL34143A"
    PROTECTION_BITS: ClassVar[dict[str, int]] = {"OVP": 1, "OCP": 2, "OPP": 8, "OTP": 16}

    def __init__(self, twin: RackTwin, wiring: Wiring) -> None:
        super().__init__(twin, wiring, f"Keysight Technologies,{self.MODEL},{wiring.serial},1.0.2")

    @scpi("[SOURce:]FUNCtion")
    def _func(self, call: Call) -> Reply:
        func = choice(call.args[0], ("CURRent", "POWer", "VOLTage", "RESistance"))
        if func not in ("CURRENT", "POWER"):
            raise ScpiFault(-224, f"function {func} not simulated")
        self.cp_mode = func == "POWER"
        self._apply()
        return None

    @scpi("[SOURce:]FUNCtion?")
    def _func_q(self, call: Call) -> Reply:
        return "POW" if self.cp_mode else "CURR"

    @scpi("[SOURce:]CURRent[:LEVel][:IMMediate][:AMPLitude]")
    def _curr(self, call: Call) -> Reply:
        self.cc[1] = number(call.args[0], 0.0, self.max_current_a)
        self._apply()
        return None

    @scpi("[SOURce:]CURRent[:LEVel][:IMMediate][:AMPLitude]?")
    def _curr_q(self, call: Call) -> Reply:
        return f"{self.cc[1]:+.5E}"

    @scpi("[SOURce:]POWer[:LEVel][:IMMediate][:AMPLitude]")
    def _pow(self, call: Call) -> Reply:
        self.cp[1] = number(call.args[0], 0.0, self.max_power_w)
        self._apply()
        return None

    @scpi("[SOURce:]POWer[:LEVel][:IMMediate][:AMPLitude]?")
    def _pow_q(self, call: Call) -> Reply:
        return f"{self.cp[1]:+.5E}"

    @scpi("INPut[:STATe]")
    def _inp(self, call: Call) -> Reply:
        self.set_input(boolean(call.args[0]))
        return None

    @scpi("INPut[:STATe]?")
    def _inp_q(self, call: Call) -> Reply:
        return "1" if self.load_on else "0"

    @scpi("STATus:QUEStionable:CONDition?")
    def _ques_cond(self, call: Call) -> Reply:
        return str(self.protection)

    @scpi("INPut:PROTection:CLEar", args=0)
    def _prot_clear(self, call: Call) -> Reply:
        self.clear_protection()
        return None

    @scpi("MEASure[:SCALar]:VOLTage[:DC]?", "FETCh[:SCALar]:VOLTage[:DC]?", measurement=True)
    def _meas_v(self, call: Call) -> Reply:
        return f"{self.readings()[0]:+.5E}"

    @scpi("MEASure[:SCALar]:CURRent[:DC]?", "FETCh[:SCALar]:CURRent[:DC]?", measurement=True)
    def _meas_i(self, call: Call) -> Reply:
        return f"{self.readings()[1]:+.5E}"

    @scpi("MEASure[:SCALar]:POWer[:DC]?", "FETCh[:SCALar]:POWer[:DC]?", measurement=True)
    def _meas_p(self, call: Call) -> Reply:
        return f"{self.readings()[2]:+.5E}"


#: (role, model) -> personality class. Adding an instrument model means adding a row here.
MODELS: dict[tuple[str, str], Callable[[RackTwin, Wiring], ScpiDevice]] = {
    ("eload", "chroma63600"): Chroma63600Load,
    ("eload", "keysight_el30000"): KeysightEL30000Load,
    ("power_analyzer", "yokogawa_wt5000"): YokogawaWT5000,
    ("power_analyzer", "chroma66205"): Chroma66205,
    ("daq", "keysight_daq970a"): KeysightDAQ970A,
    ("ac_source", "chroma61800"): Chroma61800,
    ("ac_source", "keysight_ac6800"): KeysightAC6800,
}
