"""A live SNMP v1/v2c/v3 agent for one PDU of the twin, speaking one vendor's MIB from its vendor map.

Every request reads the twin at the clock's now, so the PDU agrees with the BMCs, the power shelf and
the analyzer. The agent is a pysnmp command responder whose MIB instrumentation is a table of Python
callbacks (:class:`CallbackMib`) built from ``harness/drivers/snmp/maps/<vendor>.yaml``: the same
file the driver reads, with the inverse scale and the declared ASN.1 type.

Switching semantics (APC-like):

* ``off`` opens the relay at once (``twin.set_outlet(pdu, n, False)``).
* ``on`` is a pending command until the twin's relay delay (``timing.outlet_on_delay_s``) has
  passed in simulated time; the pending column reads ``pending`` meanwhile.
* ``reboot`` opens the relay now and closes it ``reboot_off_s`` simulated seconds later (the vendor
  map's ``sim.reboot_off_s``, APC's RebootDuration). The close is an event on the twin's own queue,
  so it happens in simulated time whether or not anyone polls this agent, and any later on/off
  command cancels it (the twin's outlet generation counter).

* Eaton-style delay commands: writing 0 acts now; a positive delay on 'on' closes the relay that many
  simulated seconds later (on the twin's queue, via ``reboot_outlet`` of an open outlet).
* APC ``delayedAllOn``: every outlet switches on after its own ``PowerOnTime`` (writable per outlet).
* Breakers: a branch the twin tripped reads as the vendor says it (Raritan OCP open, Sentry4
  breakerTripped, Eaton breakerOff, APC bank overload); its outlets read off.

v3 users are authPriv only. A read-only user (and the read-only community) gets a VACM write view that
matches nothing, because pysnmp lets an *empty* write view write (lextudio/pysnmp#48).

Faults (:meth:`PduAgent.set_faults`, :meth:`PduAgent.set_wire`, :meth:`PduAgent.restart`) sit in the
transport: requests or replies lost with a probability decided by a seeded counter (deterministic), every
reply delayed, reply datagrams damaged on the wire, and a restart that comes back on the same port with
snmpEngineBoots + 1 and fresh counters.

Agents never take part in the clock: they only read ``clock.now()``.
"""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pyasn1.type import univ
from pysnmp.carrier.asyncio.dgram import udp
from pysnmp.entity import config, engine
from pysnmp.entity.rfc3413 import cmdrsp, context
from pysnmp.proto import rfc1902, rfc1905
from pysnmp.smi import error as smi_error
from pysnmp.smi import instrum

from harness.drivers.snmp.pdu import AUTH_PROTOCOLS, PRIV_PROTOCOLS
from harness.drivers.snmp.vendor_map import ControlSpec, EnumSpec, ObjectSpec, VendorMap, load_vendor_map
from harness.sim.faults.wire import Corruption, WireFault, mangle_datagram
from harness.sim.physics import RackTwin, uniform

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


@dataclass(frozen=True)
class V3User:
    """An SNMPv3 user of the simulated PDU (authPriv only). ``write=False`` = read-only: SETs refused."""

    name: str
    auth_key: str
    priv_key: str
    auth_protocol: str = "SHA"
    priv_protocol: str = "AES"
    write: bool = False

    def __post_init__(self) -> None:
        if self.auth_protocol not in AUTH_PROTOCOLS or self.priv_protocol not in PRIV_PROTOCOLS:
            raise ValueError(f"v3 user {self.name}: protocols must be one of {sorted(AUTH_PROTOCOLS)} / "
                             f"{sorted(PRIV_PROTOCOLS)}")
        if len(self.auth_key) < 8 or len(self.priv_key) < 8:
            raise ValueError(f"v3 user {self.name}: keys must be at least 8 characters (RFC 3414)")

    def __repr__(self) -> str:
        return (f"V3User({self.name!r}, auth_protocol={self.auth_protocol!r}, priv_protocol={self.priv_protocol!r}, "
                f"write={self.write}, keys=***)")


