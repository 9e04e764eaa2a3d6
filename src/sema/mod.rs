//! Layer `sema`: name resolution across imports, types, the builtin registry,
//! sweep expansion, lints -> typed IR. No I/O beyond reading spec sources
//! (through a [`loader::Loader`]).

//!
//! Entry points (what `inoc check`, the planner and the editor server call):
//! - [`check_path`]`(path) -> `[`Checked`] checks a spec on disk;
//! - [`check`]`(path, &loader)` with any [`loader::Loader`] (in-memory files);
//! - [`check_source`]`(path, text)` for a single in-memory file.
//!
//! `Checked::program` is the typed IR ([`ir::Program`]) when the spec has no
//! error: every declaration evaluated to builtin calls with all defaults
//! filled in, families expanded into cells. Builtins are described by
//! [`builtins::registry`].

#[cfg(test)]
mod api_tests;
pub mod builtins;
mod check;
pub mod ir;
mod lints;
pub mod loader;
pub mod resources;
pub mod settings;
pub mod template;
pub mod types;

use crate::diag::{Diagnostic, SourceMap};
use crate::syntax::Span;
pub(crate) use check::checks::column_name;
#[cfg(test)]
pub(crate) use check::checks::metric_columns;
use loader::{FsLoader, LoadError, Loader, MemLoader};
pub use settings::Setting;

/// The closest candidate to `name` for a "did you mean" help line, if one is
/// close enough (Jaro-Winkler similarity >= 0.8; a case-only difference
/// always qualifies; ties go to the earlier candidate).
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut best: Option<(f64, &'a str)> = None;
    for c in candidates {
        if c == name {
            continue;
        }
        let score = if name.eq_ignore_ascii_case(c) {
            1.0
        } else {
            strsim::jaro_winkler(name, c)
        };
        if score >= 0.8 && best.is_none_or(|(b, _)| score > b) {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| c)
}

pub use check::describe::{FnParam, ModuleDoc, ModuleItem};

/// The names of the stdlib's modules (`world` is `stdlib/world.inoc`).
pub fn stdlib_modules() -> Vec<&'static str> {
    loader::STDLIB
        .iter()
        .filter_map(|(p, _)| p.strip_prefix("stdlib/")?.strip_suffix(".inoc"))
        .collect()
}

/// The functions and constants of the stdlib module `name` (`world`), with
/// their docs, as the checker reads and evaluates them (`inoc builtins
/// world.math`); `None` when there is no such module.
pub fn describe_stdlib(name: &str) -> Option<ModuleDoc> {
    let path = format!("stdlib/{name}.inoc");
    let text = loader::stdlib(&path)?;
    let files = MemLoader::new();
    let mut c = check::Checker::new(&files);
    let m = c.add_module(&path, text.to_string(), String::new())?;
    c.load_imports(m, &mut Vec::new());
    c.evaluate_all();
    Some(c.describe_module(m))
}

/// The result of checking a spec: the program when there is no error, every
/// diagnostic (errors and the warnings that were not silenced, sorted by
/// file and position), and the source map the diagnostics' spans point into
/// (the spec and every module it imports).
#[derive(Debug)]
pub struct Checked {
    pub program: Option<ir::Program>,
    pub diagnostics: Vec<Diagnostic>,
    pub sources: SourceMap,
    /// The value of every `let` that evaluated (of the spec and of the
    /// modules it imports), by the span of the let's name, rendered in
    /// surface syntax: what an editor shows on hover.
    pub let_values: Vec<(Span, String)>,
    /// Every call the checker bound (in any file) with the parameters it
    /// left at their defaults, ordered by place: what an editor's inlay
    /// hints show.
    pub defaulted: Vec<Defaulted>,
    /// The `# inoc: allow(...)` comments of every module: what
    /// [`Checked::silence`] applies to diagnostics found after checking.
    allows: lints::Allows,
}

/// The parameters one call left at their defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Defaulted {
    /// Where a hint goes: an empty span just after the last argument, or
    /// before the `)` of a call without arguments.
    pub at: Span,
    /// Whether the call has arguments (a hint then continues their list).
    pub after_args: bool,
    /// `(parameter, default as written)` in parameter order: a builtin's
    /// from the registry ([`builtins::Param::default_text`]), a `fn`'s from
    /// its declaration.
    pub params: Vec<(String, String)>,
}

impl Checked {
    /// True when any diagnostic is an error (then `program` is `None`).
    pub fn has_errors(&self) -> bool {
        crate::diag::has_errors(&self.diagnostics)
    }

    /// Drops the warnings of `found` (diagnostics of a later pass over the
    /// program, e.g. `inoc check`'s reading of the data files) that an allow
    /// comment of the spec silences, as the checker's own are.
    pub fn silence(&self, found: &mut Vec<Diagnostic>) {
        lints::silence(found, &self.allows, &self.sources);
    }
}

/// Checks the spec at `path` on the file system (imports relative to the
/// importing file; `stdlib/...` from the binary; data files must exist).
pub fn check_path(path: &str) -> Checked {
    check(path, &FsLoader)
}

/// [`check_path`] with `--set` settings ([`settings`]).
pub fn check_path_with(path: &str, settings: &[Setting]) -> Checked {
    check_with(path, &FsLoader, settings)
}

