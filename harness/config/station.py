"""Station file: what is wired where at one test station (or in one simulated station)."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from harness.drivers.visa.dialect import known_models
from harness.errors import ConfigError
from harness.yaml_loader import DOCUMENT, field_line, load_model, read_yaml, to_plain

BmcRole = Literal["compute_tray", "switch_tray", "rack_manager", "power_shelf", "cdu"]
InstrumentRole = Literal["eload", "power_analyzer", "daq", "ac_source"]


class Strict(BaseModel):
    # no NaN or infinity anywhere: a NaN limit never fails, an infinite dwell or timeout never ends
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class BmcEndpoint(Strict):
    """A Redfish service: a tray's BMC, the rack manager, a power shelf controller or the CDU."""

    name: str = Field(min_length=1, description="a tray's name in the rack profile (compute01), or the device's")
    url: str = Field(pattern=r"^https?://[^/\s]+", description="the Redfish service root's host, https://10.0.0.11")
    role: BmcRole = Field(default="compute_tray", description="what the BMC manages")
    credentials: str = Field(min_length=1, description="name of a credential set")
    ca_file: str | None = Field(default=None, description="CA bundle that signs the BMC's certificate")


class PduEndpoint(Strict):
    """A switched rack PDU reached over SNMP, and what each of its outlets feeds."""

    name: str = Field(min_length=1, description="the PDU's name in the rack profile (pdu1)")
    host: str = Field(min_length=1, description="the PDU's address")
    port: int = Field(default=161, ge=1, le=65535, description="SNMP UDP port")
    vendor: str = Field(default="apc_rpdu2", description="SNMP vendor map (harness/drivers/snmp/maps)")
    snmp_version: Literal["2c", "3"] = Field(default="3", description="3 (authPriv) or 2c (community)")
    credentials: str = Field(min_length=1, description="name of a credential set")
    outlets: dict[int, str] = Field(description="outlet number -> what it feeds, e.g. shelf1.psu1")

    @field_validator("vendor")
    @classmethod
    def _known_vendor(cls, v: str) -> str:
        from harness.drivers.snmp.vendor_map import available_maps

        if v not in available_maps():
            raise ValueError(f"unknown SNMP vendor map {v!r} (known: {', '.join(available_maps())})")
        return v

    @field_validator("outlets")
    @classmethod
    def _outlets_positive(cls, v: dict[int, str]) -> dict[int, str]:
        if any(k < 1 for k in v):
            raise ValueError("outlet numbers start at 1")
        return v


class InstrumentEndpoint(Strict):
    """A bench instrument reached over VISA/SCPI."""

    name: str = Field(min_length=1, description="the instrument's name (eload, analyzer)")
    role: InstrumentRole = Field(description="what it does in a run")
    model: str = Field(min_length=1, description="driver dialect, e.g. chroma63600 (harness/drivers/visa/dialects)")
    resource: str = Field(min_length=1, description="VISA resource string")
    calibration_due: date | None = Field(default=None, description="YYYY-MM-DD; a run refuses an instrument past it")
    simulated: bool = Field(default=False, description="a simulator, exempt from calibration")

    def calibration_problem(self, today: date) -> str | None:
        """Why this instrument may not be used today (only a simulated instrument is exempt), or None."""
        if self.simulated:
            return None
        if self.calibration_due is None:
            return "no calibration_due date in the station file"
        if self.calibration_due < today:
            return f"calibration expired on {self.calibration_due}"
        return None

    @field_validator("model")
    @classmethod
    def _known_model(cls, v: str, info: ValidationInfo) -> str:
        """Checked when the file is loaded, not when the run opens the instrument."""
        known = known_models().get(info.data.get("role", ""))
        if known is not None and v not in known:
            raise ValueError(f"no {info.data['role']} driver dialect {v!r} (known: {', '.join(sorted(known))})")
        return v


class HostEndpoint(Strict):
    """A tray's host OS over SSH (for GPU workloads such as DCGM targeted power)."""

    name: str = Field(min_length=1, description="the tray this host runs on")
    host: str = Field(min_length=1)
    port: int = Field(default=22, ge=1, le=65535)
    credentials: str = Field(min_length=1, description="credential set with username and password")
    host_key: str = Field(min_length=1, description="the host's public key ('ssh-ed25519 AAAA...'): pinned, never trusted on first use")


