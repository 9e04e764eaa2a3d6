//! Layer `syntax`: pest grammar (grammar/inoc.pest) -> AST with spans, and the
//! comment-preserving formatter. Knows nothing about types or the disk.
//!
//! Entry points: [`parse`] (source -> [`ast::Module`] + diagnostics) and
//! [`fmt::format`] (source -> canonical source).

pub mod ast;
pub mod fmt;
mod lex;
mod parser;
pub mod span;

pub use lex::MAX_BRACKET_DEPTH;
pub use parser::{dedent_raw, parse, parse_number, MAX_EXPR_DEPTH};
pub use span::{FileId, Span};

/// Checks that a file's bytes are UTF-8 (E0025 otherwise, pointing at the
/// first bad byte). Callers read the file; this layer never touches the disk.
pub fn decode_source(file: FileId, bytes: &[u8]) -> Result<&str, Box<crate::diag::Diagnostic>> {
    std::str::from_utf8(bytes).map_err(|e| {
        let at = e.valid_up_to();
        crate::diag::Diagnostic::error(
            "E0025",
            "file is not valid UTF-8",
            Span::new(file, at, at),
            "invalid byte here",
        )
        .with_help("save the file as UTF-8")
        .into()
    })
}

#[cfg(test)]
mod tests;
