"""The URI space of one simulated Redfish service: which resource a path is, what each method does
there and which privilege it needs; and the POSTs that create things (sessions, accounts,
subscriptions) or act (the model's actions, answered 204, 200 or 202 with a task monitor).

Static resources come from the model's and the core's routes; sessions, accounts, subscriptions,
tasks and SEL entries are resolved per request, since they come and go.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from aiohttp import web

from harness.sim.redfish.accounts import ACCOUNTS, SESSIONS, Account, Session
from harness.sim.redfish.actions import ActionError, Setter
from harness.sim.redfish.core import ServiceCore
from harness.sim.redfish.documents import V1, Body, odata_doc
from harness.sim.redfish.event_log import SSE_URI, SUBSCRIPTIONS
from harness.sim.redfish.events import PushDelivery, subscription_filter
from harness.sim.redfish.registry import message
from harness.sim.redfish.responses import err, json_body, json_response
from harness.sim.redfish.tasks import TASK_MONITORS, TASKS


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


class ServiceRoutes:
    """Resolves a path of one service to a :class:`Resource`."""

    def __init__(self, core: ServiceCore, reset_response: Callable[[], int]) -> None:
        self.core, self.model = core, core.model
        self.reset_response = reset_response  # how an accepted action is answered: 204, 200 or 202
        self.static: dict[str, Callable[[], Body]] = {**core.routes(), **self.model.routes}

    def resolve(self, path: str, account: Account | None) -> Resource | None:
        core, model = self.core, self.model
        if path == V1:
            return Resource(get=core.service_root)
        if path == f"{V1}/odata":
            return Resource(get=lambda: odata_doc(model.odata_entries()))
        if path in model.actions:
            spec = model.actions[path]
            return Resource(post=lambda req, acct: self._action(req, spec), privileges={"POST": "ConfigureComponents"})
        if path == core.events.sel_clear_uri:
            return Resource(post=lambda req, acct: self._simple_action(core.events.clear_log),
                            privileges={"POST": "ConfigureManager"})
        if path == SESSIONS:
            return Resource(get=core.auth.sessions_collection, post=lambda req, acct: self.login(req),
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
            sub = core.events.subscriptions.get(path.rsplit("/", 1)[1])
            if sub is None:
                return None
            return Resource(get=lambda: core.events.subscription_body(sub),
                            delete=lambda acct: _deleted(core.events.delete_subscription(sub.id)),
                            privileges={"DELETE": "ConfigureComponents"})
        if path == SSE_URI:
            return Resource(get=dict, sse=True)
        if path.startswith(TASKS + "/"):
            task = core.tasks.tasks.get(path.rsplit("/", 1)[1])
            return None if task is None else Resource(get=partial(core.tasks.task_body, task))
        if path.startswith(TASK_MONITORS + "/"):
            task = core.tasks.tasks.get(path.rsplit("/", 1)[1])
            return None if task is None else Resource(get=lambda: {"@task": task.id})
        entries = core.events.sel_entries_prefix
        if path.startswith(entries):
            entry = core.events.sel_entry_route(path[len(entries):])
            return None if entry is None else Resource(get=lambda: entry)
        build = self.static.get(path)
        if build is None:
            return None
        if path == f"{V1}/SessionService":
            return Resource(get=build, setters={"SessionTimeout": core.auth.set_session_timeout},
                            privileges={"PATCH": "ConfigureManager"})
        if path == f"{V1}/EventService":
            return Resource(get=build, setters=core.events.event_service_setters(),
                            privileges={"PATCH": "ConfigureManager"})
        setters = model.writable.get(path)
        return Resource(get=build, setters=setters, privileges={"PATCH": "ConfigureComponents"})

    def _session_resource(self, sid: str, account: Account | None) -> Resource | None:
        auth = self.core.auth
        session = auth.session_by_id(sid)
        if session is None:
            return None
        own = account is not None and session.account is account

        def delete(acct: Account) -> web.Response:
            auth.delete_session(session)
            return json_response(204)
        return Resource(get=lambda: auth.session_body(session), delete=delete,
                        privileges={"DELETE": "ConfigureSelf" if own else "ConfigureManager",
                                    "GET": "Login" if own else "ConfigureManager"})

    def _account_resource(self, aid: str, account: Account | None) -> Resource | None:
        auth = self.core.auth
        acct = auth.accounts.get(aid)
        if acct is None:
            return None
        own = account is acct
        setters = auth.account_setters(acct)
        if own and account is not None and "ConfigureUsers" not in account.privileges():
            setters = {"Password": setters["Password"]}  # ConfigureSelf: only one's own password

        def delete(who: Account) -> web.Response:
            auth.delete_account(acct)
            return json_response(204)
        return Resource(get=lambda: auth.account_body(acct), setters=setters,
                        delete=None if aid == "1" else delete,
                        privileges={"PATCH": "ConfigureSelf" if own else "ConfigureUsers",
                                    "DELETE": "ConfigureUsers",
                                    "GET": "Login" if own else "ConfigureUsers"})

    # ------------------------------------------------------------------ POST
    async def login(self, request: web.Request) -> web.Response:
        """POST to Sessions (no authentication needed): a session and its X-Auth-Token."""
        body = await json_body(request)
        if isinstance(body, web.Response):
            return body
        for prop in ("UserName", "Password"):
            if not isinstance(body.get(prop), str):
                return err(400, "PropertyMissing", prop)
        try:
            session: Session = self.core.auth.create_session(body["UserName"], body["Password"])
        except ActionError as exc:
            return json_response(exc.status, exc.body())
        uri = f"{SESSIONS}/{session.id}"
        return json_response(201, self.core.auth.session_body(session),
                             {"X-Auth-Token": session.token, "Location": uri})

    async def _action(self, request: web.Request, spec: Any) -> web.Response:
        body = await json_body(request)
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
        mode = self.reset_response()
        if mode == 202:
            task = self.core.tasks.add_task(done or (lambda: True))
            monitor = f"{TASK_MONITORS}/{task.id}"
            return json_response(202, self.core.tasks.task_body(task), {"Location": monitor, "Retry-After": "1"})
        if mode == 200:
            return json_response(200, {"@Message.ExtendedInfo": [message("Success")]})
        return json_response(204)

    async def _create_account(self, request: web.Request, who: Account) -> web.Response:
        body = await json_body(request)
        if isinstance(body, web.Response):
            return body
        try:
            acct = self.core.auth.create_account(body)
        except ActionError as exc:
            return json_response(exc.status, exc.body())
        uri = f"{ACCOUNTS}/{acct.id}"
        return json_response(201, self.core.auth.account_body(acct), {"Location": uri})

    async def _create_subscription(self, request: web.Request, who: Account) -> web.Response:
        """A push subscription: its events are POSTed to Destination (``events.PushDelivery``)."""
        body = await json_body(request)
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
        events = self.core.events
        sub = events.add_subscription(sse=False, destination=dest,
                                      context=context if isinstance(context, str) else None,
                                      registry_prefixes=lists["RegistryPrefixes"], message_ids=lists["MessageIds"])
        events.pushes[sub.id] = PushDelivery(
            events, sub, subscription_filter(lists["RegistryPrefixes"], lists["MessageIds"]),
            lambda: (events.delivery_retry_attempts, float(events.delivery_retry_interval_s)))
        uri = f"{SUBSCRIPTIONS}/{sub.id}"
        return json_response(201, events.subscription_body(sub), {"Location": uri})


def _deleted(ok: bool) -> web.Response:
    return json_response(204) if ok else err(404, "ResourceNotFound", "EventDestination", "")
