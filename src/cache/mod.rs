//! Layer `cache`: the content-addressed store under $INOC_CACHE (atomic
//! writes, verified reads, per-key locks).
