"""`modelplane lsp` over stdio, driven by pygls' LanguageClient (a real LSP client, lsprotocol types) on a
copy of the quickstart: the server runs as its own process, as an editor starts it."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlparse

import pytest
import pytest_asyncio
from lsprotocol import types as lsp
from pygls.lsp.client import LanguageClient

from modelplane.compiler.compile import compile_graph
from modelplane.runtime.settings import settings_for, state_path
from modelplane.runtime.state.sqlite import StateStore
from tests.conftest import EXAMPLES

# a real server process (the language server, or node's yaml-language-server) over stdio
pytestmark = pytest.mark.integration

T = TypeVar("T")
ANSWER_S = 30.0
"""How long a request may take before the test says which one hung (a first compile of the project included)."""


class Session:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.client = LanguageClient("modelplane-tests", "1")
        self.diagnostics: dict[str, list[lsp.Diagnostic]] = {}
        self.changed = asyncio.Event()
        self.messages: list[str] = []

        @self.client.feature(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def _got(params: lsp.PublishDiagnosticsParams) -> None:
            self.diagnostics[params.uri] = params.diagnostics
            self.changed.set()

        @self.client.feature(lsp.WINDOW_SHOW_MESSAGE)
        def _message(params: lsp.ShowMessageParams) -> None:
            self.messages.append(params.message)

    def uri(self, rel: str) -> str:
        return (self.root / rel).resolve().as_uri()

    async def ask(self, what: str, request: Awaitable[T]) -> T:
        try:
            return await asyncio.wait_for(request, ANSWER_S)
        except TimeoutError:
            raise AssertionError(f"no answer to {what} in {ANSWER_S}s; the server said: {self.messages}") from None

    async def start(self) -> None:
        await self.client.start_io(sys.executable, "-m", "modelplane", "lsp", cwd=str(self.root))
        await self.ask(
            "initialize",
            self.client.initialize_async(
                lsp.InitializeParams(capabilities=lsp.ClientCapabilities(), root_uri=self.root.resolve().as_uri())
            ),
        )
        self.client.initialized(lsp.InitializedParams())

    async def stop(self) -> None:
        await self.ask("shutdown", self.client.shutdown_async(None))
        self.client.exit(None)
        await self.client.stop()

    async def open(self, rel: str) -> list[lsp.Diagnostic]:
        text = (self.root / rel).read_text()
        self.diagnostics.pop(self.uri(rel), None)
        self.client.text_document_did_open(
            lsp.DidOpenTextDocumentParams(
                text_document=lsp.TextDocumentItem(uri=self.uri(rel), language_id="yaml", version=1, text=text)
            )
        )
        for _ in range(int(ANSWER_S * 10)):  # the server publishes for the opened file: wait for it
            if self.uri(rel) in self.diagnostics:
                return self.diagnostics[self.uri(rel)]
            await asyncio.sleep(0.1)
        raise AssertionError(f"no diagnostics for {rel} after opening it; the server said: {self.messages}")

    async def change(self, rel: str, text: str, version: int) -> list[lsp.Diagnostic]:
        self.changed.clear()
        self.diagnostics.pop(self.uri(rel), None)
        self.client.text_document_did_change(
            lsp.DidChangeTextDocumentParams(
                text_document=lsp.VersionedTextDocumentIdentifier(version=version, uri=self.uri(rel)),
                content_changes=[lsp.TextDocumentContentChangeWholeDocument(text=text)],
            )
        )
        while self.uri(rel) not in self.diagnostics:
            await self.ask("didChange (publishDiagnostics)", self.changed.wait())
            self.changed.clear()
        return self.diagnostics[self.uri(rel)]

    def at(self, rel: str, needle: str, offset: int = 0) -> tuple[lsp.TextDocumentIdentifier, lsp.Position]:
        lines = (self.root / rel).read_text().splitlines()
        for i, line in enumerate(lines):
            if needle in line:
                return lsp.TextDocumentIdentifier(uri=self.uri(rel)), lsp.Position(
                    line=i, character=line.index(needle) + offset
                )
        raise AssertionError(f"{needle!r} not in {rel}")


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "quickstart"
    shutil.copytree(EXAMPLES / "quickstart", root)
    return root


@pytest_asyncio.fixture
async def session(tmp_path: Path) -> AsyncIterator[Session]:
    s = Session(_copy(tmp_path))
    await s.start()
    yield s
    await s.stop()


def _rel(uri: str, root: Path) -> str:
    return Path(unquote(urlparse(uri).path)).relative_to(root.resolve()).as_posix()


def apply_edit(root: Path, edit: lsp.WorkspaceEdit) -> dict[str, str]:
    """Write a WorkspaceEdit's text edits into the files, as an editor applies a rename: each file's edits
    from the last position back, so earlier positions stay valid. Returns the new text by file."""
    assert edit.changes, edit
    out = {}
    for uri, edits in edit.changes.items():
        path = Path(unquote(urlparse(uri).path))
        lines = path.read_text().split("\n")
        for e in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
            start, end = e.range.start, e.range.end
            while len(lines) <= end.line:  # an insertion after the last line
                lines.append("")
            head = lines[start.line][: start.character]
            tail = lines[end.line][end.character :]
            lines[start.line : end.line + 1] = (head + e.new_text + tail).split("\n")
        path.write_text("\n".join(lines))
        out[_rel(uri, root)] = path.read_text()
    return out


# -- diagnostics, navigation and completion --------------------------------------------------------------


async def test_diagnostics_after_an_edit(session: Session) -> None:
    rel = "specs/serving.yaml"
    assert not [d for d in await session.open(rel) if d.severity == lsp.DiagnosticSeverity.Error]
    text = (session.root / rel).read_text()
    broken = await session.change(rel, text.replace("  model: tiny-chat", "  model: tiny-chta"), 2)
    dangling = [d for d in broken if d.code == "dangling-reference"]
    assert dangling and "no model named `tiny-chta`" in dangling[0].message, broken
    assert dangling[0].range.start.line == 17  # line 18: `model: tiny-chat`
    assert dangling[0].range.start.character == len("  model: ")
    assert not [d for d in await session.change(rel, text, 3) if d.severity == lsp.DiagnosticSeverity.Error]


async def test_a_did_you_mean_diagnostic_has_a_quick_fix(session: Session) -> None:
    rel = "specs/serving.yaml"
    await session.open(rel)
    text = (session.root / rel).read_text()
    broken = await session.change(rel, text.replace("  model: tiny-chat", "  model: tiny-chta"), 2)
    dangling = next(d for d in broken if d.code == "dangling-reference")
    assert "did you mean `tiny-chat`" in dangling.message, dangling.message
    actions = await session.ask(
        "codeAction",
        session.client.text_document_code_action_async(
            lsp.CodeActionParams(
                text_document=lsp.TextDocumentIdentifier(uri=session.uri(rel)),
                range=dangling.range,
                context=lsp.CodeActionContext(diagnostics=[dangling]),
            )
        ),
    )
    fixes = [a for a in actions or [] if isinstance(a, lsp.CodeAction) and a.kind == lsp.CodeActionKind.QuickFix]
    assert [a.title for a in fixes] == ["Change to `tiny-chat`"], actions
    assert fixes[0].edit is not None and fixes[0].edit.changes is not None
    (edit,) = fixes[0].edit.changes[session.uri(rel)]
    assert edit.new_text == "tiny-chat" and edit.range == dangling.range
    line = text.replace("  model: tiny-chat", "  model: tiny-chta").splitlines()[edit.range.start.line]
    assert line[edit.range.start.character : edit.range.end.character] == "tiny-chta"  # it replaces the typo


async def test_definition_references_hover_completion(session: Session) -> None:
    rel = "specs/serving.yaml"
    await session.open(rel)
    doc, pos = session.at(rel, "model: tiny-chat", len("model: ") + 2)
    found: Any = await session.ask(
        "definition",
        session.client.text_document_definition_async(lsp.DefinitionParams(text_document=doc, position=pos)),
    )
    assert [(_rel(x.uri, session.root), x.range.start.line) for x in found] == [("specs/model.yaml", 15)]
    refs = await session.ask(
        "references",
        session.client.text_document_references_async(
            lsp.ReferenceParams(text_document=doc, position=pos, context=lsp.ReferenceContext(include_declaration=True))
        ),
    )
    places = sorted((_rel(x.uri, session.root), x.range.start.line) for x in refs or [])
    # the definition, the workflow's output, the evaluation's model and the endpoint's model: across files and kinds
    assert ("specs/model.yaml", 15) in places and ("specs/serving.yaml", 17) in places, places
    assert ("specs/model.yaml", 9) in places and ("specs/model.yaml", 36) in places, places
    hover = await session.ask(
        "hover", session.client.text_document_hover_async(lsp.HoverParams(text_document=doc, position=pos))
    )
    assert hover is not None and isinstance(hover.contents, lsp.MarkupContent)
    shown = hover.contents.value
    assert "**Model** `tiny-chat`" in shown and "owner: `team-ml`" in shown, shown
    assert "applied: not yet" in shown and "downstream if it changes" in shown, shown
    done = await session.ask(
        "completion",
        session.client.text_document_completion_async(lsp.CompletionParams(text_document=doc, position=pos)),
    )
    labels = [i.label for i in (done.items if isinstance(done, lsp.CompletionList) else done or [])]
    assert "tiny-chat" in labels and "support-pairs" not in labels, labels  # a model field completes model names


async def test_document_symbols_name_each_node_of_a_file(session: Session) -> None:
    rel = "specs/model.yaml"
    await session.open(rel)
    symbols = await session.ask(
        "documentSymbol",
        session.client.text_document_document_symbol_async(
            lsp.DocumentSymbolParams(text_document=lsp.TextDocumentIdentifier(uri=session.uri(rel)))
        ),
    )
    got = [(s.name, s.detail, s.selection_range.start.line) for s in symbols or [] if isinstance(s, lsp.DocumentSymbol)]
    assert got == [
        ("finetune-tiny-chat", "Workflow", 4),
        ("tiny-chat", "Model", 15),
        ("tiny-chat-quality", "Evaluation", 32),
    ]


# -- rename across files and kinds, and the plan after it ---------------------------------------------------


def _seed_applied(root: Path) -> None:
    """The quickstart as if applied in full (every compiled node recorded in its state store)."""
    graph = compile_graph(root, use_cache=False).graph
    s = settings_for(root, None)
    store = StateStore(state_path(s.root, s.state))
    store.record(
        s.environment, "apply-1", upserts=[(str(n.id), n.kind, n.file, n.index, n.data) for n in graph.nodes.values()]
    )
    store.close()


def _plan(root: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "modelplane", "plan", "-C", str(root), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    plan: dict[str, Any] = json.loads(proc.stdout)
    return plan


async def _rename(s: Session, rel: str, needle: str, offset: int, new_name: str) -> lsp.WorkspaceEdit:
    doc, pos = s.at(rel, needle, offset)
    prepared = await s.ask(
        "prepareRename",
        s.client.text_document_prepare_rename_async(lsp.PrepareRenameParams(text_document=doc, position=pos)),
    )
    assert isinstance(prepared, lsp.Range), prepared
    line = (s.root / rel).read_text().splitlines()[pos.line]
    assert line[prepared.start.character : prepared.end.character] == "tiny-chat"  # what the editor shows to edit
    edit = await s.ask(
        "rename",
        s.client.text_document_rename_async(lsp.RenameParams(text_document=doc, position=pos, new_name=new_name)),
    )
    assert edit is not None
    return edit


async def test_a_rename_across_kinds_is_an_update_in_the_next_plan(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    _seed_applied(root)
    assert _plan(root)["changes"] == []
    s = Session(root)
    await s.start()
    try:
        await s.open("specs/serving.yaml")
        # renamed where the endpoint names it: the preview (WorkspaceEdit) covers every file and kind
        edit = await _rename(s, "specs/serving.yaml", "model: tiny-chat", len("model: "), "tiny-chatbot")
    finally:
        await s.stop()
    assert edit.changes is not None
    by_file = {_rel(u, root): sorted(e.range.start.line for e in edits) for u, edits in edit.changes.items()}
    # the Model's name; the Workflow's output, the Evaluation's model; the Endpoint's model; the moved record
    assert by_file["specs/model.yaml"] == [9, 15, 36], by_file
    assert by_file["specs/serving.yaml"] == [17], by_file
    assert "modelplane.yaml" in by_file, by_file
    written = apply_edit(root, edit)
    assert "moved:\n  - {from: model/tiny-chat, to: model/tiny-chatbot}\n" in written["modelplane.yaml"]
    model = written["specs/model.yaml"]
    assert ": tiny-chat\n" not in model and "model/tiny-chat]" not in model and "name: tiny-chatbot\n" in model

    plan = _plan(root)
    kinds = {c["id"]: c["change"] for c in plan["changes"]}
    assert "delete" not in kinds.values() and "create" not in kinds.values(), kinds
    assert plan["moved"] == [{"from_id": "model/tiny-chat", "to_id": "model/tiny-chatbot"}]
    # the nodes that name the model now say the new name: updated in place, not replaced
    assert set(kinds) <= {"workflow/finetune-tiny-chat", "evaluation/tiny-chat-quality", "endpoint/tiny-chat"}, kinds
    assert all(c == "update" for c in kinds.values()), kinds
    text = subprocess.run(
        [sys.executable, "-m", "modelplane", "plan", "-C", str(root)], capture_output=True, text=True, timeout=120
    ).stdout
    assert "0 to create" in text and "0 to delete" in text and "model/tiny-chat -> model/tiny-chatbot" in text, text
    markdown = subprocess.run(
        [sys.executable, "-m", "modelplane", "plan", "-C", str(root), "--format", "markdown"],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    assert "1 renamed in place" in markdown and "`model/tiny-chat` → `model/tiny-chatbot`" in markdown, markdown


async def test_a_node_never_applied_is_renamed_without_a_moved_record(session: Session) -> None:
    await session.open("specs/serving.yaml")
    edit = await _rename(session, "specs/serving.yaml", "model: tiny-chat", len("model: "), "tiny-chatbot")
    assert edit.changes is not None and session.uri("modelplane.yaml") not in edit.changes
