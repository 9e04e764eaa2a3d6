//! Layer `plan`: IR -> petgraph DAG of steps with canonical content keys.
//!
//! A *step* is one unit of cached work: one per declaration (model, dataset,
//! train, eval, report node, and each cell of a family), plus one *implicit*
//! step for every builtin call nested in an argument whose builtin computes
//! a model, dataset, eval or report (an inline `world_math(...)` passed to
//! `finetune`, `data | system(p)` which is `apply(data, system(p))`, a
//! `pretrain(...)` inside `evaluate(models = [...])`); the implicit step is
//! named after its place, e.g. `control[s=1].data`. Calls that only build a
//! value (transforms such as `system(...)`, `lora(...)`, `sampling(...)`,
//! metrics) stay inside their consumer's arguments and its key. Identical
//! implicit steps (one per cell of a family) share one key: computed once.
//!
//! A node whose value is just a reference to another node (`model b = a`)
//! is an alias: it gets no step and its consumers read the aliased step.
//!
//! Keys are built by [`describe`] + [`canon::key_of`]; see [`canon`] for
//! exactly what enters a key. The plan itself holds no keys: a key depends
//! on the output hashes of the step's inputs, which the executor learns as
//! it goes (early cutoff).

pub mod canon;
pub mod graph;

use crate::sema::ir::{Call, DeclKind, Node, NodeId, Program, Value};
use crate::syntax::Span;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::Direction;
use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Index into [`Plan::steps`].
pub type StepId = usize;

/// What the planner needs to know about the operations that exist.
pub trait Catalog {
    /// The operation implementing builtin `func`, if `func` is an operation.
    fn op(&self, func: &str) -> Option<OpInfo>;
    /// Content the call reads besides the `Path` values in its arguments,
    /// by label (e.g. the resolved weights, tokenizer and chat template of
    /// `hf(...)`). Part of the key.
    fn extra_files(
        &self,
        _func: &str,
        _args: &BTreeMap<String, Value>,
    ) -> Result<Vec<(String, PathBuf)>, String> {
        Ok(Vec::new())
    }
}

/// What the catalog says about one operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpInfo {
    pub version: u32,
    pub kind: DeclKind,
}

/// One unit of cached work.
#[derive(Clone, Debug)]
pub struct Step {
    pub id: StepId,
    /// The node of [`Plan::program`] this step computes.
    pub node: NodeId,
    /// Display name (not part of the key).
    pub name: String,
    pub kind: DeclKind,
    /// The builtin that computes it.
    pub op: String,
    /// `None` when no operation implements `op` (yet): the step cannot run.
    pub version: Option<u32>,
    /// Arguments; references to other steps are `Value::Node` /
    /// `Value::Family` over nodes of [`Plan::program`].
    pub args: BTreeMap<String, Value>,
    /// Steps whose outputs it reads, sorted.
    pub deps: Vec<StepId>,
    /// Created for a nested call rather than declared.
    pub implicit: bool,
    pub span: Span,
}

/// The DAG of a spec.
#[derive(Clone, Debug)]
pub struct Plan {
    pub spec: String,
    /// The IR with one extra node per implicit step (appended).
    pub program: Program,
    pub steps: Vec<Step>,
    /// Edge `a -> b`: `b` reads `a`'s output. Node `i` is step `i` (its weight).
    pub graph: DiGraph<StepId, ()>,
    /// Topological order, declaration order among independent steps.
    pub order: Vec<StepId>,
    node_step: Vec<Option<StepId>>,
}

/// Why a program cannot be planned.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("`{name}` is not computed by a builtin operation")]
    NotAnOperation { name: String, span: Span },
    #[error("`{name}` refers to node {target}, which does not exist")]
    BadReference {
        name: String,
        target: usize,
        span: Span,
    },
    #[error("the steps {0} depend on each other in a cycle")]
    Cycle(String),
}

