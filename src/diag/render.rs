//! The one terminal renderer (through miette) and the one JSON conversion.

use super::{Diagnostic, Label, Severity, SourceFile, SourceMap};
use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, SourceSpan};
use serde::Serialize;
use std::fmt;

/// How to render for a terminal (the front end decides: `cli::terminal`
/// reads `NO_COLOR`, `COLUMNS` and whether stderr is a terminal).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RenderOptions {
    /// ANSI colours.
    pub color: bool,
    /// Line width used to wrap messages.
    pub width: usize,
}

impl RenderOptions {
    /// No colour at a fixed width (golden tests, files).
    pub fn plain(width: usize) -> Self {
        RenderOptions {
            color: false,
            width,
        }
    }
}

fn handler(opts: &RenderOptions) -> GraphicalReportHandler {
    let theme = if opts.color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    GraphicalReportHandler::new_themed(theme)
        .with_width(opts.width)
        .with_links(false)
        .with_urls(false)
        .without_syntax_highlighting()
}

/// Renders one diagnostic with its source snippet, labels and help line.
pub fn render(diag: &Diagnostic, sources: &SourceMap, opts: &RenderOptions) -> String {
    let handler = handler(opts);
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
/// file are drawn on its snippet; labels in other files, and labels that
/// the primary's snippet cannot show (far away on a long line), become
/// related reports with their own snippet.
struct MietteDiag<'a> {
    code: String,
    severity: Severity,
    message: String,
    help: Option<String>,
    source: Option<Snippet<'a>>,
    labels: Vec<LabeledSpan>,
    related: Vec<MietteDiag<'a>>,
}

impl<'a> MietteDiag<'a> {
    fn new(d: &Diagnostic, sources: &'a SourceMap) -> Self {
        let source = Snippet::around(sources, &d.primary);
        let mut labels = vec![labeled(&d.primary, source.as_ref(), true)];
        let mut related = Vec::new();
        for l in &d.secondary {
            match &source {
                Some(s) if l.span.file == d.primary.span.file && s.shows(l) => {
                    labels.push(labeled(l, Some(s), false));
                }
                _ => {
                    let source = Snippet::around(sources, l);
                    related.push(MietteDiag {
                        code: String::new(),
                        severity: d.severity,
                        message: l.message.clone(),
                        help: None,
                        labels: vec![labeled(l, source.as_ref(), true)],
                        source,
                        related: Vec::new(),
                    });
                }
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
            source,
            labels,
            related,
        }
    }
}

/// Lines longer than this (bytes) are shown as a window around the label.
const LONG_LINE: usize = 1000;
/// How much of a long line a window shows before the label's start.
const WINDOW_BEFORE: usize = 100;
/// How much of a long line a window shows in all.
const WINDOW_LEN: usize = 400;

/// A file as miette reads it for one snippet. Context lines are found with
/// the file's line index (miette's own `str` source scans the text from the
/// start for every label, which made rendering thousands of warnings of a
/// large spec quadratic), and a label on a long line is shown through a
/// window of that line: miette pads underlines with `{:width$}`, which
/// panics past 65,535 columns, and a line of a megabyte helps nobody.
struct Snippet<'a> {
    file: &'a SourceFile,
    /// The only bytes this snippet shows, for a label on a long line.
    window: Option<std::ops::Range<usize>>,
}

impl<'a> Snippet<'a> {
    /// The snippet that shows a label (none for a file not in the map).
    fn around(sources: &'a SourceMap, l: &Label) -> Option<Self> {
        let file = sources.get(l.span.file)?;
        let (start, end) = bounds(file, l);
        let window = on_long_line(file, start, end).then(|| {
            let (first, last) = (file.line_of(start), file.line_of(end.max(start + 1) - 1));
            let line_start = file.line_range(first).start;
            let from = file.clamp(start.saturating_sub(WINDOW_BEFORE).max(line_start));
            let line_end = file.line_range(last).end;
            let line_end = line_end - usize::from(file.text[..line_end].ends_with('\n'));
            from..file.clamp((from + WINDOW_LEN).min(line_end)).max(from)
        });
        Some(Snippet { file, window })
    }

    /// Whether this snippet can show another label of its file.
    fn shows(&self, l: &Label) -> bool {
        let (start, end) = bounds(self.file, l);
        match &self.window {
            Some(w) => w.start <= start && start <= w.end,
            None => !on_long_line(self.file, start, end),
        }
    }

