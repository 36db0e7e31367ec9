"""The SNMP PDU driver against the simulated agent over real UDP on 127.0.0.1 (no mocks)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyasn1.type import univ
from pysnmp.proto import rfc1902, rfc1905
from snmp_wire import BlackHole, UdpProxy
from timeouts import ANSWERED_S, NEVER_S

from harness.clock import VirtualClock
from harness.config.profile import load_profile
from harness.drivers.snmp.engine import SnmpLoop, close_shared_loop, shared_loop
from harness.drivers.snmp.pdu import Pdu, SnmpCredentials
from harness.drivers.snmp.vendor_map import load_vendor_map
from harness.errors import PowerActionUncertain, SnmpError, SnmpTimeout
from harness.sim.physics import RackTwin, physics_for
from harness.sim.snmp.agent import PduAgent

VM = load_vendor_map("apc_rpdu2")
RW = SnmpCredentials("2c", community="private")
RO = SnmpCredentials("2c", community="public")
ALL = list(range(1, 9))


@pytest.fixture(scope="module", autouse=True)
def _shared_loop_closed_after() -> Iterator[None]:
    yield
    close_shared_loop()


@pytest.fixture
def pdu(agent: PduAgent, clock: VirtualClock) -> Iterator[Pdu]:
    with Pdu("pdu1", "127.0.0.1", agent.port, vendor="apc_rpdu2", credentials=RW, clock=clock,
             timeout_s=ANSWERED_S) as p:
        yield p


# ---------------------------------------------------------------------- reads
def test_outlet_state_matches_the_twin(pdu: Pdu, twin: RackTwin) -> None:
    assert pdu.outlet_is_on(1) is True
    assert pdu.outlet_is_on(7) is False
    assert pdu.outlets_state(ALL) == {n: twin.outlet_is_on("pdu1", n) for n in ALL}


def test_outlet_power_matches_the_twin_within_rounding(pdu: Pdu, twin: RackTwin) -> None:
    for n in (1, 2, 7):
        assert abs(pdu.outlet_power_w(n) - twin.outlet_power_w("pdu1", n)) <= 1.0
    assert pdu.outlet_power_w(1) > 100  # the fed outlets carry real load
    assert abs(pdu.outlet_current_a(1) - twin.outlet_current_a("pdu1", 1)) <= 0.051
    assert abs(pdu.total_power_w() - twin.pdu_input_w("pdu1")) <= 5.0
    phases = pdu.phase_currents_a()
    assert set(phases) == {1, 2, 3}
    for p, amps in phases.items():
        assert abs(amps - twin.phase_current_a("pdu1", p)) <= 0.051


def test_batched_read_is_one_request(pdu: Pdu, agent: PduAgent, twin: RackTwin) -> None:
    before = agent.requests["get"]
    watts = pdu.outlets_power_w(ALL)
    assert agent.requests["get"] - before == 1
    assert sorted(watts) == ALL
    assert all(abs(watts[n] - twin.outlet_power_w("pdu1", n)) <= 1.0 for n in ALL)
    before = agent.requests["get"]
    pdu.outlets_state(ALL)
    assert agent.requests["get"] - before == 1


def test_batches_are_chunked_to_the_map_limit(pdu: Pdu, agent: PduAgent) -> None:
    pdu.vmap = VM.model_copy(update={"max_varbinds": 3})
    before = agent.requests["get"]
    assert sorted(pdu.outlets_power_w(ALL)) == ALL
    assert agent.requests["get"] - before == 3  # 3 + 3 + 2


def test_identity(pdu: Pdu, twin: RackTwin) -> None:
    ident = pdu.identity()
    assert ident["model"] == VM.sim.model
    assert ident["firmware"] == twin.firmware_of("pdu1")
    assert ident["serial"] == twin.serial_of("pdu1")
    assert ident["sys_object_id"].startswith(VM.sys_object_id_prefix)


def test_missing_outlet_names_the_pdu_and_oid(pdu: Pdu) -> None:
    with pytest.raises(SnmpError) as err:
        pdu.outlet_power_w(9)
    msg = str(err.value)
    assert "pdu1" in msg and VM.outlet.power_w.oid_for(outlet=9) in msg and "outlet 9" in msg


def test_bad_arguments_are_value_errors(pdu: Pdu) -> None:
    for bad in (0, -1, True, "1"):
        with pytest.raises(ValueError):
            pdu.outlet_is_on(bad)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- switching
def test_set_outlet_off_is_confirmed(pdu: Pdu, agent: PduAgent, twin: RackTwin) -> None:
    pdu.set_outlet(2, False)
    assert not twin.outlet_is_on("pdu1", 2)
    assert pdu.outlet_is_on(2) is False
    assert agent.requests["set"] == 1


def test_set_outlet_on_is_confirmed_after_the_relay_delay(pdu: Pdu, agent: PduAgent, twin: RackTwin,
                                                         clock: VirtualClock) -> None:
    delay = physics_for(load_profile("mini")).timing.outlet_on_delay_s
    t0 = clock.now()
    pdu.set_outlet(8, True, poll_s=0.1)
    assert twin.outlet_is_on("pdu1", 8)
    assert clock.now() - t0 >= delay - 1e-9  # the driver waited in simulated time, not wall time
    assert agent.requests["set"] == 1


def test_read_only_community_set_is_refused_and_nothing_changes(agent: PduAgent, twin: RackTwin,
                                                                clock: VirtualClock) -> None:
    with Pdu("pdu1", "127.0.0.1", agent.port, vendor="apc_rpdu2", credentials=RO, clock=clock,
             timeout_s=ANSWERED_S) as ro, pytest.raises(SnmpError) as err:
        ro.set_outlet(1, False)
    assert "noAccess" in str(err.value) and not isinstance(err.value, PowerActionUncertain)
    assert twin.outlet_is_on("pdu1", 1)


def test_set_to_a_dead_port_is_sent_once_then_uncertain(clock: VirtualClock) -> None:
    hole = BlackHole()  # never answers: the short timeout must expire, on any machine
    try:
        dead = Pdu("pdu1", "127.0.0.1", hole.port, vendor="apc_rpdu2", credentials=RW, clock=clock,
                   timeout_s=NEVER_S, retries=1)
        t0 = clock.now()
        with pytest.raises(PowerActionUncertain) as err:
            dead.set_outlet(3, False, confirm_timeout_s=1.0, poll_s=0.5)
        assert clock.now() - t0 >= 1.0  # gave up at the (simulated) deadline, not before
        assert "pdu1" in str(err.value) and "no answer" in str(err.value)
    finally:
        hole.close()
    assert hole.seen["SetRequestPDU"] == 1
    assert hole.seen["GetRequestPDU"] >= 2  # it kept reading back


def test_get_from_a_dead_port_is_a_timeout(clock: VirtualClock) -> None:
    hole = BlackHole()
    try:
        dead = Pdu("pdu1", "127.0.0.1", hole.port, vendor="apc_rpdu2", credentials=RW, clock=clock,
                   timeout_s=NEVER_S, retries=1)
        with pytest.raises(SnmpTimeout) as err:
            dead.outlet_power_w(1)
    finally:
        hole.close()
    assert "pdu1" in str(err.value) and "outlet 1 power_w" in str(err.value)
    assert hole.seen["GetRequestPDU"] == 2  # GETs are retried


# A lost SET must time out (it is never answered) while every read-back must be answered: one timeout
# serves both, so the reads get retries to spare rather than a wall-clock margin.
LOSSY: dict[str, Any] = {"timeout_s": 1.0, "retries": 3}


def test_lost_set_answer_is_confirmed_by_reading_back_not_resending(agent: PduAgent, twin: RackTwin,
                                                                    clock: VirtualClock) -> None:
    proxy = UdpProxy(agent.port, lose="reply", sets_to_lose=1)
    try:
        p = Pdu("pdu1", "127.0.0.1", proxy.port, vendor="apc_rpdu2", credentials=RW, clock=clock, **LOSSY)
        p.set_outlet(4, False, confirm_timeout_s=2.0)
    finally:
        proxy.close()
    assert proxy.dropped == 1 and proxy.seen["SetRequestPDU"] == 1
    assert agent.requests["set"] == 1 and not twin.outlet_is_on("pdu1", 4)


def test_lost_set_request_is_sent_again_once_read_back_proves_it_lost(agent: PduAgent, twin: RackTwin,
                                                                        clock: VirtualClock) -> None:
    """No answer and the outlet still reads its old state for the whole window: the SET never arrived,
    so on/off (a target state) is sent again, and confirmed."""
    proxy = UdpProxy(agent.port, lose="request", sets_to_lose=1)
    try:
        p = Pdu("pdu1", "127.0.0.1", proxy.port, vendor="apc_rpdu2", credentials=RW, clock=clock, **LOSSY)
        p.set_outlet(5, False, confirm_timeout_s=2.0)
    finally:
        proxy.close()
    assert proxy.dropped == 1 and proxy.seen["SetRequestPDU"] == 2
    assert agent.requests["set"] == 1 and not twin.outlet_is_on("pdu1", 5)


def test_lost_set_requests_are_resent_a_bounded_number_of_times(agent: PduAgent, twin: RackTwin,
                                                                clock: VirtualClock) -> None:
    proxy = UdpProxy(agent.port, lose="request", sets_to_lose=100)
    try:
        p = Pdu("pdu1", "127.0.0.1", proxy.port, vendor="apc_rpdu2", credentials=RW, clock=clock, **LOSSY)
        with pytest.raises(PowerActionUncertain) as err:
            p.set_outlet(6, False, confirm_timeout_s=1.0, max_unanswered_resends=2)
    finally:
        proxy.close()
    assert proxy.seen["SetRequestPDU"] == 3 and "sent 3 time(s)" in str(err.value)
    assert agent.requests["set"] == 0 and twin.outlet_is_on("pdu1", 6)


def test_closed_driver_refuses(pdu: Pdu) -> None:
    pdu.close()
    with pytest.raises(SnmpError):
        pdu.outlet_is_on(1)


# ---------------------------------------------------------------------- decoding garbage
snmp_values = st.one_of(
    st.integers(-5, 70000).map(rfc1902.Integer32),  # around the plausible range, so successes happen too
    st.integers(-(2**31), 2**31 - 1).map(rfc1902.Integer32),
    st.integers(0, 2**32 - 1).map(rfc1902.Gauge32),
    st.integers(0, 2**32 - 1).map(rfc1902.Counter32),
    st.integers(0, 2**64 - 1).map(rfc1902.Counter64),
    st.integers(0, 2**32 - 1).map(rfc1902.TimeTicks),
    st.binary(max_size=40).map(rfc1902.OctetString),
    st.text(max_size=20).map(lambda s: rfc1902.OctetString(s.encode())),
    st.lists(st.integers(0, 2**31 - 1), min_size=0, max_size=8).map(
        lambda xs: rfc1902.ObjectIdentifier((1, 3, *xs))),
    st.sampled_from([rfc1902.IpAddress("10.0.0.1"), univ.Null(""), rfc1905.noSuchObject,
                     rfc1905.noSuchInstance, rfc1905.endOfMibView, rfc1902.Integer32(-1)]),
)


@pytest.fixture(scope="module")
def garbage_agent() -> Iterator[tuple[PduAgent, Pdu]]:
    clock = VirtualClock()
    twin = RackTwin(load_profile("mini"), clock)
    twin.start_powered()
    # garbage is still an answer: it must come before the timeout
    with PduAgent(twin, "pdu1") as agent, Pdu("pdu1", "127.0.0.1", agent.port, vendor="apc_rpdu2", credentials=RW,
                                              clock=clock, timeout_s=ANSWERED_S, retries=0) as p:
        yield agent, p


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=snmp_values)
def test_garbage_values_only_ever_raise_snmp_errors(garbage_agent: tuple[PduAgent, Pdu], value: Any) -> None:
    agent, p = garbage_agent
    power, state = VM.outlet.power_w, VM.outlet.state
    agent.set_override(power.oid_for(outlet=1), value)
    agent.set_override(state.oid_for(outlet=1), value)
    try:
        try:
            watts = p.outlet_power_w(1)
        except SnmpTimeout:
            raise
        except SnmpError:
            pass
        else:
            assert isinstance(value, (rfc1902.Integer32, rfc1902.Gauge32, rfc1902.Counter32))
            assert power.range is not None and power.range[0] <= int(value) <= power.range[1]
            assert watts == int(value) * power.scale
        try:
            on = p.outlet_is_on(1)
        except SnmpTimeout:
            raise
        except SnmpError:
            pass
        else:
            assert int(value) in (state.raw_of("on"), state.raw_of("off"))
            assert on is (int(value) == state.raw_of("on"))
    finally:
        agent.set_override(power.oid_for(outlet=1), None)
        agent.set_override(state.oid_for(outlet=1), None)


# ---------------------------------------------------------------------- credentials
def test_credentials_refuse_weak_or_implicit_v3() -> None:
    with pytest.raises(ValueError):
        SnmpCredentials("3", user="ops", auth_key="authpass123", priv_key="privpass123")  # no protocols
    with pytest.raises(ValueError):
        SnmpCredentials("3", user="ops", auth_key="authpass123", priv_key="privpass123",
                        auth_protocol="MD5", priv_protocol="AES")
    with pytest.raises(ValueError):
        SnmpCredentials("3", user="ops", auth_key="authpass123", priv_key="privpass123",
                        auth_protocol="SHA", priv_protocol="DES")
    with pytest.raises(ValueError):
        SnmpCredentials("3", user="ops", auth_key="short", priv_key="privpass123",
                        auth_protocol="SHA", priv_protocol="AES")
    with pytest.raises(ValueError):
        SnmpCredentials("2c")
    SnmpCredentials("3", user="ops", auth_key="authpass123", priv_key="privpass123",
                    auth_protocol="SHA256", priv_protocol="AES").auth_data()


def test_credentials_never_print_secrets() -> None:
    v3 = SnmpCredentials("3", user="ops", auth_key="authSECRET1", priv_key="privSECRET2",
                         auth_protocol="SHA", priv_protocol="AES")
    v2 = SnmpCredentials("2c", community="commSECRET3")
    for text in (repr(v3), str(v3), repr(v2), f"{v2}", repr(Pdu("p", "127.0.0.1", 1, vendor="apc_rpdu2",
                                                                    credentials=v3))):
        assert "SECRET" not in text


# ---------------------------------------------------------------------- engine facade
def test_shared_loop_is_reused_and_recreated_after_close() -> None:
    a = shared_loop()
    assert shared_loop() is a
    close_shared_loop()
    assert a.closed
    b = shared_loop()
    assert b is not a and not b.closed


def test_private_loop_closes_cleanly(agent: PduAgent, clock: VirtualClock) -> None:
    loop = SnmpLoop("test-private")
    try:
        p = Pdu("pdu1", "127.0.0.1", agent.port, vendor="apc_rpdu2", credentials=RW, clock=clock, loop=loop,
                timeout_s=ANSWERED_S)
        assert p.outlet_is_on(1)
    finally:
        loop.close()
    with pytest.raises(SnmpError):
        p.outlet_is_on(1)


# ---------------------------------------------------------------------- an independent client
NO_NET_SNMP = shutil.which("snmpget") is None


@pytest.mark.skipif(NO_NET_SNMP, reason="net-snmp's snmpget is not installed (apt-get install snmp)")
def test_net_snmp_reads_what_the_driver_reads(pdu: Pdu, agent: PduAgent) -> None:
    oid = VM.outlet.power_w.oid_for(outlet=1)
    out = subprocess.run(["snmpget", "-v2c", "-c", "public", "-On", "-Oqv", "-t", "10", "-r", "0",
                          f"127.0.0.1:{agent.port}", oid], capture_output=True, text=True, timeout=60, check=True)
    assert float(out.stdout.strip()) == pdu.outlet_power_w(1)


# ---------------------------------------------------------------------- the vendor map itself
def test_vendor_map_is_validated() -> None:
    from pydantic import ValidationError

    from harness.errors import ConfigError

    data = VM.model_dump()
    data["outlet"]["power_w"]["oid"] = "1.3.6.1.4.1.318.x"
    with pytest.raises(ValidationError):
        type(VM).model_validate(data)
    data = VM.model_dump()
    data["outlet"]["state"]["values"] = {1: "off", 3: "unknown"}  # no 'on'
    with pytest.raises(ValidationError):
        type(VM).model_validate(data)
    data = VM.model_dump()
    data["outlet"]["power_w"]["units"] = "W"  # typo'd / unknown field
    with pytest.raises(ValidationError):
        type(VM).model_validate(data)
    with pytest.raises(ConfigError):
        load_vendor_map("no_such_vendor")
    assert load_vendor_map("apc_rpdu2") is VM  # loaded once
