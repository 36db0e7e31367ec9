"""Real-time overhead: the dwells a plan schedules against the dwells a real-time run actually held.

    python benchmarks/realtime_dwell.py [PLAN]        (default: benchmarks/dwell_plan.yaml, about 90 s)

Serves the plan's rack with ``rackval sim --speed 1`` in its own process and runs the plan against that
station file through the same RunSession the CLI uses, on a real clock at speed 1. Dwells are read
back from the run's own records, not from instrumented steps:

* load_sweep, per setpoint: ``dwell_s`` against the time from the ``settled`` check (the dwell starts)
  to the setpoint's first judged measurement (the dwell's samples taken, phase currents read);
* thermal_soak: ``duration_s`` against the time from the step's start to its first judged measurement
  (load applied, held and sampled, load off);
* ac_cycle: ``off_s`` is not in the default plan (the mini BMCs take 60-180 s to boot in real time).

Settling is reported but not counted: it lasts until the rack is steady, which is physics, not schedule.
The run's clock is wrapped to also time every sleep of the step thread (requested against slept).
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.clock import RealClock, monotonic
from harness.config.plan import load_plan
from harness.results.recorder import StepRecord
from harness.run.options import RunOptions
from harness.run.session import RunSession
from harness.steps import STEP_KINDS


class TracingClock:
    """A RealClock that remembers how long each sleep of the main (step) thread asked for and took."""

    def __init__(self, inner: RealClock) -> None:
        self.inner = inner
        self.sleeps: list[tuple[float, float]] = []  # (requested, slept), in clock seconds

    def now(self) -> float:
        return self.inner.now()

    def wall(self) -> datetime:
        return self.inner.wall()

    def wake(self) -> None:
        self.inner.wake()

    def sleep(self, seconds: float, cancel: threading.Event | None = None) -> None:
        t0 = self.inner.now()
        self.inner.sleep(seconds, cancel)
        if threading.current_thread() is threading.main_thread() and seconds > 0:
            self.sleeps.append((seconds, self.inner.now() - t0))

    @contextmanager
    def participant(self) -> Iterator[None]:
        yield

    @contextmanager
    def idle(self) -> Iterator[None]:
        yield


def dwells(step: StepRecord, params: dict[str, object], t_start: float) -> list[tuple[str, float, float]]:
    """(label, scheduled s, actual s) for each dwell the step's records show."""
    ms = step.measurements
    out: list[tuple[str, float, float]] = []
    if step.kind == "load_sweep":
        for i, m in enumerate(ms):
            if m.name != "settled":
                continue
            key = "setpoint_a" if "setpoint_a" in m.meta else "setpoint_pct"
            judged = next((n for n in ms[i + 1:] if n.meta.get(key) == m.meta.get(key) and n.name != "settled"), None)
            if judged is not None:
                unit = "A" if key == "setpoint_a" else "%"
                out.append((f"{step.name} dwell @ {m.meta[key]:g} {unit}", float(params["dwell_s"]),  # type: ignore[arg-type]
                            judged.t - m.t))
    elif step.kind == "thermal_soak":
        first = next((m for m in ms if m.verdict != "SKIP"), None)
        if first is not None:
            out.append((f"{step.name} soak", float(params["duration_s"]), first.t - t_start))  # type: ignore[arg-type]
    return out


def settles(step: StepRecord) -> list[tuple[str, float]]:
    return [(f"{m.meta.get('setpoint_a', m.meta.get('setpoint_pct'))}", float(m.meta["settle_s"]))  # type: ignore[arg-type]
            for m in step.measurements if m.name == "settled" and "settle_s" in m.meta]


def serve(profile: str, work: Path) -> tuple[Path, subprocess.Popen[str]]:
    station = work / "station.yaml"
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "sim", "--profile", profile, "--speed", "1",
                             "--station-out", str(station)], cwd=work, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    t0 = monotonic()
    while not (station.exists() and "bmcs" in station.read_text()):
        if proc.poll() is not None or monotonic() - t0 > 120:
            proc.kill()
            raise RuntimeError(f"rackval sim did not start: {proc.stderr.read() if proc.stderr else ''}")
        RealClock().sleep(0.1)
    RealClock().sleep(0.3)
    return station, proc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("plan", nargs="?", default=str(ROOT / "benchmarks" / "dwell_plan.yaml"))
    args = ap.parse_args()
    plan = load_plan(Path(args.plan), STEP_KINDS)
    load_before = os.getloadavg()
    wall0 = monotonic()
    rows: list[tuple[str, float, float]] = []
    settle_rows: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="rackval-dwell-") as tmp:
        station, proc = serve(plan.plan.profile or "mini", Path(tmp))
        try:
            session = RunSession(plan, RunOptions(station_path=station, rack_serial="SIM-0001", operator="bench",
                                                  out_dir=Path(tmp) / "run", store_url=f"sqlite:///{tmp}/r.db",
                                                  yes=True))
            clock = TracingClock(RealClock())
            session.clock = clock  # a speed-1 station keeps the session's clock: this one is timed
            session.open()
            try:
                for i, step in enumerate(plan.steps):
                    t_start = clock.now()
                    record = session.run_step(i)
                    rows += dwells(record, step.model_dump(), t_start)
                    settle_rows += [(f"{record.name} settle @ {label}", s) for label, s in settles(record)]
                for i in range(len(plan.steps), len(session.step_names)):
                    session.run_step(i)
            finally:
                result = session.finish()
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
    wall = monotonic() - wall0
    print(f"plan {plan.name} on a simulated {plan.plan.profile} rack (`rackval sim --speed 1`, its own process), "
          f"RealClock speed 1: verdict {result.verdict}"
          + "".join(f"; {s.name} {s.verdict}" for s in result.steps if s.verdict not in ("PASS", "SKIP")))
    print(f"{'dwell':<34}{'scheduled s':>12}{'actual s':>10}{'overhead':>10}")
    for label, scheduled, actual in rows:
        print(f"{label:<34}{scheduled:>12.1f}{actual:>10.2f}{100 * (actual - scheduled) / scheduled:>9.1f}%")
    sched, act = sum(r[1] for r in rows), sum(r[2] for r in rows)
    if rows:
        print(f"{'overall':<34}{sched:>12.1f}{act:>10.2f}{100 * (act - sched) / sched:>9.1f}%")
    for label, s in settle_rows:
        print(f"{label:<34}{'(until steady)':>12}{s:>10.2f}   not counted: lasts until the power is steady")
    if clock.sleeps:
        over = [s - r for r, s in clock.sleeps]
        print(f"step-thread sleeps: {len(clock.sleeps)}, requested {sum(r for r, _ in clock.sleeps):.1f} s, slept "
              f"{sum(s for _, s in clock.sleeps):.2f} s; oversleep mean {1000 * sum(over) / len(over):.2f} ms, "
              f"max {1000 * max(over):.2f} ms")
    print(f"wall: {wall:.1f} s; machine: {platform.machine()}, {os.cpu_count()} cores, "
          f"{platform.python_implementation()} {platform.python_version()}; load average before the run "
          f"{load_before[0]:.2f}")


if __name__ == "__main__":
    main()
