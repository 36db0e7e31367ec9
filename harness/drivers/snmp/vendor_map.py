"""Vendor OID maps as data: one YAML per MIB family, validated once, shared by driver and simulator.

The driver holds only generic logic (GET, scale, SET and verify); everything vendor-specific (OIDs,
instance suffixes, ASN.1 types, scales, enum values) lives in ``maps/<vendor>.yaml``. The simulator
serves the same file, so a map that is wrong for the driver is wrong for the simulator too, and the
hardware contract tests are the only place a map can disagree with a real device.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from harness.config.loader import load_model
from harness.errors import ConfigError

MAPS_DIR = Path(__file__).resolve().parent / "maps"

_OID_RE = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")
_INSTANCE_RE = re.compile(r"^(\{outlet\}|\{phase\}|[0-9]+)(\.(\{outlet\}|\{phase\}|[0-9]+))*$")

#: ASN.1 types a map may declare. Integer-like types decode the same way; the driver refuses
#: strings/OIDs where a number is declared and vice versa.
SnmpType = Literal["Integer32", "Gauge32", "Unsigned32", "Counter32", "OctetString", "ObjectIdentifier"]
NUMERIC_TYPES = frozenset({"Integer32", "Gauge32", "Unsigned32", "Counter32"})

OutletStateName = Literal["on", "off", "unknown"]
ControlName = Literal["on", "off", "reboot"]
PendingName = Literal["pending", "idle", "unknown"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ObjectSpec(_Strict):
    """One MIB object: where it is, how it is encoded, and how raw values map to model units."""

    oid: str = Field(description="column or scalar OID, numeric, no leading dot")
    instance: str = Field(default="", description="suffix template: '{outlet}', '{phase}', '1.{outlet}', or '' "
                                                  "when `oid` already names the instance")
    type: SnmpType = "Integer32"
    scale: float = Field(default=1.0, gt=0, description="model units per raw count (0.1 A, 10 W per 0.01 kW)")
    invalid: list[int] = Field(default_factory=list, description="raw values that mean 'not supported' (-1)")
    range: tuple[int, int] | None = Field(default=None, description="plausible raw range; outside -> error")
    mib_name: str = ""

    @field_validator("oid")
    @classmethod
    def _numeric_oid(cls, v: str) -> str:
        if not _OID_RE.match(v):
            raise ValueError(f"not a numeric OID: {v!r}")
        return v

    @field_validator("instance")
    @classmethod
    def _instance_template(cls, v: str) -> str:
        if v and not _INSTANCE_RE.match(v):
            raise ValueError(f"instance must be dotted numbers and {{outlet}}/{{phase}}: {v!r}")
        return v

    @model_validator(mode="after")
    def _range_ordered(self) -> ObjectSpec:
        if self.range is not None and self.range[0] > self.range[1]:
            raise ValueError("range low > high")
        return self

    @property
    def numeric(self) -> bool:
        return self.type in NUMERIC_TYPES

    def oid_for(self, *, outlet: int | None = None, phase: int | None = None) -> str:
        """The full instance OID, e.g. column + '.3' for outlet 3."""
        if not self.instance:
            return self.oid
        for name, value in (("outlet", outlet), ("phase", phase)):
            if "{" + name + "}" in self.instance and value is None:
                raise ValueError(f"{self.oid}: instance {self.instance!r} needs {name}=")
        return f"{self.oid}.{self.instance.format(outlet=outlet, phase=phase)}"


class EnumSpec(ObjectSpec):
    """An enumerated INTEGER: raw value -> name, and back for SETs."""

    values: dict[int, str]

    def raw_of(self, name: str) -> int:
        for raw, n in self.values.items():
            if n == name:
                return raw
        raise KeyError(name)


class StateSpec(EnumSpec):
    values: dict[int, OutletStateName]

    @model_validator(mode="after")
    def _has_on_off(self) -> StateSpec:
        if not {"on", "off"} <= set(self.values.values()):
            raise ValueError("state values must name both 'on' and 'off'")
        return self


class ControlSpec(EnumSpec):
    values: dict[int, ControlName]
    idempotent: list[ControlName] = Field(default_factory=lambda: ["on", "off"],
                                          description="commands that are safe to repeat (never 'reboot')")

    @model_validator(mode="after")
    def _has_on_off(self) -> ControlSpec:
        if not {"on", "off"} <= set(self.values.values()):
            raise ValueError("control values must name both 'on' and 'off'")
        if "reboot" in self.idempotent:
            raise ValueError("'reboot' is never idempotent")
        return self


class PendingSpec(EnumSpec):
    values: dict[int, PendingName]


class OutletObjects(_Strict):
    state: StateSpec
    control: ControlSpec
    pending: PendingSpec | None = None
    current_a: ObjectSpec
    power_w: ObjectSpec
    energy_kwh: ObjectSpec | None = None


class DeviceObjects(_Strict):
    power_w: ObjectSpec
    num_outlets: ObjectSpec
    num_phases: ObjectSpec
    phase_current_a: ObjectSpec
    phase_voltage_v: ObjectSpec | None = None


class IdentityObjects(_Strict):
    model: ObjectSpec
    firmware: ObjectSpec
    serial: ObjectSpec
    sys_descr: ObjectSpec
    sys_object_id: ObjectSpec


class SimDefaults(_Strict):
    """What the simulator serves where the twin has no opinion (identity strings, reboot off-time)."""

    model: str = "SIM"
    sys_object_id: str = "1.3.6.1.4.1"
    reboot_off_s: float = Field(default=5.0, ge=0)


class VendorMap(_Strict):
    vendor: str
    description: str = ""
    sys_object_id_prefix: str = Field(description="sysObjectID prefix that identifies this MIB family")
    max_varbinds: int = Field(default=24, ge=1, le=128, description="varbinds per GET (real firmware is small)")
    outlet: OutletObjects
    device: DeviceObjects
    identity: IdentityObjects
    sim: SimDefaults = SimDefaults()

    @model_validator(mode="after")
    def _types_fit(self) -> VendorMap:
        for group in (self.outlet, self.device):
            for name, spec in group:
                if spec is not None and not spec.numeric:
                    raise ValueError(f"{name}: a measurement or enum must be an integer type, not {spec.type}")
        for name, spec in self.identity:
            want = "ObjectIdentifier" if name == "sys_object_id" else "OctetString"
            if spec.type != want:
                raise ValueError(f"identity.{name}: must be {want}")
        oids = [s.oid for g in (self.outlet, self.device, self.identity) for _, s in g if s is not None]
        if len(oids) != len(set(oids)):
            raise ValueError("two objects share one OID")
        return self


def available_maps() -> list[str]:
    return sorted(p.stem for p in MAPS_DIR.glob("*.yaml"))


@cache
def load_vendor_map(name: str) -> VendorMap:
    """Load and validate ``maps/<name>.yaml`` once; raises ConfigError (file:line: field: problem)."""
    path = MAPS_DIR / f"{name}.yaml"
    if not re.fullmatch(r"[A-Za-z0-9_]+", name) or not path.is_file():
        raise ConfigError(str(path), None, "vendor", f"unknown SNMP vendor map {name!r} "
                                                     f"(known: {', '.join(available_maps())})")
    return load_model(VendorMap, path)
