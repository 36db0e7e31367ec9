"""report.html: self-contained, built from the store, rendered by headless Chromium with its plots and
no script errors; `rackval report RUN_ID` writes it again."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from test_results_store import populate
from typer.testing import CliRunner

from harness.cli import app
from harness.results.report import write_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def chromium_dom(page: Path, tmp_path: Path) -> tuple[str, str]:
    """The DOM after scripts ran, and the console log (stderr)."""
    assert CHROMIUM is not None
    proc = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                           "--disable-component-update", "--disable-sync", "--no-first-run",
                           f"--user-data-dir={tmp_path / 'chromium'}", "--enable-logging=stderr", "--v=0",
                           "--virtual-time-budget=2000", "--dump-dom", page.as_uri()],
                          capture_output=True, text=True, timeout=120)
    return proc.stdout, proc.stderr


def test_report_is_self_contained_and_orders_failures_first(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    run_id = populate(url, tmp_path / "out")
    html = write_report(url, run_id, tmp_path / "report.html").read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), "the report must not fetch anything"
    assert html.index('id="verdict"') < html.index('id="failures"') < html.index('id="steps"') < html.index("<svg")
    failures = html[html.index('id="failures"'):html.index('id="steps"')]
    assert "compute01/GPU 0 temperature" in failures and "component_temp_c" in failures
    for plot in ("plot-rack-power", "plot-shelf-power", "plot-temperatures", "plot-sweep-rack_ac_power_w",
                 "plot-sweep-psu_efficiency_pct", "plot-coolant-dt"):
        assert f'id="{plot}"' in html, plot
    temps = html[html.index('id="plot-temperatures"'):]
    assert 'class="limit"' in temps[:temps.index("</svg>")], "temperatures are drawn with their limit"
    for needle in ("SN-C1", "25.06.3", "2027-01-31", "a" * 64, "b" * 64, "c" * 40, "op7", "RACK-42"):
        assert needle in html, needle


def test_rackval_report_regenerates_from_the_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    run_id = populate(url, tmp_path / "out")
    first = write_report(url, run_id, tmp_path / "a.html").read_text()
    result = CliRunner().invoke(app, ["report", run_id, "--store", url, "-o", str(tmp_path / "b.html")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "b.html").read_text() == first
    assert CliRunner().invoke(app, ["report", "no-such-run", "--store", url]).exit_code == 2


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_report_renders_in_chromium_with_plots_and_no_script_errors(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    run_id = populate(url, tmp_path / "out")
    page = write_report(url, run_id, tmp_path / "report.html")
    dom, console = chromium_dom(page, tmp_path)
    assert 'data-ready="1"' in dom, "the inline script ran to its end"
    assert re.search(r'id="plot-count">6<', dom), "the script counted six rendered SVG plots"
    assert dom.count("<polyline") >= 5, "every plot over time or load is drawn as lines (coolant dT: points)"
    assert "Uncaught" not in console and "SyntaxError" not in console, console[-2000:]


def test_stored_texts_are_shown_as_text_never_as_markup(tmp_path: Path) -> None:
    """Names, messages and labels come from plans, stations and devices: the page escapes every one,
    in the tables and inside the SVG plots alike."""
    from datetime import UTC, datetime

    from harness.clock import VirtualClock
    from harness.envelopes import Measurement
    from harness.results.recorder import Recorder, RunInfo

    evil = '<script>alert("x")</script>'
    url = f"sqlite:///{tmp_path / 'r.db'}"
    info = RunInfo("evil-run", f"plan {evil}", "p.yaml", "a" * 64, "b" * 64, "1", "st", "SN", f"op {evil}", "0.1", "",
                   None, True, "mini", "rackval run")
    rec = Recorder(tmp_path / "out", url, VirtualClock(start_wall=datetime(2025, 1, 1, tzinfo=UTC)), info, [])
    rec.start_run([])
    rec.event("note", f"event {evil}")
    rec.start_step(0, f"sweep {evil}", "load_sweep")
    for amps in (0.0, 100.0):
        rec.measurement(Measurement("rack_ac_power_w", 3000 + amps, "W", f"pdu1 {evil}", verdict="FAIL",
                                    meta={"setpoint_a": amps}))
    rec.end_step(status="COMPLETE", verdict="FAIL", message=f"failed {evil}")
    rec.end_run(status="COMPLETE", verdict="FAIL")
    rec.close()
    html = write_report(url, "evil-run", tmp_path / "report.html").read_text()
    assert "<script>alert" not in html and html.count("<script>") == 1, "only the report's own script"
    assert 'id="plot-sweep-rack_ac_power_w"' in html, "the step name is drawn in a plot"
    plot = _svg(html, "plot-sweep-rack_ac_power_w")
    assert "&lt;script&gt;" in plot, "the line's label is escaped inside the SVG"
    assert html.count("&lt;script&gt;alert(") >= 6  # plan, operator, step (x3: failures, steps, measurements), event


REPORT_PLOTS = {  # plot id -> what must be drawn in it (issue 6: the report's plots)
    "plot-rack-power": "rack power over time with its limit",
    "plot-shelf-power": "power per shelf",
    "plot-temperatures": "temperatures over time with limits",
    "plot-sweep-rack_ac_power_w": "busbar load sweep: AC power against load (A)",
    "plot-sweep-psu_efficiency_pct": "busbar load sweep: efficiency against load (A)",
    "plot-sweep-rack_ac_power_w-pct": "GPU workload sweep: AC power against load (% TDP)",
    "plot-sweep-psu_efficiency_pct-pct": "GPU workload sweep: efficiency against load (% TDP)",
    "plot-coolant-dt": "coolant dT against rack power",
}


@pytest.fixture(scope="module")
def simulated_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """report.html of a real simulated nvl72 run (both kinds of load sweep, CDU telemetry)."""
    from harness.config.plan import load_plan
    from harness.run.options import RunOptions
    from harness.run.session import RunSession
    from harness.steps import STEP_KINDS

    tmp = tmp_path_factory.mktemp("report-run")
    plan = load_plan(Path(__file__).parent / "plans" / "nvl72_report.yaml", STEP_KINDS)
    session = RunSession(plan, RunOptions(sim=True, seed=3, rack_serial="SIM-R1", out_dir=tmp / "run",
                                          store_url=f"sqlite:///{tmp / 'r.db'}", operator="op", yes=True))
    session.open()
    try:
        for i in range(len(session.step_names)):
            session.run_step(i)
    finally:
        result = session.finish()
    assert result.verdict == "PASS", [(s.name, s.verdict, s.message) for s in result.steps]
    return result.run_dir / "report.html"


def _svg(html: str, plot_id: str) -> str:
    start = html.index(f'id="{plot_id}"')
    return html[start:html.index("</svg>", start)]


def test_a_simulated_run_draws_every_plot_of_the_report(simulated_report: Path) -> None:
    html = simulated_report.read_text()
    for plot_id, what in REPORT_PLOTS.items():
        assert f'id="{plot_id}"' in html, f"missing: {what}"
    for plot_id, step in (("plot-sweep-rack_ac_power_w", "busbar_sweep"), ("plot-sweep-psu_efficiency_pct", "busbar_sweep"),
                          ("plot-sweep-rack_ac_power_w-pct", "gpu_sweep"),
                          ("plot-sweep-psu_efficiency_pct-pct", "gpu_sweep")):
        svg = _svg(html, plot_id)
        assert f'data-label="{step}"' in svg and svg.count("<circle") == 3, (plot_id, "one point per setpoint")
    assert "GPU load setpoint (% of TDP)" in _svg(html, "plot-sweep-rack_ac_power_w-pct")
    assert "load setpoint (A)" in _svg(html, "plot-sweep-rack_ac_power_w")
    assert 'class="limit"' in _svg(html, "plot-rack-power") and 'class="limit"' in _svg(html, "plot-temperatures")
    assert "rack AC power (kW)" in _svg(html, "plot-coolant-dt") and _svg(html, "plot-coolant-dt").count("<circle") >= 3


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_the_simulated_run_report_renders_every_plot_in_chromium(simulated_report: Path, tmp_path: Path) -> None:
    dom, console = chromium_dom(simulated_report, tmp_path)
    assert 'data-ready="1"' in dom, "the inline script ran to its end"
    assert re.search(rf'id="plot-count">{len(REPORT_PLOTS)}<', dom), "every plot rendered as an SVG"
    for plot_id in REPORT_PLOTS:
        assert f'id="{plot_id}"' in dom, plot_id
    assert "Uncaught" not in console and "SyntaxError" not in console, console[-2000:]