/// How an input of a step is known when describing it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputState<'a> {
    /// Its output hash.
    Output(&'a str),
    /// Not computed yet: its own (provisional) key.
    Pending(&'a str),
}

/// A step's canonical description and the files it read.
#[derive(Clone, Debug)]
pub struct Described {
    pub desc: Json,
    /// (path as named, content hash) of every file read, in argument order,
    /// then (label, hash) of extra files.
    pub files: Vec<(String, String)>,
}

impl Plan {
    /// The step computing `node`, following aliases.
    pub fn step_of_node(&self, node: NodeId) -> Option<StepId> {
        self.node_step.get(node).copied().flatten()
    }

    /// A step by display name.
    pub fn step(&self, name: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.name == name)
    }

    /// Steps that read `id`'s output, in step order.
    pub fn consumers(&self, id: StepId) -> Vec<StepId> {
        let mut v: Vec<StepId> = self
            .graph
            .neighbors_directed(NodeIndex::new(id), Direction::Outgoing)
            .map(|n| self.graph[n])
            .collect();
        v.sort();
        v
    }
}

/// Builds the DAG of `program`.
pub fn build(program: &Program, catalog: &dyn Catalog) -> Result<Plan, PlanError> {
    let mut prog = program.clone();
    let n0 = prog.nodes.len();
    // Aliases: node -> the node it finally names.
    let mut target: Vec<NodeId> = (0..n0).collect();
    for (id, slot) in target.iter_mut().enumerate() {
        let mut cur = id;
        let mut hops = 0;
        while let Value::Node(next) = &prog.nodes[cur].value {
            if *next >= n0 {
                let n = &prog.nodes[id];
                return Err(PlanError::BadReference {
                    name: n.name.clone(),
                    target: *next,
                    span: n.span,
                });
            }
            cur = *next;
            hops += 1;
            if hops > n0 {
                return Err(PlanError::Cycle(format!("`{}`", prog.nodes[id].name)));
            }
        }
        *slot = cur;
    }
    let mut steps: Vec<Step> = Vec::new();
    let mut node_step: Vec<Option<StepId>> = vec![None; n0];
    for id in 0..n0 {
        if target[id] != id {
            continue;
        }
        add_step(
            &mut prog,
            &mut steps,
            &mut node_step,
            &target,
            catalog,
            id,
            false,
        )?;
    }
    for (id, t) in target.iter().enumerate() {
        if *t != id {
            node_step[id] = node_step[*t];
        }
    }
    // Dependencies.
    for s in steps.iter_mut() {
        let mut deps = BTreeSet::new();
        let mut bad = None;
        visit_refs(
            &Value::Record(s.args.clone()),
            &prog,
            &mut |n| match node_step.get(n).copied().flatten() {
                Some(st) => {
                    deps.insert(st);
                }
                None => bad = Some(n),
            },
        );
        if let Some(n) = bad {
            return Err(PlanError::BadReference {
                name: s.name.clone(),
                target: n,
                span: s.span,
            });
        }
        s.deps = deps.into_iter().collect();
    }
    // Node `i` of the graph is step `i` (added in order), so a step id is
    // its node index.
    let mut graph = DiGraph::new();
    for s in &steps {
        graph.add_node(s.id);
    }
    for s in &steps {
        for d in &s.deps {
            graph.add_edge(NodeIndex::new(*d), NodeIndex::new(s.id), ());
        }
    }
    let order = topo_order(&graph, &steps)?;
    Ok(Plan {
        spec: program.spec.clone(),
        program: prog,
        steps,
        graph,
        order,
        node_step,
    })
}

fn add_step(
    prog: &mut Program,
    steps: &mut Vec<Step>,
    node_step: &mut Vec<Option<StepId>>,
    target: &[NodeId],
    catalog: &dyn Catalog,
    id: NodeId,
    implicit: bool,
) -> Result<StepId, PlanError> {
    let node = prog.nodes[id].clone();
    let Value::Call(call) = &node.value else {
        return Err(PlanError::NotAnOperation {
            name: node.name.clone(),
            span: node.span,
        });
    };
    let sid = steps.len();
    if node_step.len() <= id {
        node_step.resize(id + 1, None);
    }
    node_step[id] = Some(sid);
    steps.push(Step {
        id: sid,
        node: id,
        name: node.name.clone(),
        kind: node.kind,
        op: call.func.to_string(),
        version: catalog.op(&call.func).map(|i| i.version),
        args: BTreeMap::new(),
        deps: Vec::new(),
        implicit,
        span: call.span,
    });
    let mut args = BTreeMap::new();
    for (k, v) in &call.args {
        let path = format!("{}.{k}", node.name);
        args.insert(
            k.to_string(),
            lift(prog, steps, node_step, target, catalog, v, &path)?,
        );
    }
    steps[sid].args = args;
    Ok(sid)
}

