//! Layer `eval`: per-sample metrics, judges, aggregation with confidence
//! intervals, paired comparisons.
