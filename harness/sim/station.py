"""SimStation: every simulator of one simulated rack on 127.0.0.1, all reading one RackTwin.

Used in-process by ``rackval run --sim`` (on a VirtualClock) and as a separate process by
``rackval sim`` (real or scaled time), which writes a station file pointing at the endpoints.
Credentials are made fresh for every station and written only to a 0600 secrets file.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path

from harness.clock import Clock
from harness.config.profile import Profile
from harness.config.station import (
    BmcEndpoint,
    Credentials,
    HostEndpoint,
    InstrumentEndpoint,
    PduEndpoint,
    Station,
    Timeouts,
)
from harness.errors import ConfigError
from harness.sim.faults import scenarios as faults
from harness.sim.faults.log import FaultLog
from harness.sim.faults.operator import send_signal
from harness.sim.faults.timer import FaultTimer
from harness.sim.physics import Physics, RackTwin
from harness.sim.redfish.server import RedfishFleet
from harness.sim.snmp.agent import PduAgent, V3User
from harness.sim.ssh.hosts import HostFleet
from harness.sim.station_file import write_station_file
from harness.sim.visa.server import ScpiServer


class SimStation:
    def __init__(self, profile: Profile, *, clock: Clock, seed: int = 0, rack_serial: str = "SIM-0001",
                 host: str = "127.0.0.1", tls: bool = True, physics: Physics | None = None) -> None:
        """``physics``: how the simulated rack behaves; by default the SKU's (``fixtures/physics/<sku>.yaml``,
        else the documented defaults: :func:`harness.sim.physics.params.physics_for`)."""
        self.profile, self.clock, self.host = profile, clock, host
        self.tls = tls  # HTTPS with a CA made for this station; the harness verifies with it
        self.twin = RackTwin(profile, clock, seed=seed, serial=rack_serial, physics=physics)
        self.twin.start_powered()
        self.secrets = {
            "bmc": {"username": "rackval", "password": secrets.token_urlsafe(12)},
            # SNMPv3 authPriv, SHA-256 + AES, a control user for the harness (v2c is opt-in only)
            "pdu": {"user": "rackval-ctl", "auth_key": secrets.token_urlsafe(12), "priv_key": secrets.token_urlsafe(12),
                    "auth_protocol": "SHA256", "priv_protocol": "AES"},
            # a read-only user, for pollers and for showing that it cannot switch anything
            "pdu_ro": {"user": "rackval-ro", "auth_key": secrets.token_urlsafe(12), "priv_key": secrets.token_urlsafe(12),
                       "auth_protocol": "SHA256", "priv_protocol": "AES"},
            "ssh": {"username": "rackval", "password": secrets.token_urlsafe(12)},
        }
        self.fleet: RedfishFleet | None = None
        self.host_fleet: HostFleet | None = None
        self.agents: list[PduAgent] = []
        self.instruments: list[tuple[str, ScpiServer]] = []
        self.station: Station | None = None
        self.timers: list[FaultTimer] = []  # faults that act later (fault scenarios' at_s)

    @property
    def fault_log(self) -> FaultLog:
        """What every injected fault did, when it acted (simulated time)."""
        return self.twin.fault_log

    def start(self) -> Station:
        bmc = self.secrets["bmc"]
        self.fleet = RedfishFleet(self.twin, username=bmc["username"], password=bmc["password"], host=self.host,
                                  tls=self.tls)
        urls = self.fleet.start()
        roles: dict[str, str] = getattr(self.fleet, "roles", {})
        ca_file: str | None = getattr(self.fleet, "ca_file", None)
        bmcs = [BmcEndpoint(name=name, url=url, credentials="bmc", ca_file=ca_file,
                            role=roles.get(name) or ("compute_tray" if self.twin.trays[name].spec.kind == "compute"
                                                     else "switch_tray"))  # type: ignore[arg-type]
                for name, url in urls.items()]
        pdus = []
        for spec in self.profile.pdus:
            users = [V3User(c["user"], c["auth_key"], c["priv_key"], c["auth_protocol"], c["priv_protocol"],
                            write=(name == "pdu")) for name, c in (("pdu", self.secrets["pdu"]),
                                                                    ("pdu_ro", self.secrets["pdu_ro"]))]
            agent = PduAgent(self.twin, spec.name, vendor=spec.vendor, host=self.host,
                             community_ro="ro-" + secrets.token_hex(6), community_rw="rw-" + secrets.token_hex(6),
                             v3_users=users)
            port = agent.start()
            self.agents.append(agent)
            pdus.append(PduEndpoint(name=spec.name, host=self.host, port=port, vendor=spec.vendor, snmp_version="3",
                                    credentials="pdu", outlets=dict(spec.feeds)))
        instruments = []
        for name, spec in self.profile.instruments.items():
            server = ScpiServer(self.twin, role=spec.role, model=spec.model, measures=spec.measures, host=self.host,
                                serial=self.twin.serial_of(name))
            resource = server.start()
            self.instruments.append((name, server))
            instruments.append(InstrumentEndpoint(name=name, role=spec.role, model=spec.model, resource=resource,
                                                  simulated=True))
        ssh = self.secrets["ssh"]
        self.host_fleet = HostFleet(self.twin, username=ssh["username"], password=ssh["password"], host=self.host)
        ssh_ports = self.host_fleet.start()
        hosts = [HostEndpoint(name=tray, host=self.host, port=port, credentials="ssh",
                              host_key=self.host_fleet.host_key_public)
                 for tray, port in ssh_ports.items() if self.twin.trays[tray].spec.gpus]
        speed = getattr(self.clock, "speed", 1.0)
        self.station = Station(station_id=f"sim-{self.profile.sku}", profile=self.profile.sku, simulated=True,
                               speed=speed,
                               bmcs=bmcs, pdus=pdus, instruments=instruments, hosts=hosts, power_on_stagger_s=1.0,
                               timeouts=Timeouts(redfish_s=5.0, snmp_s=1.0, snmp_retries=1, visa_ms=3000))
        return self.station

    def credentials(self) -> Credentials:
        assert self.station is not None, "start() first"
        return Credentials(self.station, self.secrets)

    def secret_values(self) -> list[str]:
        return [v for fields in self.secrets.values() for v in fields.values() if len(v) >= 8]

    def write_station_file(self, path: Path) -> Path:
        """Write the station file and, beside it, its 0600 secrets file; returns the secrets path."""
        assert self.station is not None, "start() first"
        return write_station_file(path, self.station, self.secrets,
                                  header=f"Simulated station for profile {self.profile.sku}, written by `rackval sim`.",
                                  ca_file=self.fleet.ca_file if self.fleet is not None else None)

    def apply_fault(self, name_or_path: str, *, resumed: bool = False) -> None:
        """Inject a fault scenario (``fixtures/faults/NAME.yaml`` or a path); ConfigError if unknown.
        ``resumed``: a resumed run's session (the operator's Ctrl-C of the first session is not repeated)."""
        scenario = faults.load_scenario(name_or_path)
        faults.check_fits(scenario, self.twin, faults.scenario_path(name_or_path), self.profile.sku)
        faults.apply(self, scenario, resumed=resumed)

    def at(self, at_s: float, action: Callable[[], None], name: str) -> None:
        """Run ``action`` (a fault) ``at_s`` simulated seconds from now, on a timer that takes part in the
        run's clock (:mod:`harness.sim.faults.timer`); cancelled when the station stops."""
        timer = FaultTimer(self.clock, at_s, action, name)
        self.timers.append(timer)
        timer.arm()

    def signal(self, action: str) -> None:
        """Send the run's process a signal now (``sigint``: the operator's Ctrl-C; ``sigstop``: a freeze); into
        the fault log."""
        self.fault_log.acted(f"process.{action}", "process", send_signal(self.clock, action))

    def fault_hook(self, target: str, device: str | None):  # type: ignore[no-untyped-def]
        """The ``inject(fault, **params)`` of one simulator: a BMC listener, a PDU agent, an instrument."""
        if target == "redfish" and self.fleet is not None and hasattr(self.fleet, "inject"):
            return lambda fault, **kw: self.fleet.inject(device, fault, **kw)  # type: ignore[union-attr]
        if target == "snmp":
            for agent in self.agents:
                if agent.pdu == device:
                    def snmp_fault(fault: str, agent: PduAgent = agent, **kw: object) -> None:
                        if fault == "restart":
                            agent.restart()
                        elif fault in ("loss", "delay"):
                            agent.set_faults(**kw)  # type: ignore[arg-type]
                        elif fault == "wire":
                            agent.set_wire(**kw)
                        else:
                            raise ConfigError("fault", None, f"snmp:{device}", f"unknown SNMP fault {fault!r}")
                    return snmp_fault
        if target == "scpi":
            for name, server in self.instruments:
                if name == device and hasattr(server, "inject"):
                    return server.inject
        raise ConfigError("fault", None, f"{target}:{device}", "no such simulated device, or it takes no faults")

    def stop(self) -> None:
        for timer in self.timers:
            timer.cancel()
        if self.host_fleet is not None:
            self.host_fleet.stop()
        for _, server in self.instruments:
            server.stop()
        for agent in self.agents:
            agent.stop()
        if self.fleet is not None:
            self.fleet.stop()
