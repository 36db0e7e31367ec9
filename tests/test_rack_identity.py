"""Identities read when a run opens: a device that does not answer is recorded, not fatal."""

from __future__ import annotations

import logging

import pytest

from harness.rack import Rack
from harness.sim.station import SimStation


def test_a_pdu_that_does_not_answer_is_asked_again_then_recorded_as_unreachable(
        sim_station: SimStation, caplog: pytest.LogCaptureFixture) -> None:
    station = sim_station.station
    assert station is not None
    rack = Rack(station, sim_station.profile, sim_station.credentials(), sim_station.clock)
    rack.connect()
    silent = sim_station.agents[0]
    silent.set_faults(loss=1.0)  # every request is lost on the way in
    try:
        with caplog.at_level(logging.WARNING, logger="harness.rack"):
            ids = {d.name: d for d in rack.identities()}
        seen = silent.faults.seen
        silent.set_faults()
        answered = {d.name: d for d in rack.identities()}  # the same PDU, answering again
    finally:
        silent.set_faults()
        rack.close()
    name = silent.pdu
    assert ids[name].model == "unreachable at start" and not ids[name].serial
    assert answered[name].model not in ("", "unreachable at start") and answered[name].serial, answered[name]
    attempts_per_read = station.timeouts.snmp_retries + 1
    assert seen >= 2 * attempts_per_read, "asked twice, each with the driver's own retries"
    messages = [r.getMessage() for r in caplog.records]
    assert any(f"{name}: identity not answered" in m and "asking again" in m for m in messages), messages
    assert any(f"{name}: identity not readable" in m for m in messages), messages
