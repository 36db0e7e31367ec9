"""The `rackval` command's application object, its consoles and exit codes.

Exit codes of `rackval run`: 0 pass, 1 fail, 2 bad input, 3 aborted or errored.
"""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Hardware-in-the-loop validation of AI racks.")
plans_app = typer.Typer(no_args_is_help=True, help="Check plans and envelopes without touching hardware.")
results_app = typer.Typer(no_args_is_help=True, help="Browse the results store.")
app.add_typer(plans_app, name="plans")
app.add_typer(results_app, name="results")

console = Console()
err = Console(stderr=True)

EXIT_PASS, EXIT_FAIL, EXIT_BAD_INPUT, EXIT_ERROR = 0, 1, 2, 3
VERDICT_STYLE = {"PASS": "bold green", "FAIL": "bold red", "ERROR": "bold magenta", "ABORTED": "bold yellow",
                 "SKIP": "dim"}


def print_error(message: str) -> None:
    """A message from a file or a device, printed as text (never as rich markup)."""
    err.print(f"[red]{escape(message)}[/red]", highlight=False, soft_wrap=True)


def bad_input(message: str) -> NoReturn:
    print_error(message)
    raise typer.Exit(EXIT_BAD_INPUT)
