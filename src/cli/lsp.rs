//! `inoc lsp`: the language server for editors, over stdin/stdout.

use std::path::PathBuf;

/// Arguments of `inoc lsp`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Talk LSP over stdin/stdout (the only transport; accepted because
    /// editor clients such as vscode-languageclient pass it).
    #[arg(long)]
    pub stdio: bool,
    /// Folder for the read-only copy of the embedded stdlib that "go to
    /// definition" opens [default: the user's cache folder, inoc/lsp-stdlib].
    #[arg(long, value_name = "DIR")]
    pub stdlib_dir: Option<PathBuf>,
}

pub fn run(args: Args) -> u8 {
    let opts = crate::lsp::Options {
        stdlib_dir: args.stdlib_dir,
    };
    match crate::lsp::run_stdio(&opts) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}
