"""Garbage, empty, NaN-ish, sentinel and wrong-type replies become SnmpError for every vendor map
(never a traceback, never a number made up); broken YAML maps are refused when loaded."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pyasn1.type import univ
from pysnmp.proto import rfc1902, rfc1905
from timeouts import ANSWERED_S

from harness.clock import VirtualClock
from harness.config.profile import load_profile
from harness.drivers.snmp.engine import close_shared_loop
from harness.drivers.snmp.pdu import Pdu, SnmpCredentials
from harness.drivers.snmp.vendor_map import MAPS_DIR, load_vendor_map, load_vendor_map_file
from harness.errors import ConfigError, SnmpError, SnmpTimeout
from harness.sim.physics import RackTwin
from harness.sim.snmp.agent import PduAgent

VENDORS = ["apc_rpdu2", "raritan_pdu2", "sentry4", "eaton_epdu"]
RW = SnmpCredentials("2c", community="private")

replies = st.one_of(
    st.integers(-5, 70000).map(rfc1902.Integer32),
    st.integers(-(2**31), 2**31 - 1).map(rfc1902.Integer32),
    st.integers(0, 2**32 - 1).map(rfc1902.Gauge32),
    st.integers(0, 2**64 - 1).map(rfc1902.Counter64),
    st.binary(max_size=30).map(rfc1902.OctetString),
    st.sampled_from([b"", b"NaN", b"nan", b"inf", b"-1", b"\xff\xfe"]).map(rfc1902.OctetString),
    st.lists(st.integers(0, 2**31 - 1), max_size=6).map(lambda xs: rfc1902.ObjectIdentifier((1, 3, *xs))),
    st.sampled_from([rfc1902.IpAddress("10.0.0.1"), univ.Null(""), rfc1905.noSuchObject, rfc1905.noSuchInstance,
                     rfc1905.endOfMibView, rfc1902.Integer32(-1), rfc1902.TimeTicks(5)]),
)


@pytest.fixture(scope="module", autouse=True)
def _close_loop() -> Iterator[None]:
    yield
    close_shared_loop()


@pytest.fixture(scope="module")
def rigs() -> Iterator[dict[str, tuple[PduAgent, Pdu]]]:
    out = {}
    for vendor in VENDORS:
        prof = load_profile("mini")
        prof = prof.model_copy(update={"pdus": [prof.pdus[0].model_copy(update={"vendor": vendor})]})
        clock = VirtualClock()
        twin = RackTwin(prof, clock)
        twin.start_powered()
        agent = PduAgent(twin, "pdu1")
        agent.start()
        # garbage is still an answer: it must come before the timeout
        out[vendor] = (agent, Pdu("pdu1", "127.0.0.1", agent.port, vendor=vendor, credentials=RW, clock=clock,
                                  timeout_s=ANSWERED_S, retries=0))
    yield out
    for agent, pdu in out.values():
        pdu.close()
        agent.stop()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(vendor=st.sampled_from(VENDORS), what=st.sampled_from(["state", "power_w", "current_a", "digits", "model"]),
       value=replies)
# a Raritan current is scaled by the decimal digits the PDU reports: a raw range cannot bound it
@example(vendor="raritan_pdu2", what="current_a", value=rfc1902.Integer32(1_000_000_000))
def test_any_reply_is_a_value_or_an_snmp_error(rigs: dict[str, tuple[PduAgent, Pdu]], vendor: str, what: str,
                                                value: Any) -> None:
    agent, pdu = rigs[vendor]
    vm = agent.vmap
    spec = {"state": vm.outlet.state, "power_w": vm.outlet.power_w, "current_a": vm.outlet.current_a,
            "model": vm.identity.model, "digits": vm.outlet.current_a}[what]
    oid = spec.digits.oid_for(outlet=1) if what == "digits" and spec.digits else spec.oid_for(outlet=1)
    agent.set_override(oid, value)
    pdu._link.digits.clear()  # make the driver read the digits again
    try:
        if what == "state":
            result: Any = pdu.outlet_is_on(1)
            assert isinstance(result, bool) and int(value) in vm.outlet.state.values
        elif what == "model":
            assert isinstance(pdu.identity()["model"], str)
        else:
            result = pdu.metering([1]).outlets[1]
            amps = result.current_a
            assert isinstance(amps, float) and not math.isnan(amps) and 0 <= amps < 1e6  # never NaN, never negative
    except SnmpError as exc:
        assert not isinstance(exc, SnmpTimeout), exc  # an answer, however bad, is not silence
        assert exc.device == "pdu1" and exc.request  # typed, names the PDU and the request
    finally:
        agent.set_override(oid, None)


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "broken.yaml"
    p.write_text(text, encoding="utf-8")
    return p


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize(("old", "new"), [
    ('oid: "1.3.6.1.4.1', 'oid: "1.3.6.x.4.1'),          # not a numeric OID
    ("instance: \"{", "instance: \"{nonsense}.{"),        # unknown template variable
    ("type: OctetString", "type: Integer32"),            # identity must be a string
    ("max_varbinds: 24", "max_varbinds: 0"),             # out of range
    ("sys_object_id_prefix:", "sys_object_id_prefx:"),   # typo'd key
])
def test_broken_maps_are_refused_with_file_and_line(tmp_path: Path, vendor: str, old: str, new: str) -> None:
    text = (MAPS_DIR / f"{vendor}.yaml").read_text(encoding="utf-8")
    assert old in text
    path = _write(tmp_path, text.replace(old, new, 1))
    with pytest.raises(ConfigError) as err:
        load_vendor_map_file(path)
    assert str(path) in str(err.value)


@settings(max_examples=40, deadline=None)
@given(garbage=st.text(max_size=200))
def test_garbage_yaml_is_a_config_error(tmp_path_factory: pytest.TempPathFactory, garbage: str) -> None:
    path = tmp_path_factory.mktemp("maps") / "g.yaml"
    path.write_text(garbage, encoding="utf-8")
    with pytest.raises(ConfigError):
        load_vendor_map_file(path)


def test_map_semantics_are_checked(tmp_path: Path) -> None:
    data = load_vendor_map("eaton_epdu").model_dump()
    data["outlet"]["control"]["commands"].pop("on")  # no way to switch on
    with pytest.raises(ValueError):
        type(load_vendor_map("eaton_epdu")).model_validate(data)
    data = load_vendor_map("apc_rpdu2").model_dump()
    data["outlet"]["control"]["idempotent"] = ["on", "reboot"]
    with pytest.raises(ValueError):
        type(load_vendor_map("apc_rpdu2")).model_validate(data)
    data = load_vendor_map("raritan_pdu2").model_dump()
    data["breaker"]["state"]["values"] = {1: "ok"}  # can never say tripped
    with pytest.raises(ValueError):
        type(load_vendor_map("raritan_pdu2")).model_validate(data)
    data = load_vendor_map("sentry4").model_dump()
    data["index"] = {"outlet": 1}
    with pytest.raises(ValueError):
        type(load_vendor_map("sentry4")).model_validate(data)
