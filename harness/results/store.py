"""The results store: runs, steps, attempts, measurements, series, device identities and events.

SQLite by default (``runs/results.db``); any SQLAlchemy URL (``postgresql+psycopg://...``) for a line
of stations. The schema is created and upgraded by the Alembic migrations shipped in
``harness/results/migrations`` (never ``create_all``), so a line's database can be upgraded in place.
Write-through: every measurement is committed when it is taken, so a crash loses at most the one in
flight.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text, create_engine, event, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

from harness.results.migrate import upgrade


class Base(DeclarativeBase):
    pass


class RunRow(Base):
    __tablename__ = "runs"
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    plan_name: Mapped[str] = mapped_column(String(200))
    plan_path: Mapped[str] = mapped_column(Text)
    plan_sha256: Mapped[str] = mapped_column(String(64))
    envelope_sha256: Mapped[str] = mapped_column(String(64))
    envelope_version: Mapped[str] = mapped_column(String(40), default="")
    station_id: Mapped[str] = mapped_column(String(200), index=True)
    station_path: Mapped[str] = mapped_column(Text, default="")
    rack_name: Mapped[str] = mapped_column(String(200), default="")
    rack_serial: Mapped[str] = mapped_column(String(200), index=True)
    serial_check: Mapped[str] = mapped_column(Text, default="")
    sku: Mapped[str] = mapped_column(String(80), default="")
    operator: Mapped[str] = mapped_column(String(200), default="")
    harness_version: Mapped[str] = mapped_column(String(40))
    git_sha: Mapped[str] = mapped_column(String(64), default="")
    seed: Mapped[int | None] = mapped_column(Integer, nullable=True)
    fault: Mapped[str | None] = mapped_column(String(200), nullable=True)
    simulated: Mapped[bool] = mapped_column(Boolean, default=False)
    command_line: Mapped[str] = mapped_column(Text, default="")
    sessions: Mapped[int] = mapped_column(Integer, default=1)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    status: Mapped[str] = mapped_column(String(20), default="RUNNING")
    verdict: Mapped[str | None] = mapped_column(String(20), nullable=True, index=True)
    out_dir: Mapped[str] = mapped_column(Text, default="")
    steps: Mapped[list[StepRow]] = relationship(back_populates="run", order_by="(StepRow.index, StepRow.id)")
    session_rows: Mapped[list[SessionRow]] = relationship(order_by="SessionRow.number", viewonly=True)

    @property
    def operators(self) -> str:
        """Every session's operator, in order, each once ("alice, bob"); the first session's alone for a run
        stored before sessions were recorded."""
        names = [s.operator for s in self.session_rows if s.operator] or [self.operator]
        return ", ".join(dict.fromkeys(n for n in names if n))


class SessionRow(Base):
    """One session of a run: the first, and each ``--resume`` of it. Who ran it, when, on which clock, and
    how it ended; ``t_offset`` places this session's run-clock times on the run's time line."""

    __tablename__ = "sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    operator: Mapped[str] = mapped_column(String(200), default="")
    command_line: Mapped[str] = mapped_column(Text, default="")
    clock: Mapped[str] = mapped_column(String(40), default="")  # wall | simulated | wall x<speed> | "" (not recorded)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    status: Mapped[str] = mapped_column(String(20), default="RUNNING")  # RUNNING COMPLETE ERROR ABORTED CRASHED
    verdict: Mapped[str | None] = mapped_column(String(20), nullable=True)
    t_offset: Mapped[float] = mapped_column(Float, default=0.0)


class StepRow(Base):
    __tablename__ = "steps"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), index=True)
    index: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(20), default="RUNNING")
    verdict: Mapped[str | None] = mapped_column(String(20), nullable=True)
    message: Mapped[str] = mapped_column(Text, default="")
    superseded: Mapped[bool] = mapped_column(Boolean, default=False)  # e.g. an aborted session's safe state
    t_start: Mapped[float] = mapped_column(Float, default=0.0)  # run clock seconds (resume replays to here)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    run: Mapped[RunRow] = relationship(back_populates="steps")
    attempts: Mapped[list[AttemptRow]] = relationship(back_populates="step", order_by="AttemptRow.number")


class AttemptRow(Base):
    __tablename__ = "attempts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), index=True)
    step_id: Mapped[int] = mapped_column(ForeignKey("steps.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    of: Mapped[int] = mapped_column(Integer, default=1)
    session: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(20), default="RUNNING")  # COMPLETE | ERROR | SKIP | ABORTED
    verdict: Mapped[str | None] = mapped_column(String(20), nullable=True)
    message: Mapped[str] = mapped_column(Text, default="")
    retried: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    step: Mapped[StepRow] = relationship(back_populates="attempts")


class MeasurementRow(Base):
    __tablename__ = "measurements"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), index=True)
    step_id: Mapped[int] = mapped_column(ForeignKey("steps.id"), index=True)
    attempt_id: Mapped[int | None] = mapped_column(ForeignKey("attempts.id"), nullable=True, index=True)
    name: Mapped[str] = mapped_column(String(200))
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    value_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    unit: Mapped[str] = mapped_column(String(40), default="")
    limit_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    low: Mapped[float | None] = mapped_column(Float, nullable=True)
    high: Mapped[float | None] = mapped_column(Float, nullable=True)
    verdict: Mapped[str] = mapped_column(String(10))
    component: Mapped[str | None] = mapped_column(String(200), nullable=True)
    t_sim: Mapped[float] = mapped_column(Float)
    taken_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class SeriesRow(Base):
    """A measurement series: a step's (step_id set) or the background telemetry's (source telemetry)."""

    __tablename__ = "series"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), index=True)
    step_id: Mapped[int | None] = mapped_column(ForeignKey("steps.id"), nullable=True)
    attempt_id: Mapped[int | None] = mapped_column(ForeignKey("attempts.id"), nullable=True)
    source: Mapped[str] = mapped_column(String(20))  # step | telemetry
    session: Mapped[int] = mapped_column(Integer, default=1)  # telemetry is kept per session (its own clock)
    name: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str] = mapped_column(String(40), default="")
    component: Mapped[str | None] = mapped_column(String(200), nullable=True)
    limit_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    low: Mapped[float | None] = mapped_column(Float, nullable=True)
    high: Mapped[float | None] = mapped_column(Float, nullable=True)


class SeriesPointRow(Base):
    __tablename__ = "series_points"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("series.id"), index=True)
    t: Mapped[float] = mapped_column(Float)
    value: Mapped[float] = mapped_column(Float)


class DeviceRow(Base):
    __tablename__ = "devices"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    model: Mapped[str] = mapped_column(String(200), default="")
    serial: Mapped[str] = mapped_column(String(200), default="")
    firmware: Mapped[str] = mapped_column(String(200), default="")
    manufacturer: Mapped[str] = mapped_column(String(200), default="")
    part_number: Mapped[str] = mapped_column(String(200), default="")
    calibration_due: Mapped[str] = mapped_column(String(40), default="")
    session: Mapped[int] = mapped_column(Integer, default=1)  # a resumed session records what it found changed


class EventRow(Base):
    """Things that happened to the run rather than measurements: resumed, aborted, fault applied."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    t_sim: Mapped[float] = mapped_column(Float, default=0.0)
    kind: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


