//! `inoc check`: static check of specs (names, types, defaults, ranges,
//! sweeps, files, judge templates, LoRA targets, lints) without computing
//! anything.
//!
//! Exit status: 0 when no spec has an error (warnings allowed), 1 when any
//! has, 2 on usage errors (no file given, a file that does not exist).

use super::Format;
use crate::diag::{render, to_json, Severity};

/// Arguments of `inoc check`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Spec files to check; a directory means every `*.inoc` file below it
    /// (hidden directories and `target` skipped).
    pub files: Vec<String>,
    /// Output format: human-readable diagnostics on stderr, or one JSON
    /// document on stdout (`{"files": [...], "diagnostics": [...]}`).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Treat warnings as errors (exit 1 when any warning remains).
    #[arg(long)]
    pub deny_warnings: bool,
    /// Print the typed IR of each spec without errors as JSON on stdout
    /// (every declaration evaluated, defaults filled in, families expanded).
    #[arg(long)]
    pub emit_ir: bool,
    #[command(flatten)]
    pub set: super::SetArgs,
}

pub fn run(args: Args) -> u8 {
    if args.files.is_empty() {
        eprintln!("error: no spec given\n\nusage: inoc check FILE...");
        return 2;
    }
    let mut files = Vec::new();
    for f in &args.files {
        let path = std::path::Path::new(f);
        if path.is_dir() {
            let mut below = Vec::new();
            super::inoc_files_below(path, &mut below);
            if below.is_empty() {
                eprintln!("error: {f}: no .inoc file in this directory");
                return 2;
            }
            files.extend(below.iter().map(|p| p.display().to_string()));
        } else if path.is_file() {
            files.push(f.clone());
        } else {
            eprintln!("error: {f}: no such file or directory");
            return 2;
        }
    }
    let mut failed = false;
    let mut json = Vec::new();
    let opts = super::terminal::render_options();
    for f in &files {
        let checked = crate::exec::inputs::check_path_with(f, &args.set.set);
        let errors = checked
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count();
        let warnings = checked.diagnostics.len() - errors;
        failed |= errors > 0 || (args.deny_warnings && warnings > 0);
        if let (true, Some(p)) = (args.emit_ir, &checked.program) {
            match serde_json::to_string_pretty(p) {
                Ok(s) => println!("{s}"),
                Err(e) => eprintln!("error: {e}"),
            }
        }
        match args.format {
            Format::Json => json.extend(
                checked
                    .diagnostics
                    .iter()
                    .map(|d| to_json(d, &checked.sources)),
            ),
            Format::Human => {
                for d in &checked.diagnostics {
                    eprintln!("{}", render::render(d, &checked.sources, &opts));
                }
                let nodes = checked.program.as_ref().map_or(0, |p| p.nodes.len());
                if errors == 0 {
                    eprintln!(
                        "{f}: ok ({nodes} nodes, {warnings} warning{})",
                        if warnings == 1 { "" } else { "s" }
                    );
                } else {
                    eprintln!(
                        "{f}: {errors} error{}, {warnings} warning{}",
                        if errors == 1 { "" } else { "s" },
                        if warnings == 1 { "" } else { "s" }
                    );
                }
            }
        }
    }
    if args.format == Format::Json {
        let doc = serde_json::json!({ "files": args.files, "diagnostics": json });
        match serde_json::to_string_pretty(&doc) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("error: {e}");
                return 1;
            }
        }
    }
    u8::from(failed)
}
