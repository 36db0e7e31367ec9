"""The simulated rack's devices: what each one is (profile topology joined with its physics) and the
state of the ones with a state machine.

Simulators read a device's spec through the twin (``twin.trays[name].spec``, ``twin.pdu_specs[pdu]``),
so a spec carries both halves: the profile's fields and the physics fields, as one frozen model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from harness.config.profile import PduSpec, TrayGroup
from harness.sim.physics.curves import Lagged
from harness.sim.physics.params import PduPhysics, TrayPhysics

HostState = Literal["Off", "PoweringOn", "On", "PoweringOff"]
BmcState = Literal["Down", "Booting", "Ready"]


class TraySpec(TrayGroup, TrayPhysics):
    """A tray group as the simulator sees it: its topology and its physics."""

    @classmethod
    def of(cls, group: TrayGroup, physics: TrayPhysics) -> TraySpec:
        return cls(**group.model_dump(), **physics.model_dump())


class PduDevice(PduSpec, PduPhysics):
    """A PDU as the simulator sees it: outlets and feeds (topology), supply and breakers (physics)."""

    @classmethod
    def of(cls, spec: PduSpec, physics: PduPhysics) -> PduDevice:
        return cls(**spec.model_dump(), **physics.model_dump())


@dataclass
class Tray:
    name: str
    spec: TraySpec
    bmc: BmcState = "Down"
    host: HostState = "Off"
    utilization: float = 0.0
    power_cap_w: float | None = None
    boot_gen: int = 0  # bumps on every busbar loss: cancels scheduled transitions of an old boot
    host_gen: int = 0  # bumps on every host command: cancels a pending transition it supersedes
    boot_count: int = 0
    last_reset_time: float | None = None
    os_running: bool = False
    fail_to_boot: bool = False
    failed_fans: set[int] = field(default_factory=set)
    temp: Lagged = field(default_factory=lambda: Lagged(6.0, 30.0))


@dataclass(frozen=True)
class Psu:
    shelf: str
    index: int
    rated_w: float

    @property
    def name(self) -> str:
        return f"{self.shelf}.psu{self.index}"
