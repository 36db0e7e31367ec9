"""Fuzzed station, plan and envelope files through the real CLI.

The files start as the real ones (``test_plans/``, ``test_plans/envelopes/``, a station file written
by the simulated station) and are mutated by hypothesis: keys deleted, values of the wrong type,
out-of-range and huge numbers, unknown keys, broken YAML syntax, duplicate keys, wrong indentation,
tabs, non-UTF-8 bytes, empty or truncated files. Whatever comes out, the CLI must either accept the
file or exit 2 with exactly one line on stderr, ``file:line: field: message``, naming the mutated
file; never a traceback. Mutations that are certainly wrong (an unknown key, a non-UTF-8 byte, a
NaN, ...) must be refused, and where the line is known it must be that line.
"""

from __future__ import annotations

import io
import math
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from typer.testing import CliRunner

from harness.cli import app
from harness.config.station import load_station
from harness.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
PLANS = sorted((ROOT / "test_plans").glob("*.yaml")) + sorted((ROOT / "tests" / "plans").glob("*.yaml"))
ENVELOPES = sorted((ROOT / "test_plans" / "envelopes").glob("*.yaml"))
SMOKE = ROOT / "test_plans" / "mini_smoke.yaml"
#: file:line: field: message (the field is a dotted path, or "(document)" for the file as a whole)
LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>[0-9]+): (?P<field>[^\s:][^:]*): (?P<message>\S.*)$")
UNKNOWN_KEY = "zz_not_a_field"
#: CI: a fixed set of examples (deterministic). RACKVAL_FUZZ_EXAMPLES=N explores N fresh random examples.
EXPLORE = int(os.environ.get("RACKVAL_FUZZ_EXAMPLES", "0"))
FUZZ = settings(max_examples=EXPLORE or 150, deadline=None, derandomize=not EXPLORE, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


# ---------------------------------------------------------------------------------------- mutations
@dataclass(frozen=True)
class Mutated:
    """A mutated file: its bytes, what was done, whether it must be refused, and where (if known)."""

    data: bytes
    what: str
    must_fail: bool = False
    line: int | None = None  # the line the error must name
    field_end: str | None = None  # the reported field must end with this


def _rt() -> YAML:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = True
    return yaml


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every mapping key and sequence index path in a round-trip document."""
    if isinstance(node, CommentedMap):
        for key, value in node.items():
            yield (*prefix, key)
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, CommentedSeq):
        for i, value in enumerate(node):
            yield (*prefix, i)
            yield from _paths(value, (*prefix, i))


def _get(node: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        node = node[key]
    return node


def _dump(doc: Any) -> str:
    buf = io.StringIO()
    _rt().dump(doc, buf)
    return buf.getvalue()


WRONG_TYPES: list[Any] = ["not-a-number", [1, 2], {"a": 1}, None, True, "", [], {}]
BAD_NUMBERS: list[Any] = [-1, 0, -1e9, float("inf"), float("-inf"), float("nan"), 10**400, 2**63, 1.5, -0.0001]


def structural(draw: st.DrawFn, text: str) -> Mutated:
    doc = _rt().load(text)
    paths = list(_paths(doc))
    path = draw(st.sampled_from(paths))
    parent, key = _get(doc, path[:-1]), path[-1]
    value = parent[key]
    kind = draw(st.sampled_from(["delete", "wrong_type", "bad_number", "unknown_key"]))
    if kind == "delete":
        del parent[key]
        return Mutated(_dump(doc).encode(), f"delete {path}")
    if kind == "unknown_key":
        target = value if isinstance(value, CommentedMap) else parent if isinstance(parent, CommentedMap) else None
        if target is None:
            target = doc
        target[UNKNOWN_KEY] = 1
        out = _dump(doc)
        line = next(i for i, ln in enumerate(out.splitlines(), 1) if UNKNOWN_KEY in ln)
        return Mutated(out.encode(), f"unknown key beside {path}", must_fail=True, line=line, field_end=UNKNOWN_KEY)
    if kind == "wrong_type":
        new = draw(st.sampled_from(WRONG_TYPES))
        parent[key] = new
        # a mapping or list replaced by a scalar of another kind is never valid in these files
        must = isinstance(value, (CommentedMap, CommentedSeq)) and not isinstance(new, (dict, list)) and new is not None
        return Mutated(_dump(doc).encode(), f"wrong type {new!r} at {path}", must_fail=must)
    new = draw(st.sampled_from(BAD_NUMBERS))
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        new_text = _dump_with(doc, parent, key, new)
        return Mutated(new_text.encode(), f"number {new!r} at {path} (was {value!r})")
    new_text = _dump_with(doc, parent, key, new)
    not_finite = isinstance(new, float) and not math.isfinite(new)
    return Mutated(new_text.encode(), f"number {new!r} at {path} (was {value!r})", must_fail=not_finite)


def _dump_with(doc: Any, parent: Any, key: Any, new: Any) -> str:
    if isinstance(new, int) and abs(new) > 2**64:
        parent[key] = "HUGE"  # ruamel cannot dump a 400-digit int as a number: splice the digits in
        return _dump(doc).replace("HUGE", str(new), 1)
    parent[key] = new
    return _dump(doc)


SYNTAX_BREAKS = ["key: [unclosed", "{", "'unterminated", ": :", "- - - :", "a: b: c", "@reserved", "&anchor *alias",
                 "*undefined_alias", "!!python/object:os.system {}", "key: !!int not-an-int", "? complex\n: key",
                 "%YAML 9.9", "---\n---", "\"bad \\escape\"", "key: |\n bad\n  indent"]


def textual(draw: st.DrawFn, text: str) -> Mutated:
    lines = text.splitlines(keepends=True)
    kind = draw(st.sampled_from(["syntax", "duplicate", "indent", "tab", "non_utf8", "empty", "truncate",
                                 "top_level"]))
    i = draw(st.integers(0, max(0, len(lines) - 1)))
    if kind == "syntax":
        snippet = draw(st.sampled_from(SYNTAX_BREAKS))
        indent = re.match(r"\s*", lines[i]).group(0) if lines else ""
        out = lines[:i] + [indent + snippet + "\n"] + lines[i:]
        return Mutated("".join(out).encode(), f"syntax {snippet!r} at line {i + 1}")
    if kind == "duplicate":
        simple = [j for j, ln in enumerate(lines) if re.match(r"^ *[A-Za-z_][\w]*: *\S", ln) and "#" not in ln]
        j = draw(st.sampled_from(simple))
        out = lines[:j + 1] + [lines[j]] + lines[j + 1:]
        return Mutated("".join(out).encode(), f"duplicate line {j + 1}", must_fail=True)
    if kind == "indent":
        delta = draw(st.sampled_from([" ", "   ", "-1"]))
        ln = lines[i]
        new = ln[1:] if delta == "-1" and ln.startswith(" ") else (delta if delta != "-1" else "") + ln
        out = lines[:i] + [new] + lines[i + 1:]
        return Mutated("".join(out).encode(), f"indent {delta!r} at line {i + 1}")
    if kind == "tab":
        ln = lines[i]
        stripped = ln.lstrip(" ")
        new = "\t" + stripped if draw(st.booleans()) else ln.replace(": ", ":\t", 1)
        out = lines[:i] + [new] + lines[i + 1:]
        return Mutated("".join(out).encode(), f"tab at line {i + 1}")
    if kind == "non_utf8":
        raw = text.encode()
        pos = draw(st.integers(0, len(raw)))
        while 0 < pos < len(raw) and (raw[pos] & 0xC0) == 0x80:  # not inside a multi-byte character
            pos -= 1
        bad = draw(st.sampled_from([b"\xff", b"\xfe\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"\x80"]))
        data = raw[:pos] + bad + raw[pos:]
        return Mutated(data, f"non-UTF-8 {bad!r} at byte {pos}", must_fail=True, line=raw[:pos].count(b"\n") + 1)
    if kind == "empty":
        data = draw(st.sampled_from([b"", b"\n", b"   \n\n", b"# only a comment\n", b"---\n", b"~\n", b"null\n"]))
        return Mutated(data, f"empty file {data!r}", must_fail=True, line=1)
    if kind == "truncate":
        raw = text.encode()
        pos = draw(st.integers(0, len(raw) - 1))
        return Mutated(raw[:pos], f"truncated at byte {pos}")
    data = draw(st.sampled_from([b"- a\n- b\n", b"just a string\n", b"42\n", b"[1, 2]\n", b"!!binary AAAA\n"]))
    return Mutated(data, f"top level {data!r}", must_fail=True, line=1)


@st.composite
def mutations(draw: st.DrawFn, text: str) -> Mutated:
    if draw(st.booleans()):
        return structural(draw, text)
    return textual(draw, text)


# ---------------------------------------------------------------------------------------- the oracle
runner = CliRunner()


def check(args: list[str], target: Path, m: Mutated, *, ok_line: str | None = None, several: bool = False) -> str:
    """Run the CLI in process; accepted (exit 0, or ``ok_line`` on stderr) or exactly one error line (or, with
    ``several``, one line per mistake); returns the error lines."""
    result = runner.invoke(app, args, catch_exceptions=True)
    out, err = result.stdout, result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), (m.what, repr(result.exception))
    assert "Traceback" not in out + err, (m.what, err)
    accepted = result.exit_code == 0 or (ok_line is not None and result.exit_code == 2 and ok_line in err)
    if currently_in_test_context():  # --hypothesis-show-statistics: how often each mutation is refused
        event(f"{m.what.split()[0]}: {'accepted' if accepted else 'refused'}")
    if accepted:
        assert not m.must_fail, f"{m.what}: accepted, but it must be refused ({err.strip()})"
        return ""
    assert result.exit_code == 2, (m.what, result.exit_code, out, err)
    lines = err.splitlines()
    assert len(lines) == 1 or (several and lines), (m.what, lines)
    matches = [LINE.match(ln) for ln in lines]
    assert all(matches), (m.what, lines)
    n_lines = m.data.count(b"\n") + 1
    for match in matches:
        assert match["file"] == str(target), (m.what, match.string)
        assert 1 <= int(match["line"]) <= n_lines, (m.what, match.string)
    if m.line is not None:
        assert any(int(x["line"]) == m.line for x in matches), (m.what, lines)
    if m.field_end is not None:
        assert any(x["field"].endswith(m.field_end) for x in matches), (m.what, lines)
    return "\n".join(lines)


def _copy_plan(src: Path, dst_dir: Path) -> Path:
    """A plan and the envelope it names, copied side by side into ``dst_dir``."""
    yaml = YAML(typ="safe")
    env_rel = yaml.load(src.read_text(encoding="utf-8"))["envelope"]
    (dst_dir / env_rel).parent.mkdir(parents=True, exist_ok=True)
    (dst_dir / env_rel).write_bytes((src.parent / env_rel).read_bytes())
    dst = dst_dir / src.name
    dst.write_bytes(src.read_bytes())
    return dst


# ---------------------------------------------------------------------------------------- plans
@FUZZ
@given(data=st.data(), src=st.sampled_from(PLANS))
def test_fuzzed_plans_exit_2_with_one_line(tmp_path_factory: pytest.TempPathFactory, data: st.DataObject,
                                           src: Path) -> None:
    work = tmp_path_factory.mktemp("plan")
    plan = _copy_plan(src, work)
    m = data.draw(mutations(src.read_text(encoding="utf-8")), label="mutation")
    plan.write_bytes(m.data)
    check(["plans", "validate", str(plan)], plan, m)


# ---------------------------------------------------------------------------------------- envelopes
@FUZZ
@given(data=st.data(), src=st.sampled_from(ENVELOPES))
def test_fuzzed_envelopes_exit_2_with_one_line(tmp_path_factory: pytest.TempPathFactory, data: st.DataObject,
                                               src: Path) -> None:
    work = tmp_path_factory.mktemp("env")
    envelope = work / "envelope.yaml"
    plan = work / "plan.yaml"
    plan.write_text(SMOKE.read_text(encoding="utf-8").replace("envelope: envelopes/mini.yaml",
                                                              "envelope: envelope.yaml"), encoding="utf-8")
    m = data.draw(mutations(src.read_text(encoding="utf-8")), label="mutation")
    envelope.write_bytes(m.data)
    check(["plans", "validate", str(plan)], envelope, m)


# ---------------------------------------------------------------------------------------- stations
@pytest.fixture(scope="module")
def sim_station_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A station file exactly as the simulated station writes it, with its secrets and CA files beside it
    (its simulators are stopped again)."""
    from harness.clock import RealClock
    from harness.config.profile import load_profile
    from harness.sim.station import SimStation

    sim = SimStation(load_profile("mini"), clock=RealClock(speed=20.0))
    sim.start()
    try:
        path = tmp_path_factory.mktemp("station") / "station.yaml"
        sim.write_station_file(path)
    finally:
        sim.stop()
    return path


@pytest.fixture(scope="module")
def sim_station_text(sim_station_path: Path) -> str:
    return sim_station_path.read_text(encoding="utf-8")


NO_SERIAL = "command line: --rack-serial"  # a valid station gets as far as asking for the serial


@FUZZ
@given(data=st.data())
def test_fuzzed_station_files_exit_2_before_touching_anything(tmp_path_factory: pytest.TempPathFactory,
                                                              sim_station_path: Path, sim_station_text: str,
                                                              data: st.DataObject) -> None:
    work = tmp_path_factory.mktemp("st")
    for beside in sim_station_path.parent.iterdir():  # the secrets and CA files the station names
        (work / beside.name).write_bytes(beside.read_bytes())
    station = work / "station.yaml"
    m = data.draw(mutations(sim_station_text), label="mutation")
    station.write_bytes(m.data)
    lines = check(["run", str(SMOKE), "--station", str(station)], station, m, ok_line=NO_SERIAL, several=True)
    if not lines:  # accepted by the CLI: the loader it uses must agree
        load_station(station)
    else:
        try:
            load_station(station)
        except ConfigError as exc:  # the loader's error is among those listed
            assert str(exc) in lines.splitlines(), (m.what, str(exc), lines)


@FUZZ
@given(data=st.data())
def test_fuzzed_station_files_get_every_mistake_listed_one_line_each(tmp_path_factory: pytest.TempPathFactory,
                                                                     sim_station_path: Path,
                                                                     data: st.DataObject) -> None:
    """`rackval station validate` lists every mistake (not one): each line ``file:line: field: message`` of the
    mutated file, the one a run would stop at among them, and none for a file a run accepts."""
    work = tmp_path_factory.mktemp("sv")
    for beside in sim_station_path.parent.iterdir():  # the secrets and CA files the station names
        (work / beside.name).write_bytes(beside.read_bytes())
    station = work / "station.yaml"
    m = data.draw(mutations(sim_station_path.read_text(encoding="utf-8")), label="mutation")
    station.write_bytes(m.data)
    result = runner.invoke(app, ["station", "validate", str(station)], catch_exceptions=True)
    assert result.exception is None or isinstance(result.exception, SystemExit), (m.what, repr(result.exception))
    assert "Traceback" not in result.stdout + result.stderr, (m.what, result.stderr)
    if result.exit_code == 0:
        assert not m.must_fail, f"{m.what}: accepted, but it must be refused"
        load_station(station)  # what the station check accepts, a run's loader accepts
        return
    assert result.exit_code == 2, (m.what, result.exit_code, result.stdout, result.stderr)
    matches = [LINE.match(ln) for ln in result.stderr.splitlines()]
    assert matches and all(matches), (m.what, result.stderr)
    n_lines = m.data.count(b"\n") + 1
    for match in matches:
        assert match["file"] == str(station) and 1 <= int(match["line"]) <= n_lines, (m.what, match.string)
    if m.line is not None:
        assert any(int(x["line"]) == m.line for x in matches), (m.what, result.stderr)
    if m.field_end is not None:
        assert any(x["field"].endswith(m.field_end) for x in matches), (m.what, result.stderr)
    try:
        load_station(station)
    except ConfigError as exc:  # the run's first error is among those listed
        assert str(exc) in result.stderr.splitlines(), (m.what, str(exc), result.stderr)


# ---------------------------------------------------------------------------------------- fixed cases
def _smoke_copy(tmp_path: Path, old: str, new: str) -> Path:
    plan = _copy_plan(SMOKE, tmp_path)
    text = plan.read_text(encoding="utf-8")
    assert old in text
    plan.write_text(text.replace(old, new, 1), encoding="utf-8")
    return plan


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, ln in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if needle in ln)


