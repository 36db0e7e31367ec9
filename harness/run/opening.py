"""Where a run's station comes from: an in-process simulated rack (``--sim``), or a station file.

Returns the station, the rack profile, the credentials and the secret values outputs must be scrubbed
of; for a `rackval sim --speed N` station the clock runs N times faster, so plan seconds stay
simulated seconds. A station file with any mistake (``harness.config.station_check``: outlets, feeds,
trays, credentials, calibration) and a plan written for another SKU are refused here, before anything is
connected.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.clock import Clock, RealClock, VirtualClock
from harness.config.plan import LoadedPlan
from harness.config.profile import Profile, load_profile
from harness.config.station import Credentials, Station, load_station, select_rack
from harness.config.station_check import check_station_file
from harness.errors import ConfigError
from harness.run.options import SIM_TLS, RunOptions
from harness.run.resume import PriorRun
from harness.yaml_loader import field_line


@dataclass
class OpenedStation:
    station: Station
    profile: Profile
    credentials: Credentials
    secret_values: list[str]
    clock: Clock
    sim: Any = None  # the SimStation of a --sim run (stopped when the run finishes)


def open_station(opt: RunOptions, plan: LoadedPlan, clock: Clock, prior: PriorRun | None) -> OpenedStation:
    if opt.sim:
        from harness.sim.station import SimStation  # loaded only for simulated runs (servers, twin)

        if prior is not None:  # same simulated wall time line as the first session
            clock = VirtualClock(start_wall=prior.started_at)
        profile = load_profile(opt.profile or plan.plan.profile or "mini")
        sim = SimStation(profile, clock=clock, seed=opt.seed, rack_serial=opt.rack_serial, tls=SIM_TLS)
        opened = OpenedStation(sim.start(), profile, sim.credentials(), sim.secret_values(), clock, sim)
    else:
        if opt.station_path is None:
            raise ConfigError("command line", None, "--station", "give --station FILE or --sim")
        check_station_file(opt.station_path, rack=opt.rack)  # every mistake at once, before anything is touched
        station = select_rack(load_station(opt.station_path), opt.rack, str(opt.station_path))
        if station.speed != 1.0:  # a `rackval sim --speed N` station: plan seconds are simulated seconds
            clock = RealClock(speed=station.speed)
        profile = load_profile(station.profile, Path(station.base_dir))
        credentials = Credentials(station)
        opened = OpenedStation(station, profile, credentials, credentials.values(), clock)
    try:
        if opt.fault:
            opened.sim.apply_fault(opt.fault, resumed=prior is not None)
        if plan.plan.profile and plan.plan.profile != opened.profile.sku:
            raise ConfigError(str(plan.path), field_line(plan.path, "profile"), "profile",
                              f"plan is written for {plan.plan.profile!r} but the station has a "
                              f"{opened.profile.sku!r} rack")
    except BaseException:
        if opened.sim is not None:  # the run never opens: its simulators must not outlive this
            opened.sim.stop()
        raise
    return opened
