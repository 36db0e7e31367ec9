"""Bad config files give one line `file:line: field: what is wrong`; good ones load."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config.plan import load_plan
from harness.config.profile import load_profile
from harness.config.station import Credentials, load_station
from harness.errors import ConfigError
from harness.steps import STEP_KINDS

ENVELOPE = """sku: mini
limits:
  rack_ac_power_w: {max: 30000, unit: W}
"""


def write_plan(tmp_path: Path, body: str) -> Path:
    (tmp_path / "env.yaml").write_text(ENVELOPE)
    path = tmp_path / "plan.yaml"
    path.write_text(body)
    return path


def test_the_shipped_plans_load(root: Path) -> None:
    for plan in sorted((root / "test_plans").glob("*.yaml")):
        loaded = load_plan(plan, STEP_KINDS)
        assert loaded.steps and loaded.envelope.limits
        assert len(loaded.plan_sha256) == 64


def test_typo_in_a_step_field_names_file_line_and_field(tmp_path: Path) -> None:
    path = write_plan(tmp_path, """name: p
envelope: env.yaml
steps:
  - kind: ac_cycle
    cycles: 1
  - kind: dc_cycle
    cylces: 2
""")
    with pytest.raises(ConfigError) as e:
        load_plan(path, STEP_KINDS)
    assert str(e.value) == f"{path}:7: steps[1].cylces: unknown field (typo?)"


def test_wrong_type_is_reported_at_its_line(tmp_path: Path) -> None:
    path = write_plan(tmp_path, "name: p\nenvelope: env.yaml\nsteps:\n  - kind: ac_cycle\n    cycles: many\n")
    with pytest.raises(ConfigError) as e:
        load_plan(path, STEP_KINDS)
    assert str(e.value).startswith(f"{path}:5: steps[0].cycles: ")


def test_unknown_step_kind(tmp_path: Path) -> None:
    path = write_plan(tmp_path, "name: p\nenvelope: env.yaml\nsteps:\n  - kind: warp_drive\n")
    with pytest.raises(ConfigError) as e:
        load_plan(path, STEP_KINDS)
    assert f"{path}:4: steps[0]" in str(e.value) and "unknown kind" in str(e.value)


def test_missing_required_field(tmp_path: Path) -> None:
    path = write_plan(tmp_path, "name: p\nsteps:\n  - kind: ac_cycle\n")
    with pytest.raises(ConfigError) as e:
        load_plan(path, STEP_KINDS)
    assert str(e.value) == f"{path}:1: envelope: required field is missing"


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    path = write_plan(tmp_path, "name: p\nenvelope: env.yaml\nsteps: [\n  - kind: ac_cycle\n")
    with pytest.raises(ConfigError) as e:
        load_plan(path, STEP_KINDS)
    assert str(e.value).startswith(f"{path}:") and "YAML syntax" in str(e.value)


def test_bad_envelope_is_reported_in_the_envelope_file(tmp_path: Path) -> None:
    path = write_plan(tmp_path, "name: p\nenvelope: env.yaml\nsteps:\n  - kind: ac_cycle\n")
    (tmp_path / "env.yaml").write_text("sku: mini\nlimits:\n  x: {unit: W}\n")
    with pytest.raises(ConfigError) as e:
        load_plan(path, STEP_KINDS)
    assert str(e.value).startswith(f"{tmp_path / 'env.yaml'}:3: limits.x")


def test_duplicate_step_names_are_refused(tmp_path: Path) -> None:
    path = write_plan(tmp_path, "name: p\nenvelope: env.yaml\nsteps:\n  - kind: ac_cycle\n  - kind: ac_cycle\n")
    with pytest.raises(ConfigError) as e:
        load_plan(path, STEP_KINDS)
    assert ":5: steps[1].name:" in str(e.value)


def test_station_file_errors(tmp_path: Path) -> None:
    path = tmp_path / "station.yaml"
    path.write_text("""station_id: s1
profile: mini
bmcs:
  - {name: t1, url: "ftp://x", credentials: bmc}
""")
    with pytest.raises(ConfigError) as e:
        load_station(path)
    assert str(e.value).startswith(f"{path}:4: bmcs[0].url: ")
    path.write_text("station_id: s1\nprofile: mini\nbmcs:\n  - {name: a, url: 'http://h', credentials: c}\n"
                    "pdus:\n  - {name: a, host: h, credentials: c, outlets: {1: shelf1.psu1}}\n")
    with pytest.raises(ConfigError) as e:
        load_station(path)
    assert "used twice" in str(e.value)


def test_a_missing_credential_names_the_credentials_file_and_the_environment_variable(tmp_path: Path) -> None:
    (tmp_path / "secrets.yaml").write_text("bmc:\n  username: admin\npdu:\n  community: x\n")
    path = tmp_path / "station.yaml"
    path.write_text("station_id: s1\nprofile: mini\ncredentials_file: secrets.yaml\n"
                    "bmcs:\n  - {name: a, url: 'http://h', credentials: bmc}\n")
    creds = Credentials(load_station(path))
    assert creds.get("bmc", "username") == "admin"
    with pytest.raises(ConfigError) as e:
        creds.get("bmc", "password")  # the set is there, the field is not: its line
    assert str(e.value).startswith(f"{tmp_path / 'secrets.yaml'}:1: bmc.password: "), e.value
    assert "RACKVAL_CRED_BMC_PASSWORD" in str(e.value)
    with pytest.raises(ConfigError) as e:
        creds.get("instruments", "token")
    assert str(e.value).startswith(f"{tmp_path / 'secrets.yaml'}: instruments.token: "), e.value


def test_profiles_load_and_wire_every_psu() -> None:
    for name, trays, psus in (("mini", 3, 6), ("nvl72", 27, 48)):
        prof = load_profile(name)
        assert len(prof.tray_names()) == trays
        assert sum(len(p.feeds) for p in prof.pdus) == psus


def test_unknown_profile_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError) as e:
        load_profile("nope")
    assert "mini" in str(e.value) and "nvl72" in str(e.value)
