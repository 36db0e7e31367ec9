"""`rackval station validate`: every mistake in a station file at once, without touching a device.

The same check refuses a run before anything is switched (``harness/run/opening.py``), so a file this
command passes is one a run accepts, and one it refuses lists every reason in one go.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from harness.cli.app import EXIT_BAD_INPUT, console, print_error, station_app
from harness.config.station import load_station
from harness.config.station_check import station_problems
from harness.errors import ConfigError


@station_app.command("validate")
def station_validate(
    files: Annotated[list[Path], typer.Argument(metavar="FILE...", help="station files")],
    rack: Annotated[str | None, typer.Option("--rack", metavar="NAME",
                                             help="check one rack of a multi-rack station (default: every rack)")
                    ] = None,
) -> None:
    """Check station files against their rack profile, credentials and calibration dates; list every
    mistake as file:line: field: what is wrong, and exit 2 if there is any."""
    bad = 0
    for path in files:
        problems = station_problems(path, rack=rack)
        if problems:
            bad += 1
            for problem in problems:
                print_error(str(problem))
            continue
        console.print(f"OK  {path}: {summary(path)}", highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_BAD_INPUT if bad else 0)


def summary(path: Path) -> str:
    """What a valid station file declares, in one line."""
    try:
        station = load_station(path)
    except ConfigError as exc:  # checked a moment ago; changed since
        return str(exc)
    racks = station.racks or [station]
    bmcs = sum(len(r.bmcs) for r in racks)
    outlets = sum(len(p.outlets) for r in racks for p in r.pdus)
    pdus = sum(len(r.pdus) for r in racks)
    rack_text = f"{len(station.racks)} racks, " if station.racks else ""
    return (f"station {station.station_id}, profile {station.profile}, {rack_text}{bmcs} BMCs, {pdus} PDUs "
            f"({outlets} outlets), {len(station.instruments) + sum(len(r.instruments) for r in station.racks)} "
            "instruments, "
            f"{sum(len(r.hosts) for r in racks)} hosts")
