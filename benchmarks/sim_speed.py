"""Simulation speed: simulated seconds per wall second for a plan on the in-process simulated station.

    python benchmarks/sim_speed.py [PLAN] [--seed N]        (default plan: test_plans/nvl72_l11.yaml)

Runs the plan through the same RunSession the CLI uses (real protocols on 127.0.0.1, VirtualClock)
and prints simulated time, wall time and their ratio.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
from pathlib import Path

from harness.clock import monotonic
from harness.config.plan import load_plan
from harness.run.options import RunOptions
from harness.run.session import RunSession
from harness.steps import STEP_KINDS

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("plan", nargs="?", default=str(ROOT / "test_plans" / "nvl72_l11.yaml"))
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    plan = load_plan(Path(args.plan), STEP_KINDS)
    with tempfile.TemporaryDirectory() as tmp:
        session = RunSession(plan, RunOptions(sim=True, seed=args.seed, rack_serial="BENCH-1", out_dir=Path(tmp) / "run",
                                              store_url=f"sqlite:///{tmp}/results.db", operator="bench", yes=True))
        t0 = monotonic()
        session.open()
        for i in range(len(session.step_names)):
            session.run_step(i)
        simulated = session.clock.now()
        result = session.finish()
        wall = monotonic() - t0
    print(f"plan {plan.name}: verdict {result.verdict}")
    print(f"simulated {simulated:10.1f} s  wall {wall:7.2f} s  speed-up {simulated / wall:8.1f} x")
    print(f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}, "
          f"{__import__('os').cpu_count()} cores")


if __name__ == "__main__":
    main()
