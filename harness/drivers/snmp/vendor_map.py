"""Vendor OID maps as data: one YAML per MIB family, validated once, shared by driver and simulator.

The driver holds only generic logic (GET, scale, SET and verify, bulk-walk a column); everything
vendor-specific (OIDs, instance templates, ASN.1 types, scales, enum values, control semantics) lives in
``maps/<vendor>.yaml``. The simulator serves the same file, so a map that is wrong for the driver is
wrong for the simulator too, and the hardware contract tests are the only place a map can disagree
with a real device.

Instance templates name the row of a table: ``{outlet}``, ``{phase}`` and ``{branch}`` are filled in per
request; anything else in braces (``{unit}``, ``{cord}``, ``{pdu}``, ``{strap}``, ``{inlet}``) is a
constant of the map's ``index:`` section (e.g. Sentry4 ``{unit}.{cord}.{outlet}`` with unit A = 1, cord
A = 1; Eaton ``{strap}.{outlet}`` with the first unit's strapping index 0) and is substituted when the
map is loaded.

Scaling: model value = raw x ``scale`` / 10 ** digits, where digits is 0 unless the object names a
``digits`` object, which the driver reads from the device (Raritan's ``*SensorDecimalDigits``).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from harness.errors import ConfigError
from harness.yaml_loader import load_model

MAPS_DIR = Path(__file__).resolve().parent / "maps"

_OID_RE = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")
#: Per-request variables of an instance template; every other ``{name}`` is a map constant.
TEMPLATE_VARS = ("outlet", "phase", "branch")
_PART = r"(\{outlet\}|\{phase\}|\{branch\}|[0-9]+)"
_INSTANCE_RE = re.compile(rf"^{_PART}(\.{_PART})*$")
_CONST_RE = re.compile(r"\{([a-z_]+)\}")

#: ASN.1 types a map may declare. Integer-like types decode the same way; the driver refuses
#: strings/OIDs where a number is declared and vice versa.
SnmpType = Literal["Integer32", "Gauge32", "Unsigned32", "Counter32", "OctetString", "ObjectIdentifier"]
NUMERIC_TYPES = frozenset({"Integer32", "Gauge32", "Unsigned32", "Counter32"})

#: Relay state names. ``pending_on`` = the relay is open and an 'on' waits (Eaton pendingOn(3));
#: ``pending_off`` = the relay is closed and an 'off' waits.
OutletStateName = Literal["on", "off", "unknown", "pending_on", "pending_off"]
ControlName = Literal["on", "off", "reboot"]
#: ``idle_on``/``idle_off``/``pending_on``/``pending_off`` let a richer column (Sentry4
#: st4OutletControlState) say which way; the driver only distinguishes pending / idle / unknown.
PendingName = Literal["pending", "idle", "unknown", "idle_on", "idle_off", "pending_on", "pending_off"]
BreakerName = Literal["ok", "tripped", "overload", "unknown"]
GroupCommandName = Literal["all_on", "all_on_sequenced", "all_off", "none"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_oid(v: str) -> str:
    if not _OID_RE.match(v):
        raise ValueError(f"not a numeric OID: {v!r}")
    return v


def _check_instance(v: str) -> str:
    if v and not _INSTANCE_RE.match(v):
        raise ValueError(f"instance must be dotted numbers and {{outlet}}/{{phase}}/{{branch}} "
                         f"(or a constant of the map's index:): {v!r}")
    return v


def _fill(oid: str, instance: str, outlet: int | None, phase: int | None, branch: int | None) -> str:
    if not instance:
        return oid
    values = {"outlet": outlet, "phase": phase, "branch": branch}
    for name, value in values.items():
        if "{" + name + "}" in instance and value is None:
            raise ValueError(f"{oid}: instance {instance!r} needs {name}=")
    return f"{oid}.{instance.format(**values)}"


class DigitsSpec(_Strict):
    """Where the device says how many decimal digits a sensor's raw value carries (Raritan)."""

    oid: str
    instance: str = ""
    range: tuple[int, int] = (0, 6)
    sim: int = Field(default=0, ge=0, le=6, description="what the simulator reports")
    mib_name: str = ""

    @field_validator("oid")
    @classmethod
    def _numeric_oid(cls, v: str) -> str:
        return _check_oid(v)

    @field_validator("instance")
    @classmethod
    def _instance_template(cls, v: str) -> str:
        return _check_instance(v)

    def oid_for(self, *, outlet: int | None = None, phase: int | None = None, branch: int | None = None) -> str:
        return _fill(self.oid, self.instance, outlet, phase, branch)


