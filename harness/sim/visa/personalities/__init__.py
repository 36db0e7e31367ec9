"""Table-driven simulated instruments: one personality per instrument *role*, serving each model's
commands from its dialect (``harness/drivers/visa/dialects/<model>.yaml``, which the driver reads too).

:func:`personality` builds the simulated instrument of a (role, model); adding a model is adding a
dialect file, adding a role is adding a module here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from harness.drivers.visa.dialect import Dialect, dialect_for, known_models
from harness.sim.visa.device import Wiring
from harness.sim.visa.personalities.ac_source import AcSourcePersonality
from harness.sim.visa.personalities.base import TablePersonality
from harness.sim.visa.personalities.daq import DaqPersonality
from harness.sim.visa.personalities.eload import LoadPersonality
from harness.sim.visa.personalities.power_analyzer import AnalyzerPersonality

if TYPE_CHECKING:
    from harness.sim.physics import RackTwin

__all__ = ["ROLES", "AcSourcePersonality", "AnalyzerPersonality", "DaqPersonality", "LoadPersonality",
           "TablePersonality", "personality", "simulated_models"]

#: role -> the personality that simulates every model of it
ROLES: dict[str, Callable[[RackTwin, Wiring, Dialect], TablePersonality]] = {
    "eload": LoadPersonality,
    "power_analyzer": AnalyzerPersonality,
    "daq": DaqPersonality,
    "ac_source": AcSourcePersonality,
}


def simulated_models() -> list[tuple[str, str]]:
    """Every (role, model) the simulator can serve: every dialect of a simulated role."""
    return [(role, model) for role, models in known_models().items() if role in ROLES for model in models]


def personality(twin: RackTwin, role: str, model: str, wiring: Wiring) -> TablePersonality:
    """The simulated instrument of ``model`` (a ``role``), wired as ``wiring`` says."""
    if role not in ROLES or model not in known_models().get(role, []):
        known = ", ".join(f"{r}/{m}" for r, m in simulated_models())
        raise ValueError(f"no simulated {role} of model {model!r} (known: {known})")
    return ROLES[role](twin, wiring, dialect_for(role, model))
