"""`rackval run` end to end on the simulated station, through the real protocols."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from ctrl_c_fault import CLI, rackval_run_ctrl_c
from ocp_schema import assert_valid_ocp


def rackval(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], check=False, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def ocp_lines(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "ocp.jsonl").read_text().splitlines()]


def ocp_measurements(lines: list[dict]) -> list[dict]:
    return [o["testStepArtifact"]["measurement"] for o in lines if "measurement" in o.get("testStepArtifact", {})]


@pytest.fixture(scope="module")
def passing_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path, Path]:
    root = Path(__file__).resolve().parent.parent
    work = tmp_path_factory.mktemp("run")
    run_dir = work / "out"
    result = rackval("run", str(root / "test_plans" / "mini_smoke.yaml"), "--sim", "--rack-serial", "SIM-1",
                     "--seed", "3", "--out", str(run_dir), cwd=work)
    return result, run_dir, work


def test_mini_smoke_passes_on_the_simulated_station(passing_run) -> None:  # type: ignore[no-untyped-def]
    result, _, _ = passing_run
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS" in result.stdout
    for step in ("ac_cycle", "dc_cycle", "load_sweep", "envelope_coverage"):
        assert step in result.stdout


def test_the_ocp_stream_validates_and_carries_the_result(passing_run) -> None:  # type: ignore[no-untyped-def]
    _, run_dir, _ = passing_run
    lines = ocp_lines(run_dir)
    assert_valid_ocp(lines)
    assert lines[-1]["testRunArtifact"]["testRunEnd"] == {"status": "COMPLETE", "result": "PASS"}
    start = lines[1]["testRunArtifact"]["testRunStart"]
    assert start["dutInfo"]["dutInfoId"] == "SIM-1"
    names = {h["name"] for h in start["dutInfo"]["hardwareInfos"]}
    assert {"compute01", "compute02", "switch01", "pdu1", "eload", "analyzer"} <= names
    measured = {m["name"] for m in ocp_measurements(lines)}
    assert {"bmc_ready_s", "host_on_s", "dc_on_s", "rack_ac_power_w", "busbar_v_min", "psu_efficiency_pct",
            "component_temp_c"} <= measured
    series = [o for o in lines if "measurementSeriesStart" in o.get("testStepArtifact", {})]
    assert series, "the load sweep records rack power as a measurement series"


def test_junit_and_store_hold_the_run(passing_run) -> None:  # type: ignore[no-untyped-def]
    _, run_dir, work = passing_run
    props = {p.get("name"): p.get("value") for p in ET.parse(run_dir / "junit.xml").getroot().iter("property")}
    assert props["rack_serial"] == "SIM-1" and len(props["plan_sha256"]) == 64 and props["verdict"] == "PASS"
    db = sqlite3.connect(work / "runs" / "results.db")
    (run_id, verdict), = db.execute("select id, verdict from runs").fetchall()
    assert verdict == "PASS" and run_id == props["run_id"]
    stored = db.execute("select count(*) from measurements where run_id = ?", (run_id,)).fetchone()[0]
    assert stored == len(ocp_measurements(ocp_lines(run_dir)))
    steps = [r[0] for r in db.execute("select name from steps where run_id = ? order by id", (run_id,))]
    assert steps == ["ac_cycle", "dc_cycle", "load_sweep", "envelope_coverage", "safe_state"]


def write_plan_with_envelope(tmp_path: Path, root: Path, limits: str) -> Path:
    env_dir = tmp_path / "envelopes"
    env_dir.mkdir()
    (env_dir / "mini.yaml").write_text(f"sku: mini\nlimits:\n{limits}")
    plan = tmp_path / "plan.yaml"
    plan.write_text((root / "test_plans" / "mini_smoke.yaml").read_text())
    return plan


def test_an_envelope_the_rack_cannot_meet_exits_1_naming_what_failed(tmp_path: Path, root: Path) -> None:
    env = (root / "test_plans" / "envelopes" / "mini.yaml").read_text()
    limits = "".join(line + "\n" for line in env.splitlines() if line.startswith("  ") and "rack_ac_power_w" not in line)
    limits += "  rack_ac_power_w: {max: 5000, unit: W}\n"
    plan = write_plan_with_envelope(tmp_path, root, limits)
    result = rackval("run", str(plan), "--sim", "--rack-serial", "SIM-1", "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    out = " ".join(result.stdout.split())
    assert "FAIL" in out and "rack_ac_power_w on pdu1 inlet" in out and "<= 5000 W" in out
    lines = ocp_lines(tmp_path / "out")
    assert_valid_ocp(lines)
    assert lines[-1]["testRunArtifact"]["testRunEnd"] == {"status": "COMPLETE", "result": "FAIL"}
    diagnoses = [o["testStepArtifact"]["diagnosis"] for o in lines if "diagnosis" in o.get("testStepArtifact", {})]
    assert any(d["type"] == "FAIL" and "rack_ac_power_w" in d["message"] for d in diagnoses)


def test_a_plan_with_a_typo_exits_2_with_file_and_line(tmp_path: Path, root: Path) -> None:
    plan = tmp_path / "plan.yaml"
    text = (root / "test_plans" / "mini_smoke.yaml").read_text().replace("dwell_s: 30", "dwel_s: 30")
    plan.write_text(text)
    (tmp_path / "envelopes").mkdir()
    (tmp_path / "envelopes" / "mini.yaml").write_text((root / "test_plans" / "envelopes" / "mini.yaml").read_text())
    line = next(n for n, ln in enumerate(text.splitlines(), 1) if "dwel_s" in ln)
    result = rackval("run", str(plan), "--sim", "--rack-serial", "SIM-1", cwd=tmp_path)
    assert result.returncode == 2
    assert f"{plan}:{line}: steps[2].dwel_s: unknown field" in " ".join(result.stderr.split())
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").glob("*/ocp.jsonl"))


@pytest.fixture(scope="module")
def aborted_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path, Path]:
    """mini_probe (seed 0) with the operator's Ctrl-C at 600 s, inside its thermal soak (294-1194 s)."""
    root = Path(__file__).resolve().parent.parent
    work = tmp_path_factory.mktemp("ctrl_c")
    run_dir = work / "out"
    done = rackval_run_ctrl_c([str(root / "tests" / "plans" / "mini_probe.yaml"), "--sim", "--rack-serial", "SIM-1",
                               "--yes", "--out", str(run_dir)], at_s=600.0, cwd=work)
    return done, run_dir, work


