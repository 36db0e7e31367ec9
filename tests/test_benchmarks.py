"""The arithmetic behind the benchmarks' figures (never their timings)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from station_soak import growth_per_hour, samples_due, steady_growth_per_hour


def test_samples_due_counts_both_ends_of_the_schedule() -> None:
    assert samples_due(3600, 1.0) == 3601  # t = 0, 1, ..., 3600
    assert samples_due(10, 3.0) == 4  # 0, 3, 6, 9
    assert samples_due(1.0, 0.1) == 11  # 10 Hz: float division must not lose the last one
    assert samples_due(0.0, 1.0) == 1


def test_memory_growth_compares_the_last_quarter_with_the_first() -> None:
    flat = [(t * 90.0, 100.0) for t in range(40)]
    assert growth_per_hour(flat) == 0.0
    ramp = [(t * 90.0, 100.0 + 10.0 * t * 90.0 / 3600) for t in range(40)]  # +10 MiB per hour
    assert growth_per_hour(ramp) == pytest.approx(10.0)


def test_steady_growth_leaves_out_the_window_filling() -> None:
    window = 60.0
    fill_then_flat = [(t * 10.0, 100.0 + min(t * 10.0, window) / 10) for t in range(40)]  # full by t = 60 s
    assert growth_per_hour(fill_then_flat) > 0
    assert steady_growth_per_hour(fill_then_flat, window) == 0.0
    assert steady_growth_per_hour(fill_then_flat[:10], window) is None, "too short a run has no steady part"
