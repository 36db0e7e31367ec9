"""Simulated programmable AC sources: Chroma 61800 and Keysight AC6800, one shared model.

What the source supplies (documented choice): a bench copy of one of the rack's PSUs (the
profile entry's ``measures``, by default the twin's first PSU, ``shelf1.psu1``), drawing the input
power that PSU draws in the twin at that moment. A PSU is a constant-power load, so the current
scales inversely with the source voltage: A = W / (V x PF), PF being that of the PDU feeding the
PSU in the profile. Below :data:`PSU_DROPOUT_V` the PSU drops out and draws nothing; with the
output off everything reads 0. Readings are therefore coherent (W = V x A x PF) and as
deterministic as the twin.

A protection trip (injected) switches the output off, sets bit OCP of ``STAT:QUES:COND?`` and
queues an error; ``OUTP ON`` is refused (-221) until ``OUTP:PROT:CLE``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from harness.sim.visa.device import Call, Reply, ScpiDevice, Wiring, scpi
from harness.sim.visa.parser import ScpiFault, boolean, number

if TYPE_CHECKING:
    from harness.sim.physics import RackTwin

PSU_DROPOUT_V = 90.0  # [A] a universal-input PSU stops drawing below this
PROTECTION_ERROR = 301


class SimAcSource(ScpiDevice):
    """State and load model shared by the AC source personalities."""

    MAX_V = 300.0
    FREQ_RANGE = (15.0, 1000.0)
    PROTECTION_BITS: ClassVar[dict[str, int]] = {"OVP": 1, "OCP": 2, "OPP": 8, "OTP": 16}

    def __init__(self, twin: RackTwin, wiring: Wiring, idn: str) -> None:
        psu = wiring.measures or next(iter(twin.psus))
        if psu not in twin.psus:
            raise ValueError(f"AC source supplies unknown PSU {psu!r} (e.g. {next(iter(twin.psus))})")
        super().__init__(idn)
        self.twin, self.psu = twin, psu
        feed = twin.feeds.get(psu)
        self.pf = twin.pdu_specs[feed[0]].power_factor if feed else 0.98
        self.protection = 0
        self.reset()

    def reset(self) -> None:
        self.volts, self.hz, self.output = 0.0, 50.0, False

    def set_output(self, on: bool) -> None:
        if on and self.protection:
            raise ScpiFault(-221, "protection tripped; clear it before switching the output on")
        self.output = on

    def trip(self, **params: Any) -> None:
        kind = str(params.pop("kind", "OCP")).upper()
        if params:
            raise ValueError(f"protection_trip takes only kind=, got {sorted(params)}")
        if kind not in self.PROTECTION_BITS:
            raise ValueError(f"{type(self).__name__}: no {kind} protection (known: {', '.join(self.PROTECTION_BITS)})")
        self.protection |= self.PROTECTION_BITS[kind]
        self.output = False
        self.push_error(ScpiFault(PROTECTION_ERROR, f"{kind}, output off"))

    def readings(self) -> dict[str, float]:
        """{"V", "A", "W", "PF", "Hz"} at the output terminals."""
        if not self.output:
            return {"V": 0.0, "A": 0.0, "W": 0.0, "PF": 0.0, "Hz": 0.0}
        watts = self.twin.psu_reading(self.psu)["input_w"] if self.volts >= PSU_DROPOUT_V else 0.0
        amps = watts / (self.volts * self.pf) if watts else 0.0
        return {"V": self.volts, "A": amps, "W": watts, "PF": self.pf if watts else 0.0, "Hz": self.hz}

    def _set_volts(self, call: Call) -> None:
        self.volts = number(call.args[0], 0.0, self.MAX_V)

    def _set_hz(self, call: Call) -> None:
        self.hz = number(call.args[0], *self.FREQ_RANGE)


class Chroma61800(SimAcSource):
    """Chroma 61800 regenerative grid simulator, outputs coupled (one phase modelled).
    Forms from the 61800/61600 manuals: ``VOLT:AC``, ``FREQ``, ``OUTP``, ``FETC|MEAS:VOLT:ACDC?``,
    ``:CURR:AC?``, ``:POW:AC[:REAL]?``, ``:POW:AC:PFAC?``, ``:FREQ?``."""

    def __init__(self, twin: RackTwin, wiring: Wiring) -> None:
        super().__init__(twin, wiring, f"CHROMA,61845,{wiring.serial},1.02")

    @scpi("[SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude]:AC")
    def _volt(self, call: Call) -> Reply:
        self._set_volts(call)
        return None

    @scpi("[SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude]:AC?")
    def _volt_q(self, call: Call) -> Reply:
        return f"{self.volts:.2f}"

    @scpi("[SOURce:]FREQuency[:IMMediate]")
    def _freq(self, call: Call) -> Reply:
        self._set_hz(call)
        return None

    @scpi("[SOURce:]FREQuency[:IMMediate]?")
    def _freq_q(self, call: Call) -> Reply:
        return f"{self.hz:.2f}"

    @scpi("OUTPut[:STATe]")
    def _outp(self, call: Call) -> Reply:
        self.set_output(boolean(call.args[0]))
        return None

    @scpi("OUTPut[:STATe]?")
    def _outp_q(self, call: Call) -> Reply:
        return "ON" if self.output else "OFF"

    @scpi("OUTPut:PROTection:CLEar", args=0)
    def _prot_clear(self, call: Call) -> Reply:
        self.protection = 0
        return None

    @scpi("STATus:QUEStionable:CONDition?")
    def _ques(self, call: Call) -> Reply:
        return str(self.protection)

    @scpi("MEASure[:SCALar]:VOLTage:ACDC?", "FETCh[:SCALar]:VOLTage:ACDC?", measurement=True)
    def _meas_v(self, call: Call) -> Reply:
        return f"{self.readings()['V']:.3f}"

    @scpi("MEASure[:SCALar]:CURRent:AC?", "FETCh[:SCALar]:CURRent:AC?", measurement=True)
    def _meas_i(self, call: Call) -> Reply:
        return f"{self.readings()['A']:.4f}"

    @scpi("MEASure[:SCALar]:POWer:AC[:REAL]?", "FETCh[:SCALar]:POWer:AC[:REAL]?", measurement=True)
    def _meas_p(self, call: Call) -> Reply:
        return f"{self.readings()['W']:.2f}"

    @scpi("MEASure[:SCALar]:POWer:AC:PFACtor?", "FETCh[:SCALar]:POWer:AC:PFACtor?", measurement=True)
    def _meas_pf(self, call: Call) -> Reply:
        return f"{self.readings()['PF']:.4f}"

    @scpi("MEASure[:SCALar]:FREQuency?", "FETCh[:SCALar]:FREQuency?", measurement=True)
    def _meas_f(self, call: Call) -> Reply:
        return f"{self.readings()['Hz']:.2f}"


class KeysightAC6800(SimAcSource):
    """Keysight AC6800B (AC6803B) basic AC source: ``VOLT``, ``FREQ``, ``OUTP``,
    ``MEAS:VOLT[:AC]?``, ``MEAS:CURR[:AC]?``, ``MEAS:POW[:AC][:REAL]?``, ``MEAS:POW[:AC]:PFAC?``,
    ``MEAS:FREQ?`` [standard Keysight forms; verify against the AC6800B guide]."""

    MAX_V = 310.0
    FREQ_RANGE = (40.0, 500.0)

    def __init__(self, twin: RackTwin, wiring: Wiring) -> None:
        super().__init__(twin, wiring, f"Keysight Technologies,AC6803B,{wiring.serial},A.01.02")

    @scpi("[SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude]")
    def _volt(self, call: Call) -> Reply:
        self._set_volts(call)
        return None

    @scpi("[SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude]?")
    def _volt_q(self, call: Call) -> Reply:
        return f"{self.volts:+.5E}"

    @scpi("[SOURce:]FREQuency[:CW]")
    def _freq(self, call: Call) -> Reply:
        self._set_hz(call)
        return None

    @scpi("[SOURce:]FREQuency[:CW]?")
    def _freq_q(self, call: Call) -> Reply:
        return f"{self.hz:+.5E}"

    @scpi("OUTPut[:STATe]")
    def _outp(self, call: Call) -> Reply:
        self.set_output(boolean(call.args[0]))
        return None

    @scpi("OUTPut[:STATe]?")
    def _outp_q(self, call: Call) -> Reply:
        return "1" if self.output else "0"

    @scpi("OUTPut:PROTection:CLEar", args=0)
    def _prot_clear(self, call: Call) -> Reply:
        self.protection = 0
        return None

    @scpi("STATus:QUEStionable:CONDition?")
    def _ques(self, call: Call) -> Reply:
        return str(self.protection)

    @scpi("MEASure[:SCALar]:VOLTage[:AC]?", "FETCh[:SCALar]:VOLTage[:AC]?", measurement=True)
    def _meas_v(self, call: Call) -> Reply:
        return f"{self.readings()['V']:+.5E}"

    @scpi("MEASure[:SCALar]:CURRent[:AC]?", "FETCh[:SCALar]:CURRent[:AC]?", measurement=True)
    def _meas_i(self, call: Call) -> Reply:
        return f"{self.readings()['A']:+.5E}"

    @scpi("MEASure[:SCALar]:POWer[:AC][:REAL]?", "FETCh[:SCALar]:POWer[:AC][:REAL]?", measurement=True)
    def _meas_p(self, call: Call) -> Reply:
        return f"{self.readings()['W']:+.5E}"

    @scpi("MEASure[:SCALar]:POWer[:AC]:PFACtor?", "FETCh[:SCALar]:POWer[:AC]:PFACtor?", measurement=True)
    def _meas_pf(self, call: Call) -> Reply:
        return f"{self.readings()['PF']:+.5E}"

    @scpi("MEASure[:SCALar]:FREQuency?", "FETCh[:SCALar]:FREQuency?", measurement=True)
    def _meas_f(self, call: Call) -> Reply:
        return f"{self.readings()['Hz']:+.5E}"