/// Rewrites an argument: aliases resolved, nested operation calls lifted
/// into implicit steps.
fn lift(
    prog: &mut Program,
    steps: &mut Vec<Step>,
    node_step: &mut Vec<Option<StepId>>,
    target: &[NodeId],
    catalog: &dyn Catalog,
    v: &Value,
    path: &str,
) -> Result<Value, PlanError> {
    Ok(match v {
        Value::Node(n) => Value::Node(target.get(*n).copied().unwrap_or(*n)),
        Value::List(xs) => Value::List(
            xs.iter()
                .enumerate()
                .map(|(i, x)| {
                    lift(
                        prog,
                        steps,
                        node_step,
                        target,
                        catalog,
                        x,
                        &format!("{path}[{i}]"),
                    )
                })
                .collect::<Result<_, _>>()?,
        ),
        Value::Record(m) => Value::Record(
            m.iter()
                .map(|(k, x)| {
                    Ok((
                        k.clone(),
                        lift(
                            prog,
                            steps,
                            node_step,
                            target,
                            catalog,
                            x,
                            &format!("{path}.{k}"),
                        )?,
                    ))
                })
                .collect::<Result<_, PlanError>>()?,
        ),
        Value::Call(c) => {
            if let Some(kind) = catalog
                .op(&c.func)
                .map(|i| i.kind)
                .or_else(|| computed_kind(&c.func))
            {
                let nid = prog.nodes.len();
                prog.nodes.push(Node {
                    id: nid,
                    kind,
                    name: path.to_string(),
                    cell: None,
                    value: Value::Call(c.clone()),
                    doc: None,
                    span: c.span,
                });
                add_step(prog, steps, node_step, target, catalog, nid, true)?;
                Value::Node(nid)
            } else {
                let mut args = crate::sema::ir::Args::new();
                for (k, x) in &c.args {
                    args.insert(
                        k.clone(),
                        lift(
                            prog,
                            steps,
                            node_step,
                            target,
                            catalog,
                            x,
                            &format!("{path}.{k}"),
                        )?,
                    );
                }
                Value::Call(Box::new(Call {
                    func: c.func.clone(),
                    args,
                    span: c.span,
                }))
            }
        }
        other => other.clone(),
    })
}

/// The kind of value a builtin computes, for builtins of the language that
/// return a model, dataset, eval or report (which are steps even when this
/// build has no operation for them, so that `inoc plan` shows them).
pub fn computed_kind(func: &str) -> Option<DeclKind> {
    use crate::sema::types::Ty;
    match crate::sema::builtins::get(func)?.ret {
        Ty::Model => Some(DeclKind::Model),
        Ty::Dataset => Some(DeclKind::Dataset),
        Ty::Eval => Some(DeclKind::Eval),
        Ty::Report => Some(DeclKind::Report),
        _ => None,
    }
}

/// Calls `f` with every node referenced by `v` (family cells included).
pub fn visit_refs(v: &Value, prog: &Program, f: &mut dyn FnMut(NodeId)) {
    match v {
        Value::Node(n) => f(*n),
        Value::Family(fid) => {
            if let Some(fam) = prog.families.get(*fid) {
                for c in &fam.cells {
                    f(*c);
                }
            }
        }
        Value::List(xs) => xs.iter().for_each(|x| visit_refs(x, prog, f)),
        Value::Record(m) => m.values().for_each(|x| visit_refs(x, prog, f)),
        Value::Call(c) => c.args.values().for_each(|x| visit_refs(x, prog, f)),
        _ => {}
    }
}

/// Calls `f` with every `Path` value of `v`, in argument order.
pub fn visit_paths<'a>(v: &'a Value, f: &mut dyn FnMut(&'a str)) {
    match v {
        Value::Path(p) => f(p),
        Value::List(xs) => xs.iter().for_each(|x| visit_paths(x, f)),
        Value::Record(m) => m.values().for_each(|x| visit_paths(x, f)),
        Value::Call(c) => c.args.values().for_each(|x| visit_paths(x, f)),
        _ => {}
    }
}

