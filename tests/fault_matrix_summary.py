"""pytest plugin: the fault matrix's table (scenario rows x step columns) at the end of the session.

tests/test_fault_matrix.py marks each cell's test ``@pytest.mark.fault_matrix_cell(scenario, kind)``. The
mark becomes a user property of the test's reports, so the outcome travels with the report: under
pytest-xdist the workers' reports reach the controller, which alone collects and prints the whole table
(each worker has its own config and stash, so a table kept there would be split between the workers).
Registered from tests/conftest.py (``pytest_plugins``).
"""

from __future__ import annotations

import pytest

CELL = "fault_matrix_cell"  # user property: "scenario|kind"
MARKS = {"pass": "pass", "xfail": "xfail", "skipped": "skip"}  # anything else the cell's test did is a failure


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{CELL}(scenario, kind): a cell of the fault matrix (its summary table)")
    config.pluginmanager.register(FaultMatrixTable(), "fault-matrix-table")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        mark = item.get_closest_marker(CELL)
        if mark is not None:
            scenario, kind = mark.args
            item.user_properties.append((CELL, f"{scenario}|{kind}"))


def outcome(report: pytest.TestReport) -> str | None:
    """The cell's outcome once a report decides it: its call, a setup that did not get that far, or a
    teardown that failed after a passing call."""
    if report.when == "call" or (report.when == "setup" and not report.passed):
        if hasattr(report, "wasxfail") and report.skipped:
            return "xfail"  # a known issue (strict xfail) that still fails, as the scenario says
        return "pass" if report.passed else "skipped" if report.skipped else "failed"
    return "failed" if report.when == "teardown" and report.failed else None


class FaultMatrixTable:
    """(scenario, step kind) -> outcome, from the reports this process sees (all of them on the controller)."""

    def __init__(self) -> None:
        self.cells: dict[tuple[str, str], str] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        cell, result = dict(report.user_properties).get(CELL), outcome(report)
        if cell is None or result is None:
            return
        scenario, kind = str(cell).split("|", 1)
        if self.cells.get((scenario, kind)) in (None, "pass", "xfail"):  # a failing teardown overrides
            self.cells[(scenario, kind)] = result

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter, exitstatus: int,
                                config: pytest.Config) -> None:
        if hasattr(config, "workerinput") or not self.cells:  # an xdist worker: the controller prints it
            return
        cells = self.cells
        rows = sorted({s for s, _ in cells})
        steps = sorted({k for _, k in cells})
        width = max(len(r) for r in rows)
        passed = sum(v == "pass" for v in cells.values())
        known = sum(v == "xfail" for v in cells.values())
        tr = terminalreporter
        tr.write_sep("=", f"fault matrix: {len(cells)} cells tried, {passed} passed"
                          + (f", {known} known issue(s) (xfail)" if known else ""))
        tr.write_line(" " * width + "  " + "  ".join(f"{s:<13}" for s in steps))
        for r in rows:
            marks = [MARKS.get(cells[(r, s)], "FAIL") if (r, s) in cells else "-" for s in steps]
            tr.write_line(f"{r:<{width}}  " + "  ".join(f"{m:<13}" for m in marks))
