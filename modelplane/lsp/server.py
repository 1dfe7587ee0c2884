"""``modelplane lsp``: the language server editors run (pygls 2, stdio).

Every open spec file is checked against the whole project on each change (the
``LiveProject`` behind it re-validates only the edited document and re-runs the graph rules
on the part of the graph it touches). Definition, references, hover, completion, rename
(a WorkspaceEdit across files and kinds; for a node the state has applied, a ``moved``
record in modelplane.yaml so the next plan updates it in place), document symbols and
did-you-mean quick fixes answer from the same indexes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer

from modelplane.compiler.incremental.live import LiveProject, word_at
from modelplane.errors import Diagnostic
from modelplane.lsp import answers

SEVERITY = {"error": lsp.DiagnosticSeverity.Error, "warning": lsp.DiagnosticSeverity.Warning}


class ModelplaneServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("modelplane", "0.1.0", text_document_sync_kind=lsp.TextDocumentSyncKind.Full)
        self.live: LiveProject | None = None

    def project(self) -> LiveProject:
        assert self.live is not None, "initialize first"
        return self.live

    def rel(self, uri: str) -> str | None:
        """The project-relative path of a document, if it is one of the project's spec files."""
        if self.live is None:
            return None
        path = Path(unquote(urlparse(uri).path))
        try:
            return path.resolve().relative_to(self.live.root.resolve()).as_posix()
        except ValueError:
            return None

    def uri(self, rel: str) -> str:
        return (self.project().root / rel).resolve().as_uri()

    def publish(self, files: set[str]) -> None:
        for rel in sorted(files):
            diags = [to_lsp(d) for d in self.project().diagnostics(rel)]
            self.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri=self.uri(rel), diagnostics=diags))


def to_lsp(d: Diagnostic) -> lsp.Diagnostic:
    loc = d.location
    line = (loc.line - 1) if loc else 0
    col = (loc.column - 1) if loc else 0
    message = d.message + (f"\nhint: {d.hint}" if d.hint else "")
    return lsp.Diagnostic(
        range=lsp.Range(lsp.Position(line, col), lsp.Position(line, col + max(1, d.width))),
        message=message,
        severity=SEVERITY.get(d.severity, lsp.DiagnosticSeverity.Information),
        code=d.code,
        source="modelplane",
        data=d.to_json(),  # the diagnostic's one JSON form: code actions read its hint from here
    )


server = ModelplaneServer()


@server.feature(lsp.INITIALIZED)
def _initialized(ls: ModelplaneServer, params: lsp.InitializedParams) -> None:
    if ls.live is None:
        _open_project(ls)


def _open_project(ls: ModelplaneServer) -> None:
    from modelplane.compiler.source.scan import find_root

    folder = ls.workspace.root_path or "."
    ls.live = LiveProject(find_root(Path(folder)))
    ls.publish({rel for rel in ls.live.files if ls.live.diagnostics(rel)})


@server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
def _did_open(ls: ModelplaneServer, params: lsp.DidOpenTextDocumentParams) -> None:
    if ls.live is None:
        _open_project(ls)
    rel = ls.rel(params.text_document.uri)
    if rel is not None and rel in ls.project().files:
        ls.publish(ls.project().update(rel, params.text_document.text))


@server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
def _did_change(ls: ModelplaneServer, params: lsp.DidChangeTextDocumentParams) -> None:
    rel = ls.rel(params.text_document.uri)
    if rel is None or rel not in ls.project().files:
        return
    text = ls.workspace.get_text_document(params.text_document.uri).source  # pygls applied the change
    ls.publish(ls.project().update(rel, text))


def _at(ls: ModelplaneServer, uri: str, pos: lsp.Position) -> tuple[str, int, int] | None:
    rel = ls.rel(uri)
    if rel is None or rel not in ls.project().files:
        return None
    return rel, pos.line + 1, pos.character + 1


def _location(ls: ModelplaneServer, where: answers.Span) -> lsp.Location:
    rel, line, col, width = where
    start = lsp.Position(line - 1, col - 1)
    return lsp.Location(ls.uri(rel), lsp.Range(start, lsp.Position(line - 1, col - 1 + width)))


@server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
def _definition(ls: ModelplaneServer, params: lsp.DefinitionParams) -> list[lsp.Location]:
    at = _at(ls, params.text_document.uri, params.position)
    found = answers.definition(ls.project(), *at) if at else None
    return [_location(ls, found)] if found else []


@server.feature(lsp.TEXT_DOCUMENT_REFERENCES)
def _references(ls: ModelplaneServer, params: lsp.ReferenceParams) -> list[lsp.Location]:
    at = _at(ls, params.text_document.uri, params.position)
    if at is None:
        return []
    return [_location(ls, s) for s in answers.references(ls.project(), *at, params.context.include_declaration)]


