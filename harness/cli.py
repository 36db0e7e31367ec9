"""The `rackval` command: run, sim, plans validate, results.

Exit codes of `rackval run`: 0 pass, 1 fail, 2 bad input, 3 aborted or errored.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import threading
from pathlib import Path
from typing import Annotated, Any

import pytest
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from harness.config.plan import load_plan
from harness.config.station import load_station
from harness.errors import ConfigError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Hardware-in-the-loop validation of AI racks.")
plans_app = typer.Typer(no_args_is_help=True, help="Check plans and envelopes without touching hardware.")
results_app = typer.Typer(no_args_is_help=True, help="Browse the results store.")
app.add_typer(plans_app, name="plans")
app.add_typer(results_app, name="results")

console = Console()
err = Console(stderr=True)

EXIT_PASS, EXIT_FAIL, EXIT_BAD_INPUT, EXIT_ERROR = 0, 1, 2, 3
VERDICT_STYLE = {"PASS": "bold green", "FAIL": "bold red", "ERROR": "bold magenta", "ABORTED": "bold yellow",
                 "SKIP": "dim"}


class _Progress:
    """pytest plugin that shows one progress bar over a plan's steps instead of pytest's output."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task = progress.add_task("collecting", total=None)
        self.collect_errors: list[str] = []
        self.results: list[Any] = []
        self.setup_errors: list[str] = []

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.progress.update(self.task, total=len(session.items), description="starting")

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collect_errors.append(str(report.longrepr).strip().splitlines()[-1])

    def pytest_runtest_logstart(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        self.progress.update(self.task, description=f"step {nodeid.split('::')[-1]}")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "setup" and report.failed:
            self.setup_errors.append(_last_line(report.longreprtext))
        if report.when == "call" or (report.when == "setup" and (report.failed or report.skipped)):
            self.progress.advance(self.task)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        from harness.pytest_plugin import RESULTS_KEY

        self.results = list(config.stash.get(RESULTS_KEY, []))


def _last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else text


@app.command()
def run(
    plan: Annotated[Path, typer.Argument(help="plan file (test_plans/*.yaml)")],
    rack_serial: Annotated[str, typer.Option("--rack-serial", help="serial number of the rack under test")],
    sim: Annotated[bool, typer.Option("--sim", help="run on an in-process simulated station")] = False,
    station: Annotated[Path | None, typer.Option("--station", help="station file")] = None,
    profile: Annotated[str | None, typer.Option("--profile", help="simulated rack profile")] = None,
    seed: Annotated[int, typer.Option("--seed", help="simulation seed")] = 0,
    out: Annotated[Path | None, typer.Option("--out", help="run directory (default runs/<run-id>)")] = None,
    store: Annotated[str | None, typer.Option("--store", help="results store URL")] = None,
    operator: Annotated[str, typer.Option("--operator", help="operator id")] = "",
) -> None:
    """Run a plan on a rack and print PASS/FAIL with the failing measurements and components."""
    try:
        loaded = load_plan(plan)
        if station is not None:
            load_station(station)
    except ConfigError as exc:
        err.print(f"[red]{exc}[/red]", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    if sim == (station is not None):
        err.print("give exactly one of --sim or --station FILE")
        raise typer.Exit(EXIT_BAD_INPUT)
    tmp = Path(tempfile.mkdtemp(prefix="rackval-junit-"))
    args = [str(plan), "-p", "no:terminal", "-p", "no:cacheprovider", f"--junitxml={tmp / 'junit.xml'}",
            "--rack-serial", rack_serial, "--seed", str(seed), "--operator", operator,
            "-o", "junit_family=xunit2", "-o", f"junit_suite_name=rackval:{loaded.name}", "--rootdir", str(Path.cwd())]
    args += ["--sim"] if sim else ["--station", str(station)]
    args += ["--profile", profile] if profile else []
    args += ["--rackval-out", str(out)] if out else []
    args += ["--store", store] if store else []
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=False) as progress:
        plugin = _Progress(progress)
        rc = pytest.main(args, plugins=[plugin])
    if plugin.collect_errors:
        for line in plugin.collect_errors:
            err.print(f"[red]{line}[/red]", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_BAD_INPUT)
    if not plugin.results:
        for line in plugin.setup_errors:
            err.print(f"[red]{line}[/red]", highlight=False, soft_wrap=True)
        err.print(f"no run was recorded (pytest exit {int(rc)})")
        raise typer.Exit(EXIT_ERROR)
    result = plugin.results[0]
    if result.bad_input is not None:
        err.print(f"[red]{result.bad_input}[/red]", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_BAD_INPUT)
    if (tmp / "junit.xml").exists() and result.run_dir.exists():
        shutil.move(str(tmp / "junit.xml"), str(result.run_dir / "junit.xml"))
    shutil.rmtree(tmp, ignore_errors=True)
    for line in plugin.setup_errors:
        err.print(f"[red]{line}[/red]", highlight=False, soft_wrap=True)
    _print_result(result)
    raise typer.Exit(result.exit_code)


def _print_result(result: Any) -> None:
    table = Table(title=f"run {result.run_id}", show_lines=False)
    table.add_column("step")
    table.add_column("verdict")
    table.add_column("detail", overflow="fold")
    for step in result.steps:
        detail = "; ".join(m.describe() + (f" [{m.meta['message']}]" if m.meta.get("message") else "")
                           for m in step.failures) or step.message
        table.add_row(step.name, f"[{VERDICT_STYLE.get(step.verdict, '')}]{step.verdict}[/]", detail)
    if result.safe_state is not None:
        for o in result.safe_state.outcomes:
            table.add_row(f"safe state: {o.name}", "[green]OK[/]" if o.ok else "[red]NOT SAFE[/]", o.detail)
    console.print(table)
    console.print(f"[{VERDICT_STYLE.get(result.verdict, '')}]{result.verdict}[/]  results in {result.run_dir}",
                  highlight=False)


@app.command()
def sim(
    profile: Annotated[str, typer.Option("--profile", help="rack profile (fixtures/profiles)")] = "mini",
    station_out: Annotated[Path, typer.Option("--station-out", help="where to write the station file")] = Path(
        "sim-station.yaml"),
    speed: Annotated[float, typer.Option("--speed", help="simulated seconds per real second")] = 1.0,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    rack_serial: Annotated[str, typer.Option("--rack-serial")] = "SIM-0001",
) -> None:
    """Serve a simulated station on 127.0.0.1 until Ctrl-C, and write a station file for it."""
    from harness.clock import RealClock
    from harness.config.profile import load_profile
    from harness.sim.station import SimStation

    try:
        prof = load_profile(profile)
    except ConfigError as exc:
        err.print(f"[red]{exc}[/red]", highlight=False)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    station = SimStation(prof, clock=RealClock(speed=speed), seed=seed, rack_serial=rack_serial)
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


@plans_app.command("validate")
def plans_validate(files: Annotated[list[Path], typer.Argument(help="plan files")]) -> None:
    """Check plans (and the envelopes they name); exit 2 if any is wrong."""
    bad = 0
    for f in files:
        try:
            loaded = load_plan(f)
            console.print(f"OK  {f}: {len(loaded.steps)} steps, envelope {loaded.envelope.sku} "
                          f"v{loaded.envelope.version} ({len(loaded.envelope.limits)} limits)", highlight=False)
        except ConfigError as exc:
            bad += 1
            err.print(f"[red]{exc}[/red]", highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_BAD_INPUT if bad else 0)


def _session(store: str | None):  # type: ignore[no-untyped-def]
    from sqlalchemy.orm import Session

    from harness.results.store import default_store_url, open_store

    return Session(open_store(store or default_store_url()))


@results_app.command("list")
def results_list(
    rack_serial: Annotated[str | None, typer.Option("--rack-serial")] = None,
    station: Annotated[str | None, typer.Option("--station")] = None,
    verdict: Annotated[str | None, typer.Option("--verdict")] = None,
    store: Annotated[str | None, typer.Option("--store")] = None,
) -> None:
    """Recent runs, newest first."""
    from harness.results.store import list_runs

    with _session(store) as db:
        table = Table()
        for col in ("run", "rack", "station", "plan", "verdict", "started"):
            table.add_column(col)
        for r in list_runs(db, rack_serial=rack_serial, station=station, verdict=verdict):
            table.add_row(r.id, r.rack_serial, r.station_id, r.plan_name, r.verdict or r.status,
                          f"{r.started_at:%Y-%m-%d %H:%M:%S}")
        console.print(table)


@results_app.command("show")
def results_show(run_id: str, store: Annotated[str | None, typer.Option("--store")] = None) -> None:
    """One run: its traceability, steps and measurements."""
    from sqlalchemy import select

    from harness.results.store import DeviceRow, MeasurementRow, find_run

    with _session(store) as db:
        r = find_run(db, run_id)
        if r is None:
            err.print(f"no run {run_id!r} in the store")
            raise typer.Exit(EXIT_BAD_INPUT)
        console.print(f"run {r.id}: {r.verdict or r.status}  rack {r.rack_serial}  station {r.station_id}  "
                      f"plan {r.plan_name} ({r.plan_sha256[:12]})  envelope {r.envelope_sha256[:12]}  "
                      f"harness {r.harness_version} {r.git_sha[:12]}", highlight=False)
        devices = db.scalars(select(DeviceRow).where(DeviceRow.run_id == r.id)).all()
        for d in devices:
            console.print(f"  device {d.name} ({d.kind}) {d.model} sn={d.serial} fw={d.firmware} "
                          f"cal={d.calibration_due}", highlight=False)
        for step in r.steps:
            console.print(f"step {step.index} {step.name}: {step.verdict} {step.message}", highlight=False)
            rows = db.scalars(select(MeasurementRow).where(MeasurementRow.step_id == step.id)
                              .order_by(MeasurementRow.id)).all()
            for m in rows:
                value = m.value_text if m.value_text is not None else f"{m.value:.6g}"
                bounds = f"[{'' if m.low is None else m.low:}..{'' if m.high is None else m.high}]"
                console.print(f"    {m.verdict:<4} {m.name} {value} {m.unit} {bounds} {m.component or ''}",
                              highlight=False)


def main() -> None:
    app(prog_name="rackval")


if __name__ == "__main__":
    main()