/// The steps in topological order, the lowest step id first among the steps
/// that are ready (Kahn's algorithm over the graph; petgraph's own `toposort`
/// is depth-first and would not keep declaration order, which `inoc plan`
/// lists and the executor starts by). Names every step left in a cycle.
fn topo_order(graph: &DiGraph<StepId, ()>, steps: &[Step]) -> Result<Vec<StepId>, PlanError> {
    let mut indeg: Vec<usize> = graph
        .node_indices()
        .map(|n| graph.neighbors_directed(n, Direction::Incoming).count())
        .collect();
    let mut ready: BTreeSet<StepId> = (0..steps.len()).filter(|i| indeg[*i] == 0).collect();
    let mut order = Vec::with_capacity(steps.len());
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for c in graph.neighbors_directed(NodeIndex::new(i), Direction::Outgoing) {
            let c = graph[c];
            indeg[c] -= 1;
            if indeg[c] == 0 {
                ready.insert(c);
            }
        }
    }
    if order.len() != steps.len() {
        let names: Vec<String> = steps
            .iter()
            .filter(|s| indeg[s.id] > 0)
            .map(|s| format!("`{}`", s.name))
            .collect();
        return Err(PlanError::Cycle(names.join(", ")));
    }
    Ok(order)
}

/// The canonical description of `step` (see [`canon`]).
///
/// `input` says what is known of each dependency; `hash_file` hashes a file
/// or directory named by the spec; `extra` are the catalog's extra files;
/// `compute` the device and precision when off the CPU-f32 reference;
/// `settings` the values the operation takes from the environment (an
/// `env` object in the description, left out when empty so that other
/// keys do not change).
pub fn describe<'a>(
    plan: &Plan,
    step: &Step,
    input: &dyn Fn(StepId) -> InputState<'a>,
    hash_file: &dyn Fn(&Path) -> Result<String, String>,
    extra: &[(String, PathBuf)],
    compute: Option<&str>,
    settings: &[(String, String)],
) -> Result<Described, String> {
    let mut files = Vec::new();
    let mut args = Vec::new();
    for (k, v) in &step.args {
        args.push((
            k.clone(),
            canon_value(plan, v, input, hash_file, &mut files)?,
        ));
    }
    let mut extra_files = Vec::new();
    for (label, p) in extra {
        let h =
            hash_file(p).map_err(|e| format!("cannot read `{}` ({label}): {e}", p.display()))?;
        files.push((label.clone(), h.clone()));
        extra_files.push((label.clone(), Json::String(h)));
    }
    let mut fields = vec![
        ("schema".to_string(), Json::from(canon::KEY_SCHEMA)),
        ("op".to_string(), Json::String(step.op.clone())),
        (
            "version".to_string(),
            step.version.map(Json::from).unwrap_or(Json::Null),
        ),
        ("args".to_string(), canon::object(args)),
        ("files".to_string(), canon::object(extra_files)),
    ];
    // Only off the reference (CPU, f32), so keys made there stay valid.
    if let Some(c) = compute {
        fields.push(("compute".to_string(), Json::String(c.to_string())));
    }
    if !settings.is_empty() {
        fields.push((
            "env".to_string(),
            canon::object(
                settings
                    .iter()
                    .map(|(k, v)| (k.clone(), Json::String(v.clone()))),
            ),
        ));
    }
    let desc = canon::object(fields);
    Ok(Described { desc, files })
}

