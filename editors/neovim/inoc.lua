-- inoc for neovim 0.8+: the filetype and the language server.
-- Copy to ~/.config/nvim/plugin/inoc.lua (or paste into init.lua).
vim.filetype.add({ extension = { inoc = "inoc" } })

vim.api.nvim_create_autocmd("FileType", {
  pattern = "inoc",
  callback = function(args)
    vim.bo[args.buf].commentstring = "# %s"
    vim.lsp.start({
      name = "inoc",
      cmd = { "inoc", "lsp" },
      root_dir = vim.fs.dirname(vim.fs.find({ ".git", "specs" }, { upward = true, path = vim.api.nvim_buf_get_name(args.buf) })[1])
        or vim.fn.getcwd(),
      -- Inlay hints for the parameters a call leaves at their defaults (off
      -- unless true; neovim 0.10+ shows them after `vim.lsp.inlay_hint.enable()`).
      init_options = { inlayHints = { defaults = false } },
    })
  end,
})
-- Hover: K; definition: gd after `vim.keymap.set("n", "gd", vim.lsp.buf.definition)`;
-- format: `:lua vim.lsp.buf.format()`; diagnostics: `:lua vim.diagnostic.setloclist()`.
