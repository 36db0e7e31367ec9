"""Replies corrupted on the wire by the simulators (harness/sim/faults/wire.py), chosen by hypothesis:
malformed or mistyped Redfish JSON, SCPI garbage, SNMP datagrams damaged, replies truncated, connections
reset mid-reply. Every driver must turn them into a typed error naming the device and the request (never
a bare KeyError/ValueError/JSONDecodeError/pysnmp exception), must never send a power action twice
because its answer was garbage, and must work again once the wire is clean. End to end, a plan run
on a station with a corrupted device marks the step ERROR and still reaches its verified safe state.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from conftest import PASSWORD, USER
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from timeouts import ANSWERED_MS, ANSWERED_S, NEVER_MS, NEVER_S

from harness.clock import VirtualClock
from harness.config.plan import load_plan
from harness.config.profile import load_profile
from harness.drivers.redfish.client import BmcClient
from harness.drivers.snmp.engine import close_shared_loop
from harness.drivers.snmp.pdu import Pdu, SnmpCredentials
from harness.drivers.visa.eload import ElectronicLoad
from harness.drivers.visa.link import ScpiLink
from harness.drivers.visa.power_analyzer import PowerAnalyzer
from harness.errors import DriverError, InstrumentError, PowerActionUncertain, RedfishError, SnmpError
from harness.run.options import RunOptions, RunResult
from harness.run.session import RunSession
from harness.sim.faults.wire import KINDS, Corruption, mangle_datagram, mangle_http, mangle_json, mangle_line
from harness.sim.physics import RackTwin
from harness.sim.redfish.server import RedfishFleet
from harness.sim.snmp.agent import PduAgent, V3User
from harness.sim.visa.server import ScpiServer
from harness.steps import STEP_KINDS

ROOT = Path(__file__).resolve().parent.parent
#: CI: a fixed set of examples (deterministic). RACKVAL_FUZZ_EXAMPLES=N explores N fresh random examples.
EXPLORE = int(os.environ.get("RACKVAL_FUZZ_EXAMPLES", "0"))
FUZZ = settings(max_examples=EXPLORE or 40, deadline=None, derandomize=not EXPLORE, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

#: bytes that put a reply out of its protocol: never digits alone (a digit inserted into a number is
#: a different, plausible number, which no driver can tell from a real one)
garbage = st.one_of(
    st.sampled_from([b"", b"\xff\xfe", b"null", b"[]", b"{}", b'"text"', b"true", b"1e999", b"NaN", b"<html>",
                     b'{"a":', b"\x00", b"-", b"9.91E37", b"\r\n\r\n", b"HTTP/1.1 200 OK\r\n", b"[/red]"]),
    st.binary(min_size=1, max_size=24).filter(lambda b: not re.fullmatch(rb"[0-9.+\-eE, ]*", b)),
)
corruptions = st.builds(Corruption, kind=st.sampled_from(KINDS), at=st.floats(0.0, 1.0), data=garbage)


def _typed(exc: DriverError, device: str) -> None:
    """A typed driver error that says which device and which request."""
    assert exc.device == device, exc
    assert exc.request.strip(), exc
    assert str(exc).startswith(f"{device}: "), exc
    if currently_in_test_context():  # --hypothesis-show-statistics: which errors the corruptions gave
        event(type(exc).__name__)


# ---------------------------------------------------------------------------------------- the mangling itself
@given(c=corruptions, body=st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=5))
@settings(max_examples=200, derandomize=True, database=None)
def test_mangling_changes_what_it_says_and_nothing_else(c: Corruption, body: dict[str, Any]) -> None:
    import json

    raw = json.dumps(body).encode()
    m = mangle_http(200, "OK", [("Content-Type", "application/json")], raw, c)
    if c.kind in ("body_truncate", "body_insert", "body_replace", "retype"):
        assert m.then == "keep"
        head, _, new = m.data.partition(b"\r\n\r\n")
        assert f"Content-Length: {len(new)}".encode() in head  # framing kept: only the content is bad
        assert new == mangle_json(raw, c)
    else:
        assert m.then in ("close", "reset")
    line = mangle_line(b"12.5,230.1", c)
    if c.kind in ("truncate", "body_truncate", "reset"):  # a partial reply with no terminator, then EOF/RST
        assert line.then != "keep" and b"12.5,230.1".startswith(line.data) and len(line.data) < 10
    elif c.kind in ("body_insert", "flip", "body_replace", "retype"):
        assert line.then == "keep" and line.data.endswith(b"\n")
    if c.kind in ("reset", "empty"):
        assert mangle_datagram(b"\x30\x10abc", c) == b""


# ---------------------------------------------------------------------------------------- Redfish
@pytest.fixture(scope="module")
def redfish() -> Iterator[tuple[RedfishFleet, RackTwin, VirtualClock]]:
    clock = VirtualClock()
    twin = RackTwin(load_profile("mini"), clock, seed=3)
    twin.start_powered()
    with RedfishFleet(twin, username=USER, password=PASSWORD) as fleet:
        yield fleet, twin, clock


REDFISH_OPS = {
    "power_state": lambda c: c.power_state(),
    "power_watts": lambda c: c.power_watts(),
    "sensors": lambda c: c.sensors(),
    "identity": lambda c: c.identity(),
    "boot_progress": lambda c: c.boot_progress(),
}


@FUZZ
@given(c=corruptions, op=st.sampled_from(sorted(REDFISH_OPS)), logged_in=st.booleans())
def test_redfish_garbage_is_a_typed_error_naming_bmc_and_request(redfish: tuple[RedfishFleet, RackTwin, VirtualClock],
                                                                 c: Corruption, op: str, logged_in: bool) -> None:
    fleet, _, clock = redfish
    client = BmcClient("compute01", fleet.endpoints["compute01"], USER, PASSWORD, clock=clock, timeout_s=ANSWERED_S)
    try:
        if logged_in:
            client.login()
        fleet.inject("compute01", "wire", **asdict(c))
        try:
            result = REDFISH_OPS[op](client)
        except RedfishError as exc:
            _typed(exc, "compute01")
            assert re.match(r"^(GET|POST|PATCH|DELETE) /", exc.request), exc  # the URI it used (maybe garbled)
        else:  # a corruption that does not touch what this read needs: the value must still be sane
            if op == "power_watts":
                assert isinstance(result, float) and math.isfinite(result)
        finally:
            fleet.clear("compute01")
        assert client.power_state() == "On"  # the wire is clean again: the client recovers
    finally:
        client.close()


@FUZZ
@given(c=corruptions)
def test_a_garbled_reset_answer_is_never_resent(redfish: tuple[RedfishFleet, RackTwin, VirtualClock],
                                                c: Corruption, monkeypatch_module: pytest.MonkeyPatch) -> None:
    fleet, twin, clock = redfish
    calls: list[str] = []
    real = twin.host_reset
    monkeypatch_module.setattr(twin, "host_reset", lambda tray, kind: (calls.append(kind), real(tray, kind))[1])
    client = BmcClient("compute02", fleet.endpoints["compute02"], USER, PASSWORD, clock=clock, timeout_s=ANSWERED_S)
    try:
        assert client.power_state() in ("On", "Off")
        fleet.inject("compute02", "wire", **{**asdict(c), "match": "POST /redfish/v1/Systems"})
        try:
            client.reset("On")
        except (RedfishError, PowerActionUncertain) as exc:
            _typed(exc, "compute02")
            assert "POST /redfish/v1/Systems" in exc.request, exc
        finally:
            fleet.clear("compute02")
        assert len(calls) == 1, calls  # sent once (the BMC acted, then its answer was damaged), never re-sent
    finally:
        monkeypatch_module.setattr(twin, "host_reset", real)
        client.close()


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as mp:
        yield mp


# ---------------------------------------------------------------------------------------- SCPI
@pytest.fixture(scope="module")
def scpi() -> Iterator[dict[str, Any]]:
    clock = VirtualClock()
    twin = RackTwin(load_profile("mini"), clock, seed=4)
    twin.start_powered()
    with ScpiServer(twin, role="power_analyzer", model="yokogawa_wt5000") as pa_srv, \
            ScpiServer(twin, role="eload", model="chroma63600") as el_srv:
        pa_link = ScpiLink("analyzer", pa_srv.resource, timeout_ms=ANSWERED_MS)
        el_link = ScpiLink("eload", el_srv.resource, timeout_ms=ANSWERED_MS)
        pa_link.open()
        el_link.open()
        analyzer = PowerAnalyzer(pa_link, "yokogawa_wt5000")
        analyzer.configure()
        eload = ElectronicLoad(el_link, "chroma63600", max_current_a=400.0)
        yield {"analyzer": (pa_srv, analyzer), "eload": (el_srv, eload)}
        pa_link.close()
        el_link.close()


SCPI_OPS = {
    "analyzer.measure": ("analyzer", lambda d: d.measure()),
    "eload.measure": ("eload", lambda d: d.measure()),
    "eload.input_enabled": ("eload", lambda d: d.input_enabled),
    "eload.input_off": ("eload", lambda d: d.input_off()),
    "eload.protection_status": ("eload", lambda d: d.protection_status()),
}


@FUZZ
@given(c=corruptions, op=st.sampled_from(sorted(SCPI_OPS)))
def test_scpi_garbage_is_a_typed_error_naming_instrument_and_command(scpi: dict[str, Any], c: Corruption,
                                                                     op: str) -> None:
    device, call = SCPI_OPS[op]
    server, driver = scpi[device]
    server.inject("wire", **asdict(c))
    driver.link.timeout_ms = NEVER_MS  # a damaged reply may never be complete (empty, cut at 0): it must expire
    try:
        call(driver)
    except InstrumentError as exc:
        _typed(exc, device)
    finally:
        server.clear("wire")
        driver.link.timeout_ms = ANSWERED_MS
    # clean wire: the link is back in step (no stale half-reply, no leftover line answering the next query)
    if device == "analyzer":
        values = driver.measure()
        assert set(values) == {"V", "A", "W", "PF"} and 200 < values["V"] < 260, values
    else:
        volts, _, _ = driver.measure()
        assert 40 < volts < 60
        assert driver.input_enabled is False


# ---------------------------------------------------------------------------------------- SNMP
V3 = {"user": "ctl-user", "auth_key": "auth-key-123", "priv_key": "priv-key-123", "auth_protocol": "SHA256",
      "priv_protocol": "AES"}


class SnmpRig:
    """One v3 agent and three drivers for it, by what their timeouts are for: ``damaged`` (every reply
    damaged: authPriv drops it, so its short timeout must expire), ``clean`` (answered: generous), and
    ``switch`` (a SET whose answer is damaged must time out, its read-backs must be answered: one
    timeout for both, so the reads get retries to spare)."""

    def __init__(self, agent: PduAgent, twin: RackTwin, clock: VirtualClock) -> None:
        self.agent, self.twin = agent, twin
        creds = SnmpCredentials("3", **V3)

        def pdu(**kw: Any) -> Pdu:
            return Pdu("pdu1", "127.0.0.1", agent.port, vendor="apc_rpdu2", credentials=creds, clock=clock, **kw)

        self.damaged = pdu(timeout_s=NEVER_S, retries=0)
        self.clean = pdu(timeout_s=ANSWERED_S, retries=0)
        self.switch = pdu(timeout_s=1.0, retries=3)

    def close(self) -> None:
        for p in (self.damaged, self.clean, self.switch):
            p.close()


@pytest.fixture(scope="module")
def snmp() -> Iterator[SnmpRig]:
    clock = VirtualClock()
    twin = RackTwin(load_profile("mini"), clock, seed=5)
    twin.start_powered()
    users = [V3User(V3["user"], V3["auth_key"], V3["priv_key"], V3["auth_protocol"], V3["priv_protocol"], write=True)]
    with PduAgent(twin, "pdu1", v3_users=users) as agent:
        rig = SnmpRig(agent, twin, clock)
        yield rig
        rig.close()
    close_shared_loop()


SNMP_OPS = {
    "outlet_is_on": lambda p: p.outlet_is_on(1),
    "metering": lambda p: p.metering([1, 2]),
    "identity": lambda p: p.identity(),
}


@settings(FUZZ, max_examples=EXPLORE or 25)
@given(c=corruptions, op=st.sampled_from(sorted(SNMP_OPS)))
def test_snmp_damaged_datagrams_are_typed_errors(snmp: SnmpRig, c: Corruption, op: str) -> None:
    snmp.agent.set_wire(**asdict(c))
    try:
        SNMP_OPS[op](snmp.damaged)
    except SnmpError as exc:  # authPriv: a damaged datagram fails authentication and is never believed
        _typed(exc, "pdu1")
    finally:
        snmp.agent.set_wire()
    assert snmp.clean.outlet_is_on(1) is True


@settings(FUZZ, max_examples=EXPLORE or 12)
@given(c=corruptions)
def test_a_garbled_set_answer_is_read_back_not_resent(snmp: SnmpRig, c: Corruption) -> None:
    agent, pdu, twin = snmp.agent, snmp.switch, snmp.twin
    before = agent.requests["set"]
    agent.set_wire(**{**asdict(c), "count": 1})  # the SET's answer is damaged, the read-backs are not
    try:
        pdu.set_outlet(6, False, confirm_timeout_s=5, poll_s=0.5)
    finally:
        agent.set_wire()
    assert agent.requests["set"] - before == 1  # one SET on the wire, confirmed by reading back
    assert twin.outlet_is_on("pdu1", 6) is False
    pdu.set_outlet(6, True, confirm_timeout_s=30, poll_s=0.5)


# ---------------------------------------------------------------------------------------- end to end
def run_with_fault(tmp_path: Path, inject: str, plan: str = "tests/plans/mini_probe.yaml") -> RunResult:
    scenario = tmp_path / "wire.yaml"
    scenario.write_text(f"name: wire\ndescription: replies corrupted on the wire\nprofile: mini\ninject:\n  - {inject}\n",
                        encoding="utf-8")
    session = RunSession(load_plan(ROOT / plan, STEP_KINDS), RunOptions(
        sim=True, seed=7, rack_serial="SIM-0001", operator="ci", out_dir=tmp_path / "run",
        store_url=f"sqlite:///{tmp_path}/r.db", fault=str(scenario), yes=True))
    try:
        session.open()
        for i in range(len(session.step_names)):
            session.run_step(i)
    finally:
        result = session.finish()
    return result


@pytest.mark.parametrize(("inject", "step", "error", "device", "request_text"), [
    ("{target: redfish, device: compute01, action: wire, args: {kind: body_truncate, at: 0.6, match: /Sensors}}",
     "sensor_sanity", "RedfishError", "compute01", "GET /redfish/v1/Chassis/compute01/Sensors"),
    (("{target: scpi, device: analyzer, action: wire, args: {kind: body_replace, data: 'OVER,LOAD', match: "
      "'numeric:normal:value?'}}"),
     "ac_cycle", "InstrumentReplyError", "analyzer", ":NUMeric:NORMal:VALue?"),  # the AC cycle's inrush peak
    ("{target: scpi, device: analyzer, action: wire, args: {kind: reset, at: 0.4, match: 'numeric:normal:value?'}}",
     "ac_cycle", "InstrumentIOError", "analyzer", ":NUMeric:NORMal:VALue?"),
], ids=["redfish-malformed-json", "scpi-garbage", "scpi-reset-mid-reply"])
def test_a_corrupted_device_errors_its_step_and_the_safe_state_is_still_verified(
        tmp_path: Path, inject: str, step: str, error: str, device: str, request_text: str) -> None:
    result = run_with_fault(tmp_path, inject)
    by_name = {s.name: s for s in result.steps}
    bad = by_name[step]
    assert bad.verdict == "ERROR", (bad.verdict, bad.message)
    assert bad.message.startswith(f"{error}: {device}: ") and request_text in bad.message, bad.message
    assert "internal error" not in bad.message
    before = result.steps[:result.steps.index(bad)]
    assert all(s.verdict == "PASS" for s in before), [(s.name, s.verdict) for s in before]
    assert all(m.value is not None for s in before for m in s.measurements)  # earlier records kept
    assert result.verdict == "ERROR"
    assert result.safe_state is not None and result.safe_state.ok, result.safe_state
    assert {o.name for o in result.safe_state.outcomes} >= {"loads off", "outlets on", "hosts Off"}
    assert all(o.detail == "verified" for o in result.safe_state.outcomes), result.safe_state.outcomes
