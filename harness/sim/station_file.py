"""The station file a simulated station writes, and its credentials in a 0600 secrets file beside it.

One writer for one rack (:class:`harness.sim.station.SimStation`) and for a line of racks
(:class:`harness.sim.multi_station.SimMultiStation`), so the secrets are written one way: owner-only
before the first byte of them is written.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from ruamel.yaml import YAML

from harness.config.station import Station
from harness.paths import schema_file

Secrets = Mapping[str, Mapping[str, str]]  # credential set -> field -> value


def write_secrets(path: Path, secrets: Secrets) -> None:
    """Write ``secrets`` to ``path``, readable by its owner only (also when the file already existed)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # O_CREAT's mode does not apply to a file that was already there
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        YAML().dump({name: dict(fields) for name, fields in secrets.items()}, fh)


def write_station_file(path: Path, station: Station, secrets: Secrets, *, header: str,
                       ca_file: str | None = None) -> Path:
    """Write the station file at ``path`` (``header`` as its first comment line) and, beside it,
    ``<stem>.secrets.yaml``; with ``ca_file``, a copy of the CA as ``<stem>.ca.pem`` that every BMC is
    verified with. Returns the secrets path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    secrets_path = path.with_name(path.stem + ".secrets.yaml")
    write_secrets(secrets_path, secrets)
    data = station.model_dump(mode="json", exclude={"base_dir"})
    data["credentials_file"] = secrets_path.name
    if ca_file:  # the station's CA beside the station file: the harness verifies the BMCs with it
        ca_path = path.with_name(path.stem + ".ca.pem")
        ca_path.write_bytes(Path(ca_file).read_bytes())
        for bmc in data.get("bmcs", []):
            bmc["ca_file"] = ca_path.name
    with path.open("w", encoding="utf-8") as fh:  # the schema line lets an editor check the file while it is edited
        fh.write(f"# yaml-language-server: $schema={schema_file('station').as_uri()}\n# {header}\n")
        YAML().dump(data, fh)
    return secrets_path
