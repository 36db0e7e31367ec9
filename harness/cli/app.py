"""The `rackval` command's application object, its consoles and exit codes.

Exit codes of `rackval run`: 0 pass, 1 fail, 2 bad input, 3 aborted or errored.
"""

from __future__ import annotations

from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

import harness

# add_completion: typer's --install-completion / --show-completion (bash, zsh, fish, PowerShell)
app = typer.Typer(add_completion=True, no_args_is_help=True, help="Hardware-in-the-loop validation of AI racks.")
plans_app = typer.Typer(no_args_is_help=True, help="Check plans and envelopes without touching hardware.")
results_app = typer.Typer(no_args_is_help=True, help="Browse the results store.")
station_app = typer.Typer(no_args_is_help=True, help="Check station files without touching hardware.")
list_app = typer.Typer(no_args_is_help=True, help="What rackval knows: step kinds, fault scenarios, rack profiles.")
app.add_typer(plans_app, name="plans")
app.add_typer(results_app, name="results")
app.add_typer(station_app, name="station")
app.add_typer(list_app, name="list")

console = Console()
err = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        console.print(f"rackval {harness.__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _options(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                   help="Print rackval's version and exit.")] = False) -> None:
    """Hardware-in-the-loop validation of AI racks."""

EXIT_PASS, EXIT_FAIL, EXIT_BAD_INPUT, EXIT_ERROR = 0, 1, 2, 3
VERDICT_STYLE = {"PASS": "bold green", "FAIL": "bold red", "ERROR": "bold magenta", "ABORTED": "bold yellow",
                 "SKIP": "dim"}


def print_error(message: str) -> None:
    """A message from a file or a device, printed as text (never as rich markup)."""
    err.print(f"[red]{escape(message)}[/red]", highlight=False, soft_wrap=True)


def bad_input(message: str) -> NoReturn:
    print_error(message)
    raise typer.Exit(EXIT_BAD_INPUT)
