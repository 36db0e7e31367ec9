"""Pdu: switched and metered rack PDU over SNMP, vendor-neutral (the OIDs come from a vendor map).

Rules this driver keeps, and why:

* A power SET goes out once per send, with ``retries=0``: pysnmp re-sends a SET on every retry and
  the agent executes each copy. Whether or not the SET was answered, the outlet state is read back
  (clock-based polling) until it matches; if it never does, :class:`PowerActionUncertain`. An on/off
  SET is sent again only when it got no answer and every read-back showed the old state (it was lost,
  not executed; on/off is a target state, so a late copy is harmless); a reboot never is.
* Reads are batched: many varbinds per GET, chunked to the map's ``max_varbinds`` (about 5x faster
  than single GETs and kinder to slow PDU firmware); tables are walked with GETBULK. At most
  ``max_in_flight`` requests to one PDU are in flight at once (the per-PDU concurrency cap).
* Cycle (reboot) is not idempotent: the pending-command column is read first, the SET goes once,
  and the off-then-on is confirmed by reading back.
* Scaling comes from the map; where the MIB reports decimal digits (Raritan), they are read from the
  device once per sensor and cached, never assumed.
* Every failure is a :class:`SnmpError` (or :class:`SnmpTimeout`) that names the PDU, the request and
  the OID; a value of the wrong type, out of range or 'not supported' is an error, never a number.
* Numeric OIDs only, ``lookupMib=False``: no MIB compiler (pysmi) at run time.
"""

from __future__ import annotations

import asyncio
import logging
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
    bulk_cmd,
    get_cmd,
    set_cmd,
)
from pysnmp.proto import errind, rfc1902, rfc1905

from harness.clock import Clock, Deadline, RealClock
from harness.drivers.snmp.engine import SnmpLoop, SnmpLoopClosed, shared_loop
from harness.drivers.snmp.vendor_map import ControlSpec, EnumSpec, ObjectSpec, VendorMap, load_vendor_map
from harness.errors import PowerActionUncertain, SnmpError, SnmpTimeout

log = logging.getLogger(__name__)

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
    """One varbind of a request: what it is (for messages), how to decode it, and where the device
    keeps its decimal digits (Raritan) if it does."""

    label: str
    oid: str
    spec: ObjectSpec | ControlSpec
    digits_oid: str | None = None


@dataclass(frozen=True)
class OutletMeter:
    current_a: float
    power_w: float
    energy_kwh: float | None


@dataclass(frozen=True)
class PhaseMeter:
    current_a: float
    voltage_v: float | None
    power_w: float | None


@dataclass(frozen=True)
class InletMeter:
    power_w: float
    energy_kwh: float | None
    current_a: float | None


@dataclass(frozen=True)
class PduMetering:
    """Everything the PDU meters, read in one batched pass."""

    outlets: dict[int, OutletMeter]
    phases: dict[int, PhaseMeter]
    inlet: InletMeter
    requests: int  # SNMP requests the read took (GETs and GETBULKs)


