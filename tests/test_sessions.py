"""Resume traceability (issue 12, item 5): every session's operator, start and end are recorded (store,
OCP, log) and shown (`results show`, `results list`, the report); attempts are numbered per step across
sessions; the report marks where a later session started, with one legend entry per series; a run that
ended ERROR is resumed by running the errored step again, and the run says so."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pexpect
from sqlalchemy import create_engine, text
from test_results_store import DEVICES, ENVELOPE
from typer.testing import CliRunner

from harness.cli import app
from harness.clock import VirtualClock
from harness.envelopes import Measurement
from harness.results.migrate import alembic_config
from harness.results.recorder import Recorder, RunInfo
from harness.results.report import write_report
from harness.results.store import open_store

START = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
CLI = [sys.executable, "-m", "harness.cli"]


def info(run_id: str, operator: str) -> RunInfo:
    return RunInfo(run_id=run_id, plan_name="p", plan_path="p.yaml", plan_sha256="a" * 64, envelope_sha256="b" * 64,
                   envelope_version="1", station_id="line3", rack_serial="RACK-9", operator=operator,
                   harness_version="0.1.0", git_sha="", seed=1, simulated=True, sku="mini",
                   command_line=f"rackval run --operator {operator}")


def telemetry(rec: Recorder, t0: float, t1: float) -> None:
    for t in range(int(t0), int(t1) + 1, 10):
        rec.telemetry("rack_ac_power_w", "W", None, float(t), 3000.0 + t)
        for tray in ("compute01", "compute02"):
            rec.telemetry("tray_hottest_c", "Cel", tray, float(t), 40.0 + t / 100)


def two_sessions(tmp_path: Path, url: str, run_id: str = "run-2s") -> Path:
    """alice runs step 0 and is aborted in step 1 (a retried step, attempt 1 of 2) at t=100; bob resumes:
    simulated time goes back to where step 1 started (t=60) and step 1 passes."""
    out = tmp_path / "out"
    clock = VirtualClock(start_wall=START)
    rec = Recorder(out, url, clock, info(run_id, "alice"), [], envelope=ENVELOPE)
    rec.start_run(DEVICES)
    rec.start_step(0, "dc_cycle", "dc_cycle")
    rec.measurement(Measurement("host_back_on", True, "", "compute01", verdict="PASS", t=1.0))
    telemetry(rec, 0, 50)
    clock.sleep(60)
    rec.end_step(status="COMPLETE", verdict="PASS")
    rec.start_step(1, "soak", "thermal_soak", attempts=2)
    telemetry(rec, 60, 100)
    clock.sleep(40)
    rec.abort_open_step("aborted by the operator")
    rec.end_run(status="ABORTED", verdict="ABORTED")
    rec.close()

    clock = VirtualClock(start_wall=START)
    rec = Recorder(out, url, clock, info(run_id, "bob"), [], envelope=ENVELOPE, resume=True)
    rec.start_run(DEVICES)
    clock.sleep(rec.step_t_start(1) or 0.0)
    rec.session_started()
    assert rec.restored(0) is not None and rec.restored(1) is None
    rec.start_step(1, "soak", "thermal_soak", attempts=2)
    telemetry(rec, 60, 160)
    clock.sleep(100)
    rec.measurement(Measurement("component_temp_c", 41.6, "Cel", "compute01", verdict="PASS", t=160.0))
    rec.end_step(status="COMPLETE", verdict="PASS")
    rec.end_run(status="COMPLETE", verdict="PASS")
    rec.close()
    return out


def _cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_each_session_records_its_operator_start_and_end(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    url = f"sqlite:///{db}"
    out = two_sessions(tmp_path, url)
    con = sqlite3.connect(db)
    sessions = con.execute("select number, operator, status, verdict, started_at, ended_at from sessions "
                           "where run_id = 'run-2s' order by number").fetchall()
    assert [s[:4] for s in sessions] == [(1, "alice", "ABORTED", "ABORTED"), (2, "bob", "COMPLETE", "PASS")]
    assert all(s[4] and s[5] for s in sessions), "every session has a start and an end"
    assert sessions[1][4].startswith("2025-03-04 05:07:07"), "session 2 starts where the resumed step started"
    # attempts numbered per step across sessions: never "attempt 2/1"
    attempts = con.execute("select a.number, a.of, a.session, a.status from attempts a join steps s on "
                           "s.id = a.step_id where s.name = 'soak' order by a.number").fetchall()
    assert attempts == [(1, 2, 1, "ABORTED"), (2, 3, 2, "COMPLETE")]
    lines = [json.loads(x) for x in (out / "ocp.jsonl").read_text().splitlines()]
    logs = [o["testRunArtifact"]["log"]["message"] for o in lines if "log" in o.get("testRunArtifact", {})]
    assert "run resumed (session 2) by operator bob" in logs
    names = [o["testStepArtifact"]["testStepStart"]["name"] for o in lines
             if "testStepStart" in o.get("testStepArtifact", {})]
    assert "soak (attempt 2/3) (resumed, session 2)" in names
    assert "resumed (session 2) by operator bob" in (out / "rackval.log").read_text()
    shown = _cli("results", "show", "run-2s", "--store", url)
    assert re.search(r"session 1: operator alice, started 2025-03-04 05:06:07 UTC .*ABORTED", shown), shown
    assert re.search(r"session 2: operator bob, started 2025-03-04 05:07:07 UTC .*PASS", shown), shown
    assert "attempt 2/3 session 2: PASS" in shown
    assert not any(int(k) > int(n) for k, n in re.findall(r"attempt (\d+)/(\d+)", shown))
    listed = CliRunner().invoke(app, ["results", "list", "--store", url], env={"COLUMNS": "250"}).output
    assert "alice, bob" in listed
    html = write_report(url, "run-2s", tmp_path / "report.html").read_text()
    sessions_html = html[html.index('id="sessions"'):]
    assert "operator alice" in sessions_html and "operator bob" in sessions_html
    assert "operator alice, bob" in html[:html.index('id="steps"')], "the page's header names both operators"


def _svg(html: str, plot_id: str) -> str:
    start = html.index(f'id="{plot_id}"')
    return html[start:html.index("</svg>", start)]


def test_the_report_marks_each_session_with_one_legend_entry_per_series(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    two_sessions(tmp_path, url)
    html = write_report(url, "run-2s", tmp_path / "report.html").read_text()
    power = _svg(html, "plot-rack-power")
    assert power.count('class="legend-key"') == 1, "one legend entry for rack power, not one per session"
    assert power.count('class="session"') == 1 and "session 2 · bob" in power
    assert power.count("<polyline") == 3, "session 1 up to the resume, its re-run part (faded), session 2"
    assert power.count('stroke-opacity="0.35"') == 1
    temps = _svg(html, "plot-temperatures")
    assert temps.count('class="legend-key"') == 2 and temps.count('class="session"') == 1
    # the session line sits where session 2 started: t = 60 s on the run's time line
    x = float(re.search(r'class="session" x1="([\d.]+)"', power).group(1))
    ticks = {label: float(pos) for pos, label in re.findall(r'<text x="([\d.]+)" y="[\d.]+" text-anchor="middle" '
                                                           r'class="tick">([^<]+)<', power)}
    assert "0:01:00" in ticks and abs(ticks["0:01:00"] - x) < 0.2, (ticks, x)


@dataclass
class StationClock:
    """A wall clock for a session that started later, whose run clock starts again at 0 (RealClock's way,
    without waiting for real time): wall = start + now."""

    start: datetime
    t: float = 0.0

    def now(self) -> float:
        return self.t

    def wall(self) -> datetime:
        return self.start + timedelta(seconds=self.t)


def test_a_wall_clock_session_is_placed_on_the_run_time_line(tmp_path: Path) -> None:
    """On a real station the resumed session's clock starts at 0 again: its points are placed after the
    first session's (t_offset), not on top of them."""
    url = f"sqlite:///{tmp_path / 'r.db'}"
    first = StationClock(START)
    rec = Recorder(tmp_path / "out", url, first, info("run-wall", "alice"), [], envelope=ENVELOPE)  # type: ignore[arg-type]
    rec.start_run(DEVICES)
    rec.start_step(0, "soak", "thermal_soak")
    for t in (0.0, 600.0):
        rec.telemetry("rack_ac_power_w", "W", None, t, 3000.0)
    first.t = 600.0
    rec.abort_open_step("aborted by the operator")
    rec.end_run(status="ABORTED", verdict="ABORTED")
    rec.close()
    second = StationClock(START + timedelta(hours=2))
    rec = Recorder(tmp_path / "out", url, second, info("run-wall", "bob"), [], envelope=ENVELOPE, resume=True)  # type: ignore[arg-type]
    rec.start_run(DEVICES)
    rec.start_step(0, "soak", "thermal_soak")
    for t in (0.0, 600.0):
        rec.telemetry("rack_ac_power_w", "W", None, t, 4000.0)
    second.t = 600.0
    rec.end_step(status="COMPLETE", verdict="PASS")
    rec.end_run(status="COMPLETE", verdict="PASS")
    rec.close()
    con = sqlite3.connect(tmp_path / "r.db")
    assert con.execute("select number, clock, t_offset from sessions order by number").fetchall() == [
        (1, "wall", 0.0), (2, "wall", 7200.0)]
    html = write_report(url, "run-wall", tmp_path / "report.html").read_text()
    power = _svg(html, "plot-rack-power")
    assert "2:00" in power and "session 2 · bob" in power, "the axis runs to session 2, two hours on"
    assert "time since the run started (wall clock)" in power
    assert "(wall clock)" in html[html.index('id="traceability"'):]


