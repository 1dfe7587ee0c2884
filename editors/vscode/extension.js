// The modelplane extension: starts `modelplane lsp` (stdio) for the YAML files of a workspace that holds
// a modelplane.yaml. The server itself decides which files are specs (the project's `specs:` globs).
"use strict";
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const [command, ...args] = vscode.workspace
    .getConfiguration("modelplane")
    .get("server.command", ["modelplane", "lsp"]);
  client = new LanguageClient(
    "modelplane",
    "modelplane",
    { command, args },
    { documentSelector: [{ scheme: "file", language: "yaml" }] },
  );
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
