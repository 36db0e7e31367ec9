"""`rackval schema plan|envelope|station`: JSON Schemas of the files rackval reads, from its pydantic models.

The same schemas ship in ``harness/schemas/`` (a test checks they are current) and the shipped YAML files
name them on their first line (``# yaml-language-server: $schema=...``), so an editor with the YAML language
server completes and checks fields while they are typed. The models are the truth; the schemas add what
the models check in code: step kinds as one discriminated union (a group's children too), limit names a
step kind measures, SNMP vendor maps and instrument models that exist, outlet numbers.
"""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Union

import typer
from pydantic import Field, create_model

from harness.cli.app import app, console
from harness.cli.choices import kind_summary, profile_names
from harness.config.plan import Envelope, Plan
from harness.config.station import Station
from harness.drivers.snmp.vendor_map import available_maps
from harness.drivers.visa.dialect import known_models
from harness.steps import STEP_KINDS

DRAFT = "https://json-schema.org/draft/2020-12/schema"


class FileKind(str, Enum):
    plan = "plan"
    envelope = "envelope"
    station = "station"


@app.command("schema")
def schema(
    kind: Annotated[FileKind, typer.Argument(help="which file's schema")],
    output: Annotated[Path | None, typer.Option("--output", "-o", metavar="FILE",
                                                help="write it here (default: print it)")] = None,
) -> None:
    """Print the JSON Schema of plan, envelope or station files (editors validate YAML with it)."""
    text = render(kind.value)
    if output is None:
        sys.stdout.write(text)
        return
    output.write_text(text, encoding="utf-8")
    console.print(f"wrote {output}", highlight=False)


def render(kind: str) -> str:
    return json.dumps(build(kind), indent=2) + "\n"


def build(kind: str) -> dict[str, Any]:
    body = {"plan": _plan, "envelope": _envelope, "station": _station}[kind]()
    head = {"$schema": DRAFT, "title": f"rackval {kind} file",
            "description": DESCRIPTIONS[kind]}
    return {**head, **{k: v for k, v in body.items() if k not in ("title", "description")}}


DESCRIPTIONS = {
    "plan": "Ordered steps with parameters, the envelope they are judged against and the safe-state policy "
            "(docs/steps.md).",
    "envelope": "Limits as data, each with its source; every limit is one some step kind measures.",
    "station": "What is wired where at one test station: BMCs, PDUs and their outlets, instruments, hosts, "
               "credentials (docs/station.md).",
}


def _plan() -> dict[str, Any]:
    step = Annotated[Union[tuple(k.Params for k in STEP_KINDS)], Field(discriminator="kind")]  # noqa: UP007
    model = create_model("Plan", __base__=Plan, steps=(list[step], Field(min_length=1)))  # type: ignore[call-overload]
    out = model.model_json_schema()
    defs = out["$defs"]
    renames = {key: f"{d['properties']['kind']['const']}_step" for key, d in defs.items()
               if "const" in d.get("properties", {}).get("kind", {})}
    text = json.dumps(out)
    for old, new in renames.items():
        text = text.replace(f'"#/$defs/{old}"', f'"#/$defs/{new}"')
    out = json.loads(text)
    out["$defs"] = {renames.get(k, k): v for k, v in out["$defs"].items()}
    for kind in STEP_KINDS:
        d = out["$defs"][f"{kind.name}_step"]
        d["title"] = kind.name
        d["description"] = kind_summary(kind)
    out["$defs"]["group_step"]["properties"]["steps"]["items"] = out["properties"]["steps"]["items"]
    out["properties"]["profile"]["examples"] = profile_names()
    return out


def _envelope() -> dict[str, Any]:
    out = Envelope.model_json_schema()
    out["properties"]["limits"]["propertyNames"] = {"enum": sorted(STEP_KINDS.known_limits)}
    return out


def _station() -> dict[str, Any]:
    out = Station.model_json_schema()
    del out["properties"]["base_dir"]  # where the file was read from: set by the loader, never written
    out["properties"]["profile"]["examples"] = profile_names()
    defs = out["$defs"]
    defs["PduEndpoint"]["properties"]["vendor"]["enum"] = sorted(available_maps())
    defs["PduEndpoint"]["properties"]["outlets"]["propertyNames"] = {"pattern": "^[1-9][0-9]*$"}
    defs["InstrumentEndpoint"]["properties"]["model"]["enum"] = sorted(m for ms in known_models().values() for m in ms)
    return out
