"""dc_cycle: reset every tray's host through Redfish and see PowerState leave On and return.

Each Reset is sent once. If its answer is lost, the state is read back instead of re-sending.
Measures per tray the time from the Reset to PowerState On again (limit ``dc_on_s``); a host
that never left On, or never returned, fails with its name. Per cycle, no new critical entry in
any BMC's SEL (``sel_check.py``; the power transitions the reset causes are not critical).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from harness.clock import Deadline
from harness.config.plan import StepBase
from harness.stepkit.context import StepContext
from harness.stepkit.kind import StepKind
from harness.stepkit.sel_check import SelCheck

if TYPE_CHECKING:
    from harness.stepkit.registry import StepKinds


class Params(StepBase):
    kind: Literal["dc_cycle"]
    cycles: int = Field(default=1, ge=1, le=1000)
    reset_type: Literal["ForceRestart", "GracefulRestart", "PowerCycle"] = "ForceRestart"
    host_timeout_s: float = Field(default=600.0, gt=0)
    poll_s: float = Field(default=1.0, gt=0)


class DcCycle(StepKind[Params]):
    name = "dc_cycle"
    Params = Params
    limits = ("dc_on_s",)
    expected_events = ()  # power transitions are not critical: nothing to declare

    def planned_s(self, p: Params, kinds: StepKinds) -> float:
        """Per cycle: a reset and the host back On (a twentieth of its timeout: seconds, not minutes)."""
        return p.cycles * max(5 * p.poll_s, p.host_timeout_s / 20)

    def run(self, ctx: StepContext, p: Params) -> None:
        rack = ctx.rack
        states = rack.hosts.power_states()
        off = [t for t, s in states.items() if s != "On"]
        if off:
            ctx.log(f"hosts not On before the DC cycle ({', '.join(off)}): powering them on first")
            for tray in off:
                if states[tray] in ("Off",):
                    rack.hosts.reset(tray, "On")
            rack.hosts.wait_hosts("On", ctx.clock.now(), p.host_timeout_s, p.poll_s, names=off)
        sel = SelCheck(ctx, frozenset(self.expected_events))
        before = sel.snapshot()
        for cycle in range(1, p.cycles + 1):
            ctx.check_deadline()
            ctx.log(f"DC cycle {cycle}/{p.cycles}: {p.reset_type}")
            t0 = ctx.clock.now()
            for tray in rack.trays:
                rack.hosts.reset(tray, p.reset_type)
            left: set[str] = set()
            back: dict[str, float] = {}
            deadline = Deadline.after(ctx.clock, p.host_timeout_s)
            while len(back) < len(rack.trays) and not deadline.expired():
                ctx.clock.sleep(p.poll_s)
                for tray, state in rack.hosts.power_states([t for t in rack.trays if t not in back]).items():
                    if state != "On":
                        left.add(tray)
                    elif tray in left:
                        back[tray] = ctx.clock.now() - t0
            meta = {"cycle": cycle, "reset_type": p.reset_type}
            for tray in rack.trays:
                ctx.require("host_left_on", tray in left, component=tray, meta=meta,
                            message="" if tray in left else "PowerState never left On after the Reset")
                if tray not in left:
                    continue
                ctx.require("host_back_on", tray in back, component=tray, meta=meta,
                            message="" if tray in back else f"host not On within {p.host_timeout_s:g} s")
                if tray in back:
                    ctx.measure("dc_on_s", back[tray], "s", limit="dc_on_s", component=tray, meta=meta)
            before = sel.judge(before, meta)
            if ctx.failed:
                return