def test_ctrl_c_reaches_the_safe_state_and_marks_the_run_aborted(aborted_run) -> None:  # type: ignore[no-untyped-def]
    done, run_dir, work = aborted_run
    assert done.returncode == 3, done.stdout + done.stderr
    lines = ocp_lines(run_dir)
    assert_valid_ocp(lines)
    assert lines[-1]["testRunArtifact"]["testRunEnd"]["status"] == "ERROR"
    db = sqlite3.connect(work / "runs" / "results.db")
    (run_id, status, verdict), = db.execute("select id, status, verdict from runs").fetchall()
    assert (status, verdict) == ("ABORTED", "ABORTED")
    assert db.execute("select name, status from steps where status = 'ABORTED'").fetchall() == [
        ("thermal_soak", "ABORTED")], "the Ctrl-C landed in the soak"
    assert db.execute("select t_sim from events where kind = 'aborted'").fetchall() == [(600.0,)]
    assert f"rackval run --resume {run_id}" in " ".join(done.stdout.split()), done.stdout
    assert (run_dir / "report.html").exists(), "partial results are kept, with their report"
    safe = [m for m in ocp_measurements(lines) if m["name"] == "safe_state_verified"]
    assert safe and all(m["value"] is True for m in safe), safe
    assert {m["metadata"]["component"] for m in safe} == {"loads off", "workloads stopped", "outlets on", "hosts Off"}


def test_an_aborted_runs_junit_names_the_run_and_its_verdict(aborted_run) -> None:  # type: ignore[no-untyped-def]
    _, run_dir, work = aborted_run
    suite = ET.parse(run_dir / "junit.xml").getroot()
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    (run_id,) = sqlite3.connect(work / "runs" / "results.db").execute("select id from runs").fetchone()
    assert (props.get("run_id"), props.get("verdict")) == (run_id, "ABORTED"), props
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    soak = cases.get("thermal_soak")
    assert soak is not None and soak.find("failure") is not None, "the aborted step has its testcase"
    assert "ABORTED" in (soak.find("failure").get("message") or ""), ET.tostring(soak)


def test_a_plan_for_another_sku_is_bad_input(tmp_path: Path, root: Path) -> None:
    result = rackval("run", str(root / "test_plans" / "mini_smoke.yaml"), "--sim", "--profile", "nvl72",
                     "--rack-serial", "SIM-1", "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode == 2
    assert "plan is written for 'mini' but the station has a 'nvl72' rack" in " ".join(result.stderr.split())
    profile_line = (root / "test_plans" / "mini_smoke.yaml").read_text().splitlines().index("profile: mini") + 1
    assert f"mini_smoke.yaml:{profile_line}: profile:" in result.stderr, result.stderr