@dataclass
class AgentFaults:
    """Transport faults of one agent. Loss is decided per datagram by a seeded counter, so the same
    seed loses the same datagrams; ``lose`` says whether requests (the command never runs) or replies
    (it runs, the answer is lost) go missing. ``delay_s`` holds every reply back (wall seconds: it is
    the network, not the simulated rack)."""

    loss: float = 0.0
    delay_s: float = 0.0
    lose: str = "request"
    seed: int = 0
    seen: int = 0
    dropped: int = 0
    wire: WireFault | None = None  # reply datagrams damaged on the wire (harness/sim/faults/wire.py)
    held: int = 0  # replies held back by ``delay_s`` right now
    max_held: int = 0  # the most at once: how many requests a client had in flight

    def drop(self) -> bool:
        self.seen += 1
        if self.loss <= 0.0:
            return False
        if uniform(self.seed, f"snmp-loss|{self.seen}", 0.0, 1.0) < self.loss:
            self.dropped += 1
            return True
        return False


class _FaultyUdp(udp.UdpAsyncioTransport):
    """pysnmp's UDP transport with the agent's faults applied on the way in and out."""

    faults: AgentFaults

    def datagram_received(self, datagram: bytes, transportAddress: Any) -> None:  # noqa: N803 - pysnmp's name
        if self.faults.lose == "request" and self.faults.drop():
            return
        super().datagram_received(datagram, transportAddress)

    def send_message(self, outgoingMessage: Any, transportAddress: Any) -> None:  # noqa: N803
        if self.faults.lose == "reply" and self.faults.drop():
            return
        wire = self.faults.wire.take("") if self.faults.wire is not None else None
        if wire is not None:
            outgoingMessage = mangle_datagram(bytes(outgoingMessage), wire)
            if not outgoingMessage:
                return
        if self.faults.delay_s > 0:
            faults = self.faults
            faults.held += 1
            faults.max_held = max(faults.max_held, faults.held)

            def release() -> None:
                faults.held -= 1
                super(_FaultyUdp, self).send_message(outgoingMessage, transportAddress)

            self.loop.call_later(faults.delay_s, release)
        else:
            super().send_message(outgoingMessage, transportAddress)


def _int_value(value: Any, oid: str, idx: int) -> int:
    if not isinstance(value, univ.Integer):
        raise smi_error.WrongTypeError(name=oid, idx=idx)
    return int(value)


