"""Every vendor personality (APC rPDU2, Raritan PDU2-MIB, Sentry4, Eaton ePDU) against the driver, over
real UDP on 127.0.0.1: metering, switching, cycle, sequenced power-on, breakers, v3, faults."""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Iterator

import pytest
from conftest import wait_for
from pysnmp.proto import rfc1902
from snmp_wire import UdpProxy
from timeouts import ANSWERED_S, NEVER_S

from harness.clock import VirtualClock
from harness.config.profile import load_profile
from harness.drivers.snmp.engine import close_shared_loop
from harness.drivers.snmp.pdu import Pdu, PduMetering, SnmpCredentials
from harness.drivers.snmp.vendor_map import available_maps, load_vendor_map
from harness.errors import PowerActionUncertain, SnmpError, SnmpTimeout
from harness.sim.physics import RackTwin, physics_for
from harness.sim.physics.params import Branch, PduPhysics
from harness.sim.snmp.agent import AgentFaults, PduAgent, V3User

VENDORS = ["apc_rpdu2", "raritan_pdu2", "sentry4", "eaton_epdu"]
RW = SnmpCredentials("2c", community="private")
RO_USER = V3User("poller", "authpass-ro1", "privpass-ro1", "SHA", "AES", write=False)
CTL_USER = V3User("control", "authpass-ctl", "privpass-ctl", "SHA256", "AES", write=True)
V3_RO = SnmpCredentials("3", user="poller", auth_key="authpass-ro1", priv_key="privpass-ro1",
                        auth_protocol="SHA", priv_protocol="AES")
V3_CTL = SnmpCredentials("3", user="control", auth_key="authpass-ctl", priv_key="privpass-ctl",
                         auth_protocol="SHA256", priv_protocol="AES")
FEEDS = [1, 2, 3, 4, 5, 6]


@pytest.fixture(scope="module", autouse=True)
def _shared_loop_closed_after() -> Iterator[None]:
    yield
    close_shared_loop()


def mini_with_branches(vendor: str, clock: VirtualClock, rating_a: float = 10.0) -> RackTwin:
    """A mini rack whose PDU is of ``vendor``, with branch breakers A (``rating_a``), B and C."""
    prof = load_profile("mini")
    prof = prof.model_copy(update={"pdus": [prof.pdus[0].model_copy(update={"vendor": vendor})]})
    physics = physics_for(prof)
    pdu = PduPhysics(voltage_ln=physics.pdus["pdu1"].voltage_ln, branches=[
        Branch(name="A", outlets=[1, 2], rating_a=rating_a), Branch(name="B", outlets=[3, 4, 5, 6], rating_a=60.0),
        Branch(name="C", outlets=[7, 8], rating_a=16.0)])
    return RackTwin(prof, clock, physics=physics.model_copy(update={"pdus": {"pdu1": pdu}}))


class Bench:
    """A mini rack with branch breakers, its PDU of one vendor served by a live agent (v2c and v3 users)."""

    def __init__(self, vendor: str, *, rating_a: float = 10.0) -> None:
        self.clock = VirtualClock()
        self.twin = mini_with_branches(vendor, self.clock, rating_a)
        self.twin.start_powered()
        self.agent = PduAgent(self.twin, "pdu1", v3_users=[RO_USER, CTL_USER])
        self.agent.start()
        self.vmap = load_vendor_map(vendor)

    def pdu(self, credentials: SnmpCredentials = RW, *, port: int | None = None, **kw: object) -> Pdu:
        """A driver for the agent (or whatever listens on ``port``); answers are waited for generously."""
        kw.setdefault("timeout_s", ANSWERED_S)
        return Pdu("pdu1", "127.0.0.1", port or self.agent.port, vendor=self.vmap.vendor, credentials=credentials,
                   clock=self.clock, **kw)  # type: ignore[arg-type]


@pytest.fixture(params=VENDORS)
def bench(request: pytest.FixtureRequest) -> Iterator[Bench]:
    b = Bench(request.param)
    yield b
    b.agent.stop()


def test_every_map_is_shipped_and_valid() -> None:
    assert set(VENDORS) <= set(available_maps())
    for v in VENDORS:
        vm = load_vendor_map(v)
        assert vm.vendor == v and vm.breaker is not None
    assert load_vendor_map("eaton_epdu").outlet.control.mode == "delay"
    assert load_vendor_map("raritan_pdu2").outlet.current_a.digits is not None


