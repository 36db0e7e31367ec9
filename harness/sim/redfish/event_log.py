"""EventService and SEL of one simulated Redfish service: one event log that feeds the SSE streams,
the push subscriptions (``events.py``) and the SEL LogService under the manager, so a client sees the
same events however it looks.

``Created``/``EventTimestamp`` are the simulated instant of the event (``documents.iso``), so records
do not depend on when a client read them; reading the SEL first brings the twin up to now (``sync``).
"""

from __future__ import annotations

import itertools
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.sim.redfish.actions import ActionError, Setter
from harness.sim.redfish.documents import V1, Body, collection, iso, link, otype

SUBSCRIPTIONS = f"{V1}/EventService/Subscriptions"
SSE_URI = f"{V1}/EventService/SSE"
SEL_CAPACITY = 1000


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


class EventService:
    """The event log, subscriptions (SSE and push) and the SEL of one service."""

    def __init__(self, lock: threading.RLock, *, service: str, manager_uri: str,
                 sync: Callable[[], object] = lambda: None) -> None:
        self.lock, self.service, self.manager_uri = lock, service, manager_uri
        self.sync = sync  # brings the twin (and its events) up to now before the SEL is read
        self.subscriptions: dict[str, Subscription] = {}
        self.events: list[EventRecord] = []
        self.delivery_retry_attempts = 3  # push delivery (events.py): retries after a failed POST
        self.delivery_retry_interval_s = 30  # real seconds between them
        self.pushes: dict[str, Any] = {}  # subscription id -> its PushDelivery
        self.listeners: list[Callable[[EventRecord], None]] = []  # SSE streams (called under the lock)
        self._sub_ids = itertools.count(1)
        self._event_ids = itertools.count(1)

    # ------------------------------------------------------------------ the log
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

    # ------------------------------------------------------------------ subscriptions
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

    def close_streams(self) -> None:
        """A BMC that lost power or rebooted has forgotten its SSE streams."""
        with self.lock:
            for sub in [s for s in self.subscriptions.values() if s.sse]:
                self.delete_subscription(sub.id)

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

    # ------------------------------------------------------------------ the SEL
    @property
    def sel_clear_uri(self) -> str:
        return f"{self.manager_uri}/LogServices/SEL/Actions/LogService.ClearLog"

    @property
    def sel_entries_prefix(self) -> str:
        return f"{self.manager_uri}/LogServices/SEL/Entries/"

    def log_services(self) -> Body:
        uri = f"{self.manager_uri}/LogServices"
        return collection(uri, "LogServiceCollection", "Log Services", [f"{uri}/SEL"])

    def sel_service(self) -> Body:
        uri = f"{self.manager_uri}/LogServices/SEL"
        return {"@odata.id": uri, "@odata.type": otype("LogService"), "Id": "SEL", "Name": "System Event Log",
                "ServiceEnabled": True, "MaxNumberOfRecords": SEL_CAPACITY, "OverWritePolicy": "WrapsWhenFull",
                "LogEntryType": "SEL", "Status": {"State": "Enabled", "Health": "OK"},
                "Entries": link(f"{uri}/Entries")}

    def sel_entries(self) -> Body:
        uri = f"{self.manager_uri}/LogServices/SEL/Entries"
        self.sync()  # events due by now are in the log, however lazily the twin was read before
        with self.lock:
            recs = list(self.events)
        body = collection(uri, "LogEntryCollection", "SEL entries", [])
        body["Members"] = [self.sel_entry(r) for r in recs]
        body["Members@odata.count"] = len(recs)
        return body

    def sel_entry(self, rec: EventRecord) -> Body:
        uri = f"{self.manager_uri}/LogServices/SEL/Entries/{rec.id}"
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

    def routes(self) -> dict[str, Callable[[], Body]]:
        """GET routes with a fixed URI (single subscriptions and SEL entries are resolved per request)."""
        sel = f"{self.manager_uri}/LogServices"
        return {
            f"{V1}/EventService": self.event_service,
            SUBSCRIPTIONS: lambda: collection(SUBSCRIPTIONS, "EventDestinationCollection", "Subscriptions",
                                              [f"{SUBSCRIPTIONS}/{i}" for i in self.subscriptions]),
            sel: self.log_services,
            f"{sel}/SEL": self.sel_service,
            f"{sel}/SEL/Entries": self.sel_entries,
        }