class Timeouts(Strict):
    """How long to wait for each protocol's answer."""

    redfish_s: float = Field(default=10.0, gt=0, description="one Redfish (HTTP) request; also SSH")
    snmp_s: float = Field(default=1.0, gt=0, description="one SNMP request")
    snmp_retries: int = Field(default=1, ge=0, le=5, description="GETs only; SETs are never retried")
    visa_ms: int = Field(default=5000, gt=0, description="one SCPI exchange, in milliseconds")


class RackWiring(Strict):
    """One rack of a multi-rack station: its own BMCs, PDUs and (optionally) instruments.

    Instruments listed at the station level are shared by every rack (and locked while a rack's
    run uses them)."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$", description="the rack's name (--rack NAME)")
    serial: str | None = Field(default=None, description="expected rack serial (used by --all-racks)")
    profile: str | None = Field(default=None, description="the rack's SKU when it differs from the station's")
    bmcs: list[BmcEndpoint] = Field(min_length=1, description="the rack's Redfish services")
    pdus: list[PduEndpoint] = Field(default_factory=list, description="the PDUs feeding the rack")
    instruments: list[InstrumentEndpoint] = Field(default_factory=list, description="this rack's own instruments")
    hosts: list[HostEndpoint] = Field(default_factory=list, description="tray hosts reached over SSH")

    @field_validator("profile")
    @classmethod
    def _known_profile(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is not None and info.context and "base_dir" in info.context:
            check_profile(v, Path(info.context["base_dir"]))
        return v


class Station(Strict):
    station_id: str = Field(min_length=1, description="names the station in every result")
    profile: str = Field(min_length=1, description="rack profile (SKU) name or path")
    simulated: bool = Field(default=False, description="written by rackval sim")
    speed: float = Field(default=1.0, gt=0, description="a simulated station's time scale (rackval sim --speed)")
    credentials_file: str | None = Field(default=None, description="YAML of credential sets, relative to this file")
    power_on_stagger_s: float = Field(default=1.0, ge=0, description="seconds between outlets switched on")
    bmcs: list[BmcEndpoint] = Field(default_factory=list, description="the rack's Redfish services")
    pdus: list[PduEndpoint] = Field(default_factory=list, description="the PDUs feeding the rack")
    instruments: list[InstrumentEndpoint] = Field(default_factory=list, description="bench instruments")
    hosts: list[HostEndpoint] = Field(default_factory=list, description="tray hosts reached over SSH")
    racks: list[RackWiring] = Field(default_factory=list, description="several racks on one station")
    timeouts: Timeouts = Field(default=Timeouts(), description="per-protocol timeouts")
    base_dir: str = Field(default=".", exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _remember_dir(cls, data: object, info) -> object:  # type: ignore[no-untyped-def]
        if isinstance(data, dict) and info.context and "base_dir" in info.context and "base_dir" not in data:
            data = {**data, "base_dir": str(info.context["base_dir"])}
        return data

    @field_validator("profile")
    @classmethod
    def _known_profile(cls, v: str, info: ValidationInfo) -> str:
        """Only when loaded from a file (a relative profile path is relative to it)."""
        if info.context and "base_dir" in info.context:
            check_profile(v, Path(info.context["base_dir"]))
        return v

    @model_validator(mode="after")
    def _speed_only_simulated(self) -> Station:
        if self.speed != 1.0 and not self.simulated:
            raise ValueError("speed applies to simulated stations only")
        return self

    @model_validator(mode="after")
    def _one_rack_or_many(self) -> Station:
        if self.racks and (self.bmcs or self.pdus or self.hosts):
            raise ValueError("list bmcs, pdus and hosts under each of racks, not at the station level")
        if not self.racks and not self.bmcs:
            raise ValueError("a station needs bmcs (one rack) or racks (several)")
        names = [r.name for r in self.racks]
        dup = next((n for n in names if names.count(n) > 1), None)
        if dup:
            raise ValueError(f"rack name {dup!r} is used twice")
        return self

    def rack(self, name: str) -> Station:
        """The single-rack station one rack's run sees: its devices plus the shared instruments."""
        wiring = next((r for r in self.racks if r.name == name), None)
        if wiring is None:
            raise KeyError(name)
        data = self.model_dump(exclude={"racks", "bmcs", "pdus", "instruments", "hosts", "profile"})
        return Station.model_validate({**data, "profile": wiring.profile or self.profile, "bmcs": wiring.bmcs,
                                       "pdus": wiring.pdus, "hosts": wiring.hosts,
                                       "instruments": [*wiring.instruments, *self.instruments],
                                       "base_dir": self.base_dir})

    @model_validator(mode="after")
    def _unique_names(self) -> Station:
        seen: set[str] = set()
        for group in (self.bmcs, self.pdus, self.instruments):
            for dev in group:
                if dev.name in seen:
                    raise ValueError(f"device name {dev.name!r} is used twice")
                seen.add(dev.name)
        return self

    def path(self, rel: str) -> Path:
        p = Path(rel)
        return p if p.is_absolute() else Path(self.base_dir) / p