class ObjectSpec(_Strict):
    """One MIB object: where it is, how it is encoded, and how raw values map to model units."""

    oid: str = Field(description="column or scalar OID, numeric, no leading dot")
    instance: str = Field(default="", description="suffix template: '{outlet}', '{phase}', '1.{outlet}.5', or '' "
                                                  "when `oid` already names the instance")
    type: SnmpType = "Integer32"
    scale: float = Field(default=1.0, gt=0, description="model units per raw count (0.1 A, 10 W per 0.01 kW)")
    digits: DigitsSpec | None = Field(default=None, description="decimal digits read from the device")
    invalid: list[int] = Field(default_factory=list, description="raw values that mean 'not supported' (-1)")
    range: tuple[int, int] | None = Field(default=None, description="plausible raw range; outside -> error")
    plausible: tuple[float, float] | None = Field(
        default=None, description="plausible value in model units (A, W, V); outside -> error. For objects "
                                  "whose scale the device reports (decimal digits), where a raw range cannot say it")
    mib_name: str = ""

    @field_validator("oid")
    @classmethod
    def _numeric_oid(cls, v: str) -> str:
        return _check_oid(v)

    @field_validator("instance")
    @classmethod
    def _instance_template(cls, v: str) -> str:
        return _check_instance(v)

    @model_validator(mode="after")
    def _range_ordered(self) -> ObjectSpec:
        if self.range is not None and self.range[0] > self.range[1]:
            raise ValueError("range low > high")
        if self.plausible is not None and self.plausible[0] > self.plausible[1]:
            raise ValueError("plausible low > high")
        if self.digits is not None and self.type not in NUMERIC_TYPES:
            raise ValueError("digits only apply to integer types")
        return self

    @property
    def numeric(self) -> bool:
        return self.type in NUMERIC_TYPES

    def oid_for(self, *, outlet: int | None = None, phase: int | None = None, branch: int | None = None) -> str:
        """The full instance OID, e.g. column + '.3' for outlet 3."""
        return _fill(self.oid, self.instance, outlet, phase, branch)

    def factor(self, digits: int = 0) -> float:
        """Model units per raw count once the device's decimal digits are known."""
        return self.scale / (10 ** digits)


class EnumSpec(ObjectSpec):
    """An enumerated INTEGER: raw value -> name, and back for SETs."""

    values: dict[int, str]

    def raw_of(self, name: str) -> int:
        for raw, n in self.values.items():
            if n == name:
                return raw
        raise KeyError(name)

    def has(self, name: str) -> bool:
        return name in self.values.values()


class StateSpec(EnumSpec):
    values: dict[int, OutletStateName]

    @model_validator(mode="after")
    def _has_on_off(self) -> StateSpec:
        if not {"on", "off"} <= set(self.values.values()):
            raise ValueError("state values must name both 'on' and 'off'")
        return self


class PendingSpec(EnumSpec):
    values: dict[int, PendingName]


class BreakerStateSpec(EnumSpec):
    values: dict[int, BreakerName]

    @model_validator(mode="after")
    def _can_say_tripped(self) -> BreakerStateSpec:
        names = set(self.values.values())
        if "ok" not in names or not names & {"tripped", "overload"}:
            raise ValueError("breaker values must name 'ok' and 'tripped' (or 'overload')")
        return self


