"""The operator's Ctrl-C at a simulated moment, for tests of what a Ctrl-C does to a run.

``ctrl_c_at(directory, at_s)`` writes a fault scenario that sends SIGINT to the run's own process
``at_s`` simulated seconds after the simulated station started (``harness/sim/faults/operator.py``);
give it to ``rackval run --sim --fault FILE`` (or ``RunOptions(fault=str(FILE))``). On the run's
VirtualClock it lands at that simulated moment on any machine, however loaded: no wall-clock timing.
A resumed session (``rackval run --resume``) does not get it again.
"""

from __future__ import annotations

from pathlib import Path


def ctrl_c_at(directory: Path, at_s: float, name: str = "operator_ctrl_c") -> Path:
    path = directory / f"{name}_{at_s:g}s.yaml"
    path.write_text(f"name: {name}\n"
                    f'description: "the operator presses Ctrl-C {at_s:g} simulated seconds into the run"\n'
                    "inject:\n"
                    f"  - {{target: process, action: sigint, at_s: {at_s!r}}}\n", encoding="utf-8")
    return path
