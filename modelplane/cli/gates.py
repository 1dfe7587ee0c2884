"""What an apply waits for at a rollout gate, and the exact command that lets it go on: said once per gate
while ``apply`` (``--auto-approve`` included: it confirms the plan, not a rollout's gates) or ``status
--watch`` follows it."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any


def _where(settings: Any) -> str:
    """The options that reach this apply from any directory: its environment, and its project where that
    is not the working directory's."""
    out = f" --env {settings.environment}"
    root = Path(settings.root).resolve()
    try:
        from modelplane.workspace import Workspace

        here = Workspace.find_root(Path.cwd())
    except Exception:  # no project here: the command needs -C
        here = None
    if here is None or here.resolve() != root:
        out += f" -C {shlex.quote(str(root))}"
    return out


def gate_notices(progress: Any, settings: Any, said: set[tuple[str, int]]) -> list[str]:
    """A line for each gate ``progress`` waits at that was not ``said`` yet (recorded there)."""
    lines: list[str] = []
    for gate in progress.gates:
        key = (gate.target, gate.step)
        if key in said:
            continue
        said.add(key)
        rollout = progress.rollouts.get(gate.target)
        weight = f" at {rollout.weight}%" if rollout is not None else ""
        why = gate.reason or "approval"
        where = _where(settings)
        name = gate.target.removeprefix("endpoint/")
        lines.append(
            f"{gate.target} waits at step {gate.step + 1}{weight}: {why}. It goes on when someone runs "
            f"`modelplane approve {name}{where}`; `modelplane abort{where}` rolls it back instead"
        )
    return lines


class GateNotices:
    """Prints ``gate_notices`` of each progress a follower sees, on its console."""

    def __init__(self, console: Any, settings: Any) -> None:
        self.console, self.settings = console, settings
        self.said: set[tuple[str, int]] = set()

    def update(self, progress: Any) -> None:
        for notice in gate_notices(progress, self.settings, self.said):
            self.console.print(notice, style="magenta", highlight=False)
