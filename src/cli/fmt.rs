//! `inoc fmt`: rewrite specs in the canonical layout, or check that they are.

use crate::diag::{render_all, Diagnostic, SourceMap};
use crate::syntax::fmt::format;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Arguments of `inoc fmt`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files or directories to format; a directory means every `*.inoc` file
    /// below it (hidden directories and `target` skipped). `-` formats
    /// stdin to stdout. Defaults to the current directory.
    pub paths: Vec<PathBuf>,
    /// Write nothing: print the files whose formatting would change, and exit
    /// with status 1 if there is any.
    #[arg(long)]
    pub check: bool,
}

pub fn run(args: Args) -> u8 {
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths
    };
    let mut failed = false;
    let mut changed = false;
    let mut files = Vec::new();
    for p in &paths {
        if p.as_os_str() == "-" {
            match format_stdin(args.check) {
                Ok(c) => changed |= c,
                Err(()) => failed = true,
            }
        } else if p.is_dir() {
            super::inoc_files_below(p, &mut files);
        } else if p.is_file() {
            files.push(p.clone());
        } else {
            eprintln!("error: {}: no such file or directory", p.display());
            failed = true;
        }
    }
    for file in files {
        match format_file(&file, args.check) {
            Ok(true) => {
                changed = true;
                if args.check {
                    println!("{}", file.display());
                }
            }
            Ok(false) => {}
            Err(()) => failed = true,
        }
    }
    u8::from(failed || (args.check && changed))
}

/// Formats one file: Ok(true) when its formatting changes (and, without
/// `check`, it was rewritten).
fn format_file(path: &Path, check: bool) -> Result<bool, ()> {
    let bytes = std::fs::read(path).map_err(|e| eprintln!("error: {}: {e}", path.display()))?;
    let shown = path.display().to_string();
    let src = decode(&shown, &bytes)?;
    let out = format_or_report(&shown, &src)?;
    if out == src {
        return Ok(false);
    }
    if !check {
        write_atomically(path, &out)
            .map_err(|e| eprintln!("error: {}: cannot write: {e}", path.display()))?;
    }
    Ok(true)
}

fn format_stdin(check: bool) -> Result<bool, ()> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .read_to_end(&mut bytes)
        .map_err(|e| eprintln!("error: <stdin>: {e}"))?;
    let src = decode("<stdin>", &bytes)?;
    let out = format_or_report("<stdin>", &src)?;
    if check {
        if out != src {
            println!("<stdin>");
        }
    } else {
        let _ = std::io::stdout().write_all(out.as_bytes());
    }
    Ok(out != src)
}

fn decode(shown: &str, bytes: &[u8]) -> Result<String, ()> {
    String::from_utf8(bytes.to_vec()).map_err(|e| {
        eprintln!(
            "error: {shown}: not valid UTF-8 (byte {}); save it as UTF-8",
            e.utf8_error().valid_up_to()
        );
    })
}

fn format_or_report(shown: &str, src: &str) -> Result<String, ()> {
    format(0, src).map_err(|diags| report(shown, src, &diags))
}

fn report(shown: &str, src: &str, diags: &[Diagnostic]) {
    let mut sm = SourceMap::new();
    sm.add(shown, src);
    eprint!(
        "{}",
        render_all(diags, &sm, &super::terminal::render_options())
    );
}

fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(text.as_bytes())?;
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = tmp.as_file().set_permissions(meta.permissions());
    }
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
