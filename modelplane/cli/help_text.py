"""Help text fixes: a flag is shown as a flag, not as an option taking a value.

typer 0.29's rich help prints every option's value type, flags included: ``--auto-approve <bool>``
reads as if the option took ``true``/``false``. A boolean flag takes no value (``--auto-approve``),
so its type column is left empty, as click's plain help (and typer before 0.29) writes it.
"""

from __future__ import annotations

from typing import Any


def flags_without_types() -> None:
    """Leave the value type out of a flag's row in the rich help (idempotent; a no-op on a typer without
    ``TyperOption.display_type_rich``, whose help never showed it)."""
    from typer import core

    option = getattr(core, "TyperOption", None)
    shown = getattr(option, "display_type_rich", None)
    if option is None or shown is None or getattr(shown, "_flags_fixed", False):
        return

    def display_type_rich(self: Any, ctx: Any) -> str | None:
        if getattr(self, "is_flag", False) and not getattr(self, "count", False):
            return None
        result: str | None = shown(self, ctx)
        return result

    display_type_rich._flags_fixed = True  # type: ignore[attr-defined]
    option.display_type_rich = display_type_rich
