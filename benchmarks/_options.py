"""The command line of a benchmark whose options are plain numbers."""

from __future__ import annotations

import argparse


def options(doc: str | None, **defaults: float | str) -> argparse.Namespace:
    """Parse ``--name N`` for each default given (``max_rps=5`` is ``--max-rps``, typed like its default)."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, default in defaults.items():
        ap.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default, help=f"default {default}")
    return ap.parse_args()