def test_agent_personality_comes_from_the_profile() -> None:
    twin = mini_with_branches("sentry4", VirtualClock())
    assert PduAgent(twin, "pdu1").vmap.vendor == "sentry4"
    assert PduAgent(twin, "pdu1", vendor="eaton_epdu").vmap.vendor == "eaton_epdu"


def test_metering_matches_the_twin_at_the_vendor_resolution(bench: Bench) -> None:
    twin = bench.twin
    with bench.pdu() as pdu:
        m = pdu.metering()
        assert sorted(m.outlets) == list(range(1, 9)) and sorted(m.phases) == [1, 2, 3]
        res = bench.vmap.outlet.current_a.factor(bench.vmap.outlet.current_a.digits.sim
                                                 if bench.vmap.outlet.current_a.digits else 0)
        for n, meter in m.outlets.items():
            assert abs(meter.current_a - twin.outlet_current_a("pdu1", n)) <= res / 2 + 1e-9
            assert abs(meter.power_w - twin.outlet_power_w("pdu1", n)) <= 0.5 + 1e-9
            assert meter.energy_kwh is not None and meter.energy_kwh >= 0
        assert m.outlets[1].power_w > 100 and m.outlets[7].power_w == 0
        for p, meter in m.phases.items():
            assert abs(meter.current_a - twin.phase_current_a("pdu1", p)) <= 0.051
            assert meter.voltage_v == pytest.approx(230, abs=0.5)
        assert abs(m.inlet.power_w - twin.pdu_input_w("pdu1")) <= 10.0  # APC: 0.01 kW steps
        assert m.requests <= 8  # batched: a handful of requests, not one per OID
        assert pdu.identity()["model"] == bench.vmap.sim.model
        assert pdu.identity()["sys_object_id"].startswith(bench.vmap.sys_object_id_prefix)
        assert pdu.outlets_state(list(range(1, 9))) == {n: n <= 6 for n in range(1, 9)}


def test_tables_are_walked_with_getbulk(bench: Bench) -> None:
    with bench.pdu() as pdu:
        before = dict(bench.agent.requests)
        assert pdu.breaker_states() == {1: "ok", 2: "ok", 3: "ok"}
        assert bench.agent.requests["next"] > before.get("next", 0)
        assert pdu.num_phases() == 3


def test_switch_off_and_on_each_vendor(bench: Bench) -> None:
    with bench.pdu() as pdu:
        pdu.set_outlet(3, False)
        assert not bench.twin.outlet_is_on("pdu1", 3)
        t0 = bench.clock.now()
        pdu.set_outlet(3, True, poll_s=0.1)
        assert bench.twin.outlet_is_on("pdu1", 3) and bench.clock.now() - t0 >= 0.5 - 1e-9
        assert bench.agent.requests["set"] == 2  # one SET each, never re-sent


def test_cycle_each_vendor(bench: Bench) -> None:
    with bench.pdu() as pdu:
        t0 = bench.clock.now()
        pdu.cycle_outlet(2, poll_s=0.5)
        assert bench.twin.outlet_is_on("pdu1", 2)
        assert bench.clock.now() - t0 >= bench.vmap.sim.reboot_off_s - 1e-9  # it really was off meanwhile
        assert bench.agent.requests["set"] == 1


@pytest.mark.parametrize("vendor", ["apc_rpdu2", "sentry4", "eaton_epdu"])
def test_cycle_is_refused_while_a_command_is_pending(vendor: str) -> None:
    b = Bench(vendor)
    try:
        b.twin.set_outlet("pdu1", 7, True)  # on, waiting for its relay delay
        with b.pdu() as pdu:
            assert pdu.outlet_pending(7) is True
            with pytest.raises(SnmpError, match="pending"):
                pdu.cycle_outlet(7)
        assert b.agent.requests["set"] == 0
    finally:
        b.agent.stop()


def test_power_on_sequenced_uses_the_clock_stagger(bench: Bench) -> None:
    with bench.pdu() as pdu:
        for n in FEEDS:
            pdu.set_outlet(n, False)
        times: dict[int, float] = {}
        bench.twin.listeners.append(lambda kind, d: times.setdefault(d["outlet"], d["t"])  # type: ignore[arg-type]
                                    if kind == "outlet" and d["on"] else None)
        pdu.power_on_sequenced(FEEDS, stagger_s=2.0, poll_s=0.1)
    assert all(bench.twin.outlet_is_on("pdu1", n) for n in FEEDS)
    gaps = [times[b] - times[a] for a, b in itertools.pairwise(FEEDS)]
    assert all(g >= 2.0 - 1e-9 for g in gaps), gaps


