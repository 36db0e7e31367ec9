"""Rack: the rack under test as the station file declares it.

It keeps the declared-endpoint gate (a BMC, PDU outlet or instrument the station file does not name is
refused before anything is sent), the one long-lived thread pool rack-wide reads run on, and the
rack-wide operations steps use, through small capabilities (``capabilities.py``): ``feeds`` (the PDU
outlets), ``hosts`` (the trays' host power), ``load`` and ``meter`` (bench instruments), ``equipment``
(shelves, CDU, leaks, inventory). Drivers are built in ``build.py``; the plan's safe-state policy is
``safe_state.py``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import TypeVar

from harness.clock import Clock, run_parallel
from harness.config.plan import SafeState
from harness.config.profile import Profile
from harness.config.station import Credentials, Station
from harness.drivers.redfish.client import BmcClient, SensorReading
from harness.drivers.ssh.host import GpuWorkload
from harness.drivers.visa.ac_source import AcSource
from harness.drivers.visa.daq import ThermocoupleDaq
from harness.errors import Refused
from harness.rack import build
from harness.rack.capabilities import Load, PowerMeter
from harness.rack.equipment import Equipment
from harness.rack.feeds import Feeds
from harness.rack.hosts import Hosts
from harness.rack.identity import DeviceIdentity, identities
from harness.rack.safe_state import SafeStatePolicy
from harness.safety import PHASE_S, SafeStateReport, SafetyRegistry

T = TypeVar("T")
log = logging.getLogger(__name__)

MAX_PARALLEL = 16


class Rack:
    def __init__(self, station: Station, profile: Profile, credentials: Credentials, clock: Clock,
                 *, policy: SafeState | None = None, shared_instruments: build.Instruments | None = None) -> None:
        self.station, self.profile, self.clock = station, profile, clock
        self._credentials = credentials
        self.policy = policy or SafeState()
        self.bmcs: dict[str, BmcClient] = {ep.name: build.make_bmc(ep, station, credentials, clock)
                                           for ep in station.bmcs}
        self.roles: dict[str, str] = {ep.name: ep.role for ep in station.bmcs}
        self._bmc_locks = {name: threading.Lock() for name in self.bmcs}
        self._pool: ThreadPoolExecutor | None = None
        self.feeds = Feeds({ep.name: build.make_pdu(ep, station, credentials, clock) for ep in station.pdus},
                           build.declared_outlets(station), clock, station.power_on_stagger_s)
        self.hosts = Hosts(self)
        self.equipment = Equipment(self)
        self.instrument_endpoints = {i.name: i for i in station.instruments}
        # a telemetry view shares the instruments (their locks cover one exchange) and never closes them
        self._owns_instruments = shared_instruments is None
        self.instruments = shared_instruments if shared_instruments is not None else build.Instruments()
        self.meter_at = next((s.measures for s in profile.instruments.values()
                              if s.role == "power_analyzer" and s.measures), None)
        self.safety = SafetyRegistry()
        self.safe_state_s = PHASE_S  # run-clock bound of the whole safe state
        self.safe_state_wall_s: float | None = None  # wall ceiling (None: from the clock, safety.wall_ceiling)
        self.workloads: dict[str, GpuWorkload] = {}
        self._safe_policy = SafeStatePolicy(self)
        if self._owns_instruments:  # the rack of the steps: workloads, and the safe state that undoes them
            self.workloads = build.make_workloads(station, profile, credentials)
            self._safe_policy.register()

    def telemetry_view(self) -> Rack:
        """The same rack through drivers of its own, for the telemetry sampler.

        Its own Redfish sessions and SNMP clients, so a sampler read (or its retry back-off) never
        waits on, or holds up, a step's command to the same device; the instrument links are shared
        (their locks cover one exchange, never a wait). It registers no safe actions.
        """
        return Rack(self.station, self.profile, self._credentials, self.clock, policy=self.policy,
                    shared_instruments=self.instruments)

    def check_calibration(self, today: date) -> None:
        build.check_calibration(self.station, today)

    def connect(self) -> None:
        """Open the instrument links (the BMCs log in on first use, they may still be booting)."""
        self.instruments = build.connect_instruments(self.station, self.profile)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        for client in self.bmcs.values():
            client.logout()
        self.feeds.close()
        if self._owns_instruments:
            self.instruments.close()
        for workload in self.workloads.values():
            workload.shell.close()

    # ------------------------------------------------------------------ instruments by capability
    @property
    def load(self) -> Load | None:
        return self.instruments.load

    @property
    def meter(self) -> PowerMeter | None:
        return self.instruments.meter

    @property
    def daq(self) -> ThermocoupleDaq | None:
        return self.instruments.daq

    @property
    def ac_source(self) -> AcSource | None:
        return self.instruments.ac_source

    @property
    def meter_covers_rack(self) -> bool:
        """True when the power meter sits on the only PDU inlet: then it is the rack's AC power."""
        return self.meter is not None and len(self.feeds.pdus) == 1 and self.meter_at in self.feeds.pdus

    # ------------------------------------------------------------------ the gate and the pool
    @property
    def trays(self) -> list[str]:
        return [n for n, r in self.roles.items() if r in ("compute_tray", "switch_tray")]

    def parallel(self, fn: Callable[[str], T], names: list[str]) -> dict[str, T]:
        """Run ``fn(name)`` for every name concurrently (one thread per BMC client, capped), on the
        rack's long-lived pool."""
        jobs = [lambda n=n: fn(n) for n in names]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=MAX_PARALLEL, thread_name_prefix="rack")
        return dict(zip(names, run_parallel(self.clock, jobs, max_workers=min(MAX_PARALLEL, len(names) or 1),
                                            executor=self._pool), strict=True))

    def bmc(self, name: str, fn: Callable[[BmcClient], T]) -> T:
        """Use one BMC's client exclusively: the DMTF client is not thread-safe, and the telemetry
        sampler reads the same BMCs the steps command."""
        if name not in self.bmcs:
            raise Refused(f"BMC {name!r} is not declared in the station file; refusing to act on it")
        lock = self._bmc_locks[name]
        if not lock.acquire(blocking=False):
            # the holder may be sleeping on the clock (a retry back-off): waiting here without
            # stepping aside would freeze simulated time for everyone
            with self.clock.idle():
                lock.acquire()
        try:
            return fn(self.bmcs[name])
        finally:
            lock.release()

    def each_bmc(self, fn: Callable[[BmcClient], T], names: list[str]) -> dict[str, T]:
        """``fn`` on every named BMC concurrently, each client used by one thread at a time."""
        return self.parallel(lambda n: self.bmc(n, fn), names)

    # ------------------------------------------------------------------ rack-wide reads
    def tray_powers_w(self) -> dict[str, float]:
        return self.each_bmc(lambda c: c.power_watts(), self.trays)

    def tray_sensors(self) -> dict[str, list[SensorReading]]:
        return self.each_bmc(lambda c: c.sensors(), self.trays)

    def identities(self, *, with_equipment: bool = True) -> list[DeviceIdentity]:
        return identities(self, with_equipment=with_equipment)

    # ------------------------------------------------------------------ safe state
    def workload_starting(self) -> None:
        """A GPU workload is about to run: from now on the safe state must stop it (and prove it)."""
        self._safe_policy.workload_starting()

    def safe_state(self) -> SafeStateReport:
        """Run every registered safe action and its readback, each bounded (``safe_state_s`` on the run's
        clock for the whole phase, ``safe_state_wall_s`` of wall time; see harness.safety); never raises."""
        report = self.safety.run(self.clock, phase_s=self.safe_state_s, wall_s=self.safe_state_wall_s)
        for o in report.outcomes:
            (log.info if o.ok else log.error)("safe state: %s: %s", o.name, o.detail)
        return report
