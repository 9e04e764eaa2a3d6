-- The real-editor test of `inoc lsp`: headless neovim opens a spec with an
-- error, attaches the server and reads back the diagnostic (code and
-- position), a hover text and a definition location. Run by check.sh
-- (which .ci/run calls); works with neovim 0.7 (Debian 12) and later.
--
-- Environment: INOC_BIN (the inoc binary), INOC_SPEC (the spec to open),
-- INOC_STDLIB_DIR (where the server writes its stdlib copy).

local function fail(msg)
  io.stderr:write("nvim check: " .. msg .. "\n")
  vim.cmd("cquit 1")
end

local function expect(what, got, want)
  if got ~= want then
    fail(string.format("%s: expected %s, got %s", what, vim.inspect(want), vim.inspect(got)))
  end
  io.stdout:write(string.format("ok  %s = %s\n", what, vim.inspect(got)))
end

local bin, spec = os.getenv("INOC_BIN"), os.getenv("INOC_SPEC")
vim.cmd("edit " .. vim.fn.fnameescape(spec))
local buf = vim.api.nvim_get_current_buf()
vim.bo[buf].filetype = "inoc"

local client = vim.lsp.start_client({
  name = "inoc",
  cmd = { bin, "lsp", "--stdlib-dir", os.getenv("INOC_STDLIB_DIR") },
  root_dir = vim.fn.fnamemodify(spec, ":p:h"),
})
if not client then fail("the server did not start") end
vim.lsp.buf_attach_client(buf, client)

-- 1. The diagnostic: `epoch` is not a parameter of finetune (E0107), on line 8.
local got = vim.wait(30000, function() return #vim.diagnostic.get(buf) > 0 end, 50)
if not got then fail("no diagnostic within 30 s") end
local d = vim.diagnostic.get(buf)[1]
local code = d.code or (d.user_data and d.user_data.lsp and d.user_data.lsp.code)
expect("diagnostic code", code, "E0107")
expect("diagnostic line (1-based)", d.lnum + 1, 8)
expect("diagnostic column (1-based)", d.col + 1, 32)
expect("diagnostic severity", d.severity, vim.diagnostic.severity.ERROR)

local uri = vim.uri_from_bufnr(buf)
local function request(method, line, character)
  local params = { textDocument = { uri = uri }, position = { line = line, character = character } }
  local res = vim.lsp.buf_request_sync(buf, method, params, 10000)
  local r = res and res[client] and res[client].result
  if not r then fail(method .. ": no answer") end
  return r
end

-- 2. Hover on `base` in `finetune(base, ...)`: the declaration and its doc comment.
local h = request("textDocument/hover", 7, 21)
local text = h.contents.value or h.contents
expect("hover names the declaration", text:find("model base", 1, true) ~= nil, true)
expect("hover shows the doc comment", text:find("The base model.", 1, true) ~= nil, true)

-- 3. Definition of `base`: line 5 of the spec, where `model base` is written.
local def = request("textDocument/definition", 7, 21)
if def[1] then def = def[1] end
expect("definition file", vim.uri_to_fname(def.uri), vim.fn.fnamemodify(spec, ":p"))
expect("definition line (1-based)", def.range.start.line + 1, 5)
expect("definition column (1-based)", def.range.start.character + 1, 7)

-- 4. Definition into the stdlib: `world.tiny_chat` opens the stdlib copy.
local lib = request("textDocument/definition", 4, 20)
if lib[1] then lib = lib[1] end
expect("stdlib definition file", vim.fn.fnamemodify(vim.uri_to_fname(lib.uri), ":t"), "world.inoc")

vim.lsp.stop_client(client)
vim.cmd("qa!")