def test_apc_device_sequenced_power_on() -> None:
    b = Bench("apc_rpdu2")
    try:
        with b.pdu() as pdu:
            for n in range(1, 9):
                pdu.set_outlet(n, False)
            times: dict[int, float] = {}
            b.twin.listeners.append(lambda kind, d: times.setdefault(d["outlet"], d["t"])  # type: ignore[arg-type]
                                    if kind == "outlet" and d["on"] else None)
            t0 = b.clock.now()
            sets = b.agent.requests["set"]
            pdu.power_on_all_sequenced(stagger_s=3.0)
            assert b.agent.requests["set"] - sets == 2  # one SET of all on-delays, one delayedAllOn
        assert all(b.twin.outlet_is_on("pdu1", n) for n in range(1, 9))
        assert [round(times[n] - t0) for n in range(1, 9)] == [0, 3, 6, 9, 12, 15, 18, 21]
    finally:
        b.agent.stop()
    raritan = Bench("raritan_pdu2")
    try:
        with raritan.pdu() as other, pytest.raises(SnmpError, match="no group command"):
            other.power_on_all_sequenced(1.0)
    finally:
        raritan.agent.stop()


def test_a_tripped_breaker_reads_as_the_vendor_says(bench: Bench) -> None:
    twin = bench.twin
    for tray in twin.trays:
        twin.set_utilization(tray, 1.0)  # branch A (outlets 1, 2) now carries more than its 10 A
    assert twin.breaker_tripped[("pdu1", "A")]
    with bench.pdu() as pdu:
        states = pdu.breaker_states()
        assert states[1] in ("tripped", "overload") and states[2] == states[3] == "ok"
        assert pdu.breakers_tripped() == [1]
        assert pdu.outlets_state([1, 2, 3]) == {1: False, 2: False, 3: True}
        twin.reset_breaker("pdu1", "A")
        assert pdu.breaker_states()[1] == "ok"


def test_raritan_decimal_digits_are_read_from_the_device() -> None:
    b = Bench("raritan_pdu2")
    try:
        spec = b.vmap.outlet.current_a
        assert spec.digits is not None
        with b.pdu() as pdu:
            amps = pdu.outlet_current_a(1)
        b.agent.set_override(spec.digits.oid_for(outlet=1), rfc1902.Integer32(spec.digits.sim + 1))
        with b.pdu() as fresh:  # a new driver reads the digits again; the raw value is unchanged
            assert fresh.outlet_current_a(1) == pytest.approx(amps / 10, abs=1e-3)
        b.agent.set_override(spec.digits.oid_for(outlet=1), rfc1902.Integer32(42))
        with b.pdu() as bad, pytest.raises(SnmpError, match="decimal digits"):
            bad.outlet_current_a(1)
    finally:
        b.agent.stop()


def test_v3_control_user_switches_and_read_only_user_cannot(bench: Bench) -> None:
    with bench.pdu(V3_RO) as ro:
        assert ro.outlet_is_on(1)
        with pytest.raises(SnmpError) as err:
            ro.set_outlet(1, False)
        assert "noAccess" in str(err.value) or "authorization" in str(err.value).lower()
    assert bench.twin.outlet_is_on("pdu1", 1)
    with bench.pdu(V3_CTL) as ctl:
        ctl.set_outlet(1, False)
    assert not bench.twin.outlet_is_on("pdu1", 1)


def test_v3_user_validation() -> None:
    with pytest.raises(ValueError):
        V3User("x", "short", "privpass123")
    with pytest.raises(ValueError):
        V3User("x", "authpass123", "privpass123", auth_protocol="MD5")
    assert "authpass" not in repr(CTL_USER)


# ---------------------------------------------------------------------- faults
def test_packet_loss_is_deterministic_and_retries_cover_it() -> None:
    def pattern(seed: int = 11, n: int = 40) -> list[bool]:
        f = AgentFaults(loss=0.3, seed=seed)
        return [f.drop() for _ in range(n)]

    assert pattern() == pattern() and 5 <= sum(pattern()) <= 20  # a seeded counter, not a dice roll
    assert pattern(17, 8) == [False, True, False, False, False, False, False, True]
    b = Bench("apc_rpdu2")
    try:
        b.agent.set_faults(loss=0.3, seed=17)
        # the dropped request must time out (it never reaches the agent); the answered ones never do
        with b.pdu(timeout_s=5.0, retries=5) as pdu:
            for _ in range(5):
                assert pdu.outlet_power_w(1) > 0  # every read gets through, the second on a retry
        # datagram 2 was lost: it cost exactly one retry, and nothing else was sent
        assert (b.agent.faults.seen, b.agent.faults.dropped) == (6, 1)
    finally:
        b.agent.stop()


