"""How rackval's records read as OCP artifacts: a run's traceability and devices as the testRunStart
and its dutInfo, an envelope check as a measurement with its validators, a verdict as a testRunEnd.

Why here and not in the recorder: the recorder decides *when* something is written; this module alone
decides *what* the spec objects say, so the mapping can be read (and changed) in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from harness.envelopes import Measurement
from harness.rack import DeviceIdentity
from harness.results import ocp_artifacts as ocp
from harness.results.records import RunInfo


def validators_for(m: Measurement) -> list[ocp.Validator]:
    """The checks a measurement was judged by: its envelope bounds, or "must be true" for a pass/fail check."""
    if isinstance(m.value, bool):
        return [ocp.Validator(type=ocp.ValidatorType.EQUAL, value=True, name="required")]
    out: list[ocp.Validator] = []
    if m.low is not None:
        out.append(ocp.Validator(type=ocp.ValidatorType.GREATER_THAN_OR_EQUAL, value=m.low, name=m.limit or ""))
    if m.high is not None:
        out.append(ocp.Validator(type=ocp.ValidatorType.LESS_THAN_OR_EQUAL, value=m.high, name=m.limit or ""))
    return out


def limit_validators(limit: str | None, low: float | None, high: float | None) -> list[ocp.Validator]:
    """The validators of a series drawn against an envelope limit (none when it has no limit)."""
    if limit is None:
        return []
    return validators_for(Measurement(limit, 0.0, "", low=low, high=high, limit=limit))


def measurement(m: Measurement, *, hardware_info_id: str | None, subcomponent: str | None) -> ocp.Measurement:
    """A measurement; its metadata carries the step's own metadata, the component and rackval's verdict."""
    meta = {k: (v if isinstance(v, (str, int, float, bool)) else str(v)) for k, v in m.meta.items()}
    meta = {k: ocp.json_value(v) if isinstance(v, float) else v for k, v in meta.items()}
    if m.component:
        meta["component"] = m.component
    meta["verdict"] = m.verdict
    return ocp.Measurement(name=m.name, value=ocp.json_value(m.value), unit=m.unit, validators=validators_for(m),
                           hardware_info_id=hardware_info_id or None,
                           subcomponent=ocp.Subcomponent(name=subcomponent) if subcomponent else None,
                           metadata=meta)


def dut_info(info: RunInfo, devices: Sequence[DeviceIdentity]) -> ocp.DutInfo:
    """The rack as the DUT: one hardwareInfo per device (``hw<n>``), one softwareInfo per firmware."""
    hardware, software = [], []
    for n, d in enumerate(devices):
        hardware.append(ocp.HardwareInfo(id=f"hw{n}", name=d.name, serial_number=d.serial or None,
                                         part_number=d.part_number or None, manufacturer=d.manufacturer or None,
                                         version=d.model or None, odata_id=d.uri or None))
        if d.firmware:
            software.append(ocp.SoftwareInfo(id=f"sw{n}", name=f"{d.name} firmware", version=d.firmware,
                                             type=ocp.SoftwareType.FIRMWARE))
    return ocp.DutInfo(id=info.rack_serial, name=info.sku, platform_infos=[ocp.PlatformInfo(info=info.sku)],
                       hardware_infos=hardware, software_infos=software)


def hardware_ids(devices: Sequence[DeviceIdentity]) -> dict[str, str]:
    """Device name -> its hardwareInfoId in :func:`dut_info` (a resumed session numbers them alike)."""
    return {d.name: f"hw{n}" for n, d in enumerate(devices)}


def run_start(info: RunInfo, devices: Sequence[DeviceIdentity], scrub: Callable[[str], str]) -> ocp.TestRunStart:
    """The testRunStart: the plan and where its numbers come from (texts scrubbed of secrets)."""
    return ocp.TestRunStart(
        name=f"rackval:{info.plan_name}", version=info.harness_version, command_line=scrub(info.command_line),
        parameters={"plan": info.plan_name, "plan_sha256": info.plan_sha256, "envelope_sha256": info.envelope_sha256,
                    "envelope_version": info.envelope_version, "station_id": info.station_id,
                    "seed": info.seed if info.seed is not None else "", "simulated": info.simulated,
                    "fault": info.fault or ""},
        dut_info=dut_info(info, devices),
        metadata={"run_id": info.run_id, "operator": info.operator, "git_sha": info.git_sha,
                  "harness_version": info.harness_version, "serial_check": scrub(info.serial_check),
                  "calibration": {d.name: d.calibration_due for d in devices if d.calibration_due}})


def run_end(verdict: str) -> ocp.TestRunEnd:
    """A run with a PASS or FAIL verdict completed; any other (ERROR, ABORTED) is an ERROR without a result."""
    if verdict in ("PASS", "FAIL"):
        return ocp.TestRunEnd(status=ocp.TestStatus.COMPLETE, result=ocp.TestResult(verdict))
    return ocp.TestRunEnd(status=ocp.TestStatus.ERROR, result=ocp.TestResult.NOT_APPLICABLE)


def step_status(status: str) -> ocp.TestStatus:
    """A step attempt's status (COMPLETE | ERROR | SKIP | ABORTED); OCP has no ABORTED: it is an ERROR."""
    return ocp.TestStatus.ERROR if status == "ABORTED" else ocp.TestStatus(status)
