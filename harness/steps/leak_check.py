"""leak_check: every leak detector reads OK before and during the run.

Reads every detector the station can see (the CDU's and the trays' Redfish LeakDetection). A detector
in Warning or Critical fails with its name; an Unavailable one fails too (a blind detector is not a
dry rack). While the rest of the plan runs, a Redfish leak event fails the step that is running
when it arrives (the runner subscribes to the BMCs' event streams).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from harness.config.plan import StepBase
from harness.stepkit.context import StepContext
from harness.stepkit.kind import StepKind

if TYPE_CHECKING:
    from harness.stepkit.registry import StepKinds


class Params(StepBase):
    kind: Literal["leak_check"]


class LeakCheck(StepKind[Params]):
    name = "leak_check"
    Params = Params
    limits = ()

    def planned_s(self, p: Params, kinds: StepKinds) -> float:
        return 5.0  # reads only

    def run(self, ctx: StepContext, p: Params) -> None:
        states = ctx.rack.equipment.leak_states()
        if not states:
            ctx.skip("leak_detector_ok", "this station reads no leak detectors", component="rack")
            return
        for detector, state in sorted(states.items()):
            ok = state == "OK"
            ctx.require("leak_detector_ok", ok, component=detector, meta={"state": state},
                        message="" if ok else f"detector reads {state}")
