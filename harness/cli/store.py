"""The results store as the commands open it, and the command-line values they read from it."""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from harness.cli.app import bad_input
from harness.results.store import default_store_url, open_store


def store_session(store: str | None) -> Session:
    return Session(open_store(store or default_store_url()))


def parse_date(value: str | None, option: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        bad_input(f"command line: {option}: {value!r} is not a date (YYYY-MM-DD)")
