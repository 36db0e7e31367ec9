"""Payload views and event parsing never raise on what a BMC may send: missing fields, nulls, wrong
types, huge numbers, odd units. Hypothesis generates the payloads."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.drivers.redfish.events import parse_payload
from harness.drivers.redfish.views import SensorReading, extended_messages, legacy_sensors, number, sensor_reading

scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(10**400), max_value=10**400),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8))
json_values = st.recursive(scalars, lambda kids: st.one_of(st.lists(kids, max_size=4),
                                                           st.dictionaries(st.text(max_size=12), kids, max_size=5)),
                           max_leaves=20)
keys = st.sampled_from(["Temperatures", "Fans", "PowerControl", "ReadingCelsius", "Reading", "PowerConsumedWatts",
                        "Name", "Status", "State", "ReadingUnits", "UpperThresholdCritical", "@odata.id",
                        "Thresholds", "UpperCritical", "PhysicalContext", "Events", "MessageId", "MessageArgs"])
shaped = st.recursive(scalars, lambda kids: st.one_of(st.lists(kids, max_size=3),
                                                      st.dictionaries(keys, kids, max_size=6)), max_leaves=25)


def _valid(r: SensorReading) -> bool:
    return (r.reading is None or isinstance(r.reading, float)) and isinstance(r.name, str) and \
        all(isinstance(v, float) for v in r.thresholds.values())


@settings(max_examples=300, deadline=None)
@given(shaped, shaped)
def test_legacy_sensors_never_raise(thermal: object, power: object) -> None:
    assert all(_valid(r) for r in legacy_sensors(thermal, power, "/redfish/v1/Chassis/x"))


@settings(max_examples=300, deadline=None)
@given(st.one_of(shaped, json_values))
def test_sensor_reading_and_errors_never_raise(body: object) -> None:
    assert _valid(sensor_reading(body, fallback_uri="/x"))
    assert all(isinstance(m, str) for m in extended_messages(body))


@settings(max_examples=300, deadline=None)
@given(st.one_of(shaped, json_values), st.text(max_size=30))
def test_event_payloads_never_raise(body: object, junk: str) -> None:
    for data in (json.dumps(body, default=str), junk):
        events = parse_payload("bmc", data)
        assert events and all(isinstance(e.message_id, str) for e in events)


def test_odd_numbers_and_units() -> None:
    assert number(10**400) is None and number(float("nan")) is None and number(True) is None
    assert number("42") is None and number(1e308) == 1e308
    fans = legacy_sensors({"Fans": [{"Name": "F", "Reading": 3000, "ReadingUnits": "RPM"},
                                    {"Reading": "fast", "ReadingUnits": 7}]}, None)
    assert fans[0].units == "RPM" and fans[0].reading == 3000.0 and fans[1].reading is None and fans[1].units == ""
    temps = legacy_sensors({"Temperatures": [{"ReadingCelsius": None, "UpperThresholdCritical": "hot"}]}, None)
    assert temps[0].reading is None and temps[0].thresholds == {} and temps[0].units == "Cel"
