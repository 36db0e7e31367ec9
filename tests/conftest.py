"""Shared helpers for rackval's own tests."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parent.parent
pytest_plugins = ["fault_matrix_summary"]  # the fault matrix's table, also under pytest-xdist

# CI must give the same answer for the same code: hypothesis draws its examples from a seed derived
# from each test, not at random. `RACKVAL_HYPOTHESIS=explore pytest ...` (or `--hypothesis-profile
# explore`) searches afresh; add what it finds as an @example.
settings.register_profile("deterministic", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("RACKVAL_HYPOTHESIS", "deterministic"))


@pytest.fixture
def root() -> Path:
    return ROOT


def ctrl_c_when_step_starts(proc: subprocess.Popen[str], ocp: Path, step: str,
                            delay_s: float = 0.0) -> tuple[str, str]:
    """Send SIGINT to a `rackval run` process once its OCP stream shows ``step`` started (or it ended),
    ``delay_s`` later; return its (stdout, stderr). The process is killed if anything goes wrong."""
    try:
        for _ in range(1200):
            if ocp.exists() and f'"name":"{step}"' in ocp.read_text():
                break
            try:
                proc.wait(0.05)
                break
            except subprocess.TimeoutExpired:
                pass
        time.sleep(delay_s)
        proc.send_signal(signal.SIGINT)
        return proc.communicate(timeout=120)
    finally:
        proc.kill()


def rackval_exe() -> str:
    exe = shutil.which("rackval")
    if exe is None:
        pytest.fail("the rackval console script is not on PATH (pip install -e . first)")
    return exe
