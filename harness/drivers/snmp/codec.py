"""Raw SNMP values -> model units, strictly: a value of the wrong type, out of range or 'not supported'
is an :class:`SnmpError` naming the PDU, the request and the OID, never a number."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyasn1.type import univ
from pysnmp.proto import rfc1902, rfc1905

from harness.drivers.snmp.mib_objects import ControlSpec, EnumSpec, ObjectSpec
from harness.errors import SnmpError

_INT_TAGS = frozenset({rfc1902.Integer32().tagSet, rfc1902.Gauge32().tagSet, rfc1902.Counter32().tagSet})
_STR_TAG = rfc1902.OctetString().tagSet
_OID_TAG = rfc1902.ObjectIdentifier().tagSet


@dataclass(frozen=True)
class Item:
    """One varbind of a request: what it is (for messages), how to decode it, and where the device
    keeps its decimal digits (Raritan) if it does."""

    label: str
    oid: str
    spec: ObjectSpec | ControlSpec
    digits_oid: str | None = None


#: Decodes a bare integer (decimal digits, GETBULK cursor); never a measurement.
DIGITS = ObjectSpec(oid="0.0", type="Integer32", mib_name="*DecimalDigits")


def decode(pdu: str, item: Item, value: Any, digits_cache: dict[str, int]) -> float | str | int:
    """Raw varbind value -> model units, or SnmpError. Never returns garbage as a number.

    ``digits_cache`` holds the decimal digits already read from the device, by their OID."""
    spec = item.spec
    request = f"GET {item.label} ({item.oid})"
    tag = getattr(value, "tagSet", None)
    if isinstance(value, (rfc1905.NoSuchObject, rfc1905.NoSuchInstance, rfc1905.EndOfMibView)):
        raise SnmpError(pdu, request, f"the agent has no such value ({type(value).__name__})")
    if tag is None or isinstance(value, univ.Null):
        raise SnmpError(pdu, request, f"the agent returned no value ({type(value).__name__})")
    if spec is DIGITS:
        if tag not in _INT_TAGS:
            raise SnmpError(pdu, request, f"expected an integer, got {type(value).__name__}")
        return int(value)
    if spec.numeric:
        if tag not in _INT_TAGS:
            raise SnmpError(pdu, request, f"expected an integer ({spec.type}), got {type(value).__name__}")
        assert isinstance(spec, ObjectSpec)
        return _scaled(pdu, request, item, spec, int(value), digits_cache)
    if spec.type == "OctetString":
        if tag != _STR_TAG:
            raise SnmpError(pdu, request, f"expected a string, got {type(value).__name__}")
        return bytes(value).decode("utf-8", errors="replace").strip()
    if tag != _OID_TAG:
        raise SnmpError(pdu, request, f"expected an OID, got {type(value).__name__}")
    return str(value)


def _scaled(pdu: str, request: str, item: Item, spec: ObjectSpec, raw: int,
            digits_cache: dict[str, int]) -> float | str:
    """An integer checked against the map (sign, 'not supported' values, raw range), then an enum
    name or a value in model units checked against ``plausible``."""
    if spec.type != "Integer32" and raw < 0:
        raise SnmpError(pdu, request, f"negative value {raw} for an unsigned {spec.type}")
    if raw in spec.invalid:
        raise SnmpError(pdu, request, f"the PDU reports {raw}: not supported / not available")
    if spec.range is not None and not spec.range[0] <= raw <= spec.range[1]:
        raise SnmpError(pdu, request, f"implausible raw value {raw} (expected {spec.range[0]}..{spec.range[1]})")
    if isinstance(spec, EnumSpec):
        name = spec.values.get(raw)
        if name is None:
            raise SnmpError(pdu, request, f"unknown enum value {raw} (known: {sorted(spec.values)})")
        return name
    digits = 0
    if item.digits_oid is not None:
        if item.digits_oid not in digits_cache:
            raise SnmpError(pdu, request, "decimal digits not read")
        digits = digits_cache[item.digits_oid]
    scaled = round(raw * spec.factor(digits), 9)  # 0.1 A steps read 2.4, not 2.4000000000000004
    if spec.plausible is not None and not spec.plausible[0] <= scaled <= spec.plausible[1]:
        raise SnmpError(pdu, request, f"implausible value {scaled:g} (raw {raw}, {digits} decimal "
                                      f"digits; expected {spec.plausible[0]:g}..{spec.plausible[1]:g})")
    return scaled
