"""Shared helpers for rackval's own tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def root() -> Path:
    return ROOT


def rackval_exe() -> str:
    exe = shutil.which("rackval")
    if exe is None:
        pytest.fail("the rackval console script is not on PATH (pip install -e . first)")
    return exe
