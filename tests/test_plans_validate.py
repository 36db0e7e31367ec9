"""`rackval plans validate`: a plan checked with its envelope and profile before any run (issue 12: a limit-name
typo found only when a whole run ends, an envelope for another SKU accepted, an envelope or station file
given to it answered "name: required field is missing")."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from typer.testing import CliRunner

from harness.cli import app

ROOT = Path(__file__).resolve().parent.parent
LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>[0-9]+): (?P<field>[^\s:][^:]*): (?P<message>\S.*)$")
runner = CliRunner()


def _validate(*args: str) -> tuple[int, str, list[re.Match[str]]]:
    result = runner.invoke(app, ["plans", "validate", *args], catch_exceptions=False)
    lines = result.stderr.splitlines()
    matches = [LINE.match(ln) for ln in lines]
    assert all(matches), lines
    return result.exit_code, result.stdout, matches  # type: ignore[return-value]


def _copy(tmp_path: Path, plan: str = "mini_smoke.yaml", envelope: str = "mini.yaml") -> tuple[Path, Path]:
    (tmp_path / "envelopes").mkdir(exist_ok=True)
    env = tmp_path / "envelopes" / envelope
    shutil.copy(ROOT / "test_plans" / "envelopes" / envelope, env)
    dst = tmp_path / plan
    shutil.copy(ROOT / "test_plans" / plan, dst)
    return dst, env


def _line(path: Path, needle: str) -> int:
    return next(i for i, ln in enumerate(path.read_text().splitlines(), 1) if needle in ln)


def test_every_shipped_plan_envelope_and_example_station_is_valid() -> None:
    files = sorted(str(p) for p in [*(ROOT / "test_plans").glob("*.yaml"), *(ROOT / "tests" / "plans").glob("*.yaml"),
                                    *(ROOT / "test_plans" / "envelopes").glob("*.yaml")])
    code, out, errors = _validate(*files)
    assert code == 0 and not errors, out
    assert out.count("OK  ") == len(files)


def test_a_limit_name_typo_is_found_at_its_line_with_the_name_meant(tmp_path: Path) -> None:
    plan, env = _copy(tmp_path)
    env.write_text(env.read_text().replace("  host_on_s:", "  host_on_sec:").replace("  dc_on_s:", "  dc_on_secs:"))
    code, _, errors = _validate(str(plan))
    assert code == 2
    assert [(m["file"], int(m["line"]), m["field"]) for m in errors] == [
        (str(env), _line(env, "host_on_sec:"), "limits.host_on_sec"),
        (str(env), _line(env, "dc_on_secs:"), "limits.dc_on_secs")]  # both, in one run
    assert "no step kind measures a limit named 'host_on_sec'; did you mean 'host_on_s'?" in errors[0]["message"]
    code, out, errors = _validate(str(env))  # the envelope alone says the same
    assert code == 2 and len(errors) == 2 and "did you mean 'dc_on_s'?" in errors[1]["message"], out


def test_an_envelope_for_another_sku_is_refused_at_its_sku_line(tmp_path: Path) -> None:
    plan, env = _copy(tmp_path, envelope="nvl72.yaml")
    plan.write_text(plan.read_text().replace("envelope: envelopes/mini.yaml", "envelope: envelopes/nvl72.yaml"))
    code, _, errors = _validate(str(plan))
    assert code == 2 and len(errors) == 1
    assert (errors[0]["file"], int(errors[0]["line"]), errors[0]["field"]) == (str(env), _line(env, "sku:"), "sku")
    assert errors[0]["message"] == (f"the envelope is for 'nvl72', but plan mini_smoke is written for 'mini' "
                                    f"({plan}:{_line(plan, 'profile: mini')})")


def test_the_plan_profile_and_the_components_steps_name_must_exist(tmp_path: Path) -> None:
    plan, _ = _copy(tmp_path)
    text = plan.read_text()
    plan.write_text(text.replace("profile: mini", "profile: mini2"))
    code, _, errors = _validate(str(plan))
    assert code == 2 and [m["field"] for m in errors] == ["profile"], errors
    assert "unknown profile 'mini2' (known: hgx8_air, mini, nvl72" in errors[0]["message"]
    plan.write_text(text + "  - {kind: psu_redundancy, psu: shelf2.psu1}\n"
                           "  - {kind: group, steps: [{kind: power_cap, limit_w: 900, trays: [compute01, compute07]}]}\n")
    code, _, errors = _validate(str(plan))
    assert code == 2
    assert [(int(m["line"]), m["field"]) for m in errors] == [
        (_line(plan, "shelf2.psu1"), "steps[3].psu"), (_line(plan, "compute07"), "steps[4].steps[0].trays[1]")]
    assert "the mini profile has no PSU 'shelf2.psu1'" in errors[0]["message"]
    assert "the mini profile has no tray 'compute07'" in errors[1]["message"]


def test_a_plan_without_a_profile_is_checked_against_profile(tmp_path: Path) -> None:
    plan, _ = _copy(tmp_path)
    plan.write_text(plan.read_text().replace("profile: mini\n", ""))
    code, out, errors = _validate(str(plan))
    assert code == 0 and "for any SKU" in out
    code, _, errors = _validate(str(plan), "--profile", "nvl72")
    assert code == 2 and [m["field"] for m in errors] == ["sku"], errors
    assert "written for 'nvl72' (--profile)" in errors[0]["message"]


def test_envelopes_station_files_and_profiles_are_recognised(tmp_path: Path) -> None:
    code, out, errors = _validate(str(ROOT / "test_plans" / "envelopes" / "nvl72.yaml"),
                                  str(ROOT / "fixtures" / "profiles" / "nvl72.yaml"))
    assert code == 0 and not errors, out
    assert "envelope nvl72 v1" in out and "rack profile nvl72: 27 trays, 48 PSUs, 4 PDUs" in out
    station = tmp_path / "station.yaml"
    station.write_text("station_id: s\nprofile: mini\nbmcs:\n  - {name: compute01, url: 'https://h', credentials: c}\n"
                       "pdus:\n  - {name: pdu1, host: h, credentials: c, outlets: {60: shelf1.psu1}}\n")
    code, _, errors = _validate(str(station))
    assert code == 2
    messages = " | ".join(m.string for m in errors)
    assert "name: required field is missing" not in messages  # not read as a plan
    assert "pdus[0].outlets[60]: pdu1 has 8 outlets" in messages and "credential set 'c'" in messages, messages
