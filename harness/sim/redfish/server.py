"""Simulated Redfish services of a rack, served over real HTTP(S) on 127.0.0.1.

One listener per tray BMC plus (for rack-scale profiles) one rack manager listener that carries the
``Rack`` chassis, the power shelves and the CDU. All listeners share one asyncio loop in a daemon
thread. Every answer is built from the :class:`RackTwin` at request time, so the BMC view agrees
with the PDU, shelf and analyzer views. HTTP semantics (auth, ETags, errors, SSE) live in
``redfish_http.py``; accounts/sessions/events in ``redfish_core.py``.

**BMC down.** While a BMC is not ready a client must see a connection error and never an HTTP
answer. Two layers do that:

* at request time (every request, including ones on kept-alive connections) and at accept time the
  twin is asked; if the BMC is not ready the TCP connection is reset (SO_LINGER 0 + abort);
* with ``refuse_when_down`` the listening socket is also closed while the BMC is not ready and
  re-bound on the same port when it is ready again, so connects are really refused. A 50 ms
  monitor (real time) drives that. It is the default on a real/scaled clock only: on a
  :class:`VirtualClock` simulated time can jump minutes between two monitor ticks, so a client
  polling in virtual time would see "refused" long after the twin says Ready. There the
  listener stays open and the accept-time reset stands in for refusal.

**Faults** (:meth:`RedfishFleet.inject`) are windows in *simulated* time, judged at request time,
so they are deterministic under a VirtualClock; only ``slow`` is real time, because it exists to
outlast the client's real-time timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import socket
import struct
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMethod
from aiohttp.web_protocol import RequestHandler

from harness.clock import VirtualClock
from harness.sim.faults.wire import CONTENT_KINDS, Corruption, WireFault, mangle_json, send_mangled
from harness.sim.physics import RackTwin
from harness.sim.redfish.core import ServiceCore
from harness.sim.redfish.http import HttpService, json_response
from harness.sim.redfish.rackmgr import RackManagerModel
from harness.sim.redfish.registry import error_body
from harness.sim.redfish.resources import BmcModel, Personality
from harness.sim.redfish.thresholds import ThresholdWatch
from harness.sim.redfish.tls import TlsFiles, make_ca

log = logging.getLogger(__name__)

MONITOR_PERIOD_S = 0.05  # real seconds between BMC-state checks (asyncio.sleep, not the run clock)
RACK_MANAGER = "rackmgr"
FAULTS = ("unreachable", "booting", "slow", "evict_sessions", "stuck_sensor", "nan_sensor", "leak", "psu_failure",
          "wire")


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
class _Faults:
    """Injected faults of one listener; windows are in simulated seconds."""

    down_until: float = -math.inf
    booting_until: float = -math.inf
    slow_s: float = 0.0
    slow_methods: tuple[str, ...] = ()  # empty: every method
    twin_undo: list[Any] = field(default_factory=list)  # callables that clear twin-level faults
    wire: WireFault | None = None  # replies corrupted on the wire (harness/sim/faults/wire.py)


class _Listener:
    """One Redfish service: its model, core state, HTTP app and socket."""

    def __init__(self, fleet: RedfishFleet, model: Any) -> None:
        self.fleet, self.model, self.name = fleet, model, model.name
        self.core = ServiceCore(model, fleet.twin.clock, username=fleet.username, password=fleet.password,
                                sync=fleet.sync)
        self.faults = _Faults()
        self.http = HttpService(self)
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
        if not self.ready():
            _reset_transport(request.transport)
            raise _Dropped()
        self.fleet.sync()
        if self.faults.slow_s > 0 and (not self.faults.slow_methods or request.method in self.faults.slow_methods):
            await request.read()  # received, then processed slowly: the action still happens once
            await asyncio.sleep(self.faults.slow_s)  # real time: it exists to outlast a real client timeout
        booting = self.booting_for()
        if booting > 0:
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
        headers = [(k, v) for k, v in resp.headers.items() if k.lower() != "content-length"]
        if c.kind in CONTENT_KINDS:
            return web.Response(status=resp.status, reason=resp.reason, body=mangle_json(body, c), headers=headers)
        await send_mangled(request.transport, resp.status, resp.reason or "", headers, body, c)
        raise _Dropped()


class RedfishFleet:
    """One aiohttp listener per tray BMC (plus a rack manager), all on one asyncio loop in a daemon thread.

    ``tls=True`` makes a CA for this fleet and serves HTTPS; :attr:`ca_file` is then the CA to verify
    with. ``rack_manager=None`` serves a rack manager when the rack has several power shelves (a
    rack-scale system such as nvl72, whose shelves and CDU the rack manager aggregates); True/False force it. ``personalities`` picks per-BMC resource trees
    (``"new"``, ``"legacy"``, ``"both"``). After :meth:`start`, :attr:`roles` maps every endpoint to its
    BMC role (compute_tray, switch_tray, rack_manager).
    """

    def __init__(self, twin: RackTwin, *, username: str, password: str, host: str = "127.0.0.1",
                 refuse_when_down: bool | None = None, tls: bool = False, rack_manager: bool | None = None,
                 personalities: Mapping[str, Personality] | None = None) -> None:
        self.twin, self.host = twin, host
        self.username, self.password = username, password
        self.refuse_when_down = (not isinstance(twin.clock, VirtualClock)) if refuse_when_down is None \
            else refuse_when_down
        self.rack_manager = len({p.shelf for p in twin.psus.values()}) > 1 if rack_manager is None else rack_manager
        self.personalities = dict(personalities or {})
        self.tls: TlsFiles | None = None
        self._tls_wanted = tls
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._services: dict[str, _Listener] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._monitor: asyncio.Task[None] | None = None
        self._lock = threading.Lock()
        self._thresholds: ThresholdWatch | None = None

    def check_credentials(self, user: str, password: str) -> bool:
        import hmac

        return hmac.compare_digest(user.encode(), self.username.encode()) and \
            hmac.compare_digest(password.encode(), self.password.encode())

    @property
    def ca_file(self) -> str | None:
        return str(self.tls.ca_file) if self.tls else None

    @property
    def scheme(self) -> str:
        return "https" if self._tls_wanted else "http"

    @property
    def endpoints(self) -> dict[str, str]:
        return {name: f"{self.scheme}://{self.host}:{s.port}" for name, s in self._services.items()}

    @property
    def roles(self) -> dict[str, str]:
        return {name: s.model.role for name, s in self._services.items()}

    def service(self, name: str) -> _Listener:
        if name not in self._services:
            raise KeyError(f"no Redfish service {name!r} (have: {', '.join(self._services)})")
        return self._services[name]

    # ------------------------------------------------------------------ per-BMC behaviour
    def set_reset_response(self, name: str, status: int) -> None:
        """How the BMC answers an accepted action: 204, 200 (+ message) or 202 (+ task monitor)."""
        if status not in (200, 202, 204):
            raise ValueError("reset response must be 200, 202 or 204")
        self.service(name).reset_response = status

    def inject(self, name: str, fault: str, **params: Any) -> None:
        """Inject a fault into one service. Faults (simulated seconds unless said otherwise):

        - ``unreachable`` (``down_s``=30, ``booting_s``=20): connections reset/refused for ``down_s``,
          then 503 + Retry-After for ``booting_s``, as a rebooting BMC; sessions are lost.
        - ``booting`` (``seconds``=20): 503 + Retry-After only.
        - ``slow`` (``delay_s``, real seconds; ``methods`` e.g. ("POST",), default all): replies are
          delayed (to outlast a client timeout).
        - ``evict_sessions``: every session is dropped now (clients get 401 NoValidSession).
        - ``stuck_sensor`` (``sensor``, ``value``) / ``nan_sensor`` (``sensor``): a tray sensor such as
          ``gpu0``, ``asic`` or ``inlet`` reads a fixed value / is unavailable.
        - ``leak`` (``detector``, ``state``="Critical"), ``psu_failure`` (``psu``): twin faults.
        - ``wire`` (a :class:`~harness.sim.faults.wire.Corruption`: ``kind``, ``at``, ``data``, ``match``,
          ``count``): replies damaged on the wire (malformed JSON, truncated, reset mid-reply).
        """
        svc = self.service(name)
        now = svc.now()
        f = svc.faults
        if fault == "unreachable":
            down = float(params.get("down_s", 30.0))
            f.down_until = now + down
            f.booting_until = now + down + float(params.get("booting_s", 20.0))
            svc.core.drop_sessions()
        elif fault == "booting":
            svc.outage(float(params.get("seconds", 20.0)))
        elif fault == "slow":
            f.slow_s = float(params["delay_s"])
            f.slow_methods = tuple(str(m).upper() for m in params.get("methods", ()))
        elif fault == "evict_sessions":
            svc.core.evict_sessions()
        elif fault in ("stuck_sensor", "nan_sensor"):
            key = f"{name}/{params['sensor']}"
            value = float("nan") if fault == "nan_sensor" else float(params["value"])
            self.twin.set_sensor_fault(key, value)
            f.twin_undo.append(lambda: self.twin.set_sensor_fault(key, None))
        elif fault == "leak":
            detector = str(params["detector"])
            self.twin.set_leak(detector, params.get("state", "Critical"))
            f.twin_undo.append(lambda: self.twin.set_leak(detector, "OK"))
        elif fault == "wire":
            f.wire = WireFault(Corruption.from_params(params))
        elif fault == "psu_failure":
            psu = str(params["psu"])
            self.twin.fail_psu(psu, True)
            f.twin_undo.append(lambda: self.twin.fail_psu(psu, False))
        else:
            raise ValueError(f"unknown fault {fault!r} (known: {', '.join(FAULTS)})")

    def clear(self, name: str) -> None:
        """Clear every fault injected into ``name`` (twin faults are undone too)."""
        svc = self.service(name)
        undo = svc.faults.twin_undo
        svc.faults = _Faults()
        for fn in reversed(undo):
            fn()

    # ------------------------------------------------------------------ events from the twin
    def _on_twin_event(self, kind: str, data: dict[str, object]) -> None:
        t = float(data.get("t", 0.0))  # type: ignore[arg-type]
        if self._thresholds is not None:  # crossings before this event are logged before it (SEL in time order)
            self._thresholds.advance(t)
        for svc in list(self._services.values()):
            for info, origin in svc.model.events_for(kind, data):
                svc.core.record(t, info, origin)

    def sync(self) -> None:
        """Bring the twin and the threshold watch up to now: events due by now are logged and streamed
        (a BMC scans its sensors all the time; here every request stands in for that scan)."""
        with self.twin._lock:
            now = self.twin.sync()
            if self._thresholds is not None:
                self._thresholds.advance(now)

    def _record_crossing(self, service: str, t: float, info: dict[str, Any], origin: str) -> None:
        self._services[service].core.record(t, info, origin)

    def _start_watch(self) -> None:
        """Threshold-crossing events (redfish_thresholds.py), fed by the twin at every state change."""
        sensors = [s for svc in self._services.values() for s in svc.model.threshold_sensors()]
        with self.twin._lock:  # one consistent start: curves and time under the twin's lock
            self._thresholds = ThresholdWatch(self.twin, sensors, self._record_crossing, self.twin.sync())
            self.twin.watchers.append(self._thresholds.on_change)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> dict[str, str]:
        """Bind every service's port and serve; a second call returns the same endpoints."""
        with self._lock:
            if self._loop is not None:
                return self.endpoints
            if self._tls_wanted and self.tls is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="rackval-ca-")
                self.tls = make_ca(Path(self._tmp.name), self.host)
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="redfish-fleet", daemon=True)
            thread.start()
            self._loop, self._thread = loop, thread
            try:
                asyncio.run_coroutine_threadsafe(self._start(), loop).result(timeout=60)
            except BaseException:
                self._shutdown_loop()
                raise
            self._start_watch()
            self.twin.listeners.append(self._on_twin_event)
            return self.endpoints

    async def _start(self) -> None:
        models: list[Any] = [BmcModel(self.twin, tray, personality=self.personalities.get(tray, "new"))
                             for tray in self.twin.trays]
        if self.rack_manager:
            models.append(RackManagerModel(self.twin, RACK_MANAGER))
        for model in models:
            svc = _Listener(self, model)
            self._services[model.name] = svc
            await svc.setup()
        self._monitor = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            for svc in self._services.values():
                try:
                    await svc.tick()
                except Exception:  # keep watching the other services
                    log.exception("%s: monitor failed", svc.name)
            await asyncio.sleep(MONITOR_PERIOD_S)

    def stop(self) -> None:
        """Close every listener and connection, then the loop; safe to call twice."""
        with self._lock:
            if self._loop is None:
                return
            with contextlib.suppress(ValueError):
                self.twin.listeners.remove(self._on_twin_event)
            if self._thresholds is not None:
                with contextlib.suppress(ValueError):
                    self.twin.watchers.remove(self._thresholds.on_change)
                self._thresholds = None
            try:
                asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=30)
            finally:
                self._shutdown_loop()
                if self._tmp is not None:
                    self._tmp.cleanup()
                    self._tmp, self.tls = None, None

    async def _stop(self) -> None:
        if self._monitor is not None:
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor
            self._monitor = None
        for svc in self._services.values():
            await svc.close()

    def _shutdown_loop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(timeout=10)
        if not loop.is_running():
            loop.close()
        self._loop, self._thread = None, None

    def __enter__(self) -> RedfishFleet:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["FAULTS", "RACK_MANAGER", "RedfishFleet"]
