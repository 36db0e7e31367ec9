"""A live SNMP v1/v2c agent for one PDU of the twin, speaking one vendor's MIB from its vendor map.

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

Agents never take part in the clock: they only read ``clock.now()``.
"""

from __future__ import annotations

import asyncio
import bisect
import socket
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from pyasn1.type import univ
from pysnmp.carrier.asyncio.dgram import udp
from pysnmp.entity import config, engine
from pysnmp.entity.rfc3413 import cmdrsp, context
from pysnmp.proto import rfc1902, rfc1905
from pysnmp.smi import error as smi_error
from pysnmp.smi import instrum

from harness.drivers.snmp.vendor_map import ObjectSpec, VendorMap, load_vendor_map
from harness.sim.twin import RackTwin

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


def encode(spec: ObjectSpec, value: float | int | str) -> Any:
    """Model value -> the vendor's raw ASN.1 value (inverse scale, rounded, clamped to the type)."""
    cls = _TYPES[spec.type]
    if spec.type == "OctetString":
        return cls(str(value))
    if spec.type == "ObjectIdentifier":
        return cls(str(value))
    raw = int(round(float(value) / spec.scale))
    lo, hi = _INT32 if spec.type == "Integer32" else _UINT32
    return cls(min(hi, max(lo, raw)))


class PduAgent:
    """A live SNMP v2c agent for one PDU of the twin, speaking one vendor's MIB (from the vendor map)."""

    def __init__(self, twin: RackTwin, pdu: str, *, vendor: str = "apc_rpdu2", host: str = "127.0.0.1",
                 port: int = 0, community_ro: str = "public", community_rw: str = "private") -> None:
        if pdu not in twin.pdu_specs:
            raise KeyError(f"the twin has no PDU {pdu!r}")
        self.twin, self.pdu, self.host = twin, pdu, host
        self.vmap: VendorMap = load_vendor_map(vendor)
        self.community_ro, self.community_rw = community_ro, community_rw
        self._want_port = port
        self._port: int | None = None
        self.mib = CallbackMib()
        self._build_mib()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._engine: engine.SnmpEngine | None = None

    # ------------------------------------------------------------------ MIB from the vendor map
    def _build_mib(self) -> None:
        twin, pdu, vm, spec = self.twin, self.pdu, self.vmap, self.twin.pdu_specs[self.pdu]
        o, d, ident = vm.outlet, vm.device, vm.identity
        for n in range(1, spec.outlets + 1):
            self.mib.register(o.state.oid_for(outlet=n),
                              lambda n=n: encode(o.state, o.state.raw_of("on" if twin.outlet_is_on(pdu, n) else "off")))
            self.mib.register(o.control.oid_for(outlet=n),
                              lambda n=n: encode(o.control,
                                                 o.control.raw_of("on" if twin.outlet_is_on(pdu, n) else "off")),
                              self._control_setter(n))
            if o.pending is not None:
                pending = o.pending
                self.mib.register(pending.oid_for(outlet=n), lambda n=n, p=pending: encode(
                    p, p.raw_of("pending" if twin.outlet_command_pending(pdu, n) else "idle")))
            self.mib.register(o.current_a.oid_for(outlet=n),
                              lambda n=n: encode(o.current_a, twin.outlet_current_a(pdu, n)))
            self.mib.register(o.power_w.oid_for(outlet=n),
                              lambda n=n: encode(o.power_w, twin.outlet_power_w(pdu, n)))
            if o.energy_kwh is not None:
                energy = o.energy_kwh
                self.mib.register(energy.oid_for(outlet=n),
                                  lambda n=n, e=energy: encode(e, twin.outlet_energy_kwh(pdu, n)))
        for ph in range(1, spec.phases + 1):
            self.mib.register(d.phase_current_a.oid_for(phase=ph),
                              lambda ph=ph: encode(d.phase_current_a, twin.phase_current_a(pdu, ph)))
            if d.phase_voltage_v is not None:
                volts = d.phase_voltage_v
                self.mib.register(volts.oid_for(phase=ph), lambda v=volts: encode(v, spec.voltage_ln))
        self.mib.register(d.power_w.oid_for(), lambda: encode(d.power_w, twin.pdu_input_w(pdu)))
        self.mib.register(d.num_outlets.oid_for(), lambda: encode(d.num_outlets, spec.outlets))
        self.mib.register(d.num_phases.oid_for(), lambda: encode(d.num_phases, spec.phases))
        self.mib.register(ident.model.oid_for(), lambda: encode(ident.model, vm.sim.model))
        self.mib.register(ident.firmware.oid_for(), lambda: encode(ident.firmware, twin.firmware_of(pdu)))
        self.mib.register(ident.serial.oid_for(), lambda: encode(ident.serial, twin.serial_of(pdu)))
        self.mib.register(ident.sys_descr.oid_for(), lambda: encode(
            ident.sys_descr, f"rackval simulated {vm.sim.model} ({vm.vendor}) {pdu} {spec.outlets} outlets"))
        self.mib.register(ident.sys_object_id.oid_for(), lambda: encode(ident.sys_object_id, vm.sim.sys_object_id))

    def _control_setter(self, outlet: int) -> Setter:
        control = self.vmap.outlet.control

        def setter(value: Any, idx: int) -> Callable[[], None]:
            name_oid = control.oid_for(outlet=outlet)
            if not isinstance(value, univ.Integer):
                raise smi_error.WrongTypeError(name=name_oid, idx=idx)
            command = control.values.get(int(value))
            if command is None:
                raise smi_error.WrongValueError(name=name_oid, idx=idx)
            return lambda: self._switch(outlet, command)

        return setter

    def _switch(self, outlet: int, command: str) -> None:
        if command == "reboot":
            self.twin.reboot_outlet(self.pdu, outlet, self.vmap.sim.reboot_off_s)
        else:
            self.twin.set_outlet(self.pdu, outlet, command == "on")

    # ------------------------------------------------------------------ fault hook
    def set_override(self, oid: str, value: Any | None) -> None:
        """Serve ``value`` (a pysnmp/pyasn1 object) for ``oid`` instead of the model; ``None`` clears it.

        The hook the fault scenarios build on (wrong types, -1 'not supported', garbage).
        """
        key = oid_tuple(oid)
        if value is None:
            self.mib.overrides.pop(key, None)
        else:
            self.mib.overrides[key] = value

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
        config.add_transport(eng, udp.DOMAIN_NAME, udp.UdpAsyncioTransport().open_server_mode(sock=sock))
        config.add_v1_system(eng, "ro", self.community_ro)
        config.add_v1_system(eng, "rw", self.community_rw)
        for model in (1, 2):  # SNMPv1, SNMPv2c
            # pysnmp's VACM lets an *empty* write view write (lextudio/pysnmp#48): give the read-only
            # community a write view that matches nothing real, so every write is notInView -> noAccess.
            config.add_vacm_user(eng, model, "ro", "noAuthNoPriv", (1, 3, 6), (0, 0))
            config.add_vacm_user(eng, model, "rw", "noAuthNoPriv", (1, 3, 6), (1, 3, 6))
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
