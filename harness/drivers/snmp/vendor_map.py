"""Vendor OID maps as data: one YAML per MIB family, validated once, shared by driver and simulator.

The driver holds only generic logic (GET, scale, SET and verify, bulk-walk a column); everything
vendor-specific (OIDs, instance templates, ASN.1 types, scales, enum values, control semantics) lives in
``maps/<vendor>.yaml``. The simulator serves the same file, so a map that is wrong for the driver is
wrong for the simulator too, and the hardware contract tests are the only place a map can disagree
with a real device. The objects a map is made of are in ``mib_objects.py``.

Instance templates: anything in braces other than ``{outlet}``, ``{phase}`` and ``{branch}`` (``{unit}``,
``{cord}``, ``{pdu}``, ``{strap}``, ``{inlet}``) is a constant of the map's ``index:`` section (e.g.
Sentry4 ``{unit}.{cord}.{outlet}`` with unit A = 1, cord A = 1; Eaton ``{strap}.{outlet}`` with the first
unit's strapping index 0) and is substituted here, when the map is loaded.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from harness.drivers.snmp.mib_objects import (
    NUMERIC_TYPES,
    TEMPLATE_VARS,
    BreakerStateSpec,
    ControlName,
    ControlSpec,
    DigitsSpec,
    EnumSpec,
    GroupCommandSpec,
    ObjectSpec,
    PendingSpec,
    SnmpType,
    StateSpec,
    Strict,
)
from harness.errors import ConfigError
from harness.yaml_loader import load_model

__all__ = [
    "MAPS_DIR", "NUMERIC_TYPES", "BreakerObjects", "BreakerStateSpec", "ControlName", "ControlSpec",
    "DeviceObjects", "DigitsSpec", "EnumSpec", "GroupCommandSpec", "IdentityObjects", "ObjectSpec",
    "OutletObjects", "PendingSpec", "SequenceObjects", "SimDefaults", "SnmpType", "StateSpec", "VendorMap",
    "available_maps", "load_vendor_map", "load_vendor_map_file",
]

MAPS_DIR = Path(__file__).resolve().parent / "maps"
_CONST_RE = re.compile(r"\{([a-z_]+)\}")


class OutletObjects(Strict):
    state: StateSpec
    control: ControlSpec
    pending: PendingSpec | None = None
    current_a: ObjectSpec
    power_w: ObjectSpec
    energy_kwh: ObjectSpec | None = None


class DeviceObjects(Strict):
    """The inlet (whole PDU) and its phases (lines)."""

    power_w: ObjectSpec
    energy_kwh: ObjectSpec | None = None
    current_a: ObjectSpec | None = None
    num_outlets: ObjectSpec | None = None
    num_phases: ObjectSpec | None = Field(default=None, description="absent: the driver walks the phase table")
    phase_current_a: ObjectSpec
    phase_voltage_v: ObjectSpec | None = None
    phase_power_w: ObjectSpec | None = None


class BreakerObjects(Strict):
    """Branch circuit breakers (banks, OCPs, groups), instance ``{branch}`` = 1-based branch number."""

    state: BreakerStateSpec
    current_a: ObjectSpec | None = None


class SequenceObjects(Strict):
    """The PDU's own sequenced power-on: per-outlet on-delays, then one group command (APC
    rPDU2OutletSwitchedConfigPowerOnTime + rPDU2DeviceControlCommand delayedAllOn)."""

    on_delay_s: ObjectSpec
    command: GroupCommandSpec

    @model_validator(mode="after")
    def _has_sequenced(self) -> SequenceObjects:
        if not self.command.has("all_on_sequenced"):
            raise ValueError("sequence.command must offer 'all_on_sequenced'")
        return self


class IdentityObjects(Strict):
    model: ObjectSpec
    firmware: ObjectSpec
    serial: ObjectSpec
    sys_descr: ObjectSpec
    sys_object_id: ObjectSpec


class SimDefaults(Strict):
    """What the simulator serves where the twin has no opinion (identity strings, reboot off-time)."""

    model: str = "SIM"
    sys_object_id: str = "1.3.6.1.4.1"
    reboot_off_s: float = Field(default=5.0, ge=0)


class VendorMap(Strict):
    vendor: str
    description: str = ""
    sys_object_id_prefix: str = Field(description="sysObjectID prefix that identifies this MIB family")
    max_varbinds: int = Field(default=24, ge=1, le=128, description="varbinds per GET (real firmware is small)")
    index: dict[str, int] = Field(default_factory=dict, description="constants of the instance templates")
    outlet: OutletObjects
    device: DeviceObjects
    breaker: BreakerObjects | None = None
    sequence: SequenceObjects | None = None
    identity: IdentityObjects
    sim: SimDefaults = SimDefaults()

    @model_validator(mode="before")
    @classmethod
    def _substitute_constants(cls, data: Any) -> Any:
        """Replace ``{unit}``-style constants of ``index:`` in every instance template."""
        if not isinstance(data, dict):
            return data
        consts = data.get("index") or {}
        if not isinstance(consts, dict):
            return data
        for name in consts:
            if name in TEMPLATE_VARS:
                raise ValueError(f"index: {name!r} is filled per request, it cannot be a constant")

        def walk(node: Any) -> Any:
            if isinstance(node, dict):
                out = {}
                for k, v in node.items():
                    if k == "instance" and isinstance(v, str):
                        out[k] = _CONST_RE.sub(
                            lambda m: str(consts[m.group(1)]) if m.group(1) in consts else m.group(0), v)
                    else:
                        out[k] = walk(v)
                return out
            if isinstance(node, list):
                return [walk(x) for x in node]
            return node

        return {k: (walk(v) if k not in ("index", "sim") else v) for k, v in data.items()}

    @model_validator(mode="after")
    def _types_fit(self) -> VendorMap:
        for group in (self.outlet, self.device, self.breaker, self.sequence):
            if group is None:
                continue
            for name, spec in group:
                if spec is not None and not spec.numeric:
                    raise ValueError(f"{name}: a measurement or enum must be an integer type")
        for name, spec in self.identity:
            want = "ObjectIdentifier" if name == "sys_object_id" else "OctetString"
            if spec.type != want:
                raise ValueError(f"identity.{name}: must be {want}")
        keys: list[str] = []
        for spec in self.all_specs():
            if isinstance(spec, ControlSpec):
                keys += [f"{o}|{spec.instance}" for o in ([spec.oid] if spec.oid else spec.commands.values())]
            else:
                keys.append(f"{spec.oid}|{spec.instance}")
        if len(keys) != len(set(keys)):
            raise ValueError("two objects share one OID and instance")
        return self

    def all_specs(self) -> list[ObjectSpec | ControlSpec]:
        out: list[ObjectSpec | ControlSpec] = []
        for group in (self.outlet, self.device, self.breaker, self.sequence, self.identity):
            if group is not None:
                out += [spec for _, spec in group if spec is not None]
        return out

    def pending_source(self) -> EnumSpec | None:
        """The column that shows a pending command: the pending column, or a state column with
        pending_* values (Eaton), or None when the MIB has neither (Raritan)."""
        if self.outlet.pending is not None:
            return self.outlet.pending
        state = self.outlet.state
        if state.has("pending_on") or state.has("pending_off"):
            return state
        return None


def available_maps() -> list[str]:
    return sorted(p.stem for p in MAPS_DIR.glob("*.yaml"))


def load_vendor_map_file(path: Path) -> VendorMap:
    """Load and validate one map file (any path); raises ConfigError (file:line: field: problem)."""
    return load_model(VendorMap, Path(path))


@cache
def load_vendor_map(name: str) -> VendorMap:
    """Load and validate ``maps/<name>.yaml`` once; raises ConfigError (file:line: field: problem)."""
    path = MAPS_DIR / f"{name}.yaml"
    if not re.fullmatch(r"[A-Za-z0-9_]+", name) or not path.is_file():
        raise ConfigError(str(path), None, "vendor", f"unknown SNMP vendor map {name!r} "
                                                     f"(known: {', '.join(available_maps())})")
    return load_model(VendorMap, path)
