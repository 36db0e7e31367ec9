"""Pdu: switched and metered rack PDU over SNMP, vendor-neutral (the OIDs come from a vendor map).

Rules this driver keeps, and why:

* A power SET goes out exactly once, with ``retries=0``: pysnmp re-sends a SET on every retry and
  the agent executes each copy. Whether or not the SET was answered, the outlet state is read back
  (clock-based polling) until it matches; if it never does, :class:`PowerActionUncertain`.
* Reads are batched: many varbinds per GET, chunked to the map's ``max_varbinds`` (about 5x faster
  than single GETs and kinder to slow PDU firmware). Requests to one PDU are serialised.
* Every failure is a :class:`SnmpError` (or :class:`SnmpTimeout`) that names the PDU, the request and
  the OID; a value of the wrong type, out of range or 'not supported' is an error, never a number.
* Numeric OIDs only, ``lookupMib=False``: no MIB compiler (pysmi) at run time.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pyasn1.type import univ
from pysnmp.hlapi.v3arch.asyncio import (
    USM_AUTH_HMAC96_SHA,
    USM_AUTH_HMAC128_SHA224,
    USM_AUTH_HMAC192_SHA256,
    USM_AUTH_HMAC256_SHA384,
    USM_AUTH_HMAC384_SHA512,
    USM_PRIV_CFB128_AES,
    USM_PRIV_CFB192_AES,
    USM_PRIV_CFB256_AES,
    CommunityData,
    ContextData,
    Integer32,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    UsmUserData,
    get_cmd,
    set_cmd,
)
from pysnmp.proto import errind, rfc1902, rfc1905

from harness.clock import Clock, Deadline, RealClock
from harness.drivers.snmp.engine import SnmpLoop, SnmpLoopClosed, shared_loop
from harness.drivers.snmp.vendor_map import EnumSpec, ObjectSpec, VendorMap, load_vendor_map
from harness.errors import PowerActionUncertain, SnmpError, SnmpTimeout

AUTH_PROTOCOLS: dict[str, Any] = {
    "SHA": USM_AUTH_HMAC96_SHA,
    "SHA224": USM_AUTH_HMAC128_SHA224,
    "SHA256": USM_AUTH_HMAC192_SHA256,
    "SHA384": USM_AUTH_HMAC256_SHA384,
    "SHA512": USM_AUTH_HMAC384_SHA512,
}
#: AES (RFC 3826, 128-bit) is the interoperable choice. AES192/AES256 are the widely deployed
#: non-standard "Reeder" key extension (pysnmp's USM_PRIV_CFB192/256_AES, net-snmp AES192C/AES256C).
PRIV_PROTOCOLS: dict[str, Any] = {
    "AES": USM_PRIV_CFB128_AES,
    "AES128": USM_PRIV_CFB128_AES,
    "AES192": USM_PRIV_CFB192_AES,
    "AES256": USM_PRIV_CFB256_AES,
}

_INT_TAGS = frozenset({rfc1902.Integer32().tagSet, rfc1902.Gauge32().tagSet, rfc1902.Counter32().tagSet})
_STR_TAG = rfc1902.OctetString().tagSet
_OID_TAG = rfc1902.ObjectIdentifier().tagSet


@dataclass(frozen=True)
class SnmpCredentials:
    """How to authenticate to an agent. v3 is authPriv only, with both protocols named explicitly:
    pysnmp silently picks MD5 + DES when they are left out, and that is never acceptable."""

    version: Literal["2c", "3"]
    community: str | None = None
    user: str | None = None
    auth_key: str | None = None
    priv_key: str | None = None
    auth_protocol: str | None = None  # "SHA" | "SHA256" | ...
    priv_protocol: str | None = None  # "AES" | "AES256" | ...

    def __post_init__(self) -> None:
        if self.version == "2c":
            if not self.community:
                raise ValueError("SNMP v2c needs a community")
            if any((self.user, self.auth_key, self.priv_key, self.auth_protocol, self.priv_protocol)):
                raise ValueError("SNMP v2c takes a community only (v3 fields given)")
        elif self.version == "3":
            if not self.user:
                raise ValueError("SNMP v3 needs a user")
            if self.auth_protocol not in AUTH_PROTOCOLS:
                raise ValueError(f"SNMP v3 auth_protocol must be one of {sorted(AUTH_PROTOCOLS)} "
                                 f"(MD5 and implicit defaults are refused)")
            if self.priv_protocol not in PRIV_PROTOCOLS:
                raise ValueError(f"SNMP v3 priv_protocol must be one of {sorted(PRIV_PROTOCOLS)} "
                                 f"(DES and implicit defaults are refused)")
            for what, key in (("auth_key", self.auth_key), ("priv_key", self.priv_key)):
                if not key or len(key) < 8:
                    raise ValueError(f"SNMP v3 {what} must be at least 8 characters (RFC 3414)")
            if self.community:
                raise ValueError("SNMP v3 takes no community")
        else:
            raise ValueError(f"unsupported SNMP version {self.version!r} (use '2c' or '3')")

    def __repr__(self) -> str:
        if self.version == "2c":
            return "SnmpCredentials(version='2c', community=***)"
        return (f"SnmpCredentials(version='3', user={self.user!r}, auth_protocol={self.auth_protocol!r}, "
                f"priv_protocol={self.priv_protocol!r}, auth_key=***, priv_key=***)")

    __str__ = __repr__

    def auth_data(self) -> CommunityData | UsmUserData:
        """pysnmp's authentication object (built per request; it holds the secrets)."""
        if self.version == "2c":
            return CommunityData(self.community, mpModel=1)
        return UsmUserData(self.user, self.auth_key, self.priv_key,
                           authProtocol=AUTH_PROTOCOLS[self.auth_protocol or ""],
                           privProtocol=PRIV_PROTOCOLS[self.priv_protocol or ""])


