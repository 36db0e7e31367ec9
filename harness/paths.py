"""Where rackval's data lives, in a source checkout and in an installed wheel."""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def fixtures_dir() -> Path:
    """The `fixtures/` data folder: beside the package in a checkout, inside it in a wheel."""
    for candidate in (_PKG.parent / "fixtures", _PKG / "_fixtures"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("rackval's fixtures/ data folder is missing from this installation")



def schema_file(kind: str) -> Path:
    """The JSON Schema shipped for a kind of file (plan, envelope, station), as `rackval schema` prints it."""
    return _PKG / "schemas" / f"{kind}.schema.json"
