"""Rack profile (SKU): the topology the harness expects and the physics the twin simulates."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.errors import ConfigError
from harness.paths import fixtures_dir
from harness.yaml_loader import load_model


class Strict(BaseModel):
    # no NaN or infinity anywhere: a NaN limit never fails, an infinite dwell or timeout never ends
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class TrayGroup(Strict):
    """``count`` trays named by ``name`` (a format string with ``{n}``, 1-based)."""

    name: str
    count: int = Field(default=1, ge=1)
    kind: Literal["compute", "switch"]
    idle_w: float = Field(gt=0)
    max_w: float = Field(gt=0)
    standby_w: float = Field(default=40.0, ge=0, description="BMC only, host off")
    gpus: int = Field(default=0, ge=0)
    gpu_tdp_w: float = Field(default=1200.0, gt=0, description="per-GPU power at 100 % targeted power")
    r_c_per_kw: float = Field(default=9.0, gt=0,
                              description="hottest component rise per kW over coolant (liquid) or inlet air at full airflow (air)")
    tau_s: float = Field(default=6.0, gt=0)
    fans: int = Field(default=0, ge=0, description="air-cooled trays: fans under a speed control loop")
    fan_max_rpm: float = Field(default=16000.0, gt=0)
    fan_min_pct: float = Field(default=30.0, ge=0, le=100)
    exhaust_c_per_kw: float = Field(default=1.5, ge=0, description="exhaust rise over inlet per kW at full airflow")

    def names(self) -> list[str]:
        return [self.name.format(n=i + 1) for i in range(self.count)] if "{" in self.name else [self.name]


class ShelfGroup(Strict):
    name: str
    count: int = Field(default=1, ge=1)
    psus: int = Field(default=6, ge=1)
    psu_rated_w: float = Field(default=5500.0, gt=0)

    def names(self) -> list[str]:
        return [self.name.format(n=i + 1) for i in range(self.count)] if "{" in self.name else [self.name]


class Branch(Strict):
    """A PDU branch circuit behind one breaker."""

    name: str
    outlets: list[int] = Field(min_length=1)
    rating_a: float = Field(gt=0)


class PduSpec(Strict):
    name: str
    outlets: int = Field(ge=1)
    phases: Literal[1, 3] = 3
    voltage_ln: float = Field(default=230.0, gt=0)
    power_factor: float = Field(default=0.98, gt=0, le=1)
    vendor: str = "apc_rpdu2"
    feeds: dict[int, str] = Field(description="outlet -> shelfN.psuM")
    branches: list[Branch] = Field(default_factory=list, description="breakers; none = never trips")


class InstrumentSpec(Strict):
    role: Literal["eload", "power_analyzer", "daq", "ac_source"]
    model: str
    max_current_a: float | None = None
    measures: str | None = Field(default=None, description="what an analyzer is wired to (a PDU name)")
    channels: dict[int, str] = Field(default_factory=dict,
                                     description="DAQ channel -> twin thermocouple point (RackTwin.thermocouple_points)")


class Cdu(Strict):
    """Coolant distribution unit: pumps (N+1) and leak detectors."""

    name: str = "cdu1"
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


class Profile(Strict):
    sku: str
    description: str = ""
    cooling: Literal["liquid", "air"] = "liquid"
    trays: list[TrayGroup] = Field(min_length=1)
    shelves: list[ShelfGroup] = Field(min_length=1)
    pdus: list[PduSpec] = Field(min_length=1)
    instruments: dict[str, InstrumentSpec] = Field(default_factory=dict)
    busbar: Busbar = Busbar()
    psu_efficiency: list[tuple[float, float]] = Field(
        default=[(0.05, 0.80), (0.10, 0.90), (0.20, 0.94), (0.50, 0.96), (1.00, 0.91)],
        description="(load fraction, efficiency) points, 80 PLUS Titanium by default")
    psu_noload_w: float = 20.0
    thermal: Thermal = Thermal()
    cdu: Cdu | None = Field(default=None, description="liquid-cooled racks")
    timing: Timing = Timing()
    power_restore_policy: Literal["AlwaysOn", "AlwaysOff"] = "AlwaysOn"

    @model_validator(mode="after")
    def _feeds_exist(self) -> Profile:
        psus = {f"{s}.psu{i + 1}" for g in self.shelves for s in g.names() for i in range(g.psus)}
        for pdu in self.pdus:
            for outlet, feed in pdu.feeds.items():
                if not 1 <= outlet <= pdu.outlets:
                    raise ValueError(f"{pdu.name}: outlet {outlet} is outside 1..{pdu.outlets}")
                if feed not in psus:
                    raise ValueError(f"{pdu.name}: outlet {outlet} feeds unknown PSU {feed!r}")
        return self

    def tray_names(self, kind: str | None = None) -> list[str]:
        return [n for g in self.trays if kind in (None, g.kind) for n in g.names()]

    def shelf_names(self) -> list[str]:
        return [n for g in self.shelves for n in g.names()]


def profile_path(name_or_path: str, base_dir: Path | None = None) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml"):
        return p if p.is_absolute() or base_dir is None else base_dir / p
    return fixtures_dir() / "profiles" / f"{name_or_path}.yaml"


def load_profile(name_or_path: str, base_dir: Path | None = None) -> Profile:
    path = profile_path(name_or_path, base_dir)
    if not path.exists():
        known = sorted(q.stem for q in (fixtures_dir() / "profiles").glob("*.yaml"))
        raise ConfigError(str(path), None, "profile", f"unknown profile {name_or_path!r} (known: {', '.join(known)})")
    return load_model(Profile, path)
