"""What a simulated service can be asked to do besides GET: POST actions and writable properties, and
how it refuses them (a Base registry message with an HTTP status)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.sim.redfish.documents import Body
from harness.sim.redfish.registry import error_body


class ActionError(Exception):
    """An action or PATCH refused with a registry message (HTTP ``status``)."""

    def __init__(self, status: int, key: str, *args: object, detail: str | None = None) -> None:
        super().__init__(key)
        self.status, self.key, self.args_, self.detail = status, key, args, detail

    def body(self) -> Body:
        return error_body(self.key, *self.args_, detail=self.detail)


@dataclass
class ActionSpec:
    """A POST target: ``run(body)`` acts or raises ActionError; the returned callable (if any) says
    when the operation is complete, for a 202 task monitor."""

    name: str
    run: Callable[[Body], Callable[[], bool] | None]


#: A writable property: setter(value) applies it or raises ActionError.
Setter = Callable[[Any], None]


def json_text(value: object) -> str:
    """A request value as the client wrote it, for a message argument (repr if not JSON)."""
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