@dataclass(frozen=True)
class _Item:
    """One varbind of a request: what it is (for messages) and how to decode it."""

    label: str
    oid: str
    spec: ObjectSpec


class Pdu:
    """One switched, metered PDU. Thread-safe; requests to it are serialised."""

    def __init__(self, name: str, host: str, port: int, *, vendor: str, credentials: SnmpCredentials,
                 timeout_s: float = 1.0, retries: int = 1, clock: Clock | None = None,
                 loop: SnmpLoop | None = None) -> None:
        if timeout_s <= 0 or retries < 0:
            raise ValueError("timeout_s must be > 0 and retries >= 0")
        self.name, self.host, self.port = name, host, port
        self.vmap: VendorMap = load_vendor_map(vendor)
        self.credentials = credentials
        self.timeout_s, self.retries = timeout_s, retries
        self.clock: Clock = clock or RealClock()
        self._loop = loop
        self._lock = threading.Lock()
        self._targets: dict[int, UdpTransportTarget] = {}
        self._num_phases: int | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"Pdu({self.name!r}, {self.host}:{self.port}, vendor={self.vmap.vendor!r}, {self.credentials!r})"

    # ------------------------------------------------------------------ public API
    def outlet_is_on(self, outlet: int) -> bool:
        return self.outlets_state([outlet])[outlet]

    def outlets_state(self, outlets: list[int]) -> dict[int, bool]:
        """Relay state of each outlet, in one batched GET (per ``max_varbinds`` chunk)."""
        states = self._states(outlets)
        for n, state in states.items():
            if state not in ("on", "off"):
                spec = self.vmap.outlet.state
                raise SnmpError(self.name, f"GET outlet {n} state ({spec.oid_for(outlet=n)})",
                                f"the PDU reports the outlet state as {state!r}")
        return {n: s == "on" for n, s in states.items()}

    def set_outlet(self, outlet: int, on: bool, *, confirm_timeout_s: float = 10.0, poll_s: float = 0.5) -> None:
        """Switch an outlet and confirm it by reading the state back. Never re-sends the SET.

        Raises :class:`SnmpError` if the PDU refused the SET (nothing happened), and
        :class:`PowerActionUncertain` if the state did not read back as wanted by the deadline.
        """
        _check_index(outlet, "outlet")
        control = self.vmap.outlet.control
        want = "on" if on else "off"
        raw = control.raw_of(want)
        oid = control.oid_for(outlet=outlet)
        request = f"SET outlet {outlet} {want} ({oid} = {raw})"
        set_timeout: SnmpTimeout | None = None
        try:
            self._set(oid, Integer32(raw), request)
        except SnmpTimeout as exc:
            set_timeout = exc  # it may have executed: find out by reading back, never by re-sending
        deadline = Deadline.after(self.clock, confirm_timeout_s)
        last: str = "never read"
        while True:
            try:
                state = self._states([outlet])[outlet]
                if state == want:
                    return
                last = f"last read {state!r}"
            except SnmpError as exc:
                last = f"last read failed: {exc.problem}"
            if deadline.expired():
                break
            self.clock.sleep(min(poll_s, max(deadline.remaining(), 1e-3)))
        sent = "the SET got no answer" if set_timeout else "the SET was accepted"
        raise PowerActionUncertain(self.name, request,
                                   f"outlet not confirmed {want} within {confirm_timeout_s:g} s ({sent}; {last})")

    def outlet_power_w(self, outlet: int) -> float:
        return self.outlets_power_w([outlet])[outlet]

    def outlets_power_w(self, outlets: list[int]) -> dict[int, float]:
        """Active power of each outlet in watts, batched (many varbinds per GET)."""
        return self._outlet_values(outlets, "power_w", self.vmap.outlet.power_w)

    def outlet_current_a(self, outlet: int) -> float:
        return self._outlet_values([outlet], "current_a", self.vmap.outlet.current_a)[outlet]

    def outlets_energy_kwh(self, outlets: list[int]) -> dict[int, float]:
        spec = self.vmap.outlet.energy_kwh
        if spec is None:
            raise SnmpError(self.name, "GET outlet energy", f"the {self.vmap.vendor} map has no energy column")
        return self._outlet_values(outlets, "energy_kwh", spec)

    def phase_currents_a(self) -> dict[int, float]:
        """Current per input phase in amps (the phase count is read once from the PDU)."""
        spec = self.vmap.device.phase_current_a
        phases = list(range(1, self.num_phases() + 1))
        values = self._get([_Item(f"phase {p} current_a", spec.oid_for(phase=p), spec) for p in phases])
        return {p: float(v) for p, v in zip(phases, values, strict=True)}

    def num_phases(self) -> int:
        if self._num_phases is None:
            spec = self.vmap.device.num_phases
            n = int(self._get([_Item("number of phases", spec.oid_for(), spec)])[0])
            if n < 1:
                raise SnmpError(self.name, f"GET number of phases ({spec.oid_for()})", f"implausible value {n}")
            self._num_phases = n
        return self._num_phases

    def total_power_w(self) -> float:
        """The PDU's own total (inlet) active power in watts."""
        spec = self.vmap.device.power_w
        return float(self._get([_Item("device power_w", spec.oid_for(), spec)])[0])

    def identity(self) -> dict[str, str]:
        """model, firmware, serial (plus sys_object_id and sys_descr) for the run's traceability record."""
        ident = self.vmap.identity
        fields = ("model", "firmware", "serial", "sys_object_id", "sys_descr")
        items = [_Item(f, getattr(ident, f).oid_for(), getattr(ident, f)) for f in fields]
        values = self._get(items)
        return {f: str(v) for f, v in zip(fields, values, strict=True)}

    def close(self) -> None:
        """Forget the transport targets. The shared SNMP loop stays up for other PDUs."""
        with self._lock:
            self._closed = True
            self._targets.clear()

    def __enter__(self) -> Pdu:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ helpers
    def _states(self, outlets: Iterable[int]) -> dict[int, str]:
        spec = self.vmap.outlet.state
        outs = _unique_outlets(outlets)
        values = self._get([_Item(f"outlet {n} state", spec.oid_for(outlet=n), spec) for n in outs])
        return dict(zip(outs, (str(v) for v in values), strict=True))

    def _outlet_values(self, outlets: Iterable[int], what: str, spec: ObjectSpec) -> dict[int, float]:
        outs = _unique_outlets(outlets)
        values = self._get([_Item(f"outlet {n} {what}", spec.oid_for(outlet=n), spec) for n in outs])
        return {n: float(v) for n, v in zip(outs, values, strict=True)}

    def _snmp_loop(self) -> SnmpLoop:
        return self._loop if self._loop is not None else shared_loop()

    def _get(self, items: Sequence[_Item]) -> list[Any]:
        """GET ``items`` in chunks of ``max_varbinds``; decode each value by its spec."""
        out: list[Any] = []
        size = self.vmap.max_varbinds
        for start in range(0, len(items), size):
            chunk = items[start:start + size]
            request = _describe("GET", chunk)
            var_binds = self._request(request, chunk, retries=self.retries, value=None)
            if len(var_binds) != len(chunk):
                raise SnmpError(self.name, request, f"asked for {len(chunk)} values, got {len(var_binds)}")
            for item, (oid, value) in zip(chunk, var_binds, strict=True):
                if str(oid) != item.oid:
                    raise SnmpError(self.name, f"GET {item.label} ({item.oid})", f"the answer names OID {oid}")
                out.append(self._decode(item, value))
        return out

    def _set(self, oid: str, value: Any, request: str) -> None:
        item = _Item(request, oid, self.vmap.outlet.control)
        self._request(request, [item], retries=0, value=value)

    def _request(self, request: str, items: Sequence[_Item], *, retries: int, value: Any) -> list[tuple[Any, Any]]:
        """One GET (``value`` None) or SET of one varbind, on the SNMP loop; errors mapped to SnmpError."""
        auth = self.credentials.auth_data()
        timeout_s = self.timeout_s

        async def call(engine: SnmpEngine) -> tuple[Any, Any, Any, Any]:
            target = self._targets.get(retries)
            if target is None:
                target = await UdpTransportTarget.create((self.host, self.port), timeout=timeout_s, retries=retries)
                self._targets[retries] = target
            if value is None:
                objs = [ObjectType(ObjectIdentity(i.oid)) for i in items]
                return await get_cmd(engine, auth, target, ContextData(), *objs, lookupMib=False)
            obj = ObjectType(ObjectIdentity(items[0].oid), value)
            return await set_cmd(engine, auth, target, ContextData(), obj, lookupMib=False)

        backstop = timeout_s * (retries + 1) + 5.0
        with self._lock:
            if self._closed:
                raise SnmpError(self.name, request, "the PDU driver is closed")
            try:
                err_ind, err_stat, err_idx, var_binds = self._snmp_loop().run(call, backstop)
            except TimeoutError:
                raise SnmpTimeout(self.name, request, f"no answer within {backstop:.1f} s (wall backstop)") from None
            except SnmpLoopClosed as exc:
                raise SnmpError(self.name, request, str(exc)) from None
            except Exception as exc:  # pysnmp raises its own types for bad addresses, encodings...
                raise SnmpError(self.name, request, f"{type(exc).__name__}: {exc}") from exc
        if err_ind:
            if isinstance(err_ind, errind.RequestTimedOut):
                tries = retries + 1
                raise SnmpTimeout(self.name, request,
                                  f"no answer from {self.host}:{self.port} ({tries} attempt{'s' * (tries > 1)} "
                                  f"x {timeout_s:g} s)")
            raise SnmpError(self.name, request, str(err_ind))
        if err_stat:
            status = err_stat.prettyPrint() if hasattr(err_stat, "prettyPrint") else str(err_stat)
            idx = int(err_idx or 0)
            culprit = items[idx - 1] if 0 < idx <= len(items) else None
            where = f" at {culprit.label} ({culprit.oid})" if culprit and len(items) > 1 else ""
            raise SnmpError(self.name, request, f"the agent answered {status}{where}")
        return list(var_binds)

    def _decode(self, item: _Item, value: Any) -> float | str:
        """Raw varbind value -> model units, or SnmpError. Never returns garbage as a number."""
        spec = item.spec
        request = f"GET {item.label} ({item.oid})"
        tag = getattr(value, "tagSet", None)
        if isinstance(value, (rfc1905.NoSuchObject, rfc1905.NoSuchInstance, rfc1905.EndOfMibView)):
            raise SnmpError(self.name, request, f"the agent has no such value ({type(value).__name__})")
        if tag is None or isinstance(value, univ.Null):
            raise SnmpError(self.name, request, f"the agent returned no value ({type(value).__name__})")
        if spec.numeric:
            if tag not in _INT_TAGS:
                raise SnmpError(self.name, request, f"expected an integer ({spec.type}), got {type(value).__name__}")
            raw = int(value)
            if raw in spec.invalid:
                raise SnmpError(self.name, request, f"the PDU reports {raw}: not supported / not available")
            if spec.range is not None and not spec.range[0] <= raw <= spec.range[1]:
                raise SnmpError(self.name, request, f"implausible raw value {raw} (expected {spec.range[0]}.."
                                                    f"{spec.range[1]})")
            if isinstance(spec, EnumSpec):
                name = spec.values.get(raw)
                if name is None:
                    raise SnmpError(self.name, request, f"unknown enum value {raw} (known: {sorted(spec.values)})")
                return name
            return round(raw * spec.scale, 9)  # 0.1 A steps read 2.4, not 2.4000000000000004
        if spec.type == "OctetString":
            if tag != _STR_TAG:
                raise SnmpError(self.name, request, f"expected a string, got {type(value).__name__}")
            return bytes(value).decode("utf-8", errors="replace").strip()
        if tag != _OID_TAG:
            raise SnmpError(self.name, request, f"expected an OID, got {type(value).__name__}")
        return str(value)


def _check_index(n: object, what: str) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"{what} must be a positive int, not {n!r}")


def _unique_outlets(outlets: Iterable[int]) -> list[int]:
    outs = list(dict.fromkeys(outlets))
    if not outs:
        raise ValueError("no outlets given")
    for n in outs:
        _check_index(n, "outlet")
    return outs


def _describe(verb: str, items: Sequence[_Item]) -> str:
    if len(items) == 1:
        return f"{verb} {items[0].label} ({items[0].oid})"
    return f"{verb} {items[0].label} .. {items[-1].label} ({len(items)} varbinds)"
