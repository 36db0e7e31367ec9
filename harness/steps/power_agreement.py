"""power_agreement: every instrument that sees the same power must agree within a tolerance.

Pairs (each recorded as ``power_agreement_pct`` = |a - b| / b, limit ``power_agreement_pct``):
power analyzer at a PDU inlet against that PDU's outlet sum (both AC); the trays' own BMC power
plus the busbar load against the power shelves' DC output; shelf AC input against the PDU outlets
feeding it. A pair the station cannot measure is SKIP with the reason.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from harness.config.plan import StepBase
from harness.steps.base import StepContext

LIMITS: tuple[str, ...] = ("power_agreement_pct",)


class Params(StepBase):
    kind: Literal["power_agreement"]
    samples: int = Field(default=5, ge=1)
    sample_s: float = Field(default=5.0, gt=0)


def _pct(a: float, b: float) -> float:
    return 100.0 * abs(a - b) / abs(b) if b else (0.0 if a == 0 else 100.0)


def run(ctx: StepContext, p: Params) -> None:
    rack = ctx.rack
    analyzer_w: list[float] = []
    pdu_w: list[float] = []
    trays_w: list[float] = []
    shelves_dc: list[float] = []
    for i in range(p.samples):
        if i:
            ctx.clock.sleep(p.sample_s)
        outlets = rack.outlet_powers_w()
        if rack.analyzer is not None and rack.analyzer_measures:
            analyzer_w.append(rack.analyzer.measure()["W"])
            pdu_w.append(sum(w for o, w in outlets.items() if o.pdu == rack.analyzer_measures))
        dc = sum(rack.tray_powers_w().values())
        if rack.eload is not None:
            dc += rack.eload.measure()[2]
        trays_w.append(dc)
        shelf = rack.shelf_output_w() if rack.has_shelf_telemetry() else None
        if shelf is not None:
            shelves_dc.append(sum(shelf.values()))
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    if analyzer_w:
        ctx.measure("power_agreement_pct", _pct(mean(analyzer_w), mean(pdu_w)), "%", limit="power_agreement_pct",
                    component=f"analyzer~{rack.analyzer_measures}",
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
