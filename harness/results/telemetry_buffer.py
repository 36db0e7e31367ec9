"""Background telemetry on its way out: points go to the store in batches (every second of wall time
or every few hundred rows, so a soak does not commit per reading), and wait to be written to OCP as
one measurement series per metric and component when the current attempt ends.

Not thread-safe by itself: the Recorder calls it under its write lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from harness.clock import monotonic
from harness.config.plan import Envelope
from harness.results.store import SeriesPointRow
from harness.results.store_rows import series_row

# telemetry metric -> envelope limit it is drawn against (the metric's own name when the envelope has it)
TELEMETRY_LIMITS = {"tray_hottest_c": "component_temp_c"}
FLUSH_ROWS = 500
FLUSH_S = 1.0


@dataclass
class TelemetrySeries:
    """One metric of one component: its store row and the points not yet written to OCP."""

    metric: str
    component: str | None
    series_id: int
    unit: str
    limit: str | None
    low: float | None
    high: float | None
    times: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)

    @property
    def ocp_name(self) -> str:
        return f"telemetry.{self.metric}" + (f"[{self.component}]" if self.component else "")


class TelemetryBuffer:
    def __init__(self, db: Session, run_id: str, envelope: Envelope | None) -> None:
        self.db, self.run_id, self.envelope = db, run_id, envelope
        self.session = 1  # a resumed run's session: its telemetry is its own series (its clock may start at 0)
        self._series: dict[tuple[str, str | None], TelemetrySeries] = {}
        self._points: list[SeriesPointRow] = []
        self._last_flush = monotonic()

    def add(self, metric: str, unit: str, component: str | None, t: float, value: float) -> None:
        """One reading; its series row is created (with the limit it is drawn against) on first sight."""
        key = (metric, component)
        tel = self._series.get(key)
        if tel is None:
            limit = TELEMETRY_LIMITS.get(metric, metric)
            lim = self.envelope.limits.get(limit) if self.envelope is not None else None
            row = series_row(self.run_id, source="telemetry", name=metric, unit=unit, component=component,
                             limit=limit, lim=lim, session=self.session)
            self.db.add(row)
            self.db.flush()
            tel = self._series[key] = TelemetrySeries(metric, component, row.id, unit, row.limit_name, row.low,
                                                      row.high)
        self._points.append(SeriesPointRow(series_id=tel.series_id, t=t, value=value))
        tel.times.append(t)
        tel.values.append(value)
        if len(self._points) >= FLUSH_ROWS or monotonic() - self._last_flush >= FLUSH_S:
            self.flush()

    def flush(self) -> None:
        """Commit the points taken so far (and whatever else the session holds)."""
        if self._points:
            self.db.add_all(self._points)
            self._points = []
        self.db.commit()
        self._last_flush = monotonic()

    def take_for_ocp(self) -> list[TelemetrySeries]:
        """The series with points since the last call (sorted by metric, then component), each holding just
        those points; the buffer starts afresh."""
        self.flush()
        out = []
        for _, tel in sorted(self._series.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
            if not tel.times:
                continue
            out.append(TelemetrySeries(tel.metric, tel.component, tel.series_id, tel.unit, tel.limit, tel.low,
                                       tel.high, tel.times, tel.values))
            tel.times, tel.values = [], []
        return out
