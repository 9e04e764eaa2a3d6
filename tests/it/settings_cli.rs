//! `--set NAME=VALUE` through the real binary: a setting changes the keys
//! of the steps that use it and no other (`inoc plan`), and `inoc run`
//! records it in the run folder's provenance.json. Fixture:
//! tests/fixtures/settings/spec.inoc.

use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::process::Command;

const SPEC: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/settings/spec.inoc"
);

/// name -> key of every step of `inoc plan --set ...`.
fn keys(sets: &[&str]) -> BTreeMap<String, String> {
    let cache = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_inoc"));
    cmd.args(["plan", SPEC, "--format", "json"]);
    for s in sets {
        cmd.args(["--set", s]);
    }
    let out = cmd.env("INOC_CACHE", cache.path()).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
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

/// The names whose keys differ between two plans of the same steps.
fn changed(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> Vec<String> {
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    a.iter()
        .filter(|(n, k)| b[*n] != **k)
        .map(|(n, _)| n.clone())
        .collect()
}

#[test]
fn a_setting_changes_the_keys_of_the_steps_that_use_it_only() {
    let plain = keys(&[]);
    assert!(plain.len() >= 3, "{plain:?}");
    assert_eq!(changed(&plain, &keys(&["n=4"])), Vec::<String>::new());
    assert_eq!(changed(&plain, &keys(&["n=5"])), ["rows"]);
    let by_prompt = changed(&plain, &keys(&["prompt=\"B\""]));
    assert_eq!(
        by_prompt,
        ["prompted"],
        "the unprompted input keeps its key"
    );
}

#[test]
fn run_records_its_settings_in_provenance_and_refuses_unknown_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |sets: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_inoc"));
        cmd.args(["run", "--no-progress", "--runs-dir"])
            .arg(tmp.path().join("runs"))
            .arg(SPEC);
        for s in sets {
            cmd.args(["--set", s]);
        }
        cmd.env("INOC_CACHE", tmp.path().join("cache"))
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    };
    let out = run(&["n=5", "prompt=\"B\""]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let folder = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let prov: Json = serde_json::from_str(
        &std::fs::read_to_string(format!("{folder}/provenance.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        prov["settings"],
        serde_json::json!({"n": "5", "prompt": "\"B\""})
    );
    // Without settings the record is empty, and only `rows` and `prompted`
    // run again (the unprompted input is cached).
    let out = run(&[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("3 steps: 2 ran, 1 cached"), "{err}");
    let folder = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let prov: Json = serde_json::from_str(
        &std::fs::read_to_string(format!("{folder}/provenance.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(prov["settings"], serde_json::json!({}));
    // An unknown name stops the run before anything is computed.
    let out = run(&["nn=5"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("E0150") && err.contains("did you mean `n`?"),
        "{err}"
    );
}
