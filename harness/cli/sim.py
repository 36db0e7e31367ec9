"""`rackval sim`: a whole simulated station on 127.0.0.1, served until Ctrl-C, with its station file."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Annotated

import typer

from harness.cli.app import EXIT_BAD_INPUT, app, console, print_error
from harness.cli.choices import completer, listed, profile_names
from harness.clock import RealClock
from harness.config.profile import load_profile
from harness.errors import ConfigError


@app.command()
def sim(
    profile: Annotated[str, typer.Option("--profile", metavar="SKU", autocompletion=completer(profile_names),
                                         help=listed("rack profile", profile_names))] = "mini",
    station_out: Annotated[Path, typer.Option("--station-out", metavar="FILE",
                                              help="where to write the station file")] = Path("sim-station.yaml"),
    speed: Annotated[float, typer.Option("--speed", help="simulated seconds per real second")] = 1.0,
    seed: Annotated[int, typer.Option("--seed", help="seed of the simulated rack's noise and delays")] = 0,
    rack_serial: Annotated[str, typer.Option("--rack-serial", metavar="SERIAL",
                                             help="the simulated rack's serial")] = "SIM-0001",
) -> None:
    """Serve a simulated station on 127.0.0.1 until Ctrl-C, and write a station file for it."""
    from harness.sim.station import SimStation  # the simulators load only when one is served

    try:
        prof = load_profile(profile)
        station = SimStation(prof, clock=RealClock(speed=speed), seed=seed, rack_serial=rack_serial)  # and its physics
    except ConfigError as exc:
        print_error(str(exc))
        raise typer.Exit(EXIT_BAD_INPUT) from None
    st = station.start()
    secrets_path = station.write_station_file(station_out)
    console.print(f"simulated {prof.sku} station at speed x{speed:g}: {len(st.bmcs)} BMCs, {len(st.pdus)} PDUs, "
                  f"{len(st.instruments)} instruments")
    for bmc in st.bmcs:
        console.print(f"  redfish {bmc.name:<10} {bmc.url}")
    for pdu in st.pdus:
        console.print(f"  snmp    {pdu.name:<10} {pdu.host}:{pdu.port} ({pdu.vendor})")
    for inst in st.instruments:
        console.print(f"  visa    {inst.name:<10} {inst.resource} ({inst.model})")
    console.print(f"station file: {station_out}  (credentials in {secrets_path}, mode 0600)\nCtrl-C to stop.")
    sys.stdout.flush()
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        console.print("stopping")
    finally:
        station.stop()
