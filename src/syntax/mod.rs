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

#[cfg(test)]
mod tests;
