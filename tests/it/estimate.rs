//! `inoc plan`'s time estimates on the real binary: a fresh store estimates
//! model steps at the default rates; once a step has run, its operation's
//! rate on this machine is the work it did over the time it took, so the
//! same step with twice the work is estimated at twice the recorded time.

use serde_json::Value as Json;
use std::path::Path;

use crate::engine_datasets::inoc;

fn ok(dir: &Path, args: &[&str]) -> String {
    let o = inoc(dir, args);
    assert!(
        o.status.success(),
        "inoc {args:?}\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

const SPEC: &str = "let steps = 3\n\
model m = pretrain(world_corpus(n = 64, seed = 0), \
arch(layers = 1, hidden = 16, heads = 2, kv_heads = 2, ffn = 32, max_seq = 64), \
steps = steps, batch = 4, warmup = 0)\n";

fn plan_step(dir: &Path, set: &str, op: &str) -> Json {
    let out = ok(dir, &["plan", "s.inoc", "--set", set, "--format", "json"]);
    let j: Json = serde_json::from_str(&out).unwrap();
    j["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["op"] == op)
        .unwrap_or_else(|| panic!("no {op} step in {j}"))
        .clone()
}

#[test]
fn a_recorded_step_calibrates_the_estimate_of_the_next() {
    let _k = super::kernels_fixed();
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("s.inoc"), SPEC).unwrap();
    // Fresh store: the default rate.
    let fresh = plan_step(d.path(), "steps=3", "pretrain");
    assert_eq!(fresh["basis"], "default", "{fresh}");
    assert!(fresh["seconds"].as_f64().unwrap() > 0.0, "{fresh}");
    let human = ok(d.path(), &["plan", "s.inoc"]);
    assert!(human.contains("pretrain at default rates for"), "{human}");
    ok(d.path(), &["run", "s.inoc", "--no-progress"]);
    let ls: Json =
        serde_json::from_str(&ok(d.path(), &["cache", "ls", "--format", "json"])).unwrap();
    let took = ls["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["op"] == "pretrain")
        .expect("the pretraining is stored")["seconds"]
        .as_f64()
        .unwrap();
    // Twice the steps: twice the work at the recorded rate.
    let next = plan_step(d.path(), "steps=6", "pretrain");
    assert_eq!(next["basis"], "measured", "{next}");
    let s = next["seconds"].as_f64().unwrap();
    assert!(
        (s - 2.0 * took).abs() <= 1e-6 * took.max(1e-3),
        "estimated {s}, recorded {took}"
    );
    let human = ok(d.path(), &["plan", "s.inoc", "--set", "steps=6"]);
    assert!(
        human.contains("pretrain at the rates of earlier steps on this machine"),
        "{human}"
    );
}
