"""What the language server says about the applied state follows the state: after an apply (a new serial)
hover and rename see it within ``RECHECK_S``, and between applies a burst of requests reads only the serial."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from modelplane.compiler.compile import compile_graph
from modelplane.lsp import answers
from modelplane.runtime.settings import settings_for, state_path
from modelplane.runtime.state.sqlite import StateStore
from tests.conftest import EXAMPLES


@dataclass
class _Project:  # the two fields answers._applied reads of a LiveProject
    root: Path
    environment: str


def _record(root: Path, version: str, apply_id: str) -> None:
    graph = compile_graph(root, use_cache=False).graph
    s = settings_for(root, None)
    store = StateStore(state_path(s.root, s.state))
    rows = []
    for n in graph.nodes.values():
        data = n.data
        if str(n.id) == "model/tiny-chat":
            data = {**data, "spec": {**data["spec"], "version": version}}
        rows.append((str(n.id), n.kind, n.file, n.index, data))
    store.record(s.environment, apply_id, upserts=rows)
    store.close()


def test_hover_and_rename_see_an_apply_made_while_the_server_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "quickstart"
    shutil.copytree(EXAMPLES / "quickstart", root)
    lp = _Project(root, settings_for(root, None).environment)
    clock = [1000.0]
    monkeypatch.setattr(answers.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(answers, "_APPLIED_CACHE", {})

    assert answers.applied_ids(lp) == set()  # nothing applied yet: no state store
    _record(root, "1.0.0", "apply-1")
    assert answers.applied_ids(lp) == set()  # trusted for RECHECK_S
    clock[0] += answers.RECHECK_S
    assert "model/tiny-chat" in answers.applied_ids(lp)
    assert answers._applied(lp)["model/tiny-chat"] == "yes, version 1.0.0"

    _record(root, "1.1.0", "apply-2")
    clock[0] += answers.RECHECK_S
    assert answers._applied(lp)["model/tiny-chat"] == "yes, version 1.1.0"

    # an unchanged serial reuses what was read: the whole state is not read again
    reads: list[int] = []
    real = StateStore.applied
    monkeypatch.setattr(StateStore, "applied", lambda self, env: reads.append(1) or real(self, env))
    clock[0] += answers.RECHECK_S
    assert answers._applied(lp)["model/tiny-chat"] == "yes, version 1.1.0"
    assert reads == []
