"""The `rackval` command: run, sim, plans validate, station validate, list, schema, results, report (one
module per command)."""

from harness.cli import (  # noqa: F401 - each registers its commands (help_style: how --help shows flags)
    help_style,
    listing,
    plans,
    results,
    run,
    schema,
    sim,
    station,
)
from harness.cli.app import app


def main() -> None:
    app(prog_name="rackval")
