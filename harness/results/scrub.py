"""Secret scrubbing: every text that leaves rackval passes through a Scrubber first."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Sequence
from typing import Any


class Scrubber:
    def __init__(self, secrets: Sequence[str]) -> None:
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for s in self.secrets:
            text = text.replace(s, "***")
        return text

    def value(self, v: Any) -> Any:
        """Scrub a metadata value: strings directly, anything else through its text form."""
        if isinstance(v, str):
            return self(v)
        if isinstance(v, (int, float, bool)) or v is None:
            return v
        return self(str(v))


class ScrubFilter(logging.Filter):
    def __init__(self, scrub: Scrubber) -> None:
        super().__init__()
        self.scrub = scrub

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.scrub(record.getMessage())
        record.args = ()
        if record.exc_info:  # tracebacks can carry request URLs and payloads
            record.msg += "\n" + self.scrub("".join(traceback.format_exception(*record.exc_info)))
            record.exc_info = None
            record.exc_text = None
        return True