    fn is_long(&self, line: usize) -> bool {
        self.file.line_range(line).len() > LONG_LINE
    }

    fn contents(
        &self,
        from: usize,
        to: usize,
        column: Option<usize>,
    ) -> Box<dyn miette::SpanContents<'_> + '_> {
        let f = self.file;
        let (line, col) = f.line_col(from);
        Box::new(miette::MietteSpanContents::new_named(
            f.path.clone(),
            &f.text.as_bytes()[from..to],
            SourceSpan::new(from.into(), to - from),
            line - 1,
            column.unwrap_or(col - 1),
            // miette compares this with the next label's line to decide
            // whether two labels share a snippet: the line count so far.
            f.line_of(to),
        ))
    }
}

/// Whether a span touches a line longer than [`LONG_LINE`].
fn on_long_line(file: &SourceFile, start: usize, end: usize) -> bool {
    let (first, last) = (file.line_of(start), file.line_of(end.max(start + 1) - 1));
    (first..=last).any(|n| file.line_range(n).len() > LONG_LINE)
}

/// A label's span as byte offsets inside its file, start <= end.
fn bounds(file: &SourceFile, l: &Label) -> (usize, usize) {
    let start = file.clamp(l.span.start as usize);
    (start, file.clamp(l.span.end as usize).max(start))
}

impl miette::SourceCode for Snippet<'_> {
    /// As miette's `str` source reads (the same lines, so that renderings
    /// do not change), but never into a long line, and only inside the
    /// window when there is one.
    fn read_span<'b>(
        &'b self,
        span: &SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'b> + 'b>, miette::MietteError> {
        let f = self.file;
        let len = f.text.len();
        if span.offset() > len {
            return Err(miette::MietteError::OutOfBounds);
        }
        let start = f.clamp(span.offset());
        let end = f.clamp(span.offset() + span.len()).max(start);
        if let Some(w) = &self.window {
            if before == 0 && after == 0 {
                let from = start.clamp(w.start, w.end);
                return Ok(self.contents(from, end.clamp(from, w.end), None));
            }
            return Ok(self.contents(w.start, w.end, None));
        }
        let first = f.line_of(start);
        // The line that ends miette's span: the one holding the byte after
        // its last byte (so a span ending in a newline takes the next line).
        let last_byte = (span.offset() + span.len()).saturating_sub(1).min(len);
        let mut last = f.line_of(last_byte + 1);
        if on_long_line(f, start, end) {
            // Two labels with a long line between them: separate snippets.
            return Err(miette::MietteError::OutOfBounds);
        }
        let from = if before == 0 {
            start
        } else {
            let mut top = first;
            while top > 0 && first - top < before && !self.is_long(top - 1) {
                top -= 1;
            }
            f.line_range(top).start
        };
        let to = if after == 0 {
            end
        } else {
            let mut more = 0;
            while more < after && last + 1 < f.line_count() && !self.is_long(last + 1) {
                last += 1;
                more += 1;
            }
            f.line_range(last).end
        };
        let column = (before != 0).then_some(0);
        Ok(self.contents(from, to.max(from), column))
    }
}

fn labeled(l: &Label, source: Option<&Snippet<'_>>, primary: bool) -> LabeledSpan {
    let (start, end) = match source {
        Some(s) => {
            let (start, end) = bounds(s.file, l);
            match &s.window {
                Some(w) => {
                    let start = start.clamp(w.start, w.end);
                    (start, end.clamp(start, w.end))
                }
                None => (start, end),
            }
        }
        None => (0, 0),
    };
    let span = SourceSpan::new(start.into(), end - start);
    let text = (!l.message.is_empty()).then(|| l.message.clone());
    if primary {
        LabeledSpan::new_primary_with_span(text, span)
    } else {
        LabeledSpan::new_with_span(text, span)
    }
}

impl fmt::Debug for MietteDiag<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl fmt::Display for MietteDiag<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for MietteDiag<'_> {}

