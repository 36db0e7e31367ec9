"""ThermocoupleDaq (Keysight DAQ970A): against the TCP simulator (channels wired to the twin's
thermocouple points), against its pyvisa-sim definition, and the simulator's SCPI details."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import pyvisa
from timeouts import ANSWERED_MS

from harness.clock import VirtualClock
from harness.config.profile import load_profile
from harness.drivers.visa.daq import OpenThermocouple, ThermocoupleDaq, channel_list
from harness.drivers.visa.link import ScpiError, ScpiLink
from harness.paths import fixtures_dir
from harness.sim.physics import RackTwin
from harness.sim.visa.server import ScpiServer

WIRED = {101: "coolant_supply", 102: "coolant_return", 103: "air_inlet", 104: "air_exhaust"}


@pytest.fixture
def twin(clock: VirtualClock) -> RackTwin:
    """The nvl72 rack (its thermocouple points), powered: overrides conftest's mini."""
    t = RackTwin(load_profile("nvl72"), clock)
    t.start_powered()
    return t


@pytest.fixture
def server(twin: RackTwin) -> Iterator[ScpiServer]:
    with ScpiServer(twin, role="daq", model="keysight_daq970a", channels=WIRED) as s:
        yield s


@pytest.fixture
def daq(server: ScpiServer) -> Iterator[ThermocoupleDaq]:
    link = ScpiLink("daq", server.resource, timeout_ms=ANSWERED_MS)
    yield ThermocoupleDaq(link, channels=WIRED)
    link.close()


def test_scan_reads_the_twin_thermocouple_points(daq: ThermocoupleDaq, twin: RackTwin, server: ScpiServer) -> None:
    reading = daq.read()
    assert reading == pytest.approx(twin.thermocouple_points(), abs=1e-6)
    assert [m for m in server.log if not m.endswith("?")][:4] == ["CONF:TEMP TC,K,(@101:104)", "UNIT:TEMP C,(@101:104)",
                                    "SENS:TEMP:TRAN:TC:RJUN:TYPE INT,(@101:104)", "ROUT:SCAN (@101:104)"]
    assert reading["coolant_return"] > reading["coolant_supply"] > reading["air_inlet"]
    twin.set_utilization(twin.profile.tray_names("compute")[0], 1.0)
    twin.clock.sleep(600)
    assert daq.read()["coolant_return"] > reading["coolant_return"]  # more heat, warmer return


def test_one_channel_measure_redefines_the_scan_list(daq: ThermocoupleDaq, twin: RackTwin, server: ScpiServer) -> None:
    daq.read()
    assert daq.measure_channel(103) == pytest.approx(twin.thermocouple_points()["air_inlet"], abs=1e-6)
    assert daq.link.query("ROUT:SCAN?") == "#16(@103)"  # as a real DAQ970A after MEAS?
    server.log.clear()
    assert set(daq.read()) == set(WIRED.values())  # the driver configures the scan again
    assert next(m for m in server.log if not m.endswith("?")).startswith("CONF:TEMP")
    with pytest.raises(ValueError, match="channel 105 is not wired"):
        daq.measure_channel(105)


def test_open_thermocouple_names_the_instrument_and_channel(daq: ThermocoupleDaq, server: ScpiServer) -> None:
    server.inject("overrange", channels=[102])
    with pytest.raises(OpenThermocouple) as info:
        daq.read()
    assert info.value.channel == 102 and info.value.point == "coolant_return"
    assert str(info.value).startswith("daq: READ?: channel 102 (coolant_return): open thermocouple")
    assert daq.measure_channel(101) > 0  # the others still read
    server.clear()
    assert len(daq.read()) == 4


def test_a_channel_wired_to_nothing_reads_open(twin: RackTwin) -> None:
    with ScpiServer(twin, role="daq", model="keysight_daq970a", channels={101: "air_inlet"}) as server:
        daq = ThermocoupleDaq(ScpiLink("daq", server.resource, timeout_ms=ANSWERED_MS), channels={101: "air_inlet", 110: "spare"})
        with pytest.raises(OpenThermocouple, match="channel 110 \\(spare\\)"):
            daq.read()
        daq.link.close()


