//! inoc: a declarative experiment language and interpreter for
//! finetuning-generalization research. See ARCHITECTURE.md for the layers
//! and the invariants between them.

// Every `unsafe` block says why it is sound (a `// SAFETY:` comment).
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod cache;
pub mod cli;
pub mod diag;
pub mod eval;
pub mod exec;
pub mod lsp;
pub mod plan;
pub mod report;
pub mod runtime;
pub mod sema;
pub mod serve;
pub mod syntax;
pub mod world;
