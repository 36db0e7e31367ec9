"""A pysnmp MIB instrumentation made of Python callbacks, and the encoding of model values into it.

pysnmp's own MIB tree wants compiled MIB modules; a simulated PDU wants "this OID reads the twin
now". :class:`CallbackMib` maps each OID to a getter (evaluated on every request) and optionally a
setter (validates, then commits), keeps GETNEXT/GETBULK order, honours the VACM access check pysnmp
hands it, and counts requests for tests and benchmarks.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable
from typing import Any

from pyasn1.type import univ
from pysnmp.proto import rfc1902, rfc1905
from pysnmp.smi import error as smi_error
from pysnmp.smi import instrum

from harness.drivers.snmp.mib_objects import ControlSpec, ObjectSpec

Oid = tuple[int, ...]
Getter = Callable[[], Any]
#: A setter validates the value (raising an SMI error) and returns the action that commits it.
Setter = Callable[[Any, int], Callable[[], None]]

_TYPES: dict[str, Any] = {
    "Integer32": rfc1902.Integer32,
    "Gauge32": rfc1902.Gauge32,
    "Unsigned32": rfc1902.Unsigned32,
    "Counter32": rfc1902.Counter32,
    "OctetString": rfc1902.OctetString,
    "ObjectIdentifier": rfc1902.ObjectIdentifier,
}
_INT32 = (-(2**31), 2**31 - 1)
_UINT32 = (0, 2**32 - 1)


def oid_tuple(oid: str) -> Oid:
    return tuple(int(x) for x in oid.strip(".").split("."))


class CallbackMib(instrum.AbstractMibInstrumController):
    """OID -> getter / setter, evaluated on every request; counts requests for tests and benchmarks.

    Runs synchronously on the agent's event loop: getters must not block.
    """

    def __init__(self) -> None:
        self._getters: dict[Oid, Getter] = {}
        self._setters: dict[Oid, Setter] = {}
        self._keys: list[Oid] = []
        self.overrides: dict[Oid, Any] = {}
        self.requests: Counter[str] = Counter()
        self.varbinds: Counter[str] = Counter()

    def reset_counters(self) -> None:
        self.requests.clear()
        self.varbinds.clear()

    def register(self, oid: str, getter: Getter, setter: Setter | None = None) -> None:
        key = oid_tuple(oid)
        self._getters[key] = getter
        if setter is not None:
            self._setters[key] = setter
        self._keys = sorted(self._getters)

    def _value(self, key: Oid, idx: int) -> Any:
        if key in self.overrides:
            return self.overrides[key]
        try:
            return self._getters[key]()
        except smi_error.SmiError:
            raise
        except Exception as exc:  # a model bug must become genErr, not a dropped request
            raise smi_error.GenError(name=key, idx=idx) from exc

    @staticmethod
    def _readable(vb: tuple[Any, Any], idx: int, ctx: dict[str, Any]) -> bool:
        ac = ctx.get("acFun")
        return not (ac and ac("read", vb, idx=idx, **ctx))

    def read_variables(self, *var_binds: tuple[Any, Any], **ctx: Any) -> list[tuple[Any, Any]]:
        self.requests["get"] += 1
        self.varbinds["get"] += len(var_binds)
        out = []
        for idx, (oid, val) in enumerate(var_binds):
            key = tuple(oid)
            if key not in self._getters or not self._readable((oid, val), idx, ctx):
                out.append((oid, rfc1905.noSuchObject))
            else:
                out.append((oid, self._value(key, idx)))
        return out

    def read_next_variables(self, *var_binds: tuple[Any, Any], **ctx: Any) -> list[tuple[Any, Any]]:
        self.requests["next"] += 1
        self.varbinds["next"] += len(var_binds)
        out = []
        for idx, (oid, _) in enumerate(var_binds):
            i = bisect.bisect_right(self._keys, tuple(oid))
            while i < len(self._keys) and not self._readable((self._keys[i], None), idx, ctx):
                i += 1
            if i < len(self._keys):
                key = self._keys[i]
                out.append((rfc1902.ObjectName(key), self._value(key, idx)))
            else:
                out.append((oid, rfc1905.endOfMibView))
        return out

    def write_variables(self, *var_binds: tuple[Any, Any], **ctx: Any) -> list[tuple[Any, Any]]:
        """All or nothing: check access and validate every varbind, then commit them in order."""
        self.requests["set"] += 1
        self.varbinds["set"] += len(var_binds)
        ac = ctx.get("acFun")
        for idx, (oid, val) in enumerate(var_binds):
            if ac and ac("write", (oid, val), idx=idx, **ctx):
                raise smi_error.NoAccessError(name=oid, idx=idx)
            if tuple(oid) not in self._setters:
                raise smi_error.NotWritableError(name=oid, idx=idx)
        commits = [self._setters[tuple(oid)](val, idx) for idx, (oid, val) in enumerate(var_binds)]
        for commit in commits:
            commit()
        return [(oid, self._value(tuple(oid), idx)) for idx, (oid, _) in enumerate(var_binds)]


SNMP_ENGINE_ID = "1.3.6.1.6.3.10.2.1.1.0"
SNMP_ENGINE_BOOTS = "1.3.6.1.6.3.10.2.1.2.0"
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
SYS_NAME = "1.3.6.1.2.1.1.5.0"


def encode(spec: ObjectSpec | ControlSpec, value: float | int | str, digits: int = 0) -> Any:
    """Model value -> the vendor's raw ASN.1 value (inverse scale, rounded to the vendor's resolution,
    clamped to the type)."""
    cls = _TYPES[spec.type]
    if spec.type in ("OctetString", "ObjectIdentifier"):
        return cls(str(value))
    factor = spec.factor(digits) if isinstance(spec, ObjectSpec) else 1.0
    raw = int(round(float(value) / factor))
    lo, hi = _INT32 if spec.type == "Integer32" else _UINT32
    return cls(min(hi, max(lo, raw)))


def int_value(value: Any, oid: str, idx: int) -> int:
    """The integer a SET carries, or wrongType (what a real agent answers to a string for an INTEGER)."""
    if not isinstance(value, univ.Integer):
        raise smi_error.WrongTypeError(name=oid, idx=idx)
    return int(value)