def test_resuming_an_errored_run_runs_the_errored_step_again_and_says_so(tmp_path: Path, root: Path) -> None:
    """compute01's BMC is down in the first session: sensor_sanity ends ERROR and stop_on_fail skips the
    rest. The technician fixes it (here: the fault scenario no longer breaks anything) and resumes: the
    errored step runs again, then every step it kept from running; the run passes as one record."""
    fault = tmp_path / "bmc_down.yaml"
    fault.write_text("name: bmc_down\ndescription: compute01 BMC down\ninject:\n"
                     "  - {target: redfish, device: compute01, action: unreachable, args: {down_s: 300, booting_s: 60}}\n")
    plan = str(root / "tests" / "plans" / "mini_probe.yaml")
    first = subprocess.run([*CLI, "run", plan, "--sim", "--seed", "3", "--fault", str(fault), "--rack-serial", "SIM-5",
                            "--operator", "alice", "--yes", "--out", str(tmp_path / "run")], cwd=tmp_path,
                           capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL, check=False)
    assert first.returncode == 3, first.stdout + first.stderr
    con = sqlite3.connect(tmp_path / "runs" / "results.db")
    (run_id, verdict), = con.execute("select id, verdict from runs").fetchall()
    assert verdict == "ERROR"
    # fixed: only the operator's Ctrl-C is left in the scenario, and a resumed session does not get it
    fault.write_text("name: bmc_down\ndescription: fixed\ninject:\n  - {target: process, action: sigint, at_s: 100000}\n")
    again = subprocess.run([*CLI, "run", "--resume", run_id, "--operator", "bob", "--yes"], cwd=tmp_path,
                           capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL, check=False)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "ERROR in session 1, run again" in re.sub(r"[│\s]+", " ", again.stdout), again.stdout
    assert con.execute("select verdict, sessions from runs").fetchall() == [("PASS", 2)]
    attempts = con.execute("select a.number, a.session, a.verdict from attempts a join steps s on s.id = a.step_id "
                           "where s.name = 'sensor_sanity' order by a.number").fetchall()
    assert attempts == [(1, 1, "ERROR"), (2, 2, "PASS")]
    notes = [m for (m,) in con.execute("select message from events where kind = 'rerun' order by id")]
    assert notes[0].startswith("step sensor_sanity ended ERROR in session 1 (RedfishUnreachable: compute01")
    assert notes[0].endswith("session 2 runs it again")
    assert notes[1].startswith("steps not run after it (ac_cycle, dc_cycle, load_sweep, thermal_soak")
    ocp = (tmp_path / "run" / "ocp.jsonl").read_text()
    assert "step sensor_sanity ended ERROR in session 1" in ocp and "by operator bob" in ocp


