-- Driven by screenshot.sh inside an xterm on a virtual X display: opens
-- the demo spec with `inoc lsp` attached, waits for its diagnostics (shown
-- as virtual text), opens the hover of the name under the cursor, and asks
-- the X server for a screenshot. Neovim 0.7+ (Debian 12's).
local bin, out = os.getenv("INOC_BIN"), os.getenv("INOC_SHOT")
local buf = vim.api.nvim_get_current_buf()
vim.bo[buf].filetype = "inoc"
vim.opt.number = true
vim.opt.signcolumn = "yes"
vim.cmd("syntax on")
vim.o.background = "dark"
vim.cmd("highlight NormalFloat ctermbg=237 ctermfg=252")
vim.cmd("highlight FloatBorder ctermbg=237 ctermfg=244")
local client = vim.lsp.start_client({
  name = "inoc",
  cmd = { bin, "lsp", "--stdlib-dir", os.getenv("INOC_STDLIB_DIR") },
  root_dir = vim.fn.getcwd(),
})
vim.lsp.buf_attach_client(buf, client)
vim.wait(30000, function() return #vim.diagnostic.get(buf) > 0 end, 50)
-- The cursor on the name given by INOC_HOVER (its first use after its let).
local want = os.getenv("INOC_HOVER")
for lnum, line in ipairs(vim.api.nvim_buf_get_lines(buf, 0, -1, false)) do
  local col = line:find("%f[%w_]" .. want .. "%f[^%w_]")
  if col and not line:match("^let ") then
    vim.api.nvim_win_set_cursor(0, { lnum, col - 1 })
    break
  end
end
vim.lsp.buf.hover()
vim.defer_fn(function()
  vim.cmd("redraw!")
  vim.defer_fn(function()
    vim.fn.system({ "import", "-window", "root", out })
    vim.cmd("qall!")
  end, 1500)
end, 1500)
