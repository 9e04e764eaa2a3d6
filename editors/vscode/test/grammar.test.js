// Tokenizes every spec and stdlib module with the extension's TextMate
// grammar, through the libraries VS Code itself uses (vscode-textmate and
// vscode-oniguruma), and checks what a reader sees: each item keyword and
// its name, comments, doc comments and strings get their scopes, and no
// line leaves the grammar inside an unterminated string or raw string.
// Run: npm test (from editors/vscode, after npm ci); paths are relative to
// the repository root, two folders up.
"use strict";
const fs = require("fs");
const path = require("path");
const vsctm = require("vscode-textmate");
const oniguruma = require("vscode-oniguruma");

// The repository: INOC_REPO, or two folders above this extension.
const root = process.env.INOC_REPO || path.resolve(__dirname, "../../..");
const wasm = fs.readFileSync(path.join(path.dirname(require.resolve("vscode-oniguruma")), "onig.wasm")).buffer;

function files() {
  const out = [];
  for (const dir of ["specs", "stdlib", "tests/fixtures/lsp"]) {
    const full = path.join(root, dir);
    if (!fs.existsSync(full)) continue;
    for (const f of fs.readdirSync(full).sort()) if (f.endsWith(".inoc")) out.push(path.join(full, f));
  }
  return out;
}

async function main() {
  await oniguruma.loadWASM(wasm);
  const registry = new vsctm.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (p) => new oniguruma.OnigScanner(p),
      createOnigString: (s) => new oniguruma.OnigString(s),
    }),
    loadGrammar: async (scope) =>
      scope === "source.inoc"
        ? vsctm.parseRawGrammar(fs.readFileSync(path.join(__dirname, "../syntaxes/inoc.tmLanguage.json"), "utf8"), "x.json")
        : null,
  });
  const grammar = await registry.loadGrammar("source.inoc");
  const failures = [];
  const list = files();
  let checked = 0;
  for (const file of list) {
    const rel = path.relative(root, file);
    let state = vsctm.INITIAL;
    const lines = fs.readFileSync(file, "utf8").split(/\r?\n/);
    lines.forEach((line, i) => {
      const r = grammar.tokenizeLine(line, state);
      state = r.ruleStack;
      const scopeAt = (col) => {
        const t = r.tokens.find((t) => t.startIndex <= col && col < t.endIndex);
        return t ? t.scopes.join(" ") : "";
      };
      const where = `${rel}:${i + 1}`;
      const expect = (col, scope, what) => {
        checked++;
        if (!scopeAt(col).includes(scope)) failures.push(`${where}:${col + 1}: ${what}: want ${scope}, got "${scopeAt(col)}"`);
      };
      let m;
      if ((m = /^(\s*)(model|dataset|train|eval|report)\s+([A-Za-z_]\w*)/.exec(line))) {
        expect(m[1].length, "storage.type.declaration.inoc", `keyword ${m[2]}`);
        expect(line.indexOf(m[3], m[1].length + m[2].length), "entity.name.type.inoc", `name ${m[3]}`);
      }
      if ((m = /^(\s*)(let|fn)\s+([A-Za-z_]\w*)/.exec(line))) expect(m[1].length, "storage.type", `keyword ${m[2]}`);
      if ((m = /^(\s*)import\s+"/.exec(line))) {
        expect(m[1].length, "keyword.control.import.inoc", "import");
        expect(line.indexOf('"'), "string.quoted.double.inoc", "import path");
      }
      if ((m = /^(\s*)##(?!#)/.exec(line))) expect(m[1].length, "comment.line.documentation.inoc", "doc comment");
      else if ((m = /^(\s*)#/.exec(line)) && !scopeAt(m[1].length).includes("string"))
        expect(m[1].length, "comment.line", "comment");
    });
    // A file must end outside every string: an unterminated raw string
    // would colour the rest of the file.
    const last = grammar.tokenizeLine("x", state).tokens[0].scopes.join(" ");
    checked++;
    if (last.includes("string")) failures.push(`${rel}: ends inside a string (${last})`);
  }
  if (list.length === 0) failures.push("no .inoc files found under " + root);
  for (const f of failures) console.error("FAIL " + f);
  console.log(`${list.length} files, ${checked} checks, ${failures.length} failures`);
  process.exit(failures.length ? 1 : 0);
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
