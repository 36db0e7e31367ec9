"""One simulated Redfish service on its own TCP listener: its model, core state and HTTP app, and the
behaviour of a BMC that is down, booting, slow or answering with damaged bytes.

**BMC down.** While a BMC is not ready a client must see a connection error and never an HTTP
answer. Two layers do that:

* at request time (every request, including ones on kept-alive connections) and at accept time the
  twin is asked; if the BMC is not ready the TCP connection is reset (SO_LINGER 0 + abort);
* with ``refuse_when_down`` the listening socket is also closed while the BMC is not ready and
  re-bound on the same port when it is ready again, so connects are really refused. The fleet's
  monitor (real time) drives that through :meth:`ServiceListener.tick`. It is the default on a
  real/scaled clock only: on a :class:`VirtualClock` simulated time can jump minutes between two
  monitor ticks, so a client polling in virtual time would see "refused" long after the twin says
  Ready. There the listener stays open and the accept-time reset stands in for refusal.

**Faults** (``RedfishFleet.inject``) are windows in *simulated* time, judged at request time, so
they are deterministic under a VirtualClock; only ``slow`` is real time, because it exists to
outlast the client's real-time timeout (a reply it holds goes on at once when the fault is cleared, so a
test can hold a request "forever" and release it when it has asserted). Each time a fault meets a request (or a connection) it says so in
the station's fault log (``harness/sim/faults/log.py``), so a test sees that it acted, not just that it was
armed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import socket
import struct
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMethod
from aiohttp.web_protocol import RequestHandler

from harness.sim.faults.wire import CONTENT_KINDS, Corruption, WireFault, mangle_json, send_mangled
from harness.sim.physics import RackTwin
from harness.sim.redfish.core import Model, ServiceCore
from harness.sim.redfish.http import HttpService
from harness.sim.redfish.registry import error_body
from harness.sim.redfish.responses import json_response
from harness.sim.redfish.tls import TlsFiles

log = logging.getLogger(__name__)


class Fleet(Protocol):
    """What a listener needs of the fleet it belongs to."""

    twin: RackTwin
    host: str
    username: str
    password: str
    refuse_when_down: bool
    tls: TlsFiles | None

    def sync(self) -> None: ...


def _reset_transport(transport: asyncio.BaseTransport | None) -> None:
    """Drop a TCP connection with RST, so the peer sees 'connection reset' and no HTTP bytes."""
    if transport is None or transport.is_closing():
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()  # type: ignore[attr-defined]


class _Reset(asyncio.Protocol):
    """Accept-time stand-in for a BMC that is down: reset the connection at once."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        _reset_transport(transport)


class _Dropped(web.HTTPException):
    """Raised after the transport was reset: there is no HTTP answer to send."""

    status_code = 500


