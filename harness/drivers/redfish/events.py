"""EventStream: a BMC's Redfish server-sent events (EventService.ServerSentEventUri), on a thread.

A step opens one per BMC it cares about, lets it collect while it works and then looks at what
arrived (a leak or PSU failure during a step fails that step). Events are typed
(:class:`RedfishEvent`); a malformed event line is kept as an ``unparsed`` entry instead of raising.
The stream uses the client's session (``X-Auth-Token``) and its TLS settings. ``stop()`` is prompt
because the service sends keep-alive comments; it also closes the connection, so the service deletes
the SSE EventDestination.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from typing import Any

import requests

from harness.drivers.redfish.client import BmcClient
from harness.drivers.redfish.views import link, path, text
from harness.errors import RedfishError, RedfishUnreachable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RedfishEvent:
    """One event record of an SSE payload."""

    bmc: str
    event_id: str | None
    message_id: str
    message: str
    severity: str | None
    origin: str | None
    timestamp: str | None
    args: tuple[str, ...] = ()

    @property
    def registry(self) -> str:
        """``Environmental`` for ``Environmental.1.4.0.LeakDetectedCritical``."""
        return self.message_id.split(".", 1)[0]

    @property
    def key(self) -> str:
        """``LeakDetectedCritical`` for ``Environmental.1.4.0.LeakDetectedCritical``."""
        return self.message_id.rsplit(".", 1)[-1]


def parse_payload(bmc: str, data: str) -> list[RedfishEvent]:
    """The events in one SSE ``data:`` payload; junk becomes one ``unparsed`` event, never an exception."""
    try:
        body: Any = json.loads(data)
    except ValueError:
        return [RedfishEvent(bmc, None, "unparsed", data[:200], None, None, None)]
    records = path(body, "Events")
    out: list[RedfishEvent] = []
    for rec in records if isinstance(records, list) else []:
        args = path(rec, "MessageArgs")
        out.append(RedfishEvent(bmc, text(path(rec, "EventId")), text(path(rec, "MessageId")) or "unknown",
                                text(path(rec, "Message")) or "", text(path(rec, "MessageSeverity"))
                                or text(path(rec, "Severity")), link(rec, "OriginOfCondition"),
                                text(path(rec, "EventTimestamp")),
                                tuple(a for a in args if isinstance(a, str)) if isinstance(args, list) else ()))
    if not out:
        out.append(RedfishEvent(bmc, None, "unparsed", data[:200], None, None, None))
    return out


class EventStream:
    """Collect one BMC's SSE events on a daemon thread between :meth:`start` and :meth:`stop`."""

    def __init__(self, client: BmcClient, *, connect_timeout_s: float | None = None,
                 event_filter: str | None = None) -> None:
        self.client = client
        self.event_filter = event_filter  # an SSE $filter, e.g. "RegistryPrefix eq 'Environmental'"
        self.connect_timeout_s = connect_timeout_s or client.timeout_s
        self.error: RedfishError | None = None
        self._events: list[RedfishEvent] = []
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._resp: requests.Response | None = None
        self._opened = threading.Event()

    def __enter__(self) -> EventStream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> EventStream:
        """Open the stream (raises a typed error if the BMC has no SSE or refuses it)."""
        uri = text(path(self.client.get_json(link(self.client.service_root(), "EventService") or
                                             "/redfish/v1/EventService"), "ServerSentEventUri"))
        if not uri:
            raise RedfishError(self.client.name, "GET EventService", "no ServerSentEventUri: SSE not available")
        token = self.client.session_token()
        url = self.client.base_url + uri
        params = {"$filter": self.event_filter} if self.event_filter else None
        try:
            resp = requests.get(url, headers={"X-Auth-Token": token, "Accept": "text/event-stream"}, stream=True,
                                params=params, timeout=(self.connect_timeout_s, None), verify=self.client.verify)
        except requests.RequestException as exc:
            raise RedfishUnreachable(self.client.name, f"GET {uri}", f"SSE stream not opened: {exc}") from exc
        if resp.status_code != 200:
            resp.close()
            raise RedfishError(self.client.name, f"GET {uri}", f"SSE stream refused: HTTP {resp.status_code}",
                               status=resp.status_code)
        self._resp = resp
        self._thread = threading.Thread(target=self._read, name=f"sse-{self.client.name}", daemon=True)
        self._thread.start()
        return self

    def _read(self) -> None:
        assert self._resp is not None
        data: list[str] = []
        try:
            for raw in self._resp.iter_lines(decode_unicode=True):
                if self._stop.is_set():
                    break
                line = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
                if line.startswith("data:"):
                    data.append(line[5:].lstrip())
                elif line == "" and data:
                    events = parse_payload(self.client.name, "\n".join(data))
                    data = []
                    with self._cond:
                        self._events.extend(events)
                        self._cond.notify_all()
        except Exception as exc:  # connection dropped (BMC down) or closed by stop()
            if not self._stop.is_set():  # a BMC that lost power or rebooted: the caller reopens it
                self.error = RedfishUnreachable(self.client.name, "SSE", f"event stream broke: {exc}")
                log.info("%s", self.error)
        finally:
            with self._cond:
                self._cond.notify_all()

    @property
    def alive(self) -> bool:
        """Still receiving (not stopped, not broken, not closed by the service)."""
        return self._thread is not None and self._thread.is_alive() and self.error is None

    def stop(self) -> None:
        """Close the stream and join the thread; safe to call twice."""
        self._stop.set()
        if self._resp is not None:
            try:
                self._resp.close()
            except Exception as exc:
                log.debug("%s: closing SSE: %s", self.client.name, exc)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def events(self) -> list[RedfishEvent]:
        with self._cond:
            return list(self._events)

    def drain(self) -> list[RedfishEvent]:
        """The events received since the last drain."""
        with self._cond:
            out, self._events = self._events, []
            return out

    def wait(self, count: int = 1, timeout_s: float = 5.0) -> list[RedfishEvent]:
        """Block (real time) until ``count`` events are buffered or the timeout; for tests and tools."""
        with self._cond:
            self._cond.wait_for(lambda: len(self._events) >= count or self._thread is None
                                or not self._thread.is_alive(), timeout=timeout_s)
            return list(self._events)
