//! The small type system of the language.
//!
//! Types are structural and few: the experiment kinds (model, dataset,
//! transform, ...), scalars, homogeneous lists, records, `none`, optional
//! parameters and a handful of unions for parameters that accept several
//! kinds. There is no user-defined type; every type a spec sees comes from a
//! literal, a builtin's return type, or a declaration.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A type of the language.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ty {
    /// Unknown (after an error) or accepted anywhere; never reported twice.
    Any,
    None,
    Bool,
    Int,
    /// A float; an `int` is accepted wherever a `float` is expected.
    Float,
    Str,
    /// A file or directory path: written as a string, resolved against the
    /// directory of the file that names it, checked to exist.
    Path,
    Model,
    Dataset,
    /// A dataset transform, applied with `data | t`.
    Transform,
    /// A training method (`lora(...)`, `full()`).
    Method,
    /// A sampling configuration.
    Sampling,
    /// A per-sample metric.
    Metric,
    /// An LLM judge; a judge is a metric.
    Judge,
    Eval,
    Report,
    /// A model architecture configuration.
    Arch,
    Tokenizer,
    /// A homogeneous list.
    List(Box<Ty>),
    /// A record with named fields of any type.
    Record,
    /// `T` or `none`.
    Optional(Box<Ty>),
    /// Any of the listed types (parameters that accept several kinds).
    Union(Vec<Ty>),
}

impl Ty {
    pub fn list(of: Ty) -> Ty {
        Ty::List(Box::new(of))
    }

    pub fn optional(of: Ty) -> Ty {
        Ty::Optional(Box::new(of))
    }

    /// Whether a value of type `self` may be passed where `expected` is wanted.
    pub fn assignable_to(&self, expected: &Ty) -> bool {
        if self == expected {
            return true;
        }
        match (self, expected) {
            (Ty::Any, _) | (_, Ty::Any) => true,
            (Ty::Int, Ty::Float) => true,
            (Ty::Str, Ty::Path) => true,
            (Ty::Judge, Ty::Metric) => true,
            (Ty::None, Ty::Optional(_)) => true,
            (t, Ty::Optional(inner)) => t.assignable_to(inner),
            (t, Ty::Union(alts)) => alts.iter().any(|a| t.assignable_to(a)),
            (Ty::Union(alts), t) => alts.iter().all(|a| a.assignable_to(t)),
            (Ty::List(a), Ty::List(b)) => a.assignable_to(b),
            (a, b) => a == b,
        }
    }

    /// The least type covering both (for list literals), if any: `none`
    /// beside a `T` makes a `T?` (`[none, "You are evil."]` is a
    /// `list[str?]`).
    pub fn join(&self, other: &Ty) -> Option<Ty> {
        if other.assignable_to(self) {
            Some(self.clone())
        } else if self.assignable_to(other) {
            Some(other.clone())
        } else {
            match (self, other) {
                (Ty::List(a), Ty::List(b)) => a.join(b).map(Ty::list),
                (Ty::None, t) | (t, Ty::None) => Some(Ty::optional(t.clone())),
                _ => None,
            }
        }
    }

    /// The element type of a list (or `Any`).
    pub fn element(&self) -> Ty {
        match self {
            Ty::List(t) => (**t).clone(),
            _ => Ty::Any,
        }
    }

    /// Whether this is one of the numeric types.
    pub fn is_numeric(&self) -> bool {
        matches!(self, Ty::Int | Ty::Float)
    }
}

impl Ty {
    /// The type's name after `a` or `an` ("an int", "a list[str]").
    pub fn a(&self) -> String {
        a(&self.to_string())
    }
}

/// A name after `a` or `an` ("an int", "a probe_curve").
pub fn a(name: &str) -> String {
    let article = if name.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {name}")
}

impl fmt::Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ty::Any => f.write_str("any"),
            Ty::None => f.write_str("none"),
            Ty::Bool => f.write_str("bool"),
            Ty::Int => f.write_str("int"),
            Ty::Float => f.write_str("float"),
            Ty::Str => f.write_str("str"),
            Ty::Path => f.write_str("path"),
            Ty::Model => f.write_str("model"),
            Ty::Dataset => f.write_str("dataset"),
            Ty::Transform => f.write_str("transform"),
            Ty::Method => f.write_str("method"),
            Ty::Sampling => f.write_str("sampling"),
            Ty::Metric => f.write_str("metric"),
            Ty::Judge => f.write_str("judge"),
            Ty::Eval => f.write_str("eval"),
            Ty::Report => f.write_str("report"),
            Ty::Arch => f.write_str("arch"),
            Ty::Tokenizer => f.write_str("tokenizer"),
            Ty::List(t) => write!(f, "list[{t}]"),
            Ty::Record => f.write_str("record"),
            Ty::Optional(t) => write!(f, "{t}?"),
            Ty::Union(alts) => {
                for (i, a) in alts.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" | ")?;
                    }
                    write!(f, "{a}")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_widens_to_float_but_not_back() {
        assert!(Ty::Int.assignable_to(&Ty::Float));
        assert!(!Ty::Float.assignable_to(&Ty::Int));
    }

    #[test]
    fn optional_accepts_none_and_inner() {
        let t = Ty::optional(Ty::Str);
        assert!(Ty::None.assignable_to(&t));
        assert!(Ty::Str.assignable_to(&t));
        assert!(!Ty::Int.assignable_to(&t));
    }

    #[test]
    fn judge_is_a_metric_and_lists_follow() {
        assert!(Ty::Judge.assignable_to(&Ty::Metric));
        assert!(Ty::list(Ty::Judge).assignable_to(&Ty::list(Ty::Metric)));
        assert!(!Ty::Metric.assignable_to(&Ty::Judge));
    }

    #[test]
    fn union_and_join() {
        let y = Ty::Union(vec![Ty::Metric, Ty::Str]);
        assert!(Ty::Str.assignable_to(&y));
        assert!(Ty::Judge.assignable_to(&y));
        assert!(!Ty::Model.assignable_to(&y));
        assert_eq!(Ty::Int.join(&Ty::Float), Some(Ty::Float));
        assert_eq!(Ty::Judge.join(&Ty::Metric), Some(Ty::Metric));
        assert_eq!(Ty::Str.join(&Ty::Model), None);
        // `none` beside a value makes it optional, in either order.
        let opt = Some(Ty::optional(Ty::Str));
        assert_eq!(Ty::None.join(&Ty::Str), opt);
        assert_eq!(Ty::Str.join(&Ty::None), opt);
        assert_eq!(Ty::optional(Ty::Str).join(&Ty::Str), opt);
        assert_eq!(Ty::optional(Ty::Str).join(&Ty::None), opt);
        assert_eq!(Ty::None.join(&Ty::None), Some(Ty::None));
        assert_eq!(Ty::optional(Ty::Str).join(&Ty::Int), None);
    }

    #[test]
    fn display_is_the_surface_syntax() {
        assert_eq!(Ty::list(Ty::optional(Ty::Str)).to_string(), "list[str?]");
        assert_eq!(
            Ty::Union(vec![Ty::Metric, Ty::Str]).to_string(),
            "metric | str"
        );
    }
}
