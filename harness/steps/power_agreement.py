"""power_agreement: every instrument that sees the same power must agree within a tolerance.

Pairs (each recorded as ``power_agreement_pct`` = |a - b| / b, limit ``power_agreement_pct``):
power analyzer at a PDU inlet against that PDU's outlet sum (both AC); the trays' own BMC power
plus the busbar load against the power shelves' DC output; shelf AC input against the PDU outlets
feeding it. A pair the station cannot measure is SKIP with the reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from harness.config.plan import StepBase
from harness.stepkit.context import StepContext
from harness.stepkit.kind import StepKind

if TYPE_CHECKING:
    from harness.stepkit.registry import StepKinds


class Params(StepBase):
    kind: Literal["power_agreement"]
    samples: int = Field(default=5, ge=1)
    sample_s: float = Field(default=5.0, gt=0)


def _pct(a: float, b: float) -> float:
    return 100.0 * abs(a - b) / abs(b) if b else (0.0 if a == 0 else 100.0)


class PowerAgreement(StepKind[Params]):
    name = "power_agreement"
    Params = Params
    limits = ("power_agreement_pct",)

    def planned_s(self, p: Params, kinds: StepKinds) -> float:
        return (p.samples - 1) * p.sample_s

    def run(self, ctx: StepContext, p: Params) -> None:
        rack = ctx.rack
        analyzer_w: list[float] = []
        pdu_w: list[float] = []
        trays_w: list[float] = []
        shelves_dc: list[float] = []
        for i in range(p.samples):
            if i:
                ctx.clock.sleep(p.sample_s)
            outlets = rack.feeds.powers_w()
            if rack.meter is not None and rack.meter_at:
                analyzer_w.append(rack.meter.measure()["W"])
                pdu_w.append(sum(w for o, w in outlets.items() if o.pdu == rack.meter_at))
            dc = sum(rack.tray_powers_w().values())
            if rack.load is not None:
                dc += rack.load.measure()[2]
            trays_w.append(dc)
            shelf = rack.equipment.shelf_output_w() if rack.equipment.has_shelf_telemetry() else None
            if shelf is not None:
                shelves_dc.append(sum(shelf.values()))
        mean = lambda xs: sum(xs) / len(xs)
        if analyzer_w:
            ctx.measure("power_agreement_pct", _pct(mean(analyzer_w), mean(pdu_w)), "%", limit="power_agreement_pct",
                        component=f"analyzer~{rack.meter_at}",
                        meta={"a_w": mean(analyzer_w), "b_w": mean(pdu_w), "pair": "analyzer vs PDU outlets"})
        else:
            ctx.skip("power_agreement_pct", "no power analyzer to compare with the PDU", limit="power_agreement_pct",
                     component="analyzer~pdu")
        if shelves_dc:
            ctx.measure("power_agreement_pct", _pct(mean(trays_w), mean(shelves_dc)), "%", limit="power_agreement_pct",
                        component="bmc~shelves", meta={"a_w": mean(trays_w), "b_w": mean(shelves_dc),
                                                       "pair": "tray BMC power + load vs shelf DC output"})
        else:
            ctx.skip("power_agreement_pct", "no power-shelf telemetry to compare with the trays",
                     limit="power_agreement_pct", component="bmc~shelves")
