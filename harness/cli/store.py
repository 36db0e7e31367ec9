"""The results store as the commands open it, and the command-line values they read from it."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.orm import Session

from harness.cli.app import bad_input
from harness.clock import wall_now
from harness.results.store import default_store_url, open_store

WHEN_FORMS = "a date (2025-03-04), a date and time (2025-03-04T14:30 or \"2025-03-04 14:30\") or a time of day today (14:30)"


def store_session(store: str | None) -> Session:
    return Session(open_store(store or default_store_url()))


def parse_when(value: str | None, option: str, *, end: bool = False) -> datetime | None:
    """A time bound the way a technician types it, as an aware UTC instant. A date is that whole day
    (``end``: up to its end); a date and time or a time of day (today) is that minute. Without a zone
    it is the station's local time; ``Z`` or ``+02:00`` say otherwise."""
    if not value:
        return None
    text = value.strip()
    local = wall_now().astimezone().tzinfo
    try:
        day = date.fromisoformat(text)
    except ValueError:
        day = None
    if day is not None:
        start = datetime.combine(day, time.min, local)
        return (start + timedelta(days=1) if end else start).astimezone(UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        try:
            clock = time.fromisoformat(text)
        except ValueError:
            bad_input(f"command line: {option}: {value!r} is not {WHEN_FORMS}")
        today = wall_now().astimezone(local).date()
        moment = datetime.combine(today, clock.replace(tzinfo=None), clock.tzinfo or local)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=local)
    return moment.astimezone(UTC)
