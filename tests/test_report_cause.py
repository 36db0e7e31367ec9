"""The report leads with the cause (issue 12, item 6): failing components cause first, each failing row
with its setpoint, limit and diagnosis; every device identity the run recorded; readable axes and
legends that fit on an nvl72 rack; scatter points not joined; measurements collapsed per step with the
failures open; wall-clock and simulated times labelled. Judged on a real simulated nvl72 run with a
failed PSU, and on hand-made records where the order must come from the cause rule alone."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from test_report import CHROMIUM, chromium_dom
from test_results_store import DEVICES, ENVELOPE

from harness.clock import VirtualClock
from harness.envelopes import Measurement, check
from harness.results.causes import failing_components
from harness.results.recorder import Recorder, RunInfo
from harness.results.report import write_report
from harness.results.svg import MAX_LEGEND


@pytest.fixture(scope="module")
def psu_failure_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated nvl72 run with shelf1.psu3 failed: its busbar sweep fails on the PSU (psu_sharing, the
    PSU's critical event) and on pdu1's phase imbalance, the consequence."""
    from harness.config.plan import load_plan
    from harness.run.options import RunOptions
    from harness.run.session import RunSession
    from harness.steps import STEP_KINDS

    tmp = tmp_path_factory.mktemp("psu-failure")
    plan = load_plan(Path(__file__).parent / "plans" / "nvl72_report.yaml", STEP_KINDS)
    session = RunSession(plan, RunOptions(sim=True, seed=7, rack_serial="SIM-R7", out_dir=tmp / "run", operator="op",
                                          store_url=f"sqlite:///{tmp / 'r.db'}", fault="psu_failure", yes=True))
    session.open()
    try:
        for i in range(len(session.step_names)):
            session.run_step(i)
    finally:
        result = session.finish()
    assert result.verdict == "FAIL", [(s.name, s.verdict, s.message) for s in result.steps]
    return result.run_dir


def _section(html: str, start: str, end: str) -> str:
    return html[html.index(start):html.index(end, html.index(start))]


def _svg(html: str, plot_id: str) -> str:
    start = html.index(f'id="{plot_id}"')
    return html[start:html.index("</svg>", start)]


def test_the_failed_psu_leads_and_the_phase_imbalance_follows_as_its_consequence(psu_failure_run: Path) -> None:
    html = (psu_failure_run / "report.html").read_text()
    failures = _section(html, 'id="failures"', "</table>")
    order = list(dict.fromkeys(re.findall(r'data-component="([^"]+)"', failures)))
    assert order[:2] == ["shelf1.psu3", "pdu1"], order
    pdu = failures[failures.index('data-component="pdu1"'):]
    assert "likely a consequence of shelf1.psu3" in pdu
    psu_rows = re.findall(r'<tr class="fail" data-component="shelf1.psu3">(.*?)</tr>', failures)
    sharing = next(r for r in psu_rows if "psu_sharing" in r)
    assert "0 A load" in sharing and re.search(r"draws 0 W against a shelf mean of \d+ W", sharing), sharing
    imbalance = re.findall(r'<tr class="fail" data-component="pdu1">(.*?)</tr>', failures)[0]
    assert "phase_imbalance_pct: ≤ 10 %" in imbalance and "0 A load" in imbalance
    assert re.search(r"[\d.]+% above the maximum of 10%", imbalance), imbalance