def test_total_loss_is_a_timeout_and_a_lost_set_reply_is_read_back() -> None:
    b = Bench("sentry4")
    try:
        b.agent.set_faults(loss=1.0)  # nothing is ever answered: the short timeouts must expire
        with b.pdu(timeout_s=NEVER_S, retries=1) as pdu, pytest.raises(SnmpTimeout):
            pdu.outlet_is_on(1)
        assert b.agent.faults.dropped == 2  # the GET and its retry
        b.agent.set_faults(loss=1.0, lose="reply", seed=0)
        # the SET runs, its reply is lost; the read-backs' replies are lost too
        with b.pdu(timeout_s=NEVER_S, retries=0) as pdu, pytest.raises(PowerActionUncertain):
            pdu.set_outlet(2, False, confirm_timeout_s=0.5)
        assert not b.twin.outlet_is_on("pdu1", 2) and b.agent.requests["set"] == 1
    finally:
        b.agent.stop()


def test_delay_fault_longer_than_the_driver_waits_is_a_timeout() -> None:
    b = Bench("apc_rpdu2")
    try:
        b.agent.set_faults(delay_s=3600.0)  # held back far beyond any wait: never answered in time
        with b.pdu(timeout_s=NEVER_S, retries=0) as slow, pytest.raises(SnmpTimeout):
            slow.outlet_is_on(1)
        wait_for(lambda: b.agent.faults.held == 1, "the agent holding the reply back")
        assert [e.effect for e in b.twin.fault_log.find("snmp.delay", "pdu1")] == ["reply held back 3600 s"]
    finally:
        b.agent.stop()


def _in_flight_at_most(b: Bench, proxy: UdpProxy, pdu: Pdu, cap: int) -> PduMetering:
    """One metering pass with every answer held back until ``cap`` requests are out; how many the driver
    had in flight is counted at the proxy, not guessed from how long the pass took."""
    out: list[PduMetering | BaseException] = []

    def measure() -> None:
        try:
            out.append(pdu.metering(max_varbinds=6))
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            out.append(exc)

    proxy.hold()
    worker = threading.Thread(target=measure)
    worker.start()
    wait_for(lambda: proxy.in_flight >= cap or bool(out), f"{cap} requests in flight")
    proxy.release()
    worker.join()
    assert proxy.max_in_flight == cap, f"max_in_flight={cap}: {proxy.max_in_flight} requests were in flight at once"
    (result,) = out
    if isinstance(result, BaseException):
        raise result
    return result


def test_the_per_pdu_concurrency_cap() -> None:
    b = Bench("apc_rpdu2")
    proxy = UdpProxy(b.agent.port)
    try:
        with b.pdu(port=proxy.port, max_in_flight=1) as serial, b.pdu(port=proxy.port, max_in_flight=4) as wide:
            for p in (serial, wide):
                p.metering(max_varbinds=6)  # learn the counts first
            m1 = _in_flight_at_most(b, proxy, serial, 1)
            m4 = _in_flight_at_most(b, proxy, wide, 4)
        assert m1.requests == m4.requests >= 4  # the same requests, only more at once
    finally:
        proxy.close()
        b.agent.stop()


def test_restart_bumps_engine_boots_and_resets_counters() -> None:
    b = Bench("eaton_epdu")
    try:
        with b.pdu(V3_CTL) as pdu:
            assert pdu.outlet_is_on(1)
            port = b.agent.port
            assert b.agent.requests["get"] > 0
            assert b.agent.restart() == port
            assert b.agent.boots == 2 and b.agent.requests["get"] == 0
            assert pdu.outlet_is_on(1)  # the v3 manager re-learns boots/time and carries on
            pdu.set_outlet(1, False)
        assert not b.twin.outlet_is_on("pdu1", 1)
    finally:
        b.agent.stop()


def test_garbage_enum_and_sentinel_are_errors_for_every_vendor(bench: Bench) -> None:
    vm = bench.vmap
    with bench.pdu(retries=0) as pdu:
        bench.agent.set_override(vm.outlet.state.oid_for(outlet=1), rfc1902.Integer32(99))
        with pytest.raises(SnmpError, match="unknown enum"):
            pdu.outlet_is_on(1)
        bench.agent.set_override(vm.outlet.power_w.oid_for(outlet=2), rfc1902.OctetString(b"NaN"))
        with pytest.raises(SnmpError, match="expected an integer"):
            pdu.outlet_power_w(2)
    assert not math.isnan(0.0)
