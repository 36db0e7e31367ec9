"""`rackval sim` in its own process: net-snmp sees what the harness sees, and a run against its
station file gives the same verdict as `--sim`."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import wait_for
from ruamel.yaml import YAML

from harness.config.station import Credentials, load_station
from harness.drivers.snmp.pdu import Pdu, SnmpCredentials

CLI = [sys.executable, "-m", "harness.cli"]
APC_OUTLET_POWER = "1.3.6.1.4.1.318.1.1.26.9.4.3.1.7"
SPEED = 40.0
READY = "Ctrl-C to stop."  # printed once every listener is up and the station file is written
STOP_CEILING_S = 120.0  # a hang guard: starting or stopping takes a few seconds


@dataclass
class SimProcess:
    """A `rackval sim` process whose output is read as it comes: a pipe nobody reads fills up and then
    blocks the process on its next write (a simulator logging a warning), which can hang its stop."""

    proc: subprocess.Popen[str]
    station: Path
    out: list[str] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)

    def output(self) -> str:
        return "".join(self.out)

    def stop(self, signum: int = signal.SIGINT) -> int:
        """Send ``signum``; the exit code, once the process and its output have ended."""
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        try:
            rc = self.proc.wait(STOP_CEILING_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(STOP_CEILING_S)
            pytest.fail(f"rackval sim did not stop on {signal.Signals(signum).name} within {STOP_CEILING_S:g} s: "
                        + self.output())
        for th in self.threads:
            th.join(STOP_CEILING_S)
        return rc


def start_sim(work: Path, preexec_fn: Callable[[], object] | None = None) -> SimProcess:
    """`rackval sim --profile mini` in ``work``, returned once it says it is ready (or fails the test)."""
    station = work / "station.yaml"
    proc = subprocess.Popen([*CLI, "sim", "--profile", "mini", "--station-out", str(station), "--speed", str(SPEED),
                             "--seed", "5"], cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL, preexec_fn=preexec_fn)  # noqa: PLW1509 - one signal call
    sim = SimProcess(proc, station)
    for pipe in (proc.stdout, proc.stderr):
        th = threading.Thread(target=lambda p=pipe: sim.out.extend(iter(p.readline, "")), daemon=True)
        th.start()
        sim.threads.append(th)
    wait_for(lambda: READY in sim.output() or proc.poll() is not None, "rackval sim starting", ceiling_s=STOP_CEILING_S)
    if READY not in sim.output():
        sim.stop()
        pytest.fail(f"rackval sim did not start (exit {proc.returncode}): {sim.output()}")
    return sim


@pytest.fixture(scope="module")
def sim_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    sim = start_sim(tmp_path_factory.mktemp("sim"))
    try:
        yield sim.station
    finally:
        rc = sim.stop()
    assert rc == 0 and "stopping (SIGINT)" in sim.output(), sim.output()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_rackval_sim_stops_cleanly_on_a_signal_even_started_in_the_background(tmp_path: Path, signum: int) -> None:
    """Started as `rackval sim &` from a script (SIGINT ignored, as a shell leaves it for a background
    job), told to stop as soon as it is up: it stops its simulators and exits 0."""
    sim = start_sim(tmp_path, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    assert load_station(sim.station).bmcs
    rc = sim.stop(signum)
    assert rc == 0 and f"stopping ({signal.Signals(signum).name})" in sim.output(), (rc, sim.output())
    assert "Traceback" not in sim.output(), sim.output()


def test_station_file_is_valid_and_secrets_are_private(sim_process: Path) -> None:
    station = load_station(sim_process)
    assert station.simulated and station.speed == SPEED
    assert len(station.bmcs) == 3 and len(station.pdus) == 1 and len(station.instruments) == 2
    secrets_file = station.path(station.credentials_file or "")
    assert secrets_file.stat().st_mode & 0o077 == 0
    password = Credentials(station).get("bmc", "password")
    assert password not in sim_process.read_text()


@pytest.mark.skipif(shutil.which("snmpget") is None, reason="net-snmp's snmpget is not installed (Debian: snmp)")
def test_snmpget_reads_the_power_the_harness_reports(sim_process: Path) -> None:
    station = load_station(sim_process)
    pdu_ep = station.pdus[0]
    assert pdu_ep.snmp_version == "3"
    creds = Credentials(station)
    user = {f: creds.get("pdu", f) for f in ("user", "auth_key", "priv_key", "auth_protocol", "priv_protocol")}
    pdu = Pdu(pdu_ep.name, pdu_ep.host, pdu_ep.port, vendor=pdu_ep.vendor,
              credentials=SnmpCredentials(version="3", **user))
    try:
        for _ in range(3):  # the readings carry noise that changes with time; take them close together
            harness_w = pdu.outlet_power_w(1)
            out = subprocess.run(net_snmp_v3("snmpget", user, f"{pdu_ep.host}:{pdu_ep.port}", f"{APC_OUTLET_POWER}.1"),
                                 capture_output=True, text=True, timeout=10, check=True)
            net_snmp_w = float(out.stdout.strip())
            if abs(net_snmp_w - harness_w) <= max(2.0, 0.01 * harness_w):
                break
        assert net_snmp_w > 100  # outlet 1 feeds a PSU of a powered rack
        assert abs(net_snmp_w - harness_w) <= max(2.0, 0.01 * harness_w), (net_snmp_w, harness_w)
    finally:
        pdu.close()


def net_snmp_v3(tool: str, user: dict[str, str], target: str, *args: str) -> list[str]:
    auth = {"SHA256": "SHA-256", "SHA": "SHA"}[user["auth_protocol"]]
    return [tool, "-v3", "-l", "authPriv", "-u", user["user"], "-a", auth, "-A", user["auth_key"], "-x",
            user["priv_protocol"], "-X", user["priv_key"], "-Oqv", target, *args]


@pytest.mark.skipif(shutil.which("snmpset") is None, reason="net-snmp's snmpset is not installed (Debian: snmp)")
def test_the_read_only_user_cannot_switch_an_outlet(sim_process: Path) -> None:
    station = load_station(sim_process)
    pdu_ep = station.pdus[0]
    creds = Credentials(station)
    ro = {f: creds.get("pdu_ro", f) for f in ("user", "auth_key", "priv_key", "auth_protocol", "priv_protocol")}
    control = "1.3.6.1.4.1.318.1.1.26.9.2.4.1.5.1"
    out = subprocess.run(net_snmp_v3("snmpset", ro, f"{pdu_ep.host}:{pdu_ep.port}", control, "i", "2"),
                         check=False, capture_output=True, text=True, timeout=10)
    assert out.returncode != 0 and ("noAccess" in out.stderr or "authorization" in out.stderr.lower()), out
    state = subprocess.run(net_snmp_v3("snmpget", ro, f"{pdu_ep.host}:{pdu_ep.port}",
                                       "1.3.6.1.4.1.318.1.1.26.9.2.3.1.5.1"), capture_output=True, text=True,
                           timeout=10, check=True)
    assert state.stdout.strip() == "2"  # still on(2)


def test_a_run_against_the_sim_process_gives_the_same_verdict_as_sim(sim_process: Path, root: Path,
                                                                       tmp_path: Path) -> None:
    plan = str(root / "test_plans" / "mini_smoke.yaml")
    station_run = subprocess.run([*CLI, "run", plan, "--station", str(sim_process), "--rack-serial", "SIM-0001",
                                  "--out", str(tmp_path / "station")], check=False, cwd=tmp_path, capture_output=True,
                                 text=True, timeout=300, stdin=subprocess.DEVNULL)
    sim_run = subprocess.run([*CLI, "run", plan, "--sim", "--rack-serial", "SIM-0001", "--out", str(tmp_path / "sim")],
                             check=False, cwd=tmp_path, capture_output=True, text=True, timeout=300,
                             stdin=subprocess.DEVNULL)
    assert station_run.returncode == sim_run.returncode == 0, station_run.stdout + station_run.stderr
    assert final_verdict(station_run.stdout) == final_verdict(sim_run.stdout) == "PASS"
    steps = YAML(typ="safe").load(root / "test_plans" / "mini_smoke.yaml")["steps"]
    for kind in (s["kind"] for s in steps):
        assert kind in station_run.stdout


def final_verdict(stdout: str) -> str:
    return [line for line in stdout.splitlines() if "results in" in line][-1].split()[0]
