"""AC power analyzer on a PDU or shelf feed: V, A, W and power factor in one consistent reading,
energy integration and inrush capture.

Two shapes of the same logic, chosen by the dialect (``dialects/*.yaml``): models with a numeric item list
(Yokogawa WT) are configured once and answer every value in one query, so V, A, W and PF come
from the same update interval; models without one (Chroma 66205) are asked value by value.

Energy (``start_energy`` / ``stop_energy`` / ``energy_wh``): WT5000 ``:INTEGrate:STOP;RESet;STARt``
and numeric item 5 = ``WP`` (Wh, element 1); Chroma 66205 ``TRIG:MODE INTEGRATION`` + ``TRIG ON``
(a new integration), ``TRIG OFF``, ``MEAS? WH``.

Inrush (``arm_inrush`` / ``inrush_peak_a``): Chroma 66205 has an inrush trigger mode
(``TRIG:MODE INRUSH``, ``TRIG ON``, ``FETCH? IS``). The WT5000 has none; the choice made here is
its peak current item 6 = ``IPPeak`` (I+pk, instantaneous) under max hold, restarted by
``:MEASure:MHOLd OFF`` then ``ON`` [A: verify the hold command on the WT5000]. Max hold keeps the
highest peak since arming, which is the inrush if the outlets close after arming. On the Chroma,
one trigger mode runs at a time: arming inrush ends a running energy integration (its value is kept).
"""

from __future__ import annotations

from harness.drivers.visa.link import InstrumentReplyError, ScpiLink
from harness.drivers.visa.properties import VisaInstrument

FIELDS = ("V", "A", "W", "PF")


class PowerAnalyzer(VisaInstrument):
    """A power analyzer whose ``measure()`` returns {"V", "A", "W", "PF"}."""

    ROLE = "power_analyzer"

    def __init__(self, link: ScpiLink, dialect: str = "yokogawa_wt5000") -> None:
        super().__init__(link, dialect)
        self._configured = False

    def configure(self) -> None:
        """Send the dialect's setup (numeric format, item list, no headers). Runs once on its own
        before the first ``measure()``; call it again after an instrument reset."""
        for command in self.dialect.setup:
            self.link.write(command)
        self._configured = True

    def measure(self) -> dict[str, float]:
        """One reading: volts, amps, watts, power factor. A no-data or out-of-range value, a
        missing one, or a power factor outside [-1, 1] is an InstrumentReplyError."""
        if not self._configured:
            self.configure()
        if self.dialect.supports("values?"):
            command = self.dialect.command("values?")
            values = self.link.query_floats(command)
            if len(values) != len(self.dialect.fields):
                raise self.link.distrust(command, f"{len(values)} values, expected {len(self.dialect.fields)}")
            reading = dict(zip(self.dialect.fields, values, strict=True))
        else:
            reading = {}
            for key in self.dialect.fields:
                command = self.dialect.command(key + "?")
                reading[key] = self.link.query_float(command)
        if not -1.0 <= reading["PF"] <= 1.0:
            pf_command = command if self.dialect.supports("values?") else self.dialect.command("PF?")
            raise InstrumentReplyError(self.name, pf_command, f"power factor {reading['PF']} outside -1..1")
        return {key: reading[key] for key in FIELDS}

    def start_energy(self) -> None:
        """Start a new energy integration from zero (a running one is stopped and discarded)."""
        if not self._configured:
            self.configure()
        self.run_action("energy_start")

    def stop_energy(self) -> None:
        """Stop the integration; :meth:`energy_wh` keeps answering its value."""
        self.run_action("energy_stop")

    def energy_wh(self) -> float:
        """Energy integrated since :meth:`start_energy`, Wh (negative or no-data -> InstrumentReplyError)."""
        if not self._configured:
            self.configure()
        command = self.dialect.command("energy?")
        value = self.link.query_float(command)
        if value < 0:
            raise InstrumentReplyError(self.name, command, f"negative energy {value} Wh")
        return value

    def arm_inrush(self) -> None:
        """Start capturing the peak current afresh; switch the outlets on after this."""
        if not self._configured:
            self.configure()
        self.run_action("inrush_arm")

    def inrush_peak_a(self) -> float:
        """The highest instantaneous current since :meth:`arm_inrush`, A."""
        command = self.dialect.command("inrush?")
        value = self.link.query_float(command)
        if value < 0:
            raise InstrumentReplyError(self.name, command, f"negative peak current {value} A")
        return value
