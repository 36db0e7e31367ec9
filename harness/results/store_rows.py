"""How rackval's records read as results-store rows, and a stored measurement back as the value the
steps produced (a resumed run's finished steps).

Why here and not in the recorder: the recorder decides *when* a row is written; this module alone
decides what the row holds (the counterpart of ``ocp_mapping`` for the store).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from harness.clock import Clock, RealClock, VirtualClock
from harness.config.plan import Limit
from harness.envelopes import Measurement
from harness.rack import DeviceIdentity
from harness.results.records import RunInfo
from harness.results.store import DeviceRow, MeasurementRow, RunRow, SeriesRow, SessionRow


def run_row(info: RunInfo, *, scrub: Callable[[str], str], started_at: datetime, out_dir: str) -> RunRow:
    """A new run, RUNNING; texts that may carry a secret (serial check, command line) scrubbed."""
    i = info
    return RunRow(id=i.run_id, plan_name=i.plan_name, plan_path=i.plan_path, plan_sha256=i.plan_sha256,
                  envelope_sha256=i.envelope_sha256, envelope_version=i.envelope_version, station_id=i.station_id,
                  station_path=i.station_path, rack_name=i.rack_name, rack_serial=i.rack_serial,
                  serial_check=scrub(i.serial_check), sku=i.sku, operator=i.operator,
                  harness_version=i.harness_version, git_sha=i.git_sha, seed=i.seed, fault=i.fault,
                  simulated=i.simulated, command_line=scrub(i.command_line), started_at=started_at,
                  status="RUNNING", out_dir=out_dir)


def clock_kind(clock: Clock) -> str:
    """What a session's times are: ``wall`` (real time), ``simulated`` (the --sim clock, which jumps), or
    ``wall x20`` (a `rackval sim --speed 20` station: real time, scaled)."""
    if isinstance(clock, VirtualClock):
        return "simulated"
    speed = clock.speed if isinstance(clock, RealClock) else 1.0
    return "wall" if speed == 1.0 else f"wall x{speed:g}"


def session_row(info: RunInfo, number: int, clock: Clock, *, run_started_at: datetime,
                scrub: Callable[[str], str]) -> SessionRow:
    """A session starting now. ``t_offset`` maps its clock's seconds onto the run's time line (seconds
    since the run started): 0 for the first session and for a --sim resume (its clock continues the
    first one's), the time since the run started for a resume on a real clock (which starts again at 0)."""
    offset = (clock.wall() - timedelta(seconds=clock.now()) - run_started_at).total_seconds() if number > 1 else 0.0
    return SessionRow(run_id=info.run_id, number=number, operator=info.operator,
                      command_line=scrub(info.command_line), clock=clock_kind(clock), started_at=clock.wall(),
                      status="RUNNING", t_offset=offset)


def device_row(run_id: str, d: DeviceIdentity, *, session: int = 1) -> DeviceRow:
    return DeviceRow(run_id=run_id, name=d.name, kind=d.kind, model=d.model, serial=d.serial, firmware=d.firmware,
                     manufacturer=d.manufacturer, part_number=d.part_number, calibration_due=d.calibration_due,
                     session=session)


def measurement_row(m: Measurement, *, run_id: str, step_id: int, attempt_id: int | None, taken_at: datetime,
                    meta: dict[str, Any]) -> MeasurementRow:
    """A number goes to ``value``; a text to ``value_text``; a pass/fail check to both (1.0/0.0, "True"/"False")."""
    numeric = isinstance(m.value, (int, float)) and not isinstance(m.value, bool)
    return MeasurementRow(
        run_id=run_id, step_id=step_id, attempt_id=attempt_id, name=m.name,
        value=float(m.value) if numeric else (1.0 if m.value is True else 0.0 if m.value is False else None),
        value_text=None if numeric else str(m.value), unit=m.unit, limit_name=m.limit, low=m.low, high=m.high,
        verdict=m.verdict, component=m.component, t_sim=m.t, taken_at=taken_at, meta=meta)


def measurement_from_row(row: MeasurementRow) -> Measurement:
    """A stored measurement back as the value object the steps produced."""
    value: float | str | bool
    if row.value_text is None:
        value = float(row.value or 0.0)
    elif row.value_text in ("True", "False"):
        value = row.value_text == "True"
    else:
        value = row.value_text
    return Measurement(row.name, value, row.unit, row.component, row.limit_name, row.low, row.high,
                       row.verdict, row.t_sim, dict(row.meta or {}))  # type: ignore[arg-type]


def series_row(run_id: str, *, source: str, name: str, unit: str, component: str | None, limit: str | None,
               lim: Limit | None, step_id: int | None = None, attempt_id: int | None = None,
               session: int = 1) -> SeriesRow:
    """A series (``source`` step or telemetry) of one session, drawn against envelope limit ``limit`` when the
    envelope has it (``lim``)."""
    return SeriesRow(run_id=run_id, step_id=step_id, attempt_id=attempt_id, source=source, session=session,
                     name=name, unit=unit, component=component, limit_name=limit if lim else None,
                     low=lim.min if lim else None, high=lim.max if lim else None)
