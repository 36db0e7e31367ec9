"""AC power analyzer on a PDU or shelf feed: V, A, W and power factor in one consistent reading.

Two shapes of the same logic, chosen by the dialect: models with a numeric item list
(Yokogawa WT) are configured once and answer every value in one query, so V, A, W and PF come
from the same update interval; models without one (Chroma 66205) are asked value by value.
"""

from __future__ import annotations

from harness.drivers.visa.link import InstrumentReplyError, ScpiLink
from harness.drivers.visa.properties import Dialect, VisaInstrument

FIELDS = ("V", "A", "W", "PF")

_WT_ITEMS = (("URMS", "V"), ("IRMS", "A"), ("P", "W"), ("LAMBDA", "PF"))

DIALECTS: dict[str, Dialect] = {
    # Yokogawa WT5000 (WT1800E/WT3000 use the same numeric subsystem). Element 1.
    "yokogawa_wt5000": Dialect(
        name="yokogawa_wt5000",
        commands={"values?": ":NUMeric:NORMal:VALue?"},
        setup=(
            ":NUMeric:FORMat ASCii",
            f":NUMeric:NORMal:NUMBer {len(_WT_ITEMS)}",
            *(f":NUMeric:NORMal:ITEM{i} {func},1" for i, (func, _) in enumerate(_WT_ITEMS, start=1)),
            ":COMMunicate:HEADer OFF",
        ),
        fields=tuple(name for _, name in _WT_ITEMS),
    ),
    # Chroma 66205 digital power meter: one MEAS? per quantity. [sketch; verify with the manual]
    "chroma66205": Dialect(
        name="chroma66205",
        commands={"V?": "MEAS? V", "A?": "MEAS? I", "W?": "MEAS? W", "PF?": "MEAS? PF"},
        fields=FIELDS,
    ),
}


class PowerAnalyzer(VisaInstrument):
    """A power analyzer whose ``measure()`` returns {"V", "A", "W", "PF"}."""

    DIALECTS = DIALECTS

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
                raise InstrumentReplyError(self.name, command,
                                           f"{len(values)} values, expected {len(self.dialect.fields)}")
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
