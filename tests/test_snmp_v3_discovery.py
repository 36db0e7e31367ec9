"""SNMPv3 discovery in the PDU driver: another agent (another engine ID) at an address a driver of this
process has used. pysnmp caches an agent's engine ID per transport address (300 s) and its boots/time
per engine ID in the engine, so a new agent at a reused address was never answered (requests named the
old engine) until the driver gave each v3 link its own engine, retired when an agent it knew stops
answering. Over real UDP on 127.0.0.1 against the simulated agent."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from snmp_wire import BlackHole
from timeouts import ANSWERED_S, NEVER_S

from harness.clock import VirtualClock
from harness.drivers.snmp.engine import close_shared_loop
from harness.drivers.snmp.pdu import Pdu, SnmpCredentials
from harness.errors import SnmpTimeout
from harness.sim.physics import RackTwin
from harness.sim.snmp.agent import PduAgent, V3User


@pytest.fixture(scope="module", autouse=True)
def _shared_loop_closed_after() -> Iterator[None]:
    yield
    close_shared_loop()


V3_USER = V3User("control", "authpass-ctl", "privpass-ctl", "SHA256", "AES", write=True)
V3 = SnmpCredentials("3", user="control", auth_key="authpass-ctl", priv_key="privpass-ctl",
                     auth_protocol="SHA256", priv_protocol="AES")


def test_a_new_driver_discovers_a_new_agent_at_a_reused_address(twin: RackTwin, clock: VirtualClock) -> None:
    """Two agents with different engine IDs, one after the other on one port, one Pdu each, one process.
    pysnmp's process-wide engine cached the first agent's engine ID for the address (300 s), so the
    second agent could not read the second driver's requests and never answered (SnmpTimeout)."""
    first = PduAgent(twin, "pdu1", v3_users=[V3_USER], seed=1)
    port = first.start()
    try:
        with Pdu("pdu1", "127.0.0.1", port, vendor="apc_rpdu2", credentials=V3, clock=clock,
                 timeout_s=ANSWERED_S, retries=0) as p:
            assert p.outlet_is_on(1)
    finally:
        first.stop()
    with PduAgent(twin, "pdu1", v3_users=[V3_USER], seed=2, port=port) as second:
        assert second.engine_id != first.engine_id
        with Pdu("pdu1", "127.0.0.1", port, vendor="apc_rpdu2", credentials=V3, clock=clock,
                 timeout_s=ANSWERED_S, retries=0) as p:
            assert p.outlet_is_on(1)
        assert second.requests["get"] == 1


def test_a_replaced_agent_is_rediscovered_by_the_retry(twin: RackTwin, clock: VirtualClock,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    """One driver, its PDU replaced meanwhile (another engine ID at the same address). Requests still name
    the old engine, which the new agent can never answer, so their timeouts must expire: the first could
    be a lost datagram, the second retires the engine, and the retry runs on a fresh engine that discovers
    the new agent (one attempt spare, should that one be slow)."""
    caplog.set_level(logging.INFO, logger="harness.drivers.snmp")
    first = PduAgent(twin, "pdu1", v3_users=[V3_USER], seed=1)
    port = first.start()
    with Pdu("pdu1", "127.0.0.1", port, vendor="apc_rpdu2", credentials=V3, clock=clock,
             timeout_s=2.0, retries=3) as p:
        try:
            assert p.outlet_is_on(1)
        finally:
            first.stop()
        with PduAgent(twin, "pdu1", v3_users=[V3_USER], seed=2, port=port) as second:
            assert p.outlet_is_on(1)
            assert second.requests["get"] == 1
    retries = [r.getMessage() for r in caplog.records if "asking again" in r.getMessage()]
    assert "(1/3)" in retries[0] and "rediscovering" not in retries[0], retries
    assert "(2/3), rediscovering the agent" in retries[1], retries




def test_a_dead_v3_address_keeps_its_engine(clock: VirtualClock, caplog: pytest.LogCaptureFixture) -> None:
    """An engine that never discovered the agent holds nothing stale: its retries need no new engine
    (each would cost a MIB load), and the log does not claim a rediscovery."""
    caplog.set_level(logging.INFO, logger="harness.drivers.snmp")
    hole = BlackHole()
    try:
        with Pdu("pdu1", "127.0.0.1", hole.port, vendor="apc_rpdu2", credentials=V3, clock=clock,
                 timeout_s=NEVER_S, retries=2) as dead, pytest.raises(SnmpTimeout):
            dead.outlet_is_on(1)
    finally:
        hole.close()
    assert hole.seen["SNMPv3"] == 3  # the discovery probe, asked three times
    retries = [r.getMessage() for r in caplog.records if "asking again" in r.getMessage()]
    assert len(retries) == 2 and not any("rediscovering" in m for m in retries), retries
