//! Layer `sema`: name resolution across imports, types, the builtin registry,
//! sweep expansion, lints -> typed IR. No I/O beyond reading spec sources.

pub mod ir;
