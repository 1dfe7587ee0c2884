"""How a running or finished apply looks on a terminal (a live table) and in a log (one line per change)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from modelplane.compiler.report.words import plural

if TYPE_CHECKING:
    from modelplane.runtime.temporal.messages import ActionResult, Progress, RolloutStatus

SYMBOL = {"pending": "·", "running": "⟳", "succeeded": "✓", "failed": "✗", "skipped": "-"}
STYLE = {"pending": "dim", "running": "cyan", "succeeded": "green", "failed": "red bold", "skipped": "yellow"}


def _elapsed(r: ActionResult, now: datetime | None = None) -> str:
    if r.started_at is None:
        return ""
    end = r.finished_at or now
    if end is None:
        return ""
    return f"{(end - r.started_at).total_seconds():.1f}s"


def headline(p: Progress) -> str:
    counts = p.counts()
    parts = [f"{counts[k]} {k}" for k in ("succeeded", "running", "pending", "failed", "skipped") if counts.get(k)]
    return f"apply {p.apply_id} on {p.environment}: {p.state} ({', '.join(parts) or 'no actions'})"


def table(p: Progress, now: datetime | None = None) -> Table:
    t = Table(title=headline(p), title_justify="left", show_edge=False, box=None, pad_edge=False)
    t.add_column("", width=1)
    t.add_column("action")
    t.add_column("state")
    t.add_column("time", justify="right")
    t.add_column("detail", overflow="fold")
    for aid in p.order:
        r = p.actions[aid]
        t.add_row(
            Text(SYMBOL[r.state], style=STYLE[r.state]),
            aid,
            Text(r.state, style=STYLE[r.state]),
            _elapsed(r, now),
            detail(r),
        )
    for ro in p.rollouts.values():
        t.add_row(Text("~", style="cyan"), f"rollout {ro.target}", rollout_line(ro, now), "", verdict_line(ro.verdict))
    for g in p.gates:
        why = f" ({g.reason})" if g.reason else ""
        t.add_row(
            Text("?", style="magenta"), f"gate {g.target} step {g.step + 1}", "waiting", "", "modelplane approve" + why
        )
    return t


def rollout_line(r: RolloutStatus, now: datetime | None = None) -> str:
    """Where a rollout is: step, weight, phase (and how far into its window, while analysing)."""
    if r.first:  # no stable revision: no canary steps, the revision takes all traffic once ready
        return f"first deploy (no stable revision to canary against): {r.weight}% {r.phase}, {plural(r.replicas, 'replica')}"
    window = ""
    if r.phase == "analysis":
        done = f"{min(r.window_s, (now - r.since).total_seconds()):.0f}/" if now is not None else ""
        window = f" ({done}{r.window_s:g} s window)"
    return f"step {r.step + 1}/{r.steps} weight {r.weight}% {r.phase}{window}, {plural(r.replicas, 'canary replica')}"


def verdict_figures(v: dict[str, Any]) -> list[str]:
    """The canary's counts that the verdict's reason does not already state: each figure is shown once."""
    c = v.get("canary") or {}
    if "requests" not in c:
        return []
    reason = str(v.get("reason", ""))
    n, synthetic = c.get("requests", 0), c.get("synthetic", 0)
    out = []
    count_said = re.search(rf"\b{n} (canary )?requests?\b", reason) is not None
    split_said = not synthetic or re.search(rf"\b{synthetic} synthetic\b", reason) is not None
    if not split_said:  # how many of them were real traffic is the figure a rank test's reason never gives
        split = f"{c.get('real', n - synthetic)} real, {synthetic} synthetic"
        out.append(split if count_said else f"{plural(n, 'request')}: {split}")
    elif not count_said:
        out.append(plural(n, "request"))
    errors = c.get("errors", 0)
    if not re.search(rf"\b{errors} errors?\b", reason):
        out.append(plural(errors, "error"))
    p99 = c.get("p99_ms")
    if p99 is not None:
        said = (f"p99 {p99} ms", f"p99 {p99:.0f} ms") if isinstance(p99, int | float) else (f"p99 {p99} ms",)
        if not any(x in reason for x in said):
            out.append(f"p99 {p99:.0f} ms" if isinstance(p99, int | float) else f"p99 {p99} ms")
    return out


def verdict_line(v: dict[str, Any] | None) -> str:
    """The last verdict: its result, gate and reason, and the canary's figures the reason does not give."""
    if not v:
        return ""
    figures = verdict_figures(v)
    where = f"step {int(v['step']) + 1} at {v.get('weight')}% " if "step" in v else ""
    reason = str(v.get("reason", "")).strip()
    line = f"last: {where}{v.get('result')} ({v.get('gate')})" + (f" {reason}" if reason else "")
    return line + (f" [{'; '.join(figures)}]" if figures else "")


def detail(r: ActionResult) -> str:
    if r.error:
        return r.error.splitlines()[0]
    out = r.output
    if "metrics" in out:
        return "metrics " + ", ".join(f"{k}={v}" for k, v in out["metrics"].items())
    if out.get("replayed"):
        return "already done (ledger)"
    for key in ("url", "version", "message"):
        if key in out:
            return str(out[key])
    return ""


class LineLog:
    """Prints one line whenever an action changes state: readable in CI logs and pipes."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.seen: dict[str, str] = {}

    def update(self, p: Progress) -> None:
        if self.seen.get("state:") != p.state:
            if p.state == "paused" or self.seen.get("state:") == "paused":
                said = "paused: run `modelplane resume` to go on" if p.state == "paused" else f"{p.state} again"
                self.console.print(f"  apply {p.apply_id} {said}", highlight=False)
            self.seen["state:"] = p.state
        for aid in p.order:
            r = p.actions[aid]
            if self.seen.get(aid) == r.state or r.state == "pending":
                continue
            self.seen[aid] = r.state
            line = Text(f"  {SYMBOL[r.state]} ", style=STYLE[r.state])
            line.append(f"{aid}  {r.state}")
            if r.state != "running":
                line.append(f"  {_elapsed(r)}", style="dim")
                if d := detail(r):
                    line.append(f"  {d}", style="red" if r.state == "failed" else "dim")
            self.console.print(line, highlight=False)
        for ro in p.rollouts.values():
            key = f"~{ro.target}"  # not an action id (those are `rollout:<target>`)
            where = f"{rollout_line(ro)}  {verdict_line(ro.verdict)}".rstrip()
            if self.seen.get(key) != where:
                self.seen[key] = where
                self.console.print(f"  ~ {ro.target} {where}", highlight=False)
        for g in p.gates:
            key = f"gate:{g.target}:{g.step}"
            if key not in self.seen:
                self.seen[key] = "waiting"
                why = f" ({g.reason})" if g.reason else ""
                self.console.print(
                    f"  ? {g.target} waits for approval: modelplane approve {g.target}{why}", highlight=False
                )
