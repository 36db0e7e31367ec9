"""HTTP semantics of one simulated Redfish service (DSP0266), independent of what it manages.

Authentication everywhere except ``/redfish``, the service root, ``$metadata`` and ``odata``;
privileges from the account's role (403 ``InsufficientPrivilege``); ``Allow`` on every GET/HEAD and
405 with ``Allow`` for a method the URI does not support; ``ETag`` on every GET, ``If-None-Match``
(304) and ``If-Match`` on PATCH (412); ``OData-Version`` other than 4.0 -> 412; unsupported ``$``
query options -> 501, bad values -> 400; ``Link: <schema>; rel=describedby``; PATCH with unknown
properties -> 400 ``PropertyUnknown`` (all unknown) or 200 + ``@Message.ExtendedInfo`` (mixed),
annotations only -> 400 ``NoOperation``. Which resource a URI is, and what a POST there does, is in
``routing.py``; the SSE stream in ``sse.py``. Every error body is a Base registry message.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Callable

from aiohttp import web

from harness.sim.redfish.accounts import SESSIONS, Account
from harness.sim.redfish.actions import ActionError
from harness.sim.redfish.core import ServiceCore
from harness.sim.redfish.documents import V1, Body, metadata_xml, service_root_doc
from harness.sim.redfish.registry import message
from harness.sim.redfish.responses import described_by, err, etag_of, json_body, json_response
from harness.sim.redfish.routing import Resource, ServiceRoutes
from harness.sim.redfish.sse import serve_sse
from harness.sim.redfish.tasks import TASK_MONITORS

PUBLIC = {"/redfish", V1, f"{V1}/odata", f"{V1}/$metadata"}


class HttpService:
    """The request handler of one service. ``ready`` says whether the BMC is up (an SSE stream ends
    when it goes down); ``reset_response`` how it answers an accepted action (204, 200 or 202)."""

    def __init__(self, core: ServiceCore, *, ready: Callable[[], bool], reset_response: Callable[[], int]) -> None:
        self.core = core
        self.ready = ready
        self.routes = ServiceRoutes(core, reset_response)

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
            return await self.routes.login(request)
        account = self._authenticate(request)
        if account is None and not (path in PUBLIC and method in ("GET", "HEAD")):
            return err(401, "NoValidSession", headers={"WWW-Authenticate": 'Basic realm="Redfish"'})
        res = self.routes.resolve(path, account)
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
                return await serve_sse(request, self.core.events, self.ready)
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

    def _authenticate(self, request: web.Request) -> Account | None:
        """The account of the request's X-Auth-Token, else of its Basic credentials, else None."""
        token = request.headers.get("X-Auth-Token")
        if token is not None:
            session = self.core.auth.session_for(token)
            return session.account if session else None
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            try:
                user, _, pw = base64.b64decode(auth[6:], validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError, binascii.Error):
                return None
            return self.core.auth.check_password(user, pw)
        return None

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
        build = self.routes.static.get(uri)
        return build() if build is not None else member

    def _task_monitor(self, tid: str) -> web.Response:
        tasks = self.core.tasks
        task = tasks.tasks[tid]
        if tasks.task_done(task):
            return json_response(204)
        uri = f"{TASK_MONITORS}/{tid}"
        return json_response(202, tasks.task_body(task), {"Location": uri, "Retry-After": "1"})

    # ------------------------------------------------------------------ PATCH
    async def _patch(self, request: web.Request, res: Resource, allow: str) -> web.Response:
        assert res.get is not None and res.setters is not None
        body = await json_body(request)
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
