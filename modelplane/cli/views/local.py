"""How the local stack's commands report: ``load``'s latency summary and ``down``'s list of what it stopped."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from modelplane.cli.formats import Format
from modelplane.cli.views.shown import Shown, as_json
from modelplane.compiler.report.words import plural

if TYPE_CHECKING:
    from modelplane.workspace import Down


def load_view(summary: dict[str, Any], wall_s: float, fmt: Format) -> Shown:
    if fmt == Format.json:
        return Shown(json.dumps(summary, indent=2) + "\n")
    lines = [
        f"{plural(summary['sent'], 'request')} in {wall_s:.1f}s ({summary['achieved_qps']}/s): {summary['ok']} ok, "
        f"{plural(summary['errors'], 'error')}, {summary['dropped']} dropped",
        f"latency p50 {summary['p50_ms']:.1f} ms  p90 {summary['p90_ms']:.1f} ms  p99 {summary['p99_ms']:.1f} ms"
        f"  max {summary['max_ms']:.1f} ms"
        if summary["p50_ms"] is not None
        else "no responses",
        "by revision: " + ", ".join(f"{r} {n}" for r, n in sorted(summary["by_revision"].items())),
    ]
    return Shown("\n".join(lines) + "\n")


def down_json(done: Down, environment: str) -> dict[str, Any]:
    return {
        "environment": environment,
        "stopped": done.stopped,
        "forgotten": done.forgotten,
        "worker_stopped": done.worker_stopped,
        "server_stopped": done.server_stopped,
    }


def down_text(done: Down, environment: str) -> str:
    lines = [f"  stopped endpoint/{name} ({plural(n, 'process')})" for name, n in done.stopped.items()]
    if done.worker_stopped:
        lines.append("  stopped the background worker")
    if done.server_stopped:
        lines.append("  stopped the embedded Temporal server")
    gone = done.forgotten
    again = f"; {plural(len(gone), 'node')} will be provisioned again by apply" if gone else ""
    lines.append(f"✓ {environment} is down{again}")
    return "\n".join(lines) + "\n"


def down_view(done: Down, environment: str, fmt: Format) -> Shown:
    return Shown(as_json(down_json(done, environment)) if fmt == Format.json else down_text(done, environment))
