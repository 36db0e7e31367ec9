"""Judging a fault scenario's evidence after a run: was the fault injected (it acted, says the station's
fault log) and observed (the harness wrote what the scenario says it must)?

Only what is plain data lives here (the fault log's entries, the text of the run's log); the verdicts,
diagnoses and retries of a run are judged by the tests that hold its result. Each function returns the
problems found, empty when the evidence is there, so a test can also show that the check fails where
the evidence is missing (a fault hook disabled, a healthy run).
"""

from __future__ import annotations

import re

from harness.sim.faults.log import FaultActed
from harness.sim.faults.scenarios import Acted, LogLine

# "%(asctime)s %(levelname)s %(name)s: %(message)s" (harness/results/recorder.py)
_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (?P<level>\w+) (?P<logger>\S+): ", re.MULTILINE)
SIMULATOR_LOGGERS = "harness.sim"  # the simulated station logs into the same file; it observes nothing


def unacted(acted: list[Acted], entries: list[FaultActed], scenario: str) -> list[str]:
    """Each expected effect that the fault log does not show (often enough, for this scenario)."""
    problems = []
    for want in acted:
        hits = [e for e in entries if e.fault == want.fault and e.scenario == scenario
                and (want.device is None or e.on(want.device)) and (want.effect is None or want.effect in e.effect)]
        n = sum(e.count for e in hits)
        if n < want.at_least:
            logged = "\n  ".join(e.describe() for e in entries) or "(nothing acted)"
            problems.append(f"injected: {want.describe()} acted {n} time(s), want at least {want.at_least}; "
                            f"the fault log:\n  {logged}")
    return problems


def harness_records(log_text: str, after: str | None = None) -> list[str]:
    """The run log's records written by the harness (not by the simulators), from the first record that
    holds ``after`` on (the line marking when the fault was applied; None: all)."""
    starts = [m.start() for m in _RECORD.finditer(log_text)]
    records = [log_text[a:b].rstrip("\n") for a, b in zip(starts, [*starts[1:], len(log_text)], strict=True)]
    if after is not None:
        first = next((i for i, r in enumerate(records) if after in r), len(records))
        records = records[first:]
    return [r for r in records if not (m := _RECORD.match(r)) or not m["logger"].startswith(SIMULATOR_LOGGERS)]


def unobserved(logged: list[LogLine], log_text: str, applied: str | None = None) -> list[str]:
    """Each expected record the run's log lacks. ``applied``: the text of the record from which on the fault
    was in (None: from the start); a line's own ``after_step`` takes precedence."""
    problems = []
    for line in logged:
        after = line.after or applied
        if not any(all(t in r for t in line.contains) for r in harness_records(log_text, after)):
            problems.append(f"observed: no record of the run's log{f' after {after!r}' if after else ''} holds "
                            f"{line.describe()}")
    return problems
