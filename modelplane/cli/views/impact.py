"""How ``impact`` prints what a change affects downstream: text, or the result as JSON."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from modelplane.cli.formats import Format
from modelplane.cli.views.shown import Shown, pick

if TYPE_CHECKING:
    from modelplane.compiler.change.whatif import ImpactReport


def _text(result: ImpactReport) -> str:
    lines = [f"{len(result.changed)} changed -> {len(result.affected)} affected"]
    lines += [f"  changed  {cid}" for cid in result.changed]
    lines += [f"  {i.category:<21} {i.id}  <- {' -> '.join(i.reasons)}" for i in result.affected]
    return "\n".join(lines) + "\n"


def _json(result: ImpactReport) -> str:
    return json.dumps(result.to_json(), indent=2) + "\n"


RENDER = {Format.text: _text, Format.json: _json}


def impact_view(result: ImpactReport, fmt: Format) -> Shown:
    return pick(RENDER, fmt, result)