def default_store_url(root: Path | None = None) -> str:
    path = (root or Path.cwd()) / "runs" / "results.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def open_store(url: str) -> Engine:
    """An engine on an up-to-date store (migrated to the newest revision first)."""
    engine = create_engine(url, json_serializer=lambda o: json.dumps(o, default=str))
    if engine.dialect.name == "sqlite":
        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")  # readers (results list) never block the writer
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")  # parallel racks share one file
            cur.close()
    upgrade(engine)
    return engine


def utc(dt: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes, PostgreSQL aware ones: both become aware UTC."""
    if dt is None:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def find_run(session: Session, run_id: str) -> RunRow | None:
    """A run by its id, or by a unique prefix of it."""
    row = session.get(RunRow, run_id)
    if row is not None or not run_id:
        return row
    rows = list(session.scalars(select(RunRow).where(RunRow.id.startswith(run_id, autoescape=True)).limit(2)))
    return rows[0] if len(rows) == 1 else None


def list_runs(session: Session, *, rack_serial: str | None = None, station: str | None = None,
              verdict: str | None = None, since: datetime | None = None, until: datetime | None = None,
              limit: int = 50) -> list[RunRow]:
    """Runs newest first. ``verdict`` PASS, FAIL, ERROR, ABORTED, or RUNNING (no verdict yet: running, or its
    process died); ``since`` inclusive, ``until`` exclusive (aware datetimes)."""
    q = select(RunRow).order_by(RunRow.started_at.desc(), RunRow.id.desc()).limit(limit)
    if rack_serial:
        q = q.where(RunRow.rack_serial == rack_serial)
    if station:
        q = q.where(RunRow.station_id == station)
    if verdict and verdict.upper() == "RUNNING":
        q = q.where(RunRow.status == "RUNNING")
    elif verdict:
        q = q.where(RunRow.verdict == verdict.upper())
    if since:
        q = q.where(RunRow.started_at >= since.astimezone(UTC))
    if until:
        q = q.where(RunRow.started_at < until.astimezone(UTC))
    return list(session.scalars(q))
