"""Simulated SCPI instruments over raw TCP (``TCPIP::127.0.0.1::PORT::SOCKET``), values from the twin.

The server only frames bytes: newline-terminated program messages in, one newline-terminated
response message out per message that holds queries. Parsing, the error queue and the physics
hook-up live in the personality (:mod:`harness.sim.visa.personalities`).
"""

from __future__ import annotations

import socket
import socketserver
import threading
from collections import deque
from typing import TYPE_CHECKING, Any, Literal

from harness.sim.faults.wire import Corruption, WireFault, mangle_line, reset_socket
from harness.sim.visa.device import DEVICE_FAULTS, ScpiDevice, Wiring
from harness.sim.visa.parser import ScpiFault
from harness.sim.visa.personalities import personality

if TYPE_CHECKING:
    from harness.sim.physics import RackTwin

MAX_MESSAGE_BYTES = 64 * 1024  # longer program messages overrun the input buffer (-363)
LOG_SIZE = 200


class _Handler(socketserver.StreamRequestHandler):
    """One client connection: read messages, answer the ones with queries."""

    server: _TcpServer

    def handle(self) -> None:
        owner = self.server.owner
        if owner._refusing:  # injected "drop" with refuse=True: accept, then close at once
            owner.fault_acted("drop", "connection refused (closed at accept)")
            return
        owner._track(self.connection, add=True)
        try:
            while True:
                raw = self.rfile.readline(MAX_MESSAGE_BYTES)
                if not raw:
                    return
                if not raw.endswith(b"\n") and len(raw) >= MAX_MESSAGE_BYTES:
                    while (rest := self.rfile.readline(MAX_MESSAGE_BYTES)) and not rest.endswith(b"\n"):
                        pass
                    owner.device.push_error(ScpiFault(-363))
                    continue
                message = raw.decode("latin-1").rstrip("\r\n")
                owner.log.append(message)
                reply = owner.device.process(message)
                if reply is None:
                    continue
                wire = owner.wire.take(message) if owner.wire is not None else None
                if wire is None:
                    self.wfile.write(reply.encode("latin-1", "replace") + b"\n")
                    continue
                mangled = mangle_line(reply.encode("latin-1", "replace"), wire)  # the command has run
                owner.fault_acted("wire", f"reply damaged ({wire.kind})", message[:80])
                self.wfile.write(mangled.data)
                self.wfile.flush()
                if mangled.then == "reset":
                    reset_socket(self.connection)
                if mangled.then != "keep":
                    return
        except OSError:
            return  # the client went away, or the server dropped the connection
        finally:
            owner._track(self.connection, add=False)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass


