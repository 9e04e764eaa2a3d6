//! pest -> AST, with every syntax error turned into a coded diagnostic.
//!
//! Pipeline: [`lex::scan`] (comments, stray characters, strings, brackets)
//! -> the pest grammar, run on the text with comments blanked
//! ([`lex::blanked`]) -> the builder (`build`: items and expressions,
//! operator precedence, depth limits; `literal`: numbers, escapes, raw-string
//! indentation) -> doc-comment attachment (here). A pest failure is
//! translated by [`explain`] from the tokens
//! around the failure point into a message a human would write; parsing
//! then resumes at the next line that starts a declaration, so one run
//! reports the errors of several items.

use super::ast::*;
use super::lex::{self, ITEM_KEYWORDS};
use super::{FileId, Span};
use crate::diag::Diagnostic;
use pest::iterators::Pair;
use pest::Parser as _;

mod build;
mod explain;
mod literal;

use build::Builder;
use explain::explain;
pub use literal::{dedent_raw, parse_number};

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/inoc.pest"]
struct InocParser;

/// Expressions nested deeper than this (brackets, operators, postfix chains
/// and prefixes together) are rejected with E0008, so that no tree is deep
/// enough to exhaust the stack of a recursive walker.
pub const MAX_EXPR_DEPTH: usize = 256;

/// At most this many syntax errors are reported for one file.
const MAX_PARSE_ERRORS: usize = 10;

/// Parses one file. Returns the module when there is no error (warnings,
/// such as a dangling doc comment, may still be present), and every
/// diagnostic found. Never panics, whatever the input.
pub fn parse(file: FileId, src: &str) -> (Option<Module>, Vec<Diagnostic>) {
    parse_with(file, src, true)
}

/// [`parse`], optionally never cutting a large file in two (for tests).
pub(super) fn parse_with(
    file: FileId,
    src: &str,
    split: bool,
) -> (Option<Module>, Vec<Diagnostic>) {
    let scan = lex::scan(file, src);
    if !scan.errors.is_empty() {
        return (None, scan.errors);
    }
    // The grammar reads comments and byte-order marks as spaces.
    let text = lex::blanked(src, &scan.blanks);
    let halves = split
        .then(|| parse_halves(file, src, &text, &scan.top_lines))
        .flatten();
    let (mut items, errors) = match halves {
        Some(parsed) => parsed,
        None => parse_all(file, src, &text),
    };
    let mut diags = errors;
    let mut comments = scan.comments;
    let doc = attach_docs(file, src, &mut items, &mut comments, &mut diags);
    diags.sort_by_key(|d| (d.severity, d.primary.span.start));
    if crate::diag::has_errors(&diags) {
        return (None, diags);
    }
    let module = Module {
        doc,
        items,
        comments,
        span: Span::new(file, 0, src.len()),
    };
    (Some(module), diags)
}

/// Files at least this large are parsed in two halves on two threads when
/// a top-level item starts a line near the middle (below it, the thread
/// costs more than it saves).
const SPLIT_MIN_LEN: usize = 256 << 10;

/// Parses `text` in two halves at once, cut at the start of a top-level
/// item in the second half of the file (`top_lines`: line starts outside
/// brackets, strings and comments). `None` when there is no such line, a
/// thread cannot be had, or either half fails to parse: the whole file is
/// then parsed by [`parse_all`], which reports syntax errors. When both
/// halves parse, the result is the whole file's: an item ends before a line
/// that starts with a keyword and a name (no expression continues with
/// one), and an item cut short fails its half.
pub(super) fn parse_halves(
    file: FileId,
    src: &str,
    text: &str,
    top_lines: &[usize],
) -> Option<(Vec<Item>, Vec<Diagnostic>)> {
    if src.len() < SPLIT_MIN_LEN {
        return None;
    }
    let cut = top_lines.iter().copied().find(|&l| {
        let line = &src[l..];
        let indent = line.len() - line.trim_start_matches([' ', '\t']).len();
        l > 0 && starts_item(&line[indent..])
    })?;
    std::thread::scope(|s| {
        let second = std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn_scoped(s, || parse_part(file, text, cut, text.len()))
            .ok()?;
        let first = parse_part(file, text, 0, cut);
        let second = second.join().ok()??;
        let (mut items, mut errors) = first?;
        items.extend(second.0);
        errors.extend(second.1);
        Some((items, errors))
    })
}

/// The items of `text[start..end]` (whole items) and the builder's
/// diagnostics; `None` when the grammar fails there.
fn parse_part(
    file: FileId,
    text: &str,
    start: usize,
    end: usize,
) -> Option<(Vec<Item>, Vec<Diagnostic>)> {
    let mut pairs = InocParser::parse(Rule::module, &text[start..end]).ok()?;
    let mut b = Builder {
        file,
        base: start,
        errors: Vec::new(),
    };
    let mut items = Vec::new();
    for p in pairs.next()?.into_inner() {
        if p.as_rule() != Rule::EOI {
            items.extend(b.item(p));
        }
    }
    Some((items, b.errors))
}