class Pdu:
    """One switched, metered PDU. Thread-safe; at most ``max_in_flight`` requests to it at once."""

    def __init__(self, name: str, host: str, port: int, *, vendor: str, credentials: SnmpCredentials,
                 timeout_s: float = 1.0, retries: int = 1, clock: Clock | None = None,
                 loop: SnmpLoop | None = None, max_in_flight: int = 2) -> None:
        if timeout_s <= 0 or retries < 0:
            raise ValueError("timeout_s must be > 0 and retries >= 0")
        if not 1 <= max_in_flight <= 16:
            raise ValueError("max_in_flight must be 1..16 (real PDU firmware is slow)")
        self.name, self.host, self.port = name, host, port
        self.vmap: VendorMap = load_vendor_map(vendor)
        self.credentials = credentials
        self.timeout_s, self.retries = timeout_s, retries
        self.max_in_flight = max_in_flight
        self.clock: Clock = clock or RealClock()
        self._loop = loop
        self._lock = threading.Lock()  # guards the caches below, never held across I/O
        self._targets: dict[int, UdpTransportTarget] = {}
        self._sem: asyncio.Semaphore | None = None  # created on the SNMP loop: the per-PDU cap
        self._bound_loop: SnmpLoop | None = None
        self._digits: dict[str, int] = {}
        self._num_phases: int | None = None
        self._num_outlets: int | None = None
        self._requests = 0
        self._closed = False

    def __repr__(self) -> str:
        return f"Pdu({self.name!r}, {self.host}:{self.port}, vendor={self.vmap.vendor!r}, {self.credentials!r})"

    @property
    def requests_sent(self) -> int:
        """SNMP requests sent so far (each GET, GETBULK or SET counts one, retries not counted)."""
        return self._requests

    # ------------------------------------------------------------------ outlet state and switching
    def outlet_is_on(self, outlet: int) -> bool:
        return self.outlets_state([outlet])[outlet]

    def outlets_state(self, outlets: list[int]) -> dict[int, bool]:
        """Relay state of each outlet (True = closed), in one batched GET (per ``max_varbinds`` chunk)."""
        states = self._states(outlets)
        out: dict[int, bool] = {}
        for n, state in states.items():
            if state not in ("on", "off", "pending_on", "pending_off"):
                spec = self.vmap.outlet.state
                raise SnmpError(self.name, f"GET outlet {n} state ({spec.oid_for(outlet=n)})",
                                f"the PDU reports the outlet state as {state!r}")
            out[n] = state in ("on", "pending_off")  # pending_off: still closed, an 'off' waits
        return out

    def outlet_pending(self, outlet: int) -> bool | None:
        """Whether a command waits on the outlet; None if the MIB cannot say (Raritan)."""
        src = self.vmap.pending_source()
        if src is None:
            return None
        item = _Item(f"outlet {outlet} pending", src.oid_for(outlet=outlet), src)
        name = str(self._get([item])[0])
        if name == "unknown":
            raise SnmpError(self.name, f"GET {item.label} ({item.oid})", "the PDU does not know")
        return name.startswith("pending")

    def set_outlet(self, outlet: int, on: bool, *, confirm_timeout_s: float = 10.0, poll_s: float = 0.5,
                   max_unanswered_resends: int = 2) -> None:
        """Switch an outlet and confirm it by reading the state back.

        The SET is never re-sent blindly. It is sent again only when it got no answer *and* the outlet
        then read back, for the whole confirmation window, in its old state: the request was lost, not
        executed. On/off is a target state, so even a copy that arrives late is harmless (unlike a
        reboot, which :meth:`cycle_outlet` never re-sends). At most ``max_unanswered_resends`` times.

        Raises :class:`SnmpError` if the PDU refused the SET (nothing happened), and
        :class:`PowerActionUncertain` if the state did not read back as wanted by the deadline.
        """
        _check_index(outlet, "outlet")
        want = "on" if on else "off"
        oid, raw = self.vmap.outlet.control.set_for(want, outlet)
        request = f"SET outlet {outlet} {want} ({oid} = {raw})"
        for sends in range(1, max_unanswered_resends + 2):
            set_timeout = self._set_once(oid, raw, request)
            deadline = Deadline.after(self.clock, confirm_timeout_s)
            last = "never read"
            proven_unexecuted = True  # every read so far succeeded and showed the old state
            while True:
                try:
                    if self.outlets_state([outlet])[outlet] is on:
                        return
                    last = f"last read {'on' if not on else 'off'}"
                except SnmpError as exc:
                    last = f"last read failed: {exc.problem}"
                    proven_unexecuted = False
                if deadline.expired():
                    break
                self.clock.sleep(min(poll_s, max(deadline.remaining(), 1e-3)))
            if set_timeout is None or not proven_unexecuted or sends > max_unanswered_resends:
                break
            log.warning("%s: %s got no answer and outlet %d still reads %s: the SET was lost, sending it again",
                        self.name, request, outlet, "off" if on else "on")
        sent = "the SET got no answer" if set_timeout else "the SET was accepted"
        raise PowerActionUncertain(self.name, request,
                                   f"outlet not confirmed {want} within {confirm_timeout_s:g} s ({sent}; {last}; "
                                   f"sent {sends} time(s))")

    def cycle_outlet(self, outlet: int, *, confirm_timeout_s: float = 30.0, poll_s: float = 0.5) -> None:
        """Power-cycle (reboot) an outlet with the PDU's own command: off, the PDU's off-time, on.

        A cycle is not idempotent, so: the pending-command column is read first and a pending outlet
        is refused; the SET goes out once (``retries=0``); success is the outlet seen off (or pending)
        and then on again, or, if the SET was acknowledged, on and idle by the deadline.
        """
        _check_index(outlet, "outlet")
        control = self.vmap.outlet.control
        if not control.offers("reboot"):
            raise SnmpError(self.name, f"cycle outlet {outlet}", f"the {self.vmap.vendor} map has no reboot command")
        oid, raw = control.set_for("reboot", outlet)
        request = f"SET outlet {outlet} reboot ({oid} = {raw})"
        if self.outlet_pending(outlet):
            raise SnmpError(self.name, request, "a command is already pending on the outlet; not sending another")
        set_timeout = self._set_once(oid, raw, request)
        deadline = Deadline.after(self.clock, confirm_timeout_s)
        saw_off, last = False, "never read"
        while True:
            try:
                on = self.outlet_is_on(outlet)
                pending = self.outlet_pending(outlet)
                saw_off = saw_off or not on or bool(pending)
                if on and not pending and (saw_off or not set_timeout):
                    return
                last = f"last read {'on' if on else 'off'}{' (pending)' if pending else ''}"
            except SnmpError as exc:
                last = f"last read failed: {exc.problem}"
            if deadline.expired():
                break
            self.clock.sleep(min(poll_s, max(deadline.remaining(), 1e-3)))
        sent = "the SET got no answer" if set_timeout else "the SET was accepted"
        raise PowerActionUncertain(self.name, request,
                                   f"cycle not confirmed within {confirm_timeout_s:g} s ({sent}; {last})")

    def power_on_sequenced(self, outlets: list[int], stagger_s: float, *, confirm_timeout_s: float = 10.0,
                           poll_s: float = 0.5) -> None:
        """Switch ``outlets`` on one by one, ``stagger_s`` apart on the clock (limits inrush), each
        confirmed by reading back. Outlets already on are left alone (not switched again)."""
        if stagger_s < 0:
            raise ValueError("stagger_s must be >= 0")
        outs = _unique_outlets(outlets)
        states = self.outlets_state(outs)
        first = True
        for n in outs:
            if states[n]:
                continue
            if not first and stagger_s:
                self.clock.sleep(stagger_s)
            first = False
            self.set_outlet(n, True, confirm_timeout_s=confirm_timeout_s, poll_s=poll_s)

    def power_on_all_sequenced(self, stagger_s: float, *, confirm_timeout_s: float = 10.0,
                               poll_s: float = 0.5) -> None:
        """The PDU's own sequenced power-on (APC delayedAllOn): outlet i gets an on-delay of
        (i - 1) x ``stagger_s`` (whole seconds, as the MIB takes them), then one group command, sent
        once; every outlet is then confirmed on by reading back."""
        seq = self.vmap.sequence
        if seq is None:
            raise SnmpError(self.name, "sequenced power-on", f"the {self.vmap.vendor} map has no group command")
        if stagger_s < 0:
            raise ValueError("stagger_s must be >= 0")
        outs = list(range(1, self.num_outlets() + 1))
        delays = {n: int(round(i * stagger_s)) for i, n in enumerate(outs)}
        for start in range(0, len(outs), self.vmap.max_varbinds):  # config writes: idempotent, retried
            chunk = outs[start:start + self.vmap.max_varbinds]
            pairs = [(seq.on_delay_s.oid_for(outlet=n), Integer32(delays[n])) for n in chunk]
            self._request_set(f"SET on-delays of outlets {chunk[0]}..{chunk[-1]}", pairs, retries=self.retries)
        raw = seq.command.raw_of("all_on_sequenced")
        request = f"SET all outlets on, sequenced ({seq.command.oid_for()} = {raw})"
        set_timeout = self._set_once(seq.command.oid_for(), raw, request)
        total = confirm_timeout_s + max(delays.values(), default=0)
        deadline = Deadline.after(self.clock, total)
        last = "never read"
        while True:
            try:
                states = self.outlets_state(outs)
                off = [n for n, on in states.items() if not on]
                if not off:
                    return
                last = f"still off: {off}"
            except SnmpError as exc:
                last = f"last read failed: {exc.problem}"
            if deadline.expired():
                break
            self.clock.sleep(min(poll_s, max(deadline.remaining(), 1e-3)))
        sent = "the SET got no answer" if set_timeout else "the SET was accepted"
        raise PowerActionUncertain(self.name, request, f"not all on within {total:g} s ({sent}; {last})")

    # ------------------------------------------------------------------ metering
    def outlet_power_w(self, outlet: int) -> float:
        return self.outlets_power_w([outlet])[outlet]

    def outlets_power_w(self, outlets: list[int]) -> dict[int, float]:
        """Active power of each outlet in watts, batched (many varbinds per GET)."""
        return self._outlet_values(outlets, "power_w", self.vmap.outlet.power_w)

    def outlet_current_a(self, outlet: int) -> float:
        return self.outlets_current_a([outlet])[outlet]

    def outlets_current_a(self, outlets: list[int]) -> dict[int, float]:
        return self._outlet_values(outlets, "current_a", self.vmap.outlet.current_a)

    def outlets_energy_kwh(self, outlets: list[int]) -> dict[int, float]:
        spec = self.vmap.outlet.energy_kwh
        if spec is None:
            raise SnmpError(self.name, "GET outlet energy", f"the {self.vmap.vendor} map has no energy column")
        return self._outlet_values(outlets, "energy_kwh", spec)

    def phase_currents_a(self) -> dict[int, float]:
        """Current per input phase (line) in amps."""
        return {p: m.current_a for p, m in self.metering_phases().items()}

    def metering_phases(self) -> dict[int, PhaseMeter]:
        d = self.vmap.device
        phases = list(range(1, self.num_phases() + 1))
        items = [self._item(f"phase {p} current_a", d.phase_current_a, phase=p) for p in phases]
        extra = [(k, s) for k, s in (("voltage_v", d.phase_voltage_v), ("power_w", d.phase_power_w)) if s]
        for key, spec in extra:
            items += [self._item(f"phase {p} {key}", spec, phase=p) for p in phases]
        values = iter(self._get(items))
        cur = {p: float(next(values)) for p in phases}
        more = {key: {p: float(next(values)) for p in phases} for key, _ in extra}
        return {p: PhaseMeter(cur[p], more.get("voltage_v", {}).get(p), more.get("power_w", {}).get(p))
                for p in phases}

    def num_phases(self) -> int:
        """Input phases: the map's count object, else the rows of the phase-current table (GETBULK)."""
        if self._num_phases is None:
            self._num_phases = self._count("phases", self.vmap.device.num_phases, self.vmap.device.phase_current_a,
                                           "phase")
        return self._num_phases

    def num_outlets(self) -> int:
        """Outlets: the map's count object, else the rows of the outlet-state table (GETBULK)."""
        if self._num_outlets is None:
            self._num_outlets = self._count("outlets", self.vmap.device.num_outlets, self.vmap.outlet.state, "outlet")
        return self._num_outlets

    def _count(self, what: str, count: ObjectSpec | None, table: ObjectSpec, index: str) -> int:
        """How many phases/outlets: the count object where the MIB has one, else the table's rows."""
        if count is not None:
            n = int(self._get([self._item(f"number of {what}", count)])[0])
        else:
            n = len(self._rows(table, index))
        if n < 1:
            raise SnmpError(self.name, f"GET number of {what}", f"implausible value {n}")
        return n

    def total_power_w(self) -> float:
        """The PDU's own total (inlet) active power in watts."""
        return float(self._get([self._item("inlet power_w", self.vmap.device.power_w)])[0])

    def metering(self, outlets: list[int] | None = None, *, max_varbinds: int | None = None) -> PduMetering:
        """Every outlet's current/power/energy, every phase's current/voltage/power and the inlet's
        power/energy/current, in as few requests as the map's ``max_varbinds`` allows (chunks sent
        concurrently up to ``max_in_flight``). ``max_varbinds=1`` reads one OID per request (for
        comparison only). ``outlets`` None = all (counted once from the PDU)."""
        before = self._requests
        o, d = self.vmap.outlet, self.vmap.device
        outs = _unique_outlets(outlets if outlets is not None else range(1, self.num_outlets() + 1))
        phases = list(range(1, self.num_phases() + 1))
        items: list[_Item] = []
        keys: list[tuple[str, int, str]] = []
        for n in outs:
            for key, spec in (("current_a", o.current_a), ("power_w", o.power_w), ("energy_kwh", o.energy_kwh)):
                if spec is not None:
                    items.append(self._item(f"outlet {n} {key}", spec, outlet=n))
                    keys.append(("outlet", n, key))
        for p in phases:
            for key, spec in (("current_a", d.phase_current_a), ("voltage_v", d.phase_voltage_v),
                              ("power_w", d.phase_power_w)):
                if spec is not None:
                    items.append(self._item(f"phase {p} {key}", spec, phase=p))
                    keys.append(("phase", p, key))
        for key, spec in (("power_w", d.power_w), ("energy_kwh", d.energy_kwh), ("current_a", d.current_a)):
            if spec is not None:
                items.append(self._item(f"inlet {key}", spec))
                keys.append(("inlet", 0, key))
        got: dict[tuple[str, int], dict[str, float]] = {}
        for (kind, idx, key), value in zip(keys, self._get(items, chunk=max_varbinds), strict=True):
            got.setdefault((kind, idx), {})[key] = float(value)
        outlet_m = {n: OutletMeter(got[("outlet", n)]["current_a"], got[("outlet", n)]["power_w"],
                                   got[("outlet", n)].get("energy_kwh")) for n in outs}
        phase_m = {p: PhaseMeter(got[("phase", p)]["current_a"], got[("phase", p)].get("voltage_v"),
                                 got[("phase", p)].get("power_w")) for p in phases}
        inlet = got[("inlet", 0)]
        return PduMetering(outlet_m, phase_m, InletMeter(inlet["power_w"], inlet.get("energy_kwh"),
                                                         inlet.get("current_a")), self._requests - before)

    # ------------------------------------------------------------------ breakers and identity
    def breaker_states(self) -> dict[int, str]:
        """Branch breaker -> 'ok' | 'tripped' | 'overload' | 'unknown' (1-based branch number), from the
        rows of the vendor's breaker table (GETBULK)."""
        bk = self.vmap.breaker
        if bk is None:
            raise SnmpError(self.name, "GET breakers", f"the {self.vmap.vendor} map has no breaker table")
        return {n: str(v) for n, v in self._rows(bk.state, "branch").items()}

    def breakers_tripped(self) -> list[int]:
        return sorted(n for n, s in self.breaker_states().items() if s in ("tripped", "overload"))

    def identity(self) -> dict[str, str]:
        """model, firmware, serial (plus sys_object_id and sys_descr) for the run's traceability record."""
        ident = self.vmap.identity
        fields = ("model", "firmware", "serial", "sys_object_id", "sys_descr")
        values = self._get([self._item(f, getattr(ident, f)) for f in fields])
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
    def _item(self, label: str, spec: ObjectSpec, **index: int) -> _Item:
        digits = spec.digits.oid_for(**index) if spec.digits is not None else None
        return _Item(label, spec.oid_for(**index), spec, digits)

    def _states(self, outlets: Iterable[int]) -> dict[int, str]:
        spec = self.vmap.outlet.state
        outs = _unique_outlets(outlets)
        values = self._get([self._item(f"outlet {n} state", spec, outlet=n) for n in outs])
        return dict(zip(outs, (str(v) for v in values), strict=True))

    def _outlet_values(self, outlets: Iterable[int], what: str, spec: ObjectSpec) -> dict[int, float]:
        outs = _unique_outlets(outlets)
        values = self._get([self._item(f"outlet {n} {what}", spec, outlet=n) for n in outs])
        return {n: float(v) for n, v in zip(outs, values, strict=True)}

    def _snmp_loop(self) -> SnmpLoop:
        return self._loop if self._loop is not None else shared_loop()

    def _get(self, items: Sequence[_Item], *, chunk: int | None = None) -> list[Any]:
        """GET ``items`` in chunks of ``max_varbinds`` (sent concurrently up to the cap); decode each
        value by its spec. Decimal digits the device reports are fetched once (first) and cached."""
        size = chunk or self.vmap.max_varbinds
        self._ensure_digits(items, size)
        return self._fetch(items, size)

    def _ensure_digits(self, items: Iterable[_Item], size: int) -> None:
        missing = sorted({i.digits_oid for i in items if i.digits_oid and i.digits_oid not in self._digits})
        if not missing:
            return
        digit_items = [_Item(f"decimal digits ({oid})", oid, _DIGITS) for oid in missing]
        for item, raw in zip(digit_items, self._fetch(digit_items, size), strict=True):
            if not isinstance(raw, int) or not 0 <= raw <= 6:
                raise SnmpError(self.name, f"GET {item.label}", f"implausible decimal digits {raw!r}")
            with self._lock:
                self._digits[item.oid] = raw

    def _fetch(self, items: Sequence[_Item], size: int) -> list[Any]:
        chunks = [items[s:s + size] for s in range(0, len(items), size)]
        answers = self._run([(_describe("GET", c), c, None) for c in chunks], retries=self.retries)
        out: list[Any] = []
        for chunk, (request, var_binds) in zip(chunks, answers, strict=True):
            if len(var_binds) != len(chunk):
                raise SnmpError(self.name, request, f"asked for {len(chunk)} values, got {len(var_binds)}")
            for item, (oid, value) in zip(chunk, var_binds, strict=True):
                if str(oid) != item.oid:
                    raise SnmpError(self.name, f"GET {item.label} ({item.oid})", f"the answer names OID {oid}")
                out.append(self._decode(item, value))
        return out

    def _rows(self, spec: ObjectSpec, var: str) -> dict[int, Any]:
        """Walk ``spec``'s column with GETBULK and return {row number: decoded value} for the rows that
        fit its instance template (the template's other parts must match exactly)."""
        parts = spec.instance.split(".")
        pos = parts.index("{" + var + "}")
        prefix = ".".join([spec.oid, *parts[:pos]])
        tail = parts[pos + 1:]
        rows: dict[int, Any] = {}
        for oid, value in self._walk(prefix):
            rest = oid[len(prefix) + 1:].split(".")
            if len(rest) != 1 + len(tail) or rest[1:] != tail or not rest[0].isdigit():
                continue
            n = int(rest[0])
            item = self._item(f"{var} {n} {spec.mib_name or spec.oid}", spec, **{var: n})
            rows[n] = (item, value)
        self._ensure_digits([i for i, _ in rows.values()], self.vmap.max_varbinds)
        return {n: self._decode(i, v) for n, (i, v) in sorted(rows.items())}

    def _walk(self, prefix: str) -> list[tuple[str, Any]]:
        """Every (oid, value) under ``prefix``, by GETBULK (``max_varbinds`` rows per request)."""
        out: list[tuple[str, Any]] = []
        start = prefix
        for _ in range(1000):
            request = f"GETBULK {prefix} (from {start})"
            [(_, var_binds)] = self._run([(request, [_Item(request, start, _DIGITS)], "bulk")], retries=self.retries)
            if not var_binds:
                return out
            for oid, value in var_binds:
                name = str(oid)
                if not name.startswith(prefix + ".") or isinstance(value, rfc1905.EndOfMibView):
                    return out
                out.append((name, value))
                start = name
        raise SnmpError(self.name, f"GETBULK {prefix}", "the table did not end after 1000 requests")

    def _set_once(self, oid: str, raw: int, request: str) -> SnmpTimeout | None:
        """A power SET, sent exactly once (``retries=0``). A timeout is returned, not raised: the SET
        may have executed, and only reading back can tell."""
        try:
            self._request_set(request, [(oid, Integer32(raw))], retries=0)
        except SnmpTimeout as exc:
            return exc
        return None

    def _request_set(self, request: str, pairs: list[tuple[str, Any]], *, retries: int) -> None:
        items = [_Item(request, oid, self.vmap.outlet.control) for oid, _ in pairs]
        self._run([(request, items, [v for _, v in pairs])], retries=retries)

    def _run(self, requests: list[tuple[str, Sequence[_Item], Any]], *, retries: int
             ) -> list[tuple[str, list[tuple[Any, Any]]]]:
        """Send ``requests`` (GET: value None; SET: list of values; GETBULK: 'bulk') on the SNMP loop,
        at most ``max_in_flight`` at once; errors mapped to SnmpError naming the request."""
        auth = self.credentials.auth_data()
        timeout_s, cap = self.timeout_s, self.max_in_flight
        reps = self.vmap.max_varbinds

        async def target_for() -> UdpTransportTarget:
            target = self._targets.get(retries)
            if target is None:
                target = await UdpTransportTarget.create((self.host, self.port), timeout=timeout_s, retries=retries)
                self._targets[retries] = target
            return target

        async def one(items: Sequence[_Item], value: Any, engine: SnmpEngine) -> Any:
            assert self._sem is not None
            async with self._sem:
                target = await target_for()
                if value is None:
                    objs = [ObjectType(ObjectIdentity(i.oid)) for i in items]
                    return await get_cmd(engine, auth, target, ContextData(), *objs, lookupMib=False)
                if value == "bulk":
                    return await bulk_cmd(engine, auth, target, ContextData(), 0, reps,
                                          ObjectType(ObjectIdentity(items[0].oid)), lookupMib=False)
                objs = [ObjectType(ObjectIdentity(i.oid), v) for i, v in zip(items, value, strict=True)]
                return await set_cmd(engine, auth, target, ContextData(), *objs, lookupMib=False)

        async def call(engine: SnmpEngine) -> list[Any]:
            if self._sem is None:
                self._sem = asyncio.Semaphore(cap)
            return await asyncio.gather(*(one(items, value, engine) for _, items, value in requests),
                                        return_exceptions=True)

        snmp_loop = self._snmp_loop()
        with self._lock:
            if snmp_loop is not self._bound_loop:  # targets and the semaphore belong to one loop
                self._targets.clear()
                self._sem = None
                self._bound_loop = snmp_loop
        waves = -(-len(requests) // cap)
        backstop = timeout_s * (retries + 1) * waves + 5.0
        with self._lock:
            if self._closed:
                raise SnmpError(self.name, requests[0][0], "the PDU driver is closed")
            self._requests += len(requests)
        try:
            results = snmp_loop.run(call, backstop)
        except TimeoutError:
            raise SnmpTimeout(self.name, requests[0][0], f"no answer within {backstop:.1f} s (wall backstop)") from None
        except SnmpLoopClosed as exc:
            raise SnmpError(self.name, requests[0][0], str(exc)) from None
        out = []
        for (request, items, _), result in zip(requests, results, strict=True):
            if isinstance(result, BaseException):
                if isinstance(result, (SnmpError, KeyboardInterrupt, SystemExit)):
                    raise result
                raise SnmpError(self.name, request, f"{type(result).__name__}: {result}") from result
            err_ind, err_stat, err_idx, var_binds = result
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
            out.append((request, list(var_binds)))
        return out

    def _decode(self, item: _Item, value: Any) -> float | str | int:
        """Raw varbind value -> model units, or SnmpError. Never returns garbage as a number."""
        spec = item.spec
        request = f"GET {item.label} ({item.oid})"
        tag = getattr(value, "tagSet", None)
        if isinstance(value, (rfc1905.NoSuchObject, rfc1905.NoSuchInstance, rfc1905.EndOfMibView)):
            raise SnmpError(self.name, request, f"the agent has no such value ({type(value).__name__})")
        if tag is None or isinstance(value, univ.Null):
            raise SnmpError(self.name, request, f"the agent returned no value ({type(value).__name__})")
        if spec is _DIGITS:
            if tag not in _INT_TAGS:
                raise SnmpError(self.name, request, f"expected an integer, got {type(value).__name__}")
            return int(value)
        if spec.numeric:
            if tag not in _INT_TAGS:
                raise SnmpError(self.name, request, f"expected an integer ({spec.type}), got {type(value).__name__}")
            raw = int(value)
            assert isinstance(spec, ObjectSpec)
            if spec.type != "Integer32" and raw < 0:
                raise SnmpError(self.name, request, f"negative value {raw} for an unsigned {spec.type}")
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
            digits = 0
            if item.digits_oid is not None:
                if item.digits_oid not in self._digits:
                    raise SnmpError(self.name, request, "decimal digits not read")
                digits = self._digits[item.digits_oid]
            scaled = round(raw * spec.factor(digits), 9)  # 0.1 A steps read 2.4, not 2.4000000000000004
            if spec.plausible is not None and not spec.plausible[0] <= scaled <= spec.plausible[1]:
                raise SnmpError(self.name, request, f"implausible value {scaled:g} (raw {raw}, {digits} decimal "
                                                    f"digits; expected {spec.plausible[0]:g}..{spec.plausible[1]:g})")
            return scaled
        if spec.type == "OctetString":
            if tag != _STR_TAG:
                raise SnmpError(self.name, request, f"expected a string, got {type(value).__name__}")
            return bytes(value).decode("utf-8", errors="replace").strip()
        if tag != _OID_TAG:
            raise SnmpError(self.name, request, f"expected an OID, got {type(value).__name__}")
        return str(value)


#: Decodes a bare integer (decimal digits, GETBULK cursor); never a measurement.
_DIGITS = ObjectSpec(oid="0.0", type="Integer32", mib_name="*DecimalDigits")


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
