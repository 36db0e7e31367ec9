"""The operator's Ctrl-C at a simulated moment, for tests of what a Ctrl-C does to a run.

``ctrl_c_at(directory, at_s)`` writes a fault scenario that sends SIGINT to the run's own process
``at_s`` simulated seconds after the simulated station started (``harness/sim/faults/operator.py``);
give it to ``rackval run --sim --fault FILE`` (or ``RunOptions(fault=str(FILE))``). On the run's
VirtualClock it lands at that simulated moment on any machine, however loaded: no wall-clock timing.
A resumed session (``rackval run --resume``) does not get it again.

``rackval_run_ctrl_c(args, at_s=..., cwd=...)`` is `rackval run ARGS` in a subprocess with that Ctrl-C:
the replacement of sending SIGINT from outside "a little after a step started", which landed wherever a
loaded machine had got to by then. ``freeze_at`` is the same for a crash: the process stops itself
(SIGSTOP) at a simulated moment, so a test can look at it and then kill it there.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

CLI = [sys.executable, "-m", "harness.cli"]  # the worktree's harness when PYTHONPATH names it


def process_fault(directory: Path, action: str, at_s: float, name: str, description: str) -> Path:
    """A scenario file with one ``{target: process, action: ACTION, at_s: AT_S}`` injection."""
    path = directory / f"{name}_{at_s:g}s.yaml"
    path.write_text(f"name: {name}\n"
                    f'description: "{description}"\n'
                    "inject:\n"
                    f"  - {{target: process, action: {action}, at_s: {at_s!r}}}\n", encoding="utf-8")
    return path


def ctrl_c_at(directory: Path, at_s: float, name: str = "operator_ctrl_c") -> Path:
    return process_fault(directory, "sigint", at_s, name,
                         f"the operator presses Ctrl-C {at_s:g} simulated seconds into the run")


def freeze_at(directory: Path, at_s: float, name: str = "process_freeze") -> Path:
    return process_fault(directory, "sigstop", at_s, name,
                         f"the run's process stops {at_s:g} simulated seconds into the run (a crash to come)")


def rackval_run_ctrl_c(args: Sequence[str], *, at_s: float, cwd: Path,
                       timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`rackval run ARGS --fault <Ctrl-C at at_s>` (ARGS name a plan and ``--sim``), run to its end.

    ``timeout`` only turns a hang into a failure; the scenario file is written into ``cwd``."""
    fault = ctrl_c_at(cwd, at_s)
    return subprocess.run([*CLI, "run", *args, "--fault", str(fault)], check=False, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)
