"""The thermocouple-DAQ role: scans of type-K thermocouples wired to the twin's measurement points.
Model spellings and the multiplexer layout come from the dialect (keysight_daq970a).

Each channel is wired, per the profile's ``channels`` map, to one of the twin's thermocouple points
(:meth:`RackTwin.thermocouple_points`). A channel wired to nothing reads as an open thermocouple: the
over-range sentinel +9.91E+37, as a real scan with open-T/C detection does. Configuring a channel
also makes it the scan list, and a one-shot measurement leaves its channels as the scan list (as on
a DAQ970A). Only type K and the internal reference junction are simulated; anything else is -224,
not silently accepted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from harness.drivers.visa.dialect import Command, Dialect, Multiplexer
from harness.sim.visa.device import Call, Reply, Wiring
from harness.sim.visa.parser import ScpiFault, channel_list, choice
from harness.sim.visa.personalities.base import TablePersonality

if TYPE_CHECKING:
    from harness.sim.physics import RackTwin


class DaqPersonality(TablePersonality):
    """A scanning DAQ with type-K thermocouples on its multiplexer channels."""

    ROLE = "daq"
    OWN_OVERRANGE = True  # an injected over-range may name the channels it opens
    NEEDS: ClassVar[dict[str, tuple[str, ...]]] = {
        "read?": ("format",), "measure?": ("format",), "fetch?": ("format",), "unit": ("choices",),
        "reference": ("choices",), "card_type?": ("reply",),
    }
    MEANINGS: ClassVar[dict[str, frozenset[str]]] = {"unit": frozenset({"C", "F", "K"}),
                                                     "reference": frozenset({"internal"})}

    def __init__(self, twin: RackTwin, wiring: Wiring, dialect: Dialect) -> None:
        if dialect.multiplexer is None:
            raise dialect.error("a simulated DAQ needs its multiplexer layout", "multiplexer")
        self.mux: Multiplexer = dialect.multiplexer
        points = set(twin.thermocouple_points())
        for ch, point in wiring.channels.items():
            if not self.mux.valid(ch):
                raise ValueError(f"DAQ channel {ch} does not exist ({self._layout()})")
            if point not in points:
                raise ValueError(f"DAQ channel {ch}: unknown thermocouple point {point!r} "
                                 f"(known: {', '.join(sorted(points))})")
        super().__init__(dialect, wiring.serial)
        self.twin, self.channels = twin, dict(wiring.channels)
        self.reset()

    def _layout(self) -> str:
        return ", ".join(f"{s}01-{s}{self.mux.channels:02d}" for s in range(1, self.mux.slots + 1))

    def reset(self) -> None:
        super().reset()
        self.configured: set[int] = set()
        self.scan: list[int] = []
        self.unit: dict[int, str] = {}
        self.snapshot: list[float | None] | None = None

    def inject(self, fault: str, **params: Any) -> None:
        if fault == "overrange":
            unknown = set(params) - {"channels"}
            if unknown:
                raise ValueError(f"overrange takes only channels=, got {sorted(unknown)}")
            if "channels" in params:
                params = {"channels": {int(c) for c in params["channels"]}}
        super().inject(fault, **params)

    # ------------------------------------------------------------------ readings
    def _reading(self, ch: int, points: dict[str, float]) -> float | None:
        """One channel in its unit; None for an open thermocouple (nothing wired, or injected)."""
        over = self.faults.get("overrange")
        if over is not None and ("channels" not in over or ch in over["channels"]):
            self.report("overrange", f"channel {ch} reads open")
            return None
        point = self.channels.get(ch)
        if point is None:
            return None
        celsius = points[point]
        unit = self.unit.get(ch, "C")
        return celsius if unit == "C" else celsius * 9 / 5 + 32 if unit == "F" else celsius + 273.15

    def _scan_now(self) -> list[float | None]:
        if not self.scan:
            raise ScpiFault(-221, "empty scan list")
        points = self.twin.thermocouple_points()
        return [self._reading(ch, points) for ch in self.scan]

    def _format(self, values: list[float | None], cmd: Command) -> str:
        return ",".join(self.number_reply(v, cmd) for v in values)

    def _channels(self, text: str) -> list[int]:
        return channel_list(text, self.mux.valid)

    def _configure(self, args: list[str]) -> None:
        """``TC,K[,1[,res]],(@list)``: the channels are now type-K thermocouples, and the scan list."""
        if choice(args[0], ("TCouple", "DEF")) not in ("TCOUPLE", "DEF"):
            raise ScpiFault(-224, "only thermocouples are simulated")
        if args[1].strip().upper() not in ("K", "DEF"):
            raise ScpiFault(-224, f"thermocouple type {args[1].strip()[:4]!r} not simulated (K only)")
        channels = self._channels(args[-1])
        self.configured.update(channels)
        self.scan, self.snapshot = channels, None

    # ------------------------------------------------------------------ ops
    def op_configure(self, call: Call, cmd: Command) -> Reply:
        self._configure(call.args)
        return None

    def op_measure(self, call: Call, cmd: Command) -> Reply:
        self._configure(call.args)
        return self._format(self._scan_now(), cmd)

    def op_scan(self, call: Call, cmd: Command) -> Reply:
        if call.query:
            data = "(@" + ",".join(map(str, self.scan)) + ")"
            return f"#{len(str(len(data)))}{len(data)}{data}"  # definite-length block
        channels = self._channels(call.args[0])
        missing = [ch for ch in channels if ch not in self.configured]
        if missing:
            raise ScpiFault(-221, f"channel {missing[0]} is not configured")
        self.scan, self.snapshot = channels, None
        return None

    def op_scan_size(self, call: Call, cmd: Command) -> Reply:
        return str(len(self.scan))

    def op_read(self, call: Call, cmd: Command) -> Reply:
        return self._format(self._scan_now(), cmd)

    def op_initiate(self, call: Call, cmd: Command) -> Reply:
        self.snapshot = self._scan_now()
        return None

    def op_fetch(self, call: Call, cmd: Command) -> Reply:
        if self.snapshot is None:
            raise ScpiFault(-230, "no scan since INIT")
        return self._format(self.snapshot, cmd)

    def op_unit(self, call: Call, cmd: Command) -> Reply:
        if call.query:
            channels = self._channels(call.args[0]) if call.args else self.scan[:1]
            return ",".join(self.unit.get(ch, "C") for ch in channels) or "C"
        _, unit = self.choose(call.args[0], cmd)
        for ch in self._channels(call.args[1]) if len(call.args) > 1 else sorted(self.configured):
            self.unit[ch] = unit
        return None

    def op_reference(self, call: Call, cmd: Command) -> Reply:
        self.choose(call.args[0], cmd)  # only the internal reference junction is simulated
        if len(call.args) > 1:
            self._channels(call.args[1])
        return None

    def op_card_type(self, call: Call, cmd: Command) -> Reply:
        slot = call.args[0].strip()
        if slot not in {f"{s}00" for s in range(1, self.mux.slots + 1)}:
            raise ScpiFault(-222, f"slot {slot[:5]}")
        return cmd.reply
