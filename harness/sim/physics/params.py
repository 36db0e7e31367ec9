"""Physics parameters of a simulated SKU: how its devices behave, read only by the simulator.

The rack profile (:mod:`harness.config.profile`) says what a rack consists of; this says how a
simulated one draws power, heats up and answers in time. It names the profile's parts (tray groups,
shelf groups, PDUs by their profile names) and adds numbers to them, so a profile stays complete
without it. Each SKU's numbers live in ``fixtures/physics/<sku>.yaml``, beside the sources they come
from; :func:`physics_for` finds them by the profile's SKU and falls back to :func:`default_physics`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from harness.config.profile import PduSpec, Profile, ShelfGroup, Strict, TrayGroup
from harness.errors import ConfigError
from harness.paths import fixtures_dir
from harness.yaml_loader import DOCUMENT, field_line, field_name, load_model


class TrayPhysics(Strict):
    """Power and thermal behaviour of one tray group."""

    idle_w: float = Field(gt=0)
    max_w: float = Field(gt=0)
    standby_w: float = Field(default=40.0, ge=0, description="BMC only, host off")
    r_c_per_kw: float = Field(default=9.0, gt=0, description="hottest component rise per kW over coolant (liquid) "
                                                             "or inlet air at full airflow (air)")
    tau_s: float = Field(default=6.0, gt=0)
    fans: int = Field(default=0, ge=0, description="air-cooled trays: fans under a speed control loop")
    fan_max_rpm: float = Field(default=16000.0, gt=0)
    fan_min_pct: float = Field(default=30.0, ge=0, le=100)
    exhaust_c_per_kw: float = Field(default=1.5, ge=0, description="exhaust rise over inlet per kW at full airflow")


class ShelfPhysics(Strict):
    psu_rated_w: float = Field(default=5500.0, gt=0)


class Branch(Strict):
    """A PDU branch circuit behind one breaker."""

    name: str
    outlets: list[int] = Field(min_length=1)
    rating_a: float = Field(gt=0)


class PduPhysics(Strict):
    voltage_ln: float = Field(default=230.0, gt=0)
    power_factor: float = Field(default=0.98, gt=0, le=1)
    branches: list[Branch] = Field(default_factory=list, description="breakers; none = never trips")


class CduPhysics(Strict):
    """The CDU's pumps (N+1) and how fast the supply warms with no flow."""

    pumps: int = Field(default=2, ge=1)
    supply_pressure_kpa: float = 300.0
    return_pressure_kpa: float = 180.0
    supply_rise_c_per_min_no_flow: float = 5.0


class Busbar(Strict):
    nominal_v: float = 50.0
    droop_v_at_full: float = 0.5


class Thermal(Strict):
    coolant_supply_c: float = 30.0
    air_inlet_c: float = 22.0
    flow_lpm_per_kw: float = 1.5
    coolant_tau_s: float = 60.0


class Timing(Strict):
    bmc_boot_s: tuple[float, float] = (60.0, 180.0)
    host_on_s: tuple[float, float] = (5.0, 15.0)
    host_off_s: tuple[float, float] = (2.0, 6.0)
    os_boot_s: tuple[float, float] = (240.0, 480.0)
    outlet_on_delay_s: float = 0.5


# A tray group the physics does not list behaves like a GB200 NVL72 tray of its kind
# (fixtures/physics/nvl72.yaml, where the figures' sources are).
DEFAULT_TRAYS: dict[str, TrayPhysics] = {
    "compute": TrayPhysics(idle_w=1200, max_w=5400, standby_w=60, r_c_per_kw=9.0, tau_s=6),
    "switch": TrayPhysics(idle_w=250, max_w=450, standby_w=30, r_c_per_kw=40.0, tau_s=8),
}


