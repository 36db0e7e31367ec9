"""The `rackval` command: run, sim, plans validate, station validate, list, schema, results, report (one
module per command)."""

from harness.cli import help_style  # noqa: F401 - flags shown without a value type; before any help is rendered
from harness.cli import listing, plans, results, run, schema, sim, station  # noqa: F401 - each registers its commands
from harness.cli.app import app


def main() -> None:
    app(prog_name="rackval")
