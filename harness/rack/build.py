"""Drivers from the station file: one per declared endpoint, and nothing else.

The only place that turns station entries and credentials into Redfish clients, SNMP clients, SSH
shells and SCPI instrument drivers, so what a rack can reach is exactly what its station file declares.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from harness.clock import Clock
from harness.config.profile import Profile
from harness.config.station import BmcEndpoint, Credentials, PduEndpoint, Station
from harness.drivers.redfish.client import BmcClient
from harness.drivers.snmp.pdu import Pdu, SnmpCredentials
from harness.drivers.ssh.host import GpuWorkload, HostShell
from harness.drivers.visa.ac_source import AcSource
from harness.drivers.visa.daq import ThermocoupleDaq
from harness.drivers.visa.eload import ElectronicLoad
from harness.drivers.visa.link import ScpiLink
from harness.drivers.visa.power_analyzer import PowerAnalyzer
from harness.errors import Refused
from harness.rack.capabilities import Outlet


def make_bmc(ep: BmcEndpoint, station: Station, credentials: Credentials, clock: Clock) -> BmcClient:
    return BmcClient(ep.name, ep.url, credentials.get(ep.credentials, "username"),
                     credentials.get(ep.credentials, "password"), timeout_s=station.timeouts.redfish_s,
                     ca_file=str(station.path(ep.ca_file)) if ep.ca_file else None, clock=clock)


def make_pdu(ep: PduEndpoint, station: Station, credentials: Credentials, clock: Clock) -> Pdu:
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
               timeout_s=station.timeouts.snmp_s, retries=station.timeouts.snmp_retries, clock=clock)


def make_workloads(station: Station, profile: Profile, credentials: Credentials) -> dict[str, GpuWorkload]:
    """A GPU workload driver (DCGM over SSH) per declared tray host."""
    gpu_tdp = {n: g.gpu_tdp_w for g in profile.trays for n in g.names()}
    return {h.name: GpuWorkload(HostShell(h.name, h.host, h.port, credentials.get(h.credentials, "username"),
                                          credentials.get(h.credentials, "password"), host_key=h.host_key,
                                          timeout_s=station.timeouts.redfish_s),
                                gpu_tdp_w=gpu_tdp.get(h.name, 1000.0))
            for h in station.hosts}


def declared_outlets(station: Station) -> list[Outlet]:
    return [Outlet(ep.name, n, feeds) for ep in station.pdus for n, feeds in sorted(ep.outlets.items())]


def check_calibration(station: Station, today: date) -> None:
    """An expired calibration stops a hardware run before it starts (simulated instruments are exempt)."""
    # only a simulated instrument is exempt, not one on a "simulated" station
    problems = [f"instrument {inst.name}: {why}" for inst in station.instruments
                if (why := inst.calibration_problem(today)) is not None]
    if problems:
        raise Refused("; ".join(problems))


@dataclass
class Instruments:
    """The station's bench instruments, by role (the first of each role is used)."""

    links: list[ScpiLink] = field(default_factory=list)
    load: ElectronicLoad | None = None
    meter: PowerAnalyzer | None = None
    daq: ThermocoupleDaq | None = None
    ac_source: AcSource | None = None

    def close(self) -> None:
        for link in self.links:
            link.close()


def connect_instruments(station: Station, profile: Profile) -> Instruments:
    """Open every declared instrument's link and build its role's driver."""
    out = Instruments()
    max_a = next((s.max_current_a for s in profile.instruments.values() if s.role == "eload" and s.max_current_a),
                 None)
    for inst in station.instruments:
        link = ScpiLink(inst.name, inst.resource, timeout_ms=station.timeouts.visa_ms)
        link.open()
        out.links.append(link)
        if inst.role == "eload" and out.load is None:
            out.load = ElectronicLoad(link, dialect=inst.model, max_current_a=max_a or 1000.0)
        elif inst.role == "power_analyzer" and out.meter is None:
            out.meter = PowerAnalyzer(link, dialect=inst.model)
            out.meter.configure()
        elif inst.role == "daq" and out.daq is None:
            spec = next((s for s in profile.instruments.values() if s.role == "daq" and s.channels), None)
            if spec is not None:
                out.daq = ThermocoupleDaq(link, inst.model, channels=spec.channels)
                out.daq.configure()
        elif inst.role == "ac_source" and out.ac_source is None:
            out.ac_source = AcSource(link, inst.model)
    return out
