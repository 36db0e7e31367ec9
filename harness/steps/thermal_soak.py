"""thermal_soak: hold a load for a duration; temperatures must stabilise and stay under their limits.

Checks: hottest component temperature (``component_temp_c``); every component temperature sensor read
(one that gives no reading, NaN or null, in any sample fails, named: ``sensor_available``); its slope over the last
``stable_window_s`` (``temp_slope_c_per_min``: the rack reached thermal equilibrium); tray air inlet
temperatures inside the ASHRAE class (``air_inlet_c``); coolant supply (``coolant_supply_c``) and
coolant dT against what the power and flow imply, dT = P / (m_dot * c_p) (``coolant_dt_error_pct``).
Coolant checks are SKIP on a station without coolant instrumentation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from harness.config.plan import StepBase
from harness.envelopes import SeriesStats
from harness.stepkit.context import StepContext
from harness.stepkit.kind import StepKind
from harness.stepkit.loads import load_source
from harness.telemetry import is_component_temperature

if TYPE_CHECKING:
    from harness.stepkit.registry import StepKinds

WATER_CP = 4.18  # kJ/(kg K); ~1 kg per litre


class Params(StepBase):
    kind: Literal["thermal_soak"]
    source: Literal["eload", "workload"] = "workload"
    level_pct: float = Field(default=100.0, ge=0, le=100)
    duration_s: float = Field(default=3600.0, gt=0)
    sample_s: float = Field(default=60.0, gt=0)
    stable_window_s: float = Field(default=600.0, gt=0)


def check_stuck_sensors(ctx: StepContext, per_sensor: dict[str, list[float]], hottest: list[float],
                        min_swing_c: float = 2.0) -> None:
    """A component temperature that never moves while the rack's hottest moved by ``min_swing_c`` or
    more is stuck (frozen firmware value, failed ADC): it fails, named."""
    if len(hottest) < 3 or max(hottest) - min(hottest) < min_swing_c:
        return
    for where, values in sorted(per_sensor.items()):
        if len(values) >= 3 and "inlet" not in where.lower() and max(values) == min(values):
            ctx.require("sensor_not_stuck", False, component=where, meta={"reading": values[0]},
                        message=f"reads {values[0]:g} Cel throughout while the load moved the others")


class ThermalSoak(StepKind[Params]):
    name = "thermal_soak"
    Params = Params
    limits = ("component_temp_c", "temp_slope_c_per_min", "air_inlet_c", "coolant_supply_c",
              "coolant_dt_error_pct")

    def planned_s(self, p: Params, kinds: StepKinds) -> float:
        return p.duration_s

    def run(self, ctx: StepContext, p: Params) -> None:
        rack = ctx.rack
        source = load_source(rack, p.source)
        times: list[float] = []
        hottest: list[float] = []
        hottest_at: list[str] = []
        inlets: dict[str, float] = {}
        per_sensor: dict[str, list[float]] = {}
        coolant: list[tuple[float, float, float, float]] = []  # (t, supply, return, flow)
        tray_w: list[float] = []
        blind: dict[str, int] = {}  # component temperature sensor -> samples without a reading
        samples = 0
        try:
            source.apply(p.level_pct / 100.0, p.duration_s)
            t0 = ctx.clock.now()
            while True:
                ctx.check_deadline()
                now = ctx.clock.now()
                samples += 1
                best: tuple[float, str] | None = None
                for tray, readings in rack.tray_sensors().items():
                    for r in readings:
                        if r.reading is None or r.reading != r.reading:
                            if is_component_temperature(r.reading_type, r.name, r.physical_context):
                                blind[f"{tray}/{r.name}"] = blind.get(f"{tray}/{r.name}", 0) + 1
                            continue
                        if r.reading_type == "Temperature":
                            per_sensor.setdefault(f"{tray}/{r.name}", []).append(r.reading)
                        if is_component_temperature(r.reading_type, r.name, r.physical_context):
                            if best is None or r.reading > best[0]:
                                best = (r.reading, f"{tray}/{r.name}")
                        elif r.reading_type == "Temperature":
                            inlets[tray] = max(inlets.get(tray, r.reading), r.reading)
                if best is not None:
                    times.append(now)
                    hottest.append(best[0])
                    hottest_at.append(best[1])
                tray_w.append(sum(rack.tray_powers_w().values()))
                if rack.equipment.has_cooling():
                    c = rack.equipment.coolant()
                    if c.get("supply_c") is not None and c.get("return_c") is not None and c.get("flow_lpm"):
                        coolant.append((now, float(c["supply_c"]), float(c["return_c"]),  # type: ignore[arg-type]
                                        float(c["flow_lpm"])))  # type: ignore[arg-type]
                if now - t0 >= p.duration_s:
                    break
                ctx.clock.sleep(p.sample_s)
        finally:
            source.off()
        meta = {"level_pct": p.level_pct, "source": source.name, "duration_s": p.duration_s}
        if hottest:
            ctx.series("hottest_component_c", "Cel", times, hottest, limit="component_temp_c")
            i = max(range(len(hottest)), key=hottest.__getitem__)
            ctx.measure("component_temp_c", hottest[i], "Cel", limit="component_temp_c", component=hottest_at[i],
                        meta=meta)
            window = [(t, v) for t, v in zip(times, hottest, strict=True) if t >= times[-1] - p.stable_window_s]
            if len(window) >= 3:
                stats = SeriesStats.of([w[0] for w in window], [w[1] for w in window])
                ctx.measure("temp_slope_c_per_min", abs(stats.slope_per_s) * 60.0, "Cel/min",
                            limit="temp_slope_c_per_min", component=hottest_at[-1],
                            meta={**meta, "window_s": p.stable_window_s})
            else:
                ctx.skip("temp_slope_c_per_min", "too few samples in the stability window",
                         limit="temp_slope_c_per_min")
        check_stuck_sensors(ctx, per_sensor, hottest)
        for where, missing in sorted(blind.items()):  # a blind sensor is not a cool component
            ctx.require("sensor_available", False, component=where, meta={"samples": samples, "missing": missing},
                        message=f"no reading in {missing} of {samples} samples")
        for tray, value in sorted(inlets.items()):
            ctx.measure("air_inlet_c", value, "Cel", limit="air_inlet_c", component=f"{tray}/inlet", meta=meta)
        if coolant:
            t_end = coolant[-1][0]
            tail = [c for c in coolant if c[0] >= t_end - p.stable_window_s]
            supply = max(c[1] for c in tail)
            dt = sum(c[2] - c[1] for c in tail) / len(tail)
            flow = sum(c[3] for c in tail) / len(tail)
            power_kw = (sum(tray_w[-len(tail):]) / len(tail)) / 1000.0
            expected = power_kw / ((flow / 60.0) * WATER_CP)
            ctx.measure("coolant_supply_c", supply, "Cel", limit="coolant_supply_c", component="cdu", meta=meta)
            ctx.measure("coolant_dt_c", dt, "Cel", component="cdu", meta={**meta, "expected_c": expected,
                                                                         "power_kw": power_kw, "flow_lpm": flow})
            ctx.measure("coolant_dt_error_pct", 100.0 * abs(dt - expected) / expected if expected else 0.0, "%",
                        limit="coolant_dt_error_pct", component="cdu", meta=meta)
        else:
            for limit in ("coolant_supply_c", "coolant_dt_error_pct"):
                ctx.skip(limit, "no coolant instrumentation on this station (CDU or thermocouples)", limit=limit)
