"""The simulated rack's physics: one :class:`RackTwin` every simulator reads (see :mod:`.twin`)."""

from harness.sim.physics.curves import source_curve
from harness.sim.physics.noise import noise, uniform
from harness.sim.physics.params import Physics, load_physics, physics_for
from harness.sim.physics.twin import RackTwin

__all__ = ["Physics", "RackTwin", "load_physics", "noise", "physics_for", "source_curve", "uniform"]
