"""Every mistake in a station file at once, found before anything is connected or switched.

``rackval station validate FILE`` lists them, and a run's opening refuses a station that has any
(:func:`check_station_file`): an outlet the PDU does not have, or a PSU fed twice, is found at the desk and
not after the rack was AC-cycled. On top of the schema (every pydantic error, not only the first):

- wiring, against the rack profile: each PDU is one of the profile's; each outlet exists on it (the
  profile's outlet count) and feeds a PSU the profile has; every PSU is fed by exactly the outlet the
  profile wires to it; tray BMCs and SSH hosts are trays of the profile, of the role's kind;
- credentials: every set an endpoint names resolves (environment, then ``credentials_file``) to the fields
  its driver needs, SNMP v3 sets with accepted protocols and keys; every ``ca_file`` exists;
- calibration: a hardware instrument has a calibration date that has not passed.

The checks read the plain YAML data, so a PDU whose vendor is unknown still has its outlets checked.
Each problem is one ``file:line: field: what is wrong``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.config.profile import Profile, load_profile, profile_path
from harness.config.station import InstrumentEndpoint, Station, credential_env_name, read_credentials_file
from harness.errors import ConfigError, ConfigErrors, short_list
from harness.yaml_loader import DOCUMENT, config_errors, field_name, line_of, read_mapping, to_plain

Keys = tuple[Any, ...]  # a path into the YAML document, e.g. ("pdus", 0, "outlets", 7)

#: credential fields each kind of endpoint's driver reads (harness/rack/build.py)
LOGIN = ("username", "password")
SNMP_V2C = ("community",)
SNMP_V3 = ("user", "auth_key", "priv_key", "auth_protocol", "priv_protocol")


@dataclass
class _Doc:
    """The station file being checked: its lines (round-trip nodes), its plain data and what is wrong."""

    path: Path
    node: Any
    data: dict[str, Any]
    problems: list[ConfigError] = field(default_factory=list)

    def add(self, keys: Keys, problem: str) -> None:
        self.problems.append(ConfigError(str(self.path), line_of(self.node, keys), field_name(keys) or DOCUMENT,
                                         problem))


def check_station_file(path: Path, *, rack: str | None = None, today: date | None = None) -> None:
    """Raise :class:`ConfigErrors` listing every mistake (the run's opening calls this first)."""
    problems = station_problems(path, rack=rack, today=today)
    if problems:
        raise ConfigErrors(problems)


def station_problems(path: Path, *, rack: str | None = None, today: date | None = None) -> list[ConfigError]:
    """Every mistake in the station file at ``path`` (for one rack of a multi-rack station: ``rack``)."""
    path = Path(path)
    try:
        node = read_mapping(path)
    except ConfigError as exc:
        return [exc]
    doc = _Doc(path, node, to_plain(node))
    try:
        Station.model_validate(doc.data, context={"base_dir": path.parent, "file": str(path)})
    except ValidationError as exc:
        doc.problems += config_errors(exc, name=str(path), data=doc.data, node=node)
    _check_rack_name(doc, rack)
    for prefix, scope in _scopes(doc.data, rack):
        profile = _profile(doc, scope.get("profile") or doc.data.get("profile"))
        if profile is not None:
            _check_pdus(doc, prefix, scope, profile)
            _check_trays(doc, prefix, scope, profile)
    _check_credentials(doc, rack)
    _check_ca_files(doc, rack)
    _check_calibration(doc, rack, today or date.today())
    return _ordered(doc)


# ------------------------------------------------------------------------------------------ where things are
def _scopes(data: dict[str, Any], rack: str | None) -> list[tuple[Keys, dict[str, Any]]]:
    """The station itself (one rack), or each rack of ``racks`` (only ``rack`` when given)."""
    racks = data.get("racks")
    if isinstance(racks, list) and racks:
        return [(("racks", i), r) for i, r in enumerate(racks)
                if isinstance(r, dict) and (rack is None or r.get("name") == rack)]
    return [((), data)]


def _check_rack_name(doc: _Doc, rack: str | None) -> None:
    """``--rack NAME`` must name one of the station's racks (the same words as ``select_rack``)."""
    racks = doc.data.get("racks")
    names = [r.get("name") for r in racks if isinstance(r, dict)] if isinstance(racks, list) else []
    if rack is None or rack in names:
        return
    if not names:
        doc.add((), f"--rack {rack}: the station lists no racks")
    else:
        doc.add(("racks",), f"--rack {rack}: no rack {rack!r} in the station ({', '.join(map(str, names))})")


def _entries(scope: dict[str, Any], prefix: Keys, key: str) -> Iterator[tuple[Keys, dict[str, Any]]]:
    items = scope.get(key)
    if isinstance(items, list):
        for i, item in enumerate(items):
            if isinstance(item, dict):
                yield (*prefix, key, i), item


def _endpoints(doc: _Doc, rack: str | None, key: str) -> Iterator[tuple[Keys, dict[str, Any]]]:
    """Every ``key`` entry of the racks checked; instruments also those shared at the station level."""
    racks = doc.data.get("racks")
    if key == "instruments" and isinstance(racks, list) and racks:
        yield from _entries(doc.data, (), key)
    for prefix, scope in _scopes(doc.data, rack):
        yield from _entries(scope, prefix, key)


def _profile(doc: _Doc, name: object) -> Profile | None:
    """The rack profile the wiring is checked against (an unknown one is a schema error already)."""
    if not isinstance(name, str) or not name or not profile_path(name, doc.path.parent).is_file():
        return None
    try:
        return load_profile(name, doc.path.parent)
    except ConfigError as exc:  # the profile file itself is wrong: say so, in its own words
        doc.problems.append(exc)
        return None


def _ordered(doc: _Doc) -> list[ConfigError]:
    """The station file's problems by line, then those in the files it names; each once."""
    seen: set[str] = set()
    out = []
    for p in sorted(doc.problems, key=lambda p: (p.file != str(doc.path), p.file, p.line or 0)):
        if str(p) not in seen:
            seen.add(str(p))
            out.append(p)
    return out


# ------------------------------------------------------------------------------------------ wiring
def _check_pdus(doc: _Doc, prefix: Keys, scope: dict[str, Any], profile: Profile) -> None:
    """Outlets against the profile's PDUs: each exists, feeds a known PSU, and each PSU has its one outlet."""
    pdus = list(_entries(scope, prefix, "pdus"))
    if not pdus:  # a station that switches no AC (BMCs and instruments only): nothing to wire
        return
    sku, specs = profile.sku, {p.name: p for p in profile.pdus}
    expected = {psu: (p.name, n) for p in profile.pdus for n, psu in p.feeds.items()}
    psus = profile.psu_names()
    fed: dict[str, list[tuple[Keys, str, int]]] = {}
    listed: dict[str, Keys] = {}
    for keys, pdu in pdus:
        name, outlets = pdu.get("name"), pdu.get("outlets")
        spec = specs.get(name) if isinstance(name, str) else None
        if spec is None:
            if isinstance(name, str) and name:
                doc.add((*keys, "name"), f"the {sku} profile has no PDU {name!r} (its PDUs: {short_list(list(specs))})")
            continue
        listed[spec.name] = keys
        for key, feeds in (outlets.items() if isinstance(outlets, dict) else ()):
            n = _outlet_number(key)
            if n is None or not isinstance(feeds, str):
                continue  # the schema has said what is wrong with it
            at = (*keys, "outlets", key)
            if n > spec.outlets:
                doc.add(at, f"{spec.name} has {spec.outlets} outlets (1..{spec.outlets}, {sku} profile): "
                            f"there is no outlet {n}")
            elif feeds not in psus:
                doc.add(at, f"feeds {feeds!r}, a PSU the {sku} profile does not have (its PSUs: {short_list(psus)})")
            else:
                fed.setdefault(feeds, []).append((at, spec.name, n))
    for psu, outlets in fed.items():
        want = expected.get(psu)
        wiring = f"the {sku} profile feeds it from {want[0]} outlet {want[1]}" if want else \
            f"the {sku} profile feeds it from no outlet"
        for at, pdu_name, n in outlets:
            if (pdu_name, n) == want:
                continue
            others = [f"{p} outlet {k}" for _, p, k in outlets if (p, k) != (pdu_name, n)]
            if others:
                doc.add(at, f"feeds {psu}, which {' and '.join(others)} also feed{'s' if len(others) == 1 else ''}: "
                            f"each PSU has one outlet ({wiring})")
            else:
                doc.add(at, f"feeds {psu}, but {wiring}")
    for spec in profile.pdus:
        unfed = [f"{psu} ({spec.name} outlet {n})" for n, psu in sorted(spec.feeds.items()) if psu not in fed]
        if spec.name in listed and unfed:
            them = "it" if len(unfed) == 1 else "them"
            doc.add((*listed[spec.name], "outlets"), f"no outlet feeds {short_list(unfed)} as the {sku} profile wires "
                                                     f"{them}: an AC cycle would leave {them} powered")
        elif spec.name not in listed and spec.feeds:
            doc.add((*prefix, "pdus"), f"the {sku} profile's {spec.name} (feeding {short_list(sorted(spec.feeds.values()))}) "
                                       "is not listed: an AC cycle would leave its PSUs powered")


def _outlet_number(key: object) -> int | None:
    """An outlet key as the schema reads it: a number, or digits in quotes (as `rackval sim` writes them)."""
    if isinstance(key, str) and key.strip().isdigit():
        key = int(key)
    return key if isinstance(key, int) and not isinstance(key, bool) and key >= 1 else None


def _check_trays(doc: _Doc, prefix: Keys, scope: dict[str, Any], profile: Profile) -> None:
    """Tray BMCs and SSH hosts name trays of the profile (of the role's kind); one rack manager."""
    sku, trays = profile.sku, profile.tray_names()
    manager: str | None = None
    for keys, bmc in _entries(scope, prefix, "bmcs"):
        name, role = bmc.get("name"), bmc.get("role", "compute_tray")
        if not isinstance(name, str) or not name:
            continue
        if role in ("compute_tray", "switch_tray"):
            kind = str(role).split("_")[0]
            if name not in trays:
                doc.add((*keys, "name"), f"the {sku} profile has no tray {name!r} (its trays: {short_list(trays)})")
            elif name not in profile.tray_names(kind):
                other = "switch" if kind == "compute" else "compute"
                doc.add((*keys, "role"), f"{name} is a {other} tray in the {sku} profile: role {other}_tray")
        elif role == "rack_manager":
            if manager is not None:
                doc.add((*keys, "role"), f"a rack has one rack manager, and {manager} is already it")
            manager = manager or name
        elif role == "cdu" and profile.cdu is None:
            doc.add((*keys, "role"), f"the {sku} profile has no CDU ({profile.cooling}-cooled)")
    for keys, host in _entries(scope, prefix, "hosts"):
        name = host.get("name")
        if isinstance(name, str) and name and name not in trays:
            doc.add((*keys, "name"), f"the {sku} profile has no tray {name!r} for this host (its trays: {short_list(trays)})")


# ------------------------------------------------------------------------------------------ credentials
@dataclass
class _Secrets:
    """Where credentials come from: the environment, then the credentials file (if it could be read)."""

    file: Path | None = None
    sets: dict[str, dict[str, str]] | None = None

    def get(self, cred_set: str, name: str) -> str | None:
        env = os.environ.get(credential_env_name(cred_set, name))
        return env if env is not None else (self.sets or {}).get(cred_set, {}).get(name)

    def missing(self, cred_set: str, fields: list[str]) -> str | None:
        """Why some of ``fields`` of ``cred_set`` cannot be found, or None when all can."""
        lacking = [f for f in fields if self.get(cred_set, f) is None]
        if not lacking:
            return None
        env = ", ".join(credential_env_name(cred_set, f) for f in lacking)
        if self.file is None:
            return f"credential set {cred_set!r} has no {', '.join(lacking)}: the station names no credentials_file " \
                   f"and the environment has no {env}"
        if self.sets is not None and cred_set not in self.sets:
            its = f" (its sets: {short_list(sorted(self.sets))})" if self.sets else ""
            return f"credential set {cred_set!r} is not in {self.file.name}{its} nor in the environment ({env})"
        return f"credential set {cred_set!r} has no {', '.join(lacking)}: not in {self.file.name} nor in the " \
               f"environment ({env})"


def _secrets(doc: _Doc) -> _Secrets:
    name = doc.data.get("credentials_file")
    if not isinstance(name, str) or not name:
        return _Secrets()
    path = Path(name) if Path(name).is_absolute() else doc.path.parent / name
    if not path.is_file():
        doc.add(("credentials_file",), f"no such file: {path}")
        return _Secrets(path, {})
    try:
        return _Secrets(path, read_credentials_file(path))
    except ConfigError as exc:
        doc.problems.append(exc)
        return _Secrets(path, {})


def _check_credentials(doc: _Doc, rack: str | None) -> None:
    """Each credential set, where first named, has every field its endpoints' drivers read."""
    secrets = _secrets(doc)
    needs: dict[str, tuple[Keys, list[str]]] = {}
    snmp: dict[tuple[str, str], Keys] = {}

    def need(keys: Keys, endpoint: dict[str, Any], fields: tuple[str, ...]) -> str | None:
        cred_set = endpoint.get("credentials")
        if not isinstance(cred_set, str) or not cred_set:
            return None
        _, wanted = needs.setdefault(cred_set, ((*keys, "credentials"), []))
        wanted += [f for f in fields if f not in wanted]
        return cred_set

    for keys, bmc in _endpoints(doc, rack, "bmcs"):
        need(keys, bmc, LOGIN)
    for keys, host in _endpoints(doc, rack, "hosts"):
        need(keys, host, LOGIN)
    for keys, pdu in _endpoints(doc, rack, "pdus"):
        version = str(pdu.get("snmp_version", "3"))
        cred_set = need(keys, pdu, SNMP_V2C if version == "2c" else SNMP_V3)
        if cred_set is not None and version in ("2c", "3"):
            snmp.setdefault((cred_set, version), (*keys, "credentials"))
    for cred_set, (keys, fields) in needs.items():
        why = secrets.missing(cred_set, fields)
        if why:
            doc.add(keys, why)
    for (cred_set, version), keys in snmp.items():
        _check_snmp(doc, keys, secrets, cred_set, version)


def _check_snmp(doc: _Doc, keys: Keys, secrets: _Secrets, cred_set: str, version: str) -> None:
    """A complete SNMP set must also be one the driver accepts (authPriv, known protocols, long keys)."""
    from harness.drivers.snmp.credentials import SnmpCredentials  # pysnmp: only once there is a PDU to check

    fields = SNMP_V2C if version == "2c" else SNMP_V3
    values = {f: secrets.get(cred_set, f) for f in fields}
    if any(v is None for v in values.values()):
        return  # said already: the set lacks a field
    try:
        SnmpCredentials(version=version, **values)  # type: ignore[arg-type]
    except ValueError as exc:
        doc.add(keys, f"credential set {cred_set!r}: {exc}")


def _check_ca_files(doc: _Doc, rack: str | None) -> None:
    """A BMC's ca_file must exist (relative to the station file); each missing file is named once."""
    named: dict[Path, list[Keys]] = {}
    for keys, bmc in _endpoints(doc, rack, "bmcs"):
        ca = bmc.get("ca_file")
        if isinstance(ca, str) and ca:
            path = Path(ca) if Path(ca).is_absolute() else doc.path.parent / ca
            named.setdefault(path, []).append((*keys, "ca_file"))
    for path, where in named.items():
        more = f" (named by {len(where) - 1} more BMC{'s' if len(where) > 2 else ''} too)" if len(where) > 1 else ""
        if not path.is_file():
            doc.add(where[0], f"no such file: {path}: the CA bundle that signs the BMC's certificate{more}")
        elif b"-----BEGIN CERTIFICATE-----" not in _head(path):
            doc.add(where[0], f"{path} holds no PEM certificate (-----BEGIN CERTIFICATE-----){more}")


def _head(path: Path, size: int = 1 << 20) -> bytes:
    with path.open("rb") as fh:
        return fh.read(size)


def _check_calibration(doc: _Doc, rack: str | None, today: date) -> None:
    """The run refuses an instrument out of calibration (harness.rack.build.check_calibration): say so now."""
    for keys, entry in _endpoints(doc, rack, "instruments"):
        try:
            inst = InstrumentEndpoint.model_validate(entry)
        except ValidationError:
            continue  # the schema has said what is wrong with it
        why = inst.calibration_problem(today)
        if why:
            doc.add((*keys, "calibration_due"), f"{inst.name}: {why} (only simulated: true instruments are exempt)")
