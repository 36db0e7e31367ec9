"""load_sweep: step a load through setpoints; at each, settle, dwell, and hold the rack to its envelope.

Load source (this version): the DC electronic load on the busbar (VISA). At each setpoint the rack
AC power is sampled until it is steady (spread within ``settle_tolerance`` over ``settle_window_s``;
no fixed sleep), then sampled for ``dwell_s``. Checked per setpoint, as series aggregates:
rack AC power max (``rack_ac_power_w``), busbar voltage min and max (``busbar_v``), PSU efficiency
= DC out / AC in (``psu_efficiency_pct``), hottest component temperature (``component_temp_c``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from harness.config.plan import StepBase
from harness.envelopes import is_steady
from harness.errors import Refused
from harness.steps.base import StepContext
from harness.telemetry import RackSampler, Series


class Params(StepBase):
    kind: Literal["load_sweep"]
    source: Literal["eload"] = "eload"
    setpoints_a: list[float] = Field(min_length=1, description="electronic-load current setpoints")
    settle_timeout_s: float = Field(default=120.0, gt=0)
    settle_window_s: float = Field(default=20.0, gt=0)
    settle_tolerance: float = Field(default=0.02, gt=0, description="relative spread that counts as steady")
    dwell_s: float = Field(default=30.0, ge=0)
    sample_s: float = Field(default=5.0, gt=0)


def run(ctx: StepContext, p: Params) -> None:
    rack = ctx.rack
    if rack.eload is None:
        raise Refused("load_sweep with source eload needs an electronic load in the station file")
    sampler = RackSampler(rack)
    where = f"{rack.analyzer_measures} inlet" if rack.analyzer_measures else "rack inlet"
    try:
        for amps in p.setpoints_a:
            ctx.check_deadline()
            ctx.log(f"load sweep: {amps:g} A")
            rack.eload.set_current(amps)
            rack.eload.input_on()
            meta = {"setpoint_a": amps}
            settle = Series()
            t0 = ctx.clock.now()
            steady = False
            while ctx.clock.now() - t0 < p.settle_timeout_s:
                settle.samples.append(sampler.sample())
                ts, ws = settle.values("ac_w" if rack.analyzer else "pdu_w")
                if is_steady(ts, ws, window_s=p.settle_window_s, tolerance=p.settle_tolerance):
                    steady = True
                    break
                ctx.clock.sleep(p.sample_s)
            ctx.require("settled", steady, component=where, meta={**meta, "settle_s": ctx.clock.now() - t0},
                        message="" if steady else f"power not steady within {p.settle_timeout_s:g} s")
            dwell = Series()
            t_dwell = ctx.clock.now()
            while True:
                dwell.samples.append(sampler.sample())
                if ctx.clock.now() - t_dwell >= p.dwell_s:
                    break
                ctx.clock.sleep(p.sample_s)
            _judge(ctx, dwell, meta, where)
    finally:
        rack.eload.input_off()


def _judge(ctx: StepContext, dwell: Series, meta: dict[str, object], where: str) -> None:
    tag = f"@{meta['setpoint_a']:g}A"
    ts, ac = dwell.values("ac_w")
    if ac:
        stats = ctx.series(f"rack_ac_power_w{tag}", "W", ts, ac, component=where, limit="rack_ac_power_w")
        assert stats is not None
        ctx.measure("rack_ac_power_w", stats.max, "W", limit="rack_ac_power_w", component=where,
                    meta={**meta, "mean": stats.mean})
    ts, pdu = dwell.values("pdu_w")
    if pdu:
        ctx.measure("pdu_ac_power_w", sum(pdu) / len(pdu), "W", component="pdus", meta=meta)
    ts, bmc = dwell.values("bmc_w")
    if bmc:
        ctx.measure("bmc_dc_power_w", sum(bmc) / len(bmc), "W", component="trays", meta=meta)
    ts, volts = dwell.values("busbar_v")
    if volts:
        ctx.measure("busbar_v_min", min(volts), "V", limit="busbar_v", component="busbar", meta=meta)
        ctx.measure("busbar_v_max", max(volts), "V", limit="busbar_v", component="busbar", meta=meta)
    _, load = dwell.values("load_w")
    if pdu and bmc and load:
        dc = sum(bmc) / len(bmc) + sum(load) / len(load)
        ac_in = sum(pdu) / len(pdu)
        shelves = ",".join(sorted({o.feeds.split(".")[0] for o in ctx.rack.outlets}))
        ctx.measure("psu_efficiency_pct", 100.0 * dc / ac_in if ac_in else 0.0, "%",
                    limit="psu_efficiency_pct", component=shelves, meta={**meta, "dc_w": dc, "ac_w": ac_in})
    hottest = [(s.hottest_c, s.hottest_at) for s in dwell.samples if s.hottest_c is not None]
    if hottest:
        value, at = max(hottest, key=lambda h: h[0] or 0.0)
        ctx.measure("component_temp_c", float(value or 0.0), "Cel", limit="component_temp_c", component=at,
                    meta=meta)
