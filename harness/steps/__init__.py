"""Step kinds. Each module defines ``Params`` (its plan fields) and ``run(ctx, params)``."""

from __future__ import annotations

from types import ModuleType

from harness.steps import (
                           ac_cycle,
                           dc_cycle,
                           group,
                           inventory,
                           leak_check,
                           load_sweep,
                           power_agreement,
                           power_cap,
                           psu_redundancy,
                           sensor_sanity,
                           thermal_soak,
)

STEP_KINDS: dict[str, ModuleType] = {
    "ac_cycle": ac_cycle,
    "dc_cycle": dc_cycle,
    "load_sweep": load_sweep,
    "sensor_sanity": sensor_sanity,
    "thermal_soak": thermal_soak,
    "power_agreement": power_agreement,
    "psu_redundancy": psu_redundancy,
    "inventory": inventory,
    "leak_check": leak_check,
    "power_cap": power_cap,
    "group": group,
}
