// Starts `inoc lsp` for .inoc files. The server does all the work; this
// file only launches it (setting `inoc.path` picks the binary).
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const command = vscode.workspace.getConfiguration("inoc").get("path") || "inoc";
  const server = { command, args: ["lsp"] };
  client = new LanguageClient(
    "inoc",
    "inoc",
    { run: server, debug: server },
    { documentSelector: [{ scheme: "file", language: "inoc" }, { scheme: "untitled", language: "inoc" }] }
  );
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
