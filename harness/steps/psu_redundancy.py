"""psu_redundancy: under load, remove one PSU's AC input; the rack must stay up, the loss of
redundancy must be reported, and both must recover when the input returns.

Checks: every BMC still answers and every host is still On (``rack_stayed_up``, per tray, built-in);
the removed PSU carries nothing while the others share its load (``psu_dropped``, built-in, from the
PDU outlet metering); redundancy reported lost and then restored by the power shelf
(``redundancy_reported``: SKIP without shelf telemetry); the PSU carries load again after its input
returns (``psu_restored``, built-in).
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
    kind: Literal["psu_redundancy"]
    psu: str = Field(default="shelf1.psu1", description="the PSU whose input is removed")
    source: Literal["eload", "workload"] = "workload"
    level_pct: float = Field(default=50.0, ge=0, le=100)
    hold_s: float = Field(default=60.0, gt=0)
    settle_s: float = Field(default=30.0, ge=0)


class PsuRedundancy(StepKind[Params]):
    name = "psu_redundancy"
    Params = Params
    limits = ()

    def planned_s(self, p: Params, kinds: StepKinds) -> float:
        """Settle, hold with the PSU's input removed, hold again once it is back."""
        return p.settle_s + 2 * p.hold_s

    def run(self, ctx: StepContext, p: Params) -> None:
        rack = ctx.rack
        outlet = rack.feeds.outlet_for(p.psu)
        source = load_source(rack, p.source)
        try:
            source.apply(p.level_pct / 100.0, p.settle_s + 2 * p.hold_s + 120)
            ctx.clock.sleep(p.settle_s)
            before = rack.feeds.powers_w()
            ctx.log(f"removing the input of {p.psu} ({outlet.label})")
            rack.feeds.set_outlet(outlet.pdu, outlet.number, False)
            try:
                ctx.clock.sleep(p.hold_s)
                up = rack.hosts.bmcs_up(rack.trays)
                states = rack.hosts.power_states()
                for tray in rack.trays:
                    ok = up.get(tray, False) and states.get(tray) == "On"
                    ctx.require("rack_stayed_up", ok, component=tray, meta={"psu": p.psu},
                                message="" if ok else f"BMC up={up.get(tray)}, host {states.get(tray)}")
                during = rack.feeds.powers_w()
                shelf = p.psu.split(".")[0]
                same_shelf = [o for o in rack.feeds.outlets if o.feeds.split(".")[0] == shelf and o != outlet]
                share_before = sum(before[o] for o in same_shelf)
                share_during = sum(during[o] for o in same_shelf)
                dropped = during[outlet] < 1.0 and share_during > share_before
                ctx.require("psu_dropped", dropped, component=p.psu,
                            meta={"psu_w": during[outlet], "others_before_w": share_before,
                                  "others_during_w": share_during},
                            message="" if dropped else "the other PSUs did not take over the load")
                if rack.equipment.has_shelf_telemetry():
                    lost = rack.equipment.shelf_redundancy(p.psu.split(".")[0]) is False
                    ctx.require("redundancy_reported", lost, component=p.psu.split(".")[0],
                                message="" if lost else "the shelf did not report the loss of redundancy")
                else:
                    ctx.skip("redundancy_reported", "no power-shelf telemetry to read the redundancy state from",
                             component=p.psu.split(".")[0])
            finally:
                rack.feeds.set_outlet(outlet.pdu, outlet.number, True)
            ctx.clock.sleep(p.hold_s)
            after = rack.feeds.powers_w()
            restored = after[outlet] > 0.5 * (before[outlet] or 1.0)
            ctx.require("psu_restored", restored, component=p.psu,
                        meta={"psu_w": after[outlet], "before_w": before[outlet]},
                        message="" if restored else f"{p.psu} carries {after[outlet]:.0f} W after its input returned")
            if rack.equipment.has_shelf_telemetry():
                back = rack.equipment.shelf_redundancy(p.psu.split(".")[0]) is True
                ctx.require("redundancy_restored", back, component=p.psu.split(".")[0],
                            message="" if back else "the shelf still reports redundancy lost")
        finally:
            source.off()
