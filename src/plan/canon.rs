//! Canonical descriptions of steps and their keys.
//!
//! A step's description is a JSON value built only from ordered maps, whose
//! canonical text (object keys sorted, no whitespace) is hashed with blake3 to
//! give the step key. What goes in:
//! - `schema`: [`KEY_SCHEMA`], bumped whenever this encoding changes;
//! - `op` and `version`: the operation and its implementation version;
//! - `args`: every argument (defaults already filled in by sema), where
//!   * numbers are normalised: a float with an integral value below 2^53 is
//!     written as that integer (so `1`, `1.0` and `1e0` are one number, and
//!     `1e-3` and `0.001` are one number since they parse to the same f64);
//!     other finite floats use the shortest text that round-trips; `-0.0` is
//!     `0`; NaN and infinities are `{"$float": "nan" | "inf" | "-inf"}`;
//!   * a file or directory named by the spec is `{"$file": <content hash>}`
//!     (its path is not in the key: moving a data file reruns nothing);
//!   * a reference to another step is `{"$in": <that step's output hash>}`,
//!     so a step whose output did not change cuts off its consumers; while
//!     that output is not known yet it is `{"$pending": <that step's key>}`;
//!   * a whole family is `{"$family": [{"coords": [..], "in": ..}, ..]}`
//!     (sweep values are data; the family and variable names are not);
//!   * a nested builtin call is `{"$call": func, "args": {..}}`;
//! - `files`: extra content the operation reads (resolved model revisions:
//!   weights, tokenizer, chat template), by label.
//!
//! Names, comments, formatting, argument order and output paths never enter.

use serde_json::{Map, Value as Json};
use std::fmt::Write as _;

/// Version of the key schema; part of every key.
pub const KEY_SCHEMA: u32 = 1;

/// Normalises a float as described in the module docs.
pub fn number(x: f64) -> Json {
    if x.is_nan() {
        return serde_json::json!({"$float": "nan"});
    }
    if x.is_infinite() {
        return serde_json::json!({"$float": if x > 0.0 { "inf" } else { "-inf" }});
    }
    if x == x.trunc() && x.abs() < 9_007_199_254_740_992.0 {
        return Json::from(x as i64);
    }
    serde_json::Number::from_f64(x)
        .map(Json::Number)
        .unwrap_or(Json::Null)
}

/// The canonical text of a JSON value: object keys sorted by bytes, no
/// whitespace, numbers as serde_json prints them (shortest round-trip).
pub fn canonical_text(v: &Json) -> String {
    let mut s = String::new();
    write_canonical(v, &mut s);
    s
}

fn write_canonical(v: &Json, s: &mut String) {
    match v {
        Json::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            s.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                s.push_str(&Json::String((*k).clone()).to_string());
                s.push(':');
                write_canonical(&m[k.as_str()], s);
            }
            s.push('}');
        }
        Json::Array(a) => {
            s.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                write_canonical(x, s);
            }
            s.push(']');
        }
        other => {
            let _ = write!(s, "{other}");
        }
    }
}

/// blake3 of the canonical text, hex (64 chars).
pub fn key_of(desc: &Json) -> String {
    blake3::hash(canonical_text(desc).as_bytes())
        .to_hex()
        .to_string()
}

/// Builds an object from pairs in sorted order (never from a HashMap).
pub fn object<I: IntoIterator<Item = (String, Json)>>(pairs: I) -> Json {
    let mut v: Vec<(String, Json)> = pairs.into_iter().collect();
    v.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut m = Map::new();
    for (k, x) in v {
        m.insert(k, x);
    }
    Json::Object(m)
}

/// One difference between two descriptions.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    /// Dotted path, e.g. `args.method.rank`, `version`, `files.weights`.
    pub path: String,
    pub old: Option<Json>,
    pub new: Option<Json>,
}

