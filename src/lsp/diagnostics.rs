//! The checker's diagnostics as LSP diagnostics: the same code, span,
//! message and help as `inoc check`, secondary labels as related
//! information, grouped by the file they point into.

use super::paths::Paths;
use crate::diag::{Diagnostic, Severity, SourceMap};
use crate::syntax::Span;
use lsp_types as lt;
use serde_json::json;
use std::collections::BTreeMap;

/// The LSP range of a span (UTF-16 columns).
pub fn range(sources: &SourceMap, span: Span) -> lt::Range {
    match sources.get(span.file) {
        Some(f) => {
            let (sl, sc) = f.utf16_position(span.start as usize);
            let (el, ec) = f.utf16_position(span.end as usize);
            lt::Range::new(lt::Position::new(sl, sc), lt::Position::new(el, ec))
        }
        None => lt::Range::default(),
    }
}

fn uri(paths: &Paths, path: &str) -> Option<lt::Uri> {
    paths.uri_of(path).parse().ok()
}

/// Lints whose finding is code that does nothing (editors grey it out).
const UNNECESSARY: &[&str] = &["unused-let", "unused-import", "unused-declaration"];

/// One diagnostic in LSP form. The message is the checker's message with
/// its help line below it (as the terminal shows it); `data` keeps the
/// label, help and lint name apart for code actions.
pub fn to_lsp(d: &Diagnostic, sources: &SourceMap, paths: &Paths) -> lt::Diagnostic {
    let mut message = d.message.clone();
    if let Some(h) = &d.help {
        message.push_str("\nhelp: ");
        message.push_str(h);
    }
    let related: Vec<lt::DiagnosticRelatedInformation> = d
        .secondary
        .iter()
        .filter_map(|l| {
            Some(lt::DiagnosticRelatedInformation {
                location: lt::Location::new(
                    uri(paths, sources.path(l.span.file))?,
                    range(sources, l.span),
                ),
                message: l.message.clone(),
            })
        })
        .collect();
    let tags = d
        .lint
        .filter(|l| UNNECESSARY.contains(l))
        .map(|_| vec![lt::DiagnosticTag::UNNECESSARY]);
    lt::Diagnostic {
        range: range(sources, d.primary.span),
        severity: Some(match d.severity {
            Severity::Error => lt::DiagnosticSeverity::ERROR,
            Severity::Warning => lt::DiagnosticSeverity::WARNING,
        }),
        code: Some(lt::NumberOrString::String(d.code.to_string())),
        code_description: None,
        source: Some("inoc".into()),
        message,
        related_information: (!related.is_empty()).then_some(related),
        tags,
        data: Some(json!({
            "label": d.primary.message,
            "help": d.help,
            "lint": d.lint,
        })),
    }
}

/// A check's diagnostics by the path of the file they point into.
pub fn by_file(
    diags: &[Diagnostic],
    sources: &SourceMap,
    paths: &Paths,
) -> BTreeMap<String, Vec<lt::Diagnostic>> {
    let mut out: BTreeMap<String, Vec<lt::Diagnostic>> = BTreeMap::new();
    for d in diags {
        out.entry(sources.path(d.primary.span.file).to_string())
            .or_default()
            .push(to_lsp(d, sources, paths));
    }
    out
}