def test_channels_come_from_the_profile_when_not_given(twin: RackTwin) -> None:
    with ScpiServer(twin, role="daq", model="keysight_daq970a") as server:  # nvl72 wires 101-104
        daq = ThermocoupleDaq(ScpiLink("daq", server.resource, timeout_ms=ANSWERED_MS), channels=WIRED)
        assert daq.read() == pytest.approx(twin.thermocouple_points(), abs=1e-6)
        daq.link.close()


def test_simulator_scpi_details(server: ScpiServer) -> None:
    link = ScpiLink("daq", server.resource, timeout_ms=ANSWERED_MS)
    link.write("conf:temp tc,k,(@101,103)")
    assert link.query("ROUTE:SCAN:SIZE?") == "2"
    link.write("UNIT:TEMP F,(@101)")
    f, c = link.query_floats("READ?")
    assert 80 < f < 95 and 20 < c < 25  # 30 C coolant in F; 22 C air
    link.write("INIT")
    assert link.query("FETC?").count(",") == 1
    with pytest.raises(ScpiError, match="-221"):
        link.write("ROUT:SCAN (@101:105)")  # 102, 104, 105 are not configured
    with pytest.raises(ScpiError, match="-224"):
        link.write("CONF:TEMP TC,J,(@101)")  # only type K is simulated, and says so
    with pytest.raises(ScpiError, match="-224"):
        link.write("CONF:TEMP TC,K,(@104:101)")
    with pytest.raises(ScpiError, match="-224"):
        link.write("CONF:TEMP TC,K,(@121)")  # a DAQM901A has 20 channels
    assert link.query("SYST:CTYP? 100").split(",")[1] == "DAQM901A"
    link.close()


def test_bad_wiring_is_refused(twin: RackTwin) -> None:
    with pytest.raises(ValueError, match="unknown thermocouple point 'gpu0'"):
        ScpiServer(twin, role="daq", model="keysight_daq970a", channels={101: "gpu0"})
    with pytest.raises(ValueError, match="does not exist"):
        ScpiServer(twin, role="daq", model="keysight_daq970a", channels={199: "air_inlet"})
    link = ScpiLink("daq", "TCPIP::127.0.0.1::1::SOCKET")
    with pytest.raises(ValueError):
        ThermocoupleDaq(link, channels={})
    with pytest.raises(ValueError, match="two channels"):
        ThermocoupleDaq(link, channels={101: "a", 102: "a"})
    with pytest.raises(ValueError, match="slot\\*100"):
        ThermocoupleDaq(link, channels={1: "a"})


def test_channel_list_format() -> None:
    assert channel_list([101, 102, 103, 105, 201, 202]) == "(@101:103,105,201:202)"
    assert channel_list([104]) == "(@104)"


# ------------------------------------------------------------------------------ against pyvisa-sim
def _sim(resource: str) -> ThermocoupleDaq:
    rm = pyvisa.ResourceManager(f"{fixtures_dir() / 'pyvisa_sim' / 'daq970a.yaml'}@sim")
    return ThermocoupleDaq(ScpiLink("daq970a", resource, timeout_ms=ANSWERED_MS, rm=rm), channels=WIRED)


@pytest.mark.parametrize("resource", ["TCPIP0::10.0.0.41::5025::SOCKET", "TCPIP0::10.0.0.41::inst0::INSTR"])
def test_daq_driver_against_pyvisa_sim(resource: str) -> None:
    daq = _sim(resource)
    assert daq.identify().startswith("Keysight Technologies,DAQ970A")
    assert daq.read() == {"coolant_supply": 30.12, "coolant_return": 39.87, "air_inlet": 22.05, "air_exhaust": 34.1}
    assert daq.measure_channel(101) == 30.13


def test_open_thermocouple_against_pyvisa_sim() -> None:
    with pytest.raises(OpenThermocouple, match="channel 102"):
        _sim("TCPIP0::10.0.0.42::5025::SOCKET").read()
