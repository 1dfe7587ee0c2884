"""The `modelplane` process uses no pydantic plugins: it turns their discovery off before pydantic loads.

Discovery scans every installed distribution's entry points (~15 ms a run), so ``PYDANTIC_DISABLE_PLUGINS`` is
set (unless the caller set it). Even disabled, pydantic's plugin loader imports ``importlib.metadata`` (~20 ms,
a sixtieth of a cold 10,000-node plan) only to answer "no plugins". Where the setting disables every plugin, the
loader is stood in for by one that gives that same answer; a caller who names plugins to leave out keeps
pydantic's own loader.
"""

from __future__ import annotations

import os
import sys
import types

_ALL_DISABLED = ("__all__", "1", "true")
"""The values for which pydantic's ``get_plugins`` returns no plugins whatever is installed."""


def disable() -> None:
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "1")
    if os.environ["PYDANTIC_DISABLE_PLUGINS"] in _ALL_DISABLED and "pydantic.plugin._loader" not in sys.modules:
        loader = types.ModuleType("pydantic.plugin._loader", "modelplane's stand-in: every plugin is disabled")
        loader.get_plugins = _no_plugins  # type: ignore[attr-defined]
        sys.modules["pydantic.plugin._loader"] = loader


def _no_plugins() -> tuple[()]:
    return ()
