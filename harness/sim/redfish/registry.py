"""DMTF message registries (fixtures/redfish/registries, BSD-3, see LICENSE-DMTF.md there).

The simulator takes every error and event message from the published registries, so MessageIds,
texts, severities and resolutions are the standard ones and a client can look them up. Loaded once,
lazily; a message id that is not in the registry is a programming error (KeyError).
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from harness.paths import fixtures_dir

Body = dict[str, Any]

REGISTRY_FILES = {
    "Base": "Base.1.22.1.json",
    "ResourceEvent": "ResourceEvent.1.4.3.json",
    "Environmental": "Environmental.1.4.0.json",
    "Power": "Power.1.2.0.json",
    "TaskEvent": "TaskEvent.1.0.5.json",
}


@cache
def registry(prefix: str) -> Body:
    """The parsed registry file for ``prefix`` (e.g. "Base")."""
    path = fixtures_dir() / "redfish" / "registries" / REGISTRY_FILES[prefix]
    with path.open(encoding="utf-8") as fh:
        data: Body = json.load(fh)
    return data


def registry_id(prefix: str) -> str:
    """``Base.1.22.1``: the prefix and version that MessageIds are built on."""
    reg = registry(prefix)
    return f"{reg['RegistryPrefix']}.{reg['RegistryVersion']}"


def message(key: str, *args: object) -> Body:
    """A ``Message`` object for ``"Prefix.Key"`` (or a bare Base key) with ``%n`` filled in."""
    prefix, _, name = key.rpartition(".")
    prefix = prefix or "Base"
    entry = registry(prefix)["Messages"][name]
    str_args = [str(a) for a in args]
    if len(str_args) != int(entry.get("NumberOfArgs", 0)):
        raise ValueError(f"{key} takes {entry.get('NumberOfArgs', 0)} args, got {len(str_args)}")
    text = str(entry["Message"])
    for i in range(len(str_args), 0, -1):  # %10 before %1
        text = text.replace(f"%{i}", str_args[i - 1])
    severity = str(entry.get("MessageSeverity") or entry.get("Severity") or "OK")
    return {"@odata.type": "#Message.v1_3_0.Message", "MessageId": f"{registry_id(prefix)}.{name}", "Message": text,
            "MessageArgs": str_args, "MessageSeverity": severity, "Resolution": str(entry.get("Resolution", "None."))}


def error_body(key: str, *args: object, detail: str | None = None) -> Body:
    """The Redfish error envelope (DSP0266 §9.6) around one registry message."""
    info = message(key, *args)
    text = info["Message"] if detail is None else f"{info['Message']} ({detail})"
    return {"error": {"code": info["MessageId"], "message": text, "@Message.ExtendedInfo": [info]}}
