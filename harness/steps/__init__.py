"""Step kinds. Each module defines ``Params`` (its plan fields) and ``run(ctx, params)``."""

from __future__ import annotations

from types import ModuleType

from harness.steps import ac_cycle, dc_cycle, load_sweep

STEP_KINDS: dict[str, ModuleType] = {
    "ac_cycle": ac_cycle,
    "dc_cycle": dc_cycle,
    "load_sweep": load_sweep,
}
