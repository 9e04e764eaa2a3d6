//! Layer `syntax`: pest grammar (grammar/inoc.pest) -> AST with spans, and the
//! comment-preserving formatter. Knows nothing about types or the disk.

pub mod span;
pub use span::{FileId, Span};
