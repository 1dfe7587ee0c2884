"""The `modelplane` process turns pydantic's plugin discovery off: with every plugin disabled its loader is a
stand-in with the same answer (no plugins), which spares importing ``importlib.metadata``; a caller who names
plugins to leave out keeps pydantic's own loader."""

from __future__ import annotations

import os
import subprocess
import sys

CODE = (
    "import sys\n"
    "from modelplane import pydantic_plugins\n"
    "pydantic_plugins.disable()\n"
    "from pydantic import TypeAdapter\n"
    "from pydantic.plugin._loader import get_plugins\n"
    "assert TypeAdapter(int).validate_python('3') == 3\n"
    "print(list(get_plugins()), 'importlib.metadata' in sys.modules, hasattr(sys.modules['pydantic.plugin._loader'], "
    "'entry_points'))\n"
)


def _run(**env: str) -> str:
    base = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    out = subprocess.run([sys.executable, "-c", CODE], env={**base, **env}, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_every_plugin_disabled_answers_none_without_importing_package_metadata() -> None:
    assert _run() == "[] False False"  # unset: modelplane disables them all
    assert _run(PYDANTIC_DISABLE_PLUGINS="true") == "[] False False"


def test_plugins_named_by_the_caller_keep_pydantics_own_loader() -> None:
    assert _run(PYDANTIC_DISABLE_PLUGINS="some-plugin") == "[] True True"
