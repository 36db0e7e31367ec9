"""The SSE stream of a simulated Redfish service (EventService.ServerSentEventUri): one text/event-stream
per client, filtered by its ``$filter`` (``events.py``), open while the BMC is up and the stream's
subscription exists; a heartbeat comment every half second (real time) notices a client that left."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable

from aiohttp import web

from harness.sim.redfish.actions import ActionError
from harness.sim.redfish.event_log import EventRecord, EventService
from harness.sim.redfish.events import parse_sse_filter
from harness.sim.redfish.responses import err, json_response

SSE_HEARTBEAT_S = 0.5  # real seconds: a comment line, so a closed client is noticed and its destination deleted


async def serve_sse(request: web.Request, events: EventService, ready: Callable[[], bool]) -> web.StreamResponse:
    """Stream the service's events to one client until it leaves, the BMC goes down or the
    stream's subscription is deleted."""
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

    sub = events.add_subscription(sse=True)
    with events.lock:
        events.listeners.append(deliver)
    resp = web.StreamResponse(status=200, headers={"Content-Type": "text/event-stream;charset=utf-8",
                                                   "Cache-Control": "no-cache", "OData-Version": "4.0"})
    try:
        await resp.prepare(request)
        await resp.write(b": stream open\n\n")
        while not sub.deleted.is_set() and ready():
            try:
                rec = await asyncio.wait_for(queue.get(), SSE_HEARTBEAT_S)
            except TimeoutError:
                await resp.write(b": keep-alive\n\n")
                continue
            payload = json.dumps(events.event_payload([rec], sub.context))
            await resp.write(f"id: {rec.id}\ndata: {payload}\n\n".encode())
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        with events.lock, contextlib.suppress(ValueError):
            events.listeners.remove(deliver)
        events.delete_subscription(sub.id)
    with contextlib.suppress(Exception):
        await resp.write_eof()
    return resp
