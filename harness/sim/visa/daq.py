"""Simulated Keysight DAQ970A with a DAQM901A-style multiplexer: type-K thermocouple scans.

Each channel is wired, per the profile's ``channels`` map, to one of the twin's thermocouple
points (:meth:`RackTwin.thermocouple_points`). A channel wired to nothing reads as an open
thermocouple: the over-range sentinel +9.91E+37, as a real scan with open-T/C detection does.

Simulated: ``CONF:TEMP TC,K,(@list)`` (also sets the scan list, as on the real one),
``ROUT:SCAN (@list)`` / ``ROUT:SCAN?`` (definite-length block) / ``ROUT:SCAN:SIZE?``, ``READ?``,
``INIT`` + ``FETC?``, ``MEAS:TEMP? TC,K,(@list)`` (configures, scans, and leaves that scan list),
``UNIT:TEMP C|F|K[,(@list)]``, ``SENS:TEMP:TRAN:TC:RJUN:TYPE INT,(@list)``. Only type K and
the internal reference junction are simulated; anything else is -224, not silently accepted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.sim.visa.device import NO_DATA, Call, Reply, ScpiDevice, Wiring, scpi
from harness.sim.visa.parser import ScpiFault, channel_list, choice

if TYPE_CHECKING:
    from harness.sim.physics import RackTwin


def _valid_channel(ch: int) -> bool:
    return 1 <= ch // 100 <= 3 and 1 <= ch % 100 <= 20  # three 20-channel DAQM901A modules


class KeysightDAQ970A(ScpiDevice):
    OWN_OVERRANGE = True  # an injected over-range may name the channels it opens

    def __init__(self, twin: RackTwin, wiring: Wiring) -> None:
        points = set(twin.thermocouple_points())
        for ch, point in wiring.channels.items():
            if not _valid_channel(ch):
                raise ValueError(f"DAQ channel {ch} does not exist (101-120, 201-220, 301-320)")
            if point not in points:
                raise ValueError(f"DAQ channel {ch}: unknown thermocouple point {point!r} (known: {', '.join(sorted(points))})")
        super().__init__(f"Keysight Technologies,DAQ970A,{wiring.serial},A.03.02-01.00-03.02-00.02-03-02")
        self.twin, self.channels = twin, dict(wiring.channels)
        self.reset()

    def reset(self) -> None:
        self.configured: set[int] = set()
        self.scan: list[int] = []
        self.unit: dict[int, str] = {}
        self.snapshot: list[str] | None = None

    def inject(self, fault: str, **params: Any) -> None:
        if fault == "overrange":
            unknown = set(params) - {"channels"}
            if unknown:
                raise ValueError(f"overrange takes only channels=, got {sorted(unknown)}")
            if "channels" in params:
                params = {"channels": {int(c) for c in params["channels"]}}
        super().inject(fault, **params)

    # ------------------------------------------------------------------ readings
    def _reading(self, ch: int, points: dict[str, float]) -> str:
        over = self.faults.get("overrange")
        if over is not None and ("channels" not in over or ch in over["channels"]):
            return NO_DATA
        point = self.channels.get(ch)
        if point is None:
            return NO_DATA  # nothing wired: an open thermocouple
        celsius = points[point]
        unit = self.unit.get(ch, "C")
        value = celsius if unit == "C" else celsius * 9 / 5 + 32 if unit == "F" else celsius + 273.15
        return f"{value:+.8E}"

    def _scan_now(self) -> list[str]:
        if not self.scan:
            raise ScpiFault(-221, "empty scan list")
        points = self.twin.thermocouple_points()
        return [self._reading(ch, points) for ch in self.scan]

    # ------------------------------------------------------------------ configuration
    def _configure(self, args: list[str]) -> list[int]:
        """``TC,K[,1[,res]],(@list)`` -> the channels, now type-K thermocouples, also the scan list."""
        if choice(args[0], ("TCouple", "DEF")) not in ("TCOUPLE", "DEF"):
            raise ScpiFault(-224, "only thermocouples are simulated")
        if args[1].strip().upper() not in ("K", "DEF"):
            raise ScpiFault(-224, f"thermocouple type {args[1].strip()[:4]!r} not simulated (K only)")
        channels = channel_list(args[-1], _valid_channel)
        self.configured.update(channels)
        self.scan, self.snapshot = channels, None
        return channels

    @scpi("CONFigure:TEMPerature", args=(3, 5))
    def _conf_temp(self, call: Call) -> Reply:
        self._configure(call.args)
        return None

    @scpi("MEASure:TEMPerature?", args=(3, 5), measurement=True)
    def _meas_temp(self, call: Call) -> Reply:
        self._configure(call.args)
        return ",".join(self._scan_now())

    @scpi("ROUTe:SCAN")
    def _scan(self, call: Call) -> Reply:
        channels = channel_list(call.args[0], _valid_channel)
        missing = [ch for ch in channels if ch not in self.configured]
        if missing:
            raise ScpiFault(-221, f"channel {missing[0]} is not configured")
        self.scan, self.snapshot = channels, None
        return None

    @scpi("ROUTe:SCAN?")
    def _scan_q(self, call: Call) -> Reply:
        data = "(@" + ",".join(map(str, self.scan)) + ")"
        return f"#{len(str(len(data)))}{len(data)}{data}"

    @scpi("ROUTe:SCAN:SIZE?")
    def _scan_size(self, call: Call) -> Reply:
        return str(len(self.scan))

    @scpi("READ?", measurement=True)
    def _read(self, call: Call) -> Reply:
        return ",".join(self._scan_now())

    @scpi("INITiate[:IMMediate]", args=0)
    def _init(self, call: Call) -> Reply:
        self.snapshot = self._scan_now()
        return None

    @scpi("FETCh?", measurement=True)
    def _fetch(self, call: Call) -> Reply:
        if self.snapshot is None:
            raise ScpiFault(-230, "no scan since INIT")
        return ",".join(self.snapshot)

    @scpi("UNIT:TEMPerature", args=(1, 2))
    def _unit(self, call: Call) -> Reply:
        unit = choice(call.args[0], ("C", "CEL", "F", "FAR", "K"))[0]
        for ch in channel_list(call.args[1], _valid_channel) if len(call.args) > 1 else sorted(self.configured):
            self.unit[ch] = unit
        return None

    @scpi("UNIT:TEMPerature?", args=(0, 1))
    def _unit_q(self, call: Call) -> Reply:
        channels = channel_list(call.args[0], _valid_channel) if call.args else self.scan[:1]
        return ",".join(self.unit.get(ch, "C") for ch in channels) or "C"

    @scpi("[SENSe:]TEMPerature:TRANsducer:TCouple:RJUNction:TYPE", args=(1, 2))
    def _rjun(self, call: Call) -> Reply:
        if choice(call.args[0], ("INTernal", "EXTernal", "FIXed")) != "INTERNAL":
            raise ScpiFault(-224, "only the internal reference junction is simulated")
        if len(call.args) > 1:
            channel_list(call.args[1], _valid_channel)
        return None

    @scpi("SYSTem:CTYPe?", args=1)
    def _ctype(self, call: Call) -> Reply:
        slot = call.args[0].strip()
        if slot not in ("100", "200", "300"):
            raise ScpiFault(-222, f"slot {slot[:5]}")
        return "Keysight Technologies,DAQM901A,0,1.0"
