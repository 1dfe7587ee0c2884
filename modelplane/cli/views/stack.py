"""How ``stack preview`` lists what a stack's Pulumi program would create: text, or JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelplane.cli.formats import Format
from modelplane.cli.views.shown import Shown, as_json
from modelplane.compiler.report.words import plural

if TYPE_CHECKING:
    from modelplane.workspace import StackPreview


def preview_json(shown: StackPreview, environment: str) -> dict[str, Any]:
    spec, rendered = shown.spec, shown.rendered
    return {
        "stack": f"stack/{shown.name}",
        "environment": environment,
        "provider": spec["provider"],
        "region": spec["region"],
        "namespace": rendered.namespace,
        "resources": [{"type": r.type, "name": r.name, "summary": r.summary} for r in shown.rows],
        "missing_extras": shown.missing_extras,
    }


def preview_text(shown: StackPreview, environment: str) -> str:
    spec, rendered = shown.spec, shown.rendered
    where = ", ".join(x for x in (spec["provider"], spec["region"], f"namespace {rendered.namespace}") if x)
    lines = [f"stack/{shown.name} ({where}), env {environment}: {plural(len(shown.rows), 'resource')}"]
    for r in shown.rows:
        lines.append(f"  + {r.type}  {r.name}" + (f"\n      {r.summary}" if r.summary else ""))
    for extra in shown.missing_extras:
        lines.append(f"note: node pools not shown: install the `{extra}` extra (pip install 'modelplane[{extra}]')")
    return "\n".join(lines) + "\n"


def preview_view(shown: StackPreview, environment: str, fmt: Format) -> Shown:
    return Shown(as_json(preview_json(shown, environment)) if fmt == Format.json else preview_text(shown, environment))
