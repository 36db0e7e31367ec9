"""HTTP semantics of one simulated Redfish service (DSP0266), independent of what it manages.

Authentication everywhere except ``/redfish``, the service root, ``$metadata`` and ``odata``;
privileges from the account's role (403 ``InsufficientPrivilege``); ``Allow`` on every GET/HEAD and
405 with ``Allow`` for a method the URI does not support; ``ETag`` on every GET, ``If-None-Match``
(304) and ``If-Match`` on PATCH (412); ``OData-Version`` other than 4.0 -> 412; unsupported ``$``
query options -> 501, bad values -> 400; ``Link: <schema>; rel=describedby``; PATCH with unknown
properties -> 400 ``PropertyUnknown`` (all unknown) or 200 + ``@Message.ExtendedInfo`` (mixed),
annotations only -> 400 ``NoOperation``; sessions, accounts, SSE, subscriptions and task monitors.
Every error body is a Base registry message.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from harness.sim.redfish.core import (
    ACCOUNTS,
    SESSIONS,
    SSE_URI,
    SUBSCRIPTIONS,
    TASK_MONITORS,
    TASKS,
    Account,
    EventRecord,
    Session,
)
from harness.sim.redfish.events import PushDelivery, parse_sse_filter, subscription_filter
from harness.sim.redfish.registry import error_body, message
from harness.sim.redfish.resources import V1, ActionError, Body, Setter, metadata_xml, odata_doc, service_root_doc

if TYPE_CHECKING:
    from harness.sim.redfish.server import _Listener

PUBLIC = {"/redfish", V1, f"{V1}/odata", f"{V1}/$metadata"}
SCHEMA_BASE = "http://redfish.dmtf.org/schemas/v1"
SSE_HEARTBEAT_S = 0.5  # real seconds: a comment line, so a closed client is noticed and its destination deleted


def json_response(status: int, body: Body | None = None, headers: dict[str, str] | None = None) -> web.Response:
    hdrs = {"OData-Version": "4.0", "Cache-Control": "no-cache"}
    if body is not None:
        hdrs["Content-Type"] = "application/json;charset=utf-8"
    hdrs.update(headers or {})
    data = b"" if body is None else json.dumps(body).encode()
    return web.Response(status=status, body=data, headers=hdrs)


def err(status: int, key: str, *args: object, headers: dict[str, str] | None = None,
        detail: str | None = None) -> web.Response:
    return json_response(status, error_body(key, *args, detail=detail), headers)


def etag_of(body: Body) -> str:
    data = json.dumps({k: v for k, v in body.items() if k != "@odata.etag"}, sort_keys=True).encode()
    return f'W/"{hashlib.blake2b(data, digest_size=8).hexdigest()}"'


def described_by(body: Body) -> str | None:
    kind = str(body.get("@odata.type", "")).lstrip("#")
    parts = kind.split(".")
    if len(parts) == 3:
        return f"<{SCHEMA_BASE}/{parts[0]}.{parts[1]}.json>; rel=describedby"
    if len(parts) == 2:
        return f"<{SCHEMA_BASE}/{parts[0]}.json>; rel=describedby"
    return None


@dataclass
class Resource:
    """What one URI supports. ``privileges`` maps a method to the privilege it needs."""

    get: Callable[[], Body] | None = None
    setters: dict[str, Setter] | None = None
    post: Callable[[web.Request, Account], Any] | None = None
    delete: Callable[[Account], web.Response] | None = None
    sse: bool = False
    privileges: dict[str, str] = field(default_factory=dict)

    def allow(self) -> str:
        methods = []
        if self.get is not None:
            methods += ["GET", "HEAD"]
        if self.post is not None:
            methods.append("POST")
        if self.setters is not None:
            methods.append("PATCH")
        if self.delete is not None:
            methods.append("DELETE")
        return ", ".join(methods)


class HttpService:
    """The request handler of one listener."""

    def __init__(self, listener: _Listener) -> None:
        self.listener = listener
        self.core = listener.core
        self.model = listener.model
        self.static: dict[str, Callable[[], Body]] = {**self.core.routes(), **self.model.routes}

    # ------------------------------------------------------------------ entry point
    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        method = request.method
        version = request.headers.get("OData-Version")
        if version is not None and version.strip() != "4.0":
            return err(412, "HeaderInvalid", f"OData-Version: {version}")
        if path == "/redfish":
            if method not in ("GET", "HEAD"):
                return err(405, "OperationNotAllowed", headers={"Allow": "GET, HEAD"})
            return json_response(200, service_root_doc(), {"Allow": "GET, HEAD"})
        if path == f"{V1}/$metadata" and method in ("GET", "HEAD"):
            return web.Response(status=200, text=metadata_xml(), content_type="application/xml",
                                headers={"OData-Version": "4.0", "Allow": "GET, HEAD"})
        if path in (SESSIONS, f"{SESSIONS}/Members") and method == "POST":
            return await self._login(request)
        account, session = self._authenticate(request)
        if account is None and not (path in PUBLIC and method in ("GET", "HEAD")):
            return err(401, "NoValidSession", headers={"WWW-Authenticate": 'Basic realm="Redfish"'})
        res = self._resolve(path, account, session)
        if res is None:
            return err(404, "ResourceNotFound", "Resource", path)
        allow = res.allow()
        if method == "HEAD" and res.get is not None:
            method = "GET"
        handlers = {"GET": res.get, "POST": res.post, "PATCH": res.setters, "DELETE": res.delete}
        if handlers.get(method) is None:
            return err(405, "OperationNotAllowed", headers={"Allow": allow})
        if account is not None and not self._permitted(account, res.privileges.get(method, "Login")):
            return err(403, "InsufficientPrivilege")
        if method == "GET":
            if res.sse:
                return await self._sse(request)
            return self._get(request, res, allow)
        if method == "PATCH":
            return await self._patch(request, res, allow)
        if method == "POST":
            assert res.post is not None and account is not None
            result = res.post(request, account)
            return await result if asyncio.iscoroutine(result) else result
        assert res.delete is not None and account is not None
        return res.delete(account)

    @staticmethod
    def _permitted(account: Account, privilege: str) -> bool:
        return privilege == "" or privilege in account.privileges()

    # ------------------------------------------------------------------ authentication
    def _authenticate(self, request: web.Request) -> tuple[Account | None, Session | None]:
        token = request.headers.get("X-Auth-Token")
        if token is not None:
            session = self.core.session_for(token)
            return (session.account if session else None), session
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            try:
                user, _, pw = base64.b64decode(auth[6:], validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError, binascii.Error):
                return None, None
            return self.core.check_password(user, pw), None
        return None, None

    async def _json_body(self, request: web.Request) -> Body | web.Response:
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            return err(400, "MalformedJSON")
        if not isinstance(body, dict):
            return err(400, "MalformedJSON")
        return body

    async def _login(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        if isinstance(body, web.Response):
            return body
        for prop in ("UserName", "Password"):
            if not isinstance(body.get(prop), str):
                return err(400, "PropertyMissing", prop)
        try:
            session = self.core.create_session(body["UserName"], body["Password"])
        except ActionError as exc:
            return json_response(exc.status, exc.body())
        uri = f"{SESSIONS}/{session.id}"
        return json_response(201, self.core.session_body(session), {"X-Auth-Token": session.token, "Location": uri})

    # ------------------------------------------------------------------ resolution
    def _resolve(self, path: str, account: Account | None, session: Session | None) -> Resource | None:
        core, model = self.core, self.model
        if path == V1:
            return Resource(get=core.service_root)
        if path == f"{V1}/odata":
            return Resource(get=lambda: odata_doc(model.odata_entries()))
        if path in model.actions:
            spec = model.actions[path]
            return Resource(post=lambda req, acct: self._action(req, spec), privileges={"POST": "ConfigureComponents"})
        sel_clear = f"{model.manager_uri}/LogServices/SEL/Actions/LogService.ClearLog"
        if path == sel_clear:
            return Resource(post=lambda req, acct: self._simple_action(core.clear_log),
                            privileges={"POST": "ConfigureManager"})
        if path == SESSIONS:
            return Resource(get=core.sessions_collection, post=lambda req, acct: self._login(req),
                            privileges={"POST": ""})
        if path.startswith(SESSIONS + "/"):
            return self._session_resource(path.rsplit("/", 1)[1], account)
        if path == ACCOUNTS:
            return Resource(get=self.static[ACCOUNTS], post=self._create_account,
                            privileges={"POST": "ConfigureUsers"})
        if path.startswith(ACCOUNTS + "/"):
            return self._account_resource(path.rsplit("/", 1)[1], account)
        if path == SUBSCRIPTIONS:
            return Resource(get=self.static[SUBSCRIPTIONS], post=self._create_subscription,
                            privileges={"POST": "ConfigureComponents"})
        if path.startswith(SUBSCRIPTIONS + "/"):
            sub = core.subscriptions.get(path.rsplit("/", 1)[1])
            if sub is None:
                return None
            return Resource(get=lambda: core.subscription_body(sub),
                            delete=lambda acct: self._deleted(core.delete_subscription(sub.id)),
                            privileges={"DELETE": "ConfigureComponents"})
        if path == SSE_URI:
            return Resource(get=dict, sse=True)
        if path.startswith(TASKS + "/"):
            task = core.tasks.get(path.rsplit("/", 1)[1])
            return None if task is None else Resource(get=lambda: core.task_body(task))
        if path.startswith(TASK_MONITORS + "/"):
            task = core.tasks.get(path.rsplit("/", 1)[1])
            return None if task is None else Resource(get=lambda: {"@task": task.id})
        entries = f"{model.manager_uri}/LogServices/SEL/Entries/"
        if path.startswith(entries):
            entry = core.sel_entry_route(path[len(entries):])
            return None if entry is None else Resource(get=lambda: entry)
        build = self.static.get(path)
        if build is None:
            return None
        if path == f"{V1}/SessionService":
            return Resource(get=build, setters={"SessionTimeout": core._set_session_timeout},
                            privileges={"PATCH": "ConfigureManager"})
        if path == f"{V1}/EventService":
            return Resource(get=build, setters=core.event_service_setters(), privileges={"PATCH": "ConfigureManager"})
        setters = model.writable.get(path)
        return Resource(get=build, setters=setters, privileges={"PATCH": "ConfigureComponents"})

    def _session_resource(self, sid: str, account: Account | None) -> Resource | None:
        session = self.core.session_by_id(sid)
        if session is None:
            return None
        own = account is not None and session.account is account

        def delete(acct: Account) -> web.Response:
            self.core.delete_session(session)
            return json_response(204)
        return Resource(get=lambda: self.core.session_body(session), delete=delete,
                        privileges={"DELETE": "ConfigureSelf" if own else "ConfigureManager",
                                    "GET": "Login" if own else "ConfigureManager"})

    def _account_resource(self, aid: str, account: Account | None) -> Resource | None:
        acct = self.core.accounts.get(aid)
        if acct is None:
            return None
        own = account is acct
        setters = self.core.account_setters(acct)
        if own and account is not None and "ConfigureUsers" not in account.privileges():
            setters = {"Password": setters["Password"]}  # ConfigureSelf: only one's own password

        def delete(who: Account) -> web.Response:
            self.core.delete_account(acct)
            return json_response(204)
        return Resource(get=lambda: self.core.account_body(acct), setters=setters,
                        delete=None if aid == "1" else delete,
                        privileges={"PATCH": "ConfigureSelf" if own else "ConfigureUsers",
                                    "DELETE": "ConfigureUsers",
                                    "GET": "Login" if own else "ConfigureUsers"})

    @staticmethod
    def _deleted(ok: bool) -> web.Response:
        return json_response(204) if ok else err(404, "ResourceNotFound", "EventDestination", "")

    # ------------------------------------------------------------------ GET
    def _get(self, request: web.Request, res: Resource, allow: str) -> web.StreamResponse:
        assert res.get is not None
        body = res.get()
        if "@task" in body:
            return self._task_monitor(str(body["@task"]))
        bad = self._check_query(request)
        if bad is not None:
            return bad
        if "$expand" in request.query and isinstance(body.get("Members"), list):
            body["Members"] = [self._expand(m) for m in body["Members"]]
        tag = etag_of(body)
        if res.setters is not None:
            body["@odata.etag"] = tag
        headers = {"Allow": allow, "ETag": tag}
        link = described_by(body)
        if link:
            headers["Link"] = link
        inm = request.headers.get("If-None-Match")
        if inm is not None and tag in [t.strip() for t in inm.split(",")]:
            return web.Response(status=304, headers={"ETag": tag, "OData-Version": "4.0"})
        return json_response(200, body, headers)

    def _check_query(self, request: web.Request) -> web.Response | None:
        """Only $expand=. / .($levels=1) is implemented; other $ options get 501, bad values 400."""
        for key, value in request.query.items():
            if not key.startswith("$"):
                continue
            if key != "$expand":
                return err(501, "QueryNotSupported")
            if value not in (".", ".($levels=1)"):
                return err(400, "QueryParameterValueFormatError", value, key)
        return None

    def _expand(self, member: Body) -> Body:
        uri = str(member.get("@odata.id", ""))
        build = self.static.get(uri)
        return build() if build is not None else member

    def _task_monitor(self, tid: str) -> web.Response:
        task = self.core.tasks[tid]
        if self.core.task_done(task):
            return json_response(204)
        uri = f"{TASK_MONITORS}/{tid}"
        return json_response(202, self.core.task_body(task), {"Location": uri, "Retry-After": "1"})

    # ------------------------------------------------------------------ PATCH
    async def _patch(self, request: web.Request, res: Resource, allow: str) -> web.Response:
        assert res.get is not None and res.setters is not None
        body = await self._json_body(request)
        if isinstance(body, web.Response):
            return body
        current = res.get()
        if_match = request.headers.get("If-Match")
        if if_match is not None:
            tags = [t.strip() for t in if_match.split(",")]
            if "*" not in tags and etag_of(current) not in tags:
                return err(412, "PreconditionFailed")
        props = {k: v for k, v in body.items() if "@" not in k}
        if not props:
            return err(400, "NoOperation")
        unknown = [k for k in props if k not in res.setters]
        infos = [message("PropertyNotWritable" if k in current else "PropertyUnknown", k) for k in unknown]
        known = [k for k in props if k in res.setters]
        if not known:
            first = infos[0]
            return json_response(400, {"error": {"code": first["MessageId"], "message": first["Message"],
                                                 "@Message.ExtendedInfo": infos}})
        try:
            for key in known:
                res.setters[key](props[key])
        except ActionError as exc:
            return json_response(exc.status, exc.body())
        updated = res.get()
        tag = etag_of(updated)
        updated["@odata.etag"] = tag
        if infos:
            updated["@Message.ExtendedInfo"] = infos
        return json_response(200, updated, {"ETag": tag, "Allow": allow})

    # ------------------------------------------------------------------ POST
    async def _action(self, request: web.Request, spec: Any) -> web.Response:
        body = await self._json_body(request)
        if isinstance(body, web.Response):
            return body
        try:
            done = spec.run(body)
        except ActionError as exc:
            return json_response(exc.status, exc.body())
        return self._accepted(done)

    def _simple_action(self, fn: Callable[[Body], None]) -> web.Response:
        fn({})
        return self._accepted(None)

    def _accepted(self, done: Callable[[], bool] | None) -> web.Response:
        mode = self.listener.reset_response
        if mode == 202:
            task = self.core.add_task(done or (lambda: True))
            monitor = f"{TASK_MONITORS}/{task.id}"
            return json_response(202, self.core.task_body(task), {"Location": monitor, "Retry-After": "1"})
        if mode == 200:
            return json_response(200, {"@Message.ExtendedInfo": [message("Success")]})
        return json_response(204)

    async def _create_account(self, request: web.Request, who: Account) -> web.Response:
        body = await self._json_body(request)
        if isinstance(body, web.Response):
            return body
        try:
            acct = self.core.create_account(body)
        except ActionError as exc:
            return json_response(exc.status, exc.body())
        uri = f"{ACCOUNTS}/{acct.id}"
        return json_response(201, self.core.account_body(acct), {"Location": uri})

    async def _create_subscription(self, request: web.Request, who: Account) -> web.Response:
        """A push subscription: its events are POSTed to Destination (redfish_events.PushDelivery)."""
        body = await self._json_body(request)
        if isinstance(body, web.Response):
            return body
        dest = body.get("Destination")
        if not isinstance(dest, str) or not dest.startswith(("http://", "https://")):
            return err(400, "PropertyValueFormatError", json.dumps(dest), "Destination")
        proto = body.get("Protocol", "Redfish")
        if proto != "Redfish":
            return err(400, "PropertyValueNotInList", json.dumps(proto), "Protocol")
        lists: dict[str, list[str]] = {}
        for prop in ("RegistryPrefixes", "MessageIds"):
            value = body.get(prop, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                return err(400, "PropertyValueTypeError", json.dumps(value), prop)
            lists[prop] = value
        context = body.get("Context")
        sub = self.core.add_subscription(sse=False, destination=dest,
                                         context=context if isinstance(context, str) else None,
                                         registry_prefixes=lists["RegistryPrefixes"], message_ids=lists["MessageIds"])
        core = self.core
        self.core.pushes[sub.id] = PushDelivery(
            core, sub, subscription_filter(lists["RegistryPrefixes"], lists["MessageIds"]),
            lambda: (core.delivery_retry_attempts, float(core.delivery_retry_interval_s)))
        uri = f"{SUBSCRIPTIONS}/{sub.id}"
        return json_response(201, self.core.subscription_body(sub), {"Location": uri})

    # ------------------------------------------------------------------ SSE
    async def _sse(self, request: web.Request) -> web.StreamResponse:
        accept = request.headers.get("Accept", "*/*")
        if not any(a in accept for a in ("text/event-stream", "*/*")):
            return err(400, "HeaderInvalid", f"Accept: {accept}")
        for key in request.query:
            if key.startswith("$") and key != "$filter":
                return err(400, "QueryParameterUnsupported", key)
        try:
            select = parse_sse_filter(request.query.get("$filter"))
        except ActionError as exc:
            return json_response(exc.status, exc.body())
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[EventRecord] = asyncio.Queue()

        def deliver(rec: EventRecord) -> None:
            if select.matches(rec):
                loop.call_soon_threadsafe(queue.put_nowait, rec)

        sub = self.core.add_subscription(sse=True)
        with self.core.lock:
            self.core.listeners.append(deliver)
        resp = web.StreamResponse(status=200, headers={"Content-Type": "text/event-stream;charset=utf-8",
                                                       "Cache-Control": "no-cache", "OData-Version": "4.0"})
        try:
            await resp.prepare(request)
            await resp.write(b": stream open\n\n")
            while not sub.deleted.is_set() and self.listener.ready():
                try:
                    rec = await asyncio.wait_for(queue.get(), SSE_HEARTBEAT_S)
                except TimeoutError:
                    await resp.write(b": keep-alive\n\n")
                    continue
                payload = json.dumps(self.core.event_payload([rec], sub.context))
                await resp.write(f"id: {rec.id}\ndata: {payload}\n\n".encode())
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            with self.core.lock, contextlib.suppress(ValueError):
                self.core.listeners.remove(deliver)
            self.core.delete_subscription(sub.id)
        with contextlib.suppress(Exception):
            await resp.write_eof()
        return resp
