"""The simulated PDU agent over real UDP on 127.0.0.1, checked with a plain pysnmp manager (not the
driver), so agent bugs and driver bugs cannot hide each other."""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    Integer32,
    ObjectIdentity,
    ObjectType,
    OctetString,
    SnmpEngine,
    UdpTransportTarget,
    get_cmd,
    set_cmd,
    walk_cmd,
)
from timeouts import ANSWERED_S

from harness.clock import VirtualClock
from harness.config.profile import load_profile
from harness.drivers.snmp.engine import SnmpLoop
from harness.drivers.snmp.vendor_map import load_vendor_map
from harness.sim.physics import RackTwin, physics_for
from harness.sim.snmp.agent import PduAgent

VM = load_vendor_map("apc_rpdu2")
STATE = VM.outlet.state
CONTROL = VM.outlet.control
PENDING = VM.outlet.pending
assert PENDING is not None
POWER = VM.outlet.power_w


@pytest.fixture(scope="module")
def snmp() -> Iterator[SnmpLoop]:
    with SnmpLoop("test-agent-manager") as loop:
        yield loop


def request(snmp: SnmpLoop, port: int, *oids: str, community: str = "public",
            set_value: Any = None) -> tuple[str, list[tuple[str, Any]]]:
    """One GET (or a SET of one varbind); returns (error status name or '', [(oid, value)])."""

    async def call(engine: SnmpEngine) -> tuple[Any, Any, Any, Any]:
        target = await UdpTransportTarget.create(("127.0.0.1", port), timeout=ANSWERED_S, retries=0)
        if set_value is None:
            return await get_cmd(engine, CommunityData(community), target, ContextData(),
                                 *[ObjectType(ObjectIdentity(o)) for o in oids], lookupMib=False)
        return await set_cmd(engine, CommunityData(community), target, ContextData(),
                             ObjectType(ObjectIdentity(oids[0]), set_value), lookupMib=False)

    err_ind, err_stat, _, vbs = snmp.run(call, 3 * ANSWERED_S)
    assert not err_ind, err_ind
    return (err_stat.prettyPrint() if err_stat else ""), [(str(o), v) for o, v in vbs]


def test_values_are_live_from_the_twin(snmp: SnmpLoop, agent: PduAgent, twin: RackTwin) -> None:
    status, vbs = request(snmp, agent.port, STATE.oid_for(outlet=1), STATE.oid_for(outlet=7),
                          POWER.oid_for(outlet=2), VM.device.num_outlets.oid_for())
    assert status == ""
    values = [int(v) for _, v in vbs]
    assert values[0] == STATE.raw_of("on") and values[1] == STATE.raw_of("off")
    assert values[2] == round(twin.outlet_power_w("pdu1", 2))
    assert values[3] == 8
    twin.set_outlet("pdu1", 2, False)  # a change made by the test shows on the next GET
    _, vbs = request(snmp, agent.port, STATE.oid_for(outlet=2), POWER.oid_for(outlet=2))
    assert [int(v) for _, v in vbs] == [STATE.raw_of("off"), 0]


def test_rw_set_switches_the_twin_outlet(snmp: SnmpLoop, agent: PduAgent, twin: RackTwin,
                                         clock: VirtualClock) -> None:
    status, _ = request(snmp, agent.port, CONTROL.oid_for(outlet=3), community="private",
                        set_value=Integer32(CONTROL.raw_of("off")))
    assert status == "" and not twin.outlet_is_on("pdu1", 3)
    status, _ = request(snmp, agent.port, CONTROL.oid_for(outlet=3), community="private",
                        set_value=Integer32(CONTROL.raw_of("on")))
    assert status == ""
    _, vbs = request(snmp, agent.port, STATE.oid_for(outlet=3), PENDING.oid_for(outlet=3))
    assert [int(v) for _, v in vbs] == [STATE.raw_of("off"), PENDING.raw_of("pending")]  # relay delay
    clock.sleep(physics_for(load_profile("mini")).timing.outlet_on_delay_s)
    _, vbs = request(snmp, agent.port, STATE.oid_for(outlet=3), PENDING.oid_for(outlet=3))
    assert [int(v) for _, v in vbs] == [STATE.raw_of("on"), PENDING.raw_of("idle")]
    assert agent.requests["set"] == 2


def test_read_only_community_cannot_set(snmp: SnmpLoop, agent: PduAgent, twin: RackTwin) -> None:
    status, _ = request(snmp, agent.port, CONTROL.oid_for(outlet=1), community="public",
                        set_value=Integer32(CONTROL.raw_of("off")))
    assert status == "noAccess"
    assert twin.outlet_is_on("pdu1", 1)


