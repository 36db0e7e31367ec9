"""`rackval run` in a pseudo-terminal, as a technician runs it: the helpers of the prompt and progress-line
tests. The process gets a pty as its controlling terminal (pexpect), so its questions are asked on
/dev/tty and answered by writing to the pty, and its progress line is drawn there and read back as frames.

Nothing here waits on wall-clock time: every wait is for output appearing (``expect``), with a generous
ceiling that only turns a hang into a failure.
"""

from __future__ import annotations

import io
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pexpect
from ruamel.yaml import YAML

from harness.clock import RealClock
from harness.config.profile import load_profile

ROOT = Path(__file__).resolve().parent.parent
CEILING_S = 240  # a hang, not a slow machine
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][A-Z0-9]|\x1b[=>]")
STYLE = re.compile(r"\x1b\[[0-9;]*m")  # colours and bold: inside a frame
FRAME = re.compile(r"step (\d+)/(\d+) (\S+)")


def rackval_in_pty(args: list[str], cwd: Path, *, rows: int = 50, cols: int = 200) -> pexpect.spawn:
    """`rackval ARGS` with a pty of its own as stdin, stdout, stderr and controlling terminal."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TERM": "xterm-256color", "COLUMNS": str(cols),
           "LINES": str(rows)}
    env.pop("NO_COLOR", None)
    child = pexpect.spawn(sys.executable, ["-m", "harness.cli", *args], cwd=str(cwd), env=env,
                          dimensions=(rows, cols), encoding="utf-8", codec_errors="replace", timeout=CEILING_S)
    child.logfile_read = io.StringIO()
    return child


def screen_text(child: pexpect.spawn) -> str:
    """Everything the process wrote to its terminal so far, without escape sequences."""
    assert isinstance(child.logfile_read, io.StringIO)
    return ANSI.sub("", child.logfile_read.getvalue())


def frames(child: pexpect.spawn) -> list[str]:
    """The progress line's frames as drawn: rich redraws the line in place (carriage return, cursor up,
    erase line), so each piece between two of those is one frame (or an ordinary line)."""
    text = ANSI.sub("\n", STYLE.sub("", child.logfile_read.getvalue()))  # type: ignore[union-attr]
    return [part.strip() for part in re.split(r"[\r\n]+", text) if part.strip()]


def step_frames(child: pexpect.spawn) -> list[tuple[int, int, str, str]]:
    """(k, N, step name, the whole frame) of every progress frame showing a step."""
    out = []
    for frame in frames(child):
        m = FRAME.search(frame)
        if m:
            out.append((int(m.group(1)), int(m.group(2)), m.group(3), frame))
    return out


def finish(child: pexpect.spawn) -> int:
    """Wait for the process to end; its exit code."""
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus is not None, f"killed by signal {child.signalstatus}"
    return int(child.exitstatus)


def run_row(store: Path) -> tuple[str, str, str, str, str]:
    """(id, status, verdict, operator, serial_check) of the one run in a results store."""
    with sqlite3.connect(store) as con:
        rows = con.execute("select id, status, verdict, operator, serial_check from runs").fetchall()
    assert len(rows) == 1, rows
    return rows[0]


def results_show(run_id: str, cwd: Path) -> str:
    out = subprocess.run([sys.executable, "-m", "harness.cli", "results", "show", run_id], cwd=cwd,
                         capture_output=True, text=True, timeout=CEILING_S, stdin=subprocess.DEVNULL,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


@contextmanager
def unverifiable_station(directory: Path, serial: str = "RACK-7") -> Iterator[tuple[Path, list[str]]]:
    """A simulated mini rack in real time, described by a station file as hardware would be (no
    ``simulated``): it has no rack manager, so its serial cannot be verified and the run must ask.
    Yields the station file and the list of what the twin switched (outlets, power, load)."""
    from harness.sim.station import SimStation

    sim = SimStation(load_profile("mini"), clock=RealClock(), seed=1, rack_serial=serial)
    switched: list[str] = []
    sim.start()
    try:
        path = directory / "station.yaml"
        sim.write_station_file(path)
        yaml = YAML()
        data = yaml.load(path.read_text(encoding="utf-8"))
        data.pop("simulated", None)
        data.pop("speed", None)
        with path.open("w", encoding="utf-8") as fh:
            yaml.dump(data, fh)
        sim.twin.listeners.append(lambda kind, data: switched.append(kind)
                                  if kind in ("outlet", "power", "eload", "busbar") else None)
        yield path, switched
    finally:
        sim.stop()


def quick_plan(directory: Path, samples: int = 200) -> Path:
    """A plan of reads only on the mini rack: sensor_sanity, then power_agreement sampling every 2 s
    (long enough to be running when the test presses Ctrl-C; the test never waits it out)."""
    path = directory / "quick.yaml"
    path.write_text("name: quick\nprofile: mini\n"
                    f"envelope: {ROOT / 'test_plans' / 'envelopes' / 'mini.yaml'}\n"
                    "safe_state: {loads: 'off', hosts: 'on', outlets: 'on'}\n"
                    "stop_on_fail: false\n"
                    "steps:\n  - kind: sensor_sanity\n"
                    f"  - {{kind: power_agreement, samples: {samples}, sample_s: 2}}\n", encoding="utf-8")
    return path