@pytest.mark.parametrize(("old", "new", "field", "needle"), [
    ("    cycles: 1\n    off_s", "    cycles: many\n    off_s", "steps[0].cycles", "cycles: many"),
    ("off_s: 10 ", "off_s: .nan ", "steps[0].off_s", "off_s: .nan"),
    ("dwell_s: 30", "dwell_s: .inf", "steps[2].dwell_s", "dwell_s: .inf"),
    ("dwell_s: 30", "dwell_s: 1e400", "steps[2].dwell_s", "dwell_s: 1e400"),
    ("    cycles: 1\n    off_s", "    cycles: " + "9" * 400 + "\n    off_s", "steps[0].cycles", "cycles: 999"),
    ("  - kind: dc_cycle", "  - kind: dc_cycle\n    rest_type: ForceOff", "steps[1].rest_type", "rest_type"),
    ("poll_s: 1\n", "poll_s: 1\n    poll_s: 2\n", "steps[1].poll_s", "poll_s: 2"),
    ("    poll_s: 1\n", "\tpoll_s: 1\n", "steps[1].poll_s", "\tpoll_s"),
])
def test_bad_plan_values_name_their_line_and_field(tmp_path: Path, old: str, new: str, field: str,
                                                   needle: str) -> None:
    plan = _smoke_copy(tmp_path, old, new)
    m = Mutated(plan.read_bytes(), new, must_fail=True, line=_line_of(plan, needle), field_end=field)
    line = check(["plans", "validate", str(plan)], plan, m)
    assert LINE.match(line)["field"] == field, line  # type: ignore[index]


