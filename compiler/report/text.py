"""Plan as terminal text: reads like a good terraform plan, summary line first.

Every string that comes from specs, state or git goes through
``terminal.safe_line``: a control character in a value is shown escaped, never
sent to the terminal (see ``compiler/report/terminal.py``).
"""

from __future__ import annotations

from collections.abc import Callable

from modelplane.compiler.capacity.lines import details, headline, shown
from modelplane.compiler.change.impact import CATEGORY_ORDER
from modelplane.compiler.plan.model import DUTY_TITLES, LeftOver, Plan, PlanChange, owners_by_duty
from modelplane.compiler.plan.payloads import RolloutDetails
from modelplane.compiler.report.terminal import safe_line as s
from modelplane.compiler.report.words import plural
from modelplane.compiler.timings import timed

SYMBOLS = {"create": "+", "update": "~", "replace": "-/+", "delete": "-"}
MAX_ROWS = 200


def _fmt(value: object) -> str:
    """A value as the specs would write it (JSON, never a Python repr), cut at 60 characters."""
    if isinstance(value, str):
        return f'"{s(value)}"'
    if value is None:
        return "(unset)"
    import json

    text = s(json.dumps(value, ensure_ascii=False, separators=(", ", ": ")))
    return text if len(text) <= 60 else text[:57] + "..."


def field_delta_text(path: str, before: object, after: object) -> str:
    """One field's change: an item added or removed whole, a plain list's added and removed values,
    or before -> after."""
    if isinstance(before, list) and isinstance(after, list):
        added = [v for v in after if v not in before]
        removed = [v for v in before if v not in after]
        parts = [f"added {', '.join(_fmt(v) for v in added)}"] if added else []
        parts += [f"removed {', '.join(_fmt(v) for v in removed)}"] if removed else []
        return f"{s(path)}: {'; '.join(parts) or 'reordered ' + _fmt(after)}"
    if before is None and isinstance(after, (dict, list)):
        return f"{s(path)}: added {_fmt(after)}"
    if after is None and isinstance(before, (dict, list)):
        return f"{s(path)}: removed {_fmt(before)}"
    return f"{s(path)}: {_fmt(before)} -> {_fmt(after)}"


def summary_line(plan: Plan) -> str:
    c = plan.summary.changes
    parts = [f"{c.get(k, 0)} to {k}" for k in ("create", "update", "replace", "delete")]
    line = f"Plan: {', '.join(parts)}; {plural(sum(plan.summary.actions.values()), 'action')}"
    if plan.summary.left_over:
        line += f" ({plan.summary.left_over} left over from an earlier apply)"
    if plan.moved:
        line += f"; {len(plan.moved)} renamed in place"
    if plan.summary.breaking:
        line += f"; {plan.summary.breaking} breaking"
    if plan.summary.gpus_delta_max:
        line += f"; GPUs {plan.summary.gpus_delta_max:+d} at max replicas"
    if plan.target is not None:
        line += f"; targeted: {s(plan.target)} (other changes are left for a later plan)"
    base = plan.base
    against = (
        f"git {s(base.ref)} ({s((base.commit or '')[:10])})" if base.kind == "git" else f"state serial {base.serial}"
    )
    return f"{line}  [env {s(plan.environment)}, against {against}]"


def _code(value: object) -> str:
    return f"`{s(value)}`"


def _change_detail(ch: PlanChange, text: Callable[[object], str] = s, code: Callable[[object], str] = _code) -> str:
    """What changed, in a few words; ``text`` and ``code`` make user strings safe for the output (terminal or markdown)."""
    if ch.effect == "metadata-only":
        return text("metadata only: ") + text(", ".join(f.path for f in ch.fields))
    if ch.change in ("create", "delete"):
        return ""
    bits = [text(f"BREAKING: {r}") for r in ch.breaking_reasons]
    if ch.columns:
        bits += [text("added column ") + code(c) for c in ch.columns.added]
    shown = [f for f in ch.fields if not f.path.startswith(("spec.schema.columns", "spec.columns"))]
    bits += [text(field_delta_text(f.path, f.before, f.after)) for f in shown[:4]]
    if len(shown) > 4:
        bits.append(text(f"(+{len(shown) - 4} more fields)"))
    return text("; ").join(bits)


def left_over_line(lo: LeftOver) -> str:
    """One pending action: what, why it was left, and (when it cannot run any more) why it is not in the plan."""
    line = f"{s(lo.action)}: {s(lo.reason)}"
    return line if lo.in_plan else f"{line} (not in this plan: {s(lo.note)})"


