"""State and resources every simulated Redfish service has, whatever it manages.

One :class:`ServiceCore` per listener: accounts and roles (AccountService), sessions with a
timeout on the *run's* clock and a session limit, the event log that feeds both SSE streams and
the SEL LogService, event subscriptions, and tasks behind 202 task monitors. The HTTP layer
(``redfish_server.py``) asks it; the hardware model (tray, rack manager) supplies the rest.

Session expiry uses simulated time, so under a VirtualClock a session expires at an exact,
repeatable moment and never because the test machine was slow.
"""

from __future__ import annotations

import hmac
import itertools
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.clock import Clock
from harness.sim.redfish.registry import message
from harness.sim.redfish.resources import V1, ActionError, ActionSpec, Body, Setter, collection, iso, link, otype

SESSIONS = f"{V1}/SessionService/Sessions"
ACCOUNTS = f"{V1}/AccountService/Accounts"
ROLES = f"{V1}/AccountService/Roles"
SUBSCRIPTIONS = f"{V1}/EventService/Subscriptions"
SSE_URI = f"{V1}/EventService/SSE"
TASKS = f"{V1}/TaskService/Tasks"
TASK_MONITORS = f"{V1}/TaskService/TaskMonitors"

ROLE_PRIVILEGES = {
    "Administrator": ["Login", "ConfigureManager", "ConfigureUsers", "ConfigureComponents", "ConfigureSelf"],
    "Operator": ["Login", "ConfigureComponents", "ConfigureSelf"],
    "ReadOnly": ["Login", "ConfigureSelf"],
}
SEL_CAPACITY = 1000


class Model(Protocol):
    """What a hardware model gives the service (see BmcModel, RackManagerModel)."""

    name: str
    role: str
    uuid: str
    manager_uri: str
    routes: dict[str, Callable[[], Body]]
    actions: dict[str, ActionSpec]
    writable: dict[str, dict[str, Setter]]

    def ready(self) -> bool: ...
    def boot_id(self) -> int: ...
    def root_links(self) -> Body: ...
    def odata_entries(self) -> list[tuple[str, str]]: ...
    def events_for(self, kind: str, data: dict[str, object]) -> list[tuple[Body, str]]: ...
    def threshold_sensors(self) -> list[Any]: ...


@dataclass
class Account:
    id: str
    user: str
    password: str
    role: str
    enabled: bool = True

    def privileges(self) -> list[str]:
        return ROLE_PRIVILEGES.get(self.role, [])


@dataclass
class Session:
    id: str
    token: str
    account: Account
    last_used: float


@dataclass
class Task:
    id: str
    done: Callable[[], bool]
    started: float
    finished: float | None = None


@dataclass
class Subscription:
    id: str
    context: str
    sse: bool
    destination: str = ""
    registry_prefixes: list[str] = field(default_factory=list)
    message_ids: list[str] = field(default_factory=list)
    deleted: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True)
class EventRecord:
    """One event as both SSE and the SEL show it."""

    id: int
    t: float
    message: Body
    origin: str
    severity: str


