//! The step graph as Graphviz dot or Mermaid text.

use super::Plan;

fn dot_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

fn mermaid_escape(s: &str) -> String {
    s.replace('"', "#quot;")
        .replace('<', "#lt;")
        .replace('>', "#gt;")
}

/// Graphviz dot: one box per step labelled `name` and `op`, an edge from
/// each input to its consumer. `status` optionally annotates each step.
pub fn dot(plan: &Plan, status: &dyn Fn(usize) -> Option<String>) -> String {
    let mut s = String::from(
        "digraph inoc {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n",
    );
    for &id in &plan.order {
        let st = &plan.steps[id];
        let mut label = format!("{}\\n{}", dot_escape(&st.name), dot_escape(&st.op));
        let mut style = String::new();
        if let Some(x) = status(id) {
            label.push_str(&format!("\\n{}", dot_escape(&x)));
            if x == "cached" {
                style = ", style=filled, fillcolor=\"#e8f5e9\"".into();
            }
        }
        if st.implicit {
            style.push_str(", peripheries=2");
        }
        s.push_str(&format!("  s{id} [label=\"{label}\"{style}];\n"));
    }
    for &id in &plan.order {
        for d in &plan.steps[id].deps {
            s.push_str(&format!("  s{d} -> s{id};\n"));
        }
    }
    s.push_str("}\n");
    s
}

/// Mermaid flowchart with the same content as [`dot`].
pub fn mermaid(plan: &Plan, status: &dyn Fn(usize) -> Option<String>) -> String {
    let mut s = String::from("flowchart LR\n");
    for &id in &plan.order {
        let st = &plan.steps[id];
        let mut label = format!(
            "{}<br/>{}",
            mermaid_escape(&st.name),
            mermaid_escape(&st.op)
        );
        if let Some(x) = status(id) {
            label.push_str(&format!("<br/>{}", mermaid_escape(&x)));
        }
        s.push_str(&format!("  s{id}[\"{label}\"]\n"));
    }
    for &id in &plan.order {
        for d in &plan.steps[id].deps {
            s.push_str(&format!("  s{d} --> s{id}\n"));
        }
    }
    s
}
