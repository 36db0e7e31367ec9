"""Several racks on one station: the station model, one rack's view of it, and shared-instrument locks."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from conftest import wait_for

from harness.config.station import load_station, select_rack
from harness.errors import ConfigError
from harness.locks import InstrumentLocks, read_journal

STATION = """station_id: line3
profile: mini
instruments:
  - {name: analyzer, role: power_analyzer, model: yokogawa_wt5000, resource: "TCPIP::10.0.0.9::INSTR",
     calibration_due: 2030-01-01}
racks:
  - name: rackA
    serial: RACK-A
    bmcs: [{name: compute01, url: "https://10.0.1.1", credentials: bmc}]
    pdus: [{name: pdu1, host: 10.0.1.20, credentials: pdu, outlets: {1: shelf1.psu1}}]
  - name: rackB
    serial: RACK-B
    bmcs: [{name: compute01, url: "https://10.0.2.1", credentials: bmc}]
"""


def test_a_station_lists_several_racks_and_each_run_sees_one(tmp_path: Path) -> None:
    path = tmp_path / "station.yaml"
    path.write_text(STATION)
    station = load_station(path)
    a = select_rack(station, "rackA")
    assert [b.url for b in a.bmcs] == ["https://10.0.1.1"] and [p.name for p in a.pdus] == ["pdu1"]
    assert [i.name for i in a.instruments] == ["analyzer"], "station-level instruments are shared"
    assert a.station_id == "line3" and not a.racks
    assert select_rack(station, "rackB").bmcs[0].url == "https://10.0.2.1"
    racks_line = STATION.splitlines().index("racks:") + 1
    with pytest.raises(ConfigError, match="give --rack NAME or --all-racks") as exc:
        select_rack(station, None, str(path))
    assert str(exc.value).startswith(f"{path}:{racks_line}: racks: "), exc.value  # where the racks are listed
    with pytest.raises(ConfigError, match="no rack 'rackC'") as exc:
        select_rack(station, "rackC", str(path))
    assert str(exc.value).startswith(f"{path}:{racks_line}: --rack: "), exc.value


def test_single_rack_station_files_stay_valid_and_mixing_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "one.yaml"
    path.write_text("station_id: s\nprofile: mini\nbmcs: [{name: a, url: 'http://h', credentials: c}]\n")
    assert select_rack(load_station(path), None).bmcs[0].name == "a"
    path.write_text(STATION + "bmcs: [{name: x, url: 'http://h', credentials: c}]\n")
    with pytest.raises(ConfigError, match="under each of racks"):
        load_station(path)


def test_a_shared_instrument_is_used_by_one_rack_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The second rack is seen *waiting* (its journal line, written just before it blocks on the lock),
    not merely "not done yet after a while", and gets the instrument only once the first releases it."""
    monkeypatch.setenv("RACKVAL_LOCK_DIR", str(tmp_path))
    shared = "TCPIP::10.0.0.9::INSTR"
    first = InstrumentLocks([shared, "TCPIP::10.0.1.5::INSTR"], holder="rackA")
    second = InstrumentLocks([shared], holder="rackB")
    first.acquire()
    got = threading.Event()

    def second_rack() -> None:  # filelock's locks belong to the thread that took them
        second.acquire()
        got.set()
        second.release()

    waiter = threading.Thread(target=second_rack, daemon=True)
    waiter.start()

    def waiting() -> list[dict[str, object]]:
        return [e for e in read_journal(tmp_path) if e["event"] == "waiting" and e["holder"] == "rackB"]

    wait_for(waiting, "the second rack waiting for the shared analyzer")
    assert waiting() == [{**waiting()[0], "resource": shared, "held_by": "rackA"}]
    assert not got.is_set(), "the second rack must wait for the shared analyzer"
    first.release()
    wait_for(got.is_set, "the second rack taking the analyzer once the first is done")
    waiter.join()
    held = [(e["event"], e["holder"]) for e in read_journal(tmp_path) if e["resource"] == shared]
    assert held == [("acquired", "rackA"), ("waiting", "rackB"), ("released", "rackA"), ("acquired", "rackB"),
                    ("released", "rackB")], held


