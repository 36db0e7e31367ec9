"""How `rackval ... --help` shows options: an on/off flag shows no value type.

typer 0.29 prints every option's type in its own column, flags included (``--sim <bool>``, ``--yes <bool>``,
``--help <bool>``), as if they took a value; a technician then types ``--sim true``. Imported once by
``harness.cli``, before any help is rendered; an option with its own ``metavar`` is shown as it says.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperOption

_typer_display_type_rich = TyperOption.display_type_rich


def _display_type_rich(self: TyperOption, ctx: Any) -> str | None:
    if getattr(self, "is_flag", False) and self.metavar is None:
        return None  # a flag takes no value
    return _typer_display_type_rich(self, ctx)


TyperOption.display_type_rich = _display_type_rich  # type: ignore[method-assign]
