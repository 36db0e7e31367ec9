"""`rackval sim`: a whole simulated station on 127.0.0.1, served until Ctrl-C, with its station file."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from harness.cli.app import EXIT_BAD_INPUT, app, console, print_error
from harness.cli.choices import completer, listed, profile_names
from harness.clock import RealClock
from harness.config.profile import load_profile
from harness.errors import ConfigError

if TYPE_CHECKING:
    from harness.sim.station import SimStation


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
    except ConfigError as exc:
        print_error(str(exc))
        raise typer.Exit(EXIT_BAD_INPUT) from None
    # Ctrl-C (or SIGTERM) stops the station whenever it comes, also while it is starting, and also when a
    # script started `rackval sim &` (a background job inherits SIGINT ignored): both are blocked from
    # here on, in this thread and every simulator thread started after, and taken by sigwait below.
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    previous = {s: signal.signal(s, signal.default_int_handler) for s in stop_signals}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    station = None
    try:
        station = SimStation(prof, clock=RealClock(speed=speed), seed=seed, rack_serial=rack_serial)  # and its physics
        _serve(station, prof.sku, speed, station_out)
        got = signal.sigwait(stop_signals)
        console.print(f"stopping ({signal.Signals(got).name})", highlight=False)
    except ConfigError as exc:
        print_error(str(exc))
        raise typer.Exit(EXIT_BAD_INPUT) from None
    finally:
        if station is not None:
            station.stop()
        for s, handler in previous.items():  # first: a second Ctrl-C still pending acts as it would have
            signal.signal(s, handler)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, stop_signals)


def _serve(station: SimStation, sku: str, speed: float, station_out: Path) -> None:
    """Start every simulator, write the station file, say where everything is."""
    st = station.start()
    secrets_path = station.write_station_file(station_out)
    console.print(f"simulated {sku} station at speed x{speed:g}: {len(st.bmcs)} BMCs, {len(st.pdus)} PDUs, "
                  f"{len(st.instruments)} instruments")
    for bmc in st.bmcs:
        console.print(f"  redfish {bmc.name:<10} {bmc.url}")
    for pdu in st.pdus:
        console.print(f"  snmp    {pdu.name:<10} {pdu.host}:{pdu.port} ({pdu.vendor})")
    for inst in st.instruments:
        console.print(f"  visa    {inst.name:<10} {inst.resource} ({inst.model})")
    console.print(f"station file: {station_out}  (credentials in {secrets_path}, mode 0600)\nCtrl-C to stop.")
    sys.stdout.flush()