@timed("report")
def render(plan: Plan, color: bool = False) -> str:
    green, yellow, red, bold, dim, reset = (
        ("\x1b[32m", "\x1b[33m", "\x1b[31m", "\x1b[1m", "\x1b[2m", "\x1b[0m") if color else ("",) * 6
    )
    tone = {"create": green, "update": yellow, "replace": red, "delete": red}
    out = [f"{bold}{summary_line(plan)}{reset}"]
    if not plan.changes and not plan.left_over and not plan.moved:
        out.append("\nNo changes. The specs match what is applied.")
        return "\n".join(out) + "\n"
    if plan.moved:
        out.append(f"\n{bold}Renamed{reset} (`moved` records: updated in place, not deleted and created)")
        out.extend(f"  {yellow}  ~ {s(m.from_id)} -> {s(m.to_id)}{reset}" for m in plan.moved[:MAX_ROWS])
        if len(plan.moved) > MAX_ROWS:
            out.append(f"  {dim}... and {len(plan.moved) - MAX_ROWS} more{reset}")
    if plan.changes:
        width = min(48, max(len(s(c.id)) for c in plan.changes) + 2)
        out.append(f"\n{bold}Changes{reset}")
        for ch in plan.changes[:MAX_ROWS]:
            sym = SYMBOLS[ch.change]
            detail = _change_detail(ch)
            out.append(f"  {tone[ch.change]}{sym:>3} {s(ch.id):<{width}}{reset} {ch.change:<8} {detail}".rstrip())
        if len(plan.changes) > MAX_ROWS:
            out.append(f"  {dim}... and {len(plan.changes) - MAX_ROWS} more changes (see --format json){reset}")
    elif plan.summary.left_over:
        out.append("\nNo changes to the specs, but an earlier apply left work undone.")
    elif plan.moved:
        out.append("\nNo other changes: apply records the new names in the state.")
    else:
        out.append("\nNo changes. The specs match what is applied.")
    if plan.left_over:
        out.append(f"\n{bold}Left over from an earlier apply{reset}")
        for lo in plan.left_over[:MAX_ROWS]:
            out.append(f"  {yellow if lo.in_plan else dim}! {left_over_line(lo)}{reset}")
        if len(plan.left_over) > MAX_ROWS:
            out.append(f"  {dim}... and {len(plan.left_over) - MAX_ROWS} more{reset}")
    if plan.impact:
        out.append(f"\n{bold}Impact{reset}")
        for cat in CATEGORY_ORDER:
            items = [i for i in plan.impact if i.category == cat]
            if not items:
                continue
            colour = red if cat == "broken" else yellow if cat != "notify" else ""
            out.append(f"  {colour}{cat} ({len(items)}){reset}")
            for i in items[:MAX_ROWS]:
                out.append(f"    {s(i.id)}  {dim}<- {' -> '.join(s(r) for r in i.reasons)}{reset}")
            if len(items) > MAX_ROWS:
                out.append(f"    {dim}... and {len(items) - MAX_ROWS} more{reset}")
    if plan.actions:
        out.append(f"\n{bold}Actions{reset} (in order)")
        for n, a in enumerate(plan.actions[:MAX_ROWS], 1):
            after = f"  {dim}after {', '.join(s(d) for d in a.depends_on)}{reset}" if a.depends_on else ""
            d = a.details
            how = " (in place: no new replicas)" if isinstance(d, RolloutDetails) and d.in_place else ""
            if isinstance(d, RolloutDetails) and d.retrain:  # the trained artifact's revision, known once it ran
                how = f" ({d.retrain})"
            out.append(f"  {n:>3}. {a.type:<13} {s(a.target)}{how}{after}")
        if len(plan.actions) > MAX_ROWS:
            out.append(f"  {dim}... and {len(plan.actions) - MAX_ROWS} more actions{reset}")
    if plan.gpu_deltas:
        out.append(f"\n{bold}GPUs{reset} (replicas x GPUs per replica)")
        for g in plan.gpu_deltas:
            out.append(
                f"  stack/{s(g.stack)} {s(g.accelerator)}: max {g.before_max} -> {g.after_max} ({g.delta_max:+d}), "
                f"min {g.before_min} -> {g.after_min} ({g.delta_min:+d})"
            )
    moved = shown(plan.capacity)
    if moved:
        out.append(f"\n{bold}Capacity and cost{reset} (per month at the declared peak)")
        for c in moved[:MAX_ROWS]:
            out.append(f"  {s(headline(c))}")
            out.extend(f"    {dim}{s(line)}{reset}" for line in details(c))
    if plan.owners_to_notify:
        out.append(f"\n{bold}Owners to notify{reset}, by what they must do")
        for duty, owners in owners_by_duty(plan):
            out.append(f"  {DUTY_TITLES[duty]}")
            for o, nodes in owners[:MAX_ROWS]:
                tier = f" (tier {o.most_critical_tier})" if o.most_critical_tier is not None else ""
                more = f" {dim}and {len(nodes) - 5} more{reset}" if len(nodes) > 5 else ""
                out.append(f"    {s(o.owner)}{tier}: {', '.join(s(x) for x in nodes[:5])}{more}")
            if len(owners) > MAX_ROWS:
                out.append(f"    {dim}... and {len(owners) - MAX_ROWS} more owners{reset}")
        owed = [o for o in plan.owners_to_notify if not o.must]
        if owed:
            out.append("  owed from an earlier apply")
            for o in owed:
                tier = f" (tier {o.most_critical_tier})" if o.most_critical_tier is not None else ""
                out.append(f"    {s(o.owner)}{tier}: {', '.join(s(x) for x in o.services) or 'their notice'}")
    return "\n".join(out) + "\n"
