"""The instrument dialects (harness/drivers/visa/dialects/*.yaml) as data: validated with file:line
errors, one description read by the driver and by the table-driven simulator, and the station file's
model names checked against them."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.clock import VirtualClock
from harness.config.profile import load_profile
from harness.config.station import load_station
from harness.drivers.visa.dialect import DIALECTS_DIR, dialect_for, dialects, known_models, load_dialect_file
from harness.errors import ConfigError
from harness.sim.physics import RackTwin
from harness.sim.visa.device import Wiring
from harness.sim.visa.personalities import LoadPersonality, personality, simulated_models

GOOD = (DIALECTS_DIR / "chroma63600.yaml").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def twin() -> RackTwin:
    t = RackTwin(load_profile("nvl72"), VirtualClock())
    t.start_powered()
    return t


def _write(tmp_path: Path, text: str, name: str = "chroma63600") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), start=1) if needle in line)


def test_every_role_has_a_model_and_every_model_is_simulated() -> None:
    models = known_models()
    assert set(models) == {"eload", "power_analyzer", "daq", "ac_source"} and all(models.values())
    assert sorted(simulated_models()) == sorted((d.role, m) for m, d in dialects().items())
    assert dialect_for("eload", "chroma63600").tokens("mode") == {"CC": ("CCH", "CCM", "CCL"), "CP": ("CPH", "CPM", "CPL")}
    assert dialect_for("eload", "keysight_el30000").tokens("input") == {True: ("1", "ON"), False: ("0", "OFF")}
    with pytest.raises(ValueError, match="no daq dialect 'chroma63600' \\(known: keysight_daq970a\\)"):
        dialect_for("daq", "chroma63600")


@pytest.mark.parametrize("old, new, field, message, needle", [
    ('header: "CURRent:STATic:L#"', 'header: "CURRent::STAT ic"', "commands.current.header", "manual notation",
     "CURRent::STAT ic"),
    ('send: "MODE {}"', 'send: "MODE {} {}"', "commands.mode.send", "at most one", "MODE {} {}"),
    ('format: "{:.4f}"', 'format: "{:.4q}"', "commands.current?.format", "format must format one number", "{:.4q}"),
    ("op: protection}", "}", "commands.protection?", "header and op go together", "protection?:"),
    ('idn: "CHROMA,63600-2,{serial},1.20"', 'idn: "CHROMA 63600"', "idn", "maker,model,{serial},firmware", "idn:"),
    ("role: eload", "role: scope", "role", "Input should be", "role:"),
    ("2: OCP,", "2: OVP,", "bits.protection", "each name once", "protection: {0"),
    ('send: "MEAS:VOLT?"', 'send: "MEAS:VOLT"', "commands.voltage?", "a key ending in '?' names a query", "voltage?:"),
])
def test_a_bad_dialect_is_one_line_with_file_and_line(tmp_path: Path, old: str, new: str, field: str,
                                                      message: str, needle: str) -> None:
    text = GOOD.replace(old, new, 1)
    assert text != GOOD, old
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_dialect_file(path)
    err = info.value
    assert (err.file, err.field) == (str(path), field) and message in err.problem, str(err)
    assert err.line == _line_of(text, needle), str(err)


def test_model_must_be_the_file_name(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD, name="chroma63601")
    with pytest.raises(ConfigError, match="chroma63601.yaml:.*: model: model 'chroma63600' must be the file's name"):
        load_dialect_file(path)


def test_the_simulator_refuses_a_dialect_its_role_cannot_serve(tmp_path: Path, twin: RackTwin) -> None:
    wiring = Wiring(serial="S1")
    cases = [  # (old, new, field, message, the line's text)
        ("op: cc_level, suffix: [1, 2]}", "op: cc_levels, suffix: [1, 2]}", "commands.current.op",
         "the eload role has no op 'cc_levels'", "  current:"),
        ("quantity: W", "quantity: Hz", "commands.measured_power?.quantity", "measures V, A, W, not 'Hz'", "quantity: Hz"),
        ("{CCH: CC, CCM: CC, CCL: CC, CPH: CP, CPM: CP, CPL: CP}", "{CCH: CC, CRH: CR}", "commands.mode.choices",
         "knows the meanings CC, CP", "choices:"),
        ('op: input, words: {true: "ON", false: "OFF"}}', "op: input}", "commands.input?", "needs words", "  input?:"),
    ]
    for old, new, field, message, needle in cases:
        text = GOOD.replace(old, new, 1)
        assert text != GOOD, old
        path = _write(tmp_path, text)
        with pytest.raises(ConfigError) as info:
            LoadPersonality(twin, wiring, load_dialect_file(path))
        err = info.value
        assert (err.file, err.field) == (str(path), field) and message in err.problem, str(err)
        assert err.line == _line_of(text, needle), str(err)


@pytest.mark.parametrize("model", sorted(dialects()))
def test_what_the_driver_sends_is_served_by_its_own_entry(twin: RackTwin, model: str) -> None:
    """A string the driver sends resolves, in the simulator, to the headers of the same command
    entry: the driver and the simulator read one description."""
    dialect = dialects()[model]
    wiring = Wiring(serial="S1", measures="pdu1" if dialect.role == "power_analyzer" else None, channels={101: "air_inlet"})
    device = personality(twin, dialect.role, model, wiring)
    for key, cmd in dialect.commands.items():
        if cmd.send is None or not cmd.header:
            continue
        match = device.tree.lookup(cmd.send.split(None, 1)[0])
        assert match is not None and match.pattern in cmd.header, (key, cmd.send)
    served = {p for cmd in dialect.commands.values() for p in cmd.header}
    for command in [*dialect.setup, *(c for cmds in dialect.actions.values() for c in cmds),
                    *(cmd.send for cmd in dialect.commands.values() if cmd.send and not cmd.header)]:
        match = device.tree.lookup(command.split(None, 1)[0])
        assert match is not None and match.pattern in served, command


def test_station_models_are_checked_against_the_dialects(tmp_path: Path) -> None:
    station = tmp_path / "station.yaml"
    station.write_text("""station_id: s1
profile: mini
instruments:
  - {name: eload, role: eload, model: keysight_el30000, resource: "TCPIP::10.0.0.21::5025::SOCKET"}
  - {name: pa, role: power_analyzer, model: chroma63600, resource: "TCPIP::10.0.0.31::5025::SOCKET"}
""", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_station(station)
    assert info.value.line == 5 and info.value.field == "instruments[1].model"
    assert "no power_analyzer driver dialect 'chroma63600' (known: chroma66205, yokogawa_wt5000)" in info.value.problem
