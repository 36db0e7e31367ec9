"""Simulated tray BMCs: one Redfish service per tray, served over real HTTP on 127.0.0.1.

All listeners share one asyncio loop in a daemon thread. Every answer is built from the
:class:`RackTwin` at request time, so the BMC view agrees with the PDU, shelf and analyzer views.

**BMC down.** While ``twin.bmc_state(tray) != "Ready"`` a client must see a connection error and
never an HTTP answer. Two layers do that:

* at request time (every request, including ones on kept-alive connections) and at accept time the
  twin is asked; if the BMC is not ready the TCP connection is reset (SO_LINGER 0 + abort);
* with ``refuse_when_down`` the listening socket is also closed while the BMC is not ready and
  re-bound on the same port when it is ready again, so connects are really refused. A 50 ms
  monitor (real time) drives that. It is the default on a real/scaled clock only: on a
  :class:`VirtualClock` simulated time can jump minutes between two monitor ticks, so a client
  polling in virtual time would see "refused" long after the twin says Ready. There the
  listener stays open and the accept-time reset stands in for refusal.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
import itertools
import json
import logging
import secrets
import socket
import struct
import threading
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from harness.clock import VirtualClock
from harness.sim.redfish_resources import (
    RESET_ALLOWED,
    V1,
    Body,
    BmcModel,
    error_body,
    message,
    metadata_xml,
    service_root_doc,
)
from harness.sim.twin import RackTwin

log = logging.getLogger(__name__)

PUBLIC = {"/redfish", V1, f"{V1}/odata", f"{V1}/$metadata"}
SESSIONS = f"{V1}/SessionService/Sessions"
MONITOR_PERIOD_S = 0.05  # real seconds between BMC-state checks (asyncio.sleep, not the run clock)


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


@dataclass
class _Session:
    id: str
    token: str
    user: str


def _json(status: int, body: Body | None = None, headers: dict[str, str] | None = None) -> web.Response:
    hdrs = {"OData-Version": "4.0", "Content-Type": "application/json", "Cache-Control": "no-cache"}
    hdrs.update(headers or {})
    data = b"" if body is None else json.dumps(body).encode()
    return web.Response(status=status, body=data, headers=hdrs)


def _error(status: int, message_id: str, *args: object, headers: dict[str, str] | None = None) -> web.Response:
    return _json(status, error_body(message_id, *args), headers)


class _Bmc:
    """One tray's BMC: its resource model, sessions and listener."""

    def __init__(self, fleet: RedfishFleet, tray: str) -> None:
        self.fleet, self.tray = fleet, tray
        self.model = BmcModel(fleet.twin, tray)
        self.sessions: dict[str, _Session] = {}  # token -> session
        self._ids = itertools.count(1)
        self.runner: web.AppRunner | None = None
        self.server: asyncio.Server | None = None
        self.port = 0
        self.listening = False
        self._boot_seen = fleet.twin.trays[tray].boot_count

    # ------------------------------------------------------------------ lifecycle
    def ready(self) -> bool:
        """Is the BMC up now? A BMC that lost power or rebooted has forgotten its sessions."""
        twin = self.fleet.twin
        up = twin.bmc_state(self.tray) == "Ready"
        boot = twin.trays[self.tray].boot_count
        if not up or boot != self._boot_seen:
            self.sessions.clear()
            self._boot_seen = boot
        return up

    async def setup(self) -> None:
        app = web.Application(middlewares=[self._gate])
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self.runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self.runner.setup()
        await self._listen()
        if self.fleet.refuse_when_down and not self.ready():
            await self._unlisten()

    def _factory(self) -> asyncio.BaseProtocol:
        assert self.runner is not None and self.runner.server is not None
        if not self.ready():
            return _Reset()
        return self.runner.server()

    async def _listen(self) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(self._factory, self.fleet.host, self.port, reuse_address=True)
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
                log.warning("%s: cannot re-bind port %d: %s", self.tray, self.port, exc)
        elif not up and self.listening:
            await self._unlisten()

    async def close(self) -> None:
        await self._unlisten()
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    # ------------------------------------------------------------------ HTTP
    @web.middleware
    async def _gate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if not self.ready():
            _reset_transport(request.transport)
            raise _Dropped()
        try:
            return await handler(request)
        except web.HTTPException:
            raise
        except Exception:
            log.exception("%s: %s %s failed", self.tray, request.method, request.path)
            return _error(500, "GeneralError")

    def _authorized(self, request: web.Request) -> bool:
        token = request.headers.get("X-Auth-Token")
        if token is not None:
            return any(hmac.compare_digest(token, t) for t in self.sessions)
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            try:
                user, _, pw = base64.b64decode(auth[6:], validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return False
            return self.fleet.check_credentials(user, pw)
        return False

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        method = request.method
        if path == "/redfish":
            return _json(200, service_root_doc())
        if path == f"{V1}/$metadata":
            return web.Response(status=200, text=metadata_xml(), content_type="application/xml",
                                headers={"OData-Version": "4.0"})
        if path == SESSIONS and method == "POST":
            return await self._login(request)
        if path not in PUBLIC and not self._authorized(request):
            return _error(401, "NoValidSession", headers={"WWW-Authenticate": 'Basic realm="Redfish"'})
        if path.startswith(SESSIONS + "/"):
            return self._session_item(request, path)
        if method == "POST" and path == self.model.reset_target:
            return await self._reset(request)
        if method not in ("GET", "HEAD"):
            if path in self.model.routes or path == SESSIONS:
                allow = "GET, HEAD, POST" if path == SESSIONS else "GET, HEAD"
                return _error(405, "OperationNotAllowed", headers={"Allow": allow})
            return _error(404, "ResourceNotFound", "Resource", path)
        bad = self._check_query(request)
        if bad is not None:
            return bad
        if path == SESSIONS:
            body = {"@odata.id": SESSIONS, "@odata.type": "#SessionCollection.SessionCollection",
                    "Name": "Session Collection", "Members@odata.count": len(self.sessions),
                    "Members": [{"@odata.id": f"{SESSIONS}/{s.id}"} for s in self.sessions.values()]}
            return _json(200, body)
        build = self.model.routes.get(path)
        if build is None:
            return _error(404, "ResourceNotFound", "Resource", path)
        body = build()
        if "$expand" in request.query and isinstance(body.get("Members"), list):
            body["Members"] = [self._expand(m) for m in body["Members"]]
        return _json(200, body)

    def _check_query(self, request: web.Request) -> web.Response | None:
        """Only $expand=. / .($levels=1) is implemented; other $ options get 501, bad values 400."""
        for key, value in request.query.items():
            if not key.startswith("$"):
                continue
            if key != "$expand":
                return _error(501, "QueryNotSupported")
            if value not in (".", ".($levels=1)"):
                return _error(400, "QueryParameterValueFormatError", value, key)
        return None

    def _expand(self, member: Body) -> Body:
        build = self.model.routes.get(str(member.get("@odata.id", "")))
        return build() if build is not None else member

    async def _body(self, request: web.Request) -> Body | web.Response:
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            return _error(400, "MalformedJSON")
        if not isinstance(body, dict):
            return _error(400, "MalformedJSON")
        return body

    async def _login(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        for prop in ("UserName", "Password"):
            if not isinstance(body.get(prop), str):
                return _error(400, "PropertyMissing", prop)
        if not self.fleet.check_credentials(body["UserName"], body["Password"]):
            return _error(401, "NoValidSession")
        session = _Session(str(next(self._ids)), secrets.token_hex(16), body["UserName"])
        self.sessions[session.token] = session
        uri = f"{SESSIONS}/{session.id}"
        return _json(201, self._session_body(session), {"X-Auth-Token": session.token, "Location": uri})

    def _session_body(self, s: _Session) -> Body:
        return {"@odata.id": f"{SESSIONS}/{s.id}", "@odata.type": "#Session.v1_7_0.Session", "Id": s.id,
                "Name": f"Session {s.id}", "UserName": s.user}

    def _session_item(self, request: web.Request, path: str) -> web.Response:
        sid = path.rsplit("/", 1)[1]
        session = next((s for s in self.sessions.values() if s.id == sid), None)
        if session is None:
            return _error(404, "ResourceNotFound", "Session", sid)
        if request.method == "DELETE":
            del self.sessions[session.token]
            return _json(204)
        if request.method in ("GET", "HEAD"):
            return _json(200, self._session_body(session))
        return _error(405, "OperationNotAllowed", headers={"Allow": "GET, HEAD, DELETE"})

    async def _reset(self, request: web.Request) -> web.Response:
        action = "ComputerSystem.Reset"
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        if "ResetType" not in body:
            return _error(400, "ActionParameterMissing", action, "ResetType")
        value = body["ResetType"]
        if not isinstance(value, str):
            return _error(400, "ActionParameterValueTypeError", json.dumps(value), "ResetType", action)
        if value not in RESET_ALLOWED:
            return _error(400, "ActionParameterValueNotInList", value, "ResetType", action)
        try:
            self.fleet.twin.host_reset(self.tray, value)
        except (RuntimeError, ValueError) as exc:
            info = message("GeneralError")
            info["Message"] = f"{info['Message']} ({exc})"
            return _json(500, {"error": {"code": info["MessageId"], "message": info["Message"],
                                         "@Message.ExtendedInfo": [info]}})
        return _json(204)


class RedfishFleet:
    """One aiohttp listener per tray BMC (ephemeral port on host), all on one asyncio loop in a daemon thread."""

    def __init__(self, twin: RackTwin, *, username: str, password: str, host: str = "127.0.0.1",
                 refuse_when_down: bool | None = None) -> None:
        self.twin, self.host = twin, host
        self._username, self._password = username, password
        self.refuse_when_down = (not isinstance(twin.clock, VirtualClock)) if refuse_when_down is None \
            else refuse_when_down
        self._bmcs: dict[str, _Bmc] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._monitor: asyncio.Task[None] | None = None
        self._lock = threading.Lock()

    def check_credentials(self, user: str, password: str) -> bool:
        return hmac.compare_digest(user.encode(), self._username.encode()) and \
            hmac.compare_digest(password.encode(), self._password.encode())

    @property
    def endpoints(self) -> dict[str, str]:
        return {name: f"http://{self.host}:{b.port}" for name, b in self._bmcs.items()}

    def start(self) -> dict[str, str]:
        """Bind every BMC's port and serve; a second call returns the same endpoints."""
        with self._lock:
            if self._loop is not None:
                return self.endpoints
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="redfish-fleet", daemon=True)
            thread.start()
            self._loop, self._thread = loop, thread
            try:
                asyncio.run_coroutine_threadsafe(self._start(), loop).result(timeout=30)
            except BaseException:
                self._shutdown_loop()
                raise
            return self.endpoints

    async def _start(self) -> None:
        for tray in self.twin.trays:
            bmc = _Bmc(self, tray)
            self._bmcs[tray] = bmc
            await bmc.setup()
        self._monitor = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            for bmc in self._bmcs.values():
                try:
                    await bmc.tick()
                except Exception:  # keep watching the other BMCs
                    log.exception("%s: BMC monitor failed", bmc.tray)
            await asyncio.sleep(MONITOR_PERIOD_S)

    def stop(self) -> None:
        """Close every listener and connection, then the loop; safe to call twice."""
        with self._lock:
            if self._loop is None:
                return
            try:
                asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=30)
            finally:
                self._shutdown_loop()

    async def _stop(self) -> None:
        if self._monitor is not None:
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor
            self._monitor = None
        for bmc in self._bmcs.values():
            await bmc.close()

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


__all__ = ["RedfishFleet"]