/// Parses the whole file, resuming after each syntax error at the next line
/// that starts an item. Returns the items (of a file with errors, only a
/// part) and every diagnostic.
fn parse_all(file: FileId, src: &str, text: &str) -> (Vec<Item>, Vec<Diagnostic>) {
    let mut b = Builder {
        file,
        base: 0,
        errors: Vec::new(),
    };
    let mut items = Vec::new();
    let mut parse_errors = 0;
    let mut start = 0;
    loop {
        b.base = start;
        match InocParser::parse(Rule::module, &text[start..]) {
            Ok(mut pairs) => {
                if let Some(module) = pairs.next() {
                    for p in module.into_inner() {
                        if p.as_rule() != Rule::EOI {
                            items.extend(b.item(p));
                        }
                    }
                }
                break;
            }
            Err(e) => {
                let pos = start
                    + match e.location {
                        pest::error::InputLocation::Pos(p) => p,
                        pest::error::InputLocation::Span((s, _)) => s,
                    };
                let (diag, resume) = explain(file, src, start, pos);
                b.errors.push(diag);
                parse_errors += 1;
                match resume.filter(|&r| r > start).or_else(|| resync(src, pos)) {
                    Some(next) if parse_errors < MAX_PARSE_ERRORS => start = next,
                    _ => break,
                }
            }
        }
    }
    (items, b.errors)
}

/// The start of the first line after `pos` that begins (after indentation)
/// with an item keyword followed by a name or a string: where parsing resumes.
fn resync(src: &str, pos: usize) -> Option<usize> {
    let mut line_start = src[pos..].find('\n')? + pos + 1;
    loop {
        let line = &src[line_start..];
        let indent = line.len() - line.trim_start_matches([' ', '\t']).len();
        if starts_item(&line[indent..]) {
            return Some(line_start + indent);
        }
        line_start += line.find('\n')? + 1;
    }
}

fn starts_item(line: &str) -> bool {
    let word_len = line
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count();
    let (word, rest) = line.split_at(word_len);
    if !ITEM_KEYWORDS.contains(&word) || !rest.starts_with([' ', '\t']) {
        return false;
    }
    let next = rest.trim_start_matches([' ', '\t']);
    if word == "import" {
        next.starts_with('"')
    } else {
        next.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
    }
}

/// Attaches each run of `##` lines directly above an item (no blank line
/// between them or before the item) to it; warns about doc comments that
/// document nothing.
fn attach_docs(
    file: FileId,
    src: &str,
    items: &mut [Item],
    comments: &mut [Comment],
    diags: &mut Vec<Diagnostic>,
) -> Option<DocComment> {
    let blank_between = |a: u32, b: u32| {
        let region = src.get(a as usize..b as usize).unwrap_or("");
        region
            .split('\n')
            .skip(1)
            .collect::<Vec<_>>()
            .split_last()
            .is_some_and(|(_, mid)| mid.iter().any(|l| l.trim().is_empty()))
    };
    let mut used = vec![false; comments.len()];
    // The file's doc: the first `##` run before the first item, when a blank
    // line (or the end of the file) separates it from what follows.
    let first_item = items.first().map_or(u32::MAX, |i| i.span.start);
    let mut module_doc = None;
    let mut run: Vec<usize> = Vec::new();
    for (i, c) in comments
        .iter()
        .enumerate()
        .take_while(|(_, c)| c.span.start < first_item)
    {
        if c.kind == CommentKind::Doc
            && c.own_line
            && run
                .last()
                .is_none_or(|&l| l + 1 == i && !blank_between(comments[l].span.end, c.span.start))
        {
            run.push(i);
        } else if !run.is_empty() {
            break;
        }
    }
    if let Some(&last) = run.last() {
        let next = comments
            .get(last + 1)
            .map_or(first_item, |c| c.span.start.min(first_item));
        if next == u32::MAX || blank_between(comments[last].span.end, next) {
            let text = run
                .iter()
                .map(|&i| comments[i].text.as_str())
                .collect::<Vec<_>>()
                .join("\n");
            let span = Span::new(
                file,
                comments[run[0]].span.start as usize,
                comments[last].span.end as usize,
            );
            module_doc = Some(DocComment { text, span });
            run.iter().for_each(|&i| used[i] = true);
        }
    }
    let mut ci = 0; // first comment not before the previous item
    for item in items.iter_mut() {
        let start = item.span.start;
        let mut run: Vec<usize> = Vec::new();
        while ci < comments.len() && comments[ci].span.start < start {
            let c = &comments[ci];
            let adjacent = run
                .last()
                .is_none_or(|&l| !blank_between(comments[l].span.end, c.span.start));
            if c.kind == CommentKind::Doc && c.own_line {
                if !adjacent {
                    run.clear();
                }
                run.push(ci);
            } else {
                run.clear();
            }
            ci += 1;
        }
        if run
            .last()
            .is_some_and(|&l| blank_between(comments[l].span.end, start))
        {
            run.clear();
        }
        // Skip comments inside the item.
        while ci < comments.len() && comments[ci].span.start < item.span.end {
            ci += 1;
        }
        if let (Some(&first), Some(&last)) = (run.first(), run.last()) {
            let text = run
                .iter()
                .map(|&i| comments[i].text.as_str())
                .collect::<Vec<_>>()
                .join("\n");
            item.doc = Some(DocComment {
                text,
                span: Span::new(
                    file,
                    comments[first].span.start as usize,
                    comments[last].span.end as usize,
                ),
            });
            run.iter().for_each(|&i| used[i] = true);
        }
    }
    for (c, used) in comments.iter().zip(used) {
        if c.kind == CommentKind::Doc && !used {
            diags.push(
                Diagnostic::warning("W0001", "doc comment documents nothing", c.span, "not directly above a declaration")
                    .with_help("put it right above the declaration it documents (no blank line between), or use `#` for an ordinary comment"),
            );
        }
    }
    module_doc
}
