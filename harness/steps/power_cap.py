"""power_cap: set a power limit through Redfish and check the power settles under it.

For each named tray (or every compute tray): while the load runs, PATCH the tray's
``EnvironmentMetrics.PowerLimitWatts.SetPoint``; the tray's power must be at or under
limit x (1 + tolerance) within the correction time (``cap_settle_s``), and the excess over the limit
is recorded (``power_cap_excess_pct``). The limit is removed afterwards, however the step ends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from harness.config.plan import StepBase
from harness.stepkit.context import StepContext
from harness.stepkit.kind import StepKind
from harness.stepkit.loads import load_source

if TYPE_CHECKING:
    from harness.stepkit.registry import StepKinds


class Params(StepBase):
    kind: Literal["power_cap"]
    trays: list[str] = Field(default_factory=list, description="default: every compute tray")
    limit_w: float = Field(gt=0, description="the cap to set on each tray")
    source: Literal["eload", "workload"] = "workload"
    level_pct: float = Field(default=100.0, ge=0, le=100)
    correction_s: float = Field(default=30.0, gt=0, description="longest wait for the cap to take hold")
    poll_s: float = Field(default=1.0, gt=0)
    tolerance_pct: float = Field(default=3.0, ge=0)


class PowerCap(StepKind[Params]):
    name = "power_cap"
    Params = Params
    limits = ("power_cap_excess_pct", "cap_settle_s")

    def planned_s(self, p: Params, kinds: StepKinds) -> float:
        """The load settling, then the cap taking hold (at most the correction time)."""
        return p.poll_s + p.correction_s

    def run(self, ctx: StepContext, p: Params) -> None:
        rack = ctx.rack
        trays = p.trays or [t for t in rack.trays if rack.roles.get(t) == "compute_tray"]
        source = load_source(rack, p.source)
        try:
            source.apply(p.level_pct / 100.0, p.correction_s + 300.0)
            ctx.clock.sleep(p.poll_s)
            uncapped = rack.tray_powers_w()
            for tray in trays:
                rack.hosts.set_power_limit(tray, p.limit_w)
            t0 = ctx.clock.now()
            settled: dict[str, float] = {}
            while len(settled) < len(trays) and ctx.clock.now() - t0 <= p.correction_s:
                ctx.clock.sleep(p.poll_s)
                watts = rack.tray_powers_w()
                for tray in trays:
                    if tray not in settled and watts[tray] <= p.limit_w * (1 + p.tolerance_pct / 100.0):
                        settled[tray] = ctx.clock.now() - t0
            final = rack.tray_powers_w()
            for tray in trays:
                meta = {"limit_w": p.limit_w, "uncapped_w": uncapped[tray], "capped_w": final[tray]}
                ctx.require("cap_took_hold", tray in settled, component=tray, meta=meta,
                            message="" if tray in settled else f"still {final[tray]:.0f} W after {p.correction_s:g} s")
                if tray in settled:
                    ctx.measure("cap_settle_s", settled[tray], "s", limit="cap_settle_s", component=tray, meta=meta)
                excess = max(0.0, 100.0 * (final[tray] - p.limit_w) / p.limit_w)
                ctx.measure("power_cap_excess_pct", excess, "%", limit="power_cap_excess_pct", component=tray,
                            meta=meta)
        finally:
            for tray in trays:
                rack.hosts.set_power_limit(tray, None)
            source.off()
