"""sensor_sanity: every expected sensor is present, reads something plausible for its type, and sits
inside its own thresholds at idle.

Expected per tray (from the rack profile): one temperature per GPU on compute trays, an ASIC
temperature on switch trays, an inlet temperature and a power reading on every tray. Plausible
ranges per reading type are parameters. A missing, unavailable (NaN/null) or implausible sensor fails
with its tray and name; a reading at or above its UpperCaution threshold at idle fails too.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from harness.config.plan import StepBase
from harness.stepkit.context import StepContext
from harness.stepkit.kind import StepKind

if TYPE_CHECKING:
    from harness.stepkit.registry import StepKinds


class Params(StepBase):
    kind: Literal["sensor_sanity"]
    plausible: dict[str, tuple[float, float]] = Field(
        default={"Temperature": (5.0, 110.0), "Power": (0.0, 20000.0), "Voltage": (0.0, 500.0),
                 "Current": (0.0, 1000.0)},
        description="reading type -> (min, max) a working sensor can report")


def expected_counts(ctx: StepContext) -> dict[str, dict[str, int]]:
    """tray -> {reading type: how many sensors of it at least}."""
    out: dict[str, dict[str, int]] = {}
    for group in ctx.rack.profile.trays:
        temps = (group.gpus or 1) + 1  # GPUs (or the switch ASIC) plus the inlet
        for name in group.names():
            out[name] = {"Temperature": temps, "Power": 1}
    return out


class SensorSanity(StepKind[Params]):
    name = "sensor_sanity"
    Params = Params
    limits = ()

    def planned_s(self, p: Params, kinds: StepKinds) -> float:
        return 10.0  # reads only

    def run(self, ctx: StepContext, p: Params) -> None:
        expected = expected_counts(ctx)
        for tray, readings in sorted(ctx.rack.tray_sensors().items()):
            counts: dict[str, int] = {}
            for r in readings:
                counts[r.reading_type] = counts.get(r.reading_type, 0) + 1
            for reading_type, need in expected.get(tray, {}).items():
                have = counts.get(reading_type, 0)
                ctx.require("sensors_present", have >= need, component=tray,
                            meta={"reading_type": reading_type, "expected": need, "found": have},
                            message="" if have >= need else f"{need - have} {reading_type} sensor(s) missing")
            for r in readings:
                where = f"{tray}/{r.name}"
                value = r.reading
                usable = value is not None and not math.isnan(value) and (r.state in (None, "Enabled"))
                lo, hi = p.plausible.get(r.reading_type, (-math.inf, math.inf))
                ok = usable and lo <= value <= hi  # type: ignore[operator]
                ctx.require("sensor_plausible", ok, component=where,
                            meta={"reading": value if usable else str(value), "state": r.state or "",
                                  "reading_type": r.reading_type},
                            message="" if ok else (f"unavailable (state {r.state}, reading {value})" if not usable
                                                   else f"{value:g} {r.units} outside plausible {lo:g}..{hi:g}"))
                caution = r.thresholds.get("UpperCaution")
                if ok and caution is not None:
                    below = value < caution  # type: ignore[operator]
                    ctx.require("sensor_within_thresholds", below, component=where,
                                meta={"reading": value, "upper_caution": caution},
                                message="" if below else (f"{value:g} {r.units} at idle is at/above UpperCaution "
                                                          f"{caution:g}"))