class _TcpServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], owner: ScpiServer) -> None:
        self.owner = owner
        super().__init__(address, _Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        """A connection's failure is the client's business; keep the test output clean."""


class ScpiServer:
    """A SCPI instrument over raw TCP that parses like a real one; values from the twin.

    ``role`` and ``model`` pick the personality; the load's current rating, the analyzer's and
    AC source's wiring (``measures``) and the DAQ's ``channels`` default to the profile's
    instrument entry of that role and model. ``serial`` defaults to the twin's serial for that
    instrument.

    Faults for tests and demos: :meth:`inject` and :meth:`clear`; each time one acts (a connection dropped
    or refused, a reply damaged, frozen or over range, a protection tripped) it says so in the station's
    fault log (``harness/sim/faults/log.py``).
    """

    def __init__(
        self,
        twin: RackTwin,
        *,
        role: Literal["eload", "power_analyzer", "daq", "ac_source"],
        model: str,
        measures: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        serial: str | None = None,
        channels: dict[int, str] | None = None,
    ) -> None:
        name, spec = role, None
        for key, candidate in twin.profile.instruments.items():
            if candidate.role == role and candidate.model == model:
                name, spec = key, candidate
                break
        self.name, self.twin = name, twin
        wiring = Wiring(
            serial=serial or twin.serial_of(name),
            max_current_a=spec.max_current_a if spec else None,
            measures=measures or (spec.measures if spec else None),
            channels=dict(channels if channels is not None else (spec.channels if spec else {})),
        )
        self.device: ScpiDevice = personality(twin, role, model, wiring)
        self.device.report = self.fault_acted
        self.role, self.model, self.host = role, model, host
        self.log: deque[str] = deque(maxlen=LOG_SIZE)  # messages received, newest last (for tests)
        self._port = port
        self._server: _TcpServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        self._refusing = False
        self.wire: WireFault | None = None  # replies corrupted on the wire (inject "wire")

    @property
    def port(self) -> int:
        return self._port

    @property
    def resource(self) -> str:
        """The VISA resource string clients open."""
        if not self._port:
            raise RuntimeError("the server has no port until start()")
        return f"TCPIP::{self.host}::{self._port}::SOCKET"

    def start(self) -> str:
        """Listen (on the port of a previous start, if any, so clients can reconnect)."""
        if self._server is not None:
            return self.resource
        self.device.attach()
        self._server = _TcpServer((self.host, self._port), self)
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
            name=f"scpi-{self.role}-{self._port}", daemon=True)
        self._thread.start()
        return self.resource

    def stop(self) -> None:
        """Stop listening and drop every connection, as a powered-off instrument would."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        self.drop_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.device.detach()

    # ------------------------------------------------------------------ faults
    def fault_acted(self, fault: str, effect: str, detail: str = "") -> None:
        """An injected fault acted (a connection dropped or refused, a reply damaged or frozen): into the
        station's fault log (harness/sim/faults/log.py)."""
        self.twin.fault_log.acted(f"scpi.{fault}", self.name, effect, detail)

    def inject(self, fault: Literal["drop", "stuck", "overrange", "protection_trip", "wire"], **params: Any) -> None:
        """Make the instrument misbehave until :meth:`clear`.

        * ``drop``: every client connection is closed now; with ``refuse=True`` every new one is
          too (accepted, then closed at once) until cleared.
        * ``stuck``: every measurement answers the value it last answered.
        * ``overrange``: measurements answer the 9.91E37 sentinel; a DAQ takes ``channels=[...]``
          to open just those thermocouples.
        * ``protection_trip``: loads and AC sources: output forced off, the protection status
          bit set (``kind=``, e.g. "OCP"), an entry in the error queue. Latched until the
          instrument's protection-clear command.
        * ``wire``: replies damaged on the wire (:class:`~harness.sim.faults.wire.Corruption`: ``kind``,
          ``at``, ``data``, ``match`` on the command, ``count``); the commands themselves still run.
        """
        if fault == "wire":
            self.wire = WireFault(Corruption.from_params(params))
            return
        if fault == "drop":
            unknown = set(params) - {"refuse"}
            if unknown:
                raise ValueError(f"drop takes only refuse=, got {sorted(unknown)}")
            self._refusing = bool(params.get("refuse", False))
            dropped = self.drop_connections()
            if dropped:
                self.fault_acted("drop", "connection dropped", f"{dropped} open")
            return
        if fault not in DEVICE_FAULTS:
            raise ValueError(f"unknown fault {fault!r} (known: drop, {', '.join(DEVICE_FAULTS)})")
        self.device.inject(fault, **params)

    def clear(self, fault: str | None = None) -> None:
        """Stop one injected fault (or all): connections are accepted again, readings live again."""
        if fault in (None, "drop"):
            self._refusing = False
        if fault in (None, "wire"):
            self.wire = None
            if fault == "wire":
                return
        if fault != "drop":
            self.device.clear_faults(fault)

    def drop_connections(self) -> int:
        """Close every client connection but keep listening (an instrument's socket reset)."""
        with self._conn_lock:
            conns = list(self._connections)
            self._connections.clear()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()
        return len(conns)

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._conn_lock:
            (self._connections.add if add else self._connections.discard)(conn)

    def __enter__(self) -> ScpiServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