class ServiceCore:
    """Accounts, sessions, events, tasks of one simulated Redfish service."""

    def __init__(self, model: Model, clock: Clock, *, username: str, password: str,
                 session_timeout_s: float = 1800.0, max_sessions: int = 32,
                 sync: Callable[[], object] = lambda: None) -> None:
        self.model, self.clock = model, clock
        self.sync = sync  # brings the twin (and its events) up to now before the SEL is read
        self.session_timeout_s = session_timeout_s
        self.max_sessions = max_sessions
        self.accounts: dict[str, Account] = {"1": Account("1", username, password, "Administrator")}
        self.sessions: dict[str, Session] = {}  # token -> session
        self.subscriptions: dict[str, Subscription] = {}
        self.tasks: dict[str, Task] = {}
        self.events: list[EventRecord] = []
        self.delivery_retry_attempts = 3  # push delivery (redfish_events.py): retries after a failed POST
        self.delivery_retry_interval_s = 30  # real seconds between them
        self.pushes: dict[str, Any] = {}  # subscription id -> its PushDelivery
        self.listeners: list[Callable[[EventRecord], None]] = []  # SSE streams (called under _lock)
        self._ids = itertools.count(1)
        self._account_ids = itertools.count(2)
        self._sub_ids = itertools.count(1)
        self._task_ids = itertools.count(1)
        self._event_ids = itertools.count(1)
        self.lock = threading.RLock()
        self._boot_seen = model.boot_id()

    # ------------------------------------------------------------------ liveness
    def forget_if_rebooted(self) -> None:
        """A BMC that rebooted has forgotten its sessions (and its SSE streams)."""
        boot = self.model.boot_id()
        if boot != self._boot_seen:
            self._boot_seen = boot
            self.drop_sessions()

    def drop_sessions(self) -> None:
        with self.lock:
            self.sessions.clear()
            for sub in [s for s in self.subscriptions.values() if s.sse]:
                self.delete_subscription(sub.id)

    # ------------------------------------------------------------------ accounts and sessions
    def check_password(self, user: str, password: str) -> Account | None:
        for acct in self.accounts.values():
            if acct.enabled and hmac.compare_digest(acct.user.encode(), user.encode()) and \
                    hmac.compare_digest(acct.password.encode(), password.encode()):
                return acct
        return None

    def _expire(self) -> None:
        now = self.clock.now()
        for token in [t for t, s in self.sessions.items() if now - s.last_used > self.session_timeout_s]:
            del self.sessions[token]

    def session_for(self, token: str) -> Session | None:
        with self.lock:
            self._expire()
            session = next((s for t, s in self.sessions.items() if hmac.compare_digest(t, token)), None)
            if session is not None:
                session.last_used = self.clock.now()
            return session

    def create_session(self, user: str, password: str) -> Session:
        with self.lock:
            self._expire()
            acct = self.check_password(user, password)
            if acct is None:
                raise ActionError(401, "NoValidSession")
            if len(self.sessions) >= self.max_sessions:
                raise ActionError(503, "SessionLimitExceeded")
            session = Session(str(next(self._ids)), secrets.token_hex(16), acct, self.clock.now())
            self.sessions[session.token] = session
            return session

    def session_by_id(self, sid: str) -> Session | None:
        with self.lock:
            self._expire()
            return next((s for s in self.sessions.values() if s.id == sid), None)

    def delete_session(self, session: Session) -> None:
        with self.lock:
            self.sessions.pop(session.token, None)

    def evict_sessions(self) -> int:
        """Fault: the BMC drops every session (clients see 401 and must log in again)."""
        with self.lock:
            n = len(self.sessions)
            self.sessions.clear()
            return n

    def session_body(self, s: Session) -> Body:
        return {"@odata.id": f"{SESSIONS}/{s.id}", "@odata.type": otype("Session"), "Id": s.id,
                "Name": f"Session {s.id}", "UserName": s.account.user}

    def sessions_collection(self) -> Body:
        with self.lock:
            self._expire()
            return collection(SESSIONS, "SessionCollection", "Session Collection",
                              [f"{SESSIONS}/{s.id}" for s in self.sessions.values()])

    def session_service(self) -> Body:
        return {"@odata.id": f"{V1}/SessionService", "@odata.type": otype("SessionService"),
                "Id": "SessionService", "Name": "Session Service", "ServiceEnabled": True,
                "SessionTimeout": int(self.session_timeout_s), "Status": {"State": "Enabled", "Health": "OK"},
                "Sessions": link(SESSIONS)}

    def _set_session_timeout(self, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ActionError(400, "PropertyValueTypeError", repr(value), "SessionTimeout")
        if not 30 <= value <= 86400:
            raise ActionError(400, "PropertyValueOutOfRange", value, "SessionTimeout")
        self.session_timeout_s = float(value)

    def account_body(self, a: Account) -> Body:
        return {"@odata.id": f"{ACCOUNTS}/{a.id}", "@odata.type": otype("ManagerAccount"), "Id": a.id,
                "Name": f"User account {a.id}", "UserName": a.user, "RoleId": a.role, "Enabled": a.enabled,
                "Locked": False, "AccountTypes": ["Redfish"], "Password": None,
                "Links": {"Role": link(f"{ROLES}/{a.role}")}}

    def create_account(self, body: Body) -> Account:
        user, password, role = body.get("UserName"), body.get("Password"), body.get("RoleId", "ReadOnly")
        for prop, value in (("UserName", user), ("Password", password)):
            if not isinstance(value, str) or not value:
                raise ActionError(400, "PropertyMissing", prop)
        if role not in ROLE_PRIVILEGES:
            raise ActionError(400, "PropertyValueNotInList", str(role), "RoleId")
        with self.lock:
            if any(a.user == user for a in self.accounts.values()):
                raise ActionError(409, "ResourceAlreadyExists", "ManagerAccount", "UserName", user)
            acct = Account(str(next(self._account_ids)), str(user), str(password), str(role))
            self.accounts[acct.id] = acct
            return acct

    def delete_account(self, acct: Account) -> None:
        with self.lock:
            self.accounts.pop(acct.id, None)
            for token in [t for t, s in self.sessions.items() if s.account is acct]:
                del self.sessions[token]

    def account_setters(self, acct: Account) -> dict[str, Setter]:
        def password(value: Any) -> None:
            if not isinstance(value, str) or len(value) < 8:
                raise ActionError(400, "PropertyValueFormatError", "******", "Password")
            acct.password = value

        def role(value: Any) -> None:
            if value not in ROLE_PRIVILEGES:
                raise ActionError(400, "PropertyValueNotInList", str(value), "RoleId")
            acct.role = str(value)

        def enabled(value: Any) -> None:
            if not isinstance(value, bool):
                raise ActionError(400, "PropertyValueTypeError", repr(value), "Enabled")
            acct.enabled = value

        def username(value: Any) -> None:
            if not isinstance(value, str) or not value:
                raise ActionError(400, "PropertyValueFormatError", repr(value), "UserName")
            acct.user = value
        return {"Password": password, "RoleId": role, "Enabled": enabled, "UserName": username}

    def account_service(self) -> Body:
        return {"@odata.id": f"{V1}/AccountService", "@odata.type": otype("AccountService"),
                "Id": "AccountService", "Name": "Account Service", "ServiceEnabled": True,
                "MinPasswordLength": 8, "MaxPasswordLength": 64, "Status": {"State": "Enabled", "Health": "OK"},
                "Accounts": link(ACCOUNTS), "Roles": link(ROLES)}

    def role_body(self, role: str) -> Body:
        return {"@odata.id": f"{ROLES}/{role}", "@odata.type": otype("Role"), "Id": role, "Name": f"{role} role",
                "RoleId": role, "IsPredefined": True, "AssignedPrivileges": ROLE_PRIVILEGES[role]}

    # ------------------------------------------------------------------ events
    def record(self, t: float, info: Body, origin: str) -> EventRecord:
        """Log an event (SEL) and hand it to every open SSE stream."""
        with self.lock:
            rec = EventRecord(next(self._event_ids), t, info, origin, str(info.get("MessageSeverity", "OK")))
            self.events.append(rec)
            del self.events[:-SEL_CAPACITY]
            for listener in list(self.listeners):
                listener(rec)
            return rec

    def event_payload(self, recs: list[EventRecord], context: str = "") -> Body:
        events = []
        for rec in recs:
            ev: Body = {"EventId": str(rec.id), "EventTimestamp": iso(rec.t), "MemberId": str(rec.id),
                        "Severity": rec.severity, "OriginOfCondition": link(rec.origin)}
            ev.update({k: rec.message[k] for k in ("MessageId", "Message", "MessageArgs", "MessageSeverity")})
            events.append(ev)
        first = recs[0].id if recs else 0
        body: Body = {"@odata.type": otype("Event"), "Id": str(first), "Name": "Event", "Events": events}
        if context:
            body["Context"] = context
        return body

    def add_subscription(self, *, sse: bool, destination: str = "", context: str | None = None,
                         registry_prefixes: list[str] | None = None,
                         message_ids: list[str] | None = None) -> Subscription:
        with self.lock:
            sub = Subscription(str(next(self._sub_ids)), context or secrets.token_hex(8), sse, destination,
                               list(registry_prefixes or []), list(message_ids or []))
            self.subscriptions[sub.id] = sub
            return sub

    def delete_subscription(self, sid: str) -> bool:
        with self.lock:
            sub = self.subscriptions.pop(sid, None)
            self.pushes.pop(sid, None)
        if sub is None:
            return False
        sub.deleted.set()
        return True

    def subscription_body(self, sub: Subscription) -> Body:
        body: Body = {"@odata.id": f"{SUBSCRIPTIONS}/{sub.id}", "@odata.type": otype("EventDestination"),
                      "Id": sub.id, "Name": f"Event subscription {sub.id}", "Context": sub.context,
                      "Protocol": "Redfish", "SubscriptionType": "SSE" if sub.sse else "RedfishEvent",
                      "Destination": sub.destination, "Status": {"State": "Enabled", "Health": "OK"}}
        if sub.sse:
            body["Destination"] = ""
        else:
            body["DeliveryRetryPolicy"] = "TerminateAfterRetries"
        if sub.registry_prefixes:
            body["RegistryPrefixes"] = list(sub.registry_prefixes)
        if sub.message_ids:
            body["MessageIds"] = list(sub.message_ids)
        return body

    def event_service(self) -> Body:
        return {"@odata.id": f"{V1}/EventService", "@odata.type": otype("EventService"), "Id": "EventService",
                "Name": "Event Service", "ServiceEnabled": True,
                "DeliveryRetryAttempts": self.delivery_retry_attempts,
                "DeliveryRetryIntervalSeconds": self.delivery_retry_interval_s, "ServerSentEventUri": SSE_URI,
                "SSEFilterPropertiesSupported": {"EventFormatType": True, "MessageId": True, "OriginResource": True,
                                                 "RegistryPrefix": True, "MetricReportDefinition": False,
                                                 "ResourceType": False, "SubordinateResources": False},
                "RegistryPrefixes": ["ResourceEvent", "Environmental", "Power"],
                "Status": {"State": "Enabled", "Health": "OK"}, "Subscriptions": link(SUBSCRIPTIONS)}

    def event_service_setters(self) -> dict[str, Setter]:
        def attempts(value: Any) -> None:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ActionError(400, "PropertyValueTypeError", repr(value), "DeliveryRetryAttempts")
            if not 0 <= value <= 10:
                raise ActionError(400, "PropertyValueOutOfRange", value, "DeliveryRetryAttempts")
            self.delivery_retry_attempts = value

        def interval(value: Any) -> None:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ActionError(400, "PropertyValueTypeError", repr(value), "DeliveryRetryIntervalSeconds")
            if not 1 <= value <= 3600:
                raise ActionError(400, "PropertyValueOutOfRange", value, "DeliveryRetryIntervalSeconds")
            self.delivery_retry_interval_s = value
        return {"DeliveryRetryAttempts": attempts, "DeliveryRetryIntervalSeconds": interval}

    def log_services(self) -> Body:
        uri = f"{self.model.manager_uri}/LogServices"
        return collection(uri, "LogServiceCollection", "Log Services", [f"{uri}/SEL"])

    def sel_service(self) -> Body:
        uri = f"{self.model.manager_uri}/LogServices/SEL"
        return {"@odata.id": uri, "@odata.type": otype("LogService"), "Id": "SEL", "Name": "System Event Log",
                "ServiceEnabled": True, "MaxNumberOfRecords": SEL_CAPACITY, "OverWritePolicy": "WrapsWhenFull",
                "LogEntryType": "SEL", "Status": {"State": "Enabled", "Health": "OK"},
                "Entries": link(f"{uri}/Entries")}

    def sel_entries(self) -> Body:
        uri = f"{self.model.manager_uri}/LogServices/SEL/Entries"
        self.sync()  # events due by now are in the log, however lazily the twin was read before
        with self.lock:
            recs = list(self.events)
        body = collection(uri, "LogEntryCollection", "SEL entries", [])
        body["Members"] = [self.sel_entry(r) for r in recs]
        body["Members@odata.count"] = len(recs)
        return body

    def sel_entry(self, rec: EventRecord) -> Body:
        uri = f"{self.model.manager_uri}/LogServices/SEL/Entries/{rec.id}"
        return {"@odata.id": uri, "@odata.type": otype("LogEntry"), "Id": str(rec.id), "Name": f"SEL entry {rec.id}",
                "EntryType": "SEL", "Severity": rec.severity, "Created": iso(rec.t),
                "MessageId": rec.message["MessageId"], "Message": rec.message["Message"],
                "MessageArgs": rec.message["MessageArgs"], "Links": {"OriginOfCondition": link(rec.origin)}}

    def sel_entry_route(self, eid: str) -> Body | None:
        self.sync()
        with self.lock:
            rec = next((r for r in self.events if str(r.id) == eid), None)
        return None if rec is None else self.sel_entry(rec)

    def clear_log(self, body: Body) -> None:
        with self.lock:
            self.events.clear()

    # ------------------------------------------------------------------ tasks
    def add_task(self, done: Callable[[], bool]) -> Task:
        with self.lock:
            task = Task(str(next(self._task_ids)), done, self.clock.now())
            self.tasks[task.id] = task
            return task

    def task_done(self, task: Task) -> bool:
        if task.finished is None and task.done():
            task.finished = self.clock.now()
        return task.finished is not None

    def task_body(self, task: Task) -> Body:
        done = self.task_done(task)
        body: Body = {"@odata.id": f"{TASKS}/{task.id}", "@odata.type": otype("Task"), "Id": task.id,
                      "Name": f"Task {task.id}", "TaskState": "Completed" if done else "Running",
                      "TaskStatus": "OK", "PercentComplete": 100 if done else 50,
                      "StartTime": iso(task.started), "TaskMonitor": f"{TASK_MONITORS}/{task.id}",
                      "Messages": [message("TaskEvent.TaskCompletedOK" if done else "TaskEvent.TaskStarted",
                                           task.id)]}
        if task.finished is not None:
            body["EndTime"] = iso(task.finished)
        return body

    def task_service(self) -> Body:
        return {"@odata.id": f"{V1}/TaskService", "@odata.type": otype("TaskService"), "Id": "TaskService",
                "Name": "Task Service", "ServiceEnabled": True, "CompletedTaskOverWritePolicy": "Oldest",
                "LifeCycleEventOnTaskStateChange": False, "Status": {"State": "Enabled", "Health": "OK"},
                "Tasks": link(TASKS)}

    # ------------------------------------------------------------------ routing
    def service_root(self) -> Body:
        m = self.model
        body: Body = {"@odata.id": f"{V1}/", "@odata.type": otype("ServiceRoot"), "Id": "RootService",
                      "Name": f"{m.name} Redfish service", "RedfishVersion": "1.20.0", "UUID": m.uuid,
                      **m.root_links(),
                      "SessionService": link(f"{V1}/SessionService"), "AccountService": link(f"{V1}/AccountService"),
                      "EventService": link(f"{V1}/EventService"), "Tasks": link(f"{V1}/TaskService"),
                      "Links": {"Sessions": link(SESSIONS)},
                      "ProtocolFeaturesSupported": {
                          "ExpandQuery": {"ExpandAll": False, "Levels": True, "Links": False, "NoLinks": True,
                                          "MaxLevels": 1},
                          "SelectQuery": False, "FilterQuery": False, "OnlyMemberQuery": False,
                          "ExcerptQuery": False}}
        return body

    def routes(self) -> dict[str, Callable[[], Body]]:
        """Service-wide GET routes with a fixed URI (dynamic members are resolved by the server)."""
        sel = f"{self.model.manager_uri}/LogServices"
        return {
            f"{V1}/SessionService": self.session_service,
            SESSIONS: self.sessions_collection,
            f"{V1}/AccountService": self.account_service,
            ACCOUNTS: lambda: collection(ACCOUNTS, "ManagerAccountCollection", "Accounts",
                                         [f"{ACCOUNTS}/{i}" for i in self.accounts]),
            ROLES: lambda: collection(ROLES, "RoleCollection", "Roles", [f"{ROLES}/{r}" for r in ROLE_PRIVILEGES]),
            **{f"{ROLES}/{r}": _role_builder(self, r) for r in ROLE_PRIVILEGES},
            f"{V1}/EventService": self.event_service,
            SUBSCRIPTIONS: lambda: collection(SUBSCRIPTIONS, "EventDestinationCollection", "Subscriptions",
                                              [f"{SUBSCRIPTIONS}/{i}" for i in self.subscriptions]),
            f"{V1}/TaskService": self.task_service,
            TASKS: lambda: collection(TASKS, "TaskCollection", "Tasks", [f"{TASKS}/{i}" for i in self.tasks]),
            sel: self.log_services,
            f"{sel}/SEL": self.sel_service,
            f"{sel}/SEL/Entries": self.sel_entries,
        }


def _role_builder(core: ServiceCore, role: str) -> Callable[[], Body]:
    return lambda: core.role_body(role)
