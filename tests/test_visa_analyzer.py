"""PowerAnalyzer energy integration and inrush capture, and the EL30000 / Chroma 66205 personalities,
over real TCP against the simulator (values from the twin, simulated time on a VirtualClock)."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
from timeouts import ANSWERED_MS

from harness.clock import VirtualClock
from harness.config.profile import load_profile
from harness.drivers.visa.eload import ElectronicLoad
from harness.drivers.visa.link import InstrumentReplyError, ScpiError, ScpiLink
from harness.drivers.visa.power_analyzer import PowerAnalyzer
from harness.sim.physics import RackTwin
from harness.sim.visa.personalities.inlet_monitor import INRUSH_A_PER_KW, UPDATE_S
from harness.sim.visa.server import ScpiServer

MODELS = ["yokogawa_wt5000", "chroma66205"]


@pytest.fixture(params=MODELS)
def analyzer(request: pytest.FixtureRequest, twin: RackTwin) -> Iterator[PowerAnalyzer]:
    with ScpiServer(twin, role="power_analyzer", model=request.param, measures="pdu1") as server:
        link = ScpiLink("analyzer", server.resource, timeout_ms=ANSWERED_MS)
        yield PowerAnalyzer(link, request.param)
        link.close()


def _inlet_wh(twin: RackTwin) -> float:
    outlets = sum(twin.outlet_energy_kwh("pdu1", n) for n in range(1, twin.pdu_specs["pdu1"].outlets + 1))
    return outlets * 1000 + twin.PDU_OVERHEAD_W * twin.clock.now() / 3600


def test_energy_is_what_the_twin_delivered_in_the_interval(analyzer: PowerAnalyzer, twin: RackTwin) -> None:
    twin.clock.sleep(100)
    analyzer.start_energy()
    start_wh = _inlet_wh(twin)
    watts = analyzer.measure()["W"]
    twin.clock.sleep(1800)
    half = analyzer.energy_wh()
    assert half == pytest.approx(watts * 0.5, rel=0.01)  # half an hour at a steady load
    twin.set_utilization(twin.profile.tray_names("compute")[0], 1.0)  # more load: the energy rate follows
    twin.clock.sleep(1800)
    total = analyzer.energy_wh()
    assert total == pytest.approx(_inlet_wh(twin) - start_wh, rel=1e-4)
    assert total - half > half * 1.05
    analyzer.stop_energy()
    twin.clock.sleep(600)
    assert analyzer.energy_wh() == pytest.approx(total, rel=1e-6)  # stopped: the value is kept
    analyzer.start_energy()  # a new integration starts from zero
    assert analyzer.energy_wh() == pytest.approx(0.0, abs=1e-6)


def test_inrush_capture_holds_the_peak_of_a_psu_switching_on(analyzer: PowerAnalyzer, twin: RackTwin) -> None:
    twin.set_outlet("pdu1", 2, False)
    twin.clock.sleep(5)
    analyzer.arm_inrush()  # armed after the outlet went off: only the switch-on counts
    steady = math.sqrt(2) * analyzer.measure()["A"]
    assert analyzer.inrush_peak_a() == pytest.approx(steady, rel=0.01)
    twin.set_outlet("pdu1", 2, True)
    twin.clock.sleep(2)
    inrush = INRUSH_A_PER_KW * 5.5  # mini's PSUs are rated 5.5 kW
    peak = analyzer.inrush_peak_a()
    assert peak == pytest.approx(math.sqrt(2) * analyzer.measure()["A"] + inrush, rel=0.02)
    twin.clock.sleep(60)
    assert analyzer.inrush_peak_a() == pytest.approx(peak, rel=1e-6)  # held until re-armed
    analyzer.arm_inrush()
    assert analyzer.inrush_peak_a() == pytest.approx(math.sqrt(2) * analyzer.measure()["A"], rel=0.01)


def test_inrush_is_deterministic(twin: RackTwin) -> None:
    def run() -> list[float]:
        t = RackTwin(load_profile("mini"), VirtualClock())
        t.start_powered()
        with ScpiServer(t, role="power_analyzer", model="chroma66205", measures="pdu1") as server:
            analyzer = PowerAnalyzer(ScpiLink("a", server.resource, timeout_ms=ANSWERED_MS), "chroma66205")
            analyzer.arm_inrush()
            out = []
            for n in (1, 2, 3):
                t.set_outlet("pdu1", n, False)
                t.clock.sleep(1)
                t.set_outlet("pdu1", n, True)
                t.clock.sleep(1)
                out.append(analyzer.inrush_peak_a())
            analyzer.link.close()
            return out

    assert run() == run()


def test_wt5000_unheld_peak_is_the_last_update_interval_only(twin: RackTwin) -> None:
    with ScpiServer(twin, role="power_analyzer", model="yokogawa_wt5000", measures="pdu1") as server:
        link = ScpiLink("wt", server.resource, timeout_ms=ANSWERED_MS)
        link.write(":NUM:NORM:ITEM1 IRMS,1;ITEM2 IPP,1;:NUM:NORM:NUMB 2")
        twin.set_outlet("pdu1", 3, False)
        twin.set_outlet("pdu1", 3, True)
        twin.clock.sleep(twin.physics.timing.outlet_on_delay_s + UPDATE_S / 2)
        irms, ipk = link.query_floats(":NUM:NORM:VAL?")
        assert ipk == pytest.approx(math.sqrt(2) * irms + INRUSH_A_PER_KW * 5.5, rel=0.02)
        twin.clock.sleep(UPDATE_S)
        irms, ipk = link.query_floats(":NUM:NORM:VAL?")
        assert ipk == pytest.approx(math.sqrt(2) * irms, rel=1e-6)
        assert link.query(":INTEG:STAT?") == "RESET"
        link.write(":INTEG:STAR")
        with pytest.raises(ScpiError, match="-221"):
            link.write(":INTEG:RES")  # a running integration is not reset
        assert link.query(":INTEGRATE:STATE?") == "START"
        link.close()


def test_chroma66205_inrush_not_armed_is_no_data(twin: RackTwin) -> None:
    with ScpiServer(twin, role="power_analyzer", model="chroma66205", measures="pdu1") as server:
        analyzer = PowerAnalyzer(ScpiLink("pm", server.resource, timeout_ms=ANSWERED_MS), "chroma66205")
        with pytest.raises(InstrumentReplyError, match="no valid reading"):
            analyzer.inrush_peak_a()
        assert analyzer.link.query("MEAS? V,I,W") .count(",") == 2
        with pytest.raises(ScpiError, match="-224"):
            analyzer.link.write("TRIG:MODE SOMETIMES")
        analyzer.link.close()


def test_analyzer_stops_listening_when_stopped(twin: RackTwin) -> None:
    server = ScpiServer(twin, role="power_analyzer", model="yokogawa_wt5000", measures="pdu1")
    before = len(twin.listeners)
    server.start()
    assert len(twin.listeners) == before + 1
    server.stop()
    assert len(twin.listeners) == before


@pytest.mark.parametrize("model", ["chroma63600", "keysight_el30000"])
def test_both_load_models_drive_the_twin(twin: RackTwin, model: str) -> None:
    with ScpiServer(twin, role="eload", model=model) as server:
        load = ElectronicLoad(ScpiLink("eload", server.resource, timeout_ms=ANSWERED_MS), model, max_current_a=400)
        load.mode = "CC"
        load.set_current(40)  # a model the profile does not list gets the simulator's 60 A default
        load.input_on()
        assert twin.eload_on and twin.eload_current_a == 40.0
        v, a, w = load.measure()
        assert a == pytest.approx(40, rel=0.005) and w == pytest.approx(v * a, rel=0.005)
        load.mode = "CP"
        load.set_power(1500)
        assert load.measure()[2] == pytest.approx(1500, rel=0.02)
        assert load.protection_tripped() == frozenset()
        load.input_off()
        assert not twin.eload_on and load.measure()[1] == 0.0
        load.link.close()