fn canon_value<'a>(
    plan: &Plan,
    v: &Value,
    input: &dyn Fn(StepId) -> InputState<'a>,
    hash_file: &dyn Fn(&Path) -> Result<String, String>,
    files: &mut Vec<(String, String)>,
) -> Result<Json, String> {
    Ok(match v {
        Value::None => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::Float(x) => canon::number(*x),
        Value::Str(s) => Json::String(s.clone()),
        Value::Path(p) => {
            let h = hash_file(Path::new(p)).map_err(|e| format!("cannot read `{p}`: {e}"))?;
            files.push((p.clone(), h.clone()));
            canon::object([("$file".to_string(), Json::String(h))])
        }
        Value::List(xs) => Json::Array(
            xs.iter()
                .map(|x| canon_value(plan, x, input, hash_file, files))
                .collect::<Result<_, _>>()?,
        ),
        Value::Record(m) => canon::object(
            m.iter()
                .map(|(k, x)| Ok((k.clone(), canon_value(plan, x, input, hash_file, files)?)))
                .collect::<Result<Vec<_>, String>>()?,
        ),
        Value::Call(c) => {
            let args = c
                .args
                .iter()
                .map(|(k, x)| {
                    Ok((
                        k.to_string(),
                        canon_value(plan, x, input, hash_file, files)?,
                    ))
                })
                .collect::<Result<Vec<_>, String>>()?;
            canon::object([
                ("$call".to_string(), Json::String(c.func.to_string())),
                ("args".to_string(), canon::object(args)),
            ])
        }
        Value::Node(n) => input_json(plan, *n, input)?,
        Value::Family(fid) => {
            let fam = plan
                .program
                .families
                .get(*fid)
                .ok_or_else(|| format!("unknown family {fid}"))?;
            let mut cells = Vec::new();
            for c in &fam.cells {
                let coords = plan
                    .program
                    .nodes
                    .get(*c)
                    .and_then(|n| n.cell.as_ref())
                    .map(|cell| {
                        cell.coords
                            .iter()
                            .map(|(_, v)| canon_value(plan, v, input, hash_file, files))
                            .collect::<Result<Vec<_>, String>>()
                    });
                let coords = match coords {
                    Some(r) => Json::Array(r?),
                    None => Json::Array(Vec::new()),
                };
                cells.push(canon::object([
                    ("coords".to_string(), coords),
                    ("in".to_string(), input_json(plan, *c, input)?),
                ]));
            }
            canon::object([("$family".to_string(), Json::Array(cells))])
        }
    })
}

fn input_json<'a>(
    plan: &Plan,
    n: NodeId,
    input: &dyn Fn(StepId) -> InputState<'a>,
) -> Result<Json, String> {
    let st = plan
        .step_of_node(n)
        .ok_or_else(|| format!("reference to unknown node {n}"))?;
    Ok(match input(st) {
        InputState::Output(h) => canon::object([("$in".to_string(), Json::String(h.to_string()))]),
        InputState::Pending(k) => {
            canon::object([("$pending".to_string(), Json::String(k.to_string()))])
        }
    })
}

