"""Drive the real yaml-language-server (npm) over stdio: open documents, collect its diagnostics."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from lsprotocol import types as lsp
from pygls.lsp.client import LanguageClient

YAML_LS = shutil.which("yaml-language-server")


async def yaml_diagnostics(
    schema: Path | None, documents: dict[Path, str], timeout: float = 20.0
) -> dict[Path, list[str]]:
    """Diagnostics yaml-language-server publishes for each document, validated against ``schema``
    (mapped to every file through the `yaml.schemas` setting, as an editor's settings.json does), or with
    ``schema=None`` against the schema each file names in its ``# yaml-language-server: $schema=`` modeline."""
    assert YAML_LS, "yaml-language-server is not installed (npm install -g yaml-language-server)"
    client = LanguageClient("modelplane-tests", "1")
    got: dict[str, list[lsp.Diagnostic]] = {}
    done = asyncio.Event()
    schemas = {schema.as_uri(): "*.yaml"} if schema else {}
    settings = {"yaml": {"validate": True, "schemas": schemas, "schemaStore": {"enable": False}}}

    @client.feature(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def _diagnostics(params: lsp.PublishDiagnosticsParams) -> None:
        got[params.uri] = params.diagnostics
        if all(p.as_uri() in got for p in documents):
            done.set()

    @client.feature(lsp.WORKSPACE_CONFIGURATION)
    def _configuration(params: lsp.ConfigurationParams) -> list[object]:
        return [settings.get(item.section or "", settings["yaml"]) for item in params.items]

    await client.start_io(YAML_LS, "--stdio")
    root = next(iter(documents)).parent
    await client.initialize_async(
        lsp.InitializeParams(
            capabilities=lsp.ClientCapabilities(workspace=lsp.WorkspaceClientCapabilities(configuration=True)),
            root_uri=root.as_uri(),
        )
    )
    client.initialized(lsp.InitializedParams())
    client.workspace_did_change_configuration(lsp.DidChangeConfigurationParams(settings=settings))
    for path, text in documents.items():
        client.text_document_did_open(
            lsp.DidOpenTextDocumentParams(lsp.TextDocumentItem(path.as_uri(), "yaml", 1, text))
        )
    try:
        await asyncio.wait_for(done.wait(), timeout)
    finally:
        await client.shutdown_async(None)
        client.exit(None)
        await client.stop()
    return {p: [f"{d.range.start.line + 1}: {d.message}" for d in got.get(p.as_uri(), [])] for p in documents}
