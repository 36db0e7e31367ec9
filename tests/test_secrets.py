"""No credential leaves rackval: a run with known secret values, then every output is searched."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app

PASSWORD = "Pw-known-7f3a9c1e5b"
COMMUNITY = "rw-known-d41d8cd98f"


class KnownSecrets:
    """Stands in for the `secrets` module of the simulated station: fixed, findable values."""

    @staticmethod
    def token_urlsafe(n: int = 16) -> str:
        return PASSWORD

    @staticmethod
    def token_hex(n: int = 16) -> str:
        return COMMUNITY[3:]


def test_no_secret_appears_in_any_output(tmp_path: Path, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import harness.sim.station as sim_station

    monkeypatch.setattr(sim_station, "secrets", KnownSecrets)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(root / "test_plans" / "mini_smoke.yaml"), "--sim", "--rack-serial",
                                      "SIM-1", "--operator", "op1", "--out", str(out), "--yes"])
    assert result.exit_code in (0, 1), result.output
    files = [p for p in [*out.rglob("*"), *(tmp_path / "runs").rglob("*")] if p.is_file()]
    names = {p.name for p in files}
    assert {"ocp.jsonl", "junit.xml", "report.html", "rackval.log", "results.db"} <= names, names
    for p in files:
        data = p.read_bytes()
        for secret in (PASSWORD, COMMUNITY):
            assert secret.encode() not in data, f"{secret} leaked into {p}"
    assert PASSWORD not in result.output and COMMUNITY not in result.output