def test_a_missing_envelope_is_named_at_the_plans_envelope_line(tmp_path: Path) -> None:
    plan = _smoke_copy(tmp_path, "envelope: envelopes/mini.yaml", "envelope: envelopes/nope.yaml")
    m = Mutated(plan.read_bytes(), "missing envelope", must_fail=True, line=_line_of(plan, "envelope:"),
                field_end="envelope")
    assert "nope.yaml" in check(["plans", "validate", str(plan)], plan, m)


def test_markup_and_control_characters_in_a_key_stay_one_plain_line(tmp_path: Path) -> None:
    plan = _smoke_copy(tmp_path, "stop_on_fail: true", 'stop_on_fail: true\n"[/bold]\\nx[red]": 1')
    m = Mutated(plan.read_bytes(), "odd key", must_fail=True, line=_line_of(plan, "[/bold]"))
    line = check(["plans", "validate", str(plan)], plan, m)
    assert "[/bold]" in line and "\\nx[red]" in line


def test_station_unknown_vendor_and_model_are_refused_at_load(tmp_path: Path, sim_station_text: str) -> None:
    for old, new, field in [("vendor: apc_rpdu2", "vendor: apc_rpdu9", "pdus[0].vendor"),
                            ("model: chroma63600", "model: chroma00000", "instruments[0].model"),
                            ("profile: mini", "profile: no_such_sku", "profile")]:
        station = tmp_path / "station.yaml"
        station.write_text(sim_station_text.replace(old, new, 1), encoding="utf-8")
        m = Mutated(station.read_bytes(), new, must_fail=True, line=_line_of(station, new), field_end=field)
        check(["run", str(SMOKE), "--station", str(station)], station, m, ok_line=None)


def test_the_installed_cli_in_a_subprocess(tmp_path: Path) -> None:
    """One check through a real process: exit status 2, one stderr line, no traceback."""
    plan = _smoke_copy(tmp_path, "dwell_s: 30", "dwell_s: [30")
    out = subprocess.run([sys.executable, "-m", "harness.cli", "plans", "validate", str(plan)], capture_output=True,
                         text=True, timeout=120, cwd=tmp_path, stdin=subprocess.DEVNULL, check=False)
    assert out.returncode == 2, out
    lines = out.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    match = LINE.match(lines[0])
    assert match and match["file"] == str(plan) and "YAML syntax" in match["message"], lines
