"""How a run ends: its verdict, the safe state's record, and the report.

The run is ABORTED (Ctrl-C, SIGTERM), ERROR (an ERROR step, an unverified safe state, or steps
missing), FAIL, or PASS only if every step including ``envelope_coverage`` passed.
"""

from __future__ import annotations

import logging
from pathlib import Path

from harness.clock import Clock
from harness.envelopes import Measurement
from harness.results.recorder import Recorder, StepRecord
from harness.safety import SafeStateReport

log = logging.getLogger(__name__)


def run_verdict(steps: list[StepRecord], report: SafeStateReport | None, *, aborted: bool, expected: int) -> str:
    if aborted:
        return "ABORTED"
    if (report is not None and not report.ok) or any(s.verdict == "ERROR" for s in steps) or not steps:
        return "ERROR"
    if any(s.verdict == "FAIL" for s in steps):
        return "FAIL"
    return "PASS" if len(steps) == expected and all(s.verdict == "PASS" for s in steps) else "ERROR"


def record_safe_state(recorder: Recorder, report: SafeStateReport | None, index: int, clock: Clock) -> None:
    """The safe state as a step of its own: one ``safe_state_verified`` check per action."""
    recorder.start_step(index, "safe_state", "safe_state")
    if report is None:
        recorder.end_step(status="ERROR", verdict="ERROR", message="safe state was not attempted")
        return
    for o in report.outcomes:
        recorder.measurement(Measurement("safe_state_verified", o.ok, "", o.name, None, None, None,
                                         "PASS" if o.ok else "FAIL", clock.now(), {"detail": o.detail}))
    if report.ok:
        recorder.end_step(status="COMPLETE", verdict="PASS")
    else:
        recorder.end_step(status="ERROR", verdict="ERROR",
                          message="; ".join(f"{o.name}: {o.detail}" for o in report.failures()))


def write_report(store_url: str, run_id: str, run_dir: Path) -> None:
    """report.html from the store; a failure is logged, not raised (`rackval report RUN_ID` can write it again)."""
    from harness.results.report import write_report as render  # jinja2 and plotting load only here

    try:
        render(store_url, run_id, run_dir / "report.html")
    except Exception:
        log.exception("report.html could not be written")
