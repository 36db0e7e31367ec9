"""The HTTP answers of a simulated Redfish service: JSON with the headers every Redfish response
carries, errors as Base registry messages, weak ETags, and the schema a body is described by."""

from __future__ import annotations

import hashlib
import json

from aiohttp import web

from harness.sim.redfish.documents import Body
from harness.sim.redfish.registry import error_body

SCHEMA_BASE = "http://redfish.dmtf.org/schemas/v1"


def json_response(status: int, body: Body | None = None, headers: dict[str, str] | None = None) -> web.Response:
    hdrs = {"OData-Version": "4.0", "Cache-Control": "no-cache"}
    if body is not None:
        hdrs["Content-Type"] = "application/json;charset=utf-8"
    hdrs.update(headers or {})
    data = b"" if body is None else json.dumps(body).encode()
    return web.Response(status=status, body=data, headers=hdrs)


def err(status: int, key: str, *args: object, headers: dict[str, str] | None = None,
        detail: str | None = None) -> web.Response:
    return json_response(status, error_body(key, *args, detail=detail), headers)


def etag_of(body: Body) -> str:
    data = json.dumps({k: v for k, v in body.items() if k != "@odata.etag"}, sort_keys=True).encode()
    return f'W/"{hashlib.blake2b(data, digest_size=8).hexdigest()}"'


def described_by(body: Body) -> str | None:
    kind = str(body.get("@odata.type", "")).lstrip("#")
    parts = kind.split(".")
    if len(parts) == 3:
        return f"<{SCHEMA_BASE}/{parts[0]}.{parts[1]}.json>; rel=describedby"
    if len(parts) == 2:
        return f"<{SCHEMA_BASE}/{parts[0]}.json>; rel=describedby"
    return None


async def json_body(request: web.Request) -> Body | web.Response:
    """The request's JSON object, or the 400 MalformedJSON answer to send instead."""
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        return err(400, "MalformedJSON")
    if not isinstance(body, dict):
        return err(400, "MalformedJSON")
    return body