class _Handler(RequestHandler):
    """aiohttp's request handler, answering an unknown HTTP method with a Redfish 501 instead of 400."""

    def handle_error(self, request: Any, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if isinstance(exc, BadHttpMethod):
            return json_response(501, error_body("OperationNotAllowed"), headers={"Connection": "close"})
        return super().handle_error(request, status, exc, message)


@dataclass
class ListenerFaults:
    """Injected faults of one listener; windows are in simulated seconds."""

    down_until: float = -math.inf
    booting_until: float = -math.inf
    injected: str = ""  # the fault that set the windows above ("unreachable", "booting"), for the fault log
    injected_booting_until: float = -math.inf  # the 503 window that fault set (a BMC's own reboot is no fault)
    evicted: set[str] = field(default_factory=set)  # tokens the ``evict_sessions`` fault dropped
    evict_every_s: float = 0.0  # ``evict_sessions`` again every so many simulated seconds (0: once)
    next_evict: float = math.inf
    slow_s: float = 0.0
    slow_methods: tuple[str, ...] = ()  # empty: every method
    cleared: asyncio.Event = field(default_factory=asyncio.Event)  # set by RedfishFleet.clear: held replies go on
    twin_undo: list[Any] = field(default_factory=list)  # callables that clear twin-level faults
    wire: WireFault | None = None  # replies corrupted on the wire (harness/sim/faults/wire.py)


class ServiceListener:
    """One Redfish service: its model, core state, HTTP app and socket."""

    def __init__(self, fleet: Fleet, model: Model) -> None:
        self.fleet, self.model, self.name = fleet, model, model.name
        self.core = ServiceCore(model, fleet.twin.clock, username=fleet.username, password=fleet.password,
                                sync=fleet.sync)
        self.faults = ListenerFaults()
        self.http = HttpService(self.core, ready=self.ready, reset_response=lambda: self.reset_response)
        self.reset_response = 204
        self.runner: web.AppRunner | None = None
        self.server: asyncio.Server | None = None
        self.port = 0
        self.listening = False
        if hasattr(model, "on_bmc_outage"):
            model.on_bmc_outage = self.outage

    # ------------------------------------------------------------------ liveness
    def now(self) -> float:
        return self.fleet.twin.clock.now()

    def ready(self) -> bool:
        """Is the service up now? One that lost power or rebooted has forgotten its sessions."""
        up = self.model.ready() and self.now() >= self.faults.down_until
        if not up:
            self.core.drop_sessions()
        else:
            self.core.forget_if_rebooted()
        return up

    def fault_acted(self, fault: str, effect: str, detail: str = "") -> None:
        """An injected fault met a request: into the station's fault log (harness/sim/faults/log.py)."""
        self.fleet.twin.fault_log.acted(f"redfish.{fault}", self.name, effect, detail)

    def _down_by_fault(self) -> bool:
        return self.model.ready() and self.now() < self.faults.down_until

    def booting_for(self) -> float:
        """Seconds of 503 'still booting' left (0 when serving normally)."""
        return max(0.0, self.faults.booting_until - self.now())

    def outage(self, seconds: float) -> None:
        """The BMC reboots itself (FullPowerCycle): 503 + Retry-After for ``seconds``, sessions gone."""
        self.faults.booting_until = max(self.faults.booting_until, self.now() + seconds)
        self.core.drop_sessions()

    # ------------------------------------------------------------------ lifecycle
    async def setup(self) -> None:
        app = web.Application(middlewares=[self._gate])
        app.router.add_route("*", "/{tail:.*}", self.http.handle)
        # a short grace at stop: a request held by the `slow` fault must not hold up the station's stop
        self.runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=2.0)
        await self.runner.setup()
        await self._listen()
        if self.fleet.refuse_when_down and not self.ready():
            await self._unlisten()

    def _factory(self) -> asyncio.BaseProtocol:
        assert self.runner is not None and self.runner.server is not None
        if not self.ready():
            if self._down_by_fault():
                self.fault_acted(self.faults.injected, "connection reset at accept (BMC down)")
            return _Reset()
        server = self.runner.server
        try:  # aiohttp's C parser rejects unknown methods with 400; Redfish wants 405/501 (see _Handler)
            return _Handler(server, loop=asyncio.get_running_loop(), **server._kwargs)
        except (AttributeError, TypeError):
            return server()

    async def _listen(self) -> None:
        loop = asyncio.get_running_loop()
        ssl_ctx = self.fleet.tls.server_context() if self.fleet.tls else None
        self.server = await loop.create_server(self._factory, self.fleet.host, self.port, reuse_address=True,
                                               ssl=ssl_ctx)
        self.port = self.server.sockets[0].getsockname()[1]
        self.listening = True

    async def _unlisten(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        self.listening = False
        self.drop_connections()

    def drop_connections(self) -> None:
        if self.runner is not None and self.runner.server is not None:
            for handler in list(self.runner.server.connections):
                _reset_transport(handler.transport)

    async def tick(self) -> None:
        """Follow the twin: refuse while down, re-bind the same port when ready."""
        up = self.ready()
        if not up:
            self.drop_connections()
        if not self.fleet.refuse_when_down:
            return
        if up and not self.listening:
            try:
                await self._listen()
            except OSError as exc:  # port briefly unavailable: try again next tick
                log.warning("%s: cannot re-bind port %d: %s", self.name, self.port, exc)
        elif not up and self.listening:
            await self._unlisten()

    async def close(self) -> None:
        self.core.drop_sessions()
        await self._unlisten()
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    # ------------------------------------------------------------------ HTTP gate
    @web.middleware
    async def _gate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        f = self.faults
        if not self.ready():
            if self._down_by_fault():
                self.fault_acted(f.injected, "request reset (BMC down)", f"{request.method} {request.path}")
            _reset_transport(request.transport)
            raise _Dropped()
        self.fleet.sync()
        if f.evict_every_s > 0 and self.now() >= f.next_evict:  # judged at request time: no request, no session
            f.evicted |= self.core.auth.evict_sessions()
            while f.next_evict <= self.now():
                f.next_evict += f.evict_every_s
        if f.evicted and request.headers.get("X-Auth-Token") in f.evicted:
            self.fault_acted("evict_sessions", "request with an evicted session", f"{request.method} {request.path}")
        if f.slow_s > 0 and (not f.slow_methods or request.method in f.slow_methods):
            self.fault_acted("slow", f"reply held back {f.slow_s:g} s", f"{request.method} {request.path}")
            await request.read()  # received, then processed slowly: the action still happens once
            with contextlib.suppress(TimeoutError):  # real time: it exists to outlast a real client timeout
                await asyncio.wait_for(f.cleared.wait(), f.slow_s)  # ... or until the fault is cleared
        booting = self.booting_for()
        if booting > 0:
            if self.now() < f.injected_booting_until:
                self.fault_acted(f.injected, "503 while booting", f"{request.method} {request.path}")
            retry = str(max(1, math.ceil(booting)))
            return json_response(503, error_body("ServiceTemporarilyUnavailable", retry),
                                 headers={"Retry-After": retry})
        try:
            wire = self.faults.wire.take(f"{request.method} {request.path_qs}") if self.faults.wire else None
            resp = await handler(request)
            if wire is not None and isinstance(resp, web.Response) and not resp.prepared:
                return await self._corrupt(request, resp, wire)
            return resp
        except web.HTTPException:
            raise
        except (ConnectionError, asyncio.CancelledError):
            raise
        except Exception:
            log.exception("%s: %s %s failed", self.name, request.method, request.path)
            return json_response(500, error_body("InternalError"))

    async def _corrupt(self, request: web.Request, resp: web.Response, c: Corruption) -> web.Response:
        """The ``wire`` fault: damaged content in a well-framed answer, or a transport broken mid-reply."""
        body = resp.body if isinstance(resp.body, bytes) else b""
        self.fault_acted("wire", f"reply damaged ({c.kind})", f"{request.method} {request.path_qs}")
        headers = [(k, v) for k, v in resp.headers.items() if k.lower() != "content-length"]
        if c.kind in CONTENT_KINDS:
            return web.Response(status=resp.status, reason=resp.reason, body=mangle_json(body, c), headers=headers)
        await send_mangled(request.transport, resp.status, resp.reason or "", headers, body, c)
        raise _Dropped()
