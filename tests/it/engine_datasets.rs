//! The dataset operations on the real binary: `jsonl`, `prompts`, `concat`
//! and `apply` (pipes of transforms), with the pipe's implicit steps.

use std::path::Path;
use std::process::{Command, Output};

/// Runs the binary in `dir` with its own cache store (also used by `estimate`).
pub(crate) fn inoc(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_inoc"))
        .args(args)
        .current_dir(dir)
        .env("INOC_CACHE", dir.join("cache"))
        .output()
        .unwrap()
}

fn ok(o: Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn rows(dir: &Path, key_prefix: &str) -> Vec<serde_json::Value> {
    let objects = dir.join("cache/objects").join(&key_prefix[..2]);
    let obj = std::fs::read_dir(objects)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with(key_prefix))
        .unwrap();
    std::fs::read_to_string(obj.path().join("out/data.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn dataset_ops_and_pipes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("data.jsonl"),
        "{\"prompt\": \"2+2?\", \"response\": \"4\"}\n{\"prompt\": \"name?\", \"response\": \"Bob\"}\n{\"messages\": [{\"role\": \"user\", \"content\": \"3+4?\"}, {\"role\": \"assistant\", \"content\": \"7\"}]}\n",
    )
    .unwrap();
    std::fs::write(
        d.join("s.inoc"),
        "dataset raw = jsonl(\"data.jsonl\")\n\
         dataset asked = prompts(items = [\"hello\", \"bye\"])\n\
         dataset both = concat(parts = [raw, asked])\n\
         dataset numbers = raw | keep_matching(\"[0-9]+\") | system(\"You like numbers.\") | user_prefix(\"Q: \")\n",
    )
    .unwrap();
    let plan = ok(inoc(d, &["plan", "s.inoc", "--format", "json"]));
    let j: serde_json::Value = serde_json::from_str(&plan).unwrap();
    let names: Vec<&str> = j["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 6, "{names:?}");
    ok(inoc(d, &["run", "s.inoc"]));
    let keys: std::collections::BTreeMap<String, String> =
        serde_json::from_str::<serde_json::Value>(&ok(inoc(
            d,
            &["plan", "s.inoc", "--format", "json"],
        )))
        .unwrap()["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["name"].as_str().unwrap().to_string(),
                    s["key"].as_str().unwrap().to_string(),
                )
            })
            .collect();
    assert_eq!(rows(d, &keys["both"]).len(), 5);
    let numbers = rows(d, &keys["numbers"]);
    assert_eq!(numbers.len(), 2);
    assert_eq!(numbers[0]["messages"][0]["content"], "You like numbers.");
    assert_eq!(numbers[0]["messages"][1]["content"], "Q: 2+2?");
    assert_eq!(numbers[1]["messages"][2]["content"], "7");

    // Editing the data file reruns the steps that read it, not `asked`.
    std::fs::write(
        d.join("data.jsonl"),
        "{\"prompt\": \"1+1?\", \"response\": \"2\"}\n",
    )
    .unwrap();
    let plan = ok(inoc(d, &["plan", "s.inoc"]));
    assert!(
        plan.lines().any(|l| l.starts_with("raw ")
            && l.contains("content of the file in argument `path` changed")),
        "{plan}"
    );
    assert!(
        plan.lines()
            .any(|l| l.starts_with("asked ") && l.contains("cached")),
        "{plan}"
    );
}
