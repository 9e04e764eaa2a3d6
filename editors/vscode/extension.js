// Starts `inoc lsp` for .inoc files. The server does all the work; this
// file only launches it (setting `inoc.path` picks the binary) and passes
// the `inoc` settings on (`inoc.inlayHints.defaults`: at start as
// initializationOptions, then on every change).
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const config = vscode.workspace.getConfiguration("inoc");
  const command = config.get("path") || "inoc";
  const server = { command, args: ["lsp"] };
  client = new LanguageClient(
    "inoc",
    "inoc",
    { run: server, debug: server },
    {
      documentSelector: [{ scheme: "file", language: "inoc" }, { scheme: "untitled", language: "inoc" }],
      initializationOptions: { inlayHints: { defaults: config.get("inlayHints.defaults", false) } },
      synchronize: { configurationSection: "inoc" },
    }
  );
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
