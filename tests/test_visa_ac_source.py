"""AcSource (Chroma 61800 and Keysight AC6800 dialects): against the TCP simulator, whose load is
a bench copy of one of the twin's PSUs, and against the pyvisa-sim definitions."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
import pyvisa
from timeouts import ANSWERED_MS

from harness.clock import VirtualClock
from harness.config.profile import load_profile
from harness.drivers.visa.ac_source import AcSource
from harness.drivers.visa.link import ScpiError, ScpiLink
from harness.drivers.visa.properties import format_number
from harness.paths import fixtures_dir
from harness.sim.physics import RackTwin
from harness.sim.visa.personalities.ac_source import PSU_DROPOUT_V
from harness.sim.visa.server import ScpiServer

MODELS = ["chroma61800", "keysight_ac6800"]


@pytest.fixture(params=MODELS)
def source(request: pytest.FixtureRequest, twin: RackTwin) -> Iterator[tuple[AcSource, ScpiServer]]:
    with ScpiServer(twin, role="ac_source", model=request.param) as server:
        link = ScpiLink("ac", server.resource, timeout_ms=ANSWERED_MS)
        yield AcSource(link, request.param), server
        link.close()


def test_output_supplies_the_twin_psu_coherently(source: tuple[AcSource, ScpiServer], twin: RackTwin) -> None:
    ac, _ = source
    assert ac.measure() == {"V": 0.0, "A": 0.0, "W": 0.0, "PF": 0.0, "Hz": 0.0}  # output off after power-on
    ac.set_voltage(230.0)
    ac.set_frequency(50.0)
    ac.output_on()
    assert ac.output_enabled is True and ac.voltage_setpoint == 230.0 and ac.frequency_setpoint == 50.0
    r = ac.measure()
    psu_w = twin.psu_reading("shelf1.psu1")["input_w"]
    assert r["V"] == 230.0 and r["Hz"] == 50.0
    assert r["W"] == pytest.approx(psu_w, rel=1e-3)
    assert r["PF"] == pytest.approx(twin.physics.pdu(twin.profile.pdus[0]).power_factor, abs=1e-4)
    assert r["W"] == pytest.approx(r["V"] * r["A"] * r["PF"], rel=1e-3)
    ac.set_voltage(200.0)  # a constant-power load: lower voltage, more current
    low = ac.measure()
    assert low["W"] == pytest.approx(r["W"], rel=0.01) and low["A"] == pytest.approx(r["A"] * 230 / 200, rel=0.01)
    ac.set_voltage(PSU_DROPOUT_V - 1)
    assert ac.measure()["W"] == 0.0  # the PSU drops out
    ac.output_off()
    assert ac.output_enabled is False and ac.measure()["W"] == 0.0


def test_readings_are_deterministic() -> None:
    def run(model: str) -> list[dict[str, float]]:
        t = RackTwin(load_profile("mini"), VirtualClock(), seed=3)
        t.start_powered()
        with ScpiServer(t, role="ac_source", model=model) as server:
            ac = AcSource(ScpiLink("ac", server.resource, timeout_ms=ANSWERED_MS), model)
            ac.set_voltage(230)
            ac.output_on()
            out = []
            for _ in range(3):
                t.clock.sleep(7.5)
                out.append(ac.measure())
            ac.link.close()
            return out

    assert run("chroma61800") == run("chroma61800")


def test_setpoints_are_checked_before_sending(source: tuple[AcSource, ScpiServer]) -> None:
    ac, server = source
    ac.identify()
    server.log.clear()
    for volts in (264.5, -1, math.nan, "230"):
        with pytest.raises(ValueError):
            ac.set_voltage(volts)  # type: ignore[arg-type]
    for hz in (44.9, 65.1, math.inf):
        with pytest.raises(ValueError):
            ac.set_frequency(hz)
    assert list(server.log) == []
    wide = AcSource(ac.link, ac.dialect.name, max_voltage_v=400, frequency_hz=(10, 2000))
    with pytest.raises(ScpiError, match="-222"):
        wide.set_voltage(350)  # the simulated source's own limit answers
    with pytest.raises(ValueError):
        AcSource(ac.link, ac.dialect.name, frequency_hz=(60, 50))


def test_protection_trip_forces_the_output_off_until_cleared(source: tuple[AcSource, ScpiServer]) -> None:
    ac, server = source
    ac.set_voltage(230)
    ac.output_on()
    server.inject("protection_trip", kind="OCP")
    assert ac.output_enabled is False and ac.measure()["W"] == 0.0
    assert ac.protection_tripped() == {"OCP"}
    assert ac.link.errors() == ['301,"Protection tripped; OCP, output off"']
    with pytest.raises(ScpiError, match="-221"):
        ac.output_on()
    assert ac.clear_protection() == frozenset()
    ac.output_on()
    assert ac.measure()["W"] > 0
    with pytest.raises(ValueError, match="no XYZ protection"):
        server.inject("protection_trip", kind="XYZ")


def test_short_and_long_forms(twin: RackTwin) -> None:
    with ScpiServer(twin, role="ac_source", model="chroma61800") as server:
        link = ScpiLink("ac", server.resource, timeout_ms=ANSWERED_MS)
        link.write("SOURce:VOLTage:LEVel:IMMediate:AMPLitude:AC 120;:source:frequency 60;:OUTP:STAT ON")
        assert link.query("volt:ac?;FREQ?;OUTPUT?") == "120.00;60.00;ON"
        assert link.query_float("FETCh:SCALar:POWer:AC:REAL?") > 0
        link.close()


@pytest.mark.parametrize("yaml_name, resource, dialect", [
    ("chroma61800.yaml", "TCPIP0::10.0.0.51::5025::SOCKET", "chroma61800"),
    ("chroma61800.yaml", "TCPIP0::10.0.0.51::inst0::INSTR", "chroma61800"),
    ("keysight_ac6800.yaml", "TCPIP0::10.0.0.52::5025::SOCKET", "keysight_ac6800"),
])
def test_ac_source_driver_against_pyvisa_sim(yaml_name: str, resource: str, dialect: str) -> None:
    rm = pyvisa.ResourceManager(f"{fixtures_dir() / 'pyvisa_sim' / yaml_name}@sim")
    ac = AcSource(ScpiLink(yaml_name, resource, timeout_ms=ANSWERED_MS, rm=rm), dialect)
    assert ac.identify()
    ac.set_voltage(230)
    ac.set_frequency(50)
    assert ac.voltage_setpoint == 230.0 and ac.frequency_setpoint == 50.0
    ac.output_on()
    assert ac.output_enabled is True
    ac.output_off()
    assert ac.output_enabled is False
    r = ac.measure()
    assert r == {"V": 230.01, "A": 2.37, "W": 534.2, "PF": 0.98, "Hz": 50.0}
    assert ac.protection_tripped() == frozenset() and ac.clear_protection() == frozenset()
    assert format_number(230) == "230.0"  # the exact string the YAML's setter pattern receives
