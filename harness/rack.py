"""Rack: one object for the whole rack under test, built from the station file and the profile.

It owns one driver per declared endpoint (a Redfish client per BMC, an SNMP client per PDU, a SCPI
link per instrument), refuses to act on anything the station file does not declare, runs rack-wide
reads concurrently, and registers every way the rack can be energized or loaded with the safety
registry so :meth:`Rack.safe_state` can undo it and prove it by reading back.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from typing import TypeVar

from harness.clock import Clock, Deadline, run_parallel
from harness.config.plan import SafeState
from harness.config.profile import Profile
from harness.config.station import BmcEndpoint, Credentials, InstrumentEndpoint, PduEndpoint, Station
from harness.drivers.redfish import equipment
from harness.drivers.redfish.client import BmcClient, SensorReading
from harness.drivers.snmp.pdu import Pdu, SnmpCredentials
from harness.drivers.ssh.host import GpuWorkload, HostShell
from harness.drivers.visa.ac_source import AcSource
from harness.drivers.visa.daq import ThermocoupleDaq
from harness.drivers.visa.eload import ElectronicLoad
from harness.drivers.visa.link import ScpiLink
from harness.drivers.visa.power_analyzer import PowerAnalyzer
from harness.errors import DriverError, HostUnreachable, PowerActionUncertain, Refused, TransientDriverError
from harness.safety import PHASE_S, SafeAction, SafeStateReport, SafetyRegistry

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_PARALLEL = 16


@dataclass(frozen=True)
class Outlet:
    """A declared PDU outlet and what it feeds (e.g. shelf1.psu3)."""

    pdu: str
    number: int
    feeds: str

    @property
    def label(self) -> str:
        return f"{self.pdu}/outlet{self.number}"


@dataclass(frozen=True)
class InventoryItem:
    """One device found in the rack (inventory step)."""

    name: str
    kind: str  # compute_tray | switch_tray | power_shelf | psu | gpu | cdu
    serial: str
    firmware: str
    part_number: str
    health: str | None


@dataclass(frozen=True)
class DeviceIdentity:
    """What traceability records for one device."""

    name: str
    kind: str
    model: str = ""
    serial: str = ""
    firmware: str = ""
    manufacturer: str = ""
    part_number: str = ""
    calibration_due: str = ""
    uri: str = ""


class Rack:
    def __init__(self, station: Station, profile: Profile, credentials: Credentials, clock: Clock,
                 *, policy: SafeState | None = None) -> None:
        self.station, self.profile, self.clock = station, profile, clock
        self._credentials = credentials
        self.policy = policy or SafeState()
        self.bmcs: dict[str, BmcClient] = {ep.name: self._make_bmc(ep) for ep in station.bmcs}
        self.roles: dict[str, str] = {ep.name: ep.role for ep in station.bmcs}
        self._bmc_locks = {name: threading.Lock() for name in self.bmcs}
        self._pool: ThreadPoolExecutor | None = None
        self.pdus: dict[str, Pdu] = {ep.name: self._make_pdu(ep, credentials) for ep in station.pdus}
        self.outlets = [Outlet(ep.name, n, feeds) for ep in station.pdus for n, feeds in sorted(ep.outlets.items())]
        self._links: list[ScpiLink] = []
        self.eload: ElectronicLoad | None = None
        self.analyzer: PowerAnalyzer | None = None
        self.daq: ThermocoupleDaq | None = None
        self.ac_source: AcSource | None = None
        self.instruments: dict[str, InstrumentEndpoint] = {i.name: i for i in station.instruments}
        self.analyzer_measures = next((s.measures for s in profile.instruments.values()
                                       if s.role == "power_analyzer" and s.measures), None)
        self.workloads_started = False
        gpu_tdp = {n: g.gpu_tdp_w for g in profile.trays for n in g.names()}
        self.workloads: dict[str, GpuWorkload] = {
            h.name: GpuWorkload(HostShell(h.name, h.host, h.port, credentials.get(h.credentials, "username"),
                                          credentials.get(h.credentials, "password"), host_key=h.host_key,
                                          timeout_s=station.timeouts.redfish_s),
                                gpu_tdp_w=gpu_tdp.get(h.name, 1000.0))
            for h in station.hosts}
        self.safety = SafetyRegistry()
        self.safe_state_s = PHASE_S  # run-clock bound of the whole safe state
        self.safe_state_wall_s: float | None = None  # wall ceiling (None: from the clock, safety.wall_ceiling)
        self._register_safe_actions()

    # ------------------------------------------------------------------ construction
    def _make_bmc(self, ep: BmcEndpoint) -> BmcClient:
        creds = self._credentials
        return BmcClient(ep.name, ep.url, creds.get(ep.credentials, "username"), creds.get(ep.credentials, "password"),
                         timeout_s=self.station.timeouts.redfish_s,
                         ca_file=str(self.station.path(ep.ca_file)) if ep.ca_file else None, clock=self.clock)

    def telemetry_view(self) -> Rack:
        """The same rack through drivers of its own, for the telemetry sampler.

        Its own Redfish sessions and SNMP clients, so a sampler read (or its retry back-off) never
        waits on, or holds up, a step's command to the same device; the instrument links are shared
        (their locks cover one exchange, never a wait). It registers no safe actions.
        """
        view = Rack.__new__(Rack)
        view.__dict__.update(self.__dict__)
        view.bmcs = {ep.name: self._make_bmc(ep) for ep in self.station.bmcs}
        view._bmc_locks = {name: threading.Lock() for name in view.bmcs}
        view.pdus = {ep.name: self._make_pdu(ep, self._credentials) for ep in self.station.pdus}
        view.workloads = {}
        view.safety = SafetyRegistry()
        view._links = []  # closing the view must not close the shared links
        view._pool = None
        return view

    def _make_pdu(self, ep: PduEndpoint, credentials: Credentials) -> Pdu:
        if ep.snmp_version == "2c":
            creds = SnmpCredentials(version="2c", community=credentials.get(ep.credentials, "community"))
        else:
            creds = SnmpCredentials(
                version="3", user=credentials.get(ep.credentials, "user"),
                auth_key=credentials.get(ep.credentials, "auth_key"),
                priv_key=credentials.get(ep.credentials, "priv_key"),
                auth_protocol=credentials.get(ep.credentials, "auth_protocol"),
                priv_protocol=credentials.get(ep.credentials, "priv_protocol"))
        return Pdu(ep.name, ep.host, ep.port, vendor=ep.vendor, credentials=creds,
                   timeout_s=self.station.timeouts.snmp_s, retries=self.station.timeouts.snmp_retries,
                   clock=self.clock)

    def check_calibration(self, today: date) -> None:
        """An expired calibration stops a hardware run before it starts (simulated ones are exempt)."""
        problems = []
        for inst in self.station.instruments:
            if inst.simulated:  # only a simulated instrument is exempt, not one on a "simulated" station
                continue
            if inst.calibration_due is None:
                problems.append(f"instrument {inst.name}: no calibration_due date in the station file")
            elif inst.calibration_due < today:
                problems.append(f"instrument {inst.name}: calibration expired on {inst.calibration_due}")
        if problems:
            raise Refused("; ".join(problems))

    def connect(self) -> None:
        """Open the instrument links (the BMCs log in on first use, they may still be booting)."""
        max_a = next((s.max_current_a for s in self.profile.instruments.values()
                      if s.role == "eload" and s.max_current_a), None)
        for inst in self.station.instruments:
            link = ScpiLink(inst.name, inst.resource, timeout_ms=self.station.timeouts.visa_ms)
            link.open()
            self._links.append(link)
            if inst.role == "eload" and self.eload is None:
                self.eload = ElectronicLoad(link, dialect=inst.model, max_current_a=max_a or 1000.0)
            elif inst.role == "power_analyzer" and self.analyzer is None:
                self.analyzer = PowerAnalyzer(link, dialect=inst.model)
                self.analyzer.configure()
            elif inst.role == "daq" and self.daq is None:
                spec = next((s for s in self.profile.instruments.values() if s.role == "daq" and s.channels), None)
                if spec is not None:
                    self.daq = ThermocoupleDaq(link, inst.model, channels=spec.channels)
                    self.daq.configure()
            elif inst.role == "ac_source" and self.ac_source is None:
                self.ac_source = AcSource(link, inst.model)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        for client in self.bmcs.values():
            client.logout()
        for pdu in self.pdus.values():
            pdu.close()
        for link in self._links:
            link.close()
        for workload in self.workloads.values():
            workload.shell.close()

    # ------------------------------------------------------------------ helpers
    @property
    def analyzer_covers_rack(self) -> bool:
        """True when the power analyzer sits on the only PDU inlet: then it is the rack's AC power."""
        return self.analyzer is not None and len(self.pdus) == 1 and self.analyzer_measures in self.pdus

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
        client = self._declared_bmc(name)
        lock = self._bmc_locks[name]
        if not lock.acquire(blocking=False):
            # the holder may be sleeping on the clock (a retry back-off): waiting here without
            # stepping aside would freeze simulated time for everyone
            with self.clock.idle():
                lock.acquire()
        try:
            return fn(client)
        finally:
            lock.release()

    def each_bmc(self, fn: Callable[[BmcClient], T], names: list[str]) -> dict[str, T]:
        """``fn`` on every named BMC concurrently, each client used by one thread at a time."""
        return self.parallel(lambda n: self.bmc(n, fn), names)

    def _declared_outlet(self, pdu: str, number: int) -> Outlet:
        for outlet in self.outlets:
            if outlet.pdu == pdu and outlet.number == number:
                return outlet
        raise Refused(f"{pdu} outlet {number} is not declared in the station file; refusing to switch it")

    def _declared_bmc(self, name: str) -> BmcClient:
        if name not in self.bmcs:
            raise Refused(f"BMC {name!r} is not declared in the station file; refusing to act on it")
        return self.bmcs[name]

    # ------------------------------------------------------------------ AC power (PDU outlets)
    def set_outlet(self, pdu: str, number: int, on: bool) -> None:
        self._declared_outlet(pdu, number)
        self.pdus[pdu].set_outlet(number, on)

    def outlets_state(self) -> dict[Outlet, bool]:
        out: dict[Outlet, bool] = {}
        for name, pdu in self.pdus.items():
            mine = [o for o in self.outlets if o.pdu == name]
            states = pdu.outlets_state([o.number for o in mine])
            out.update({o: states[o.number] for o in mine})
        return out

    def feeds_off(self) -> None:
        """Every declared feed off, each confirmed by reading back (all are tried; failures reported together)."""
        self._switch_all(self.outlets, False, 0.0)

    def feeds_on(self, stagger_s: float | None = None) -> None:
        """Sequenced power-on: one outlet at a time with the station's stagger (limits inrush). An outlet
        that will not switch does not stop the others (a dark rack is worse); its error is raised after."""
        stagger = self.station.power_on_stagger_s if stagger_s is None else stagger_s
        self._switch_all(self.outlets, True, stagger)

    def _switch_all(self, outlets: list[Outlet], on: bool, stagger: float) -> None:
        errors: list[DriverError] = []
        for i, outlet in enumerate(outlets):
            if i and stagger:
                self.clock.sleep(stagger)
            try:
                self.pdus[outlet.pdu].set_outlet(outlet.number, on)
            except DriverError as exc:
                log.error("%s: %s", outlet.label, exc)
                errors.append(exc)
        if errors:
            first = errors[0]
            more = f" (and {len(errors) - 1} more outlet(s))" if len(errors) > 1 else ""
            raise type(first)(first.device, first.request, f"{first.problem}{more}")

    # ------------------------------------------------------------------ BMCs and hosts
    def _safe_state_time_up(self) -> bool:
        """In the safe state, waits end when its budget does (harness.safety: a dead device must not hang it)."""
        budget = self.safety.current
        return budget is not None and budget.expired()

    def bmcs_up(self, names: list[str] | None = None) -> dict[str, bool]:
        return self.each_bmc(lambda c: c.is_up(), names or list(self.bmcs))

    def wait_bmcs_up(self, since: float, timeout_s: float, poll_s: float,
                     names: list[str] | None = None) -> dict[str, float | None]:
        """Seconds from ``since`` until each BMC answered (None if it never did before the deadline)."""
        pending = list(names or self.bmcs)
        result: dict[str, float | None] = {}
        deadline = Deadline.after(self.clock, timeout_s)
        while pending:
            up = self.bmcs_up(pending)
            now = self.clock.now()
            for name, ok in up.items():
                if ok:
                    result[name] = now - since
            pending = [n for n in pending if n not in result]
            if not pending or deadline.expired() or self._safe_state_time_up():
                break
            self.clock.sleep(min(poll_s, max(deadline.remaining(), 0.001)))
        result.update({n: None for n in pending})
        return result

    def power_states(self, names: list[str] | None = None) -> dict[str, str]:
        """Host PowerState per tray; 'Unreachable' when the BMC does not answer."""
        def read(name: str) -> str:
            try:
                return self.bmc(name, lambda c: c.power_state())
            except TransientDriverError:
                return "Unreachable"
        return self.parallel(read, names or self.trays)

    def wait_hosts(self, target: str, since: float, timeout_s: float, poll_s: float,
                   names: list[str] | None = None) -> dict[str, float | None]:
        """Seconds from ``since`` until each host reports ``target`` (None if not by the deadline)."""
        pending = list(names or self.trays)
        result: dict[str, float | None] = {}
        deadline = Deadline.after(self.clock, timeout_s)
        while pending:
            states = self.power_states(pending)
            now = self.clock.now()
            result.update({n: now - since for n, s in states.items() if s == target})
            pending = [n for n in pending if n not in result]
            if not pending or deadline.expired() or self._safe_state_time_up():
                break
            self.clock.sleep(min(poll_s, max(deadline.remaining(), 0.001)))
        result.update({n: None for n in pending})
        return result

    def wait_boot(self, since: float, bmc_timeout_s: float, host_timeout_s: float,
                  poll_s: float) -> dict[str, tuple[float | None, float | None]]:
        """After AC on: per tray, seconds from ``since`` to its BMC answering and to its host On.

        One polling loop for every tray, so each tray's times are its own (not the slowest BMC's).
        """
        bmc_s: dict[str, float] = {}
        host_s: dict[str, float] = {}
        bmc_deadline = since + bmc_timeout_s
        host_deadline = since + host_timeout_s
        while True:
            now = self.clock.now()
            waiting_bmc = [t for t in self.trays if t not in bmc_s] if now <= bmc_deadline else []
            waiting_host = [t for t in bmc_s if t not in host_s] if now <= host_deadline else []
            if not waiting_bmc and not waiting_host:
                break
            for tray, up in (self.bmcs_up(waiting_bmc) if waiting_bmc else {}).items():
                if up:
                    bmc_s[tray] = now - since
                    waiting_host.append(tray)
            for tray, state in (self.power_states(waiting_host) if waiting_host else {}).items():
                if state == "On":
                    host_s[tray] = now - since
            self.clock.sleep(poll_s)
        return {t: (bmc_s.get(t), host_s.get(t)) for t in self.trays}

    def reset(self, tray: str, reset_type: str) -> bool:
        """Send one Reset. Returns False when the outcome is uncertain (the caller reads back)."""
        try:
            self.bmc(tray, lambda c: c.reset(reset_type))
            return True
        except PowerActionUncertain as exc:
            log.warning("%s: reset %s uncertain (%s); reading back, not re-sending", tray, reset_type, exc)
            return False

    # ------------------------------------------------------------------ telemetry reads
    def tray_powers_w(self) -> dict[str, float]:
        return self.each_bmc(lambda c: c.power_watts(), self.trays)

    def tray_sensors(self) -> dict[str, list[SensorReading]]:
        return self.each_bmc(lambda c: c.sensors(), self.trays)

    def phase_imbalance_pct(self) -> dict[str, float]:
        """Per PDU: (max - min) / mean of its phase currents, in % (0 for a single phase)."""
        out: dict[str, float] = {}
        for name, pdu in self.pdus.items():
            amps = list(pdu.phase_currents_a().values())
            mean = sum(amps) / len(amps) if amps else 0.0
            out[name] = 100.0 * (max(amps) - min(amps)) / mean if len(amps) > 1 and mean > 0 else 0.0
        return out

    def outlet_for(self, feeds: str) -> Outlet:
        """The declared outlet feeding a PSU (e.g. shelf1.psu3)."""
        for outlet in self.outlets:
            if outlet.feeds == feeds:
                return outlet
        raise Refused(f"no outlet in the station file feeds {feeds}")

    def outlet_powers_w(self) -> dict[Outlet, float]:
        out: dict[Outlet, float] = {}
        for name, pdu in self.pdus.items():
            mine = [o for o in self.outlets if o.pdu == name]
            watts = pdu.outlets_power_w([o.number for o in mine])
            out.update({o: watts[o.number] for o in mine})
        return out

    # ------------------------------------------------------------------ rack manager (shelves, CDU, rack serial)
    @property
    def rack_manager(self) -> str | None:
        return next((n for n, r in self.roles.items() if r == "rack_manager"), None)

    def rack_serial(self) -> str | None:
        """The Rack chassis SerialNumber from the rack manager; None if the station has none."""
        mgr = self.rack_manager
        return self.bmc(mgr, equipment.rack_serial) if mgr else None

    def inventory(self) -> list[InventoryItem]:
        """Every device the station can see: trays, GPUs, power shelves, PSUs, CDU, with serial,
        firmware and health."""
        items: list[InventoryItem] = []
        for ident in self.identities():
            if ident.kind in ("compute_tray", "switch_tray"):
                items.append(InventoryItem(ident.name, ident.kind, ident.serial, ident.firmware, ident.part_number, None))
        for tray, found in self.each_bmc(equipment.inventory, self.trays).items():
            items += [InventoryItem(f"{tray}/{i.name}", "gpu", i.serial or "", i.firmware or "", i.part_number or "", None)
                      for i in found if i.kind == "gpu"]
        mgr = self.rack_manager
        if mgr is not None:
            found = {i.uri: i for i in self.bmc(mgr, equipment.inventory)}
            for shelf in self.bmc(mgr, equipment.power_shelves):
                sid = shelf.uri.rsplit("/", 1)[-1]
                items.append(InventoryItem(sid, "power_shelf", "", "", "", shelf.health))
                for psu in shelf.psus:
                    inv = found.get(psu.uri)
                    items.append(InventoryItem(_psu_name(sid, psu.uri), "psu", (inv.serial if inv else None) or "",
                                               (inv.firmware if inv else None) or "", (inv.part_number if inv else None)
                                               or "", psu.health))
            cdu = self.bmc(mgr, equipment.cdu_status)
            if cdu is not None:
                items.append(InventoryItem(cdu.uri.rsplit("/", 1)[-1], "cdu", "", "", "", cdu.health))
        return items

    def leak_states(self) -> dict[str, str]:
        """Leak detector -> OK | Warning | Critical | Unavailable, for every detector the station reads."""
        mgr = self.rack_manager
        cdu = self.bmc(mgr, equipment.cdu_status) if mgr else None
        return {name: state or "Unavailable" for name, state in cdu.leaks.items()} if cdu else {}

    def set_power_limit(self, tray: str, watts: float | None) -> None:
        """Cap a tray's power (Redfish PowerLimitWatts, read back); None removes the cap."""
        self.bmc(tray, lambda c: c.set_power_limit(watts))

    # ------------------------------------------------------------------ power shelves
    def has_shelf_telemetry(self) -> bool:
        """Whether the station reads the power shelves themselves (Redfish PowerEquipment)."""
        return self.rack_manager is not None

    def _shelves(self) -> list[equipment.ShelfReading]:
        mgr = self.rack_manager
        if mgr is None:
            raise Refused("this station has no power-shelf telemetry")
        return self.bmc(mgr, equipment.power_shelves)

    def shelf_output_w(self) -> dict[str, float]:
        """DC output of each power shelf (sum of its PSUs)."""
        return {s.uri.rsplit("/", 1)[-1]: sum(p.output_w or 0.0 for p in s.psus) for s in self._shelves()}

    def shelf_redundancy(self, shelf: str) -> bool | None:
        """True when every PSU of the shelf is healthy with normal input (redundancy intact)."""
        for s in self._shelves():
            if s.uri.rsplit("/", 1)[-1] == shelf:
                return all(p.health == "OK" and p.line_input in (None, "Normal") for p in s.psus)
        return None

    # ------------------------------------------------------------------ cooling
    def has_cooling(self) -> bool:
        """Whether the station can read the coolant loop (a CDU over Redfish, or thermocouples)."""
        return self._coolant_reader() is not None

    def coolant(self) -> dict[str, float | None]:
        """Coolant supply/return temperature (Cel) and flow (L/min); None where not measured."""
        reader = self._coolant_reader()
        if reader is None:
            raise Refused("this station has no coolant instrumentation (no CDU endpoint, no thermocouple DAQ)")
        return reader()

    def _coolant_reader(self) -> Callable[[], dict[str, float | None]] | None:
        mgr = self.rack_manager
        if mgr is not None and self.profile.cdu is not None:
            def from_cdu() -> dict[str, float | None]:
                cdu = self.bmc(mgr, equipment.cdu_status)
                if cdu is None:
                    raise Refused(f"{mgr} reports no CDU")
                return {"supply_c": cdu.supply_c, "return_c": cdu.return_c, "flow_lpm": cdu.flow_lpm}
            return from_cdu
        if self.daq is not None:
            daq = self.daq

            def from_thermocouples() -> dict[str, float | None]:
                points = daq.read()
                return {"supply_c": points.get("coolant_supply"), "return_c": points.get("coolant_return"),
                        "flow_lpm": None}
            return from_thermocouples
        return None

    # ------------------------------------------------------------------ identity
    def _pdu_identity(self, name: str, pdu: Pdu) -> dict[str, str]:
        """A read, so asked twice; a PDU that still does not answer is recorded as unreachable at start,
        as a BMC is (the step that needs it fails on it), rather than refusing the whole run."""
        for attempt in (1, 2):
            try:
                return pdu.identity()
            except TransientDriverError as exc:
                if attempt == 1:
                    log.warning("%s: identity not answered (%s); asking again", name, exc)
                else:
                    log.error("%s: identity not readable: %s", name, exc)
        return {"model": "unreachable at start"}

    def identities(self) -> list[DeviceIdentity]:
        out: list[DeviceIdentity] = []
        def ident(c: BmcClient) -> dict[str, str]:
            try:
                return c.identity()
            except TransientDriverError as exc:  # recorded as such; the step that needs the BMC will fail on it
                log.error("%s: identity not readable: %s", c.name, exc)
                return {"model": "unreachable at start"}
        ids = self.each_bmc(ident, list(self.bmcs))
        for name, ident in ids.items():
            out.append(DeviceIdentity(name, self.roles[name], ident.get("model", ""), ident.get("serial_number", ""),
                                      ident.get("firmware_version", ""), ident.get("manufacturer", ""),
                                      ident.get("part_number", ""), uri=ident.get("chassis_uri", "")))
        for name, pdu in self.pdus.items():
            ident = self._pdu_identity(name, pdu)
            out.append(DeviceIdentity(name, "pdu", ident.get("model", ""), ident.get("serial", ""),
                                      ident.get("firmware", "")))
        for link in self._links:
            inst = self.instruments[link.name]
            parts = [p.strip() for p in (link.idn or "").split(",")] + ["", "", "", ""]
            out.append(DeviceIdentity(link.name, inst.role, parts[1], parts[2], parts[3], parts[0],
                                      calibration_due=str(inst.calibration_due or ("simulated" if inst.simulated
                                                                                   else ""))))
        return out

    # ------------------------------------------------------------------ safe state
    def _register_safe_actions(self) -> None:
        policy = self.policy
        self.safety.register(SafeAction("loads off", self._loads_off, self._loads_readback, order=0))
        if policy.outlets == "on":
            self.safety.register(SafeAction("outlets on", lambda: self._outlets_to(True),
                                            lambda: self._outlets_readback(True), order=1))
        if policy.hosts != "unchanged" and policy.outlets == "on":
            target = "On" if policy.hosts == "on" else "Off"
            self.safety.register(SafeAction(f"hosts {target}", lambda: self._hosts_to(target),
                                            lambda: self._hosts_readback(target), order=2))
        if policy.outlets == "off":
            self.safety.register(SafeAction("outlets off", lambda: self._outlets_to(False),
                                            lambda: self._outlets_readback(False), order=3))

    def _loads_off(self) -> None:
        if self.eload is not None:
            self.eload.input_off()
        if self.ac_source is not None:
            self.ac_source.output_off()

    def _loads_readback(self) -> str | None:
        problems = []
        if self.eload is not None:
            if self.eload.input_enabled:
                problems.append("electronic load input still on")
            else:
                _, amps, _ = self.eload.measure()
                if amps >= 0.5:
                    problems.append(f"electronic load still draws {amps:.2f} A")
        if self.ac_source is not None and self.ac_source.output_enabled:
            problems.append("AC source output still on")
        return "; ".join(problems) or None

    def workload_starting(self) -> None:
        """A GPU workload is about to run: from now on the safe state must stop it (and prove it)."""
        if not self.workloads_started:
            self.workloads_started = True
            self.safety.register(SafeAction("workloads stopped", self._workloads_off, self._workloads_readback,
                                            order=0))

    def _workloads_off(self) -> None:
        def stop(tray: str) -> None:
            try:
                self.workloads[tray].stop()
            except HostUnreachable:
                pass  # no OS, no workload: the readback checks the host is really off
        self.parallel(stop, list(self.workloads))

    def _workloads_readback(self) -> str | None:
        def check(tray: str) -> str | None:
            w = self.workloads[tray]
            try:
                per_gpu = w.gpu_power_w()
            except HostUnreachable:
                state = self.power_states([tray])[tray]
                if state in ("Off", "PoweringOff"):
                    return None
                boot = self.bmc(tray, lambda c: c.boot_progress()) if state == "On" else None
                if boot is not None and boot != "OSRunning":
                    return None  # the host OS is not up (booting): no workload can be running
                return f"{tray}: host {state}, OS {boot or 'state unknown'}, but SSH does not answer"
            busy = [p for p in per_gpu if p > 0.3 * w.gpu_tdp_w]
            return f"{tray}: GPUs still at {max(busy):.0f} W" if busy else None
        problems = [p for p in self.parallel(check, list(self.workloads)).values() if p]
        return "; ".join(problems) or None

    def _outlets_to(self, on: bool) -> None:
        states = self.outlets_state()
        # only what differs (never re-send a power action blindly); every outlet is tried
        self._switch_all([o for o, state in states.items() if state != on], on, 0.0)

    def _outlets_readback(self, on: bool) -> str | None:
        wrong = [o.label for o, s in self.outlets_state().items() if s != on]
        return f"{', '.join(wrong)} not {'on' if on else 'off'}" if wrong else None

    def _hosts_to(self, target: str, timeout_s: float = 600.0) -> None:
        """Hosts to ``target``: the reachable ones at once, then the ones whose BMC is still booting (after
        an AC cycle) as they come up; a BMC that never answers does not hold up the others."""
        budget = self.safety.current
        if budget is not None:
            timeout_s = min(timeout_s, budget.remaining())
        since = self.clock.now()
        up = self.bmcs_up(self.trays)
        self._switch_hosts(target, [n for n, ok in up.items() if ok])
        down = [n for n, ok in up.items() if not ok]
        answering = [n for n, ok in up.items() if ok]
        if down:
            came = [n for n, t in self.wait_bmcs_up(since, timeout_s, 5.0, names=down).items() if t is not None]
            self._switch_hosts(target, came)
            answering += came
        if answering:  # the readback reports the BMCs that never answered
            self.wait_hosts(target, since, max(0.0, timeout_s - (self.clock.now() - since)), 2.0, names=answering)

    def _switch_hosts(self, target: str, names: list[str]) -> None:
        """One Reset to each named host that is not at (or settling to) ``target``; never re-sent blindly."""
        if not names:
            return
        states = self.power_states(names)
        settling = ("PoweringOn",) if target == "On" else ("PoweringOff",)
        todo = [n for n, s in states.items() if s not in (target, "Unreachable") and s not in settling]
        if target == "Off":
            todo += [n for n, s in states.items() if s == "PoweringOn"]
        for name in todo:
            self.reset(name, "On" if target == "On" else "ForceOff")

    def _hosts_readback(self, target: str) -> str | None:
        wrong = {n: s for n, s in self.power_states().items() if s != target}
        return ", ".join(f"{n} is {s}" for n, s in sorted(wrong.items())) or None

    def safe_state(self) -> SafeStateReport:
        """Run every registered safe action and its readback, each bounded (``safe_state_s`` on the run's
        clock for the whole phase, ``safe_state_wall_s`` of wall time; see harness.safety); never raises."""
        report = self.safety.run(self.clock, phase_s=self.safe_state_s, wall_s=self.safe_state_wall_s)
        for o in report.outcomes:
            (log.info if o.ok else log.error)("safe state: %s: %s", o.name, o.detail)
        return report


def _psu_name(shelf: str, uri: str) -> str:
    """PSU name as the station's outlet map writes it (shelf1.psu3) from its Redfish Id (shelf1_psu3 or psu3)."""
    last = uri.rsplit("/", 1)[-1]
    return last.replace("_", ".") if last.startswith(shelf) else f"{shelf}.{last}"