def test_sessions_of_runs_stored_before_sessions_were_recorded_are_filled_in(tmp_path: Path) -> None:
    """A store at the first revision (no sessions table) is upgraded in place: each run gets its first
    session from the run row and one more per "resumed" event (whose operator was not recorded)."""
    from alembic import command

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.execute(text(
            "insert into runs (id, plan_name, plan_path, plan_sha256, envelope_sha256, envelope_version, station_id,"
            " station_path, rack_name, rack_serial, serial_check, sku, operator, harness_version, git_sha, simulated,"
            " command_line, sessions, started_at, ended_at, status, verdict, out_dir) values ('old', 'p', 'p.yaml',"
            " 'a', 'b', '1', 'st', '', '', 'SN', '', 'mini', 'alice', '0.1', '', 0, 'rackval run', 2,"
            " '2025-01-01 08:00:00', '2025-01-01 12:00:00', 'COMPLETE', 'PASS', '')"))
        conn.execute(text("insert into events (run_id, at, t_sim, kind, message, data) values "
                          "('old', '2025-01-01 10:00:00', 0, 'resumed', 'session 2 resumes the run', '{}')"))
        conn.execute(text("insert into steps (id, run_id, \"index\", name, kind, status, verdict, message, superseded,"
                          " t_start, started_at) values (1, 'old', 0, 'soak', 'thermal_soak', 'COMPLETE', 'PASS', '',"
                          " 0, 0, '2025-01-01 08:00:00')"))
        for number, session, status in ((1, 1, "ABORTED"), (2, 2, "COMPLETE")):  # stored as "attempt 2/1"
            conn.execute(text("insert into attempts (run_id, step_id, number, of, session, status, message, retried,"
                              " started_at) values ('old', 1, :n, 1, :s, :st, '', 0, '2025-01-01 08:00:00')"),
                         {"n": number, "s": session, "st": status})
    engine.dispose()
    open_store(url).dispose()
    con = sqlite3.connect(tmp_path / "old.db")
    assert con.execute("select number, operator, started_at, ended_at, verdict from sessions").fetchall() == [
        (1, "alice", "2025-01-01 08:00:00.000000", None, None),
        (2, "", "2025-01-01 10:00:00.000000", "2025-01-01 12:00:00.000000", "PASS")]
    assert con.execute("select number, of, session from attempts order by number").fetchall() == [(1, 1, 1), (2, 2, 2)]
    shown = _cli("results", "show", "old", "--store", url)
    assert "session 2: operator -, started 2025-01-01 10:00:00 UTC" in shown
    assert "attempt 2/2 session 2" in shown


