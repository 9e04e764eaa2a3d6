//! The typed IR that `sema` hands to `plan`.
//!
//! Every declaration of a spec is evaluated to a concrete [`Value`] tree in
//! which `let` constants, stdlib functions written in `.inoc`, pipes and
//! defaults are all resolved: what remains are literals, builtin calls with
//! every parameter present (defaults filled in), and references to other
//! declarations. Sweep families are expanded into one [`Node`] per cell.
//!
//! Names, comments and spans are carried for display and diagnostics only;
//! the planner keeps them out of content keys.

use crate::syntax::Span;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Index into [`Program::nodes`].
pub type NodeId = usize;
/// Index into [`Program::families`].
pub type FamilyId = usize;

/// What kind of declaration a node comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeclKind {
    Model,
    Dataset,
    Train,
    Eval,
    Report,
}

impl DeclKind {
    pub fn keyword(self) -> &'static str {
        match self {
            DeclKind::Model => "model",
            DeclKind::Dataset => "dataset",
            DeclKind::Train => "train",
            DeclKind::Eval => "eval",
            DeclKind::Report => "report",
        }
    }

    /// The declaration kind written with `keyword`, if any.
    pub fn from_keyword(keyword: &str) -> Option<DeclKind> {
        DeclKind::ALL.into_iter().find(|k| k.keyword() == keyword)
    }

    /// Every kind, in the order the language documents them.
    pub const ALL: [DeclKind; 5] = [
        DeclKind::Model,
        DeclKind::Dataset,
        DeclKind::Train,
        DeclKind::Eval,
        DeclKind::Report,
    ];
}

/// A fully evaluated value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// A file or directory path named by the spec, resolved against the
    /// directory of the file that names it (absolute or relative to the
    /// process's working directory as given; the planner hashes its content).
    Path(String),
    List(Vec<Value>),
    /// Record fields in sorted order.
    Record(BTreeMap<String, Value>),
    /// A builtin applied to all of its parameters.
    Call(Box<Call>),
    /// A reference to one declaration (or one cell of a family).
    Node(NodeId),
    /// A whole family referenced by name (e.g. `control` in `models = [base, control]`).
    Family(FamilyId),
}

impl Value {
    /// Calls `f` on every node and family this value refers to, depth first,
    /// in argument order (arguments of a call in parameter-name order).
    pub fn visit_refs(&self, f: &mut impl FnMut(Ref)) {
        match self {
            Value::Node(n) => f(Ref::Node(*n)),
            Value::Family(x) => f(Ref::Family(*x)),
            Value::List(xs) => xs.iter().for_each(|x| x.visit_refs(f)),
            Value::Record(r) => r.values().for_each(|x| x.visit_refs(f)),
            Value::Call(c) => c.args.values().for_each(|x| x.visit_refs(f)),
            _ => {}
        }
    }

    /// Every builtin call inside this value (itself included), outermost first.
    pub fn calls(&self) -> Vec<&Call> {
        fn go<'a>(v: &'a Value, out: &mut Vec<&'a Call>) {
            match v {
                Value::Call(c) => {
                    out.push(c);
                    c.args.values().for_each(|x| go(x, out));
                }
                Value::List(xs) => xs.iter().for_each(|x| go(x, out)),
                Value::Record(r) => r.values().for_each(|x| go(x, out)),
                _ => {}
            }
        }
        let mut out = Vec::new();
        go(self, &mut out);
        out
    }

    /// The value as a string, for `Str` and `Path`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) | Value::Path(s) => Some(s),
            _ => None,
        }
    }
}

/// A reference found by [`Value::visit_refs`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Ref {
    Node(NodeId),
    Family(FamilyId),
}

impl std::fmt::Display for Value {
    /// Surface syntax (node and family references print as `#id`/`family#id`;
    /// use [`Program::display`] to print names).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", Program::default().display(self))
    }
}

/// A builtin's or parameter's name: borrowed from the registry when the
/// checker builds a call (no allocation per argument), owned when read back.
pub type Name = std::borrow::Cow<'static, str>;

/// A builtin function applied to every one of its parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Call {
    /// The builtin's registry name, e.g. `finetune`, `lora`, `system`.
    pub func: Name,
    /// Every parameter of the builtin, by name (defaults filled in).
    pub args: Args,
    /// Where the call was written (for runtime errors pointing into the spec).
    #[serde(skip)]
    pub span: Span,
}

