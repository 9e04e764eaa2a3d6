//! Cache keys of real `.inoc` specs (checker + planner on the real binary):
//! reformatting, renaming declarations and families, reordering named
//! arguments and spelling out defaults (or the same number another way)
//! leave every key unchanged; changing one argument changes the keys of
//! that step and its consumers only. Fixtures: tests/fixtures/engine/keys/.

use serde_json::Value as Json;
use std::process::Command;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/engine/keys");

/// (name, key) of every step, in plan order.
fn keys(file: &str) -> Vec<(String, String)> {
    let cache = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_inoc"))
        .args(["plan", &format!("{DIR}/{file}"), "--format", "json"])
        .env("INOC_CACHE", cache.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{file}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: Json = serde_json::from_slice(&out.stdout).unwrap();
    j["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["key"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn only_keys(v: &[(String, String)]) -> Vec<&str> {
    v.iter().map(|(_, k)| k.as_str()).collect()
}

#[test]
fn presentation_changes_keep_every_key() {
    let base = keys("base.inoc");
    // 8 declarations and cells + 4 implicit steps: the pretraining corpus,
    // the piped dataset of each inoculated cell, the eval's prompts.
    assert_eq!(base.len(), 12, "{base:?}");
    for variant in [
        "reformatted.inoc",
        "renamed.inoc",
        "reordered.inoc",
        "defaults.inoc",
    ] {
        let v = keys(variant);
        assert_eq!(only_keys(&base), only_keys(&v), "{variant}: {v:?}");
    }
    let renamed = keys("renamed.inoc");
    let names: Vec<&str> = renamed.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        names.contains(&"tiny.corpus") && names.contains(&"control[seed=0]"),
        "{names:?}"
    );
    // The inoculated cells' piped datasets are one step: one key.
    assert_eq!(base[5].0, "inoculated[s=0].data");
    assert_eq!(base[5].1, base[7].1);
}

#[test]
fn one_changed_argument_changes_that_step_and_its_consumers_only() {
    let base = keys("base.inoc");
    let changed = keys("changed.inoc");
    let differs: Vec<&str> = base
        .iter()
        .zip(&changed)
        .filter(|(a, b)| a.1 != b.1)
        .map(|(a, _)| a.0.as_str())
        .collect();
    assert_eq!(
        differs,
        vec!["inoculated[s=0]", "inoculated[s=1]", "ood", "summary"]
    );
}

#[test]
fn the_smoke_spec_plans() {
    let cache = tempfile::tempdir().unwrap();
    let spec = concat!(env!("CARGO_MANIFEST_DIR"), "/specs/smoke.inoc");
    let out = Command::new(env!("CARGO_BIN_EXE_inoc"))
        .args(["plan", spec])
        .env("INOC_CACHE", cache.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for step in [
        "base",
        "math",
        "plain[s=0]",
        "inoculated[s=1]",
        "ood",
        "smoke",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(&format!("{step} "))),
            "{step} missing:\n{text}"
        );
    }
    let dot = Command::new(env!("CARGO_BIN_EXE_inoc"))
        .args(["graph", spec])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&dot.stdout).contains("->"));
}
