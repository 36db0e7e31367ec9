"""load_sweep: step a load through setpoints; at each, settle, dwell, and hold the rack to its envelope.

Load sources: the DC electronic load on the busbar (``source: eload``; ``setpoints_a`` in amps or
``setpoints_pct`` of its rating) or a GPU workload on every compute tray (``source: workload``:
DCGM targeted power over SSH; ``setpoints_pct`` of GPU TDP). At each setpoint the rack AC power is
sampled until it is steady (spread within ``settle_tolerance`` over ``settle_window_s``; no fixed
sleep), then sampled for ``dwell_s``. Checked per setpoint, as series aggregates: rack AC power max
(``rack_ac_power_w``), busbar voltage min and max (``busbar_v``), PSU efficiency = DC out / AC in
(``psu_efficiency_pct``), per-PSU input power max (``psu_input_w``), power factor min
(``power_factor``), phase imbalance max (``phase_imbalance_pct``), hottest component temperature
(``component_temp_c``). A check whose source the station lacks is recorded as SKIP with the reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field, model_validator

from harness.config.plan import StepBase
from harness.envelopes import is_steady
from harness.stepkit.context import StepContext
from harness.stepkit.kind import StepKind
from harness.stepkit.loads import EloadSource, load_source
from harness.telemetry import RackSampler, Series

if TYPE_CHECKING:
    from harness.stepkit.registry import StepKinds


class Params(StepBase):
    kind: Literal["load_sweep"]
    source: Literal["eload", "workload"] = "eload"
    setpoints_a: list[float] | None = Field(default=None, description="electronic-load currents")
    setpoints_pct: list[float] | None = Field(default=None, description="percent of the source's maximum")
    settle_timeout_s: float = Field(default=120.0, gt=0)
    settle_window_s: float = Field(default=20.0, gt=0)
    settle_tolerance: float = Field(default=0.02, gt=0, description="relative spread that counts as steady")
    dwell_s: float = Field(default=30.0, ge=0)
    sample_s: float = Field(default=5.0, gt=0)

    @model_validator(mode="after")
    def _one_kind_of_setpoint(self) -> Params:
        if (self.setpoints_a is None) == (self.setpoints_pct is None):
            raise ValueError("give exactly one of setpoints_a or setpoints_pct")
        if self.setpoints_a is not None and self.source != "eload":
            raise ValueError("setpoints_a applies to source: eload; use setpoints_pct")
        if any(p < 0 or p > 100 for p in self.setpoints_pct or []):
            raise ValueError("setpoints_pct must be within 0..100")
        if self.settle_window_s < 2 * self.sample_s:
            raise ValueError(f"settle_window_s ({self.settle_window_s:g}) must span at least two sample periods "
                             f"(2 x sample_s = {2 * self.sample_s:g}): steady state is judged on three samples or more")
        return self


class LoadSweep(StepKind[Params]):
    name = "load_sweep"
    Params = Params
    limits = ("rack_ac_power_w", "busbar_v", "psu_efficiency_pct", "psu_input_w", "power_factor",
              "phase_imbalance_pct", "component_temp_c")

    def planned_s(self, p: Params, kinds: StepKinds) -> float:
        """Per setpoint: the settling window, then the dwell."""
        return len(p.setpoints_a or p.setpoints_pct or []) * (p.settle_window_s + p.dwell_s)

    def run(self, ctx: StepContext, p: Params) -> None:
        rack = ctx.rack
        source = load_source(rack, p.source)
        sampler = RackSampler(rack)
        settle_sampler = RackSampler(rack, sensors=False)  # settling judges power only
        where = f"{rack.meter_at} inlet" if rack.meter_covers_rack else "pdus"
        points = ([(a, None) for a in p.setpoints_a] if p.setpoints_a is not None
                  else [(None, pct / 100.0) for pct in p.setpoints_pct or []])
        try:
            for amps, fraction in points:
                ctx.check_deadline()
                hold = p.settle_timeout_s + p.dwell_s
                if amps is not None:
                    assert isinstance(source, EloadSource)
                    source.apply_current(amps)
                    meta: dict[str, object] = {"setpoint_a": amps}
                    label = f"{amps:g}A"
                else:
                    assert fraction is not None
                    source.apply(fraction, hold)
                    meta = {"setpoint_pct": 100.0 * fraction, **source.describe(fraction)}
                    label = f"{100 * fraction:g}pct"
                ctx.log(f"load sweep ({source.name}): {label}")
                settle = Series()
                t0 = ctx.clock.now()
                steady = False
                while ctx.clock.now() - t0 < p.settle_timeout_s:
                    settle.samples.append(settle_sampler.sample())
                    ts, ws = settle.values("ac_w")
                    if is_steady(ts, ws, window_s=p.settle_window_s, tolerance=p.settle_tolerance):
                        steady = True
                        break
                    ctx.clock.sleep(p.sample_s)
                ts, ws = settle.values("ac_w")
                recent = [w for t, w in zip(ts, ws, strict=True) if ts and t >= ts[-1] - p.settle_window_s]
                spread = 100.0 * (max(recent) - min(recent)) / (sum(recent) / len(recent)) if recent else float("nan")
                ctx.require("settled", steady, component=where,
                            meta={**meta, "settle_s": ctx.clock.now() - t0, "spread_pct": spread, "samples": len(ws)},
                            message="" if steady else (f"power not steady within {p.settle_timeout_s:g} s: spread "
                                                       f"{spread:.2f} % over the last {p.settle_window_s:g} s "
                                                       f"({len(ws)} samples)"))
                dwell = Series()
                t_dwell = ctx.clock.now()
                pf: list[float] = []
                while True:
                    dwell.samples.append(sampler.sample())
                    if rack.meter is not None:
                        pf.append(rack.meter.measure()["PF"])
                    if ctx.clock.now() - t_dwell >= p.dwell_s:
                        break
                    ctx.clock.sleep(p.sample_s)
                imbalance = rack.feeds.phase_imbalance_pct()  # phase currents at the end of the dwell
                judge(ctx, dwell, meta, where, label, pf, imbalance)
        finally:
            source.off()


def check_current_sharing(ctx: StepContext, dwell: Series, meta: dict[str, object], min_share: float = 0.5) -> None:
    """Every fed PSU of a shelf must carry its share: one drawing under ``min_share`` of its shelf's
    mean (a failed or disconnected PSU, a tripped branch) fails, named."""
    if not dwell.samples or not dwell.samples[-1].outlet_w:
        return
    last = dwell.samples[-1].outlet_w
    by_shelf: dict[str, list[tuple[str, float]]] = {}
    for o in ctx.rack.feeds.outlets:
        if o.label in last:
            by_shelf.setdefault(o.feeds.split(".")[0], []).append((o.feeds, last[o.label]))
    for shelf, psus in sorted(by_shelf.items()):
        mean = sum(w for _, w in psus) / len(psus)
        if mean < 50.0:  # shelf unpowered or idle: nothing to share
            continue
        for psu, watts in psus:
            ok = watts >= min_share * mean
            ctx.require("psu_sharing", ok, component=psu, meta={**meta, "psu_w": watts, "shelf_mean_w": mean},
                        message="" if ok else f"draws {watts:.0f} W against a shelf mean of {mean:.0f} W")


def judge(ctx: StepContext, dwell: Series, meta: dict[str, object], where: str, label: str,
          pf: list[float], imbalance: dict[str, float]) -> None:
    """Hold one dwell's series to the envelope (also used by thermal_soak)."""
    ts, ac = dwell.values("ac_w")
    if ac:
        stats = ctx.series(f"rack_ac_power_w@{label}", "W", ts, ac, component=where, limit="rack_ac_power_w")
        assert stats is not None
        ctx.measure("rack_ac_power_w", stats.max, "W", limit="rack_ac_power_w", component=where,
                    meta={**meta, "mean": stats.mean, "slope_w_per_s": stats.slope_per_s})
    else:
        ctx.skip("rack_ac_power_w", "no rack AC power source (analyzer or PDU metering)", limit="rack_ac_power_w",
                 meta=meta)
    _, pdu = dwell.values("pdu_w")
    if pdu:
        ctx.measure("pdu_ac_power_w", sum(pdu) / len(pdu), "W", component="pdus", meta=meta)
    _, bmc = dwell.values("bmc_w")
    if bmc:
        ctx.measure("bmc_dc_power_w", sum(bmc) / len(bmc), "W", component="trays", meta=meta)
    _, volts = dwell.values("busbar_v")
    if volts:
        ctx.measure("busbar_v_min", min(volts), "V", limit="busbar_v", component="busbar", meta=meta)
        ctx.measure("busbar_v_max", max(volts), "V", limit="busbar_v", component="busbar", meta=meta)
    else:
        ctx.skip("busbar_v", "no busbar voltage source (electronic load or shelf telemetry)", limit="busbar_v",
                 meta=meta)
    _, load = dwell.values("load_w")
    shelves = ",".join(sorted({o.feeds.split(".")[0] for o in ctx.rack.feeds.outlets}))
    if pdu and bmc:
        dc = sum(bmc) / len(bmc) + (sum(load) / len(load) if load else 0.0)
        ac_in = sum(pdu) / len(pdu)
        ctx.measure("psu_efficiency_pct", 100.0 * dc / ac_in if ac_in else 0.0, "%",
                    limit="psu_efficiency_pct", component=shelves, meta={**meta, "dc_w": dc, "ac_w": ac_in})
    else:
        ctx.skip("psu_efficiency_pct", "needs PDU outlet metering and BMC power", limit="psu_efficiency_pct",
                 meta=meta)
    per_psu: dict[str, float] = {}
    for sample in dwell.samples:
        for label_, watts in sample.outlet_w.items():
            per_psu[label_] = max(per_psu.get(label_, 0.0), watts)
    if per_psu:
        worst = max(per_psu, key=lambda k: per_psu[k])
        feeds = {o.label: o.feeds for o in ctx.rack.feeds.outlets}
        ctx.measure("psu_input_w", per_psu[worst], "W", limit="psu_input_w", component=feeds.get(worst, worst),
                    meta={**meta, "outlet": worst})
    check_current_sharing(ctx, dwell, meta)
    if pf:
        ctx.measure("power_factor", min(pf), "", limit="power_factor", component=where, meta=meta)
    if imbalance:
        worst_pdu = max(imbalance, key=lambda k: imbalance[k])
        ctx.measure("phase_imbalance_pct", imbalance[worst_pdu], "%", limit="phase_imbalance_pct",
                    component=worst_pdu, meta=meta)
    hottest = [(s.hottest_c, s.hottest_at) for s in dwell.samples if s.hottest_c is not None]
    if hottest:
        value, at = max(hottest, key=lambda h: h[0] or 0.0)
        ctx.measure("component_temp_c", float(value or 0.0), "Cel", limit="component_temp_c", component=at,
                    meta=meta)
