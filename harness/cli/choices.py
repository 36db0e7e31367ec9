"""What the command line offers to choose from, for help text and shell completion.

Read from the data each time (``fixtures/profiles``, ``fixtures/faults``, the step-kind registry), so a new
profile or scenario shows up in ``--help``, in ``rackval list`` and on Tab without touching the CLI. Options
that take one of them also accept a .yaml path, so they list their values rather than refuse others.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Annotated

import typer

from harness.paths import fixtures_dir

#: `rackval run`'s exit codes, for its --help (the README's table says the same)
EXIT_CODES = {
    0: "every step passed and the rack reached its safe state",
    1: "a check failed: the table names the measurement, its value, the limit and the component",
    2: "bad input: a plan, envelope or station file is wrong (file:line: field: what is wrong), or the rack "
       "serial does not match the rack; nothing was switched",
    3: "the run was aborted (Ctrl-C, SIGTERM) or could not complete (a device error, safe state not verified)",
}
EXIT_CODES_HELP = "Exit codes:\n\n" + "\n\n".join(f"{code}  {text}" for code, text in EXIT_CODES.items())


def profile_names() -> list[str]:
    """The rack profiles shipped in fixtures/profiles (SKU names)."""
    return sorted(p.stem for p in (fixtures_dir() / "profiles").glob("*.yaml"))


def fault_names() -> list[str]:
    """The fault scenarios shipped in fixtures/faults."""
    return sorted(p.stem for p in (fixtures_dir() / "faults").glob("*.yaml"))


def step_kind_names() -> list[str]:
    from harness.steps import STEP_KINDS  # the kinds load only when asked for

    return STEP_KINDS.names()


def kind_summary(kind: object) -> str:
    """What a step kind does, in one sentence: its module docstring's first, without ``name:``."""
    doc = (sys.modules[type(kind).__module__].__doc__ or "").strip().split("\n\n")[0]
    sentence = " ".join(doc.split()).split(". ")[0].rstrip(".")
    return sentence.removeprefix(f"{getattr(kind, 'name', '')}:").strip() + "."


def completer(values: Callable[[], list[str]]) -> Callable[[str], list[str]]:
    """A shell-completion callback offering ``values()`` that start with what was typed."""
    def complete(incomplete: str) -> list[str]:
        return [v for v in values() if v.startswith(incomplete)]
    return complete


def listed(what: str, values: Callable[[], list[str]], *, path_too: bool = True) -> str:
    """Help text naming every value (computed when the CLI is built, so it is always the current set)."""
    return f"{what}: {', '.join(values())}" + (" (or a .yaml path)" if path_too else "")


ProfileOption = Annotated[str | None, typer.Option(
    "--profile", metavar="SKU", autocompletion=completer(profile_names),
    help=listed("rack profile", profile_names))]
FaultOption = Annotated[str | None, typer.Option(
    "--fault", metavar="SCENARIO", autocompletion=completer(fault_names),
    help=listed("fault scenario injected into the simulated rack (rackval list faults)", fault_names))]
StoreOption = Annotated[str | None, typer.Option(
    "--store", metavar="URL",
    help="results store: sqlite:///PATH or postgresql+psycopg://user:password@host/db (default: runs/results.db)")]
