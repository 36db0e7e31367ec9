"""The `rackval` command: run, sim, plans validate, results.

Exit codes of `rackval run`: 0 pass, 1 fail, 2 bad input, 3 aborted or errored.
"""

from __future__ import annotations

import shutil
import signal
import sys
import tempfile
import threading
from datetime import date
from pathlib import Path
from typing import Annotated, Any, NoReturn

import pytest
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from harness.config.plan import load_plan
from harness.config.station import load_station
from harness.errors import ConfigError
from harness.interrupts import STOP

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
    """pytest plugin that shows one progress bar over a plan's steps instead of pytest's output,
    with the live readings of the run's telemetry sampler."""

    def __init__(self, progress: Progress, live: _Live) -> None:
        self.progress, self.live = progress, live
        self.hooks: dict[str, Any] = {}
        self.hooks_key: Any = None
        self.task = progress.add_task("collecting", total=None, live="")
        self._stop = threading.Event()
        self._runs: list[Any] = []
        self.collect_errors: list[str] = []
        self.results: list[Any] = []
        self.setup_errors: list[str] = []

    def pytest_configure(self, config: pytest.Config) -> None:
        if self.hooks_key is not None:
            config.stash[self.hooks_key] = {"confirm": self.hooks.get("confirm")}
        from harness import pytest_plugin

        self._runs = pytest_plugin._OPEN_RUNS  # noqa: SLF001 - read-only: the runs this process has open
        threading.Thread(target=self._poll, name="live-readings", daemon=True).start()

    def _poll(self) -> None:
        """Refresh the live readings twice a second (real time: this is what the operator sees)."""
        while not self._stop.wait(0.5):
            for run in list(self._runs):
                self.live(run.live_readings())
            self.progress.update(self.task, live=self.live.text())

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.progress.update(self.task, total=len(session.items), description="starting")

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collect_errors.append(str(report.longrepr).strip().splitlines()[-1])

    def pytest_runtest_logstart(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        self.progress.update(self.task, description=f"step {nodeid.split('::')[-1]}")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "setup" and report.failed and _error_text(report) not in self.setup_errors:
            self.setup_errors.append(_error_text(report))  # once: every step's setup re-raises the run's error
        if report.when == "call" or (report.when == "setup" and (report.failed or report.skipped)):
            self.progress.advance(self.task)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        from harness.pytest_plugin import RESULTS_KEY

        self._stop.set()
        self.results = list(config.stash.get(RESULTS_KEY, []))


def _error_text(report: pytest.TestReport) -> str:
    """What went wrong, for the operator: the exception's own message (it names the device and the
    request), not the last line of a traceback (a source location)."""
    crash = getattr(report.longrepr, "reprcrash", None)
    message = getattr(crash, "message", None)
    if isinstance(message, str) and message.strip():
        first, _, rest = message.strip().partition(": ")
        return f"{first.rsplit('.', 1)[-1]}: {rest}" if rest else first  # harness.errors.X -> X
    return _last_line(report.longreprtext)


def _last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else text


class _Live:
    """The live part of the progress line: ETA and key readings from the telemetry sampler."""

    def __init__(self) -> None:
        self.readings: dict[str, Any] = {}

    def __call__(self, readings: dict[str, Any]) -> None:
        self.readings = readings

    def text(self) -> str:
        r = self.readings
        parts = []
        if "rack_kw" in r:
            parts.append(f"rack {float(r['rack_kw']):.2f} kW")
        if "hottest_c" in r:
            parts.append(f"hottest {float(r['hottest_c']):.1f} °C at {r.get('hottest_at', '?')}")
        if "coolant_dt_c" in r:
            parts.append(f"coolant dT {float(r['coolant_dt_c']):.1f} K")
        return "  ".join(parts)


def _interactive(yes: bool) -> bool:
    return not yes and sys.stdin is not None and sys.stdin.isatty()


def _ask(question: str) -> bool:
    """A yes/no question in the terminal (the progress display pauses while it is asked)."""
    return typer.confirm(question, default=False, err=True)


class _CtrlC:
    """First Ctrl-C asks for confirmation (interactive runs); yes, a second Ctrl-C, or --yes aborts:
    the run then reaches its safe state, keeps its partial records and is marked ABORTED."""

    def __init__(self, confirm: bool, progress: Progress | None) -> None:
        self.confirm, self.progress, self.asking = confirm, progress, False
        self.prev: Any = None

    def __enter__(self) -> _CtrlC:
        if threading.current_thread() is threading.main_thread():
            self.prev = signal.signal(signal.SIGINT, self.handle)
            STOP.on_held = self.held
        return self

    def __exit__(self, *exc: object) -> None:
        if self.prev is not None:
            signal.signal(signal.SIGINT, self.prev)
            STOP.on_held = None

    def handle(self, signum: int, frame: Any) -> None:
        if STOP.is_held or not self.confirm or self.asking:
            STOP.request("Ctrl-C")  # while the run is finishing this only records it (harness.interrupts)
            return
        self.asking = True
        try:
            if self.progress is not None:
                self.progress.stop()
            if _ask("Abort the run? The rack will be brought to its safe state"):
                STOP.request("Ctrl-C")  # raises now, or once the store write it interrupted is committed
            else:
                err.print("continuing")
        finally:
            self.asking = False
            if self.progress is not None:
                self.progress.start()

    @staticmethod
    def held(what: str) -> None:
        err.print(f"{what}: the run is finishing (safe state, records); it cannot be interrupted, please wait",
                  highlight=False)


@app.command()
def run(
    plan: Annotated[Path | None, typer.Argument(help="plan file (test_plans/*.yaml); not needed with --resume")] = None,
    rack_serial: Annotated[str | None, typer.Option("--rack-serial", help="serial of the rack under test "
                                                    "(asked for when not given: scan the barcode)")] = None,
    sim: Annotated[bool, typer.Option("--sim", help="run on an in-process simulated station")] = False,
    station: Annotated[Path | None, typer.Option("--station", help="station file")] = None,
    rack: Annotated[str | None, typer.Option("--rack", help="rack of a multi-rack station file")] = None,
    all_racks: Annotated[bool, typer.Option("--all-racks", help="every rack of the station, in parallel")] = False,
    profile: Annotated[str | None, typer.Option("--profile", help="simulated rack profile")] = None,
    seed: Annotated[int, typer.Option("--seed", help="simulation seed")] = 0,
    fault: Annotated[str | None, typer.Option("--fault", help="fault scenario for the simulated rack")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="run directory (default runs/<run-id>)")] = None,
    store: Annotated[str | None, typer.Option("--store", help="results store URL")] = None,
    operator: Annotated[str | None, typer.Option("--operator", help="operator id (asked for when not given)")] = None,
    resume: Annotated[str | None, typer.Option("--resume", help="continue an aborted run after its last "
                                               "completed step")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="unattended (CI): ask nothing, accept an unverifiable "
                                      "serial, Ctrl-C aborts at once")] = False,
) -> None:
    """Run a plan on a rack and print PASS/FAIL with the failing measurements and components."""
    if resume:
        plan, sim, station, rack_serial, seed, profile, fault, rack = _resume_args(resume, store, plan, rack_serial)
    if plan is None:
        _bad("give a plan file (or --resume RUN_ID)")
    try:
        loaded = load_plan(plan)
        if station is not None:
            load_station(station)
    except ConfigError as exc:
        _bad(str(exc))
    if sim == (station is not None):
        _bad("give exactly one of --sim or --station FILE")
    if fault and not sim:
        _bad("command line: --fault: fault scenarios apply to simulated racks (--sim) only")
    if all_racks:
        if station is None:
            _bad("command line: --all-racks: needs --station FILE listing racks")
        from harness.multi_rack import run_all_racks

        raise typer.Exit(run_all_racks(plan, station, out=out, store=store, operator=operator or "", yes=yes,
                                       console=console, err=err))
    if operator is None:
        operator = typer.prompt("operator id", err=True) if _interactive(yes) else ""
    if not rack_serial:
        if not _interactive(yes):
            _bad("command line: --rack-serial: the rack serial is required (or run interactively to scan it)")
        rack_serial = typer.prompt("rack serial (scan the barcode)", err=True).strip()
    tmp = Path(tempfile.mkdtemp(prefix="rackval-junit-"))
    args = [str(plan), "-p", "no:terminal", "-p", "no:cacheprovider", f"--junitxml={tmp / 'junit.xml'}",
            "--rack-serial", rack_serial, "--seed", str(seed), "--operator", operator,
            "-o", "junit_family=xunit2", "-o", f"junit_suite_name=rackval:{loaded.name}", "--rootdir", str(Path.cwd())]
    args += ["--sim"] if sim else ["--station", str(station)]
    args += ["--profile", profile] if profile else []
    args += ["--rackval-out", str(out)] if out else []
    args += ["--store", store] if store else []
    args += ["--fault", fault] if fault else []
    args += ["--rack", rack] if rack else []
    args += ["--resume", resume] if resume else []
    args += ["--yes"] if yes else []
    live = _Live()
    ctrl_c = _CtrlC(confirm=_interactive(yes), progress=None)
    with ctrl_c:
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), TextColumn("{task.fields[live]}"),
                      console=console, transient=False) as progress:
            ctrl_c.progress = progress
            plugin = _Progress(progress, live)
            from harness.pytest_plugin import HOOKS_KEY

            plugin.hooks = {"live": live, "confirm": _ask if _interactive(yes) else None}
            plugin.hooks_key = HOOKS_KEY
            rc = pytest.main(args, plugins=[plugin])
            ctrl_c.progress = None
        with STOP.held():  # the run has ended: a late Ctrl-C must not lose its junit.xml or its summary
            _report_run(plugin, int(rc), tmp)


