"""Crash safety: `rackval run` SIGKILLed at points hypothesis chooses, then `rackval run --resume RUN_ID`.

The run is the real CLI in a subprocess on the simulated station (tests/plans/mini_probe.yaml, seed 4).
The kill point is a simulated moment hypothesis picks between two moments at which the uninterrupted
run recorded measurements: a `{target: process, action: sigstop, at_s: T}` fault freezes the process
there (tests/ctrl_c_fault.py), the test reads its open sockets, then SIGKILLs it (no handler, no safe
state, no flush). So the kill lands at the same point of the run on any machine, however loaded. Then:

- the store opens cleanly: SQLite integrity and foreign keys check, Alembic at head;
- what was committed before the kill is exactly what the uninterrupted run had recorded by then, and it
  is still there, unchanged, after the resume;
- nothing of the killed process is left: no process of its process group, none of its sockets;
- the resumed run (a fresh simulated rack) ends with the verdict and exit code of an uninterrupted run
  with the same seed, and the same measurements, by this rule:
  * a step that finished before the kill is handed back from the store, not re-run: its measurements
    (name, component, value, verdict) equal the uninterrupted run's exactly;
  * the step the kill interrupted and every later step run in the resumed session, on a simulated rack
    that restarts powered and idle at the simulated time the interrupted step started: they must take
    the same measurements (name) with the same verdicts; their values and components may differ (the
    rack's thermal history and its boot-delay draws start over; a "busiest PSU" is picked by noise).
"""

from __future__ import annotations

import math
import os
import signal
import sqlite3
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import wait_for
from ctrl_c_fault import CLI, freeze_at
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine

from harness.results.migrate import current, head

ROOT = Path(__file__).resolve().parent.parent
PLAN = str(ROOT / "tests" / "plans" / "mini_probe.yaml")
RUN = ["run", PLAN, "--sim", "--rack-serial", "SIM-7", "--seed", "4", "--yes", "--operator", "op"]

Row = tuple[int, str, str, str | None, object, str]  # (step index, step, name, component, value, verdict)
Stored = tuple[object, ...]  # a measurements row: id, name, component, value, value_text, verdict, attempt_id
STORED = "select id, name, component, value, value_text, verdict, attempt_id from measurements"


@dataclass(frozen=True)
class Reference:
    exit_code: int
    verdict: str
    final: list[Row]  # every plan step's last attempt, in order
    recorded: list[tuple[float, Stored]]  # every measurement and its simulated time, in the order committed
    step_times: list[float]  # the simulated moments at which plan steps (not the safe state) measured

    def kill_moments(self) -> list[float]:
        """Simulated moments to kill at: between two moments at which plan steps recorded measurements
        (never at one: a thread due at that moment would race the freeze), the last one excluded so the
        run is still running; a fraction of a second past a whole second, where no poll or sample falls."""
        moments = []
        for a, b in zip(self.step_times, self.step_times[1:], strict=False):
            at = math.floor((a + b) / 2) + 0.37
            moments.append(at if a < at < b else (a + b) / 2)
        return moments


