"""ac_cycle: remove and restore AC at the PDU outlets; every BMC must answer and every host come back.

Per cycle: all declared feeds off (each confirmed by reading the outlet back), a dwell with AC off,
sequenced power-on with the station's stagger, then the time from AC on to each BMC answering
(limit ``bmc_ready_s``) and to each host reporting PowerState On (limit ``host_on_s``), no new
critical entry in any BMC's SEL (``sel_check.py``), and the inrush peak the power analyzer caught
at its PDU inlet (armed before the feeds go on, read once the trays are back; limit ``inrush_peak_a``;
SKIP without an analyzer). A tray that never answers or never comes back fails with its name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from harness.config.plan import StepBase
from harness.errors import DriverError
from harness.stepkit.context import StepContext
from harness.stepkit.kind import StepKind
from harness.stepkit.sel_check import SelCheck

if TYPE_CHECKING:
    from harness.stepkit.registry import StepKinds


class Params(StepBase):
    kind: Literal["ac_cycle"]
    cycles: int = Field(default=1, ge=1, le=1000)
    off_s: float = Field(default=10.0, ge=0, description="AC-off dwell")
    bmc_timeout_s: float = Field(default=300.0, gt=0)
    host_timeout_s: float = Field(default=600.0, gt=0)
    poll_s: float = Field(default=5.0, gt=0)


class AcCycle(StepKind[Params]):
    name = "ac_cycle"
    Params = Params
    limits = ("bmc_ready_s", "host_on_s", "inrush_peak_a")
    expected_events = ()  # power transitions (OK) and PSU input loss (Warning) are not critical

    def planned_s(self, p: Params, kinds: StepKinds) -> float:
        """Per cycle: the AC-off dwell, then the BMCs and hosts coming back (half the BMC timeout: the
        shipped profiles boot BMCs in 60-180 s against a 300 s timeout)."""
        return p.cycles * (p.off_s + p.bmc_timeout_s / 2 + 2 * p.poll_s)

    def run(self, ctx: StepContext, p: Params) -> None:
        rack = ctx.rack
        sel = SelCheck(ctx, frozenset(self.expected_events))
        before = sel.snapshot()
        if rack.meter is None:
            ctx.skip("inrush_peak_a", "no power analyzer on this station: inrush not measured", limit="inrush_peak_a")
        for cycle in range(1, p.cycles + 1):
            ctx.check_deadline()
            ctx.log(f"AC cycle {cycle}/{p.cycles}: feeds off")
            rack.feeds.all_off()
            ctx.clock.sleep(p.off_s)
            armed = _arm_inrush(ctx)
            ctx.log(f"AC cycle {cycle}/{p.cycles}: feeds on, sequenced")
            rack.feeds.all_on()
            t_on = ctx.clock.now()
            boot = rack.hosts.wait_boot(t_on, p.bmc_timeout_s, p.host_timeout_s, p.poll_s)
            meta = {"cycle": cycle}
            if armed:
                _inrush(ctx, meta)
            for tray, (bmc_s, host_s) in boot.items():
                ctx.require("bmc_answered", bmc_s is not None, component=tray, meta=meta,
                            message="" if bmc_s is not None else f"BMC did not answer within {p.bmc_timeout_s:g} s")
                if bmc_s is None:
                    continue
                ctx.measure("bmc_ready_s", bmc_s, "s", limit="bmc_ready_s", component=tray, meta=meta)
                ctx.require("host_back_on", host_s is not None, component=tray, meta=meta,
                            message="" if host_s is not None else f"host not On within {p.host_timeout_s:g} s")
                if host_s is not None:
                    ctx.measure("host_on_s", host_s, "s", limit="host_on_s", component=tray, meta=meta)
            before = sel.judge(before, meta)
            if ctx.failed:
                return


def _arm_inrush(ctx: StepContext) -> bool:
    """Arm the analyzer's inrush capture before the feeds close (False: no analyzer, or it refused)."""
    meter = ctx.rack.meter
    if meter is None:
        return False
    try:
        meter.arm_inrush()
    except DriverError as exc:
        ctx.skip("inrush_peak_a", f"{meter.name}: inrush capture not armed: {exc}", limit="inrush_peak_a")
        return False
    return True


def _inrush(ctx: StepContext, meta: dict[str, object]) -> None:
    meter = ctx.rack.meter
    assert meter is not None
    where = f"{ctx.rack.meter_at} inlet" if ctx.rack.meter_at else meter.name
    ctx.measure("inrush_peak_a", meter.inrush_peak_a(), "A", limit="inrush_peak_a", component=where,
                meta={**meta, "instrument": meter.name})
