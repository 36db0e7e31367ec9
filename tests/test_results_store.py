"""The results store: Alembic-migrated schema, write-through records (attempts, series, telemetry,
events), and `rackval results list|show|export`, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from typer.testing import CliRunner

from harness.cli import app
from harness.clock import VirtualClock
from harness.config.plan import Envelope
from harness.envelopes import Measurement, check
from harness.rack import DeviceIdentity
from harness.results.migrate import head
from harness.results.recorder import Recorder, RunInfo
from harness.results.store import open_store
from ocp_schema import assert_valid_ocp

PG_URL = os.environ.get("RACKVAL_TEST_PG_URL")
needs_pg = pytest.mark.skipif(not PG_URL, reason="RACKVAL_TEST_PG_URL is not set (.ci/run starts PostgreSQL and sets it)")
ENVELOPE = Envelope(sku="mini", limits={"rack_ac_power_w": {"max": 30000, "unit": "W"},
                                        "component_temp_c": {"max": 85, "unit": "Cel"}})
DEVICES = [DeviceIdentity("compute01", "compute_tray", "SIM-C", "SN-C1", "25.06.3", "rackval", "PN-1"),
           DeviceIdentity("pdu1", "pdu", "AP8641", "SN-P1", "7.1"),
           DeviceIdentity("eload", "eload", "63600-2", "SN-E1", "1.20", "CHROMA", calibration_due="2027-01-31")]


def populate(url: str, run_dir: Path, *, run_id: str | None = None, secrets: tuple[str, ...] = ()) -> str:
    """One recorded run: a retried step (FAIL then PASS), a load sweep with telemetry, a failing check."""
    clock = VirtualClock(start_wall=datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC))
    run_id = run_id or f"run-{uuid.uuid4().hex[:8]}"
    info = RunInfo(run_id=run_id, plan_name="mini_smoke", plan_path="test_plans/mini_smoke.yaml", plan_sha256="a" * 64,
                   envelope_sha256="b" * 64, envelope_version="1", station_id="line3", rack_serial="RACK-42",
                   operator="op7", harness_version="0.1.0", git_sha="c" * 40, seed=3, simulated=True, sku="mini",
                   command_line="rackval run", serial_check="verified: test")
    rec = Recorder(run_dir, url, clock, info, list(secrets), envelope=ENVELOPE)
    rec.start_run(DEVICES)
    rec.event("serial_check", "verified: test")
    rec.start_step(0, "dc_cycle", "dc_cycle", attempts=2)
    rec.measurement(Measurement("host_back_on", False, "", "compute01", verdict="FAIL", t=1.0))
    rec.end_attempt(status="COMPLETE", verdict="FAIL", retried=True)
    rec.start_attempt(2, 2)
    rec.measurement(Measurement("host_back_on", True, "", "compute01", verdict="PASS", t=2.0))
    rec.end_step(status="COMPLETE", verdict="PASS")
    rec.start_step(1, "load_sweep", "load_sweep")
    for i, amps in enumerate((0.0, 100.0, 200.0)):
        for k in range(5):
            t = 10.0 * i + 2.0 * k
            rec.telemetry("rack_ac_power_w", "W", None, t, 3000 + 50 * amps + k)
            rec.telemetry("shelf_ac_w", "W", "shelf1", t, 3000 + 50 * amps)
            rec.telemetry("tray_hottest_c", "Cel", "compute01", t, 40 + amps / 20)
            rec.telemetry("coolant_dt_c", "Cel", None, t, 2 + amps / 50)
        rec.series(f"rack_ac_power_w@{amps:g}A", "W", [10.0 * i, 10.0 * i + 1], [3000 + 50 * amps] * 2,
                   component="pdu1 inlet", limit="rack_ac_power_w", envelope=ENVELOPE)
        rec.measurement(check("rack_ac_power_w", 3000 + 50 * amps, "W", limit_name="rack_ac_power_w",
                              envelope=ENVELOPE, component="pdu1 inlet", meta={"setpoint_a": amps, "mean": 3000 + 50 * amps}))
        rec.measurement(Measurement("psu_efficiency_pct", 90.0 + i, "%", "shelf1", meta={"setpoint_a": amps}))
    rec.measurement(check("component_temp_c", 91.5, "Cel", limit_name="component_temp_c", envelope=ENVELOPE,
                          component="compute01/GPU 0 temperature"))
    rec.end_step(status="COMPLETE", verdict="FAIL")
    rec.end_run(status="COMPLETE", verdict="FAIL")
    rec.close()
    return run_id


def test_the_store_is_created_by_the_migrations_not_create_all(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    open_store(url).dispose()
    with create_engine(url).connect() as conn:
        assert conn.execute(text("select version_num from alembic_version")).scalar() == head()
        tables = set(inspect(conn).get_table_names())
    assert {"runs", "steps", "attempts", "measurements", "series", "series_points", "devices", "events"} <= tables
    open_store(url).dispose()  # already at head: a no-op


def test_measurements_are_committed_when_taken(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    clock = VirtualClock()
    info = RunInfo("r1", "p", "p.yaml", "a" * 64, "b" * 64, "1", "st", "SN", "", "0.1", "", None, True, "mini", "")
    rec = Recorder(tmp_path / "out", f"sqlite:///{db}", clock, info, [], envelope=ENVELOPE)
    rec.start_run(DEVICES)
    rec.start_step(0, "s", "dc_cycle")
    rec.measurement(Measurement("x", 1.0, "s", "compute01"))
    seen = sqlite3.connect(db).execute("select name, value from measurements").fetchall()  # another connection
    assert seen == [("x", 1.0)]
    rec.end_step(status="COMPLETE", verdict="PASS")
    rec.end_run(status="COMPLETE", verdict="PASS")
    rec.close()


def test_attempts_series_and_telemetry_are_stored(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    run_id = populate(f"sqlite:///{db}", tmp_path / "out")
    con = sqlite3.connect(db)
    attempts = con.execute("select a.number, a.of, a.verdict, a.retried from attempts a join steps s on s.id = a.step_id "
                           "where s.name = 'dc_cycle' order by a.number").fetchall()
    assert attempts == [(1, 2, "FAIL", 1), (2, 2, "PASS", 0)]
    tele = dict(con.execute("select s.name || coalesce('/' || s.component, ''), count(*) from series s join "
                            "series_points p on p.series_id = s.id where s.source = 'telemetry' group by s.id").fetchall())
    assert tele["rack_ac_power_w"] == 15 and tele["tray_hottest_c/compute01"] == 15
    limit = con.execute("select limit_name, high from series where name = 'tray_hottest_c'").fetchone()
    assert limit == ("component_temp_c", 85.0)
    assert con.execute("select kind from events where run_id = ?", (run_id,)).fetchall() == [("serial_check",)]
    # OCP: each attempt its own step, telemetry as series
    lines = [json.loads(x) for x in (tmp_path / "out" / "ocp.jsonl").read_text().splitlines()]
    names = [o["testStepArtifact"]["testStepStart"]["name"] for o in lines
             if "testStepStart" in o.get("testStepArtifact", {})]
    assert names == ["dc_cycle (attempt 1/2)", "dc_cycle (attempt 2/2)", "load_sweep"]
    series = {o["testStepArtifact"]["measurementSeriesStart"]["name"] for o in lines
              if "measurementSeriesStart" in o.get("testStepArtifact", {})}
    assert "telemetry.rack_ac_power_w" in series and "telemetry.shelf_ac_w[shelf1]" in series
    assert_valid_ocp(lines)


def _cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_results_list_filters_show_and_export(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    run_id = populate(url, tmp_path / "out")
    assert run_id in _cli("results", "list", "--store", url, "--rack-serial", "RACK-42", "--verdict", "fail")
    assert run_id not in _cli("results", "list", "--store", url, "--verdict", "PASS")
    assert run_id in _cli("results", "list", "--store", url, "--since", "2025-03-04", "--until", "2025-03-04")
    assert run_id not in _cli("results", "list", "--store", url, "--since", "2025-03-05")
    assert run_id not in _cli("results", "list", "--store", url, "--station", "line9")
    shown = _cli("results", "show", run_id, "--store", url)
    for needle in ("operator: op7", "plan sha256: " + "a" * 64, "git sha: " + "c" * 40, "sn=SN-C1 fw=25.06.3",
                   "cal_due=2027-01-31", "attempt 1/2 session 1: FAIL (retried)", "FAIL component_temp_c 91.5 Cel [..85]"):
        assert needle in shown, needle
    rows = list(csv.DictReader(io.StringIO(_cli("results", "export", run_id, "--format", "csv", "--store", url))))
    final = [r for r in rows if r["final"] == "1"]
    assert len(rows) == len(final) + 1  # the retried attempt's measurement is exported, not final
    assert any(r["measurement"] == "component_temp_c" and r["verdict"] == "FAIL" for r in final)
    doc = json.loads(_cli("results", "export", run_id, "--format", "json", "--store", url))
    assert doc["run"]["rack_serial"] == "RACK-42" and len(doc["devices"]) == 3
    assert any(s["source"] == "telemetry" and len(s["values"]) == 15 for s in doc["series"])
    bad = CliRunner().invoke(app, ["results", "export", run_id, "--format", "xml", "--store", url])
    assert bad.exit_code == 2


@needs_pg
def test_postgresql_store_shows_the_same_as_sqlite(tmp_path: Path) -> None:
    assert PG_URL is not None
    run_id = f"pg-{uuid.uuid4().hex[:8]}"
    sqlite_url = f"sqlite:///{tmp_path / 'r.db'}"
    populate(sqlite_url, tmp_path / "a", run_id=run_id)
    populate(PG_URL, tmp_path / "b", run_id=run_id)
    with create_engine(PG_URL).connect() as conn:
        assert conn.execute(text("select version_num from alembic_version")).scalar() == head()
    a = _cli("results", "show", run_id, "--store", sqlite_url)
    b = _cli("results", "show", run_id, "--store", PG_URL)
    assert a == b
    assert run_id in _cli("results", "list", "--store", PG_URL, "--rack-serial", "RACK-42")


def _run_started_now(url: str, tmp_path: Path, run_id: str) -> None:
    from harness.clock import wall_now

    info = RunInfo(run_id, "p", "p.yaml", "a" * 64, "b" * 64, "1", "st", "SN-NOW", "op", "0.1", "", None, True, "mini", "")
    rec = Recorder(tmp_path / run_id, url, VirtualClock(start_wall=wall_now()), info, [], envelope=ENVELOPE)
    rec.start_run([])
    rec.end_run(status="COMPLETE", verdict="PASS")
    rec.close()


def test_results_list_refuses_an_unknown_verdict_and_reads_times_as_typed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    old = populate(url, tmp_path / "out")  # started 2025-03-04 05:06:07 UTC
    _run_started_now(url, tmp_path, "now-run")
    bogus = CliRunner().invoke(app, ["results", "list", "--store", url, "--verdict", "BOGUS"])
    assert bogus.exit_code == 2
    assert all(v in bogus.output for v in ("PASS", "FAIL", "ERROR", "ABORTED")), bogus.output
    # a date and time (UTC given), either separator; a time of day is today
    assert old in _cli("results", "list", "--store", url, "--since", "2025-03-04T05:06Z", "--until", "2025-03-04T05:07Z")
    assert old not in _cli("results", "list", "--store", url, "--since", "2025-03-04 05:07+00:00")
    today = _cli("results", "list", "--store", url, "--since", "00:00")
    assert "now-run" in today and old not in today
    assert "now-run" not in _cli("results", "list", "--store", url, "--until", "00:00"), "until is exclusive"
    assert "now-run" in _cli("results", "list", "--store", url, "--verdict", "pass", "--since", "00:00")
    for bad in ("yesterday", "25:00", "2025-13-01"):
        result = CliRunner().invoke(app, ["results", "list", "--store", url, "--since", bad])
        assert result.exit_code == 2 and "--since" in result.output and "time of day" in result.output, result.output


def test_results_list_reads_a_time_without_a_zone_as_local_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    url = f"sqlite:///{tmp_path / 'r.db'}"
    run_id = populate(url, tmp_path / "out")  # 05:06:07 UTC = 07:06:07 in Athens (UTC+2 in March)
    monkeypatch.setenv("TZ", "Europe/Athens")
    time.tzset()
    try:
        assert run_id in _cli("results", "list", "--store", url, "--since", "2025-03-04T07:06")
        assert run_id not in _cli("results", "list", "--store", url, "--since", "2025-03-04T07:07")
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_the_csv_export_has_no_identical_rows_and_carries_setpoint_and_diagnosis(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    info = RunInfo("csv", "p", "p.yaml", "a" * 64, "b" * 64, "1", "st", "SN", "op", "0.1", "", None, True, "mini", "")
    rec = Recorder(tmp_path / "out", url, VirtualClock(), info, [], envelope=ENVELOPE)
    rec.start_run(DEVICES)
    rec.start_step(0, "sensor_sanity", "sensor_sanity")
    for reading_type in ("Temperature", "Power"):  # same check, component and time: told apart by what was counted
        rec.measurement(Measurement("sensors_present", True, "", "compute01", verdict="PASS",
                                    meta={"reading_type": reading_type, "expected": 1, "found": 1}))
    rec.end_step(status="COMPLETE", verdict="PASS")
    rec.start_step(1, "load_sweep", "load_sweep")
    rec.measurement(Measurement("psu_sharing", False, "", "shelf1.psu3", verdict="FAIL",
                                meta={"setpoint_a": 200.0, "message": "draws 0 W against a shelf mean of 512 W"}))
    rec.measurement(check("rack_ac_power_w", 31000.0, "W", limit_name="rack_ac_power_w", envelope=ENVELOPE,
                          component="pdu1 inlet", meta={"setpoint_a": 400.0}))
    rec.end_step(status="COMPLETE", verdict="FAIL")
    rec.end_run(status="COMPLETE", verdict="FAIL")
    rec.close()
    out = _cli("results", "export", "csv", "--format", "csv", "--store", url)
    lines = out.splitlines()
    assert len(lines) == len(set(lines)) == 5
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {"setpoint", "diagnosis", "detail", "seq", "operator"} <= set(rows[0])
    sharing = next(r for r in rows if r["measurement"] == "psu_sharing")
    assert sharing["setpoint"] == "200 A load" and sharing["diagnosis"] == "draws 0 W against a shelf mean of 512 W"
    power = next(r for r in rows if r["measurement"] == "rack_ac_power_w")
    assert power["setpoint"] == "400 A load" and power["diagnosis"] == "1000 W above the maximum of 30000 W"
    assert {r["detail"] for r in rows if r["measurement"] == "sensors_present"} == {
        '{"expected":1,"found":1,"reading_type":"Temperature"}', '{"expected":1,"found":1,"reading_type":"Power"}'}


def test_a_nan_in_a_step_series_does_not_break_the_store(tmp_path: Path) -> None:
    """A sensor that answered NaN mid-series: the point is left out of the store (OCP writes it as "nan"),
    and every later record is still written."""
    db = tmp_path / "r.db"
    info = RunInfo("nan", "p", "p.yaml", "a" * 64, "b" * 64, "1", "st", "SN", "op", "0.1", "", None, True, "mini", "")
    rec = Recorder(tmp_path / "out", f"sqlite:///{db}", VirtualClock(), info, [], envelope=ENVELOPE)
    rec.start_run(DEVICES)
    rec.start_step(0, "thermal_soak", "thermal_soak")
    rec.series("hottest_component_c", "Cel", [0.0, 60.0, 120.0], [41.0, float("nan"), 42.0], component=None,
               limit="component_temp_c", envelope=ENVELOPE)
    rec.measurement(Measurement("component_temp_c", 42.0, "Cel", "compute01", verdict="PASS"))
    rec.end_step(status="COMPLETE", verdict="PASS")
    rec.end_run(status="COMPLETE", verdict="PASS")
    rec.close()
    con = sqlite3.connect(db)
    assert con.execute("select t, value from series_points order by t").fetchall() == [(0.0, 41.0), (120.0, 42.0)]
    assert con.execute("select verdict from runs").fetchone() == ("PASS",)
    assert con.execute("select count(*) from measurements").fetchone() == (1,)
    ocp = (tmp_path / "out" / "ocp.jsonl").read_text()
    assert '"value":"nan"' in ocp
