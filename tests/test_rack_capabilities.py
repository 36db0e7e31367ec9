"""Steps reach the rack only through its capabilities (harness/rack/capabilities.py): the concrete
drivers and rack parts a station builds fit those interfaces, a part that lacks a capability's method
does not, and what a step does through a capability reaches the (simulated) hardware."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.clock import VirtualClock
from harness.config.profile import load_profile
from harness.rack import HostPower, Load, PowerMeter, PowerSwitch, Rack
from harness.sim.station import SimStation


@pytest.fixture(scope="module")
def rack_and_sim() -> Iterator[tuple[Rack, SimStation]]:
    sim = SimStation(load_profile("mini"), clock=VirtualClock(), seed=4)
    station = sim.start()
    rack = Rack(station, sim.profile, sim.credentials(), sim.clock)
    rack.connect()
    try:
        yield rack, sim
    finally:
        rack.close()
        sim.stop()


def test_the_station_parts_fit_the_capabilities(rack_and_sim: tuple[Rack, SimStation]) -> None:
    rack, _ = rack_and_sim
    assert isinstance(rack.feeds, PowerSwitch)
    assert isinstance(rack.hosts, HostPower)
    assert isinstance(rack.load, Load)
    assert isinstance(rack.meter, PowerMeter)


def test_a_part_without_the_methods_does_not_fit() -> None:
    class HalfALoad:
        name = "half"
        max_current_a = 10.0

        def set_current(self, amps: float) -> None: ...

    assert not isinstance(HalfALoad(), Load)
    assert not isinstance(object(), PowerSwitch)


def test_capabilities_act_on_the_hardware(rack_and_sim: tuple[Rack, SimStation]) -> None:
    rack, sim = rack_and_sim
    assert rack.load is not None and rack.meter is not None
    rack.load.set_current(40.0)
    rack.load.input_on()
    try:
        volts, amps, watts = rack.load.measure()
        assert amps == pytest.approx(40.0, rel=0.02) and watts == pytest.approx(volts * amps, rel=0.02)
        assert sim.twin.eload_on
    finally:
        rack.load.input_off()
    assert not sim.twin.eload_on
    outlet = rack.feeds.outlet_for("shelf1.psu2")
    rack.feeds.set_outlet(outlet.pdu, outlet.number, False)
    assert rack.feeds.states()[outlet] is False and not sim.twin.outlet_is_on(outlet.pdu, outlet.number)
    rack.feeds.set_outlet(outlet.pdu, outlet.number, True)
    assert rack.feeds.states()[outlet] is True
    assert rack.hosts.power_states() == {t: "On" for t in rack.trays}
    assert rack.meter.measure()["W"] > 0
