"""A live SNMP v1/v2c/v3 agent for one PDU of the twin, speaking one vendor's MIB from its vendor map.

Every request reads the twin at the clock's now, so the PDU agrees with the BMCs, the power shelf and
the analyzer. The agent is a pysnmp command responder on a loop thread of its own; its MIB is a
:class:`~harness.sim.snmp.mib.CallbackMib` holding the PDU's vendor objects (``pdu_mib.py``, where the
switching semantics are) and the agent's own system objects (engine ID and boots, sysUpTime, sysName).

v3 users are authPriv only. A read-only user (and the read-only community) gets a VACM write view that
matches nothing, because pysnmp lets an *empty* write view write (lextudio/pysnmp#48).

Faults (:meth:`PduAgent.set_faults`, :meth:`PduAgent.set_wire`, :meth:`PduAgent.restart`) sit in the
transport (``faults.py``): requests or replies lost with a probability decided by a seeded counter
(deterministic), every reply delayed, reply datagrams damaged on the wire, and a restart that comes
back on the same port with snmpEngineBoots + 1 and fresh counters. Each time one acts (a datagram
dropped, held back or damaged; the restart) it says so in the station's fault log (``harness/sim/faults/log.py``).

Agents never take part in the clock: they only read ``clock.now()``.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pysnmp.carrier.asyncio.dgram import udp
from pysnmp.entity import config, engine
from pysnmp.entity.rfc3413 import cmdrsp, context
from pysnmp.proto import rfc1902

from harness.drivers.snmp.credentials import AUTH_PROTOCOLS, PRIV_PROTOCOLS
from harness.drivers.snmp.engine import drain_loop
from harness.drivers.snmp.vendor_map import VendorMap, load_vendor_map
from harness.sim.faults.wire import Corruption, WireFault
from harness.sim.physics import RackTwin
from harness.sim.snmp.faults import AgentFaults, FaultyUdp
from harness.sim.snmp.mib import SNMP_ENGINE_BOOTS, SNMP_ENGINE_ID, SYS_NAME, SYS_UPTIME, CallbackMib, oid_tuple
from harness.sim.snmp.pdu_mib import PduMib

__all__ = ["AgentFaults", "PduAgent", "V3User"]


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
        self.faults = AgentFaults(seed=seed, report=self._fault_acted)
        self.boots = 1
        self.engine_id = b"\x80\x00\x4f\xb8\x05" + hashlib.blake2b(f"{pdu}|{seed}".encode(), digest_size=8).digest()
        self._want_port = port
        self._port: int | None = None
        self._t0 = twin.clock.now()
        self.mib = CallbackMib()
        self.pdu_mib = PduMib(twin, pdu, self.vmap, self.mib)
        self._register_system_objects()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._engine: engine.SnmpEngine | None = None

    @property
    def on_delay_s(self) -> dict[int, int]:
        """Per-outlet power-on delay (s) of the vendor's sequenced power-on (APC PowerOnTime)."""
        return self.pdu_mib.on_delay_s

    def _register_system_objects(self) -> None:
        """The agent's own objects, beside the PDU's: what a v3 manager and a sysUpTime poll read."""
        self.mib.register(SYS_UPTIME, lambda: rfc1902.TimeTicks(int(max(0.0, self.twin.clock.now() - self._t0) * 100)))
        self.mib.register(SYS_NAME, lambda: rfc1902.OctetString(self.pdu))
        self.mib.register(SNMP_ENGINE_ID, lambda: rfc1902.OctetString(self.engine_id))
        self.mib.register(SNMP_ENGINE_BOOTS, lambda: rfc1902.Integer32(self.boots))

    # ------------------------------------------------------------------ fault hooks
    def _fault_acted(self, fault: str, effect: str) -> None:
        """A transport fault acted on a datagram: into the station's fault log (harness/sim/faults/log.py)."""
        self.twin.fault_log.acted(f"snmp.{fault}", self.pdu, effect)

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
        self._fault_acted("restart", f"agent restarted (snmpEngineBoots {self.boots})")
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
                drain_loop(loop)

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
        transport = FaultyUdp()
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
