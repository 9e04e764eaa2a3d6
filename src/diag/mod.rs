//! Layer `diag`: diagnostic types, the registry of error codes and lints, the
//! one terminal renderer (miette) and the JSON conversion.
//!
//! A [`Diagnostic`] is plain data: a stable code from the registry in
//! [`codes`], a severity, a message, a primary [`Label`] (span + text),
//! secondary labels, an optional help line and, for warnings, the name of the
//! lint that produced it. Every layer builds them; only [`render`] turns them
//! into text (terminal) or JSON (editors, CI).
//!
//! ```
//! use inoc::diag::{Diagnostic, SourceMap, render, RenderOptions};
//! use inoc::syntax::Span;
//! let mut sources = SourceMap::new();
//! let file = sources.add("spec.inoc", "let x = ");
//! let d = Diagnostic::error("E0015", "expected an expression", Span::new(file, 8, 8), "expected a value here")
//!     .with_help("write the value after `=`, e.g. `let x = 1`");
//! let text = render::render(&d, &sources, &RenderOptions::plain(80));
//! assert!(text.contains("E0015"));
//! ```

pub mod codes;
pub mod render;
pub mod source;

pub use codes::{lookup, CodeInfo, CODES};
pub use render::{render_all, to_json, JsonDiagnostic, RenderOptions};
pub use source::{SourceFile, SourceMap};

use crate::syntax::Span;
use serde::Serialize;

/// How bad a diagnostic is. Errors stop the pipeline; warnings do not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// A span with the text shown under it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

impl Label {
    pub fn new(span: Span, message: impl Into<String>) -> Self {
        Label {
            span,
            message: message.into(),
        }
    }
}

/// One user-facing problem, as data. Build with [`Diagnostic::error`] or
/// [`Diagnostic::warning`] and the `with_*` methods.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Stable code from [`codes::CODES`], e.g. `"E0015"`.
    pub code: &'static str,
    pub severity: Severity,
    /// One sentence, lower case, no final period: "expected `=` after the declaration name".
    pub message: String,
    /// Where the problem is, and what to say right there.
    pub primary: Label,
    /// Other places that explain the problem ("first defined here").
    pub secondary: Vec<Label>,
    /// What to do about it, written for a human ("did you mean `epochs`?").
    pub help: Option<String>,
    /// For warnings produced by a lint: its name (e.g. `inoculation-leak`),
    /// used to silence it.
    pub lint: Option<&'static str>,
}

impl Diagnostic {
    /// A new diagnostic; `code` must be listed in [`codes::CODES`]
    /// (checked in debug builds; a test checks every code written in src/).
    pub fn new(
        code: &'static str,
        severity: Severity,
        message: impl Into<String>,
        span: Span,
        label: impl Into<String>,
    ) -> Self {
        debug_assert!(
            lookup(code).is_some(),
            "diagnostic code {code} is not in diag::codes::CODES"
        );
        Diagnostic {
            code,
            severity,
            message: message.into(),
            primary: Label::new(span, label),
            secondary: Vec::new(),
            help: None,
            lint: None,
        }
    }

    /// An error with its primary label.
    pub fn error(
        code: &'static str,
        message: impl Into<String>,
        span: Span,
        label: impl Into<String>,
    ) -> Self {
        Self::new(code, Severity::Error, message, span, label)
    }

    /// A warning with its primary label; the lint name is taken from the registry.
    pub fn warning(
        code: &'static str,
        message: impl Into<String>,
        span: Span,
        label: impl Into<String>,
    ) -> Self {
        let mut d = Self::new(code, Severity::Warning, message, span, label);
        d.lint = lookup(code).and_then(|c| c.lint);
        d
    }

    /// Adds the help line.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds a secondary label.
    pub fn with_label(mut self, span: Span, message: impl Into<String>) -> Self {
        self.secondary.push(Label::new(span, message));
        self
    }

    /// Sets the lint name explicitly.
    pub fn with_lint(mut self, lint: &'static str) -> Self {
        self.lint = Some(lint);
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The primary span.
    pub fn span(&self) -> Span {
        self.primary.span
    }
}

/// True when any diagnostic is an error.
pub fn has_errors(diags: &[Diagnostic]) -> bool {
    diags.iter().any(Diagnostic::is_error)
}
