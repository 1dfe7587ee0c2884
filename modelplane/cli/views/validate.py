"""How ``validate`` reports a valid project: a line per environment (text) or one JSON document."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING

from modelplane.cli.formats import Format
from modelplane.cli.views.shown import Shown
from modelplane.compiler.report.words import plural

if TYPE_CHECKING:
    from modelplane.environments import EveryEnvironment


def validate_view(every: EveryEnvironment, envs: list[str], fmt: Format, *, color: bool = False) -> Shown:
    """``every`` found nothing wrong; its warnings go to stderr (text) or into the document (JSON)."""
    from modelplane.cli.views.diagnostics import SHOWN_PER_WARNING, to_json, to_text

    found = every.validations[0]
    if fmt == Format.json:
        summary = {k: v for k, v in asdict(found).items() if k != "warnings"}
        payload = {"ok": True, "errors": [], "warnings": to_json(every.warnings), **summary, "environments": envs}
        return Shown(json.dumps(payload) + "\n")
    from modelplane.specs.base import KIND_ORDER

    kinds = found.kinds
    detail = ", ".join(plural(kinds[k], k.lower()) for k in KIND_ORDER if k in kinds)
    lines = [
        f"✓ {plural(found.nodes, 'spec')} valid in {plural(found.files, 'file')} (env {found.environment}): {detail}"
    ]
    lines += [f"✓ {plural(other.nodes, 'spec')} valid in env {other.environment}" for other in every.validations[1:]]
    warned = to_text(every.warnings, color=color, shown_per_warning=SHOWN_PER_WARNING) if every.warnings else ""
    stderr = "\n" + warned + "\n" if warned else ""
    return Shown("\n".join(lines) + "\n", stderr)
