"""EventMonitor: a leak, a critical threshold or a PSU failure fails the step that was running when it happened.

Two channels, each doing what it is good at:

* **SSE** (``EventStream`` to the rack manager, which reports the shelves, PSUs, CDU and every leak
  detector; to every BMC on a rack without one) gives promptness: when a counted event arrives while a step runs, the step's next ``check_deadline()``
  stops it (``StepInterrupted``) instead of letting it run on for minutes with a leak.
* **The SEL** decides. At the end of every step (also one that errored or was stopped) each BMC's SEL
  is read (a synchronous GET) and every entry whose ``Created`` lies in the step's window
  ``[start, end)`` and counts is recorded as a failing ``no_critical_event`` check naming the origin
  (the leak detector, sensor or PSU from the message, and the BMC and OriginOfCondition URI in the
  message). SSE arrival is asynchronous in wall time; the SEL and ``Created`` are not, so the verdict
  and the records do not depend on wall-clock timing (under a VirtualClock: simulated time stands
  still while the runner's GETs are in flight).

What counts is :mod:`harness.stepkit.event_policy` (Critical, or any leak, unless the step kind
declares it expected in ``StepKind.expected_events``).

Time line: each BMC's clock is read once (Manager.DateTime) when the monitor opens, and
``Created`` is placed on the run clock with that offset (a BMC whose clock cannot be read yet is
tried again at the next step). A BMC whose SEL cannot be read at a step's end is recorded as SKIP
for that step, never as a pass. In a failing run the step may stop one checkpoint earlier or later
depending on when SSE delivered; the failing step and what it names do not change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from harness.drivers.redfish.client import BmcClient
from harness.drivers.redfish.events import EventStream, RedfishEvent
from harness.drivers.redfish.sel import SelEntry, bmc_clock, parse_time, read_sel, sel_entries_uri
from harness.errors import DriverError, RedfishError
from harness.stepkit.context import StepContext, StepInterrupted
from harness.stepkit.event_policy import component_of, counts

if TYPE_CHECKING:
    from harness.clock import Clock
    from harness.rack import Rack

log = logging.getLogger(__name__)

# what can count comes from these registries; power transitions (ResourceEvent) need not be streamed
SSE_FILTER = "RegistryPrefix eq 'Environmental' or RegistryPrefix eq 'Power'"
EDGE_S = 0.0005  # Created has microsecond resolution; the window edges are run-clock floats


class EventMonitor:
    """One per run: SSE streams to every BMC, SEL reconciliation at the end of every step."""

    def __init__(self, rack: Rack, clock: Clock) -> None:
        self.rack, self.clock = rack, clock
        self.names = sorted(rack.bmcs, key=lambda n: (rack.roles.get(n) != "rack_manager", n))
        self.streams: dict[str, EventStream] = {}
        self.offsets: dict[str, float] = {}  # BMC clock (epoch s) minus run clock (s)
        self._sel_uris: dict[str, str] = {}
        self._flagged: list[RedfishEvent] = []
        self._expected: frozenset[str] = frozenset()
        self._since = 0.0

    # ------------------------------------------------------------------ run
    def open(self) -> EventMonitor:
        """Read every BMC's clock and open its event stream; a BMC that is down is tried again later."""
        self.rack.parallel(self._connect, self.names)
        return self

    def close(self) -> None:
        for stream in self.streams.values():
            stream.stop()
        self.streams.clear()

    def _streamed(self, name: str) -> bool:
        """Which BMCs get an SSE stream: the rack manager alone when there is one (it reports every leak
        detector, the CDU, shelves and PSUs), else every BMC. A stream per tray costs more than it
        gives: 27 reader threads waking in one process slowed nvl72_l11 by ~10 s of wall time (GIL
        convoy), and tray events are judged from the trays' SELs at the step's end anyway."""
        managers = [n for n in self.names if self.rack.roles.get(n) == "rack_manager"]
        return not managers or name in managers

    def _connect(self, name: str) -> None:
        if name not in self.offsets:
            try:
                bmc_now = self.rack.bmc(name, bmc_clock)
            except DriverError as exc:
                log.info("event monitor: %s: clock not read: %s", name, exc)
                return
            if bmc_now is not None:
                self.offsets[name] = bmc_now.timestamp() - self.clock.now()
        stream = self.streams.get(name)
        if not self._streamed(name) or (stream is not None and stream.alive):
            return
        try:
            self.streams[name] = self.rack.bmc(name, self._open_stream)
        except DriverError as exc:
            log.info("event monitor: %s: no event stream: %s", name, exc)

    @staticmethod
    def _open_stream(client: BmcClient) -> EventStream:
        """Filtered where the BMC supports SSE $filter (400 otherwise: then everything is streamed)."""
        try:
            return EventStream(client, event_filter=SSE_FILTER).start()
        except RedfishError as exc:
            if exc.status != 400:
                raise
            return EventStream(client).start()

    # ------------------------------------------------------------------ steps
    def guard(self, ctx: StepContext, expected: frozenset[str], run: Callable[[], None]) -> None:
        """Run one step attempt under the monitor: stop it early on a counted SSE event, then judge
        its window from the SELs (also when the step raised; not when the operator aborted)."""
        self._expected = frozenset(expected)
        self._since = ctx.started
        self._flagged = []
        for stream in self.streams.values():
            stream.drain()
        ctx.interrupt = self._interrupt
        try:
            run()
        except StepInterrupted as exc:
            ctx.log(f"step stopped early: {exc}", "WARNING")
        except KeyboardInterrupt:
            raise
        except BaseException:
            self.reconcile(ctx)
            raise
        self.reconcile(ctx)

    def _interrupt(self) -> str | None:
        """Called at the step's checkpoints: a counted event seen on SSE since the step began?"""
        for name, stream in self.streams.items():
            for ev in stream.drain():
                if counts(ev.key, ev.severity, self._expected) and self._in_step(name, ev):
                    self._flagged.append(ev)
        if not self._flagged:
            return None
        ev = self._flagged[0]
        return f"{ev.bmc} reported {ev.message_id}: {ev.message}"

    def _in_step(self, name: str, ev: RedfishEvent) -> bool:
        """Did it happen since the step began? (A previous step's event may arrive late; an event whose
        time cannot be placed is taken as current.)"""
        created, offset = parse_time(ev.timestamp), self.offsets.get(name)
        return created is None or offset is None or created.timestamp() - offset >= self._since - EDGE_S

    def reconcile(self, ctx: StepContext) -> list[SelEntry]:
        """Read every BMC's SEL; record each counted entry of the step's window as a failure."""
        start, end = ctx.started - EDGE_S, self.clock.now() - EDGE_S
        found = self.rack.parallel(lambda n: self._window(n, start, end), self.names)
        bad: list[SelEntry] = []
        for name in self.names:
            entries = found[name]
            if entries is None:
                ctx.skip("no_critical_event", f"{name}: SEL not readable at the end of the step", component=name)
                continue
            bad += [e for e in entries if counts(e.key, e.severity, self._expected)]
        for e in bad:
            where = f"{e.bmc} {e.origin}" if e.origin else e.bmc
            ctx.require("no_critical_event", False, component=component_of(e),
                        message=f"{where}: {e.message_id}: {e.message} (SEL entry {e.entry_id}, {_iso(e.created)})",
                        meta={"bmc": e.bmc, "message_id": e.message_id, "origin": e.origin or ""})
        if not bad:
            ctx.log(f"event monitor: {len(self.names)} SELs checked, no critical event in the step")
        self.rack.parallel(self._connect, [n for n in self.names if found[n] is not None])
        return bad

    def _window(self, name: str, start: float, end: float) -> list[SelEntry] | None:
        """The SEL entries of one BMC created in [start, end) of the run clock; None if unreadable."""
        try:
            entries = self.rack.bmc(name, self._read)
        except DriverError as exc:
            log.info("event monitor: %s: SEL not read: %s", name, exc)
            return None
        offset = self.offsets.get(name)
        if offset is None:
            return None
        return [e for e in entries if e.created is not None and start <= e.created.timestamp() - offset < end]

    def _read(self, client: BmcClient) -> list[SelEntry]:
        uri = sel_entries_uri(client, self._sel_uris)
        return read_sel(client, uri) if uri else []


def _iso(dt: datetime | None) -> str:
    return dt.isoformat().replace("+00:00", "Z") if dt else "no time"
