"""The `rackval` command: run, sim, plans validate, results, report (one module per command)."""

from harness.cli import plans, results, run, sim  # noqa: F401 - each registers its commands on the app
from harness.cli.app import app


def main() -> None:
    app(prog_name="rackval")
