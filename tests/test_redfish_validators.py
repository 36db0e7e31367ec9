"""DMTF's own validators against the simulated services, offline (the gate of issue 3).

The service validator checks every payload against the CSDL in fixtures/redfish/csdl
(``--skipschema``: never goes online); the protocol validator checks HTTP behaviour. Both run as the
installed console scripts, against a real-clock nvl72 fleet (the validators sleep in real time).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.clock import RealClock
from harness.config.profile import load_profile
from harness.paths import fixtures_dir
from harness.sim.physics import RackTwin
from harness.sim.redfish.server import RedfishFleet

pytestmark = pytest.mark.validators

USER, PASSWORD = "admin", "validator-secret-1"
CSDL = fixtures_dir() / "redfish" / "csdl"
SUMMARY = re.compile(r"\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|")


def _tool(name: str) -> str:
    beside = Path(sys.executable).parent / name  # the venv's console scripts, even if not on PATH
    path = str(beside) if beside.exists() else shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed (pip install -e '.[test]')")
    return path


@pytest.fixture(scope="module")
def fleet() -> Iterator[RedfishFleet]:
    twin = RackTwin(load_profile("nvl72"), RealClock(), serial="SIM-VAL")
    twin.start_powered()
    with RedfishFleet(twin, username=USER, password=PASSWORD, rack_manager=True) as f:
        yield f


@pytest.fixture(scope="module")
def tls_fleet() -> Iterator[RedfishFleet]:
    twin = RackTwin(load_profile("mini"), RealClock(), serial="SIM-VAL-TLS")
    twin.start_powered()
    with RedfishFleet(twin, username=USER, password=PASSWORD, tls=True) as f:
        yield f


def run_service_validator(url: str, logdir: Path) -> tuple[dict[str, int], str]:
    cmd = [_tool("rf_service_validator"), "-r", url, "-u", USER, "-p", PASSWORD, "--authtype", "Session",
           "--schema_directory", str(CSDL), "--skipschema", "--logdir", str(logdir)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    text = out.stdout + out.stderr
    match = SUMMARY.search(text)
    assert match, f"no summary table in the validator output:\n{text[-3000:]}"
    counts = dict(zip(("PASS", "WARN", "FAIL", "NOT TESTED"), map(int, match.groups()), strict=True))
    problems = "\n".join(line for log in logdir.rglob("*.log") for line in log.read_text().splitlines()
                         if " - ERROR - " in line or " - WARNING - " in line)
    return counts, problems


@pytest.mark.parametrize("name", ["compute01", "switch01", "rackmgr"])
def test_service_validator_passes(fleet: RedfishFleet, name: str, tmp_path: Path) -> None:
    counts, problems = run_service_validator(fleet.endpoints[name], tmp_path)
    assert counts["FAIL"] == 0, problems
    assert counts["WARN"] == 0, problems
    assert counts["PASS"] > 300


def test_protocol_validator_passes(tls_fleet: RedfishFleet, tmp_path: Path) -> None:
    """Over HTTPS, verified against the fleet's CA: Basic auth over plain HTTP is a FAIL by definition
    (SEC_BASIC_AUTH_OVER_HTTPS), and real BMCs serve HTTPS."""
    url = tls_fleet.endpoints["compute01"]
    cmd = [_tool("rf_protocol_validator"), "-r", url, "-u", USER, "-p", PASSWORD, "--report-dir", str(tmp_path),
           "--avoid-http-redirect", "--ca-bundle", str(tls_fleet.ca_file)]
    # requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override a session's own CA (psf/requests#3829)
    env = {k: v for k, v in os.environ.items() if k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False, env=env)
    results = json.loads(next(tmp_path.glob("results.json")).read_text()) if list(tmp_path.glob("results.json")) \
        else None
    summary = re.search(r"PASS: (\d+), WARN: (\d+), FAIL: (\d+), NOT_TESTED: (\d+)", out.stdout + out.stderr)
    assert summary, (out.stdout + out.stderr)[-3000:]
    failures = []
    tsv = next(tmp_path.glob("*.tsv"), None)
    if tsv is not None:
        failures = [line for line in tsv.read_text().splitlines() if "\tFAIL\t" in line or "\tWARN\t" in line]
    assert int(summary.group(3)) == 0, "\n".join(failures) or results
    assert int(summary.group(2)) == 0, "\n".join(failures)
    assert int(summary.group(1)) > 200
