"""Create or upgrade a results store through its Alembic migrations (never ``create_all``).

Several processes may open one store at once (parallel racks): the upgrade is serialized with a
file lock beside a SQLite file and with an advisory lock on PostgreSQL.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from filelock import FileLock
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

from harness.errors import RackvalError

MIGRATIONS = Path(__file__).parent / "migrations"
PG_LOCK_KEY = 0x7261636B  # "rack"


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head() -> str:
    head_rev = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head_rev is not None
    return head_rev


def current(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _file_lock(engine: Engine) -> AbstractContextManager[object]:
    db = engine.url.database
    if engine.dialect.name != "sqlite" or not db or db == ":memory:":
        return nullcontext()
    return FileLock(str(Path(db)) + ".migrate.lock", timeout=120)


def upgrade(engine: Engine) -> None:
    """Bring the store to the newest revision; a no-op (one query) when it is already there."""
    target = head()
    with engine.connect() as conn:
        if current(conn) == target:
            return
    with _file_lock(engine), engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_LOCK_KEY})
        rev = current(conn)
        if rev == target:
            return
        if rev is None and "runs" in inspect(conn).get_table_names():
            raise RackvalError(f"results store {engine.url.render_as_string(hide_password=True)} was created "
                               "without migrations (an early rackval); move it aside and run again")
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
