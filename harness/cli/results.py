"""`rackval results list|show|export` and `rackval report`: the results store, browsed and exported."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from harness.cli.app import app, bad_input, console, results_app
from harness.cli.store import parse_when, store_session

WHEN = ("a date (2025-03-04), a date and time (2025-03-04T14:30) or a time of day today (14:30); local time "
        "unless it ends in Z or +hh:mm")


VERDICTS = ("PASS", "FAIL", "ERROR", "ABORTED", "RUNNING")  # RUNNING: no verdict yet (running, or its process died)


def _verdict(value: str | None) -> str | None:
    """--verdict in any case; anything else is bad input (exit 2) naming the values it may take."""
    if value is None or value.upper() in VERDICTS:
        return value.upper() if value else None
    raise typer.BadParameter(f"{value!r} is not one of {', '.join(VERDICTS)}")


class Format(str, Enum):
    csv = "csv"
    json = "json"


@results_app.command("list")
def results_list(
    rack_serial: Annotated[str | None, typer.Option("--rack-serial", metavar="SN", help="only this rack")] = None,
    station: Annotated[str | None, typer.Option("--station", metavar="ID", help="only this station id")] = None,
    verdict: Annotated[str | None, typer.Option("--verdict", callback=_verdict, metavar="[" + "|".join(VERDICTS) + "]",
                                                help="only runs with this verdict (any case)")] = None,
    since: Annotated[str | None, typer.Option("--since", metavar="WHEN", help=f"started at or after: {WHEN}")] = None,
    until: Annotated[str | None, typer.Option("--until", metavar="WHEN", help="started before (a date: up to the end of that "
                                              "day); same forms as --since")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, metavar="N", help="at most this many runs")] = 50,
    store: Annotated[str | None, typer.Option("--store", metavar="URL", help="results store URL (default runs/results.db)")] = None,
) -> None:
    """Recent runs, newest first (times in the station's local time)."""
    from harness.results.store import list_runs, utc

    after, before = parse_when(since, "--since"), parse_when(until, "--until", end=True)
    with store_session(store) as db:
        table = Table()
        table.add_column("run", no_wrap=True)  # copied into `results show` / `--resume`: never folded
        for col in ("rack", "station", "plan", "verdict", "started", "operator"):
            table.add_column(col, overflow="fold")
        for r in list_runs(db, rack_serial=rack_serial, station=station, verdict=verdict,
                           since=after, until=before, limit=limit):
            started = utc(r.started_at)
            table.add_row(r.id, r.rack_serial, r.station_id, r.plan_name, r.verdict or r.status,
                          f"{started.astimezone():%Y-%m-%d %H:%M:%S %Z}" if started else "", r.operators)
        console.print(table)


@results_app.command("show")
def results_show(run_id: str, store: Annotated[str | None, typer.Option("--store", metavar="URL", help="results store URL (default runs/results.db)")] = None,
                 all_attempts: Annotated[bool, typer.Option("--all-attempts", help="also the measurements of "
                                                            "retried and superseded attempts")] = False) -> None:
    """One run: its traceability, device identities, steps with attempts, and measurements."""
    from harness.results.show import show_lines

    with store_session(store) as db:
        lines = show_lines(db, run_id, all_attempts=all_attempts)
    if lines is None:
        bad_input(f"command line: RUN_ID: no run {run_id!r} in the store")
    for line in lines:
        console.print(line, highlight=False, markup=False, soft_wrap=True)


@results_app.command("export")
def results_export(run_id: str,
                   fmt: Annotated[Format, typer.Option("--format", case_sensitive=False,
                                                       help="csv (measurements) or json (everything)")] = Format.json,
                   output: Annotated[Path | None, typer.Option("--output", "-o", help="file (default stdout)")] = None,
                   store: Annotated[str | None, typer.Option("--store", metavar="URL", help="results store URL (default runs/results.db)")] = None) -> None:
    """Export one run's records from the store (CSV: one row per measurement of every attempt, with its
    setpoint and diagnosis; JSON: everything)."""
    from harness.results.export import export_csv, export_json

    with store_session(store) as db:
        text = export_csv(db, run_id) if fmt is Format.csv else export_json(db, run_id)
    if text is None:
        bad_input(f"command line: RUN_ID: no run {run_id!r} in the store")
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")


@app.command()
def report(run_id: str, output: Annotated[Path | None, typer.Option("--output", "-o", help="default: "
                                                                  "<run dir>/report.html")] = None,
           store: Annotated[str | None, typer.Option("--store", metavar="URL", help="results store URL (default runs/results.db)")] = None) -> None:
    """Write report.html for a run again, from the results store."""
    from harness.results.report import write_report
    from harness.results.store import default_store_url, find_run

    with store_session(store) as db:
        r = find_run(db, run_id)
        if r is None:
            bad_input(f"command line: RUN_ID: no run {run_id!r} in the store")
        run_id, out_dir = r.id, r.out_dir
    path = write_report(store or default_store_url(), run_id, output or Path(out_dir) / "report.html")
    console.print(f"report: {path}", highlight=False)
