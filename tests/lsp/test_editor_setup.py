"""The editor set-up in docs/editors.md works as written: each snippet parses (JSON, TOML; the Lua ones run in
a real Lua interpreter against a recording stand-in for Neovim's API), names a command that exists, and that
command starts `modelplane lsp`, which answers `initialize` over stdio to a real LSP client."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types as lsp
from lupa import LuaRuntime
from pygls.lsp.client import LanguageClient

from tests.conftest import EXAMPLES

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "editors.md"
VSCODE = REPO / "editors" / "vscode"
BIN = str(Path(sys.executable).parent)
"""Where the venv puts `modelplane`: on the PATH an editor started from it would have."""


def blocks(language: str) -> list[str]:
    """The fenced code blocks of docs/editors.md in ``language``."""
    return re.findall(rf"^```{language}\n(.*?)^```$", DOC.read_text(), flags=re.S | re.M)


def which(command: str) -> str:
    found = shutil.which(command, path=os.pathsep.join([BIN, os.environ.get("PATH", "")]))
    assert found, f"`{command}` (named by docs/editors.md) is not on PATH nor in {BIN}"
    return found


async def initialize(command: list[str], root: Path) -> lsp.InitializeResult:
    client = LanguageClient("editor-setup-test", "1")
    await client.start_io(which(command[0]), *command[1:], cwd=str(root))
    try:
        return await asyncio.wait_for(
            client.initialize_async(
                lsp.InitializeParams(capabilities=lsp.ClientCapabilities(), root_uri=root.resolve().as_uri())
            ),
            60,
        )
    finally:
        await asyncio.wait_for(client.shutdown_async(None), 30)
        client.exit(None)
        await client.stop()


_STARTED: dict[tuple[str, ...], lsp.InitializeResult] = {}


async def answers_initialize(command: list[str], tmp_path: Path) -> None:
    """``command`` (as a snippet names it) starts the modelplane server in a project: it says who it is and
    what it serves (once per distinct command line)."""
    key = tuple(command)
    if key not in _STARTED:
        root = tmp_path / "quickstart"
        if not root.exists():
            shutil.copytree(EXAMPLES / "quickstart", root)
        _STARTED[key] = await initialize(command, root)
    result = _STARTED[key]
    assert result.server_info is not None and result.server_info.name == "modelplane", result.server_info
    caps = result.capabilities
    assert caps.definition_provider and caps.references_provider and caps.hover_provider, caps
    assert caps.rename_provider and caps.completion_provider and caps.code_action_provider, caps
    assert caps.document_symbol_provider and caps.text_document_sync is not None, caps


def test_the_page_has_a_snippet_for_each_editor_and_readme_links_it() -> None:
    assert len(blocks("json")) == 1 and len(blocks("lua")) == 2 and len(blocks("toml")) == 1
    assert "docs/editors.md" in (REPO / "README.md").read_text()


# -- VS Code -------------------------------------------------------------------------------------------------------


async def test_vscode_extension_and_settings(tmp_path: Path) -> None:
    manifest = json.loads((VSCODE / "package.json").read_text())
    assert (VSCODE / manifest["main"]).exists()
    assert "workspaceContains:modelplane.yaml" in manifest["activationEvents"]
    assert "vscode-languageclient" in manifest["dependencies"]
    setting = manifest["contributes"]["configuration"]["properties"]["modelplane.server.command"]
    settings = json.loads(blocks("json")[0])
    assert set(settings) == {"modelplane.server.command", "yaml.schemas"}
    # the extension reads the setting the page documents, with the manifest's default
    source = (VSCODE / "extension.js").read_text()
    assert '.getConfiguration("modelplane")' in source and '.get("server.command"' in source
    if shutil.which("node"):  # Node.js is there wherever yaml-language-server is (.ci/run)
        check = subprocess.run(["node", "--check", str(VSCODE / "extension.js")], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
    await answers_initialize(setting["default"], tmp_path)
    await answers_initialize(settings["modelplane.server.command"], tmp_path)


# -- Neovim: both snippets run in Lua; what they hand Neovim is recorded -----------------------------------------


NVIM_STAND_IN = """
local recorded = { configs = {}, setup = {}, native = {}, enabled = {}, roots = {} }
local configs = {}
local lspconfig = setmetatable({}, { __index = function(_, name)
  assert(configs[name], "lspconfig." .. name .. " is not registered")
  return { setup = function(opts) recorded.setup[name] = opts end }
end })
local modules = {
  ["lspconfig.configs"] = configs,
  ["lspconfig.util"] = { root_pattern = function(...) recorded.roots = { ... }; return function() end end },
  ["lspconfig"] = lspconfig,
}
require = function(name) return assert(modules[name], "no module " .. name) end
vim = { lsp = {
  config = function(name, cfg) recorded.native[name] = cfg end,
  enable = function(name) table.insert(recorded.enabled, name) end,
} }
recorded.configs = configs
return recorded
"""


def _lua_list(table: Any) -> list[Any]:
    return [table[i] for i in range(1, len(table) + 1)]


def run_lua(snippet: str) -> Any:
    lua = LuaRuntime(unpack_returned_tuples=True)
    recorded = lua.execute(NVIM_STAND_IN)
    lua.execute(snippet)
    return recorded


async def test_neovim_lspconfig_snippet(tmp_path: Path) -> None:
    recorded = run_lua(blocks("lua")[0])
    config = recorded.configs["modelplane"].default_config
    assert config is not None and recorded.setup["modelplane"] is not None  # registered, then set up
    assert _lua_list(config.filetypes) == ["yaml"] and _lua_list(recorded.roots) == ["modelplane.yaml"]
    await answers_initialize(_lua_list(config.cmd), tmp_path)


async def test_neovim_native_snippet(tmp_path: Path) -> None:
    recorded = run_lua(blocks("lua")[1])
    config = recorded.native["modelplane"]
    assert _lua_list(recorded.enabled) == ["modelplane"]
    assert _lua_list(config.filetypes) == ["yaml"] and _lua_list(config.root_markers) == ["modelplane.yaml"]
    await answers_initialize(_lua_list(config.cmd), tmp_path)


# -- Helix ---------------------------------------------------------------------------------------------------------


async def test_helix_languages_toml(tmp_path: Path) -> None:
    config = tomllib.loads(blocks("toml")[0])
    server = config["language-server"]["modelplane"]
    (yaml,) = [lang for lang in config["language"] if lang["name"] == "yaml"]
    assert "modelplane" in yaml["language-servers"] and "modelplane.yaml" in yaml["roots"]
    await answers_initialize([server["command"], *server["args"]], tmp_path)


@pytest.fixture(autouse=True, scope="module")
def _forget_started() -> Any:
    yield
    _STARTED.clear()
