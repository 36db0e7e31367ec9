"""Rack profile (SKU): the topology the harness expects of a rack.

What a rack of this SKU consists of and how it is wired: trays (kind, GPUs), power shelves and PSUs,
the PDUs and which outlet feeds which PSU, the instruments on its bench, whether it has a CDU. Only
what the harness reads belongs here, so a profile of a real rack (``rackval discover``) is complete
without any simulation numbers. How a simulated rack of the SKU behaves (power draw, lags, delays,
breakers) is the simulator's own file: :mod:`harness.sim.physics.params`.
"""

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
    gpus: int = Field(default=0, ge=0)
    gpu_tdp_w: float = Field(default=1200.0, gt=0, description="per-GPU power at 100 % targeted power")

    def names(self) -> list[str]:
        return [self.name.format(n=i + 1) for i in range(self.count)] if "{" in self.name else [self.name]


class ShelfGroup(Strict):
    name: str
    count: int = Field(default=1, ge=1)
    psus: int = Field(default=6, ge=1)

    def names(self) -> list[str]:
        return [self.name.format(n=i + 1) for i in range(self.count)] if "{" in self.name else [self.name]


class PduSpec(Strict):
    """A PDU and what its outlets feed."""

    name: str
    outlets: int = Field(ge=1)
    phases: Literal[1, 3] = 3
    vendor: str = "apc_rpdu2"
    feeds: dict[int, str] = Field(description="outlet -> shelfN.psuM")


class InstrumentSpec(Strict):
    role: Literal["eload", "power_analyzer", "daq", "ac_source"]
    model: str
    max_current_a: float | None = None
    measures: str | None = Field(default=None, description="what an analyzer is wired to (a PDU name)")
    channels: dict[int, str] = Field(default_factory=dict,
                                     description="DAQ channel -> thermocouple point (coolant_supply, coolant_return, "
                                                 "air_inlet, air_exhaust)")


class Cdu(Strict):
    """Coolant distribution unit of a liquid-cooled rack."""

    name: str = "cdu1"


class Profile(Strict):
    sku: str
    description: str = ""
    cooling: Literal["liquid", "air"] = "liquid"
    trays: list[TrayGroup] = Field(min_length=1)
    shelves: list[ShelfGroup] = Field(min_length=1)
    pdus: list[PduSpec] = Field(min_length=1)
    instruments: dict[str, InstrumentSpec] = Field(default_factory=dict)
    cdu: Cdu | None = Field(default=None, description="liquid-cooled racks")

    @model_validator(mode="after")
    def _feeds_exist(self) -> Profile:
        psus = set(self.psu_names())
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

    def psu_names(self) -> list[str]:
        """Every PSU as the outlets' feeds name it: ``shelfN.psuM``."""
        return [f"{s}.psu{i + 1}" for g in self.shelves for s in g.names() for i in range(g.psus)]


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
