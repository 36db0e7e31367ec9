"""`python -m harness.cli`: the `rackval` command."""

from harness.cli import main

main()
