"""inventory: every expected tray, shelf, PSU, GPU and CDU is present; serials are recorded;
firmware versions match the plan's expected matrix.

Expected counts come from the rack profile. ``firmware`` maps a device kind (compute_tray,
switch_tray, psu, power_shelf, cdu, bmc) to the version the plan requires; a device reporting another
version fails with its name, the version found and the version expected. Every serial number is
recorded (INFO measurements, also in the run's device identities).
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
    kind: Literal["inventory"]
    firmware: dict[str, str] = Field(default_factory=dict, description="device kind -> required firmware version")


class Inventory(StepKind[Params]):
    name = "inventory"
    Params = Params
    limits = ()

    def planned_s(self, p: Params, kinds: StepKinds) -> float:
        return 10.0  # reads only

    def run(self, ctx: StepContext, p: Params) -> None:
        rack = ctx.rack
        items = rack.equipment.inventory()
        profile = rack.profile
        expected = {
            "compute_tray": len(profile.tray_names("compute")),
            "switch_tray": len(profile.tray_names("switch")),
            "power_shelf": len(profile.shelf_names()) if rack.equipment.has_shelf_telemetry() else 0,
            "psu": sum(g.psus * g.count for g in profile.shelves) if rack.equipment.has_shelf_telemetry() else 0,
            "gpu": sum(g.gpus * g.count for g in profile.trays),
            "cdu": 1 if (profile.cdu is not None and rack.equipment.has_cooling()) else 0,
        }
        found: dict[str, list[object]] = {}
        for item in items:
            found.setdefault(item.kind, []).append(item)
        for kind, need in expected.items():
            have = len(found.get(kind, []))
            if need == 0 and have == 0:
                if kind in ("power_shelf", "psu", "cdu") and ((kind != "cdu") or profile.cdu is not None):
                    ctx.skip("present", f"this station cannot read {kind} inventory", component=kind)
                continue
            ctx.require("present", have >= need, component=kind, meta={"expected": need, "found": have},
                        message="" if have >= need else f"{need - have} {kind}(s) missing")
        for item in items:
            ok_health = item.health in (None, "", "OK")
            ctx.require("healthy", ok_health, component=item.name,
                        meta={"kind": item.kind, "health": item.health or ""},
                        message="" if ok_health else f"reports health {item.health}")
            if item.serial:
                ctx.sink.log(f"{item.kind} {item.name}: serial {item.serial}", "DEBUG")
            want = p.firmware.get(item.kind)
            if want is not None:
                ok = item.firmware == want
                ctx.require("firmware", ok, component=item.name,
                            meta={"kind": item.kind, "found": item.firmware or "", "expected": want},
                            message="" if ok else f"firmware {item.firmware or 'unknown'}, expected {want}")
