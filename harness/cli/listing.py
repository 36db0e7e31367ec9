"""`rackval list steps|faults|profiles`: what a plan, `--fault` and `--profile` can name, with what each is.

``--names`` prints the bare names, one a line, for scripts (shell completion offers the same names).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from harness.cli.app import console, list_app
from harness.cli.choices import kind_summary, profile_names
from harness.config.profile import load_profile

NamesOption = Annotated[bool, typer.Option("--names", help="only the names, one a line")]


def _show(table: Table, rows: list[tuple[str, ...]], names_only: bool) -> None:
    if names_only:
        for row in rows:
            console.print(row[0], highlight=False, markup=False)
        return
    for row in rows:
        table.add_row(*row)
    console.print(table)


@list_app.command("steps")
def list_steps(names: NamesOption = False) -> None:
    """The step kinds a plan may use, the envelope limits each measures, and what each does."""
    from harness.steps import STEP_KINDS

    rows = []
    for kind in STEP_KINDS:
        rows.append((kind.name, ", ".join(kind.limits) or "-", kind_summary(kind)))
    table = Table("kind", "limits it measures", "what it does", title="step kinds (docs/steps.md)")
    _show(table, rows, names)


@list_app.command("faults")
def list_faults(names: NamesOption = False) -> None:
    """The fault scenarios `rackval run --sim --fault NAME` can inject, and the step kinds each affects."""
    from harness.sim.faults.scenarios import all_scenarios  # the simulator's data: only when asked

    rows = [(s.name, s.profile, ", ".join(s.affects) or "-", s.description) for s in all_scenarios()]
    table = Table("scenario", "profile", "affects", "what happens", title="fault scenarios (fixtures/faults)")
    _show(table, rows, names)


@list_app.command("profiles")
def list_profiles(names: NamesOption = False) -> None:
    """The rack profiles (SKUs) shipped with rackval: `--profile NAME`, or `profile:` in a plan or station."""
    rows = []
    for name in profile_names():
        prof = load_profile(name)
        size = f"{len(prof.tray_names())} trays, {len(prof.psu_names())} PSUs, {len(prof.pdus)} PDUs"
        rows.append((name, prof.cooling, size, prof.description))
    table = Table("profile", "cooling", "size", "description", title="rack profiles (fixtures/profiles)")
    _show(table, rows, names)
