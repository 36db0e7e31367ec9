"""What a run is started with, and what it hands back."""

from __future__ import annotations

import re
import secrets
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import harness
from harness.clock import Clock

if TYPE_CHECKING:  # the plugin imports this module at pytest start-up: keep it light
    from harness.results.recorder import StepRecord
    from harness.safety import SafeStateReport

COVERAGE_STEP = "envelope_coverage"  # the last item of every plan: no declared limit goes unmeasured

# In-process --sim serves Redfish over plain HTTP: HTTPS (verified, per-run CA) costs more of the
# nvl72_l11 60 s budget than it has to spare (docs/architecture.md); `rackval sim` serves HTTPS.
SIM_TLS = False


@dataclass
class RunOptions:
    sim: bool = False
    station_path: Path | None = None
    profile: str | None = None
    seed: int = 0
    rack_serial: str = ""
    operator: str = ""
    out_dir: Path | None = None
    store_url: str | None = None
    command_line: str = ""
    fault: str | None = None  # a fault scenario applied to the simulated rack (--sim only)
    rack: str | None = None  # which rack of a multi-rack station file
    resume: str | None = None  # run id to continue after its last completed step
    yes: bool = False  # unattended: accept what would otherwise be asked (an unverifiable serial)
    confirm: Callable[[str], bool] | None = None  # ask the operator a yes/no question (interactive only)


@dataclass
class RunResult:
    run_id: str
    verdict: str  # PASS | FAIL | ERROR | ABORTED
    run_dir: Path
    steps: list[StepRecord] = field(default_factory=list)
    safe_state: SafeStateReport | None = None
    bad_input: str | None = None  # the run could not start because a file or option is wrong
    store_url: str = ""

    @property
    def exit_code(self) -> int:
        if self.bad_input is not None:
            return 2
        return {"PASS": 0, "FAIL": 1}.get(self.verdict, 3)


def git_sha() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(harness.__file__).parent, capture_output=True,
                             text=True, timeout=5, check=False)
        return out.stdout.strip() if out.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def new_run_id(clock: Clock, rack_serial: str) -> str:
    serial = re.sub(r"[^A-Za-z0-9_.-]", "_", rack_serial)[:40] or "rack"
    return f"{clock.wall():%Y%m%d-%H%M%S}-{serial}-{secrets.token_hex(2)}"
