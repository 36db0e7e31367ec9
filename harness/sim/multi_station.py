"""A simulated multi-rack station: one SimStation per rack plus instruments the racks share.

Writes the kind of station file ``rackval run --all-racks`` reads: each rack's BMCs, PDUs, hosts and own
instruments under ``racks``, the shared instruments at the station level. Each rack has its own twin,
serial and credentials (credential sets are prefixed with the rack name in the one secrets file).

A shared instrument is served against the first rack's twin: in a real station it would be wired to
whichever rack holds it; here it is the SCPI conversation (identify, configure, switch, read back) and its
lock that matter, not what it measures.
"""

from __future__ import annotations

from pathlib import Path

from harness.clock import Clock
from harness.config.profile import Profile
from harness.config.station import InstrumentEndpoint, RackWiring, Station
from harness.sim.physics import Physics
from harness.sim.station import SimStation
from harness.sim.station_file import write_station_file
from harness.sim.visa.server import ScpiServer

SHARED_DEFAULT = {"bench_ac": ("ac_source", "chroma61800")}  # a bench AC source the line shares


class SimMultiStation:
    def __init__(self, profile: Profile, serials: list[str], *, clock: Clock, seed: int = 0,
                 shared: dict[str, tuple[str, str]] | None = None, physics: Physics | None = None) -> None:
        self.profile, self.clock = profile, clock
        self.names = [f"rack{chr(ord('A') + i)}" for i in range(len(serials))]
        self.racks = {name: SimStation(profile, clock=clock, seed=seed + i, rack_serial=serial, physics=physics)
                      for i, (name, serial) in enumerate(zip(self.names, serials, strict=True))}
        self.shared_spec = SHARED_DEFAULT if shared is None else shared
        self.shared: list[tuple[str, ScpiServer]] = []
        self.station: Station | None = None

    def start(self) -> Station:
        wirings = []
        for name, sim in self.racks.items():
            st = sim.start()

            def cred(ep, name=name):  # type: ignore[no-untyped-def]
                return ep.model_copy(update={"credentials": f"{name}-{ep.credentials}"})
            wirings.append(RackWiring(name=name, serial=sim.twin.serial, bmcs=[cred(b) for b in st.bmcs],
                                      pdus=[cred(p) for p in st.pdus], hosts=[cred(h) for h in st.hosts],
                                      instruments=list(st.instruments)))
        first = self.racks[self.names[0]]
        instruments = []
        for name, (role, model) in self.shared_spec.items():
            server = ScpiServer(first.twin, role=role, model=model, serial=f"{name.upper()}-0001")  # type: ignore[arg-type]
            self.shared.append((name, server))
            instruments.append(InstrumentEndpoint(name=name, role=role, model=model,  # type: ignore[arg-type]
                                                  resource=server.start(), simulated=True))
        base = first.station
        assert base is not None
        self.station = Station(station_id=f"sim-line-{self.profile.sku}", profile=self.profile.sku, simulated=True,
                               speed=base.speed, power_on_stagger_s=base.power_on_stagger_s, timeouts=base.timeouts,
                               instruments=instruments, racks=wirings)
        return self.station

    def secrets(self) -> dict[str, dict[str, str]]:
        return {f"{name}-{cred}": dict(fields) for name, sim in self.racks.items() for cred, fields in sim.secrets.items()}

    def write_station_file(self, path: Path) -> Path:
        """The station file and its 0600 secrets file beside it; returns the secrets path."""
        assert self.station is not None, "start() first"
        return write_station_file(path, self.station, self.secrets(),
                                  header=f"Simulated {len(self.racks)}-rack station ({self.profile.sku}).")

    def stop(self) -> None:
        for _, server in self.shared:
            server.stop()
        for sim in self.racks.values():
            sim.stop()