def test_all_racks_runs_each_rack_in_its_own_process_and_locks_the_shared_instrument(
        tmp_path: Path, root: Path) -> None:
    """Two simulated racks on one station, a bench AC source shared between them, a failed PSU in rack B:
    `rackval run --all-racks` gives each rack its own process, run directory, OCP stream and store record,
    the shared instrument is held by one rack at a time, and the exit code is the worst verdict's."""
    import os
    import sqlite3
    import subprocess
    import sys

    from harness.clock import RealClock
    from harness.config.profile import load_profile
    from harness.sim.multi_station import SimMultiStation

    sim = SimMultiStation(load_profile("mini"), ["SIM-A", "SIM-B"], clock=RealClock(speed=40), seed=4)
    station = sim.start()
    try:
        sim.racks["rackB"].apply_fault("psu_failure")
        path = tmp_path / "line.yaml"
        sim.write_station_file(path)
        locks = tmp_path / "locks"
        proc = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(root / "test_plans" / "mini_smoke.yaml"),
                               "--station", str(path), "--all-racks", "--yes", "--operator", "ci", "--out",
                               str(tmp_path / "out"), "--store", f"sqlite:///{tmp_path / 'r.db'}"],
                              check=False, cwd=tmp_path, capture_output=True, text=True, timeout=600,
                              stdin=subprocess.DEVNULL,
                              env={**os.environ, "RACKVAL_LOCK_DIR": str(locks)})
    finally:
        sim.stop()
    consoles = {r: (tmp_path / "out" / f"{r}.console.log").read_text() for r in ("rackA", "rackB")}
    assert proc.returncode == 1, proc.stdout + proc.stderr + str(consoles)  # worst of PASS (0) and FAIL (1)
    assert "rack rackA: exit 0" in proc.stdout and "rack rackB: exit 1" in proc.stdout, proc.stdout
    runs = sqlite3.connect(tmp_path / "r.db").execute(
        "select rack_name, rack_serial, verdict, out_dir from runs order by rack_name").fetchall()
    assert [r[:3] for r in runs] == [("rackA", "SIM-A", "PASS"), ("rackB", "SIM-B", "FAIL")], runs
    failed = sqlite3.connect(tmp_path / "r.db").execute(
        "select distinct m.component from measurements m join runs r on r.id = m.run_id "
        "where r.rack_name = 'rackB' and m.verdict = 'FAIL'").fetchall()
    assert ("shelf1.psu3",) in failed, failed  # rack B fails on its own fault; rack A is unaffected
    for name, serial, _, out_dir in runs:
        assert Path(out_dir) == tmp_path / "out" / name
        ocp = (Path(out_dir) / "ocp.jsonl").read_text()
        other = "SIM-B" if serial == "SIM-A" else "SIM-A"
        assert serial in ocp and other not in ocp, f"{name}'s stream is its own"
        assert (Path(out_dir) / "report.html").exists() and (Path(out_dir) / "junit.xml").exists()

    shared = station.instruments[0].resource
    journal = [e for e in read_journal(locks) if e["resource"] == shared]
    held = [(e["event"], e["holder"]) for e in journal if e["event"] in ("acquired", "released")]
    assert sorted(h for _, h in held) == ["rackA", "rackA", "rackB", "rackB"], journal
    assert held[0][0] == "acquired" and held[1] == ("released", held[0][1]) and held[2][0] == "acquired" \
        and held[3] == ("released", held[2][1]), f"one rack at a time on the shared instrument: {held}"
    assert len({e["pid"] for e in journal}) == 2, "one process per rack"
    waited = [e for e in journal if e["event"] == "waiting"]
    assert waited and waited[0]["held_by"] == held[0][1] and waited[0]["holder"] == held[2][1], \
        "the second rack started in parallel and waited for the first"
    own = {e["resource"] for e in read_journal(locks)} - {shared}
    assert len(own) == 4, "each rack also locked its own load and analyzer"
