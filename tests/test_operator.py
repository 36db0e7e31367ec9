"""Operator experience: the serial interlock, options that are bad input, retries recorded per attempt."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.clock import RealClock
from harness.config.plan import load_plan
from harness.config.profile import load_profile
from harness.errors import ConfigError, TransientDriverError
from harness.rack import DeviceIdentity
from harness.run.interlock import check_serial

CLI = [sys.executable, "-m", "harness.cli"]


def rackval(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL)


def test_interlock_rules() -> None:
    rm = [DeviceIdentity("rm", "rack_manager", serial="RACK-1"), DeviceIdentity("c1", "compute_tray", serial="X")]
    assert "rack_manager rm" in check_serial("RACK-1", rm, simulated=False, accept_unverified=False)
    with pytest.raises(ConfigError, match="does not match the rack's SerialNumber"):
        check_serial("RACK-2", rm, simulated=False, accept_unverified=True)  # --yes never overrides a mismatch
    trays = [DeviceIdentity("c1", "compute_tray", serial="RACK-1-C1-00000001")]
    assert check_serial("RACK-1", trays, simulated=True, accept_unverified=False).startswith("verified")
    with pytest.raises(ConfigError):
        check_serial("RACK-9", trays, simulated=True, accept_unverified=False)
    with pytest.raises(ConfigError, match="pass --yes"):
        check_serial("RACK-1", trays, simulated=False, accept_unverified=False)
    assert "not verifiable" in check_serial("RACK-1", trays, simulated=False, accept_unverified=True)
    assert "confirmed" in check_serial("RACK-1", trays, simulated=False, accept_unverified=False,
                                       confirm=lambda q: True)


def test_a_wrong_serial_is_refused_before_any_power_action(tmp_path: Path, root: Path) -> None:
    from harness.sim.station import SimStation

    sim = SimStation(load_profile("mini"), clock=RealClock(speed=50), seed=1, rack_serial="SIM-A")
    events: list[tuple[str, dict]] = []
    sim.start()
    try:
        station = tmp_path / "station.yaml"
        sim.write_station_file(station)
        sim.twin.listeners.append(lambda kind, data: events.append((kind, data)))
        result = rackval("run", str(root / "test_plans" / "mini_smoke.yaml"), "--station", str(station),
                         "--rack-serial", "SIM-B", "--operator", "op1", "--out", str(tmp_path / "out"), cwd=tmp_path)
    finally:
        sim.stop()
    assert result.returncode == 2, result.stdout + result.stderr
    assert "'SIM-B' does not match the simulated rack" in " ".join(result.stderr.split())
    assert "refusing before any power action" in " ".join(result.stderr.split())
    assert not [e for e in events if e[0] in ("outlet", "power", "eload", "busbar")], events
    assert not (tmp_path / "out" / "ocp.jsonl").exists()


def test_bad_options_exit_2_without_touching_a_station(tmp_path: Path, root: Path) -> None:
    plan = str(root / "test_plans" / "mini_smoke.yaml")
    station = tmp_path / "s.yaml"
    station.write_text("station_id: s\nprofile: mini\nbmcs:\n  - {name: a, url: 'http://127.0.0.1:9', credentials: c}\n")
    result = rackval("run", plan, "--station", str(station), "--rack-serial", "X", "--fault", "psu_fail", cwd=tmp_path)
    assert result.returncode == 2 and "--fault" in result.stderr
    result = rackval("run", plan, "--sim", cwd=tmp_path)  # no serial, nobody at the keyboard
    assert result.returncode == 2 and "--rack-serial" in result.stderr


def test_retries_record_every_attempt_and_take_the_last_verdict(tmp_path: Path, root: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.run.options import RunOptions
    from harness.run.session import RunSession
    from harness.steps import STEP_KINDS

    text = (root / "test_plans" / "mini_smoke.yaml").read_text()
    text = text.replace("reset_type: ForceRestart", "reset_type: ForceRestart\n    retry: {attempts: 3, on: [transient]}")
    (tmp_path / "envelopes").mkdir()
    (tmp_path / "envelopes" / "mini.yaml").write_text((root / "test_plans" / "envelopes" / "mini.yaml").read_text())
    (tmp_path / "plan.yaml").write_text(text)
    calls = {"n": 0}
    real = STEP_KINDS["dc_cycle"].run

    def flaky(ctx, params):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 1:
            raise TransientDriverError("compute01", "GET /redfish/v1/Systems/1", "503 while the BMC reboots")
        return real(ctx, params)

    monkeypatch.setattr(STEP_KINDS["dc_cycle"], "run", flaky)
    session = RunSession(load_plan(tmp_path / "plan.yaml", STEP_KINDS),
                         RunOptions(sim=True, rack_serial="SIM-1", seed=2, out_dir=tmp_path / "out",
                                    store_url=f"sqlite:///{tmp_path / 'r.db'}"))
    session.open()
    try:
        records = [session.run_step(i) for i in range(2)]
    finally:
        result = session.finish()
    dc = records[1]
    assert calls["n"] == 2
    assert [(a.number, a.verdict) for a in dc.attempts] == [(1, "ERROR"), (2, dc.verdict)]
    assert dc.verdict in ("PASS", "FAIL") and "503" in dc.attempts[0].message
    import sqlite3

    rows = sqlite3.connect(tmp_path / "r.db").execute(
        "select a.number, a.verdict, a.retried from attempts a join steps s on s.id = a.step_id "
        "where s.name = 'dc_cycle' order by a.number").fetchall()
    assert rows == [(1, "ERROR", 1), (2, dc.verdict, 0)]
    ocp = (tmp_path / "out" / "ocp.jsonl").read_text()
    assert '"dc_cycle (attempt 1/3)"' in ocp and '"dc_cycle (attempt 2/3)"' in ocp
    assert result.run_id