/// A human description of one change between two descriptions of a step.
/// `old_inputs` / `new_inputs` map input output hashes to display names.
pub fn explain_change(
    c: &canon::Change,
    old_inputs: &BTreeMap<String, String>,
    new_inputs: &BTreeMap<String, String>,
) -> (String, String) {
    let marker = |v: &Option<Json>, m: &str| -> Option<String> {
        v.as_ref()
            .and_then(|j| j.get(m))
            .and_then(|x| x.as_str())
            .map(str::to_string)
    };
    let arg = c.path.strip_prefix("args.").map(|p| {
        let p = p.replace(".args.", ".").replace(".$family", "");
        p.strip_suffix(".in").map(str::to_string).unwrap_or(p)
    });
    if c.path == "schema" {
        return (
            "key schema".into(),
            format!(
                "key schema changed ({} -> {})",
                canon::short(&c.old),
                canon::short(&c.new)
            ),
        );
    }
    if c.path == "op" {
        return (
            "operation".into(),
            format!(
                "operation changed ({} -> {})",
                canon::short(&c.old),
                canon::short(&c.new)
            ),
        );
    }
    if c.path == "version" {
        return (
            "operation version".into(),
            format!(
                "operation version changed ({} -> {})",
                canon::short(&c.old),
                canon::short(&c.new)
            ),
        );
    }
    if let Some(var) = c.path.strip_prefix("env.") {
        return (
            "setting".into(),
            format!(
                "${var} changed ({} -> {})",
                canon::short(&c.old),
                canon::short(&c.new)
            ),
        );
    }
    if let Some(label) = c.path.strip_prefix("files.") {
        return (
            "file".into(),
            format!(
                "content of {label} changed ({} -> {})",
                canon::short(&c.old),
                canon::short(&c.new)
            ),
        );
    }
    let Some(arg) = arg else {
        return (
            "description".into(),
            format!(
                "`{}` changed ({} -> {})",
                c.path,
                canon::short(&c.old),
                canon::short(&c.new)
            ),
        );
    };
    let old_in = marker(&c.old, "$in").or_else(|| marker(&c.old, "$pending"));
    let new_in = marker(&c.new, "$in").or_else(|| marker(&c.new, "$pending"));
    if let (Some(o), Some(n)) = (&old_in, &new_in) {
        let name = new_inputs
            .get(n)
            .or_else(|| old_inputs.get(o))
            .cloned()
            .unwrap_or_else(|| arg.clone());
        let what = if marker(&c.new, "$pending").is_some() {
            format!("input `{name}` (argument `{arg}`) will be recomputed")
        } else {
            format!(
                "input `{name}` (argument `{arg}`) has a different output ({} -> {})",
                canon::short(&c.old),
                canon::short(&c.new)
            )
        };
        return ("input".into(), what);
    }
    if marker(&c.old, "$file").is_some() && marker(&c.new, "$file").is_some() {
        return (
            "file".into(),
            format!(
                "content of the file in argument `{arg}` changed ({} -> {})",
                canon::short(&c.old),
                canon::short(&c.new)
            ),
        );
    }
    (
        "argument".into(),
        format!(
            "argument `{arg}` changed ({} -> {})",
            canon::short(&c.old),
            canon::short(&c.new)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sema::ir::{Cell, Family};

    struct Cat;
    impl Catalog for Cat {
        fn op(&self, func: &str) -> Option<OpInfo> {
            match func {
                "data" => Some(OpInfo {
                    version: 1,
                    kind: DeclKind::Dataset,
                }),
                "train" => Some(OpInfo {
                    version: 2,
                    kind: DeclKind::Train,
                }),
                "eval" => Some(OpInfo {
                    version: 1,
                    kind: DeclKind::Eval,
                }),
                _ => None,
            }
        }
    }

    use crate::sema::ir::call;

    fn node(id: usize, name: &str, kind: DeclKind, value: Value, cell: Option<Cell>) -> Node {
        Node {
            id,
            kind,
            name: name.into(),
            cell,
            value,
            doc: None,
            span: Span::default(),
        }
    }

    fn program() -> Program {
        let lora = call("lora", vec![("rank", Value::Int(8))]);
        Program {
            resources: vec![],
            spec: "t.inoc".into(),
            nodes: vec![
                node(
                    0,
                    "d",
                    DeclKind::Dataset,
                    call("data", vec![("n", Value::Int(3))]),
                    None,
                ),
                node(
                    1,
                    "t[s=0]",
                    DeclKind::Train,
                    call(
                        "train",
                        vec![
                            ("data", Value::Node(0)),
                            ("lr", Value::Float(1e-3)),
                            ("m", lora.clone()),
                        ],
                    ),
                    Some(Cell {
                        family: 0,
                        coords: vec![("s".into(), Value::Int(0))],
                    }),
                ),
                node(
                    2,
                    "t[s=1]",
                    DeclKind::Train,
                    call(
                        "train",
                        vec![
                            ("data", Value::Node(0)),
                            ("lr", Value::Float(1e-3)),
                            ("m", lora),
                        ],
                    ),
                    Some(Cell {
                        family: 0,
                        coords: vec![("s".into(), Value::Int(1))],
                    }),
                ),
                node(3, "alias", DeclKind::Dataset, Value::Node(0), None),
                node(
                    4,
                    "e",
                    DeclKind::Eval,
                    call(
                        "eval",
                        vec![
                            ("models", Value::Family(0)),
                            ("prompts", call("data", vec![("n", Value::Int(2))])),
                            ("extra", Value::Node(3)),
                        ],
                    ),
                    None,
                ),
            ],
            families: vec![Family {
                name: "t".into(),
                kind: DeclKind::Train,
                vars: vec!["s".into()],
                cells: vec![1, 2],
            }],
        }
    }

    fn keys(plan: &Plan) -> Vec<String> {
        let mut out: BTreeMap<StepId, String> = BTreeMap::new();
        for &s in &plan.order {
            let st = &plan.steps[s];
            let d = describe(
                plan,
                st,
                &|i| InputState::Output(out.get(&i).map(|s| s.as_str()).unwrap_or("?")),
                &|_| Ok("h".into()),
                &[],
                None,
                &[],
            )
            .unwrap();
            out.insert(s, canon::key_of(&d.desc));
        }
        out.into_values().collect()
    }

    #[test]
    fn steps_implicit_calls_aliases_and_order() {
        let plan = build(&program(), &Cat).unwrap();
        let names: Vec<&str> = plan.steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, vec!["d", "t[s=0]", "t[s=1]", "e", "e.prompts"]);
        let e = plan.step("e").unwrap();
        assert_eq!(e.deps, vec![0, 1, 2, 4]);
        assert!(plan.steps[4].implicit);
        let pos = |n: &str| {
            plan.order
                .iter()
                .position(|s| plan.steps[*s].name == n)
                .unwrap()
        };
        assert!(pos("e.prompts") < pos("e"));
        assert!(pos("d") < pos("t[s=1]"));
        assert_eq!(plan.graph.edge_count(), 2 + 4);
    }

    #[test]
    fn the_compute_device_enters_the_key_only_off_the_reference() {
        let plan = build(&program(), &Cat).unwrap();
        let st = &plan.steps[0];
        let key = |c: Option<&str>| {
            let d = describe(
                &plan,
                st,
                &|_| InputState::Output("?"),
                &|_| Ok("h".into()),
                &[],
                c,
                &[],
            )
            .unwrap();
            canon::key_of(&d.desc)
        };
        assert_eq!(key(None), keys(&plan)[0]);
        assert_ne!(key(Some("cuda:bf16")), key(None));
        assert_ne!(key(Some("cuda:bf16")), key(Some("cuda:f32")));
    }

    #[test]
    fn environment_settings_enter_the_key_only_when_an_op_has_some() {
        let plan = build(&program(), &Cat).unwrap();
        let st = &plan.steps[0];
        let key = |settings: &[(String, String)]| {
            let d = describe(
                &plan,
                st,
                &|_| InputState::Output("?"),
                &|_| Ok("h".into()),
                &[],
                None,
                settings,
            )
            .unwrap();
            (canon::key_of(&d.desc), d.desc)
        };
        assert_eq!(key(&[]).0, keys(&plan)[0]);
        let url = |u: &str| vec![("INOC_JUDGE_URL".to_string(), u.to_string())];
        let (a, desc_a) = key(&url("http://a/v1"));
        let (b, desc_b) = key(&url("http://b/v1"));
        assert_ne!(a, keys(&plan)[0]);
        assert_ne!(a, b);
        let change = &canon::diff(&desc_a, &desc_b)[0];
        let (kind, text) = explain_change(change, &BTreeMap::new(), &BTreeMap::new());
        assert_eq!(kind, "setting");
        assert!(text.starts_with("$INOC_JUDGE_URL changed"), "{text}");
    }

    #[test]
    fn keys_ignore_names_and_order_but_see_values() {
        let base = keys(&build(&program(), &Cat).unwrap());
        let mut renamed = program();
        renamed.nodes[0].name = "dataset_renamed".into();
        renamed.families[0].name = "other".into();
        renamed.nodes[1].cell.as_mut().unwrap().coords[0].0 = "seed".into();
        assert_eq!(base, keys(&build(&renamed, &Cat).unwrap()));
        let mut float_int = program();
        if let Value::Call(c) = &mut float_int.nodes[1].value {
            c.args.insert("lr".into(), Value::Float(0.001));
        }
        assert_eq!(base, keys(&build(&float_int, &Cat).unwrap()));
        let mut changed = program();
        if let Value::Call(c) = &mut changed.nodes[1].value {
            c.args.insert("lr".into(), Value::Float(0.002));
        }
        let k2 = keys(&build(&changed, &Cat).unwrap());
        assert_eq!(base[0], k2[0]);
        assert_ne!(base[1], k2[1]);
        assert_eq!(base[2], k2[2]);
    }

    #[test]
    fn cycles_and_non_calls_are_errors() {
        let mut p = program();
        if let Value::Call(c) = &mut p.nodes[0].value {
            c.args.insert("x".into(), Value::Node(1));
        }
        assert!(matches!(build(&p, &Cat), Err(PlanError::Cycle(_))));
        let mut p = program();
        p.nodes[0].value = Value::Int(3);
        assert!(matches!(
            build(&p, &Cat),
            Err(PlanError::NotAnOperation { .. })
        ));
    }
}
