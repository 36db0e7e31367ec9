"""The rack profile is topology only; the simulator's physics is its own file, found by SKU.

A bad physics file is one ``file:line: field: problem`` line like every other config file; a profile
with no physics in it (as ``rackval discover`` will write) loads and runs on the simulator."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from harness.clock import VirtualClock
from harness.config.plan import load_plan
from harness.config.profile import load_profile
from harness.errors import ConfigError
from harness.paths import fixtures_dir
from harness.run.options import RunOptions
from harness.run.session import RunSession
from harness.sim.physics import RackTwin, load_physics, physics_for
from harness.sim.physics.params import DEFAULT_TRAYS, Physics, physics_path
from harness.sim.station import SimStation
from harness.sim.station_file import write_secrets
from harness.steps import STEP_KINDS

ROOT = Path(__file__).resolve().parent.parent
SKUS = sorted(p.stem for p in (fixtures_dir() / "profiles").glob("*.yaml"))

MINI_TOPOLOGY = """\
sku: mini
trays:
  - {name: "compute{n:02d}", count: 2, kind: compute, gpus: 4}
  - {name: "switch{n:02d}", count: 1, kind: switch}
shelves:
  - {name: shelf1, psus: 6}
pdus:
  - name: pdu1
    outlets: 8
    feeds: {1: shelf1.psu1, 2: shelf1.psu2, 3: shelf1.psu3, 4: shelf1.psu4, 5: shelf1.psu5, 6: shelf1.psu6}
instruments:
  eload: {role: eload, model: chroma63600, max_current_a: 400}
  analyzer: {role: power_analyzer, model: yokogawa_wt5000, measures: pdu1}
cdu: {name: cdu1}
"""


def physics_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "physics.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("sku", SKUS)
def test_every_shipped_sku_has_physics_that_fits_its_profile(sku: str) -> None:
    profile = load_profile(sku)
    assert physics_path(sku).is_file()
    physics = physics_for(profile)
    assert physics.sku == sku
    assert set(physics.trays) == {g.name for g in profile.trays}, "every tray group has its own numbers"


def test_physics_fields_in_a_profile_are_refused_with_their_line(tmp_path: Path) -> None:
    path = tmp_path / "old.yaml"
    path.write_text(MINI_TOPOLOGY.replace("kind: switch}", "kind: switch, idle_w: 250}"))
    with pytest.raises(ConfigError) as e:
        load_profile(str(path))
    assert str(e.value) == f"{path}:4: trays[1].idle_w: unknown field (typo?)"


@pytest.mark.parametrize(("text", "expected"), [
    ('sku: mini\ntrays:\n  "compute{n:02d}": {idle_w: 1200, max_w: -5}\n',
     ":3: trays.compute{n:02d}.max_w: Input should be greater than 0"),
    ("sku: mini\nbusbar: {nominal_v: 50, droop: 0.5}\n", ":2: busbar.droop: unknown field (typo?)"),
    ("sku: mini\ntiming:\n  bmc_boot_s: [60, slow]\n",
     ":3: timing.bmc_boot_s[1]: Input should be a valid number, unable to parse string as a number"),
    ("sku: mini\nshelves:\n  shelf1: {psu_rated_w: 5500}\n  shelf9: {psu_rated_w: 3300}\n",
     ":4: shelves.shelf9: the profile has no shelf group 'shelf9' (it has: shelf1)"),
    ("sku: mini\npdus:\n  pdu1:\n    branches:\n      - {name: B1, outlets: [1, 9], rating_a: 63}\n",
     ":5: pdus.pdu1.branches[0].outlets: outlet 9 is outside 1..8"),
    ("sku: nvl72\n", ":1: sku: physics for 'nvl72', but the profile is 'mini'"),
])
def test_a_bad_physics_file_is_one_line_with_file_line_and_field(tmp_path: Path, text: str, expected: str) -> None:
    path = physics_file(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load_physics(path, load_profile("mini"))
    assert str(e.value) == f"{path}{expected}"


def test_a_cdu_for_a_rack_without_one_is_refused(tmp_path: Path) -> None:
    path = physics_file(tmp_path, "sku: hgx8_air\ncdu: {pumps: 3}\n")
    with pytest.raises(ConfigError) as e:
        load_physics(path, load_profile("hgx8_air"))
    assert str(e.value) == f"{path}:2: cdu: the profile has no CDU"


def test_physics_given_in_code_must_fit_the_profile() -> None:
    with pytest.raises(ValueError, match="trays.gpu: the profile has no tray group 'gpu'"):
        RackTwin(load_profile("mini"), VirtualClock(),
                 physics=Physics(sku="mini", trays={"gpu": DEFAULT_TRAYS["compute"]}))


def test_a_topology_only_profile_file_runs_on_the_simulator_with_its_skus_physics(tmp_path: Path) -> None:
    custom = tmp_path / "partner_mini.yaml"
    custom.write_text(MINI_TOPOLOGY)
    session = RunSession(load_plan(ROOT / "test_plans" / "mini_smoke.yaml", STEP_KINDS),
                         RunOptions(sim=True, seed=7, rack_serial="SIM-0001", operator="ci", out_dir=tmp_path / "run",
                                    store_url=f"sqlite:///{tmp_path}/r.db", profile=str(custom), yes=True))
    try:
        session.open()
        assert session.sim is not None
        assert session.sim.twin.physics == physics_for(load_profile("mini"))
        assert session.sim.twin.pdu_specs["pdu1"].branches, "the breakers come from fixtures/physics/mini.yaml"
        for i in range(len(session.step_names)):
            session.run_step(i)
    finally:
        result = session.finish()
    assert result.verdict == "PASS", [(s.name, s.verdict, s.message) for s in result.steps]


def test_a_sku_without_physics_gets_the_documented_defaults(tmp_path: Path) -> None:
    custom = tmp_path / "partner.yaml"
    custom.write_text(MINI_TOPOLOGY.replace("sku: mini", "sku: partner_x"))
    clock = VirtualClock()
    sim = SimStation(load_profile(str(custom)), clock=clock, tls=False)
    twin = sim.twin
    assert twin.physics == Physics(sku="partner_x")
    assert twin.trays["compute01"].spec.max_w == DEFAULT_TRAYS["compute"].max_w
    assert twin.trays["switch01"].spec.idle_w == DEFAULT_TRAYS["switch"].idle_w
    twin.set_utilization("compute01", 1.0)
    assert twin.tray_power_w("compute01") == pytest.approx(DEFAULT_TRAYS["compute"].max_w, rel=0.02)
    assert twin.pdu_specs["pdu1"].branches == [], "no breakers unless the physics declares them"


def test_the_secrets_file_is_owner_only_even_when_it_was_there_before(tmp_path: Path) -> None:
    path = tmp_path / "station.secrets.yaml"
    path.write_text("old: {}\n")
    path.chmod(0o644)
    write_secrets(path, {"bmc": {"username": "u", "password": "p"}})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == "bmc:\n  username: u\n  password: p\n"
