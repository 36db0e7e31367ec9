"""`rackval run`: a plan on a rack (or every rack of a station), through pytest and rackval's plugin,
then PASS/FAIL with the failing measurements and components."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any, NoReturn

import pytest
import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from harness.cli.app import EXIT_BAD_INPUT, EXIT_ERROR, VERDICT_STYLE, app, bad_input, console, err, print_error
from harness.cli.choices import EXIT_CODES_HELP, FaultOption, ProfileOption, StoreOption
from harness.cli.progress import LiveReadings, ProgressPlugin
from harness.cli.prompts import CtrlC
from harness.cli.store import store_session
from harness.cli.terminal import Terminal
from harness.config.plan import load_plan
from harness.config.station import load_station
from harness.config.station_check import station_problems
from harness.errors import ConfigError
from harness.interrupts import STOP
from harness.pytest_plugin import HOOKS_KEY
from harness.results.store import find_run
from harness.steps import STEP_KINDS


@app.command(epilog=EXIT_CODES_HELP)
def run(
    plan: Annotated[Path | None, typer.Argument(metavar="PLAN", help="plan file (test_plans/*.yaml); not needed "
                                                "with --resume")] = None,
    rack_serial: Annotated[str | None, typer.Option("--rack-serial", metavar="SERIAL", help="serial of the rack "
                                                    "under test (asked for when not given: scan the barcode)")] = None,
    sim: Annotated[bool, typer.Option("--sim", help="run on an in-process simulated station")] = False,
    station: Annotated[Path | None, typer.Option("--station", metavar="FILE", help="station file (docs/station.md; "
                                                 "check it with rackval station validate)")] = None,
    rack: Annotated[str | None, typer.Option("--rack", metavar="NAME", help="rack of a multi-rack station file")] = None,
    all_racks: Annotated[bool, typer.Option("--all-racks", help="every rack of the station, in parallel")] = False,
    profile: ProfileOption = None,
    seed: Annotated[int, typer.Option("--seed", help="simulation seed")] = 0,
    fault: FaultOption = None,
    out: Annotated[Path | None, typer.Option("--out", metavar="DIR", help="run directory (default runs/<run-id>)")
                   ] = None,
    store: StoreOption = None,
    operator: Annotated[str | None, typer.Option("--operator", metavar="ID",
                                                 help="operator id (asked for when not given)")] = None,
    resume: Annotated[str | None, typer.Option("--resume", metavar="RUN_ID", help="continue an aborted run after "
                                               "its last completed step")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="unattended (CI): ask nothing, accept an unverifiable "
                                      "serial, Ctrl-C aborts at once")] = False,
) -> None:
    """Run a plan on a rack and print PASS/FAIL with the failing measurements and components."""
    if resume:
        plan, sim, station, rack_serial, seed, profile, fault, rack = _resume_args(resume, store, plan, rack_serial)
    if plan is None:
        bad_input("give a plan file (or --resume RUN_ID)")
    try:
        loaded = load_plan(plan, STEP_KINDS)
        if station is not None:
            load_station(station)
    except ConfigError as exc:
        bad_input(str(exc))
    if sim == (station is not None):
        bad_input("give exactly one of --sim or --station FILE")
    if fault and not sim:
        bad_input("command line: --fault: fault scenarios apply to simulated racks (--sim) only")
    if station is not None and (problems := station_problems(station, rack=rack)):
        bad_input("\n".join(str(p) for p in problems))  # every mistake, before anything is asked or touched
    if all_racks:
        if station is None:
            bad_input("command line: --all-racks: needs --station FILE listing racks")
        from harness.run.multi_rack import run_all_racks  # spawns one `rackval run` per rack

        raise typer.Exit(run_all_racks(plan, station, out=out, store=store, operator=operator or "", yes=yes,
                                       console=console, err=err))
    terminal = Terminal(yes=yes)
    operator, rack_serial = _ask_who_and_what(terminal, operator, rack_serial)
    tmp = Path(tempfile.mkdtemp(prefix="rackval-junit-"))
    # "-o addopts=": the run is rackval's, not the pytest set-up of whatever project the operator stands in
    # (this checkout's own asks for pytest-xdist workers, which must never split a rack's plan).
    args = [str(plan), "-o", "addopts=", "-p", "no:terminal", "-p", "no:cacheprovider",
            f"--junitxml={tmp / 'junit.xml'}",
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
    live = LiveReadings()
    try:
        with CtrlC(terminal):
            with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(bar_width=20),
                          TimeElapsedColumn(), TextColumn("{task.fields[clock]}"), TextColumn("{task.fields[eta]}"),
                          TextColumn("{task.fields[live]}"), console=terminal.console,
                          transient=not terminal.console.is_terminal,  # a log file gets no frozen last frame
                          redirect_stdout=False, redirect_stderr=False) as progress:  # pytest owns sys.stdout
                terminal.live = progress
                plugin = ProgressPlugin(progress, live)
                plugin.hooks = {"live": live, "confirm": terminal.ask if terminal.interactive else None}
                plugin.hooks_key = HOOKS_KEY
                rc = pytest.main(args, plugins=[plugin])
                terminal.live = None
            with STOP.held():  # the run has ended: a late Ctrl-C must not lose its junit.xml or its summary
                _report_run(plugin, int(rc), tmp)
    finally:
        terminal.close()


def _ask_who_and_what(terminal: Terminal, operator: str | None, rack_serial: str | None) -> tuple[str, str]:
    """The operator id and the rack serial, asked on the terminal when not given. A Ctrl-C (or the end of
    input) there aborts before anything is started: exit 3, like any abort."""
    try:
        if operator is None:
            operator = terminal.prompt("operator id") if terminal.interactive else ""
        if not rack_serial:
            if not terminal.interactive:
                bad_input("command line: --rack-serial: the rack serial is required (or run interactively to scan "
                          "it)")
            rack_serial = terminal.prompt("rack serial (scan the barcode)")
            if not rack_serial:
                bad_input("command line: --rack-serial: no rack serial was scanned")
    except KeyboardInterrupt:
        print_error("aborted at the prompt: nothing was started")
        raise typer.Exit(EXIT_ERROR) from None
    return operator, rack_serial


def _report_run(plugin: ProgressPlugin, rc: int, tmp: Path) -> NoReturn:
    """After pytest: move junit.xml into the run directory, print the result, exit with its code."""
    if plugin.collect_errors:
        for line in plugin.collect_errors:
            print_error(line)
        raise typer.Exit(EXIT_BAD_INPUT)
    if not plugin.results:
        for line in plugin.setup_errors:
            print_error(line)
        err.print(f"no run was recorded (pytest exit {rc})")
        raise typer.Exit(EXIT_ERROR)
    result = plugin.results[0]
    if result.bad_input is not None:
        print_error(result.bad_input)
        raise typer.Exit(EXIT_BAD_INPUT)
    if not result.steps:
        shutil.rmtree(tmp, ignore_errors=True)
        _report_no_start(plugin, result)
    if (tmp / "junit.xml").exists() and result.run_dir.exists():
        shutil.move(str(tmp / "junit.xml"), str(result.run_dir / "junit.xml"))
    shutil.rmtree(tmp, ignore_errors=True)
    for line in plugin.setup_errors:
        print_error(line)
    _print_result(result)
    if result.verdict == "ABORTED":
        console.print(f"partial results kept; continue with: rackval run --resume {result.run_id}", highlight=False)
    raise typer.Exit(result.exit_code)


def _report_no_start(plugin: ProgressPlugin, result: Any) -> NoReturn:
    """The run stopped before its first step: the cause in one line, not an empty table."""
    if result.verdict == "ABORTED":
        cause = "stopped (Ctrl-C) before its first step"
    else:
        cause = "could not start: " + ("; ".join(plugin.setup_errors) or "no cause was reported")
    print_error(f"the run {cause}")
    if result.safe_state is not None:
        _print_result(result)
    else:
        console.print("nothing was switched", highlight=False)
    log = result.run_dir / "rackval.log"
    where = f"; its log: {log}" if result.verdict != "ABORTED" and log.exists() else ""
    console.print(Text(result.verdict, style=VERDICT_STYLE.get(result.verdict, "")),
                  Text(f" nothing was recorded in the results store{where}"), highlight=False, soft_wrap=True)
    raise typer.Exit(result.exit_code)


def _resume_args(run_id: str, store: str | None, plan: Path | None, serial: str | None
                 ) -> tuple[Path, bool, Path | None, str, int, str | None, str | None, str | None]:
    """What the first session of a run was started with (the store has it)."""
    with store_session(store) as db:
        r = find_run(db, run_id)
        if r is None:
            bad_input(f"command line: --resume: no run {run_id!r} in the store")
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
        if step.restored or step.earlier:
            attempts = (attempts + " " if attempts else "") + f"({step.earlier or 'earlier session'})"
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
