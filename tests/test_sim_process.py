"""`rackval sim` in its own process: net-snmp sees what the harness sees, and a run against its
station file gives the same verdict as `--sim`."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from harness.config.station import Credentials, load_station
from harness.drivers.snmp.pdu import Pdu, SnmpCredentials

CLI = [sys.executable, "-m", "harness.cli"]
APC_OUTLET_POWER = "1.3.6.1.4.1.318.1.1.26.9.4.3.1.7"
SPEED = 40.0


@pytest.fixture(scope="module")
def sim_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    work = tmp_path_factory.mktemp("sim")
    station = work / "station.yaml"
    proc = subprocess.Popen([*CLI, "sim", "--profile", "mini", "--station-out", str(station), "--speed", str(SPEED),
                             "--seed", "5"], cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (station.exists() and "bmcs" in station.read_text()):  # written once every listener is up
            if time.monotonic() > deadline or proc.poll() is not None:
                raise AssertionError(f"rackval sim did not start: {proc.communicate(timeout=5)}")
            time.sleep(0.05)
        time.sleep(0.2)  # let the file write finish
        yield station
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        finally:
            proc.kill()
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""


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
                         capture_output=True, text=True, timeout=10)
    assert out.returncode != 0 and ("noAccess" in out.stderr or "authorization" in out.stderr.lower()), out
    state = subprocess.run(net_snmp_v3("snmpget", ro, f"{pdu_ep.host}:{pdu_ep.port}",
                                       "1.3.6.1.4.1.318.1.1.26.9.2.3.1.5.1"), capture_output=True, text=True,
                           timeout=10, check=True)
    assert state.stdout.strip() == "2"  # still on(2)


def test_a_run_against_the_sim_process_gives_the_same_verdict_as_sim(sim_process: Path, root: Path,
                                                                       tmp_path: Path) -> None:
    plan = str(root / "test_plans" / "mini_smoke.yaml")
    station_run = subprocess.run([*CLI, "run", plan, "--station", str(sim_process), "--rack-serial", "SIM-0001",
                                  "--out", str(tmp_path / "station")], cwd=tmp_path, capture_output=True, text=True,
                                 timeout=300)
    sim_run = subprocess.run([*CLI, "run", plan, "--sim", "--rack-serial", "SIM-0001", "--out", str(tmp_path / "sim")],
                             cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert station_run.returncode == sim_run.returncode == 0, station_run.stdout + station_run.stderr
    assert final_verdict(station_run.stdout) == final_verdict(sim_run.stdout) == "PASS"
    steps = YAML(typ="safe").load(root / "test_plans" / "mini_smoke.yaml")["steps"]
    for kind in (s["kind"] for s in steps):
        assert kind in station_run.stdout


def final_verdict(stdout: str) -> str:
    return [line for line in stdout.splitlines() if "results in" in line][-1].split()[0]