def check_profile(name: str, base_dir: Path) -> None:
    from harness.config.profile import profile_path
    from harness.paths import fixtures_dir

    if not profile_path(name, base_dir).is_file():
        known = sorted(q.stem for q in (fixtures_dir() / "profiles").glob("*.yaml"))
        raise ValueError(f"unknown profile {name!r} (known: {', '.join(known)}, or a .yaml path)")


class Credentials:
    """Secrets for the devices, never part of any model that is recorded or printed.

    Looked up in the environment first (``RACKVAL_CRED_<SET>_<FIELD>``, upper case), then in the
    station's ``credentials_file``.
    """

    def __init__(self, station: Station, mapping: dict[str, dict[str, str]] | None = None) -> None:
        self._file: dict[str, dict[str, str]] = {k: dict(v) for k, v in (mapping or {}).items()}
        self._path: Path | None = None
        if station.credentials_file and mapping is None:
            self._path = station.path(station.credentials_file)
            self._file = read_credentials_file(self._path)

    def get(self, cred_set: str, field: str) -> str:
        env_name = credential_env_name(cred_set, field)
        env = os.environ.get(env_name)
        if env is not None:
            return env
        try:
            return self._file[cred_set][field]
        except KeyError:
            if self._path is None:
                raise ConfigError("credentials", None, f"{cred_set}.{field}",
                                  f"not in the environment ({env_name}) and the station names no "
                                  "credentials_file") from None
            line = field_line(self._path, cred_set) if cred_set in self._file else None  # the set, lacking a field
            raise ConfigError(str(self._path), line, f"{cred_set}.{field}",
                              f"not in this credentials file nor in the environment ({env_name})") from None

    def values(self) -> list[str]:
        """Every secret value known from the file (used to scrub outputs)."""
        vals = [v for fields in self._file.values() for v in fields.values()]
        vals += [v for k, v in os.environ.items() if k.startswith("RACKVAL_CRED_")]
        return [v for v in vals if len(v) >= 4]


def credential_env_name(cred_set: str, field: str) -> str:
    """The environment variable that supplies one credential field (it wins over the file)."""
    return f"RACKVAL_CRED_{cred_set}_{field}".upper().replace("-", "_")


def read_credentials_file(path: Path) -> dict[str, dict[str, str]]:
    """A credentials file: credential set name -> {field: value}."""
    data = to_plain(read_yaml(path)) or {}
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ConfigError(str(path), 1, DOCUMENT, "expected: credential set name -> {field: value}")
    return {str(k): {str(f): str(x) for f, x in v.items()} for k, v in data.items()}


def load_station(path: Path) -> Station:
    return load_model(Station, path)


def select_rack(station: Station, name: str | None, where: str = "station") -> Station:
    """The station for one rack: the file itself (single rack) or one of its ``racks``."""
    if not station.racks:
        if name:
            raise ConfigError(where, None, "--rack", f"the station lists no racks; {name!r} is not one of them")
        return station
    line = field_line(where, "racks") if Path(where).is_file() else None  # where the racks are listed
    if not name:
        raise ConfigError(where, line, "racks", f"the station lists {len(station.racks)} racks "
                          f"({', '.join(r.name for r in station.racks)}): give --rack NAME or --all-racks")
    try:
        return station.rack(name)
    except KeyError:
        raise ConfigError(where, line, "--rack", f"no rack {name!r} in the station "
                          f"({', '.join(r.name for r in station.racks)})") from None