def final_measurements(db: Path, run_id: str) -> list[Row]:
    """The measurements of each plan step's last attempt (not the safe state's), in step and id order."""
    with sqlite3.connect(db) as con:
        rows = con.execute(
            "select s.\"index\", s.name, m.name, m.component, coalesce(m.value_text, m.value), m.verdict "
            "from measurements m join steps s on s.id = m.step_id join attempts a on a.id = m.attempt_id "
            "where m.run_id = ? and s.kind != 'safe_state' and s.superseded = 0 "
            "and a.number = (select max(number) from attempts where step_id = s.id) order by s.\"index\", m.id",
            (run_id,)).fetchall()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def store_url(db: Path) -> str:
    return f"sqlite:///{db}"


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    """One uninterrupted run with the same seed."""
    tmp = tmp_path_factory.mktemp("whole")
    db = tmp / "r.db"
    done = subprocess.run([*CLI, *RUN, "--store", store_url(db), "--out", str(tmp / "run")], cwd=tmp, check=False,
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert done.returncode in (0, 1), done.stdout + done.stderr
    with sqlite3.connect(db) as con:
        (run_id, verdict), = con.execute("select id, verdict from runs").fetchall()
        recorded = [(t, tuple(row)) for t, *row in con.execute(
            f"select t_sim, {STORED[len('select '):]} order by id")]
        times = sorted(t for (t,) in con.execute("select distinct m.t_sim from measurements m join steps s "
                                                 "on s.id = m.step_id where s.kind != 'safe_state'"))
    return Reference(done.returncode, verdict, final_measurements(db, run_id), recorded, times)

def socket_inodes(pid: int) -> set[str]:
    out = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    for fd in fd_dir.iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            out.add(target[8:-1])
    return out


def live_socket_inodes() -> set[str]:
    out = set()
    for table in ("tcp", "tcp6", "udp", "udp6"):
        path = Path("/proc/net") / table
        if path.exists():
            for line in path.read_text().splitlines()[1:]:
                out.add(line.split()[9])
    return out


def group_members(pgid: int) -> list[int]:
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def process_state(pid: int) -> str:
    """The kernel's one-letter state of ``pid`` (R, S, T = stopped, Z, ...), '' once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def kill_at(at_s: float, tmp: Path, db: Path) -> tuple[int, set[str]]:
    """Start the run, freeze it at simulated ``at_s``, SIGKILL it there; (pid, its sockets at the kill)."""
    freeze = freeze_at(tmp, at_s)
    with (tmp / "run.out").open("w") as out:
        proc = subprocess.Popen([*CLI, *RUN, "--store", store_url(db), "--out", str(tmp / "run"), "--fault",
                                 str(freeze)], cwd=tmp, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)  # its own process group: anything it started is findable
    try:
        wait_for(lambda: proc.poll() is not None or process_state(proc.pid) == "T", f"the run frozen at {at_s:g} s",
                 ceiling_s=300)  # as long as a whole run may take
        assert proc.poll() is None, f"the run ended (exit {proc.returncode}) before {at_s:g} s: " + \
            (tmp / "run.out").read_text()[-3000:]
        sockets = socket_inodes(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(60)
    return proc.pid, sockets


@settings(max_examples=5, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_sigkill_then_resume_equals_an_uninterrupted_run(reference: Reference, data: st.DataObject) -> None:
    at_s = data.draw(st.sampled_from(reference.kill_moments()), label="kill at simulated second")
    with tempfile.TemporaryDirectory(prefix="rackval-crash-") as d:
        tmp = Path(d)
        db = tmp / "r.db"
        pid, sockets = kill_at(at_s, tmp, db)

        # nothing of the killed run is left behind
        assert group_members(pid) == [], "processes of the killed run are still alive"
        assert sockets, "the run's simulators had sockets open"
        assert not sockets & live_socket_inodes(), "a socket of the killed run is still open"

        # the store opens cleanly and holds what was committed: what the whole run had recorded by then
        with sqlite3.connect(db) as con:
            assert con.execute("pragma integrity_check").fetchall() == [("ok",)]
            assert con.execute("pragma foreign_key_check").fetchall() == []
            (run_id, status), = con.execute("select id, status from runs").fetchall()
            committed = con.execute(f"{STORED} order by id").fetchall()
            finished = {i for (i,) in con.execute("select \"index\" from steps where kind != 'safe_state' "
                                                  "and status not in ('RUNNING', 'ABORTED')")}
        event(f"killed after {len(committed) // 10 * 10}+ measurements")
        assert status == "RUNNING" and committed
        assert committed == [row for t, row in reference.recorded if t < at_s]
        engine = create_engine(store_url(db))
        try:
            with engine.connect() as conn:
                assert current(conn) == head()
        finally:
            engine.dispose()

        resumed = subprocess.run([*CLI, "run", "--resume", run_id, "--yes", "--store", store_url(db)], cwd=tmp,
                                 check=False, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
        assert resumed.returncode == reference.exit_code, resumed.stdout[-3000:] + resumed.stderr[-3000:]

        with sqlite3.connect(db) as con:
            after = con.execute(f"{STORED} order by id").fetchall()
            (verdict, status, sessions), = con.execute("select verdict, status, sessions from runs").fetchall()
        assert after[:len(committed)] == committed, "a measurement committed before the kill changed or vanished"
        assert (verdict, status, sessions) == (reference.verdict, "COMPLETE", 2)
        got = final_measurements(db, run_id)
        assert [r for r in got if r[0] in finished] == [r for r in reference.final if r[0] in finished]
        assert [(r[1], r[2], r[5]) for r in got] == [(r[1], r[2], r[5]) for r in reference.final]


def test_a_running_run_cannot_be_resumed_twice(tmp_path: Path) -> None:
    """The lock that lets a crashed run be resumed is held while its run lives (here: in this process)."""
    from harness.config.plan import load_plan
    from harness.errors import ConfigError
    from harness.run.options import RunOptions
    from harness.run.session import RunSession
    from harness.steps import STEP_KINDS

    def options(**kw: object) -> RunOptions:
        return RunOptions(sim=True, seed=4, rack_serial="SIM-7", operator="op", store_url=store_url(tmp_path / "r.db"),
                          yes=True, **kw)  # type: ignore[arg-type]

    plan = load_plan(PLAN, STEP_KINDS)
    live = RunSession(plan, options(out_dir=tmp_path / "run"))
    try:
        live.open()
        live.run_step(0)
        assert live.recorder is not None
        second = RunSession(plan, options(resume=live.recorder.info.run_id))
        with pytest.raises(ConfigError, match="still running"):
            second.open()
        second.finish()
    finally:
        live.finish()
