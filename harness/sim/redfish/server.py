"""Simulated Redfish services of a rack, served over real HTTP(S) on 127.0.0.1.

One listener per tray BMC plus (for rack-scale profiles) one rack manager listener that carries the
``Rack`` chassis, the power shelves and the CDU. All listeners share one asyncio loop in a daemon
thread. Every answer is built from the :class:`RackTwin` at request time, so the BMC view agrees
with the PDU, shelf and analyzer views. A listener and what a BMC that is down looks like are in
``listener.py``; HTTP semantics in ``http.py``; accounts, sessions, events and tasks in ``core.py``;
the resource trees in ``tray.py`` and ``rackmgr.py``.

The fleet routes the twin's events to the services that report them, runs the threshold watch
(``thresholds.py``), injects faults (:meth:`RedfishFleet.inject`) and, while the BMCs follow the
twin, re-binds or closes their ports (a 50 ms real-time monitor).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.clock import VirtualClock
from harness.sim.faults.wire import Corruption, WireFault
from harness.sim.physics import RackTwin
from harness.sim.redfish.listener import ListenerFaults, ServiceListener
from harness.sim.redfish.rackmgr import RackManagerModel
from harness.sim.redfish.thresholds import ThresholdWatch
from harness.sim.redfish.tls import TlsFiles, make_ca
from harness.sim.redfish.tray import BmcModel, Personality

log = logging.getLogger(__name__)

MONITOR_PERIOD_S = 0.05  # real seconds between BMC-state checks (asyncio.sleep, not the run clock)
RACK_MANAGER = "rackmgr"
FAULTS = ("unreachable", "booting", "slow", "evict_sessions", "stuck_sensor", "nan_sensor", "leak", "psu_failure",
          "wire")


class RedfishFleet:
    """One aiohttp listener per tray BMC (plus a rack manager), all on one asyncio loop in a daemon thread.

    ``tls=True`` makes a CA for this fleet and serves HTTPS; :attr:`ca_file` is then the CA to verify
    with. ``rack_manager=None`` serves a rack manager when the rack has several power shelves (a
    rack-scale system such as nvl72, whose shelves and CDU the rack manager aggregates); True/False
    force it. ``personalities`` picks per-BMC resource trees (``"new"``, ``"legacy"``, ``"both"``). After :meth:`start`, :attr:`roles` maps every endpoint to its
    BMC role (compute_tray, switch_tray, rack_manager).
    """

    def __init__(self, twin: RackTwin, *, username: str, password: str, host: str = "127.0.0.1",
                 refuse_when_down: bool | None = None, tls: bool = False, rack_manager: bool | None = None,
                 personalities: Mapping[str, Personality] | None = None) -> None:
        self.twin, self.host = twin, host
        self.username, self.password = username, password
        self.refuse_when_down = (not isinstance(twin.clock, VirtualClock)) if refuse_when_down is None \
            else refuse_when_down
        self.rack_manager = len({p.shelf for p in twin.psus.values()}) > 1 if rack_manager is None else rack_manager
        self.personalities = dict(personalities or {})
        self.tls: TlsFiles | None = None
        self._tls_wanted = tls
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._services: dict[str, ServiceListener] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._monitor: asyncio.Task[None] | None = None
        self._lock = threading.Lock()
        self._thresholds: ThresholdWatch | None = None

    def check_credentials(self, user: str, password: str) -> bool:
        return hmac.compare_digest(user.encode(), self.username.encode()) and \
            hmac.compare_digest(password.encode(), self.password.encode())

    @property
    def ca_file(self) -> str | None:
        return str(self.tls.ca_file) if self.tls else None

    @property
    def scheme(self) -> str:
        return "https" if self._tls_wanted else "http"

    @property
    def endpoints(self) -> dict[str, str]:
        return {name: f"{self.scheme}://{self.host}:{s.port}" for name, s in self._services.items()}

    @property
    def roles(self) -> dict[str, str]:
        return {name: s.model.role for name, s in self._services.items()}

    def service(self, name: str) -> ServiceListener:
        if name not in self._services:
            raise KeyError(f"no Redfish service {name!r} (have: {', '.join(self._services)})")
        return self._services[name]

    # ------------------------------------------------------------------ per-BMC behaviour
    def set_reset_response(self, name: str, status: int) -> None:
        """How the BMC answers an accepted action: 204, 200 (+ message) or 202 (+ task monitor)."""
        if status not in (200, 202, 204):
            raise ValueError("reset response must be 200, 202 or 204")
        self.service(name).reset_response = status

    def inject(self, name: str, fault: str, **params: Any) -> None:
        """Inject a fault into one service. Faults (simulated seconds unless said otherwise):

        - ``unreachable`` (``down_s``=30, ``booting_s``=20): connections reset/refused for ``down_s``,
          then 503 + Retry-After for ``booting_s``, as a rebooting BMC; sessions are lost.
        - ``booting`` (``seconds``=20): 503 + Retry-After only.
        - ``slow`` (``delay_s``, real seconds; ``methods`` e.g. ("POST",), default all): replies are
          delayed (to outlast a client timeout); :meth:`clear` lets the replies still held go on.
        - ``evict_sessions`` (``every_s``): every session is dropped now (clients get 401 NoValidSession),
          and again every ``every_s`` simulated seconds if given (a BMC that keeps losing its sessions).
        - ``stuck_sensor`` (``sensor``, ``value``) / ``nan_sensor`` (``sensor``): a tray sensor such as
          ``gpu0``, ``asic`` or ``inlet`` reads a fixed value / is unavailable.
        - ``leak`` (``detector``, ``state``="Critical"), ``psu_failure`` (``psu``): twin faults.
        - ``wire`` (a :class:`~harness.sim.faults.wire.Corruption`: ``kind``, ``at``, ``data``, ``match``,
          ``count``): replies damaged on the wire (malformed JSON, truncated, reset mid-reply).
        """
        svc = self.service(name)
        now = svc.now()
        f = svc.faults
        if fault == "unreachable":
            down = float(params.get("down_s", 30.0))
            f.down_until = now + down
            f.booting_until = f.injected_booting_until = now + down + float(params.get("booting_s", 20.0))
            f.injected = fault
            svc.core.drop_sessions()
        elif fault == "booting":
            svc.outage(float(params.get("seconds", 20.0)))
            f.injected, f.injected_booting_until = fault, f.booting_until
        elif fault == "slow":
            f.slow_s = float(params["delay_s"])
            f.slow_methods = tuple(str(m).upper() for m in params.get("methods", ()))
        elif fault == "evict_sessions":
            f.evicted |= svc.core.auth.evict_sessions()
            f.evict_every_s = float(params.get("every_s") or 0.0)
            if f.evict_every_s < 0:
                raise ValueError("evict_sessions: every_s must be positive")
            f.next_evict = now + f.evict_every_s
        elif fault in ("stuck_sensor", "nan_sensor"):
            key = f"{name}/{params['sensor']}"
            value = float("nan") if fault == "nan_sensor" else float(params["value"])
            self.twin.set_sensor_fault(key, value)
            f.twin_undo.append(lambda: self.twin.set_sensor_fault(key, None))
        elif fault == "leak":
            detector = str(params["detector"])
            self.twin.set_leak(detector, params.get("state", "Critical"))
            f.twin_undo.append(lambda: self.twin.set_leak(detector, "OK"))
        elif fault == "wire":
            f.wire = WireFault(Corruption.from_params(params))
        elif fault == "psu_failure":
            psu = str(params["psu"])
            self.twin.fail_psu(psu, True)
            f.twin_undo.append(lambda: self.twin.fail_psu(psu, False))
        else:
            raise ValueError(f"unknown fault {fault!r} (known: {', '.join(FAULTS)})")

    def clear(self, name: str) -> None:
        """Clear every fault injected into ``name`` (twin faults are undone too)."""
        svc = self.service(name)
        old, svc.faults = svc.faults, ListenerFaults()
        if self._loop is not None:  # requests the slow fault holds are answered now (the event lives on the loop)
            self._loop.call_soon_threadsafe(old.cleared.set)
        for fn in reversed(old.twin_undo):
            fn()

    # ------------------------------------------------------------------ events from the twin
    def _on_twin_event(self, kind: str, data: dict[str, object]) -> None:
        t = float(data.get("t", 0.0))  # type: ignore[arg-type]
        if self._thresholds is not None:  # crossings before this event are logged before it (SEL in time order)
            self._thresholds.advance(t)
        for svc in list(self._services.values()):
            for info, origin in svc.model.events_for(kind, data):
                svc.core.events.record(t, info, origin)

    def sync(self) -> None:
        """Bring the twin and the threshold watch up to now: events due by now are logged and streamed
        (a BMC scans its sensors all the time; here every request stands in for that scan)."""
        with self.twin._lock:
            now = self.twin.sync()
            if self._thresholds is not None:
                self._thresholds.advance(now)

    def _record_crossing(self, service: str, t: float, info: dict[str, Any], origin: str) -> None:
        self._services[service].core.events.record(t, info, origin)

    def _start_watch(self) -> None:
        """Threshold-crossing events (``thresholds.py``), fed by the twin at every state change."""
        sensors = [s for svc in self._services.values() for s in svc.model.threshold_sensors()]
        with self.twin._lock:  # one consistent start: curves and time under the twin's lock
            self._thresholds = ThresholdWatch(self.twin, sensors, self._record_crossing, self.twin.sync())
            self.twin.watchers.append(self._thresholds.on_change)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> dict[str, str]:
        """Bind every service's port and serve; a second call returns the same endpoints."""
        with self._lock:
            if self._loop is not None:
                return self.endpoints
            if self._tls_wanted and self.tls is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="rackval-ca-")
                self.tls = make_ca(Path(self._tmp.name), self.host)
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="redfish-fleet", daemon=True)
            thread.start()
            self._loop, self._thread = loop, thread
            try:
                asyncio.run_coroutine_threadsafe(self._start(), loop).result(timeout=60)
            except BaseException:
                self._shutdown_loop()
                raise
            self._start_watch()
            self.twin.listeners.append(self._on_twin_event)
            return self.endpoints

    async def _start(self) -> None:
        models: list[Any] = [BmcModel(self.twin, tray, personality=self.personalities.get(tray, "new"))
                             for tray in self.twin.trays]
        if self.rack_manager:
            models.append(RackManagerModel(self.twin, RACK_MANAGER))
        for model in models:
            svc = ServiceListener(self, model)
            self._services[model.name] = svc
            await svc.setup()
        self._monitor = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            for svc in self._services.values():
                try:
                    await svc.tick()
                except Exception:  # keep watching the other services
                    log.exception("%s: monitor failed", svc.name)
            await asyncio.sleep(MONITOR_PERIOD_S)

    def stop(self) -> None:
        """Close every listener and connection, then the loop; safe to call twice."""
        with self._lock:
            if self._loop is None:
                return
            with contextlib.suppress(ValueError):
                self.twin.listeners.remove(self._on_twin_event)
            if self._thresholds is not None:
                with contextlib.suppress(ValueError):
                    self.twin.watchers.remove(self._thresholds.on_change)
                self._thresholds = None
            try:
                asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=30)
            finally:
                self._shutdown_loop()
                if self._tmp is not None:
                    self._tmp.cleanup()
                    self._tmp, self.tls = None, None

    async def _stop(self) -> None:
        if self._monitor is not None:
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor
            self._monitor = None
        for svc in self._services.values():
            await svc.close()

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


__all__ = ["FAULTS", "RACK_MANAGER", "RedfishFleet"]
