"""Shared helpers for rackval's own tests."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from harness.clock import VirtualClock
from harness.config.profile import load_profile
from harness.sim.physics import RackTwin
from harness.sim.redfish.server import RedfishFleet
from harness.sim.redfish.tls import TlsFiles, make_ca
from harness.sim.snmp.agent import PduAgent
from harness.sim.visa.server import ScpiServer

ROOT = Path(__file__).resolve().parent.parent
pytest_plugins = ["fault_matrix_summary"]  # the fault matrix's table, also under pytest-xdist

# CI must give the same answer for the same code: hypothesis draws its examples from a seed derived
# from each test, not at random. `RACKVAL_HYPOTHESIS=explore pytest ...` (or `--hypothesis-profile
# explore`) searches afresh; add what it finds as an @example.
settings.register_profile("deterministic", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("RACKVAL_HYPOTHESIS", "deterministic"))


# The simulated BMCs' account in tests that start a fleet of their own.
USER, PASSWORD = "admin", "sim-secret"


@pytest.fixture
def root() -> Path:
    return ROOT


# ---------------------------------------------------------------- one simulated rack, set up once here
# Most device tests need the same thing: a virtual clock, the physics twin of the small "mini" rack,
# powered, and one simulator on the real protocol in front of it. A file that needs another rack or
# another simulator option defines a fixture of the same name, which overrides these.
@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def twin(clock: VirtualClock) -> RackTwin:
    """The mini rack, every host on: the state a factory station starts a test from."""
    t = RackTwin(load_profile("mini"), clock)
    t.start_powered()
    return t


@pytest.fixture
def fleet(twin: RackTwin) -> Iterator[RedfishFleet]:
    """Simulated BMCs (plain HTTP) for every tray of the twin, account USER/PASSWORD."""
    with RedfishFleet(twin, username=USER, password=PASSWORD) as f:
        yield f


@pytest.fixture
def agent(twin: RackTwin) -> Iterator[PduAgent]:
    """The simulated SNMP agent of the twin's pdu1 (its vendor from the profile)."""
    with PduAgent(twin, "pdu1") as a:
        yield a


@pytest.fixture
def eload_server(twin: RackTwin) -> Iterator[ScpiServer]:
    with ScpiServer(twin, role="eload", model="chroma63600") as server:
        yield server


@pytest.fixture
def analyzer_server(twin: RackTwin) -> Iterator[ScpiServer]:
    with ScpiServer(twin, role="power_analyzer", model="yokogawa_wt5000") as server:
        yield server


@pytest.fixture
def test_ca(tmp_path: Path) -> TlsFiles:
    """A fresh CA and a server certificate for 127.0.0.1 (the files, and ``server_context()``)."""
    return make_ca(tmp_path / "test-ca", "127.0.0.1", label="rackval test")


def wait_for(predicate: Callable[[], object], what: str, *, ceiling_s: float = 60.0) -> None:
    """Wait until ``predicate()`` is true: a simulator thread acting on its own, a process reaching a
    point. The ceiling only turns a hang into a failure naming ``what``; it is far beyond any machine's
    normal time, so a busy machine makes the wait longer, never the answer different."""
    end = time.monotonic() + ceiling_s
    while not predicate():
        if time.monotonic() > end:
            pytest.fail(f"{what}: not after {ceiling_s:g} s of wall time (hung?)")
        time.sleep(0.01)
