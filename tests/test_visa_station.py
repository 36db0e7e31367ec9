"""The nvl72 simulated station serves all four instrument kinds, started by SimStation's unchanged
ScpiServer call (the DAQ's channels come from the profile), and every one answers *IDN? over pyvisa."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from timeouts import ANSWERED_MS

from harness.clock import VirtualClock
from harness.config.profile import load_profile
from harness.config.station import Station
from harness.drivers.visa.ac_source import AcSource
from harness.drivers.visa.daq import ThermocoupleDaq
from harness.drivers.visa.link import ScpiLink
from harness.rack import Rack
from harness.sim.station import SimStation


@pytest.fixture(scope="module")
def sim() -> Iterator[SimStation]:
    station = SimStation(load_profile("nvl72"), clock=VirtualClock())
    station.start()
    yield station
    station.stop()


def test_every_instrument_kind_answers_idn(sim: SimStation) -> None:
    assert sim.station is not None
    idns = {}
    for inst in sim.station.instruments:
        with ScpiLink(inst.name, inst.resource, timeout_ms=ANSWERED_MS) as link:
            idns[inst.role] = link.idn
    assert set(idns) == {"eload", "power_analyzer", "daq", "ac_source"}
    assert idns["daq"].startswith("Keysight Technologies,DAQ970A,")  # type: ignore[union-attr]
    assert idns["ac_source"].startswith("CHROMA,61845,")  # type: ignore[union-attr]


def test_daq_and_ac_source_of_the_station_read_the_twin(sim: SimStation) -> None:
    station: Station = sim.station  # type: ignore[assignment]
    ep = {i.role: i for i in station.instruments}
    profile = sim.profile
    with ScpiLink("daq", ep["daq"].resource, timeout_ms=ANSWERED_MS) as link:
        temps = ThermocoupleDaq(link, ep["daq"].model, channels=profile.instruments["daq"].channels).read()
    assert temps == pytest.approx(sim.twin.thermocouple_points(), abs=1e-6)
    with ScpiLink("ac", ep["ac_source"].resource, timeout_ms=ANSWERED_MS) as link:
        source = AcSource(link, ep["ac_source"].model)
        source.set_voltage(230)
        source.output_on()
        assert source.measure()["W"] == pytest.approx(sim.twin.psu_reading("shelf1.psu1")["input_w"], rel=1e-3)
        source.output_off()


def test_rack_still_connects(sim: SimStation) -> None:
    assert sim.station is not None
    rack = Rack(sim.station, sim.profile, sim.credentials(), sim.clock)
    try:
        rack.connect()
        assert rack.load is not None and rack.meter is not None
        assert {link.name for link in rack.instruments.links} == {i.name for i in sim.station.instruments}
        assert rack.meter.measure()["V"] > 200
    finally:
        rack.close()