/// The arguments of a call by parameter name: a map (lookup by name,
/// iteration in name order, serialized as a JSON object with sorted keys,
/// exactly as the `BTreeMap` it replaced) stored as one sorted vector. A
/// B-tree leaf holds room for 11 entries (~630 bytes) even for a call of
/// two; the IR of a large spec is mostly calls, and walking and freeing it
/// was mostly waiting for memory.
#[derive(Clone, Default, PartialEq)]
pub struct Args(Vec<(Name, Value)>);

impl Args {
    pub fn new() -> Self {
        Args(Vec::new())
    }

    fn find(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| (**k).cmp(name))
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.find(name).ok().map(|i| &self.0[i].1)
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut Value> {
        self.find(name).ok().map(|i| &mut self.0[i].1)
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.find(name).is_ok()
    }

    /// Sets an argument, returning the value it replaces.
    pub fn insert(&mut self, name: Name, value: Value) -> Option<Value> {
        match self.find(&name) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                self.0.insert(i, (name, value));
                None
            }
        }
    }

    pub fn remove(&mut self, name: &str) -> Option<Value> {
        self.find(name).ok().map(|i| self.0.remove(i).1)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Name and value of every argument, in name order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&Name, &Value)> + ExactSizeIterator {
        self.0.iter().map(|(k, v)| (k, v))
    }

    pub fn iter_mut(
        &mut self,
    ) -> impl DoubleEndedIterator<Item = (&Name, &mut Value)> + ExactSizeIterator {
        self.0.iter_mut().map(|(k, v)| (&*k, v))
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &Name> + ExactSizeIterator {
        self.0.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &Value> + ExactSizeIterator {
        self.0.iter().map(|(_, v)| v)
    }

    pub fn values_mut(
        &mut self,
    ) -> impl DoubleEndedIterator<Item = &mut Value> + ExactSizeIterator {
        self.0.iter_mut().map(|(_, v)| v)
    }
}

impl FromIterator<(Name, Value)> for Args {
    /// As a map collects: sorted by name, a later duplicate wins.
    fn from_iter<I: IntoIterator<Item = (Name, Value)>>(iter: I) -> Self {
        let mut v: Vec<(Name, Value)> = iter.into_iter().collect();
        if !v.is_sorted_by(|a, b| a.0 < b.0) {
            v.sort_by(|a, b| a.0.cmp(&b.0));
            // Keep the last of equal names (the sort is stable).
            let mut out: Vec<(Name, Value)> = Vec::with_capacity(v.len());
            for (k, x) in v {
                match out.last_mut() {
                    Some(last) if last.0 == k => last.1 = x,
                    _ => out.push((k, x)),
                }
            }
            v = out;
        }
        Args(v)
    }
}

impl<'a> IntoIterator for &'a Args {
    type Item = (&'a Name, &'a Value);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (Name, Value)>,
        fn(&'a (Name, Value)) -> (&'a Name, &'a Value),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl IntoIterator for Args {
    type Item = (Name, Value);
    type IntoIter = std::vec::IntoIter<(Name, Value)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl std::fmt::Debug for Args {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Serialize for Args {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Args {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(BTreeMap::<Name, Value>::deserialize(d)?
            .into_iter()
            .collect())
    }
}

/// A builtin call value from its name and arguments (no span): how tests,
/// benches and ops build IR by hand.
pub fn call<'a>(func: &str, args: impl IntoIterator<Item = (&'a str, Value)>) -> Value {
    Value::Call(Box::new(Call {
        func: func.to_string().into(),
        args: args
            .into_iter()
            .map(|(k, v)| (k.to_string().into(), v))
            .collect(),
        span: Span::default(),
    }))
}

/// One concrete declaration (or one cell of a sweep family).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub id: NodeId,
    pub kind: DeclKind,
    /// Display name: `base`, or `control[s=1]` for a family cell.
    pub name: String,
    /// The family this node is a cell of, and its coordinates in the sweep.
    pub cell: Option<Cell>,
    /// The evaluated right-hand side, usually a [`Value::Call`].
    pub value: Value,
    /// `##` doc comment of the declaration, if any.
    pub doc: Option<String>,
    #[serde(skip)]
    pub span: Span,
}

/// Position of a node in its family's sweep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    pub family: FamilyId,
    /// Sweep variable -> value, in declaration order, e.g. `[("s", Int(1))]`.
    pub coords: Vec<(String, Value)>,
}

/// A sweep family such as `train control[s in seeds] = ...`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Family {
    pub name: String,
    pub kind: DeclKind,
    /// Sweep variables in declaration order.
    pub vars: Vec<String>,
    /// The cells, in sweep order (row-major over `vars`).
    pub cells: Vec<NodeId>,
}

