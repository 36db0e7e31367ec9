"""The OCP Test & Validation (TAP) 2.0 output artifacts as typed, keyword-only dataclasses.

Why: one definition per spec object, checked by the type checker where a record is built, instead of
dict literals spread over the recorder. Modelled on the `ocptv` package's low-level objects (one class
per spec object, ``SPEC_OBJECT`` naming the key an artifact is emitted under, JSON names in field
metadata); the JSON schemas they mirror ship beside this module (``ocp_schema/``, see ``SCHEMA_DIR``).

Serialization (:func:`to_json`) writes the fields in declaration order and leaves out those that are
None, so the field order below is the key order of the stream.
"""

from __future__ import annotations

import dataclasses as dc
import math
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

SCHEMA_DIR = Path(__file__).parent / "ocp_schema"

JsonValue = float | int | bool | str
Metadata = dict[str, Any]  # free-form, JSON-ready values


def spec(name: str, default: Any = None) -> Any:
    """A field written under the spec's JSON name ``name`` (absent from the line while it is None)."""
    return dc.field(default=default, metadata={"spec": name})


def required(name: str) -> Any:
    return dc.field(metadata={"spec": name})


# ---------------------------------------------------------------------------------------------- enums
class LogSeverity(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"
    FATAL = "FATAL"


class TestStatus(StrEnum):
    __test__ = False  # not a pytest test class
    COMPLETE = "COMPLETE"
    ERROR = "ERROR"
    SKIP = "SKIP"


class TestResult(StrEnum):
    __test__ = False
    PASS = "PASS"
    FAIL = "FAIL"
    NOT_APPLICABLE = "NOT_APPLICABLE"


class DiagnosisType(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    UNKNOWN = "UNKNOWN"


class ValidatorType(StrEnum):
    EQUAL = "EQUAL"
    NOT_EQUAL = "NOT_EQUAL"
    LESS_THAN = "LESS_THAN"
    LESS_THAN_OR_EQUAL = "LESS_THAN_OR_EQUAL"
    GREATER_THAN = "GREATER_THAN"
    GREATER_THAN_OR_EQUAL = "GREATER_THAN_OR_EQUAL"
    REGEX_MATCH = "REGEX_MATCH"
    REGEX_NO_MATCH = "REGEX_NO_MATCH"
    IN_SET = "IN_SET"
    NOT_IN_SET = "NOT_IN_SET"


class SoftwareType(StrEnum):
    UNSPECIFIED = "UNSPECIFIED"
    FIRMWARE = "FIRMWARE"
    SYSTEM = "SYSTEM"
    APPLICATION = "APPLICATION"


class SubcomponentType(StrEnum):
    UNSPECIFIED = "UNSPECIFIED"
    ASIC = "ASIC"
    ASIC_SUBSYSTEM = "ASIC-SUBSYSTEM"
    BUS = "BUS"
    FUNCTION = "FUNCTION"
    CONNECTOR = "CONNECTOR"


# ---------------------------------------------------------------------------------------------- parts
@dc.dataclass(frozen=True, kw_only=True)
class SourceLocation:
    file: str = required("file")
    line: int = required("line")


@dc.dataclass(frozen=True, kw_only=True)
class Subcomponent:
    name: str = required("name")
    type: SubcomponentType | None = spec("type")
    location: str | None = spec("location")
    version: str | None = spec("version")
    revision: str | None = spec("revision")


@dc.dataclass(frozen=True, kw_only=True)
class Validator:
    type: ValidatorType = required("type")
    value: JsonValue | list[JsonValue] = required("value")
    name: str | None = spec("name")
    metadata: Metadata | None = spec("metadata")


@dc.dataclass(frozen=True, kw_only=True)
class PlatformInfo:
    info: str = required("info")


@dc.dataclass(frozen=True, kw_only=True)
class HardwareInfo:
    id: str = required("hardwareInfoId")
    name: str = required("name")
    serial_number: str | None = spec("serialNumber")
    part_number: str | None = spec("partNumber")
    manufacturer: str | None = spec("manufacturer")
    version: str | None = spec("version")
    odata_id: str | None = spec("odataId")
    revision: str | None = spec("revision")
    location: str | None = spec("location")
    part_type: str | None = spec("partType")
    manufacturer_part_number: str | None = spec("manufacturerPartNumber")
    computer_system: str | None = spec("computerSystem")
    manager: str | None = spec("manager")


@dc.dataclass(frozen=True, kw_only=True)
class SoftwareInfo:
    id: str = required("softwareInfoId")
    name: str = required("name")
    version: str | None = spec("version")
    type: SoftwareType | None = spec("softwareType")
    revision: str | None = spec("revision")
    computer_system: str | None = spec("computerSystem")


@dc.dataclass(frozen=True, kw_only=True)
class DutInfo:
    id: str = required("dutInfoId")
    name: str | None = spec("name")
    platform_infos: list[PlatformInfo] = dc.field(default_factory=list, metadata={"spec": "platformInfos"})
    hardware_infos: list[HardwareInfo] = dc.field(default_factory=list, metadata={"spec": "hardwareInfos"})
    software_infos: list[SoftwareInfo] = dc.field(default_factory=list, metadata={"spec": "softwareInfos"})
    metadata: Metadata | None = spec("metadata")


# ---------------------------------------------------------------------------------------------- run artifacts
@dc.dataclass(frozen=True, kw_only=True)
class SchemaVersion:
    SPEC_OBJECT: ClassVar[str] = "schemaVersion"
    major: int = spec("major", 2)
    minor: int = spec("minor", 0)


@dc.dataclass(frozen=True, kw_only=True)
class TestRunStart:
    __test__ = False
    SPEC_OBJECT: ClassVar[str] = "testRunStart"
    name: str = required("name")
    version: str = required("version")
    command_line: str = required("commandLine")
    parameters: dict[str, Any] = required("parameters")
    dut_info: DutInfo = required("dutInfo")
    metadata: Metadata | None = spec("metadata")


@dc.dataclass(frozen=True, kw_only=True)
class TestRunEnd:
    __test__ = False
    SPEC_OBJECT: ClassVar[str] = "testRunEnd"
    status: TestStatus = required("status")
    result: TestResult = required("result")


@dc.dataclass(frozen=True, kw_only=True)
class Log:
    SPEC_OBJECT: ClassVar[str] = "log"
    severity: LogSeverity = required("severity")
    message: str = required("message")
    source_location: SourceLocation | None = spec("sourceLocation")


@dc.dataclass(frozen=True, kw_only=True)
class Error:
    SPEC_OBJECT: ClassVar[str] = "error"
    symptom: str = required("symptom")
    message: str | None = spec("message")
    software_info_ids: list[str] | None = spec("softwareInfoIds")
    source_location: SourceLocation | None = spec("sourceLocation")


# ---------------------------------------------------------------------------------------------- step artifacts
@dc.dataclass(frozen=True, kw_only=True)
class TestStepStart:
    __test__ = False
    SPEC_OBJECT: ClassVar[str] = "testStepStart"
    name: str = required("name")


@dc.dataclass(frozen=True, kw_only=True)
class TestStepEnd:
    __test__ = False
    SPEC_OBJECT: ClassVar[str] = "testStepEnd"
    status: TestStatus = required("status")


@dc.dataclass(frozen=True, kw_only=True)
class Measurement:
    SPEC_OBJECT: ClassVar[str] = "measurement"
    name: str = required("name")
    value: JsonValue = required("value")
    unit: str | None = spec("unit")
    validators: list[Validator] | None = spec("validators")
    hardware_info_id: str | None = spec("hardwareInfoId")
    subcomponent: Subcomponent | None = spec("subcomponent")
    metadata: Metadata | None = spec("metadata")


@dc.dataclass(frozen=True, kw_only=True)
class MeasurementSeriesStart:
    SPEC_OBJECT: ClassVar[str] = "measurementSeriesStart"
    series_id: str = required("measurementSeriesId")
    name: str = required("name")
    unit: str | None = spec("unit")
    validators: list[Validator] | None = spec("validators")
    hardware_info_id: str | None = spec("hardwareInfoId")
    subcomponent: Subcomponent | None = spec("subcomponent")
    metadata: Metadata | None = spec("metadata")


@dc.dataclass(frozen=True, kw_only=True)
class MeasurementSeriesElement:
    SPEC_OBJECT: ClassVar[str] = "measurementSeriesElement"
    series_id: str = required("measurementSeriesId")
    index: int = required("index")
    value: JsonValue = required("value")
    timestamp: str = required("timestamp")  # RFC 3339, as the line's own timestamp
    metadata: Metadata | None = spec("metadata")


@dc.dataclass(frozen=True, kw_only=True)
class MeasurementSeriesEnd:
    SPEC_OBJECT: ClassVar[str] = "measurementSeriesEnd"
    series_id: str = required("measurementSeriesId")
    total_count: int = required("totalCount")


@dc.dataclass(frozen=True, kw_only=True)
class Diagnosis:
    SPEC_OBJECT: ClassVar[str] = "diagnosis"
    verdict: str = required("verdict")
    type: DiagnosisType = required("type")
    message: str | None = spec("message")
    hardware_info_id: str | None = spec("hardwareInfoId")
    subcomponent: Subcomponent | None = spec("subcomponent")
    source_location: SourceLocation | None = spec("sourceLocation")


RunArtifact = TestRunStart | TestRunEnd | Log | Error
StepArtifact = (TestStepStart | TestStepEnd | Measurement | MeasurementSeriesStart | MeasurementSeriesElement
                | MeasurementSeriesEnd | Diagnosis | Log | Error)


# ---------------------------------------------------------------------------------------------- JSON
def json_value(v: JsonValue) -> JsonValue:
    """JSON has no NaN or infinity: a non-finite reading is written as its text ("nan", "inf")."""
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return v


def to_json(obj: Any) -> Any:
    """A spec object (or a list, dict or scalar holding some) as the JSON value the stream carries."""
    if dc.is_dataclass(obj) and not isinstance(obj, type):
        out: dict[str, Any] = {}
        for f in dc.fields(obj):
            value = getattr(obj, f.name)
            if value is not None:
                out[f.metadata["spec"]] = to_json(value)
        return out
    if isinstance(obj, StrEnum):
        return obj.value
    if isinstance(obj, list):
        return [to_json(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_json(v) for k, v in obj.items()}
    return obj


def schema_version_line() -> dict[str, Any]:
    return {SchemaVersion.SPEC_OBJECT: to_json(SchemaVersion())}


def run_line(artifact: RunArtifact) -> dict[str, Any]:
    """The body of one line carrying a test run artifact (the writer adds sequence number and timestamp)."""
    return {"testRunArtifact": {artifact.SPEC_OBJECT: to_json(artifact)}}


def step_line(step_id: str, artifact: StepArtifact) -> dict[str, Any]:
    return {"testStepArtifact": {"testStepId": step_id, artifact.SPEC_OBJECT: to_json(artifact)}}
