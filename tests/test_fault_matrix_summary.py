"""The fault matrix's table (tests/fault_matrix_summary.py) holds every cell's outcome, with and without
pytest-xdist: outcomes travel with the test reports, so the controller prints the whole table."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

CELLS = '''
import pytest

@pytest.mark.fault_matrix_cell("psu_failure", "load_sweep")
def test_passes():
    pass

@pytest.mark.fault_matrix_cell("psu_failure", "ac_cycle")
def test_fails():
    assert False

@pytest.mark.fault_matrix_cell("leak", "ac_cycle")
@pytest.mark.xfail(strict=True, reason="a known issue")
def test_known_issue():
    assert False

@pytest.fixture
def broken():
    yield
    raise RuntimeError("teardown")

@pytest.mark.fault_matrix_cell("leak", "load_sweep")
def test_passes_but_its_teardown_fails(broken):
    pass

def test_not_a_cell():
    pass
'''


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_the_table_has_every_cell(tmp_path: Path, xdist: list[str]) -> None:
    (tmp_path / "test_cells.py").write_text(CELLS)
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "fault_matrix_summary", "-p", "no:cacheprovider",
                          "--rootdir", str(tmp_path), *xdist, str(tmp_path / "test_cells.py")],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(TESTS)})
    out = run.stdout
    assert "fault matrix: 4 cells tried, 1 passed, 1 known issue(s) (xfail)" in out, out + run.stderr
    table = out[out.index("fault matrix:"):].splitlines()
    assert table[1].split() == ["ac_cycle", "load_sweep"]
    assert table[2].split() == ["leak", "xfail", "FAIL"]
    assert table[3].split() == ["psu_failure", "FAIL", "pass"]
