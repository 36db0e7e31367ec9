"""`rackval station validate`: every mistake of a station file in one run, and the same check refusing a run
before anything is switched (issue 12: outlet 60 on a 12-outlet PDU, two outlets feeding one PSU, an outlet
feeding a PSU the profile lacks, an unknown vendor, a missing credential).
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from harness.clock import RealClock
from harness.config.plan import load_plan
from harness.config.profile import load_profile
from harness.config.station_check import station_problems
from harness.errors import ConfigErrors
from harness.run.options import RunOptions
from harness.run.session import RunSession
from harness.sim.station import SimStation
from harness.steps import STEP_KINDS

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "harness.cli"]
LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>[0-9]+): (?P<field>[^\s:][^:]*): (?P<message>\S.*)$")
SMOKE = ROOT / "test_plans" / "mini_smoke.yaml"

SECRETS = """bmc:
  username: admin
pdu:
  user: rackval
  auth_protocol: SHA256
  auth_key: authkey-123
  priv_protocol: AES
  priv_key: privkey-123
"""


def _pdu(n: int, name: str, shelves: tuple[int, int], vendor: str = "apc_rpdu2",
         override: dict[int, str] | None = None) -> str:
    """One nvl72 PDU entry (12 outlets: 6 PSUs of each of two shelves), one outlet a line."""
    feeds = {i + 1: f"shelf{shelves[i // 6]}.psu{i % 6 + 1}" for i in range(12)}
    for k, v in (override or {}).items():
        if v == "":
            del feeds[k]
        else:
            feeds[k] = v
    lines = "".join(f"      {k}: {v}\n" for k, v in feeds.items())
    return f"  - name: {name}\n    host: 10.0.0.2{n}\n    vendor: {vendor}\n    credentials: pdu\n    outlets:\n{lines}"


def _nvl72_station(tmp_path: Path, pdus: str, secrets: str = SECRETS) -> Path:
    (tmp_path / "secrets.yaml").write_text(secrets, encoding="utf-8")
    path = tmp_path / "station.yaml"
    path.write_text("station_id: line1\nprofile: nvl72\ncredentials_file: secrets.yaml\nbmcs:\n"
                    "  - {name: compute01, url: 'https://10.0.0.11', credentials: bmc}\n"
                    "  - {name: switch01, url: 'https://10.0.0.12', role: switch_tray, credentials: bmc}\n"
                    "pdus:\n" + pdus, encoding="utf-8")
    return path


def _line(path: Path, needle: str) -> int:
    return next(i for i, ln in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if needle in ln)


def _errors(stderr: str, path: Path) -> list[tuple[int, str, str]]:
    """(line, field, message) of each stderr line, each checked to be file:line: field: message of ``path``."""
    out = []
    for text in stderr.splitlines():
        match = LINE.match(text)
        assert match, text
        assert match["file"] == str(path), text
        out.append((int(match["line"]), match["field"], match["message"]))
    return out


def test_one_run_lists_every_mistake_of_the_issue(tmp_path: Path) -> None:
    pdus = (_pdu(1, "pdu1", (1, 2), override={12: "", 60: "shelf2.psu6"})  # outlet 60 on a 12-outlet PDU
            + _pdu(2, "pdu2", (3, 4), override={8: "shelf4.psu1"})         # outlets 7 and 8 feed shelf4.psu1
            + _pdu(3, "pdu3", (5, 6), vendor="apc_rpdu9",                  # an unknown vendor map
                   override={12: "shelf9.psu6"})                           # a PSU the profile does not have
            + _pdu(4, "pdu4", (7, 8)))
    path = _nvl72_station(tmp_path, pdus, secrets=SECRETS.replace("  username: admin\n", "  username: admin\n"
                                                                  "  # no password\n"))
    out = subprocess.run([*CLI, "station", "validate", str(path)], capture_output=True, text=True, timeout=120,
                         cwd=tmp_path, stdin=subprocess.DEVNULL, check=False)
    assert out.returncode == 2, out
    assert "Traceback" not in out.stderr and out.stdout == "", out
    got = {(line, field): message for line, field, message in _errors(out.stderr, path)}
    want = {
        (_line(path, "name: compute01"), "bmcs[0].credentials"): "credential set 'bmc' has no password",
        (_line(path, "60: shelf2.psu6"), "pdus[0].outlets[60]"): "pdu1 has 12 outlets (1..12, nvl72 profile): "
                                                                 "there is no outlet 60",
        (_line(path, "outlets:"), "pdus[0].outlets"): "no outlet feeds shelf2.psu6 (pdu1 outlet 12)",
        (_line(path, "8: shelf4.psu1"), "pdus[1].outlets[8]"): "feeds shelf4.psu1, which pdu2 outlet 7 also feeds",
        (_line(path, "vendor: apc_rpdu9"), "pdus[2].vendor"): "unknown SNMP vendor map 'apc_rpdu9'",
        (_line(path, "12: shelf9.psu6"), "pdus[2].outlets[12]"): "feeds 'shelf9.psu6', a PSU the nvl72 profile "
                                                                 "does not have",
    }
    pdu2_outlets = [i for i, ln in enumerate(path.read_text().splitlines(), 1) if ln.strip() == "outlets:"][1]
    pdu3_outlets = [i for i, ln in enumerate(path.read_text().splitlines(), 1) if ln.strip() == "outlets:"][2]
    want[(pdu2_outlets, "pdus[1].outlets")] = "no outlet feeds shelf4.psu2 (pdu2 outlet 8)"
    want[(pdu3_outlets, "pdus[2].outlets")] = "no outlet feeds shelf6.psu6 (pdu3 outlet 12)"
    assert set(got) == set(want), out.stderr  # every mistake, and nothing else
    for key, words in want.items():
        assert words in got[key], (key, got[key])
    assert "RACKVAL_CRED_BMC_PASSWORD" in got[(_line(path, "name: compute01"), "bmcs[0].credentials")]
    lines = [k[0] for k in got]
    assert lines == sorted(lines)  # in the order of the file


def test_a_valid_station_passes_and_says_what_it_declares(tmp_path: Path) -> None:
    path = _nvl72_station(tmp_path, "".join(_pdu(i, f"pdu{i}", (2 * i - 1, 2 * i)) for i in range(1, 5)),
                          secrets=SECRETS.replace("  username: admin\n", "  username: admin\n  password: pw\n"))
    out = subprocess.run([*CLI, "station", "validate", str(path)], capture_output=True, text=True, timeout=120,
                         cwd=tmp_path, stdin=subprocess.DEVNULL, check=False)
    assert (out.returncode, out.stderr) == (0, ""), out
    assert out.stdout.startswith(f"OK  {path}: station line1, profile nvl72, 2 BMCs, 4 PDUs (48 outlets)"), out.stdout


def test_credentials_from_the_environment_and_what_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "station.yaml"
    path.write_text("station_id: s\nprofile: mini\nbmcs:\n  - {name: compute01, url: 'https://h', credentials: bmc}\n"
                    "  - {name: compute02, url: 'https://h2', credentials: bmc}\n"
                    "pdus:\n  - {name: pdu1, host: h, snmp_version: '2c', credentials: pdu-ro, outlets: "
                    "{1: shelf1.psu1, 2: shelf1.psu2, 3: shelf1.psu3, 4: shelf1.psu4, 5: shelf1.psu5, 6: shelf1.psu6}}\n",
                    encoding="utf-8")
    for name in [k for k in os.environ if k.startswith("RACKVAL_CRED_")]:
        monkeypatch.delenv(name)
    problems = [str(p) for p in station_problems(path)]
    assert problems == [  # one line per credential set, where it is first named
        (f"{path}:4: bmcs[0].credentials: credential set 'bmc' has no username, password: the station names no "
         "credentials_file and the environment has no RACKVAL_CRED_BMC_USERNAME, RACKVAL_CRED_BMC_PASSWORD"),
        (f"{path}:7: pdus[0].credentials: credential set 'pdu-ro' has no community: the station names no "
         "credentials_file and the environment has no RACKVAL_CRED_PDU_RO_COMMUNITY")], problems
    monkeypatch.setenv("RACKVAL_CRED_BMC_USERNAME", "u")
    monkeypatch.setenv("RACKVAL_CRED_BMC_PASSWORD", "p")
    monkeypatch.setenv("RACKVAL_CRED_PDU_RO_COMMUNITY", "public")
    assert station_problems(path) == []


def test_snmp_v3_sets_the_driver_refuses_ca_files_and_the_credentials_file(tmp_path: Path) -> None:
    (tmp_path / "not-a-ca.pem").write_text("hello\n")
    path = _nvl72_station(tmp_path, "".join(_pdu(i, f"pdu{i}", (2 * i - 1, 2 * i)) for i in range(1, 5)),
                          secrets=SECRETS.replace("SHA256", "MD5").replace("  username: admin\n",
                                                                           "  username: admin\n  password: pw\n"))
    text = path.read_text().replace("credentials: bmc}", "credentials: bmc, ca_file: missing-ca.pem}")
    text = text.replace("role: switch_tray, credentials: bmc, ca_file: missing-ca.pem}",
                        "role: switch_tray, credentials: bmc, ca_file: not-a-ca.pem}")
    path.write_text(text)
    problems = [(p.field, p.problem) for p in station_problems(path)]
    assert [f for f, _ in problems] == ["bmcs[0].ca_file", "bmcs[1].ca_file", "pdus[0].credentials"], problems
    assert "no such file" in problems[0][1] and "no PEM certificate" in problems[1][1]
    assert "auth_protocol must be one of" in problems[2][1] and "MD5" in problems[2][1], problems
    path.write_text(text.replace("credentials_file: secrets.yaml", "credentials_file: gone.yaml"))
    problems = [str(p) for p in station_problems(path)]
    assert f"{path}:3: credentials_file: no such file: {tmp_path / 'gone.yaml'}" in problems, problems
    assert any("credential set 'bmc' is not in gone.yaml" in p for p in problems), problems


def test_trays_roles_and_calibration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "station.yaml"
    path.write_text("station_id: s\nprofile: mini\nbmcs:\n"
                    "  - {name: compute09, url: 'https://h1', credentials: c}\n"
                    "  - {name: switch01, url: 'https://h2', credentials: c}\n"
                    "  - {name: rm1, url: 'https://h3', role: rack_manager, credentials: c}\n"
                    "  - {name: rm2, url: 'https://h4', role: rack_manager, credentials: c}\n"
                    "instruments:\n"
                    "  - {name: eload, role: eload, model: chroma63600, resource: 'TCPIP::h::5025::SOCKET', "
                    "calibration_due: 2026-05-31}\n"
                    "  - {name: pa, role: power_analyzer, model: yokogawa_wt5000, resource: 'TCPIP::h::INSTR'}\n"
                    "  - {name: sim, role: daq, model: keysight_daq970a, resource: 'TCPIP::h::INSTR', simulated: true}\n"
                    "hosts:\n  - {name: server01, host: h, credentials: c, host_key: 'ssh-ed25519 AAAA'}\n",
                    encoding="utf-8")
    monkeypatch.setenv("RACKVAL_CRED_C_USERNAME", "u")
    monkeypatch.setenv("RACKVAL_CRED_C_PASSWORD", "p")
    problems = [(p.line, p.field, p.problem) for p in station_problems(path, today=date(2026, 6, 1))]
    assert problems == [
        (4, "bmcs[0].name", "the mini profile has no tray 'compute09' (its trays: compute01, compute02, switch01)"),
        (5, "bmcs[1].role", "switch01 is a switch tray in the mini profile: role switch_tray"),
        (7, "bmcs[3].role", "a rack has one rack manager, and rm1 is already it"),
        (9, "instruments[0].calibration_due", ("eload: calibration expired on 2026-05-31 (only simulated: true "
                                               "instruments are exempt)")),
        (10, "instruments[1].calibration_due", ("pa: no calibration_due date in the station file (only simulated: "
                                                "true instruments are exempt)")),
        (13, "hosts[0].name", ("the mini profile has no tray 'server01' for this host (its trays: compute01, "
                               "compute02, switch01)")),
    ], problems


def test_a_multi_rack_station_names_the_rack_and_checks_one_with_rack(tmp_path: Path) -> None:
    text = (ROOT / "stations" / "line5.yaml").read_text(encoding="utf-8")
    path = tmp_path / "line5.yaml"
    (tmp_path / "line3.secrets.yaml").write_bytes((ROOT / "stations" / "line3.secrets.yaml").read_bytes())
    bad = text.replace("5: shelf1.psu5, 6: shelf1.psu6}}\n    instruments:", "5: shelf1.psu5, 9: shelf1.psu6}}\n"
                       "    instruments:")
    assert bad != text
    path.write_text(bad, encoding="utf-8")
    today = date(2026, 1, 1)
    problems = [(p.field, p.problem) for p in station_problems(path, today=today)]
    assert [f for f, _ in problems] == ["racks[1].pdus[0].outlets[9]", "racks[1].pdus[0].outlets"], problems
    assert "there is no outlet 9" in problems[0][1]
    assert station_problems(path, rack="rackA", today=today) == []  # the other rack's mistake is not rackA's
    assert len(station_problems(path, rack="rackB", today=today)) == 2
    assert [(p.field, p.problem) for p in station_problems(path, rack="rackC", today=today)] == [
        ("racks", "--rack rackC: no rack 'rackC' in the station (rackA, rackB)")]


def test_the_shipped_example_stations_validate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [k for k in os.environ if k.startswith("RACKVAL_CRED_")]:
        monkeypatch.delenv(name)
    for example in ("line3.yaml", "line5.yaml"):
        assert station_problems(ROOT / "stations" / example, today=date(2026, 1, 1)) == [], example


# -------------------------------------------------------------------------------- the run refuses
@pytest.fixture
def sim_station(tmp_path: Path) -> Iterator[tuple[SimStation, Path]]:
    """A simulated mini station (its own simulators, real protocols) and the station file it wrote."""
    sim = SimStation(load_profile("mini"), clock=RealClock(speed=20.0))
    sim.start()
    try:
        path = tmp_path / "station.yaml"
        sim.write_station_file(path)
        yield sim, path
    finally:
        sim.stop()


def _break(path: Path) -> Path:
    """The issue's mistakes a station file can carry past its schema: outlet 60 on the 8-outlet PDU, two
    outlets feeding one PSU, an outlet feeding a PSU the profile lacks, a credential set that does not exist."""
    text = path.read_text(encoding="utf-8")
    for old, new in [("'2': shelf1.psu2\n", "'2': shelf1.psu1\n"),
                     ("'6': shelf1.psu6\n", "'60': shelf1.psu6\n    '7': shelf9.psu1\n"),
                     ("credentials: bmc\n", "credentials: bmc-admin\n")]:
        assert old in text, old
        text = text.replace(old, new, 1)
    bad = path.with_name("bad.yaml")
    bad.write_text(text, encoding="utf-8")
    return bad


def _untouched(sim: SimStation) -> None:
    agent = sim.agents[0]
    assert agent.requests["set"] == 0 and agent.requests["get"] == 0, agent.requests  # not one SNMP request
    assert all(sim.twin.outlet_is_on("pdu1", n) for n in range(1, 7))


def test_rackval_run_refuses_such_a_station_before_any_power_action(sim_station: tuple[SimStation, Path],
                                                                    tmp_path: Path) -> None:
    sim, path = sim_station
    bad = _break(path)
    assert station_problems(path) == []  # the file as the simulator wrote it is fine
    out = subprocess.run([*CLI, "run", str(SMOKE), "--station", str(bad), "--rack-serial", "SIM-0001", "--yes",
                          "--operator", "ci", "--out", str(tmp_path / "run"), "--store", f"sqlite:///{tmp_path}/r.db"],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path, stdin=subprocess.DEVNULL,
                         check=False)
    assert out.returncode == 2, out
    errors = _errors(out.stderr, bad)
    fields = [field for _, field, _ in errors]
    for field in ("bmcs[0].credentials", "pdus[0].outlets.60", "pdus[0].outlets.2", "pdus[0].outlets.7",
                  "pdus[0].outlets"):
        assert field in fields, out.stderr
    _untouched(sim)
    assert not (tmp_path / "run").exists()  # refused before the run directory was made


def test_the_run_session_refuses_it_before_connecting(sim_station: tuple[SimStation, Path], tmp_path: Path) -> None:
    """The same refusal through the path `pytest PLAN --station FILE` takes (RunSession.open)."""
    sim, path = sim_station
    options = RunOptions(station_path=_break(path), rack_serial="SIM-0001", yes=True, out_dir=tmp_path / "run",
                         store_url=f"sqlite:///{tmp_path}/r.db")
    session = RunSession(load_plan(SMOKE, STEP_KINDS), options)
    try:
        with pytest.raises(ConfigErrors) as info:
            session.open()
    finally:
        session.finish()  # what the pytest plugin does after a refused open: nothing to make safe
    assert len(info.value.errors) == 5 and session.rack is None and not (tmp_path / "run").exists()
    assert session.bad_input == str(info.value) and len(session.bad_input.splitlines()) == 5
    _untouched(sim)


def test_in_a_terminal_every_mistake_is_one_whole_line(tmp_path: Path) -> None:
    """As a technician sees it: a pseudo-terminal 80 columns wide, the messages much longer."""
    pdus = _pdu(1, "pdu1", (1, 2), override={60: "shelf2.psu6"}) + _pdu(2, "pdu2", (3, 4), vendor="nope")
    path = _nvl72_station(tmp_path, pdus)
    primary, secondary = pty.openpty()
    env = {**os.environ, "COLUMNS": "80", "LINES": "24", "TERM": "xterm"}
    proc = subprocess.Popen([*CLI, "station", "validate", str(path)], stdin=secondary, stdout=secondary,
                            stderr=secondary, cwd=tmp_path, env=env, close_fds=True)
    os.close(secondary)
    chunks = []
    try:
        while True:
            ready, _, _ = select.select([primary], [], [], 120)
            if not ready:
                pytest.fail("no output from rackval station validate in a terminal (hung?)")
            try:
                data = os.read(primary, 65536)
            except OSError:  # the terminal closed: the process is done
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(primary)
        assert proc.wait(timeout=120) == 2
    text = re.sub(r"\x1b\[[0-9;]*m", "", b"".join(chunks).decode())  # colour off
    lines = [ln for ln in text.split("\r\n") if ln]
    assert all(LINE.match(ln) for ln in lines), lines
    assert any(ln.endswith("there is no outlet 60") for ln in lines), lines
    assert any("unknown SNMP vendor map 'nope'" in ln for ln in lines), lines
    assert any(len(ln) > 80 for ln in lines)  # long lines stay whole (the terminal wraps them, rich does not)
