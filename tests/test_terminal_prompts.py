"""The operator's questions during `rackval run`, asked in a real (pseudo-)terminal and answered there.

pytest (which runs the plan inside `rackval run`) captures stdin and stdout, so a question read from
``sys.stdin`` crashed the step ("reading from stdin while output is captured"): the run ended ERROR, rc 3.
Questions are now asked on the controlling terminal; each test answers one and checks the verdict on the
screen, the status in the results store (and `rackval results show`) and the exit code.

The Ctrl-C is deterministic: the operator-Ctrl-C fault sends SIGINT to the run's own process at a
simulated moment (tests/ctrl_c_fault.py), or, in real time, the Ctrl-C byte goes through the pty once the
progress line shows the step running. No test waits on the wall clock.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pexpect
import pytest
from ctrl_c_fault import ctrl_c_at
from terminal_session import (
    CEILING_S,
    ROOT,
    finish,
    quick_plan,
    rackval_in_pty,
    results_show,
    run_row,
    screen_text,
    unverifiable_station,
)

from harness.cli.terminal import NoTerminal, Terminal

PROBE = ROOT / "tests" / "plans" / "mini_probe.yaml"  # its thermal_soak runs from 294 s to 1194 s (seed 0)
ABORT_Q = r"Abort the run\? The rack will be brought to its safe state \[y/N\]: "
SERIAL_Q = r"Is this rack RACK-7\? \[y/N\]: "


def _probe_with_ctrl_c(tmp_path: Path) -> pexpect.spawn:
    fault = ctrl_c_at(tmp_path, 600)  # SIGINT to the run's process 600 simulated seconds in: in thermal_soak
    return rackval_in_pty(["run", str(PROBE), "--sim", "--seed", "0", "--rack-serial", "SIM-1", "--operator",
                           "tech7", "--fault", str(fault)], tmp_path)


def test_ctrl_c_asks_on_the_terminal_and_no_lets_the_run_finish(tmp_path: Path) -> None:
    child = _probe_with_ctrl_c(tmp_path)
    child.expect(ABORT_Q)
    child.sendline("n")
    child.expect("continuing")
    rc = finish(child)
    screen = screen_text(child)
    assert rc == 0, screen
    assert "reading from stdin" not in screen and "internal error" not in screen
    assert "PASS  results in" in screen
    run_id, status, verdict, operator, _ = run_row(tmp_path / "runs" / "results.db")
    assert (status, verdict, operator) == ("COMPLETE", "PASS", "tech7")
    shown = results_show(run_id, tmp_path)
    assert f"run {run_id}: PASS" in shown and "status: COMPLETE" in shown


@pytest.mark.parametrize("answer", ["y", "\x03"], ids=["yes", "second-ctrl-c"])
def test_ctrl_c_confirmed_aborts_to_the_safe_state(tmp_path: Path, answer: str) -> None:
    """Yes, or a second Ctrl-C at the question: ABORTED, exit 3 (not 1, "a check failed"), the soak
    marked ABORTED, the safe state verified, the run resumable."""
    child = _probe_with_ctrl_c(tmp_path)
    child.expect(ABORT_Q)
    child.send(answer + ("\r" if answer == "y" else ""))
    rc = finish(child)
    screen = screen_text(child)
    assert rc == 3, screen
    assert "internal error" not in screen and "Aborted!" not in screen
    assert "ABORTED  results in" in screen and "rackval run --resume" in screen
    assert "NOT SAFE" not in screen
    run_id, status, verdict, _, _ = run_row(tmp_path / "runs" / "results.db")
    assert (status, verdict) == ("ABORTED", "ABORTED")
    shown = results_show(run_id, tmp_path)
    assert f"run {run_id}: ABORTED" in shown and "thermal_soak: ABORTED" in shown


def test_serial_question_answered_yes_then_ctrl_c_through_the_pty(tmp_path: Path) -> None:
    """A station without a rack manager (real time): the serial question is asked on the terminal and
    the answer recorded; then a Ctrl-C typed at the keyboard once the progress line shows the step
    running asks again, and yes aborts it."""
    with unverifiable_station(tmp_path) as (station, _):
        child = rackval_in_pty(["run", str(quick_plan(tmp_path)), "--station", str(station), "--rack-serial",
                                "RACK-7", "--operator", "tech7"], tmp_path)
        child.expect(SERIAL_Q)
        child.sendline("y")
        child.expect(r"step 2/3 power_agreement")
        child.sendintr()  # the Ctrl-C byte, through the terminal's line discipline
        child.expect(ABORT_Q)
        child.sendline("y")
        rc = finish(child)
    screen = screen_text(child)
    assert rc == 3, screen
    assert "ABORTED  results in" in screen
    run_id, status, verdict, operator, serial_check = run_row(tmp_path / "runs" / "results.db")
    assert (status, verdict, operator) == ("ABORTED", "ABORTED", "tech7")
    assert "confirmed by the operator" in serial_check
    shown = results_show(run_id, tmp_path)
    assert "confirmed by the operator" in shown and "power_agreement: ABORTED" in shown
    assert "sensor_sanity: PASS" in shown


def test_serial_question_answered_no_refuses_and_leaves_nothing(tmp_path: Path) -> None:
    with unverifiable_station(tmp_path) as (station, switched):
        child = rackval_in_pty(["run", str(quick_plan(tmp_path)), "--station", str(station), "--rack-serial",
                                "RACK-7", "--operator", "tech7"], tmp_path)
        child.expect(SERIAL_Q)
        child.sendline("n")
        rc = finish(child)
    screen = " ".join(screen_text(child).split())
    assert rc == 2, screen
    assert "the operator did not confirm that this is rack RACK-7; refusing before any power action" in screen
    assert switched == []
    assert not [p for p in (tmp_path / "runs").glob("*") if p.is_dir()]  # no empty run directory left


def test_ctrl_c_at_the_serial_question_aborts_before_anything_starts(tmp_path: Path) -> None:
    with unverifiable_station(tmp_path) as (station, switched):
        child = rackval_in_pty(["run", str(quick_plan(tmp_path)), "--station", str(station), "--rack-serial",
                                "RACK-7", "--operator", "tech7"], tmp_path)
        child.expect(SERIAL_Q)
        child.sendintr()
        rc = finish(child)
    screen = screen_text(child)
    assert rc == 3, screen
    assert "the run stopped (Ctrl-C) before its first step" in screen and "nothing was switched" in screen
    assert switched == []
    assert not [p for p in (tmp_path / "runs").glob("*") if p.is_dir()]


def test_ctrl_c_at_the_operator_prompt_exits_as_an_abort(tmp_path: Path) -> None:
    """Not 1 ("a check failed", what click's "Aborted!" gave): 3, nothing started."""
    child = rackval_in_pty(["run", str(PROBE), "--sim", "--rack-serial", "SIM-1"], tmp_path)
    child.expect("operator id: ")
    child.sendintr()
    rc = finish(child)
    assert rc == 3, screen_text(child)
    assert "aborted at the prompt: nothing was started" in screen_text(child)
    assert not (tmp_path / "runs").exists()


def test_operator_and_serial_prompts_are_answered_on_the_terminal(tmp_path: Path) -> None:
    """Asked before the run (operator id, a scanned serial), recorded with it."""
    with unverifiable_station(tmp_path) as (station, _):
        child = rackval_in_pty(["run", str(quick_plan(tmp_path, samples=1)), "--station", str(station)], tmp_path)
        child.expect("operator id: ")
        child.sendline("tech9")
        child.expect(r"rack serial \(scan the barcode\): ")
        child.sendline("RACK-7")
        child.expect(SERIAL_Q)
        child.sendline("yes")
        rc = finish(child)
    assert rc == 0, screen_text(child)
    _, status, verdict, operator, serial_check = run_row(tmp_path / "runs" / "results.db")
    assert (status, verdict, operator) == ("COMPLETE", "PASS", "tech9")
    assert "confirmed by the operator" in serial_check


def test_without_a_terminal_the_serial_question_fails_clearly(tmp_path: Path) -> None:
    """No terminal, no --yes: exit 2 with what to do, no traceback, nothing switched, nothing left."""
    with unverifiable_station(tmp_path) as (station, switched):
        out = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(quick_plan(tmp_path)), "--station",
                              str(station), "--rack-serial", "RACK-7", "--operator", "ci"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=CEILING_S, stdin=subprocess.DEVNULL,
                             env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True, check=False)
    err = " ".join(out.stderr.split())
    assert out.returncode == 2, out.stdout + out.stderr
    assert "cannot be verified; pass --yes" in err and "Traceback" not in out.stdout + out.stderr
    assert switched == []
    assert not [p for p in (tmp_path / "runs").glob("*") if p.is_dir()]


