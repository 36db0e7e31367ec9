"""What a technician or partner finds without reading the code (issue 12): typed help listing the choices,
--version, shell completion, `rackval list`, JSON Schemas that are current and named by the shipped YAML
files, and docs/station.md describing every station field."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pydantic import BaseModel
from ruamel.yaml import YAML
from typer.testing import CliRunner

import harness
from harness.cli import app
from harness.cli.choices import fault_names, profile_names
from harness.cli.schema import render
from harness.config.station import Station
from harness.config.station_check import station_problems
from harness.drivers.snmp.vendor_map import available_maps
from harness.drivers.visa.dialect import known_models
from harness.paths import schema_file
from harness.steps import STEP_KINDS

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "harness.cli"]
KINDS = ("plan", "envelope", "station")
runner = CliRunner()


def _rackval(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
                          env={**os.environ, "COLUMNS": "200", **(env or {})}, check=False)


def _help(*args: str) -> str:
    result = runner.invoke(app, [*args, "--help"], env={"COLUMNS": "200"}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_version() -> None:
    out = _rackval("--version")
    assert (out.returncode, out.stdout, out.stderr) == (0, f"rackval {harness.__version__}\n", "")


def test_help_lists_the_choices_and_flags_take_no_value() -> None:
    top = _help()
    for command in ("station", "list", "schema", "--version", "--install-completion", "--show-completion"):
        assert command in top, top
    plans = _help("plans", "validate")
    assert "SKU" in plans and all(name in plans for name in profile_names()), plans
    listing = _help("list", "steps")
    assert "--names" in listing and "<bool>" not in listing, listing
    schema = _help("schema")
    assert "plan|envelope|station" in schema, schema
    station = _help("station", "validate")
    assert "FILE..." in station and "--rack" in station and "<str>" not in station, station
    for command in [(), ("run",), ("sim",), ("plans", "validate"), ("list", "faults"), ("results", "list")]:
        text = _help(*command)
        assert "<bool>" not in text, text  # a flag takes no value (typer would show --sim <bool>)
    assert re.search(r"--sim\s+run on an in-process", _help("run")), _help("run")


@pytest.mark.parametrize(("words", "expected"), [
    ("rackval list ", {"steps", "faults", "profiles"}),
    ("rackval schema ", set(KINDS)),
    ("rackval plans validate --profile ", set(profile_names())),
    ("rackval plans validate --profile n", {"nvl72"}),
    ("rackval sim --profile ", set(profile_names())),
])
def test_shell_completion_offers_the_choices(words: str, expected: set[str]) -> None:
    """What bash's completion script asks rackval for when Tab is pressed."""
    cword = len(words.split()) - (0 if words.endswith(" ") else 1)
    out = _rackval(env={"_RACKVAL_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword)})
    assert out.returncode == 0, out
    assert set(out.stdout.split()) == expected, out.stdout


def test_the_completion_script_can_be_shown_for_bash() -> None:
    out = _rackval("--show-completion", "bash")
    assert out.returncode == 0 and "_RACKVAL_COMPLETE=complete_bash" in out.stdout, out


def test_list_names_what_plans_and_options_may_use() -> None:
    assert _rackval("list", "steps", "--names").stdout.split() == STEP_KINDS.names()
    assert _rackval("list", "faults", "--names").stdout.split() == fault_names()
    assert fault_names() == sorted(p.stem for p in (ROOT / "fixtures" / "faults").glob("*.yaml"))
    assert _rackval("list", "profiles", "--names").stdout.split() == ["hgx8_air", "mini", "nvl72"]
    table = _rackval("list", "steps").stdout
    assert re.search(r"ac_cycle\s+.*bmc_ready_s, host_on_s, inrush_peak_a\s+.*remove and restore AC", table), table
    faults = _rackval("list", "faults").stdout
    assert re.search(r"psu_failure\s+.*mini\s+.*load_sweep", faults), faults


# -------------------------------------------------------------------------------- JSON Schemas
@pytest.mark.parametrize("kind", KINDS)
def test_the_shipped_schemas_are_current(kind: str) -> None:
    """harness/schemas/*.json are what `rackval schema` generates from the models today (regenerate with
    `rackval schema KIND -o harness/schemas/KIND.schema.json`)."""
    assert schema_file(kind).read_text(encoding="utf-8") == render(kind), f"regenerate {schema_file(kind)}"
    out = _rackval("schema", kind)
    assert out.returncode == 0 and out.stdout == render(kind)
    jsonschema.Draft202012Validator.check_schema(json.loads(out.stdout))


def _yaml_files() -> list[tuple[Path, str]]:
    plans = [*(ROOT / "test_plans").glob("*.yaml"), *(ROOT / "tests" / "plans").glob("*.yaml")]
    envelopes = [*(ROOT / "test_plans" / "envelopes").glob("*.yaml"), *(ROOT / "tests" / "plans" / "envelopes").glob("*.yaml")]
    stations = [p for p in (ROOT / "stations").glob("*.yaml") if not p.name.endswith(".secrets.yaml")]
    return [(p, "plan") for p in plans] + [(p, "envelope") for p in envelopes] + [(p, "station") for p in stations]


def _as_json(path: Path) -> Any:
    """What the YAML language server checks: the document as JSON (keys as strings, dates as text)."""
    return json.loads(json.dumps(YAML(typ="safe").load(path.read_text(encoding="utf-8")), default=str))


@pytest.mark.parametrize(("path", "kind"), _yaml_files(), ids=lambda v: v.name if isinstance(v, Path) else v)
def test_shipped_yaml_names_its_schema_and_conforms(path: Path, kind: str) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    match = re.fullmatch(r"# yaml-language-server: \$schema=(\S+)", first)
    assert match, f"{path}: first line must name its schema, not {first!r}"
    assert (path.parent / match[1]).resolve() == schema_file(kind).resolve()
    jsonschema.validate(_as_json(path), json.loads(schema_file(kind).read_text()))


def test_the_schemas_catch_what_the_models_check_in_code() -> None:
    envelope = json.loads(schema_file("envelope").read_text())
    data = _as_json(ROOT / "test_plans" / "envelopes" / "mini.yaml")
    data["limits"]["host_on_sec"] = data["limits"].pop("host_on_s")
    with pytest.raises(jsonschema.ValidationError, match="host_on_sec"):
        jsonschema.validate(data, envelope)
    plan = json.loads(schema_file("plan").read_text())
    data = _as_json(ROOT / "test_plans" / "mini_smoke.yaml")
    data["steps"].append({"kind": "group", "steps": [{"kind": "ac_cycle", "cycels": 2}]})  # a typo in a child
    with pytest.raises(jsonschema.ValidationError, match="cycels"):
        jsonschema.validate(data, plan)
    station = json.loads(schema_file("station").read_text())
    data = _as_json(ROOT / "stations" / "line3.yaml")
    data["pdus"][0]["vendor"] = "apc_rpdu9"
    with pytest.raises(jsonschema.ValidationError, match="apc_rpdu9"):
        jsonschema.validate(data, station)


def test_a_simulated_station_file_names_the_schema_and_conforms(tmp_path: Path) -> None:
    from harness.clock import RealClock
    from harness.config.profile import load_profile
    from harness.sim.station import SimStation

    sim = SimStation(load_profile("mini"), clock=RealClock(speed=20.0))
    sim.start()
    try:
        path = tmp_path / "station.yaml"
        sim.write_station_file(path)
    finally:
        sim.stop()
    first = path.read_text().splitlines()[0]
    assert first == f"# yaml-language-server: $schema={schema_file('station').as_uri()}"
    jsonschema.validate(_as_json(path), json.loads(schema_file("station").read_text()))
    assert station_problems(path) == []


# -------------------------------------------------------------------------------- docs/station.md
def _fields(model: type[BaseModel], seen: set[type[BaseModel]] | None = None) -> set[str]:
    """Every field name of a model and of the models it contains."""
    seen = seen if seen is not None else set()
    seen.add(model)
    out = set()
    for name, info in model.model_fields.items():
        if info.exclude:
            continue
        out.add(name)
        for sub in _models_in(info.annotation):
            if sub not in seen:
                out |= _fields(sub, seen)
    return out


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in getattr(annotation, "__args__", ()) for m in _models_in(arg)]


def test_docs_station_md_describes_every_field_and_every_choice() -> None:
    doc = (ROOT / "docs" / "station.md").read_text(encoding="utf-8")
    fields = _fields(Station)
    assert {"station_id", "outlets", "ca_file", "host_key", "snmp_retries", "calibration_due", "serial"} <= fields
    missing = sorted(f for f in fields if f"| `{f}` |" not in doc)
    assert not missing, f"docs/station.md has no table row for: {missing}"
    roles = Station.model_fields["bmcs"].annotation.__args__[0].model_fields["role"].annotation.__args__
    choices = [*roles, *available_maps(), *(m for ms in known_models().values() for m in ms), *known_models()]
    assert not [c for c in choices if f"`{c}`" not in doc], "docs/station.md must name every role, vendor and model"
    for example in ("line3.yaml", "line3.secrets.yaml", "line5.yaml"):  # the examples, verbatim
        assert f"```yaml\n{(ROOT / 'stations' / example).read_text(encoding='utf-8')}```" in doc, example


def test_a_station_written_from_the_docs_example_validates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A partner copies the doc's example blocks into files: they validate as they are."""
    for name in [k for k in os.environ if k.startswith("RACKVAL_CRED_")]:
        monkeypatch.delenv(name)
    blocks = re.findall(r"```yaml\n(.*?)```", (ROOT / "docs" / "station.md").read_text(encoding="utf-8"), re.DOTALL)
    (tmp_path / "line3.secrets.yaml").write_text(next(b for b in blocks if b.startswith("# Credential sets")))
    for i, block in enumerate(b for b in blocks if "station_id:" in b):
        path = tmp_path / f"station{i}.yaml"
        path.write_text(block, encoding="utf-8")
        assert [str(p) for p in station_problems(path, today=date(2026, 1, 1))] == [], block[:200]


def test_run_help_lists_exit_codes_faults_and_profiles() -> None:
    text = " ".join(_help("run").split())
    assert "Exit codes:" in text and all(f"{code} " in text for code in range(4)), text
    assert all(name in text for name in fault_names()) and all(name in text for name in profile_names()), text
    assert "--store URL" in text and "--station FILE" in text and "<bool>" not in text, text


def test_run_lists_every_station_mistake_before_asking_anything(tmp_path: Path) -> None:
    station = tmp_path / "station.yaml"
    station.write_text("station_id: s\nprofile: mini\nbmcs:\n  - {name: compute09, url: 'https://h', credentials: c}\n"
                       "pdus:\n  - {name: pdu1, host: h, credentials: c, outlets: {60: shelf1.psu1}}\n")
    out = _rackval("run", str(ROOT / "test_plans" / "mini_smoke.yaml"), "--station", str(station))
    assert out.returncode == 2 and "operator id" not in out.stderr, out
    lines = out.stderr.splitlines()
    assert len(lines) >= 3 and all(ln.startswith(f"{station}:") for ln in lines), lines
