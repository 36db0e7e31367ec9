"""Event delivery of a simulated BMC beyond the plain SSE stream: ``$filter`` on the SSE URI and
push subscriptions (EventDestination with a ``Destination``) that the service POSTs events to.

**SSE filter** (DSP0266, server-sent events): ``$filter`` with ``eq`` clauses joined by ``or``/``and``
(and parentheses) on ``EventFormatType``, ``MessageId``, ``RegistryPrefix``, ``OriginResource``.
``MessageId`` matches on registry prefix and message key, whatever the version the client wrote
(``Environmental.1.4.0.LeakDetectedCritical`` or ``Environmental.LeakDetectedCritical``). Any
other property or syntax is refused before the stream opens: 400 with a Base message.

**Push delivery**: every event a subscription selects (``RegistryPrefixes``, ``MessageIds``) is
POSTed as an Event payload to its ``Destination``, in order, from the fleet's loop; a failed POST
(no connection, or not 2xx) is tried again ``DeliveryRetryAttempts`` more times,
``DeliveryRetryIntervalSeconds`` apart (real seconds: delivery is network I/O, not rack physics).
Then the policy is ``TerminateAfterRetries``: the subscription is deleted.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from harness.sim.redfish.actions import ActionError
from harness.sim.redfish.event_log import EventRecord, EventService, Subscription

log = logging.getLogger(__name__)

SSE_FILTER_PROPERTIES = ("EventFormatType", "MessageId", "OriginResource", "RegistryPrefix")
_CLAUSE = re.compile(r"^\s*\(?\s*([A-Za-z]+)\s+eq\s+'([^']*)'\s*\)?\s*$")
POST_TIMEOUT_S = 5.0


def _prefix_key(message_id: str) -> tuple[str, str]:
    parts = message_id.split(".")
    return parts[0], parts[-1]


@dataclass(frozen=True)
class EventFilter:
    """OR of AND-ed (property, value) clauses; empty: everything."""

    any_of: tuple[tuple[tuple[str, str], ...], ...] = ()

    def matches(self, rec: EventRecord) -> bool:
        return not self.any_of or any(all(_clause(rec, p, v) for p, v in terms) for terms in self.any_of)


def _clause(rec: EventRecord, prop: str, value: str) -> bool:
    mid = str(rec.message.get("MessageId", ""))
    if prop == "EventFormatType":
        return value == "Event"  # this service sends Events only, no MetricReports
    if prop == "MessageId":
        return _prefix_key(mid) == _prefix_key(value)
    if prop == "RegistryPrefix":
        return _prefix_key(mid)[0] == value
    return rec.origin.rstrip("/") == value.rstrip("/")  # OriginResource


def parse_sse_filter(text: str | None) -> EventFilter:
    """The ``$filter`` of an SSE request; ActionError 400 (a Base message) when it is not supported."""
    if text is None:
        return EventFilter()
    any_of = []
    for alternative in re.split(r"\s+or\s+", text.strip()):
        terms = []
        for clause in re.split(r"\s+and\s+", alternative.strip()):
            m = _CLAUSE.match(clause)
            if m is None:
                raise ActionError(400, "QueryParameterValueFormatError", text, "$filter",
                                  detail="expected <Property> eq '<value>' clauses joined by 'or' / 'and'")
            prop, value = m.group(1), m.group(2)
            if prop not in SSE_FILTER_PROPERTIES:
                raise ActionError(400, "QueryParameterValueError", "$filter",
                                  detail=f"{prop} is not a supported SSE filter property "
                                         f"(supported: {', '.join(SSE_FILTER_PROPERTIES)})")
            terms.append((prop, value))
        any_of.append(tuple(terms))
    return EventFilter(tuple(any_of))


def subscription_filter(registry_prefixes: list[str], message_ids: list[str]) -> EventFilter:
    """A push subscription's selection: any listed prefix AND any listed message (a missing list: all)."""
    groups = [[("RegistryPrefix", p) for p in registry_prefixes], [("MessageId", m) for m in message_ids]]
    groups = [g for g in groups if g]
    if not groups:
        return EventFilter()
    if len(groups) == 1:
        return EventFilter(tuple((term,) for term in groups[0]))
    return EventFilter(tuple((a, b) for a in groups[0] for b in groups[1]))


class PushDelivery:
    """POSTs one push subscription's events to its Destination, in order, on the fleet's loop."""

    def __init__(self, events: EventService, sub: Subscription, select: EventFilter,
                 retry: Callable[[], tuple[int, float]]) -> None:
        self.events, self.sub, self.select, self.retry = events, sub, select, retry
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[EventRecord | None] = asyncio.Queue()
        self.delivered = 0
        with events.lock:
            events.listeners.append(self._on_event)
        self.task = self.loop.create_task(self._run())

    def _on_event(self, rec: EventRecord) -> None:  # any thread, under the event log's lock
        if self.sub.deleted.is_set():
            return
        if self.select.matches(rec):
            self.loop.call_soon_threadsafe(self.queue.put_nowait, rec)

    async def _run(self) -> None:
        ctx = ssl.create_default_context() if self.sub.destination.startswith("https://") else None
        timeout = aiohttp.ClientTimeout(total=POST_TIMEOUT_S)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as http:
                while not self.sub.deleted.is_set():
                    try:
                        rec = await asyncio.wait_for(self.queue.get(), 0.5)
                    except TimeoutError:
                        continue
                    if rec is None:
                        break
                    if not await self._post(http, rec, ctx):
                        log.warning("%s: events to %s undeliverable after retries: subscription %s terminated",
                                    self.events.service, self.sub.destination, self.sub.id)
                        self.events.delete_subscription(self.sub.id)
                        break
        finally:
            with self.events.lock:
                if self._on_event in self.events.listeners:
                    self.events.listeners.remove(self._on_event)

    async def _post(self, http: aiohttp.ClientSession, rec: EventRecord, ctx: ssl.SSLContext | None) -> bool:
        attempts, interval = self.retry()
        body = json.dumps(self.events.event_payload([rec], self.sub.context)).encode()
        for attempt in range(attempts + 1):
            if attempt:
                await asyncio.sleep(interval)
            try:
                async with http.post(self.sub.destination, data=body, ssl=ctx,
                                     headers={"Content-Type": "application/json", "OData-Version": "4.0"}) as resp:
                    if 200 <= resp.status < 300:
                        self.delivered += 1
                        return True
                    log.info("%s: POST %s -> HTTP %d", self.events.service, self.sub.destination, resp.status)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                log.info("%s: POST %s failed: %s", self.events.service, self.sub.destination, exc)
        return False