def _report_run(plugin: _Progress, rc: int, tmp: Path) -> NoReturn:
    """After pytest: move junit.xml into the run directory, print the result, exit with its code."""
    if plugin.collect_errors:
        for line in plugin.collect_errors:
            err.print(f"[red]{escape(line)}[/red]", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_BAD_INPUT)
    if not plugin.results:
        for line in plugin.setup_errors:
            err.print(f"[red]{escape(line)}[/red]", highlight=False, soft_wrap=True)
        err.print(f"no run was recorded (pytest exit {rc})")
        raise typer.Exit(EXIT_ERROR)
    result = plugin.results[0]
    if result.bad_input is not None:
        err.print(f"[red]{escape(result.bad_input)}[/red]", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_BAD_INPUT)
    if (tmp / "junit.xml").exists() and result.run_dir.exists():
        shutil.move(str(tmp / "junit.xml"), str(result.run_dir / "junit.xml"))
    shutil.rmtree(tmp, ignore_errors=True)
    for line in plugin.setup_errors:
        err.print(f"[red]{escape(line)}[/red]", highlight=False, soft_wrap=True)
    _print_result(result)
    if result.verdict == "ABORTED":
        console.print(f"partial results kept; continue with: rackval run --resume {result.run_id}", highlight=False)
    raise typer.Exit(result.exit_code)


