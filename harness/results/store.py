"""The results store: runs, steps, measurements and device identities, in SQLAlchemy.

SQLite by default (``runs/results.db``); any SQLAlchemy URL (e.g. ``postgresql+psycopg://...``) for a
line of stations. Write-through: every measurement is committed when it is taken, so a crash loses
at most the one in flight.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text, create_engine, event, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class RunRow(Base):
    __tablename__ = "runs"
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    plan_name: Mapped[str] = mapped_column(String(200))
    plan_path: Mapped[str] = mapped_column(Text)
    plan_sha256: Mapped[str] = mapped_column(String(64))
    envelope_sha256: Mapped[str] = mapped_column(String(64))
    station_id: Mapped[str] = mapped_column(String(200))
    rack_serial: Mapped[str] = mapped_column(String(200), index=True)
    operator: Mapped[str] = mapped_column(String(200), default="")
    harness_version: Mapped[str] = mapped_column(String(40))
    git_sha: Mapped[str] = mapped_column(String(64), default="")
    seed: Mapped[int | None] = mapped_column(Integer, nullable=True)
    simulated: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    status: Mapped[str] = mapped_column(String(20), default="RUNNING")
    verdict: Mapped[str | None] = mapped_column(String(20), nullable=True)
    out_dir: Mapped[str] = mapped_column(Text, default="")
    steps: Mapped[list[StepRow]] = relationship(back_populates="run", order_by="StepRow.index")


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
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    run: Mapped[RunRow] = relationship(back_populates="steps")


class MeasurementRow(Base):
    __tablename__ = "measurements"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), index=True)
    step_id: Mapped[int] = mapped_column(ForeignKey("steps.id"), index=True)
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


def default_store_url(root: Path | None = None) -> str:
    path = (root or Path.cwd()) / "runs" / "results.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def open_store(url: str) -> Engine:
    engine = create_engine(url, json_serializer=lambda o: json.dumps(o, default=str))
    if engine.dialect.name == "sqlite":
        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")  # readers (results list) never block the writer
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()
    Base.metadata.create_all(engine)
    return engine


def find_run(session: Session, run_id: str) -> RunRow | None:
    return session.get(RunRow, run_id)


def list_runs(session: Session, *, rack_serial: str | None = None, station: str | None = None,
              verdict: str | None = None, limit: int = 50) -> list[RunRow]:
    q = select(RunRow).order_by(RunRow.started_at.desc()).limit(limit)
    if rack_serial:
        q = q.where(RunRow.rack_serial == rack_serial)
    if station:
        q = q.where(RunRow.station_id == station)
    if verdict:
        q = q.where(RunRow.verdict == verdict.upper())
    return list(session.scalars(q))