@server.feature(lsp.TEXT_DOCUMENT_HOVER)
def _hover(ls: ModelplaneServer, params: lsp.HoverParams) -> lsp.Hover | None:
    at = _at(ls, params.text_document.uri, params.position)
    text = answers.hover(ls.project(), *at) if at else None
    return lsp.Hover(lsp.MarkupContent(lsp.MarkupKind.Markdown, text)) if text else None


@server.feature(lsp.TEXT_DOCUMENT_COMPLETION, lsp.CompletionOptions(trigger_characters=[":", " ", "/"]))
def _completion(ls: ModelplaneServer, params: lsp.CompletionParams) -> lsp.CompletionList:
    at = _at(ls, params.text_document.uri, params.position)
    items: list[lsp.CompletionItem] = []
    if at is not None:
        line_text = _line(ls, params.text_document.uri, params.position.line)
        for label, kind, detail in answers.completions(
            ls.project(), at[0], at[1], line_text, params.position.character
        ):
            item_kind = lsp.CompletionItemKind.Reference if kind == "ref" else lsp.CompletionItemKind.EnumMember
            items.append(lsp.CompletionItem(label=label, kind=item_kind, detail=detail))
    return lsp.CompletionList(is_incomplete=False, items=items)


def _line(ls: ModelplaneServer, uri: str, line: int) -> str:
    lines = ls.workspace.get_text_document(uri).lines
    return lines[line] if line < len(lines) else ""


@server.feature(lsp.TEXT_DOCUMENT_PREPARE_RENAME)
def _prepare_rename(ls: ModelplaneServer, params: lsp.PrepareRenameParams) -> lsp.Range | None:
    at = _at(ls, params.text_document.uri, params.position)
    target = answers.target_at(ls.project(), *at) if at else None
    if target is None:
        return None
    line_text = _line(ls, params.text_document.uri, params.position.line)
    _, start, end = word_at(line_text, params.position.character)
    return lsp.Range(lsp.Position(params.position.line, start), lsp.Position(params.position.line, end))


@server.feature(lsp.TEXT_DOCUMENT_RENAME)
def _rename(ls: ModelplaneServer, params: lsp.RenameParams) -> lsp.WorkspaceEdit | None:
    at = _at(ls, params.text_document.uri, params.position)
    if at is None:
        return None
    edits = answers.rename(ls.project(), *at, params.new_name, applied=_applied_ids(ls))
    if edits is None:
        return None
    changes: dict[str, list[lsp.TextEdit]] = {}
    for rel, line, col, width, text in edits:
        start = lsp.Position(line - 1, col - 1)
        rng = lsp.Range(start, lsp.Position(line - 1, col - 1 + width))
        changes.setdefault(ls.uri(rel), []).append(lsp.TextEdit(rng, text))
    return lsp.WorkspaceEdit(changes=changes)


def _applied_ids(ls: ModelplaneServer) -> set[str]:
    """Ids of the nodes the environment's state has applied (empty without a state store)."""
    return answers.applied_ids(ls.project())


@server.feature(lsp.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
def _symbols(ls: ModelplaneServer, params: lsp.DocumentSymbolParams) -> list[lsp.DocumentSymbol]:
    rel = ls.rel(params.text_document.uri)
    out = []
    for name, kind, (line, col, end_line) in answers.symbols(ls.project(), rel) if rel else []:
        rng = lsp.Range(lsp.Position(line - 1, 0), lsp.Position(end_line - 1, 0))
        sel = lsp.Range(lsp.Position(line - 1, col - 1), lsp.Position(line - 1, col - 1 + len(name)))
        out.append(
            lsp.DocumentSymbol(name=name, detail=kind, kind=lsp.SymbolKind.Object, range=rng, selection_range=sel)
        )
    return out


_SUGGESTION = re.compile(r"did you mean `([^`]+)`")


@server.feature(lsp.TEXT_DOCUMENT_CODE_ACTION)
def _code_actions(ls: ModelplaneServer, params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
    out = []
    for d in params.context.diagnostics:
        data: Any = d.data
        hint = data.get("hint") if isinstance(data, dict) else None
        m = _SUGGESTION.search(hint or "")
        if m is None:
            continue
        edit = lsp.WorkspaceEdit(changes={params.text_document.uri: [lsp.TextEdit(d.range, m.group(1))]})
        out.append(
            lsp.CodeAction(
                title=f"Change to `{m.group(1)}`", kind=lsp.CodeActionKind.QuickFix, diagnostics=[d], edit=edit
            )
        )
    return out


def main() -> None:
    server.start_io()
