"""`rackval results list|show|export` and `rackval report`: the results store, browsed and exported."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from harness.cli.app import app, bad_input, console, results_app
from harness.cli.store import parse_date, store_session


@results_app.command("list")
def results_list(
    rack_serial: Annotated[str | None, typer.Option("--rack-serial")] = None,
    station: Annotated[str | None, typer.Option("--station")] = None,
    verdict: Annotated[str | None, typer.Option("--verdict", help="PASS, FAIL, ERROR or ABORTED")] = None,
    since: Annotated[str | None, typer.Option("--since", help="started on or after (YYYY-MM-DD)")] = None,
    until: Annotated[str | None, typer.Option("--until", help="started on or before (YYYY-MM-DD)")] = None,
    limit: Annotated[int, typer.Option("--limit")] = 50,
    store: Annotated[str | None, typer.Option("--store")] = None,
) -> None:
    """Recent runs, newest first."""
    from harness.results.store import list_runs, utc

    with store_session(store) as db:
        table = Table()
        table.add_column("run", no_wrap=True)  # copied into `results show` / `--resume`: never folded
        for col in ("rack", "station", "plan", "verdict", "started", "operator"):
            table.add_column(col, overflow="fold")
        for r in list_runs(db, rack_serial=rack_serial, station=station, verdict=verdict,
                           since=parse_date(since, "--since"), until=parse_date(until, "--until"), limit=limit):
            started = utc(r.started_at)
            table.add_row(r.id, r.rack_serial, r.station_id, r.plan_name, r.verdict or r.status,
                          f"{started:%Y-%m-%d %H:%M:%S}" if started else "", r.operator)
        console.print(table)


@results_app.command("show")
def results_show(run_id: str, store: Annotated[str | None, typer.Option("--store")] = None,
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
                   fmt: Annotated[str, typer.Option("--format", help="csv (measurements) or json (everything)")] = "json",
                   output: Annotated[Path | None, typer.Option("--output", "-o", help="file (default stdout)")] = None,
                   store: Annotated[str | None, typer.Option("--store")] = None) -> None:
    """Export one run's records from the store."""
    from harness.results.export import export_csv, export_json

    if fmt not in ("csv", "json"):
        bad_input(f"command line: --format: {fmt!r} is not csv or json")
    with store_session(store) as db:
        text = export_csv(db, run_id) if fmt == "csv" else export_json(db, run_id)
    if text is None:
        bad_input(f"command line: RUN_ID: no run {run_id!r} in the store")
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")


@app.command()
def report(run_id: str, output: Annotated[Path | None, typer.Option("--output", "-o", help="default: "
                                                                  "<run dir>/report.html")] = None,
           store: Annotated[str | None, typer.Option("--store")] = None) -> None:
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