def test_causes_come_first_then_the_earliest_failure(tmp_path: Path) -> None:
    """Recorded in the order that buried the cause: pdu1's imbalance twice, then the PSU once; a tray that
    did not boot failed earliest of all and explains nothing and is explained by nothing."""
    url = f"sqlite:///{tmp_path / 'r.db'}"
    info = RunInfo("cause", "p", "p.yaml", "a" * 64, "b" * 64, "1", "st", "SN", "op", "0.1", "", 1, True, "mini", "")
    rec = Recorder(tmp_path / "out", url, VirtualClock(start_wall=datetime(2025, 1, 1, tzinfo=UTC)), info, [],
                   envelope=ENVELOPE)
    rec.start_run(DEVICES)
    rec.start_step(0, "ac_cycle", "ac_cycle")
    rec.measurement(Measurement("host_back_on", False, "", "compute02", verdict="FAIL", t=5.0,
                                meta={"cycle": 1, "message": "host not On within 600 s"}))
    rec.end_step(status="COMPLETE", verdict="FAIL")
    rec.start_step(1, "load_sweep", "load_sweep")
    for t, amps in ((10.0, 0.0), (20.0, 200.0)):
        rec.measurement(Measurement("phase_imbalance_pct", 27.6, "%", "pdu1", "phase_imbalance_pct", None, 10.0,
                                    "FAIL", t, {"setpoint_a": amps}))
    rec.measurement(Measurement("psu_sharing", False, "", "shelf1.psu3", verdict="FAIL", t=21.0,
                                meta={"setpoint_a": 200.0, "message": "draws 0 W against a shelf mean of 512 W"}))
    rec.measurement(check("component_temp_c", 91.5, "Cel", limit_name="component_temp_c", envelope=ENVELOPE,
                          component="compute01/GPU 0 temperature", t=22.0))
    rec.end_step(status="COMPLETE", verdict="FAIL")
    rec.end_run(status="COMPLETE", verdict="FAIL")
    rec.close()
    html = write_report(url, "cause", tmp_path / "report.html").read_text()
    failures = _section(html, 'id="failures"', "</table>")
    order = list(dict.fromkeys(re.findall(r'data-component="([^"]+)"', failures)))
    # the temperature is a cooling symptom with no cooling cause: it stands on its own, in time order
    assert order == ["compute02", "shelf1.psu3", "compute01/GPU 0 temperature", "pdu1"], order
    assert "likely a consequence of shelf1.psu3" in failures[failures.index('data-component="pdu1"'):]
    assert "host not On within 600 s" in failures and "cycle 1" in failures
    assert "6.5 °C above the maximum of 85 °C" in failures and "component_temp_c: ≤ 85 °C" in failures
    assert "200 A load" in failures


def test_a_component_with_a_failure_of_its_own_is_not_called_a_consequence() -> None:
    from harness.results.store import MeasurementRow, StepRow

    step = StepRow(index=0, name="load_sweep")
    rows = [(step, MeasurementRow(id=1, name="psu_sharing", verdict="FAIL", component="shelf1.psu3", t_sim=1.0,
                                  meta={})),
            (step, MeasurementRow(id=2, name="phase_imbalance_pct", verdict="FAIL", component="pdu1", t_sim=0.5,
                                  meta={})),
            (step, MeasurementRow(id=3, name="healthy", verdict="FAIL", component="pdu1", t_sim=0.6,
                                  meta={"kind": "pdu"}))]
    out = failing_components(rows)
    assert [c.name for c in out] == ["pdu1", "shelf1.psu3"] and not out[0].explained_by


def test_the_devices_table_lists_every_identity_the_run_recorded(psu_failure_run: Path) -> None:
    html = (psu_failure_run / "report.html").read_text()
    devices = _section(html, 'id="devices"', "</table>")
    names = re.findall(r"<tr><td>([^<]+)</td><td>([^<]+)</td>", devices)
    kinds = {}
    for name, kind in names:
        kinds.setdefault(kind, []).append(name)
    assert len(kinds["compute_tray"]) == 18 and len(kinds["switch_tray"]) == 9
    assert len(kinds["power_shelf"]) == 8 and len(kinds["psu"]) == 48 and kinds["cdu"] == ["cdu1"]
    assert len(kinds["pdu"]) == 4 and {"eload", "power_analyzer"} <= set(kinds)
    assert re.search(r"<td>shelf1.psu3</td><td>psu</td><td></td><td>[^<]+</td><td>SIM-R7-SHELF1-PSU3-\d+</td>",
                     devices), "the failed PSU's serial is in the table"
    # the same identities in the OCP stream's DUT info, and the PSU's diagnosis points at it
    lines = [json.loads(x) for x in (psu_failure_run / "ocp.jsonl").read_text().splitlines()]
    start = next(o["testRunArtifact"]["testRunStart"] for o in lines if "testRunStart" in o.get("testRunArtifact", {}))
    hw = {h["name"]: h["hardwareInfoId"] for h in start["dutInfo"]["hardwareInfos"]}
    assert {"shelf1", "shelf1.psu3", "cdu1"} <= set(hw)
    diagnoses = [o["testStepArtifact"]["diagnosis"] for o in lines if "diagnosis" in o.get("testStepArtifact", {})]
    assert any(d.get("hardwareInfoId") == hw["shelf1.psu3"] for d in diagnoses)


