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
    Call(Call),
    /// A reference to one declaration (or one cell of a family).
    Node(NodeId),
    /// A whole family referenced by name (e.g. `control` in `models = [base, control]`).
    Family(FamilyId),
}

/// A builtin function applied to every one of its parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Call {
    /// The builtin's registry name, e.g. `finetune`, `lora`, `system`.
    pub func: String,
    /// Every parameter of the builtin, by name (defaults filled in).
    pub args: BTreeMap<String, Value>,
    /// Where the call was written (for runtime errors pointing into the spec).
    #[serde(skip)]
    pub span: Span,
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
}

impl Program {
    /// Looks a node up by display name.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }
}
