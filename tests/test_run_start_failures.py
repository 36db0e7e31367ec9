"""A run that cannot start, or stops at a fault, says why in words a technician can act on.

Each test reproduces one of issue 12's "smaller" findings:
- `--fault leak` on the mini plan ended with a raw ``KeyError: "no leak detector 'compute03.coldplate'"``;
- `pdu_breaker_trip` ended "PowerActionUncertain ... outlet not confirmed" and never said "breaker";
- a TLS failure printed an empty table and "ERROR  results in ." and wrote no log;
- each refused start left an empty ``runs/<id>/`` holding only a lock file.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from harness.clock import RealClock, VirtualClock
from harness.config.profile import load_profile
from harness.drivers.snmp.pdu import Pdu, SnmpCredentials
from harness.errors import ConfigError, PowerActionUncertain
from harness.sim.physics import RackTwin
from harness.sim.redfish.tls import make_ca
from harness.sim.snmp.agent import PduAgent

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "test_plans" / "mini_smoke.yaml"


def rackval(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, stdin=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          check=False)


def run_dirs(cwd: Path) -> list[Path]:
    return [p for p in (cwd / "runs").glob("*") if p.is_dir()]


def one_line(text: str) -> str:
    return " ".join(text.split())


def test_a_fault_for_another_rack_names_the_fault_and_what_the_rack_has(tmp_path: Path) -> None:
    out = rackval("run", str(SMOKE), "--sim", "--rack-serial", "SIM-0001", "--yes", "--fault", "leak", cwd=tmp_path)
    err = one_line(out.stderr)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "KeyError" not in out.stdout + out.stderr and "Traceback" not in out.stdout + out.stderr
    assert ("leak.yaml:5: inject[0].args.detector: fault scenario 'leak' (written for the nvl72 rack) names leak "
            "detector 'compute03.coldplate', which this mini rack does not have (it has: cdu1.reservoir, "
            "compute01.coldplate, compute02.coldplate)") in err
    assert run_dirs(tmp_path) == []  # refused before a run directory was claimed


def test_every_part_a_twin_fault_names_is_checked(tmp_path: Path) -> None:
    from harness.sim.station import SimStation

    scenario = tmp_path / "pump.yaml"
    scenario.write_text("name: pumps\ndescription: x\ninject:\n"
                        "  - {target: twin, action: fail_pump, args: {pump: pump9}, at_s: 300}\n", encoding="utf-8")
    sim = SimStation(load_profile("mini"), clock=VirtualClock(), seed=0)
    with pytest.raises(ConfigError) as exc:
        sim.apply_fault(str(scenario))  # a timed fault too: refused now, not when its timer fires
    assert str(exc.value).startswith(f"{scenario}:4: inject[0].args.pump: fault scenario 'pumps' names pump "
                                     "'pump9', which this mini rack does not have (it has: ")
    assert not sim.timers and not sim.fault_log.find("twin.fail_pump")


@pytest.fixture
def tripped_pdu(twin: RackTwin, agent: PduAgent, clock: VirtualClock) -> Iterator[Pdu]:
    twin.force_trip("pdu1", "B1")
    with Pdu("pdu1", "127.0.0.1", agent.port, vendor="apc_rpdu2", credentials=SnmpCredentials("2c", community="private"),
             clock=clock) as pdu:
        yield pdu


def test_an_outlet_that_will_not_come_on_names_the_tripped_breaker(tripped_pdu: Pdu) -> None:
    with pytest.raises(PowerActionUncertain) as exc:
        tripped_pdu.set_outlet(1, True, confirm_timeout_s=5)
    assert "outlet not confirmed on within 5 s" in str(exc.value)
    assert "pdu1 reports breaker 1 overload: a tripped (or overloaded) breaker keeps its outlets off" in str(exc.value)
    tripped_pdu.set_outlet(1, False, confirm_timeout_s=5)  # off is confirmed: nothing to explain


def test_pdu_breaker_trip_run_says_breaker(tmp_path: Path) -> None:
    out = rackval("run", str(SMOKE), "--sim", "--rack-serial", "SIM-0001", "--yes", "--fault", "pdu_breaker_trip",
                  cwd=tmp_path)
    assert out.returncode == 3, out.stdout + out.stderr
    assert "breaker 1 overload" in one_line(out.stdout)
    with sqlite3.connect(tmp_path / "runs" / "results.db") as con:
        (message,), = con.execute("select a.message from attempts a join steps s on a.step_id = s.id "
                                  "where s.name = 'ac_cycle'").fetchall()
    assert "PowerActionUncertain" in message and "pdu1 reports breaker 1 overload" in message


def _station_file(sim: object, path: Path, **changes: object) -> Path:
    sim.write_station_file(path)  # type: ignore[attr-defined]
    yaml = YAML()
    data = yaml.load(path.read_text(encoding="utf-8"))
    for bmc in data["bmcs"]:
        bmc.update(changes)
    with path.open("w", encoding="utf-8") as fh:
        yaml.dump(data, fh)
    return path


def test_a_tls_failure_says_why_in_one_line_and_writes_the_log(tmp_path: Path) -> None:
    from harness.sim.station import SimStation

    other = make_ca(tmp_path / "other-ca", "127.0.0.1", label="not the station's")
    sim = SimStation(load_profile("mini"), clock=RealClock(speed=50), seed=1, tls=True)
    sim.start()
    try:
        station = _station_file(sim, tmp_path / "station.yaml", ca_file=str(other.ca_file))
        out = rackval("run", str(SMOKE), "--station", str(station), "--rack-serial", "SIM-0001", "--yes",
                      cwd=tmp_path)
    finally:
        sim.stop()
    assert out.returncode == 3, out.stdout + out.stderr
    cause = [ln for ln in out.stderr.splitlines() if "could not start" in ln]
    assert len(cause) == 1 and "TLS failure talking to BMC" in cause[0] and "wrong or missing ca_file" in cause[0]
    assert "┏" not in out.stdout and "results in ." not in out.stdout  # no empty table, no "results in ."
    assert "nothing was switched" in out.stdout
    (run_dir,) = run_dirs(tmp_path)
    assert sorted(p.name for p in run_dir.iterdir()) == ["rackval.log"]  # the log, no lock file left over
    log = (run_dir / "rackval.log").read_text(encoding="utf-8")
    assert "the run could not start: RedfishError" in log and "TLS failure talking to BMC" in log
    assert f"its log: {run_dir / 'rackval.log'}" in one_line(out.stdout)


def test_a_refused_start_leaves_no_run_directory(tmp_path: Path) -> None:
    """The wrong rack (serial mismatch) is bad input: exit 2, and no ``runs/<id>/`` with only a lock in it."""
    from harness.sim.station import SimStation

    sim = SimStation(load_profile("mini"), clock=RealClock(speed=50), seed=1, rack_serial="SIM-A")
    sim.start()
    try:
        station = tmp_path / "station.yaml"
        sim.write_station_file(station)
        out = rackval("run", str(SMOKE), "--station", str(station), "--rack-serial", "SIM-B", "--yes", cwd=tmp_path)
    finally:
        sim.stop()
    assert out.returncode == 2, out.stdout + out.stderr
    assert "does not match the simulated rack" in one_line(out.stderr)
    assert run_dirs(tmp_path) == []


def test_a_refused_start_keeps_a_directory_the_operator_made(tmp_path: Path) -> None:
    """--out naming a directory that exists: not rackval's to remove (only what it made is tidied)."""
    from harness.sim.station import SimStation

    out_dir = tmp_path / "mine"
    out_dir.mkdir()
    (out_dir / "notes.txt").write_text("keep me", encoding="utf-8")
    sim = SimStation(load_profile("mini"), clock=RealClock(speed=50), seed=1, rack_serial="SIM-A")
    sim.start()
    try:
        station = tmp_path / "station.yaml"
        sim.write_station_file(station)
        out = rackval("run", str(SMOKE), "--station", str(station), "--rack-serial", "SIM-B", "--yes", "--out",
                      str(out_dir), cwd=tmp_path)
    finally:
        sim.stop()
    assert out.returncode == 2, out.stdout + out.stderr
    assert (out_dir / "notes.txt").read_text(encoding="utf-8") == "keep me"
    assert "rackval.log" not in {p.name for p in out_dir.iterdir()}