class ControlSpec(_Strict):
    """How to switch an outlet.

    ``mode: value`` (APC, Raritan, Sentry4): one writable column; the command is the value written
    (``values`` raw -> command). ``mode: delay`` (Eaton): one writable column per command
    (``commands``); the value written is a delay in seconds and ``now`` (0) means at once.
    """

    mode: Literal["value", "delay"] = "value"
    oid: str | None = None
    instance: str = ""
    type: Literal["Integer32"] = "Integer32"
    values: dict[int, ControlName] = Field(default_factory=dict)
    commands: dict[ControlName, str] = Field(default_factory=dict, description="delay mode: command -> column OID")
    now: int = Field(default=0, description="delay mode: the delay that means 'at once'")
    idle_read: int | None = Field(default=None, description="what a GET of the control column returns "
                                                            "(None: it mirrors the state, as APC's does)")
    idempotent: list[ControlName] = Field(default_factory=lambda: ["on", "off"],
                                          description="commands that are safe to repeat (never 'reboot')")
    mib_name: str = ""

    @field_validator("instance")
    @classmethod
    def _instance_template(cls, v: str) -> str:
        return _check_instance(v)

    @field_validator("oid")
    @classmethod
    def _oid_ok(cls, v: str | None) -> str | None:
        return v if v is None else _check_oid(v)

    @field_validator("commands")
    @classmethod
    def _command_oids(cls, v: dict[str, str]) -> dict[str, str]:
        for oid in v.values():
            _check_oid(oid)
        return v

    @model_validator(mode="after")
    def _complete(self) -> ControlSpec:
        if self.mode == "value":
            if self.oid is None or self.commands:
                raise ValueError("mode 'value' needs oid and values (and no commands)")
            names = set(self.values.values())
        else:
            if self.oid is not None or self.values:
                raise ValueError("mode 'delay' needs commands (and no oid/values)")
            names = set(self.commands)
        if not {"on", "off"} <= names:
            raise ValueError("control must offer both 'on' and 'off'")
        if "reboot" in self.idempotent:
            raise ValueError("'reboot' is never idempotent")
        return self

    @property
    def numeric(self) -> bool:
        return True

    def offers(self, command: str) -> bool:
        return command in (self.values.values() if self.mode == "value" else self.commands)

    def raw_of(self, command: str) -> int:
        """The value to write for ``command`` (delay mode: the 'now' delay)."""
        if self.mode == "delay":
            if command not in self.commands:
                raise KeyError(command)
            return self.now
        for raw, n in self.values.items():
            if n == command:
                return raw
        raise KeyError(command)

    def oid_for(self, *, outlet: int | None = None, command: str = "on", **_: Any) -> str:
        """The column instance to write ``command`` to (value mode: the one control column)."""
        if self.mode == "delay":
            return _fill(self.commands[command], self.instance, outlet, None, None)  # type: ignore[index]
        assert self.oid is not None
        return _fill(self.oid, self.instance, outlet, None, None)

    def set_for(self, command: str, outlet: int) -> tuple[str, int]:
        """(OID, raw value) of the SET that sends ``command`` to ``outlet``."""
        return self.oid_for(outlet=outlet, command=command), self.raw_of(command)


class OutletObjects(_Strict):
    state: StateSpec
    control: ControlSpec
    pending: PendingSpec | None = None
    current_a: ObjectSpec
    power_w: ObjectSpec
    energy_kwh: ObjectSpec | None = None


class DeviceObjects(_Strict):
    """The inlet (whole PDU) and its phases (lines)."""

    power_w: ObjectSpec
    energy_kwh: ObjectSpec | None = None
    current_a: ObjectSpec | None = None
    num_outlets: ObjectSpec | None = None
    num_phases: ObjectSpec | None = Field(default=None, description="absent: the driver walks the phase table")
    phase_current_a: ObjectSpec
    phase_voltage_v: ObjectSpec | None = None
    phase_power_w: ObjectSpec | None = None


class BreakerObjects(_Strict):
    """Branch circuit breakers (banks, OCPs, groups), instance ``{branch}`` = 1-based branch number."""

    state: BreakerStateSpec
    current_a: ObjectSpec | None = None


class GroupCommandSpec(EnumSpec):
    values: dict[int, GroupCommandName]


class SequenceObjects(_Strict):
    """The PDU's own sequenced power-on: per-outlet on-delays, then one group command (APC
    rPDU2OutletSwitchedConfigPowerOnTime + rPDU2DeviceControlCommand delayedAllOn)."""

    on_delay_s: ObjectSpec
    command: GroupCommandSpec

    @model_validator(mode="after")
    def _has_sequenced(self) -> SequenceObjects:
        if not self.command.has("all_on_sequenced"):
            raise ValueError("sequence.command must offer 'all_on_sequenced'")
        return self


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
