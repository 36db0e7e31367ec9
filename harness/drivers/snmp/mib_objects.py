"""The vocabulary of a vendor map: one MIB object (where, what ASN.1 type, how to scale), enums, controls.

Instance templates name the row of a table: ``{outlet}``, ``{phase}`` and ``{branch}`` are filled in per
request (:meth:`ObjectSpec.oid_for`); any other ``{name}`` is a constant of the map's ``index:`` section,
substituted when the map is loaded (``vendor_map.py``).

Scaling: model value = raw x ``scale`` / 10 ** digits, where digits is 0 unless the object names a
``digits`` object, which the driver reads from the device (Raritan's ``*SensorDecimalDigits``).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_OID_RE = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")
#: Per-request variables of an instance template; every other ``{name}`` is a map constant.
TEMPLATE_VARS = ("outlet", "phase", "branch")
_PART = r"(\{outlet\}|\{phase\}|\{branch\}|[0-9]+)"
_INSTANCE_RE = re.compile(rf"^{_PART}(\.{_PART})*$")

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


class Strict(BaseModel):
    """Frozen, and refuses unknown keys (a typo in a map is an error, not a default)."""

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


class Located(Strict):
    """An object's place in the MIB: a column or scalar OID and the instance template of its row."""

    oid: str = Field(description="column or scalar OID, numeric, no leading dot")
    instance: str = Field(default="", description="suffix template: '{outlet}', '{phase}', '1.{outlet}.5', or '' "
                                                  "when `oid` already names the instance")

    @field_validator("oid")
    @classmethod
    def _numeric_oid(cls, v: str) -> str:
        return _check_oid(v)

    @field_validator("instance")
    @classmethod
    def _instance_template(cls, v: str) -> str:
        return _check_instance(v)

    def oid_for(self, *, outlet: int | None = None, phase: int | None = None, branch: int | None = None) -> str:
        """The full instance OID, e.g. column + '.3' for outlet 3."""
        return _fill(self.oid, self.instance, outlet, phase, branch)


class DigitsSpec(Located):
    """Where the device says how many decimal digits a sensor's raw value carries (Raritan)."""

    range: tuple[int, int] = (0, 6)
    sim: int = Field(default=0, ge=0, le=6, description="what the simulator reports")
    mib_name: str = ""


class ObjectSpec(Located):
    """One MIB object: where it is, how it is encoded, and how raw values map to model units."""

    type: SnmpType = "Integer32"
    scale: float = Field(default=1.0, gt=0, description="model units per raw count (0.1 A, 10 W per 0.01 kW)")
    digits: DigitsSpec | None = Field(default=None, description="decimal digits read from the device")
    invalid: list[int] = Field(default_factory=list, description="raw values that mean 'not supported' (-1)")
    range: tuple[int, int] | None = Field(default=None, description="plausible raw range; outside -> error")
    plausible: tuple[float, float] | None = Field(
        default=None, description="plausible value in model units (A, W, V); outside -> error. For objects "
                                  "whose scale the device reports (decimal digits), where a raw range cannot say it")
    mib_name: str = ""

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


class ControlSpec(Strict):
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


class GroupCommandSpec(EnumSpec):
    values: dict[int, GroupCommandName]