def test_bad_sets_are_refused_with_the_right_status(snmp: SnmpLoop, agent: PduAgent, twin: RackTwin) -> None:
    oid = CONTROL.oid_for(outlet=1)
    assert request(snmp, agent.port, oid, community="private", set_value=Integer32(9))[0] == "wrongValue"
    assert request(snmp, agent.port, oid, community="private", set_value=OctetString("off"))[0] == "wrongType"
    assert request(snmp, agent.port, POWER.oid_for(outlet=1), community="private",
                   set_value=Integer32(0))[0] == "notWritable"
    assert twin.outlet_is_on("pdu1", 1)


def test_unknown_oid_is_no_such_object(snmp: SnmpLoop, agent: PduAgent) -> None:
    status, vbs = request(snmp, agent.port, "1.3.6.1.4.1.318.1.1.26.9.4.3.1.7.99")
    assert status == "" and vbs[0][1].__class__.__name__ == "NoSuchObject"


def test_reboot_is_off_then_on_after_the_reboot_time(snmp: SnmpLoop, agent: PduAgent, twin: RackTwin,
                                                     clock: VirtualClock) -> None:
    status, _ = request(snmp, agent.port, CONTROL.oid_for(outlet=4), community="private",
                        set_value=Integer32(CONTROL.raw_of("reboot")))
    assert status == ""
    assert not twin.outlet_is_on("pdu1", 4) and twin.outlet_command_pending("pdu1", 4)
    clock.sleep(VM.sim.reboot_off_s - 0.1)
    assert not twin.outlet_is_on("pdu1", 4)
    clock.sleep(0.2)
    assert twin.outlet_is_on("pdu1", 4) and not twin.outlet_command_pending("pdu1", 4)


def test_a_later_command_cancels_a_pending_reboot(snmp: SnmpLoop, agent: PduAgent, twin: RackTwin,
                                                  clock: VirtualClock) -> None:
    oid = CONTROL.oid_for(outlet=5)
    request(snmp, agent.port, oid, community="private", set_value=Integer32(CONTROL.raw_of("reboot")))
    request(snmp, agent.port, oid, community="private", set_value=Integer32(CONTROL.raw_of("off")))
    clock.sleep(VM.sim.reboot_off_s + 1.0)
    assert not twin.outlet_is_on("pdu1", 5)


def test_walk_stays_in_the_phase_table(snmp: SnmpLoop, agent: PduAgent, twin: RackTwin) -> None:
    column = VM.device.phase_current_a.oid

    async def walk(engine: SnmpEngine) -> list[tuple[str, int]]:
        target = await UdpTransportTarget.create(("127.0.0.1", agent.port), timeout=ANSWERED_S, retries=0)
        out = []
        async for err_ind, err_stat, _, vbs in walk_cmd(engine, CommunityData("public"), target, ContextData(),
                                                         ObjectType(ObjectIdentity(column)),
                                                         lexicographicMode=False, lookupMib=False):
            assert not err_ind and not err_stat
            out.extend((str(o), int(v)) for o, v in vbs)
        return out

    rows = snmp.run(walk, 3 * ANSWERED_S)
    assert [o for o, _ in rows] == [f"{column}.{p}" for p in (1, 2, 3)]
    for p, (_, raw) in enumerate(rows, start=1):
        assert abs(raw * 0.1 - twin.phase_current_a("pdu1", p)) <= 0.051


def test_several_agents_run_at_once(snmp: SnmpLoop, twin: RackTwin) -> None:
    with PduAgent(twin, "pdu1") as a, PduAgent(twin, "pdu1", community_ro="other") as b:
        assert a.port != b.port
        assert request(snmp, a.port, STATE.oid_for(outlet=1))[0] == ""
        assert request(snmp, b.port, STATE.oid_for(outlet=1), community="other")[0] == ""


def test_stop_is_clean_and_frees_the_port(twin: RackTwin, snmp: SnmpLoop,
                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="asyncio")
    agent = PduAgent(twin, "pdu1")
    port = agent.start()
    request(snmp, port, STATE.oid_for(outlet=1))
    agent.stop()
    agent.stop()  # idempotent
    gc.collect()
    assert not [r for r in caplog.records if "destroyed" in r.getMessage()]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", port))  # the agent let go of its socket


def test_port_clash_raises_at_start(twin: RackTwin) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        with pytest.raises(OSError):
            PduAgent(twin, "pdu1", port=s.getsockname()[1]).start()


def test_unknown_pdu_is_refused(twin: RackTwin) -> None:
    with pytest.raises(KeyError):
        PduAgent(twin, "pdu9")


def test_no_event_loop_left_behind(twin: RackTwin) -> None:
    agent = PduAgent(twin, "pdu1")
    agent.start()
    loop = agent._loop  # checking the teardown contract
    agent.stop()
    assert loop is not None and loop.is_closed()
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()