# ---------------------------------------------------------------------- the terminal itself, on a pty pair
def _pty_terminal() -> tuple[Terminal, int, object]:
    master, slave = os.openpty()
    stdin = os.fdopen(os.dup(slave), "r")
    return Terminal(yes=False, stdin=stdin, tty_path=os.ttyname(slave)), master, stdin


def _read_until(master: int, done: Callable[[str], bool]) -> str:
    """What the terminal shows, read until ``done`` says it is all there (a ceiling only against a hang)."""
    out = ""
    end = time.monotonic() + CEILING_S
    while not done(out):
        assert time.monotonic() < end, f"terminal shows only {out!r}"
        if select.select([master], [], [], 0.1)[0]:
            out += os.read(master, 4096).decode()
    return out


def test_a_question_is_written_to_and_answered_from_the_terminal() -> None:
    terminal, master, stdin = _pty_terminal()
    try:
        assert terminal.interactive
        os.write(master, b"maybe\ny\n")  # typed ahead: the first answer is not a yes/no, so it asks again
        assert terminal.ask("Go on?") is True
        _read_until(master, lambda shown: shown.count("Go on? [y/N]: ") == 2)  # asked twice
        os.write(master, b"\n")
        assert terminal.ask("Again?") is False  # the default is no
    finally:
        terminal.close()
        stdin.close()  # type: ignore[attr-defined]
        os.close(master)


def test_no_terminal_means_a_clear_refusal_not_a_crash(tmp_path: Path) -> None:
    """Unattended (--yes), stdin not a terminal, or no /dev/tty: not interactive, and a question raises
    NoTerminal (bad input naming --yes) instead of reading from a stream nobody types into."""
    with open(os.devnull) as devnull:
        piped = Terminal(yes=False, stdin=devnull)
        assert piped.why_not == "standard input is not a terminal"
        piped.close()
    terminal, master, stdin = _pty_terminal()
    try:
        gone = Terminal(yes=False, stdin=stdin, tty_path=str(tmp_path / "no-such-tty"))  # type: ignore[arg-type]
        assert not gone.interactive and "cannot be opened" in gone.why_not
        with pytest.raises(NoTerminal, match=r"--yes: 'Is this rack X\?' needs an answer and there is no terminal"):
            gone.ask("Is this rack X?")
        gone.close()
        unattended = Terminal(yes=True, stdin=stdin)  # type: ignore[arg-type]
        assert unattended.why_not.startswith("--yes") and not unattended.interactive
        unattended.close()
    finally:
        terminal.close()
        stdin.close()  # type: ignore[attr-defined]
        os.close(master)
