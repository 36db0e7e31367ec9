"""The background sampler: every source on its own schedule, series kept, nothing missed when idle."""

from __future__ import annotations

from harness.config.plan import Telemetry
from harness.config.station import Station, Timeouts
from harness.rack import Rack
from harness.sim.station import SimStation
from harness.telemetry import TelemetrySampler


def generous(station: Station) -> Station:
    """The station with timeouts no answer comes near: every source answers here, and a busy machine must
    only make the run slower (a request in flight freezes simulated time), never miss a sample."""
    return station.model_copy(update={"timeouts": Timeouts(redfish_s=60.0, snmp_s=10.0, snmp_retries=1,
                                                           visa_ms=60_000)})


class Collect:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str | None, float, float]] = []

    def telemetry(self, metric: str, unit: str, component: str | None, t: float, value: float) -> None:
        self.rows.append((metric, component, t, value))


def test_sampler_keeps_every_source_on_schedule(sim_station: SimStation) -> None:
    station = sim_station.station
    assert station is not None
    rack = Rack(generous(station), sim_station.profile, sim_station.credentials(), sim_station.clock)
    rack.connect()
    sink = Collect()
    sampler = TelemetrySampler(rack, sim_station.clock, sink, Telemetry(analyzer_s=1, pdus_s=5, bmc_power_s=5,
                                                                        bmc_sensors_s=10, cooling_s=10))
    try:
        sampler.start()
        sim_station.twin.set_eload(current_a=200, input_on=True)
        sim_station.clock.sleep(60)
        sampler.stop()
    finally:
        rack.close()
    stats = sampler.stats()
    assert stats["analyzer"][:2] == (61, 61)  # t = 0, 1, ..., 60: every sample due was taken
    assert stats["bmcs"][:2] == (13, 13)  # power every 5 s, sensors every other sample
    times, watts = sampler.series("rack_ac_power_w")
    assert times == [float(i) for i in range(61)]
    assert watts[-1] > watts[0] + 8000  # the 10 kW load shows up
    assert {c for m, c, *_ in sink.rows if m == "tray_power_w"} == {"compute01", "compute02", "switch01"}
    live = sampler.latest()
    assert live["rack_kw"] > 10 and str(live["hottest_at"]).startswith(("compute", "switch"))


def test_memory_keeps_a_window_while_every_sample_still_goes_to_the_sink(sim_station: SimStation) -> None:
    station = sim_station.station
    assert station is not None
    rack = Rack(generous(station), sim_station.profile, sim_station.credentials(), sim_station.clock)
    rack.connect()
    sink = Collect()
    sampler = TelemetrySampler(rack, sim_station.clock, sink, Telemetry(analyzer_s=1, pdus_s=30, bmc_power_s=30,
                                                                        bmc_sensors_s=30, cooling_s=30), retain_s=10)
    try:
        sampler.start()
        sim_station.clock.sleep(60)
        sampler.stop()
    finally:
        rack.close()
    assert sampler.stats()["analyzer"][:2] == (61, 61)
    times, _ = sampler.series("rack_ac_power_w")
    assert times[-1] == 60.0 and 10 <= times[-1] - times[0] <= 15, "the last retain_s seconds, trimmed in chunks"
    assert len([r for r in sink.rows if r[0] == "rack_ac_power_w"]) == 61, "the sink still gets every sample"
