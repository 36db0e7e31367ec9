"""Alembic environment: runs on the connection rackval hands over (see harness.results.migrate)."""

from __future__ import annotations

from alembic import context

from harness.results.store import Base

conn = context.config.attributes.get("connection")
if conn is None:  # `alembic -x url=... upgrade head` from a shell
    from sqlalchemy import create_engine

    url = context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        raise SystemExit("pass -x url=SQLALCHEMY_URL")
    with create_engine(url).begin() as c:
        context.configure(connection=c, target_metadata=Base.metadata, render_as_batch=c.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=conn, target_metadata=Base.metadata, render_as_batch=conn.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()