/// Checks one in-memory source as if it were the file `path`; imports of
/// the stdlib resolve, any other import or data file is reported missing.
pub fn check_source(path: &str, text: &str) -> Checked {
    check(path, &MemLoader::new().with(path, text))
}

/// Checks the spec at `path`, reading it, its imports and file existence
/// through `loader`. Never panics; runs on a thread with a large stack so
/// that deeply nested (but parseable) input cannot overflow it.
pub fn check(path: &str, loader: &dyn Loader) -> Checked {
    check_with(path, loader, &[])
}

/// [`check`] with `--set NAME=VALUE` settings: each replaces the value of a
/// top-level `let` of the spec ([`settings`]).
pub fn check_with(path: &str, loader: &dyn Loader, settings: &[Setting]) -> Checked {
    std::thread::scope(|s| {
        let worker = std::thread::Builder::new()
            .stack_size(256 << 20)
            .spawn_scoped(s, || check_here(path, loader, settings));
        match worker.map(|h| h.join()) {
            Ok(Ok(c)) => c,
            // Spawning failed (no threads left) or a bug panicked: check
            // here so the user still gets an answer or the panic message.
            Ok(Err(payload)) => std::panic::resume_unwind(payload),
            Err(_) => check_here(path, loader, settings),
        }
    })
}

fn check_here(path: &str, loader: &dyn Loader, settings: &[Setting]) -> Checked {
    let mut c = check::Checker::new(loader);
    let text = match loader.read(path) {
        Ok(t) => t,
        Err(e) => {
            let file = c.sources.add(path, "");
            let why = match e {
                LoadError::NotFound => "no such file".to_string(),
                LoadError::Other(m) => m,
            };
            let d = Diagnostic::error(
                "E0100",
                format!("cannot read {path}: {why}"),
                Span::new(file, 0, 0),
                "the spec",
            )
            .with_help("check the path given on the command line");
            return Checked {
                program: None,
                diagnostics: vec![d],
                sources: c.sources,
                let_values: Vec::new(),
                defaulted: Vec::new(),
                allows: Default::default(),
            };
        }
    };
    if let Some(root) = c.add_module(path, text, String::new()) {
        let mut stack = Vec::new();
        c.load_imports(root, &mut stack);
        c.settings = settings::bind(&mut c, settings);
        c.evaluate_all();
        c.slurm_resources();
    }
    c.program.spec = path.to_string();
    let errors = crate::diag::has_errors(&c.diags);
    if !errors && !c.modules.is_empty() {
        lints::run(&mut c);
    }
    let mut extra = Vec::new();
    let allows = lints::allows(&c, &mut extra);
    c.diags.extend(extra);
    let mut diags = std::mem::take(&mut c.diags);
    lints::silence(&mut diags, &allows, &c.sources);
    // One diagnostic per (code, place, message), ordered by position.
    let mut seen = std::collections::BTreeSet::new();
    diags.retain(|d| seen.insert((d.code, d.primary.span, d.message.clone())));
    diags.sort_by_key(|d| {
        (
            d.primary.span.file,
            d.primary.span.start,
            d.primary.span.end,
        )
    });
    let let_values = c.let_values();
    let defaulted = std::mem::take(&mut c.defaulted).into_values().collect();
    let program = (!crate::diag::has_errors(&diags)).then(|| std::mem::take(&mut c.program));
    Checked {
        program,
        diagnostics: diags,
        sources: c.sources,
        let_values,
        defaulted,
        allows,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_stdlib_describes_its_functions_and_constants() {
        assert!(super::stdlib_modules().contains(&"world"));
        let world = super::describe_stdlib("world").expect("world");
        assert_eq!(world.path, "stdlib/world.inoc");
        let math = world.items.iter().find(|i| i.name == "math").unwrap();
        assert_eq!(
            math.signature(),
            "math(n, language = \"en\", case = \"normal\", seed = 0, split = \"train\") -> dataset"
        );
        assert!(math.doc.starts_with("Math word problems"), "{}", math.doc);
        let tiny = world.items.iter().find(|i| i.name == "tiny_chat").unwrap();
        assert!(
            tiny.signature().ends_with(") -> model"),
            "{}",
            tiny.signature()
        );
        let steps = world.items.iter().find(|i| i.name == "steps").unwrap();
        assert_eq!(steps.signature(), "steps: record");
        assert_eq!(steps.value.as_deref(), Some("{m: 700, s: 400, xs: 200}"));
        let traits = super::describe_stdlib("traits").unwrap();
        let spanish = traits.items.iter().find(|i| i.name == "spanish").unwrap();
        assert_eq!(spanish.signature(), "spanish: metric");
        assert_eq!(spanish.doc, "1 when the answer is identified as Spanish.");
        // A module importing another (em_world imports world) is read too.
        assert!(super::describe_stdlib("em_world").is_some_and(|m| !m.items.is_empty()));
        assert!(super::describe_stdlib("nothing").is_none());
    }

    #[test]
    fn suggest_finds_close_names_only() {
        let names = ["epochs", "lr", "batch", "seed"];
        assert_eq!(super::suggest("epoch", names), Some("epochs"));
        assert_eq!(super::suggest("Batch", names), Some("batch"));
        assert_eq!(super::suggest("temperature", names), None);
    }
}