/// Every leaf that differs between two descriptions, in path order.
pub fn diff(old: &Json, new: &Json) -> Vec<Change> {
    let mut out = Vec::new();
    diff_at(String::new(), Some(old), Some(new), &mut out);
    out
}

/// A marker object (`$in`, `$pending`, `$file`, `$float`) is a leaf.
fn is_marker(m: &Map<String, Json>) -> bool {
    m.keys()
        .any(|k| k.starts_with('$') && k != "$call" && k != "$family")
}

fn diff_at(path: String, old: Option<&Json>, new: Option<&Json>, out: &mut Vec<Change>) {
    match (old, new) {
        (Some(a), Some(b)) if a == b => {}
        (Some(Json::Object(a)), Some(Json::Object(b))) if !is_marker(a) && !is_marker(b) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                diff_at(p, a.get(k.as_str()), b.get(k.as_str()), out);
            }
        }
        (Some(Json::Array(a)), Some(Json::Array(b))) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff_at(format!("{path}[{i}]"), Some(x), Some(y), out);
            }
        }
        (a, b) => out.push(Change {
            path,
            old: a.cloned(),
            new: b.cloned(),
        }),
    }
}

/// Short human text of a JSON leaf (60 chars at most).
pub fn short(v: &Option<Json>) -> String {
    let s = match v {
        None => return "(absent)".into(),
        Some(Json::Object(m)) if m.len() == 1 && m.contains_key("$in") => {
            format!("output {}", short_hex(&m["$in"]))
        }
        Some(Json::Object(m)) if m.len() == 1 && m.contains_key("$pending") => {
            format!("pending {}", short_hex(&m["$pending"]))
        }
        Some(Json::Object(m)) if m.len() == 1 && m.contains_key("$file") => {
            format!("content {}", short_hex(&m["$file"]))
        }
        Some(Json::String(h)) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
            format!("content {}", &h[..12])
        }
        Some(x) => canonical_text(x),
    };
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(59).collect::<String>())
    } else {
        s
    }
}

fn short_hex(v: &Json) -> String {
    v.as_str()
        .map(|s| s[..12.min(s.len())].to_string())
        .unwrap_or_else(|| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_normalise() {
        assert_eq!(number(1e-3), number(0.001));
        assert_eq!(number(1.0), json!(1));
        assert_eq!(number(-0.0), json!(0));
        assert_eq!(canonical_text(&number(0.1)), "0.1");
        assert_eq!(canonical_text(&number(3e-4)), "0.0003");
        assert_eq!(number(f64::NAN), json!({"$float": "nan"}));
        assert_ne!(number(1.5), number(1.0));
    }

    #[test]
    fn canonical_text_sorts_keys_regardless_of_insertion() {
        let mut a = Map::new();
        a.insert("b".into(), json!(1));
        a.insert("a".into(), json!([1, {"z": 1, "y": 2}]));
        let mut b = Map::new();
        b.insert("a".into(), json!([1, {"y": 2, "z": 1}]));
        b.insert("b".into(), json!(1));
        assert_eq!(
            canonical_text(&Json::Object(a.clone())),
            canonical_text(&Json::Object(b))
        );
        assert_eq!(
            canonical_text(&Json::Object(a)),
            r#"{"a":[1,{"y":2,"z":1}],"b":1}"#
        );
    }

    #[test]
    fn diff_names_the_changed_leaf() {
        let old = json!({"op": "f", "version": 1, "args": {"lr": 0.001, "m": {"$call": "lora", "args": {"rank": 8}}, "x": {"$in": "aa"}}});
        let new = json!({"op": "f", "version": 1, "args": {"lr": 0.001, "m": {"$call": "lora", "args": {"rank": 16}}, "x": {"$in": "bb"}}});
        let d = diff(&old, &new);
        let paths: Vec<&str> = d.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, vec!["args.m.args.rank", "args.x"]);
        assert_eq!(short(&d[1].new), "output bb");
    }
}
