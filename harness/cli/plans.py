"""`rackval plans validate`: plans checked with their envelopes and rack profiles, without touching hardware.

Given an envelope, a station file or a rack profile instead of a plan, it recognises it by its keys and
checks it as what it is, rather than reporting that a plan's ``name`` is missing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from harness.cli.app import EXIT_BAD_INPUT, console, plans_app, print_error
from harness.cli.choices import completer, listed, profile_names
from harness.cli.station import summary
from harness.config.plan import Envelope, load_plan
from harness.config.plan_check import envelope_problems, plan_problems
from harness.config.profile import Profile, load_profile
from harness.config.station_check import station_problems
from harness.errors import ConfigError
from harness.steps import STEP_KINDS
from harness.yaml_loader import load_model, read_yaml

FileKind = Literal["plan", "envelope", "station", "profile"]
#: keys only one kind of file has at its top level (a plan is the default: its errors are the useful ones)
MARKS: list[tuple[FileKind, tuple[str, ...]]] = [
    ("plan", ("steps",)),
    ("envelope", ("limits",)),
    ("station", ("station_id", "bmcs", "racks")),
    ("profile", ("trays", "shelves")),
]


@plans_app.command("validate")
def plans_validate(
    files: Annotated[list[Path], typer.Argument(metavar="FILE...", help="plan files (envelopes, station files and "
                                                "rack profiles are recognised and checked as such)")],
    profile: Annotated[str | None, typer.Option(
        "--profile", metavar="SKU", autocompletion=completer(profile_names),
        help=listed("check against this rack profile, for a plan that names none or one outside "
                    "fixtures/profiles", profile_names))] = None,
) -> None:
    """Check plans with their envelopes and rack profiles; list every mistake as file:line: field: what is
    wrong, and exit 2 if there is any."""
    try:
        prof = load_profile(profile, Path.cwd()) if profile else None
    except ConfigError as exc:
        print_error(str(exc))
        raise typer.Exit(EXIT_BAD_INPUT) from None
    bad = 0
    for f in files:
        try:
            problems, ok = _check(f, prof)
        except ConfigError as exc:
            problems, ok = [exc], ""
        for problem in problems:
            print_error(str(problem))
        if problems:
            bad += 1
        else:
            console.print(f"OK  {f}: {ok}", highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_BAD_INPUT if bad else 0)


def file_kind(path: Path) -> FileKind:
    """What a YAML file is, by the keys at its top level (a plan unless it is clearly something else)."""
    node = read_yaml(path)
    if isinstance(node, dict):
        for kind, keys in MARKS:
            if any(k in node for k in keys):
                return kind
    return "plan"


def _check(path: Path, profile: Profile | None) -> tuple[list[ConfigError], str]:
    """Problems of one file, and the one-line summary printed when there are none."""
    kind = file_kind(path)
    if kind == "envelope":
        envelope = load_model(Envelope, path)
        return envelope_problems(envelope, path, STEP_KINDS), \
            f"envelope {envelope.sku} v{envelope.version} ({len(envelope.limits)} limits)"
    if kind == "station":
        return station_problems(path), summary(path)
    if kind == "profile":
        prof = load_model(Profile, path)
        return [], (f"rack profile {prof.sku}: {len(prof.tray_names())} trays, {len(prof.psu_names())} PSUs, "
                    f"{len(prof.pdus)} PDUs")
    loaded = load_plan(path, STEP_KINDS)
    problems = plan_problems(loaded, STEP_KINDS, profile)
    sku = loaded.plan.profile or (profile.sku if profile else "any SKU")
    return problems, (f"{len(loaded.steps)} steps for {sku}, envelope {loaded.envelope.sku} v{loaded.envelope.version} "
                      f"({len(loaded.envelope.limits)} limits)")