class PduAgent:
    """A live SNMP agent for one PDU of the twin, speaking one vendor's MIB (from the vendor map).

    ``vendor`` None = the profile's ``PduSpec.vendor``. v1/v2c communities always; v3 users optional.
    """

    def __init__(self, twin: RackTwin, pdu: str, *, vendor: str | None = None, host: str = "127.0.0.1",
                 port: int = 0, community_ro: str = "public", community_rw: str = "private",
                 v3_users: Iterable[V3User] = (), seed: int = 0) -> None:
        if pdu not in twin.pdu_specs:
            raise KeyError(f"the twin has no PDU {pdu!r}")
        self.twin, self.pdu, self.host = twin, pdu, host
        self.spec = twin.pdu_specs[pdu]
        self.vmap: VendorMap = load_vendor_map(vendor or self.spec.vendor)
        self.community_ro, self.community_rw = community_ro, community_rw
        self.v3_users = list(v3_users)
        if len({u.name for u in self.v3_users}) != len(self.v3_users):
            raise ValueError("v3 user names must be unique")
        self.faults = AgentFaults(seed=seed)
        self.boots = 1
        self.engine_id = b"\x80\x00\x4f\xb8\x05" + hashlib.blake2b(f"{pdu}|{seed}".encode(), digest_size=8).digest()
        self._want_port = port
        self._port: int | None = None
        self._t0 = twin.clock.now()
        #: per-outlet power-on delay (s) for the vendor's sequenced power-on (APC PowerOnTime)
        self.on_delay_s: dict[int, int] = {n: 0 for n in range(1, self.spec.outlets + 1)}
        self.mib = CallbackMib()
        self._build_mib()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._engine: engine.SnmpEngine | None = None

    # ------------------------------------------------------------------ MIB from the vendor map
    def _reg(self, spec: ObjectSpec, getter: Callable[[], float | int | str], *, setter: Setter | None = None,
             **index: int) -> None:
        digits = spec.digits.sim if spec.digits is not None else 0
        self.mib.register(spec.oid_for(**index), lambda: encode(spec, getter(), digits), setter)
        if spec.digits is not None:
            d = spec.digits
            self.mib.register(d.oid_for(**index), lambda: rfc1902.Integer32(d.sim))

    def _build_mib(self) -> None:
        twin, pdu, vm, spec = self.twin, self.pdu, self.vmap, self.spec
        o, d, ident = vm.outlet, vm.device, vm.identity
        outlets = range(1, spec.outlets + 1)
        for n in outlets:
            self._reg(o.state, lambda n=n: o.state.raw_of(self._state_name(n, o.state)), outlet=n)
            self._register_control(n)
            if o.pending is not None:
                self._reg(o.pending, lambda n=n, p=o.pending: p.raw_of(self._state_name(n, p)), outlet=n)
            self._reg(o.current_a, lambda n=n: twin.outlet_current_a(pdu, n), outlet=n)
            self._reg(o.power_w, lambda n=n: twin.outlet_power_w(pdu, n), outlet=n)
            if o.energy_kwh is not None:
                self._reg(o.energy_kwh, lambda n=n: twin.outlet_energy_kwh(pdu, n), outlet=n)
        phases = range(1, spec.phases + 1)
        for ph in phases:
            self._reg(d.phase_current_a, lambda ph=ph: twin.phase_current_a(pdu, ph), phase=ph)
            if d.phase_voltage_v is not None:
                self._reg(d.phase_voltage_v, lambda: spec.voltage_ln, phase=ph)
            if d.phase_power_w is not None:
                self._reg(d.phase_power_w, lambda ph=ph: sum(
                    twin.outlet_power_w(pdu, n) for n in outlets if twin.outlet_phase(pdu, n) == ph), phase=ph)
        self._reg(d.power_w, lambda: twin.pdu_input_w(pdu))
        if d.energy_kwh is not None:
            self._reg(d.energy_kwh, lambda: sum(twin.outlet_energy_kwh(pdu, n) for n in outlets))
        if d.current_a is not None:
            self._reg(d.current_a, lambda: max(twin.phase_current_a(pdu, ph) for ph in phases))
        if d.num_outlets is not None:
            self._reg(d.num_outlets, lambda: spec.outlets)
        if d.num_phases is not None:
            self._reg(d.num_phases, lambda: spec.phases)
        if vm.breaker is not None:
            for i, branch in enumerate(spec.branches, start=1):
                self._reg(vm.breaker.state, lambda b=branch.name: self._breaker_raw(b), branch=i)
                if vm.breaker.current_a is not None:
                    self._reg(vm.breaker.current_a, lambda b=branch: sum(
                        twin.outlet_current_a(pdu, n) for n in b.outlets if n <= spec.outlets), branch=i)
        if vm.sequence is not None:
            seq = vm.sequence
            for n in outlets:
                self._reg(seq.on_delay_s, lambda n=n: self.on_delay_s[n], setter=self._on_delay_setter(n), outlet=n)
            self._reg(seq.command, lambda: seq.command.raw_of("none") if seq.command.has("none") else 0,
                      setter=self._group_setter())
        self._reg(ident.model, lambda: vm.sim.model)
        self._reg(ident.firmware, lambda: twin.firmware_of(pdu))
        self._reg(ident.serial, lambda: twin.serial_of(pdu))
        self._reg(ident.sys_descr, lambda: f"rackval simulated {vm.sim.model} ({vm.vendor}) {pdu} "
                                           f"{spec.outlets} outlets")
        self._reg(ident.sys_object_id, lambda: vm.sim.sys_object_id)
        self.mib.register(SYS_UPTIME, lambda: rfc1902.TimeTicks(int(max(0.0, twin.clock.now() - self._t0) * 100)))
        self.mib.register(SYS_NAME, lambda: rfc1902.OctetString(pdu))
        self.mib.register(SNMP_ENGINE_ID, lambda: rfc1902.OctetString(self.engine_id))
        self.mib.register(SNMP_ENGINE_BOOTS, lambda: rfc1902.Integer32(self.boots))

    def _state_name(self, outlet: int, spec: EnumSpec) -> str:
        """The richest name ``spec`` has for the outlet's relay and pending command."""
        on = self.twin.outlet_is_on(self.pdu, outlet)
        pending = self.twin.outlet_command_pending(self.pdu, outlet)
        if pending:
            names = ["pending_off" if on else "pending_on", "pending"]
        else:
            names = ["idle_on" if on else "idle_off", "idle"]
        names.append("on" if on else "off")
        return next(n for n in names if spec.has(n))

    def _breaker_raw(self, branch: str) -> int:
        state = self.vmap.breaker.state  # type: ignore[union-attr]
        if self.twin.breaker_tripped[(self.pdu, branch)]:
            return state.raw_of("tripped" if state.has("tripped") else "overload")
        return state.raw_of("ok")

    def _register_control(self, outlet: int) -> None:
        control = self.vmap.outlet.control
        twin, pdu = self.twin, self.pdu

        def read() -> rfc1902.Integer32:
            if control.idle_read is not None:
                return rfc1902.Integer32(control.idle_read)
            return rfc1902.Integer32(control.raw_of("on" if twin.outlet_is_on(pdu, outlet) else "off"))

        if control.mode == "value":
            oid = control.oid_for(outlet=outlet)

            def setter(value: Any, idx: int) -> Callable[[], None]:
                command = control.values.get(_int_value(value, oid, idx))
                if command is None:
                    raise smi_error.WrongValueError(name=oid, idx=idx)
                return lambda: self._switch(outlet, command)

            self.mib.register(oid, read, setter)
            return
        for command in control.commands:
            oid = control.oid_for(outlet=outlet, command=command)

            def delay_setter(value: Any, idx: int, command: str = command, oid: str = oid) -> Callable[[], None]:
                delay = _int_value(value, oid, idx)
                if delay == -1:
                    return lambda: None  # cancel: nothing is ever left pending here but the twin's own
                if delay == control.now:
                    return lambda: self._switch(outlet, command)
                if delay > 0 and command == "on":
                    return lambda: self._delayed_on(outlet, delay)
                raise smi_error.WrongValueError(name=oid, idx=idx)  # delayed off/reboot: not simulated

            self.mib.register(oid, read, delay_setter)

    def _switch(self, outlet: int, command: str) -> None:
        if command == "reboot":
            self.twin.reboot_outlet(self.pdu, outlet, self.vmap.sim.reboot_off_s)
        else:
            self.twin.set_outlet(self.pdu, outlet, command == "on")

    def _delayed_on(self, outlet: int, delay_s: float) -> None:
        """Close an open relay ``delay_s`` simulated seconds from now (a closed one stays closed).

        Uses the twin's public reboot: on an open relay it is exactly 'pending, then on after delay'.
        """
        if not self.twin.outlet_is_on(self.pdu, outlet):
            self.twin.reboot_outlet(self.pdu, outlet, delay_s)

    def _on_delay_setter(self, outlet: int) -> Setter:
        spec = self.vmap.sequence.on_delay_s  # type: ignore[union-attr]
        oid = spec.oid_for(outlet=outlet)

        def setter(value: Any, idx: int) -> Callable[[], None]:
            raw = _int_value(value, oid, idx)
            if spec.range is not None and not spec.range[0] <= raw <= spec.range[1]:
                raise smi_error.WrongValueError(name=oid, idx=idx)
            return lambda: self.on_delay_s.__setitem__(outlet, raw)

        return setter

    def _group_setter(self) -> Setter:
        command = self.vmap.sequence.command  # type: ignore[union-attr]
        oid = command.oid_for()

        def setter(value: Any, idx: int) -> Callable[[], None]:
            name = command.values.get(_int_value(value, oid, idx))
            if name is None or name == "none":
                raise smi_error.WrongValueError(name=oid, idx=idx)
            return lambda: self._group(name)

        return setter

    def _group(self, name: str) -> None:
        for n in range(1, self.spec.outlets + 1):
            if name == "all_off":
                self.twin.set_outlet(self.pdu, n, False)
            elif name == "all_on":
                self.twin.set_outlet(self.pdu, n, True)
            elif name == "all_on_sequenced":
                delay = self.on_delay_s[n]
                if delay == 0:
                    if not self.twin.outlet_is_on(self.pdu, n):
                        self.twin.set_outlet(self.pdu, n, True)
                elif delay > 0:
                    self._delayed_on(n, delay)

    # ------------------------------------------------------------------ fault hooks
    def set_override(self, oid: str, value: Any | None) -> None:
        """Serve ``value`` (a pysnmp/pyasn1 object) for ``oid`` instead of the model; ``None`` clears it.

        The hook the fault scenarios build on (wrong types, -1 'not supported', garbage).
        """
        key = oid_tuple(oid)
        if value is None:
            self.mib.overrides.pop(key, None)
        else:
            self.mib.overrides[key] = value

    def set_faults(self, *, loss: float = 0.0, delay_s: float = 0.0, lose: str = "request",
                   seed: int | None = None) -> None:
        """Lose datagrams with probability ``loss`` (``lose`` = 'request' or 'reply'; seeded, so
        deterministic) and hold every reply back ``delay_s`` wall seconds. All zero = healthy."""
        if not 0.0 <= loss <= 1.0 or delay_s < 0 or lose not in ("request", "reply"):
            raise ValueError("loss in [0, 1], delay_s >= 0, lose 'request' or 'reply'")
        f = self.faults
        f.loss, f.delay_s, f.lose = loss, delay_s, lose
        if seed is not None:
            f.seed, f.seen, f.dropped = seed, 0, 0

    def set_wire(self, **params: Any) -> None:
        """Damage every reply datagram (or the first ``count``) as a :class:`~harness.sim.faults.wire.Corruption`
        says; no parameters = healthy again. (SNMP has no request text to ``match`` on.)"""
        self.faults.wire = WireFault(Corruption.from_params(params)) if params else None

    def restart(self) -> int:
        """Agent restart: down and back on the same port with snmpEngineBoots + 1, request counters and
        sysUpTime reset (a v3 manager must re-learn boots/time). Returns the port."""
        port = self.port
        self.stop()
        self.boots += 1
        self.mib.reset_counters()
        self._t0 = self.twin.clock.now()
        self._want_port = port
        return self.start()

    # ------------------------------------------------------------------ lifecycle
    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("agent not started")
        return self._port

    @property
    def requests(self) -> Counter[str]:
        """Requests served so far by kind ('get', 'next', 'set'); GETBULK counts one 'next' per repetition."""
        return self.mib.requests

    def start(self) -> int:
        """Bind the UDP socket (errors surface here), serve on a private loop thread, return the port."""
        if self._thread is not None:
            raise RuntimeError("agent already started")
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((self.host, self._want_port))
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        self._port = sock.getsockname()[1]
        loop = asyncio.new_event_loop()
        self._loop = loop
        started: threading.Event = threading.Event()
        failure: list[BaseException] = []

        async def setup() -> None:
            try:
                self._engine = self._make_engine(sock)
                transport = self._engine.transport_dispatcher.get_transport(udp.DOMAIN_NAME)
                lport = getattr(transport, "_lport", None)
                if lport is not None:
                    await lport
            except BaseException as exc:  # noqa: BLE001 - reported to start()'s caller
                failure.append(exc)
            finally:
                started.set()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            loop.create_task(setup())
            try:
                loop.run_forever()
            finally:
                _drain(loop)

        self._thread = threading.Thread(target=serve, name=f"snmp-agent-{self.pdu}-{self._port}", daemon=True)
        self._thread.start()
        started.wait(10.0)
        if failure or not started.is_set():
            self.stop()
            sock.close()
            raise RuntimeError(f"SNMP agent for {self.pdu} failed to start: {failure[0] if failure else 'timeout'}")
        return self._port

    def _make_engine(self, sock: socket.socket) -> engine.SnmpEngine:
        eng = engine.SnmpEngine()
        builder = eng.get_mib_builder()
        (engine_id,) = builder.import_symbols("__SNMP-FRAMEWORK-MIB", "snmpEngineID")
        engine_id.syntax = engine_id.syntax.clone(self.engine_id)  # stable across restarts
        eng.snmpEngineID = engine_id.syntax
        (boots,) = builder.import_symbols("__SNMP-FRAMEWORK-MIB", "snmpEngineBoots")
        boots.syntax = boots.syntax.clone(self.boots)
        transport = _FaultyUdp()
        transport.faults = self.faults
        config.add_transport(eng, udp.DOMAIN_NAME, transport.open_server_mode(sock=sock))
        config.add_v1_system(eng, "ro", self.community_ro)
        config.add_v1_system(eng, "rw", self.community_rw)
        for model in (1, 2):  # SNMPv1, SNMPv2c
            # pysnmp's VACM lets an *empty* write view write (lextudio/pysnmp#48): give the read-only
            # community a write view that matches nothing real, so every write is notInView -> noAccess.
            config.add_vacm_user(eng, model, "ro", "noAuthNoPriv", (1, 3, 6), (0, 0))
            config.add_vacm_user(eng, model, "rw", "noAuthNoPriv", (1, 3, 6), (1, 3, 6))
        for user in self.v3_users:
            config.add_v3_user(eng, user.name, AUTH_PROTOCOLS[user.auth_protocol], user.auth_key,
                               PRIV_PROTOCOLS[user.priv_protocol], user.priv_key)
            # same guard as the ro community: a read-only user's write view matches nothing
            config.add_vacm_user(eng, 3, user.name, "authPriv", (1, 3, 6), (1, 3, 6) if user.write else (0, 0))
        ctx = context.SnmpContext(eng)
        ctx.unregister_context_name(b"")
        ctx.register_context_name(b"", self.mib)  # serve our MIB instead of pysnmp's own
        for app in (cmdrsp.GetCommandResponder, cmdrsp.NextCommandResponder,
                    cmdrsp.BulkCommandResponder, cmdrsp.SetCommandResponder):
            app(eng, ctx)
        return eng

    def stop(self) -> None:
        """Close the dispatcher on the agent's loop, stop the loop, join and close it. Idempotent."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if thread.is_alive() and not loop.is_closed():
            def shutdown() -> None:
                if self._engine is not None:
                    self._engine.close_dispatcher()
                loop.stop()

            loop.call_soon_threadsafe(shutdown)
            thread.join(10.0)
        self._loop = self._thread = self._engine = None

    def __enter__(self) -> PduAgent:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

def _drain(loop: asyncio.AbstractEventLoop) -> None:
    """Let cancelled tasks finish and close the loop, so no 'Task was destroyed' warnings."""
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.run_until_complete(asyncio.sleep(0))
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()
