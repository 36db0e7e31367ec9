"""`rackval plans validate`: plans and their envelopes checked without touching hardware."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from harness.cli.app import EXIT_BAD_INPUT, console, plans_app, print_error
from harness.config.plan import load_plan
from harness.errors import ConfigError
from harness.steps import STEP_KINDS


@plans_app.command("validate")
def plans_validate(files: Annotated[list[Path], typer.Argument(help="plan files")]) -> None:
    """Check plans (and the envelopes they name); exit 2 if any is wrong."""
    bad = 0
    for f in files:
        try:
            loaded = load_plan(f, STEP_KINDS)
            console.print(f"OK  {f}: {len(loaded.steps)} steps, envelope {loaded.envelope.sku} "
                          f"v{loaded.envelope.version} ({len(loaded.envelope.limits)} limits)", highlight=False)
        except ConfigError as exc:
            bad += 1
            print_error(str(exc))
    raise typer.Exit(EXIT_BAD_INPUT if bad else 0)