class Physics(Strict):
    """Everything only the simulator needs. Parts are keyed by their profile names; a part left out
    gets the defaults (a tray: :data:`DEFAULT_TRAYS` of its kind)."""

    sku: str = Field(description="the profile SKU these numbers are for")
    trays: dict[str, TrayPhysics] = Field(default_factory=dict, description="tray group name -> its physics")
    shelves: dict[str, ShelfPhysics] = Field(default_factory=dict, description="shelf group name -> its physics")
    pdus: dict[str, PduPhysics] = Field(default_factory=dict, description="PDU name -> its physics")
    busbar: Busbar = Busbar()
    psu_efficiency: list[tuple[float, float]] = Field(
        default=[(0.05, 0.80), (0.10, 0.90), (0.20, 0.94), (0.50, 0.96), (1.00, 0.91)],
        description="(load fraction, efficiency) points, 80 PLUS Titanium by default")
    psu_noload_w: float = 20.0
    thermal: Thermal = Thermal()
    cdu: CduPhysics | None = Field(default=None, description="the profile's CDU (defaults if the profile has one)")
    timing: Timing = Timing()
    power_restore_policy: Literal["AlwaysOn", "AlwaysOff"] = "AlwaysOn"

    def tray(self, group: TrayGroup) -> TrayPhysics:
        return self.trays.get(group.name) or DEFAULT_TRAYS[group.kind]

    def shelf(self, group: ShelfGroup) -> ShelfPhysics:
        return self.shelves.get(group.name) or ShelfPhysics()

    def pdu(self, spec: PduSpec) -> PduPhysics:
        return self.pdus.get(spec.name) or PduPhysics()

    def cdu_of(self, profile: Profile) -> CduPhysics | None:
        """The CDU's physics if the profile has a CDU, else None."""
        return (self.cdu or CduPhysics()) if profile.cdu is not None else None


def misfits(physics: Physics, profile: Profile) -> list[tuple[tuple[str | int, ...], str]]:
    """Where ``physics`` does not fit ``profile``: (field path, problem), first problem first."""
    out: list[tuple[tuple[str | int, ...], str]] = []
    if physics.sku != profile.sku:
        out.append((("sku",), f"physics for {physics.sku!r}, but the profile is {profile.sku!r}"))
    for key, what, parts in (("trays", "tray group", [g.name for g in profile.trays]),
                             ("shelves", "shelf group", [g.name for g in profile.shelves]),
                             ("pdus", "PDU", [p.name for p in profile.pdus])):
        for name in getattr(physics, key):
            if name not in parts:
                out.append(((key, name), f"the profile has no {what} {name!r} (it has: {', '.join(parts)})"))
    outlets = {p.name: p.outlets for p in profile.pdus}
    for pdu, spec in physics.pdus.items():
        for i, branch in enumerate(spec.branches):
            bad = [n for n in branch.outlets if not 1 <= n <= outlets.get(pdu, n)]
            if bad:
                out.append((("pdus", pdu, "branches", i, "outlets"),
                            f"outlet {bad[0]} is outside 1..{outlets[pdu]}"))
    if physics.cdu is not None and profile.cdu is None:
        out.append((("cdu",), "the profile has no CDU"))
    return out


def physics_path(sku: str) -> Path:
    return fixtures_dir() / "physics" / f"{sku}.yaml"


def load_physics(path: Path, profile: Profile | None = None) -> Physics:
    """A physics file, checked against the profile it is for; errors are ``file:line: field: problem``."""
    physics = load_model(Physics, Path(path))
    if profile is not None:
        for keys, problem in misfits(physics, profile)[:1]:
            raise ConfigError(str(path), field_line(path, *keys), field_name(keys) or DOCUMENT, problem)
    return physics


def default_physics(profile: Profile) -> Physics:
    """The documented defaults, for a SKU without a physics file (a profile written by discovery)."""
    return Physics(sku=profile.sku)


def physics_for(profile: Profile) -> Physics:
    """The physics of the profile's SKU: ``fixtures/physics/<sku>.yaml``, else :func:`default_physics`."""
    path = physics_path(profile.sku)
    return load_physics(path, profile) if path.is_file() else default_physics(profile)
