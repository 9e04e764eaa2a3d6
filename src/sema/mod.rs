//! Layer `sema`: name resolution across imports, types, the builtin registry,
//! sweep expansion, lints -> typed IR. No I/O beyond reading spec sources
//! (through a [`loader::Loader`]).
//!
//! Builtins are described by [`builtins::registry`]; the checker lands next.

pub mod builtins;
pub mod ir;
pub mod loader;
pub mod template;
pub mod types;

/// The closest candidate to `name` for a "did you mean" help line, if one is
/// close enough (Jaro-Winkler similarity >= 0.8; a case-only difference
/// always qualifies; ties go to the earlier candidate).
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut best: Option<(f64, &'a str)> = None;
    for c in candidates {
        if c == name {
            continue;
        }
        let score = if name.eq_ignore_ascii_case(c) {
            1.0
        } else {
            strsim::jaro_winkler(name, c)
        };
        if score >= 0.8 && best.is_none_or(|(b, _)| score > b) {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    #[test]
    fn suggest_finds_close_names_only() {
        let names = ["epochs", "lr", "batch", "seed"];
        assert_eq!(super::suggest("epoch", names), Some("epochs"));
        assert_eq!(super::suggest("Batch", names), Some("batch"));
        assert_eq!(super::suggest("temperature", names), None);
    }
}
