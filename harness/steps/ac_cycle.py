"""ac_cycle: remove and restore AC at the PDU outlets; every BMC must answer and every host come back.

Per cycle: all declared feeds off (each confirmed by reading the outlet back), a dwell with AC off,
sequenced power-on with the station's stagger, then the time from AC on to each BMC answering
(limit ``bmc_ready_s``) and to each host reporting PowerState On (limit ``host_on_s``).
A tray that never answers or never comes back fails with its name.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from harness.config.plan import StepBase
from harness.steps.base import StepContext


LIMITS: tuple[str, ...] = ("bmc_ready_s", "host_on_s")


class Params(StepBase):
    kind: Literal["ac_cycle"]
    cycles: int = Field(default=1, ge=1, le=1000)
    off_s: float = Field(default=10.0, ge=0, description="AC-off dwell")
    bmc_timeout_s: float = Field(default=300.0, gt=0)
    host_timeout_s: float = Field(default=600.0, gt=0)
    poll_s: float = Field(default=5.0, gt=0)


def run(ctx: StepContext, p: Params) -> None:
    rack = ctx.rack
    for cycle in range(1, p.cycles + 1):
        ctx.check_deadline()
        ctx.log(f"AC cycle {cycle}/{p.cycles}: feeds off")
        rack.feeds_off()
        ctx.clock.sleep(p.off_s)
        ctx.log(f"AC cycle {cycle}/{p.cycles}: feeds on, sequenced")
        rack.feeds_on()
        t_on = ctx.clock.now()
        boot = rack.wait_boot(t_on, p.bmc_timeout_s, p.host_timeout_s, p.poll_s)
        meta = {"cycle": cycle}
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
        if ctx.failed:
            return
