"""The typed OCP artifacts mirror the spec: every field of every artifact, filled in, is valid against the
spec's schemas (which refuse unknown properties), and a line is written in field order without the
fields left at None."""

from __future__ import annotations

import dataclasses as dc
from typing import Any

import pytest

from harness.results import ocp_artifacts as ocp
from ocp_schema import schema_validator

WHERE = ocp.SourceLocation(file="harness/steps/ac_cycle.py", line=42)
SUB = ocp.Subcomponent(name="GPU 0", type=ocp.SubcomponentType.ASIC, location="slot 1", version="1", revision="A")
VALIDATOR = ocp.Validator(type=ocp.ValidatorType.LESS_THAN_OR_EQUAL, value=85.0, name="component_temp_c",
                          metadata={"source": "envelope"})
DUT = ocp.DutInfo(
    id="RACK-42", name="nvl72", platform_infos=[ocp.PlatformInfo(info="nvl72")],
    hardware_infos=[ocp.HardwareInfo(id="hw0", name="compute01", serial_number="SN1", part_number="PN1",
                                     manufacturer="rackval", version="SIM-C", odata_id="/redfish/v1/Chassis/1",
                                     revision="B", location="U12", part_type="tray", manufacturer_part_number="M1",
                                     computer_system="host01", manager="bmc01")],
    software_infos=[ocp.SoftwareInfo(id="sw0", name="compute01 firmware", version="25.06.3",
                                     type=ocp.SoftwareType.FIRMWARE, revision="r1", computer_system="host01")],
    metadata={"k": "v"})
RUN_ARTIFACTS: list[ocp.RunArtifact] = [
    ocp.TestRunStart(name="rackval:x", version="0.1.0", command_line="rackval run x.yaml", parameters={"seed": 7},
                     dut_info=DUT, metadata={"operator": "op1"}),
    ocp.TestRunEnd(status=ocp.TestStatus.COMPLETE, result=ocp.TestResult.PASS),
    ocp.Log(severity=ocp.LogSeverity.WARNING, message="m", source_location=WHERE),
    ocp.Error(symptom="driver-error", message="m", software_info_ids=["sw0"], source_location=WHERE),
]
STEP_ARTIFACTS: list[ocp.StepArtifact] = [
    ocp.TestStepStart(name="ac_cycle"),
    ocp.TestStepEnd(status=ocp.TestStatus.SKIP),
    ocp.Measurement(name="t", value=80.5, unit="Cel", validators=[VALIDATOR], hardware_info_id="hw0",
                    subcomponent=SUB, metadata={"verdict": "PASS"}),
    ocp.MeasurementSeriesStart(series_id="s1_s0", name="t", unit="Cel", validators=[VALIDATOR],
                               hardware_info_id="hw0", subcomponent=SUB, metadata={"k": 1}),
    ocp.MeasurementSeriesElement(series_id="s1_s0", index=0, value=80.5, timestamp="2025-03-04T05:06:07Z",
                                 metadata={"k": 1}),
    ocp.MeasurementSeriesEnd(series_id="s1_s0", total_count=1),
    ocp.Diagnosis(verdict="t-fail", type=ocp.DiagnosisType.FAIL, message="m", hardware_info_id="hw0",
                  subcomponent=SUB, source_location=WHERE),
    ocp.Log(severity=ocp.LogSeverity.DEBUG, message="m"),
    ocp.Error(symptom="aborted"),
]


def _line(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "sequenceNumber": 0, "timestamp": "2025-03-04T05:06:07Z"}


def _every_field_set(obj: Any) -> None:
    for f in dc.fields(obj):
        value = getattr(obj, f.name)
        assert value is not None, f"{type(obj).__name__}.{f.name} is not exercised"
        for item in value if isinstance(value, list) else [value]:
            if dc.is_dataclass(item):
                _every_field_set(item)


def _body(artifact: Any) -> dict[str, Any]:
    return ocp.run_line(artifact) if any(artifact is a for a in RUN_ARTIFACTS) else ocp.step_line("s1", artifact)


@pytest.mark.parametrize("artifact", RUN_ARTIFACTS + STEP_ARTIFACTS[:-2], ids=lambda a: type(a).__name__)
def test_every_field_of_every_artifact_is_valid_against_the_spec(artifact: Any) -> None:
    _every_field_set(artifact)
    errors = [e.message for e in schema_validator().iter_errors(_line(_body(artifact)))]
    assert not errors, errors


@pytest.mark.parametrize("artifact", STEP_ARTIFACTS[-2:], ids=lambda a: type(a).__name__)
def test_an_artifact_with_only_its_required_fields_is_valid(artifact: Any) -> None:
    assert not list(schema_validator().iter_errors(_line(_body(artifact))))


def test_the_schemas_refuse_a_property_the_spec_does_not_have() -> None:
    """What makes the tests above a check of the field names: a misspelt one is refused."""
    body = ocp.step_line("s1", ocp.TestStepEnd(status=ocp.TestStatus.COMPLETE))
    body["testStepArtifact"]["testStepEnd"]["stat"] = "COMPLETE"
    assert list(schema_validator().iter_errors(_line(body)))


def test_schema_version_line_is_valid() -> None:
    body = ocp.schema_version_line()
    assert body == {"schemaVersion": {"major": 2, "minor": 0}}
    assert not list(schema_validator().iter_errors(_line(body)))


def test_fields_are_written_in_declaration_order_and_none_is_left_out() -> None:
    m = ocp.Measurement(name="x", value=1.0, unit="", validators=[], metadata={"verdict": "INFO"})
    assert list(ocp.to_json(m)) == ["name", "value", "unit", "validators", "metadata"]
    v = ocp.Validator(type=ocp.ValidatorType.EQUAL, value=True, name="required")
    assert ocp.to_json(v) == {"type": "EQUAL", "value": True, "name": "required"}
    assert ocp.step_line("s3", ocp.TestStepEnd(status=ocp.TestStatus.ERROR)) == {
        "testStepArtifact": {"testStepId": "s3", "testStepEnd": {"status": "ERROR"}}}


def test_a_non_finite_reading_is_written_as_text() -> None:
    assert ocp.json_value(float("nan")) == "nan" and ocp.json_value(float("-inf")) == "-inf"
    assert ocp.json_value(1.5) == 1.5 and ocp.json_value(True) is True


def test_a_value_outside_the_spec_enumeration_is_refused() -> None:
    with pytest.raises(ValueError):
        ocp.TestStatus("ABORTED")
    with pytest.raises(ValueError):
        ocp.LogSeverity("WARN")