/// A checked spec, ready for planning.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Program {
    /// Path of the root spec as given on the command line.
    pub spec: String,
    pub nodes: Vec<Node>,
    pub families: Vec<Family>,
    /// Resources of the jobs of `inoc run --executor slurm`, from the spec's
    /// root `let slurm` (`sema::resources`), in the order they apply.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<super::resources::ResourceSetting>,
}

impl Program {
    /// Looks a node up by display name.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// Looks a family up by name.
    pub fn family(&self, name: &str) -> Option<&Family> {
        self.families.iter().find(|f| f.name == name)
    }

    /// The nodes `id` depends on directly (families expanded into their
    /// cells), sorted and without duplicates.
    pub fn deps(&self, id: NodeId) -> Vec<NodeId> {
        let mut out = Vec::new();
        if let Some(node) = self.nodes.get(id) {
            node.value.visit_refs(&mut |r| match r {
                Ref::Node(n) => out.push(n),
                Ref::Family(f) => {
                    if let Some(fam) = self.families.get(f) {
                        out.extend(fam.cells.iter().copied());
                    }
                }
            });
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Renders a value in surface syntax with node and family names.
    pub fn display(&self, v: &Value) -> String {
        let mut out = String::new();
        self.write_value(v, &mut out);
        out
    }

    fn write_value(&self, v: &Value, out: &mut String) {
        use std::fmt::Write;
        match v {
            Value::None => out.push_str("none"),
            Value::Bool(b) => {
                let _ = write!(out, "{b}");
            }
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Float(x) => {
                if x.is_finite() && x.fract() == 0.0 && x.abs() < 1e15 {
                    let _ = write!(out, "{x:.1}");
                } else {
                    let _ = write!(out, "{x}");
                }
            }
            Value::Str(s) | Value::Path(s) => {
                let _ = write!(out, "{s:?}");
            }
            Value::List(xs) => {
                out.push('[');
                for (i, x) in xs.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    self.write_value(x, out);
                }
                out.push(']');
            }
            Value::Record(r) => {
                out.push('{');
                for (i, (k, x)) in r.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    let _ = write!(out, "{k}: ");
                    self.write_value(x, out);
                }
                out.push('}');
            }
            Value::Call(c) => {
                let _ = write!(out, "{}(", c.func);
                for (i, (k, x)) in c.args.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    let _ = write!(out, "{k} = ");
                    self.write_value(x, out);
                }
                out.push(')');
            }
            Value::Node(n) => match self.nodes.get(*n) {
                Some(node) => out.push_str(&node.name),
                None => {
                    let _ = write!(out, "#{n}");
                }
            },
            Value::Family(x) => match self.families.get(*x) {
                Some(fam) => out.push_str(&fam.name),
                None => {
                    let _ = write!(out, "family#{x}");
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_behave_as_the_map_they_replaced() {
        let pairs = [
            ("lr", 1),
            ("epochs", 2),
            ("seed", 3),
            ("lr", 4),
            ("batch", 5),
        ];
        let args: Args = pairs
            .iter()
            .map(|&(k, v)| (Name::from(k), Value::Int(v)))
            .collect();
        let map: BTreeMap<Name, Value> = pairs
            .iter()
            .map(|&(k, v)| (Name::from(k), Value::Int(v)))
            .collect();
        // Sorted by name, the later duplicate wins, as a map collects.
        assert!(args.iter().eq(map.iter()));
        assert_eq!(args.get("lr"), Some(&Value::Int(4)));
        assert_eq!(args.get("nope"), None);
        assert_eq!(
            serde_json::to_string(&args).unwrap(),
            serde_json::to_string(&map).unwrap()
        );
        assert_eq!(format!("{args:?}"), format!("{map:?}"));
        let back: Args = serde_json::from_str(&serde_json::to_string(&args).unwrap()).unwrap();
        assert_eq!(back, args);

        let mut a = Args::new();
        assert_eq!(a.insert("z".into(), Value::Int(1)), None);
        assert_eq!(a.insert("a".into(), Value::Int(2)), None);
        assert_eq!(a.insert("z".into(), Value::Int(3)), Some(Value::Int(1)));
        assert_eq!(a.keys().map(|k| &**k).collect::<Vec<_>>(), ["a", "z"]);
        assert_eq!(a.remove("a"), Some(Value::Int(2)));
        assert_eq!(a.len(), 1);
    }
}
