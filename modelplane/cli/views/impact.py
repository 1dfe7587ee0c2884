"""How ``impact`` prints what a change affects downstream: text, or the result as JSON."""

from __future__ import annotations

import json
from typing import Any

from modelplane.cli.options import Format
from modelplane.cli.views.shown import Shown, pick


def _text(result: dict[str, Any]) -> str:
    lines = [f"{len(result['changed'])} changed -> {len(result['impact'])} affected"]
    lines += [f"  changed  {cid}" for cid in result["changed"]]
    lines += [f"  {i['category']:<21} {i['id']}  <- {' -> '.join(i['reasons'])}" for i in result["impact"]]
    return "\n".join(lines) + "\n"


def _json(result: dict[str, Any]) -> str:
    return json.dumps(result, indent=2) + "\n"


RENDER = {Format.text: _text, Format.json: _json}


def impact_view(result: dict[str, Any], fmt: Format) -> Shown:
    return pick(RENDER, fmt, result)
