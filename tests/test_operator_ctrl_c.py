"""The operator's Ctrl-C as a fault (``{target: process, action: sigint, at_s: N}``): a real SIGINT to the
run's own process at a simulated moment, so a test of what Ctrl-C does depends on no wall-clock timing."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from ctrl_c_fault import ctrl_c_at

from harness.clock import VirtualClock
from harness.config.plan import load_plan
from harness.errors import ConfigError
from harness.run.options import RunOptions, RunResult
from harness.run.session import RunSession
from harness.sim.faults.scenarios import load_scenario
from harness.steps import STEP_KINDS

ROOT = Path(__file__).resolve().parent.parent
PROBE = ROOT / "tests" / "plans" / "mini_probe.yaml"  # thermal_soak runs from 294 s to 1194 s (seed 0)
CLI = [sys.executable, "-m", "harness.cli"]


class Interrupted(Exception):
    pass


def test_virtual_clock_interrupt_lands_at_the_moment_it_is_sent() -> None:
    """A sleeping main thread takes the signal at the simulated moment it was sent, though the clock
    could jump straight on to the main thread's own wake-up once the sender stops holding it."""
    clock = VirtualClock()
    sent: list[float] = []
    joined = threading.Event()

    def sender() -> None:
        with clock.participant():
            joined.set()
            clock.sleep(10.0)
            sent.append(clock.now())
            clock.interrupt(threading.main_thread(),
                            lambda: signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGUSR1))

    def handler(signum: int, frame: object) -> None:
        raise Interrupted()

    previous = signal.signal(signal.SIGUSR1, handler)
    try:
        thread = threading.Thread(target=sender)
        thread.start()
        joined.wait()  # the sender takes part in the clock before this thread sleeps
        with pytest.raises(Interrupted):
            clock.sleep(1000.0)
        taken = clock.now()
        thread.join()
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert sent == [10.0] and taken == 10.0


def test_a_ctrl_c_fault_aborts_the_step_it_lands_in(tmp_path: Path) -> None:
    """In process, under plain pytest's handling of SIGINT: the fault log says when it was sent, the
    run's abort is recorded at that very simulated second, and the safe state is verified."""
    fault = ctrl_c_at(tmp_path, 600)
    session = RunSession(load_plan(PROBE, STEP_KINDS), RunOptions(
        sim=True, seed=0, rack_serial="SIM-1", operator="ci", out_dir=tmp_path / "run",
        store_url=f"sqlite:///{tmp_path}/r.db", fault=str(fault), yes=True))
    result: RunResult | None = None
    reached: list[str] = []
    try:
        session.open()
        log = session.sim.fault_log
        with pytest.raises(KeyboardInterrupt):
            for i, name in enumerate(session.step_names):
                reached.append(name)
                session.run_step(i)
    finally:
        result = session.finish()
    assert reached[-1] == "thermal_soak"
    (sent,) = log.find("process.sigint")
    assert (sent.first_s, sent.count, sent.scenario) == (600.0, 1, "operator_ctrl_c")
    assert result.verdict == "ABORTED" and result.safe_state is not None and result.safe_state.ok
    con = sqlite3.connect(tmp_path / "r.db")
    assert con.execute("select t_sim from events where kind = 'aborted'").fetchall() == [(600.0,)]


def test_rackval_run_takes_the_ctrl_c_fault_like_an_operators(tmp_path: Path) -> None:
    """`rackval run --sim --fault FILE`: its own Ctrl-C handler (unattended: abort at once) stops the
    soak at 600 s, exit 3, the run ABORTED and resumable; the resumed session is not interrupted again."""
    fault = ctrl_c_at(tmp_path, 600)
    base = [*CLI, "run", str(PROBE), "--sim", "--seed", "0", "--rack-serial", "SIM-1", "--yes"]
    cut = subprocess.run([*base, "--fault", str(fault), "--out", str(tmp_path / "cut")], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert cut.returncode == 3, cut.stdout + cut.stderr
    con = sqlite3.connect(tmp_path / "runs" / "results.db")
    (run_id, status), = con.execute("select id, status from runs").fetchall()
    assert status == "ABORTED"
    steps = con.execute("select name, status from steps where kind != 'safe_state' order by id").fetchall()
    assert steps[-1] == ("thermal_soak", "ABORTED") and all(s == "COMPLETE" for _, s in steps[:-1]), steps
    assert con.execute("select t_sim from events where kind = 'aborted'").fetchall() == [(600.0,)]
    resumed = subprocess.run([*CLI, "run", "--resume", run_id, "--yes"], cwd=tmp_path, capture_output=True,
                             text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert con.execute("select status, verdict from runs").fetchall() == [("COMPLETE", "PASS")]


@pytest.mark.parametrize("inject", [
    "{target: process, action: sigint, device: compute01}",
    "{target: process, action: sigterm}",
    "{target: redfish, device: compute01, action: evict_sessions, at_s: .inf}",
])
def test_a_malformed_process_fault_or_time_is_refused_with_its_line(tmp_path: Path, inject: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(f"name: bad\ndescription: x\ninject:\n  - {inject}\n")
    with pytest.raises(ConfigError) as err:
        load_scenario(str(path))
    assert str(err.value).startswith(f"{path}:4:"), err.value
