"""The live progress line of `rackval run`, read back from a pseudo-terminal as the operator sees it.

It used to never move ("collecting ... 0/? 0:00:00 ETA" through a whole run): rich drew it on the
process's stdout, which pytest (running the plan inside `rackval run`) had redirected to a capture file.
It is now drawn on a duplicate of the terminal taken before pytest starts, redrawn whatever the step is
doing, with the running step's name and k/N, the elapsed time, the rack time of a simulated run, an ETA
from the plan's durations and the telemetry's key readings. The tests read frames, never the clock.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pexpect
from terminal_session import ROOT, finish, quick_plan, rackval_in_pty, screen_text, step_frames, unverifiable_station

from harness.cli.progress import PlanEta, hms
from harness.clock import RealClock, VirtualClock
from harness.config.plan import load_plan
from harness.steps import STEP_KINDS

SMOKE = ROOT / "test_plans" / "mini_smoke.yaml"
MOVING = re.compile(r"(\d+:\d\d:\d\d)\s+ETA (~\d+:\d\d:\d\d)")  # elapsed, then the ETA


def test_frames_of_a_simulated_run_show_each_step_and_k_of_n_advancing(tmp_path: Path) -> None:
    child = rackval_in_pty(["run", str(SMOKE), "--sim", "--rack-serial", "SIM-0001", "--yes"], tmp_path)
    rc = finish(child)
    assert rc == 0, screen_text(child)
    seen = step_frames(child)
    assert seen, screen_text(child)
    names = [s.title for s in load_plan(SMOKE, STEP_KINDS).steps] + ["envelope_coverage"]
    assert {n for _, n, _, _ in seen} == {len(names)}  # N is the plan's steps plus the coverage check
    ks = [k for k, _, _, _ in seen]
    assert ks == sorted(ks), ks  # k only advances
    assert sorted(set(ks)) == list(range(1, len(names) + 1))  # every step was shown, even an instant one
    assert all(name == names[k - 1] for k, _, name, _ in seen)  # with its own name
    frames = [f for _, _, _, f in seen]
    sim_times = {m.group(1) for f in frames for m in [re.search(r"sim (\d+:\d\d:\d\d)", f)] if m}
    assert len(sim_times) >= 2, frames  # the simulated rack's time moves on the line
    assert any(re.search(r"ETA ~\d+:\d\d:\d\d", f) for f in frames), frames
    assert any(re.search(r"rack \d+\.\d\d kW", f) for f in frames), frames  # key readings from telemetry


def test_the_line_moves_within_one_step_of_a_real_time_run(tmp_path: Path) -> None:
    """Against a station in real time (a BMC read takes real seconds), frames of one running step show
    the elapsed time and the ETA moving: redrawn while the step runs, not only when a step ends."""
    with unverifiable_station(tmp_path) as (station, _):
        child = rackval_in_pty(["run", str(quick_plan(tmp_path)), "--station", str(station), "--rack-serial",
                                "RACK-7", "--operator", "tech7", "--yes"], tmp_path)
        while True:  # each new frame of the step, until two show other numbers (output, not the clock)
            assert child.expect([r"power_agreement", pexpect.EOF]) == 0, screen_text(child)
            shown = {(m.group(1), m.group(2)) for k, _, _, frame in step_frames(child) if k == 2
                     for m in [MOVING.search(frame)] if m}
            if len({elapsed for elapsed, _ in shown}) >= 2 and len({eta for _, eta in shown}) >= 2:
                break
        child.sendintr()  # --yes: a Ctrl-C aborts at once
        rc = finish(child)
    assert rc == 3, screen_text(child)
    assert "ABORTED  results in" in screen_text(child)


def test_planned_durations_come_from_the_plan() -> None:
    steps = load_plan(SMOKE, STEP_KINDS).steps
    ac, dc, sweep = (STEP_KINDS.planned_s(s) for s in steps)
    assert ac == 1 * (10 + 300 / 2 + 2 * 5)  # off_s + half the BMC timeout + two polls, per cycle
    assert dc == 1 * max(5 * 1, 300 / 20)
    assert sweep == 4 * (20 + 30)  # setpoints x (settle window + dwell)


def _run(clock: object, steps: list[object], opened: bool = True) -> SimpleNamespace:
    kinds = SimpleNamespace(planned_s=lambda s: float(s))  # a step "is" its planned seconds here
    return SimpleNamespace(kinds=kinds, plan=SimpleNamespace(steps=steps), steps=object() if opened else None,
                           clock=clock)


def test_eta_at_the_pace_the_run_keeps() -> None:
    """Planned rack seconds left, over rack seconds per wall second observed (a simulated rack), or the
    clock's known speed (a `rackval sim --speed N` station); unknown until the pace is."""
    clock = VirtualClock()
    eta = PlanEta()
    run = _run(clock, [100.0, 300.0])
    eta.observe(run, wall=1000.0)
    eta.step_started(0, clock.now())
    assert eta.text() == "ETA -:--:--"  # no pace yet
    clock.sleep(50.0)  # the simulated rack runs 50 s (in 5 wall seconds, below: 10x)
    eta.observe(run, wall=1005.0)
    assert eta.remaining_rack_s() == 50.0 + 300.0
    assert eta.text() == "ETA ~0:00:35"
    assert eta.progress() == (50.0, 400.0)
    assert eta.clock_text() == "sim 0:00:50"
    eta.step_started(1, 50.0)
    assert eta.progress() == (100.0, 400.0)  # a step that ended early counts as done
    fast = PlanEta()
    fast.observe(_run(RealClock(speed=20), [1210.0]), wall=0.0)
    fast.step_started(0, 0.0)
    assert fast.text() == "ETA ~0:01:00" and fast.clock_text().startswith("rack x20 ")  # 1210 s at 20x
    real = PlanEta()
    real.observe(_run(RealClock(), [60.0]), wall=0.0)
    assert real.clock_text() == ""  # rack time is wall time: not shown twice


def test_hms() -> None:
    assert (hms(0), hms(59.9), hms(3725), hms(-3)) == ("0:00:00", "0:00:59", "1:02:05", "0:00:00")