def test_axes_read_as_times_and_numbers_and_every_legend_fits(psu_failure_run: Path) -> None:
    html = (psu_failure_run / "report.html").read_text()
    ticks = re.findall(r'class="tick">([^<]+)<', html)
    assert ticks and not [t for t in ticks if re.search(r"\de[+-]\d", t)], "no exponent notation on any axis"
    for plot_id in ("plot-rack-power", "plot-shelf-power", "plot-temperatures"):
        svg = _svg(html, plot_id)
        x_ticks = re.findall(r'text-anchor="middle" class="tick">([^<]+)<', svg)
        assert x_ticks and all(re.fullmatch(r"\d+:\d\d(:\d\d)?", t) for t in x_ticks), (plot_id, x_ticks)
        assert "simulated time since the run started" in svg
    for svg in re.findall(r'<svg[^>]*class="plot"[^>]*>.*?</svg>', html):
        height = float(re.search(r'height="(\d+)"', svg).group(1))
        entries = re.findall(r'<text x="[\d.]+" y="([\d.]+)" class="legend">', svg)
        assert len(entries) <= MAX_LEGEND and all(float(y) < height for y in entries), svg[:120]
        keys = re.findall(r'class="legend">([^<]+)<', svg)
        assert len(keys) == len(set(keys)), "one legend entry per series"
    heat = _svg(html, "plot-temperatures")
    rows = re.findall(r'class="heat-row" data-label="([^"]+)"', heat)
    assert len(rows) == 27 and {"compute01", "compute18", "switch09"} <= set(rows), "every tray has its own row"
    assert float(re.search(r'height="(\d+)"', heat).group(1)) > 27 * 10


def test_coolant_dt_points_are_not_joined(psu_failure_run: Path) -> None:
    svg = _svg((psu_failure_run / "report.html").read_text(), "plot-coolant-dt")
    assert "<polyline" not in svg and svg.count('class="point"') >= 3


def test_measurements_are_collapsed_per_step_with_the_failures_open(psu_failure_run: Path) -> None:
    html = (psu_failure_run / "report.html").read_text()
    section = _section(html, 'id="measurements"', "<h2>Devices")
    steps = re.findall(r'<details class="step" data-step="([^"]+)"( open)?>', section)
    assert ("busbar_sweep", " open") in steps, steps
    assert all(not is_open for name, is_open in steps if name != "busbar_sweep"), steps
    failing = section[section.index('data-step="busbar_sweep"'):]
    failing = failing[:failing.index("</details>")]
    assert failing.index('class="fail"') < failing.index('class="summary"'), "failures first"
    assert len(html) < 200_000, "a few summary lines per check, not one row per reading"


def test_wall_clock_and_simulated_times_are_labelled(psu_failure_run: Path) -> None:
    html = (psu_failure_run / "report.html").read_text()
    trace = _section(html, 'id="traceability"', "</table>")
    assert re.search(r"<th>started</th><td><code>[\d-]+ [\d:]+ UTC \(wall clock\)", trace), trace
    assert re.search(r"<th>ended</th><td><code>[\d-]+ [\d:]+ UTC \(simulated clock\)", trace), trace
    assert "simulated (--sim)" in trace


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_the_failing_nvl72_report_renders_in_chromium(psu_failure_run: Path, tmp_path: Path) -> None:
    dom, console = chromium_dom(psu_failure_run / "report.html", tmp_path)
    assert 'data-ready="1"' in dom and "Uncaught" not in console, console[-2000:]
    assert re.search(r'id="plot-count">6<', dom)