def _bad(message: str) -> NoReturn:
    err.print(f"[red]{escape(message)}[/red]", highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def _resume_args(run_id: str, store: str | None, plan: Path | None, serial: str | None
                 ) -> tuple[Path, bool, Path | None, str, int, str | None, str | None, str | None]:
    """What the first session of a run was started with (the store has it)."""
    from harness.results.store import find_run

    with _session(store) as db:
        r = find_run(db, run_id)
        if r is None:
            _bad(f"command line: --resume: no run {run_id!r} in the store")
        sim = r.simulated and not r.station_path
        return (plan or Path(r.plan_path), sim, Path(r.station_path) if r.station_path else None,
                serial or r.rack_serial, r.seed or 0, r.sku if sim else None, r.fault, r.rack_name or None)


def _print_result(result: Any) -> None:
    table = Table(title=f"run {result.run_id}", show_lines=False)
    table.add_column("step")
    table.add_column("verdict")
    table.add_column("attempts")
    table.add_column("detail", overflow="fold")
    for step in result.steps:
        detail = "; ".join(m.describe() + (f" [{m.meta['message']}]" if m.meta.get("message") else "")
                           for m in step.failures) or step.message
        attempts = ", ".join(a.verdict or a.status for a in step.attempts) if len(step.attempts) > 1 else ""
        if step.restored:
            attempts = (attempts + " " if attempts else "") + "(earlier session)"
        verdict = step.verdict or step.status
        table.add_row(escape(step.name), Text(verdict, style=VERDICT_STYLE.get(verdict, "")), attempts,
                      escape(detail))  # device replies and names are text, never markup
    if result.safe_state is not None:
        for o in result.safe_state.outcomes:
            table.add_row(f"safe state: {escape(o.name)}", "[green]OK[/]" if o.ok else "[red]NOT SAFE[/]", "",
                          escape(o.detail))
    console.print(table)
    console.print(Text(result.verdict, style=VERDICT_STYLE.get(result.verdict, "")),
                  Text(f" results in {result.run_dir}"), highlight=False)


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
        station = SimStation(prof, clock=RealClock(speed=speed), seed=seed, rack_serial=rack_serial)  # and its physics
    except ConfigError as exc:
        err.print(f"[red]{escape(str(exc))}[/red]", highlight=False, soft_wrap=True)
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
            err.print(f"[red]{escape(str(exc))}[/red]", highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_BAD_INPUT if bad else 0)


def _session(store: str | None):  # type: ignore[no-untyped-def]
    from sqlalchemy.orm import Session

    from harness.results.store import default_store_url, open_store

    return Session(open_store(store or default_store_url()))


def _date(value: str | None, option: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        _bad(f"command line: {option}: {value!r} is not a date (YYYY-MM-DD)")


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

    with _session(store) as db:
        table = Table()
        table.add_column("run", no_wrap=True)  # copied into `results show` / `--resume`: never folded
        for col in ("rack", "station", "plan", "verdict", "started", "operator"):
            table.add_column(col, overflow="fold")
        for r in list_runs(db, rack_serial=rack_serial, station=station, verdict=verdict,
                           since=_date(since, "--since"), until=_date(until, "--until"), limit=limit):
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

    with _session(store) as db:
        lines = show_lines(db, run_id, all_attempts=all_attempts)
    if lines is None:
        _bad(f"command line: RUN_ID: no run {run_id!r} in the store")
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
        _bad(f"command line: --format: {fmt!r} is not csv or json")
    with _session(store) as db:
        text = export_csv(db, run_id) if fmt == "csv" else export_json(db, run_id)
    if text is None:
        _bad(f"command line: RUN_ID: no run {run_id!r} in the store")
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

    with _session(store) as db:
        r = find_run(db, run_id)
        if r is None:
            _bad(f"command line: RUN_ID: no run {run_id!r} in the store")
        run_id, out_dir = r.id, r.out_dir
    path = write_report(store or default_store_url(), run_id, output or Path(out_dir) / "report.html")
    console.print(f"report: {path}", highlight=False)


def main() -> None:
    app(prog_name="rackval")


if __name__ == "__main__":
    main()