impl miette::Diagnostic for MietteDiag<'_> {
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

    /// A diagnostic rendered through miette's own `str` source, as before
    /// [`Snippet`] existed (for comparison).
    fn render_with_miette_source(d: &Diagnostic, sm: &SourceMap) -> String {
        struct Plain(MietteDiag<'static>, miette::NamedSource<String>);
        impl fmt::Debug for Plain {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }
        impl fmt::Display for Plain {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
        impl std::error::Error for Plain {}
        impl miette::Diagnostic for Plain {
            fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
                self.0.code()
            }
            fn severity(&self) -> Option<miette::Severity> {
                self.0.severity()
            }
            fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
                self.0.help()
            }
            fn source_code(&self) -> Option<&dyn miette::SourceCode> {
                Some(&self.1)
            }
            fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
                self.0.labels()
            }
        }
        let f = sm.get(d.primary.span.file).unwrap();
        let mut labels = vec![d.primary.clone()];
        labels.extend(d.secondary.iter().cloned());
        let report = Plain(
            MietteDiag {
                code: d.code.to_string(),
                severity: d.severity,
                message: d.message.clone(),
                help: d.help.clone(),
                source: None,
                labels: labels
                    .iter()
                    .enumerate()
                    .map(|(i, l)| {
                        let (start, end) = bounds(f, l);
                        let text = (!l.message.is_empty()).then(|| l.message.clone());
                        let span = SourceSpan::new(start.into(), end - start);
                        if i == 0 {
                            LabeledSpan::new_primary_with_span(text, span)
                        } else {
                            LabeledSpan::new_with_span(text, span)
                        }
                    })
                    .collect(),
                related: Vec::new(),
            },
            miette::NamedSource::new(&f.path, f.text.clone()),
        );
        let mut out = String::new();
        handler(&RenderOptions::plain(80))
            .render_report(&mut out, &report)
            .unwrap();
        out
    }

    proptest::proptest! {
        /// On files without long lines, snippets read by line index render
        /// byte for byte as miette's own source did.
        #[test]
        fn snippets_render_as_miette_source_does(
            lines in proptest::collection::vec("[a-z =]{0,30}", 1..12),
            trailing_newline: bool,
            spans in proptest::collection::vec((0usize..400, 0usize..40), 1..4),
        ) {
            let mut text = lines.join("\n");
            if trailing_newline {
                text.push('\n');
            }
            let mut sm = SourceMap::new();
            let f = sm.add("spec.inoc", text.clone());
            let span = |(s, l): (usize, usize)| {
                let s = s % (text.len() + 1);
                Span::new(f, s, (s + l).min(text.len()))
            };
            let mut d = Diagnostic::error("E0102", "msg", span(spans[0]), "primary");
            for (i, &sp) in spans.iter().enumerate().skip(1) {
                d = d.with_label(span(sp), format!("secondary {i}"));
            }
            let ours = render(&d, &sm, &RenderOptions::plain(80));
            proptest::prop_assert_eq!(ours, render_with_miette_source(&d, &sm));
        }
    }

    #[test]
    fn a_label_on_a_very_long_line_is_shown_through_a_window() {
        // A 90,000-character line: miette alone panicked ("Formatting
        // argument out of range") and would print the whole line.
        let text = format!("let x = [{}nope]\n", "1, ".repeat(30_000));
        let mut sm = SourceMap::new();
        let f = sm.add("spec.inoc", text.clone());
        let at = text.find("nope").unwrap();
        let d = Diagnostic::error(
            "E0102",
            "unknown name `nope`",
            Span::new(f, at, at + 4),
            "not defined",
        )
        .with_label(Span::new(f, 4, 5), "far away on the same line");
        let out = render(&d, &sm, &RenderOptions::plain(80));
        assert!(out.contains(&format!("spec.inoc:1:{}", at + 1)), "{out}");
        assert!(
            out.contains("not defined") && out.contains("nope]"),
            "{out}"
        );
        // The far label gets its own snippet, also windowed.
        assert!(
            out.contains("far away on the same line") && out.contains("spec.inoc:1:5"),
            "{out}"
        );
        assert!(out.len() < 3_000, "{} bytes:\n{out}", out.len());
    }

    #[test]
    fn long_context_lines_are_left_out() {
        let text = format!("let a = 1\nlet b = \"{}\"\nlet c = d\n", "x".repeat(5_000));
        let mut sm = SourceMap::new();
        let f = sm.add("spec.inoc", text.clone());
        let at = text.rfind('d').unwrap();
        let d = Diagnostic::error(
            "E0102",
            "unknown name `d`",
            Span::new(f, at, at + 1),
            "not defined",
        );
        let out = render(&d, &sm, &RenderOptions::plain(80));
        assert!(out.contains("let c = d") && !out.contains("xxxx"), "{out}");
        assert!(out.contains("spec.inoc:3:9"), "{out}");
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
