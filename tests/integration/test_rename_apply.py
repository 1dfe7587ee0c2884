"""A rename through the language server, applied for real: the plan updates the renamed node in place, the
durable apply renames its state row (in the transaction that records the apply's writes), and the next plan
says no changes. Real Temporal, real worker, `modelplane lsp` over stdio."""

from __future__ import annotations

import json
from typing import Any

import pytest
from lsprotocol import types as lsp

from modelplane.runtime.settings import settings_for, state_path
from modelplane.runtime.state.sqlite import StateStore
from tests.integration.pipeline import Pipeline
from tests.lsp.test_language_server import Session, apply_edit

pytestmark = pytest.mark.integration


async def _rename(p: Pipeline, needle: str, offset: int, new_name: str) -> None:
    s = Session(p.root)
    await s.start()
    try:
        await s.open("specs/pipeline.yaml")
        doc, pos = s.at("specs/pipeline.yaml", needle, offset)
        edit = await s.ask(
            "rename",
            s.client.text_document_rename_async(lsp.RenameParams(text_document=doc, position=pos, new_name=new_name)),
        )
    finally:
        await s.stop()
    assert edit is not None
    written = apply_edit(p.root, edit)
    assert "moved:" in written["modelplane.yaml"], written  # an applied node: the move is recorded


def _plan(p: Pipeline) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(p.run("plan", "--format", "json", check=True).stdout)
    return out


def _state_ids(p: Pipeline) -> set[str]:
    s = settings_for(p.root, None)
    store = StateStore(state_path(s.root, s.state))
    try:
        return set(store.applied("dev").nodes)
    finally:
        store.close()


async def test_a_renamed_model_is_updated_in_place_and_its_state_row_renamed(pipeline: Pipeline) -> None:
    pipeline.run("apply", "--auto-approve", check=True)
    assert "model/chat" in _state_ids(pipeline)

    # the model, named by a workflow's outputs, an evaluation and a service: renamed across kinds
    await _rename(pipeline, "metadata: {name: chat,", len("metadata: {name: "), "chatbot")
    plan = _plan(pipeline)
    changes = {c["id"]: c["change"] for c in plan["changes"]}
    assert "delete" not in changes.values() and "create" not in changes.values(), changes
    assert plan["moved"] == [{"from_id": "model/chat", "to_id": "model/chatbot"}]

    pipeline.run("apply", "--auto-approve", check=True)
    ids = _state_ids(pipeline)
    assert "model/chatbot" in ids and "model/chat" not in ids, ids
    again = pipeline.run("plan", "--detailed-exitcode")
    assert again.returncode == 0 and "No changes" in again.stdout, again.stdout + again.stderr

    # a rename nothing else follows (no other spec changes): the plan has only the move, apply records it
    await _rename(pipeline, "metadata: {name: helpdesk,", len("metadata: {name: "), "help-desk")
    only_move = pipeline.run("plan")
    assert "0 to create" in only_move.stdout and "0 to delete" in only_move.stdout, only_move.stdout
    assert "service/helpdesk -> service/help-desk" in only_move.stdout, only_move.stdout
    pipeline.run("apply", "--auto-approve", check=True)
    ids = _state_ids(pipeline)
    assert "service/help-desk" in ids and "service/helpdesk" not in ids, ids
    assert pipeline.run("plan", "--detailed-exitcode").returncode == 0