def test_the_resuming_operator_typed_at_the_terminal_is_recorded(tmp_path: Path, root: Path) -> None:
    """Session 1 (alice) is stopped by the operator's Ctrl-C; `rackval run --resume` in a terminal asks who
    is resuming; bob types his id: the run continues and bob is on record as session 2's operator."""
    from ctrl_c_fault import ctrl_c_at
    from terminal_session import rackval_in_pty, screen_text

    plan = str(root / "tests" / "plans" / "mini_probe.yaml")
    first = subprocess.run([*CLI, "run", plan, "--sim", "--seed", "4", "--fault", str(ctrl_c_at(tmp_path, 900)),
                            "--rack-serial", "SIM-6", "--operator", "alice", "--yes", "--out", str(tmp_path / "run")],
                           cwd=tmp_path, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
                           check=False)
    assert first.returncode == 3, first.stdout + first.stderr
    con = sqlite3.connect(tmp_path / "runs" / "results.db")
    (run_id,) = con.execute("select id from runs").fetchone()
    # a pty that is the process's controlling terminal, as a technician's is: questions go to /dev/tty
    child = rackval_in_pty(["run", "--resume", run_id], tmp_path)
    try:
        child.expect("operator id:")
        child.sendline("bob")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    seen = screen_text(child)
    assert child.exitstatus in (0, 1), seen[-3000:]
    assert "results in" in seen
    assert con.execute("select number, operator from sessions order by number").fetchall() == [(1, "alice"), (2, "bob")]
    shown = _cli("results", "show", run_id, "--store", f"sqlite:///{tmp_path / 'runs' / 'results.db'}")
    assert "session 2: operator bob" in shown and "operator: alice, bob" in shown
