//! The one terminal renderer (through miette) and the one JSON conversion.

use super::{Diagnostic, Label, Severity, SourceMap};
use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceSpan};
use serde::Serialize;
use std::fmt;
use std::io::IsTerminal;

/// How to render for a terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RenderOptions {
    /// ANSI colours.
    pub color: bool,
    /// Line width used to wrap messages.
    pub width: usize,
}

impl RenderOptions {
    /// For stderr: colour only when stderr is a terminal and `NO_COLOR` is
    /// unset or empty; width from `COLUMNS`, else 100.
    pub fn terminal() -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let width = std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.parse().ok())
            .filter(|&w| w >= 40)
            .unwrap_or(100);
        RenderOptions {
            color: !no_color && std::io::stderr().is_terminal(),
            width,
        }
    }

    /// No colour at a fixed width (golden tests, files).
    pub fn plain(width: usize) -> Self {
        RenderOptions {
            color: false,
            width,
        }
    }
}

/// Renders one diagnostic with its source snippet, labels and help line.
pub fn render(diag: &Diagnostic, sources: &SourceMap, opts: &RenderOptions) -> String {
    let theme = if opts.color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(opts.width)
        .with_links(false)
        .with_urls(false)
        .without_syntax_highlighting();
    let report = MietteDiag::new(diag, sources);
    let mut out = String::new();
    if handler.render_report(&mut out, &report).is_err() {
        // The handler only fails when writing to `out` fails, which a String never does;
        // fall back to a one-line form rather than losing the diagnostic.
        out = format!(
            "{}[{}]: {}\n",
            diag.severity.as_str(),
            diag.code,
            diag.message
        );
    }
    out
}

/// Renders several diagnostics, separated as the terminal shows them.
pub fn render_all(diags: &[Diagnostic], sources: &SourceMap, opts: &RenderOptions) -> String {
    diags
        .iter()
        .map(|d| render(d, sources, opts))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The machine-readable form of a diagnostic (editors, CI). Lines and
/// columns are 1-based; columns count Unicode characters; the end is exclusive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct JsonDiagnostic {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    pub code: String,
    pub severity: Severity,
    pub message: String,
    pub help: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lint: Option<String>,
}

/// Converts a diagnostic to its JSON form, resolving positions through `sources`.
pub fn to_json(diag: &Diagnostic, sources: &SourceMap) -> JsonDiagnostic {
    let span = diag.primary.span;
    let ((line, column), (end_line, end_column)) = match sources.get(span.file) {
        Some(f) => (
            f.line_col(span.start as usize),
            f.line_col(span.end as usize),
        ),
        None => ((1, 1), (1, 1)),
    };
    JsonDiagnostic {
        file: sources.path(span.file).to_string(),
        line,
        column,
        end_line,
        end_column,
        code: diag.code.to_string(),
        severity: diag.severity,
        message: diag.message.clone(),
        help: diag.help.clone(),
        lint: diag.lint.map(str::to_string),
    }
}

/// Adapter that shows a [`Diagnostic`] to miette. Labels in the primary
/// file are drawn on its snippet; labels in other files become related
/// reports with their own snippet.
struct MietteDiag {
    code: String,
    severity: Severity,
    message: String,
    help: Option<String>,
    source: Option<NamedSource<String>>,
    labels: Vec<LabeledSpan>,
    related: Vec<MietteDiag>,
}

impl MietteDiag {
    fn new(d: &Diagnostic, sources: &SourceMap) -> Self {
        let file = d.primary.span.file;
        let mut labels = vec![labeled(&d.primary, sources, true)];
        let mut related = Vec::new();
        for l in &d.secondary {
            if l.span.file == file {
                labels.push(labeled(l, sources, false));
            } else {
                related.push(MietteDiag {
                    code: String::new(),
                    severity: d.severity,
                    message: l.message.clone(),
                    help: None,
                    source: source_of(l.span.file, sources),
                    labels: vec![labeled(l, sources, true)],
                    related: Vec::new(),
                });
            }
        }
        let code = match d.lint {
            Some(lint) => format!("{}({lint})", d.code),
            None => d.code.to_string(),
        };
        MietteDiag {
            code,
            severity: d.severity,
            message: d.message.clone(),
            help: d.help.clone(),
            source: source_of(file, sources),
            labels,
            related,
        }
    }
}

fn source_of(file: crate::syntax::FileId, sources: &SourceMap) -> Option<NamedSource<String>> {
    sources
        .get(file)
        .map(|f| NamedSource::new(&f.path, f.text.clone()))
}

fn labeled(l: &Label, sources: &SourceMap, primary: bool) -> LabeledSpan {
    let (start, end) = match sources.get(l.span.file) {
        Some(f) => (f.clamp(l.span.start as usize), f.clamp(l.span.end as usize)),
        None => (0, 0),
    };
    let span = SourceSpan::new(start.into(), end.saturating_sub(start));
    let text = (!l.message.is_empty()).then(|| l.message.clone());
    if primary {
        LabeledSpan::new_primary_with_span(text, span)
    } else {
        LabeledSpan::new_with_span(text, span)
    }
}

impl fmt::Debug for MietteDiag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl fmt::Display for MietteDiag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for MietteDiag {}

impl miette::Diagnostic for MietteDiag {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        (!self.code.is_empty()).then(|| Box::new(&self.code) as Box<dyn fmt::Display>)
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(self.labels.iter().cloned()))
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        if self.related.is_empty() {
            return None;
        }
        Some(Box::new(
            self.related.iter().map(|r| r as &dyn miette::Diagnostic),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::Span;

    fn sample() -> (Diagnostic, SourceMap) {
        let mut sm = SourceMap::new();
        let f = sm.add("spec.inoc", "let a = 1\nlet b = \"x\n");
        let d = Diagnostic::error(
            "E0002",
            "unterminated string",
            Span::new(f, 18, 20),
            "this string is never closed",
        )
        .with_help("close it with `\"`")
        .with_label(Span::new(f, 4, 5), "not this one");
        (d, sm)
    }

    #[test]
    fn plain_render_has_code_message_label_help_and_no_ansi() {
        let (d, sm) = sample();
        let out = render(&d, &sm, &RenderOptions::plain(80));
        for needle in [
            "E0002",
            "unterminated string",
            "this string is never closed",
            "close it with",
            "spec.inoc:2:9",
        ] {
            assert!(out.contains(needle), "missing {needle:?} in\n{out}");
        }
        assert!(
            !out.contains('\u{1b}'),
            "no ANSI escapes without colour:\n{out}"
        );
    }

    #[test]
    fn json_has_one_based_positions() {
        let (d, sm) = sample();
        let j = to_json(&d, &sm);
        assert_eq!((j.line, j.column, j.end_line, j.end_column), (2, 9, 2, 11));
        let v = serde_json::to_value(&j).unwrap();
        assert_eq!(v["severity"], "error");
        assert_eq!(v["code"], "E0002");
        assert_eq!(v["file"], "spec.inoc");
    }

    #[test]
    fn labels_in_other_files_render_as_related() {
        let mut sm = SourceMap::new();
        let a = sm.add("a.inoc", "let x = 1\n");
        let b = sm.add("b.inoc", "let x = 2\n");
        let d = Diagnostic::error("E0019", "clash", Span::new(a, 4, 5), "here")
            .with_label(Span::new(b, 4, 5), "and here");
        let out = render(&d, &sm, &RenderOptions::plain(80));
        assert!(
            out.contains("a.inoc") && out.contains("b.inoc") && out.contains("and here"),
            "{out}"
        );
    }
}
