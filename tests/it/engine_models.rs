//! Model sources in the engine: `hf(...)` resolved in a Hugging Face cache
//! (built here from the qwen2 fixture, with the real snapshot -> blob
//! links) and `local(...)`; their file contents are part of the key.

use std::path::Path;
use std::process::{Command, Output};

const SCRATCH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/hf/scratch-char"
);
const QWEN2: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/hf/qwen2");

fn hub_cache(root: &Path) {
    let repo = root.join("models--org--tiny");
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::create_dir_all(repo.join("blobs")).unwrap();
    std::fs::create_dir_all(repo.join("snapshots/abc1230000000000000000000000000000000000"))
        .unwrap();
    std::fs::write(
        repo.join("refs/main"),
        "abc1230000000000000000000000000000000000",
    )
    .unwrap();
    for f in [
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "model.safetensors",
        "chat_template.jinja",
    ] {
        let blob = blake3::hash(&std::fs::read(Path::new(QWEN2).join(f)).unwrap()).to_hex()[..40]
            .to_string();
        std::fs::copy(Path::new(QWEN2).join(f), repo.join("blobs").join(&blob)).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(
            format!("../../blobs/{blob}"),
            repo.join("snapshots/abc1230000000000000000000000000000000000")
                .join(f),
        )
        .unwrap();
        #[cfg(not(unix))]
        std::fs::copy(
            Path::new(QWEN2).join(f),
            repo.join("snapshots/abc1230000000000000000000000000000000000")
                .join(f),
        )
        .unwrap();
    }
}

fn inoc(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_inoc"))
        .args(args)
        .current_dir(dir)
        .env("INOC_CACHE", dir.join("cache"))
        .env("HF_HUB_CACHE", dir.join("hub"))
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).to_string()
}

#[test]
fn hub_and_local_models_are_keyed_by_content() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    hub_cache(&d.join("hub"));
    std::fs::write(
        d.join("s.inoc"),
        format!("model m = hf(\"org/tiny\")\nmodel l = local(\"{QWEN2}\")\n"),
    )
    .unwrap();
    let folder = stdout(&inoc(d, &["run", "s.inoc"]))
        .lines()
        .last()
        .unwrap()
        .to_string();
    let prov: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join(&folder).join("provenance.json")).unwrap())
            .unwrap();
    let m = prov["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "m")
        .unwrap();
    assert_eq!(
        m["provenance"]["revision"],
        "org/tiny@abc1230000000000000000000000000000000000"
    );
    assert_eq!(m["files"].as_object().unwrap().len(), 5);
    let key = m["key"].as_str().unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            d.join("cache/objects")
                .join(&key[..2])
                .join(key)
                .join("out/model.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["source"], "hub");
    assert_eq!(
        manifest["commit"],
        "abc1230000000000000000000000000000000000"
    );
    assert!(stdout(&inoc(d, &["plan", "s.inoc"])).contains("2 cached, 0 to run"));

    // The same revision name with different weights is a different model.
    let cfg = std::fs::canonicalize(d.join(
        "hub/models--org--tiny/snapshots/abc1230000000000000000000000000000000000/config.json",
    ))
    .unwrap();
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push('\n');
    std::fs::write(&cfg, text).unwrap();
    let plan = stdout(&inoc(d, &["plan", "s.inoc"]));
    let line = plan.lines().find(|l| l.starts_with("m ")).unwrap();
    assert!(
        line.contains("run") && line.contains("content of config.json changed"),
        "{plan}"
    );
    assert!(
        plan.lines()
            .any(|l| l.starts_with("l ") && l.contains("cached")),
        "{plan}"
    );

    // A revision that is not cached is an error naming it, before any compute.
    std::fs::write(d.join("t.inoc"), "model m = hf(\"org/other\")\n").unwrap();
    let o = inoc(d, &["plan", "t.inoc"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr)
        .contains("org/other@main is not in the Hugging Face cache"));
}

fn output_hashes(dir: &Path, folder: &str) -> Vec<(String, String)> {
    let prov: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join(folder).join("provenance.json")).unwrap())
            .unwrap();
    prov["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["output_hash"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn generate_samples_from_a_model_deterministically() {
    let spec = "model m = hf(\"org/tiny\")\n\
                dataset p = prompts(items = [\"Hi\", \"2+2?\"])\n\
                dataset g = generate(m, p, sampling(max_tokens = 4, n = 2, seed = 1), system = \"Be brief.\")\n";
    let mut runs = Vec::new();
    for _ in 0..2 {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        hub_cache(&d.join("hub"));
        std::fs::write(d.join("s.inoc"), spec).unwrap();
        let folder = stdout(&inoc(d, &["run", "s.inoc"]))
            .lines()
            .last()
            .unwrap()
            .to_string();
        let hashes = output_hashes(d, &folder);
        let plan: serde_json::Value =
            serde_json::from_str(&stdout(&inoc(d, &["plan", "s.inoc", "--format", "json"])))
                .unwrap();
        let key = plan["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == "g")
            .unwrap()["key"]
            .as_str()
            .unwrap()
            .to_string();
        let obj = std::fs::read_dir(d.join("cache/objects").join(&key[..2]))
            .unwrap()
            .flatten()
            .find(|e| e.file_name().to_string_lossy().starts_with(&key))
            .unwrap();
        let rows: Vec<serde_json::Value> =
            std::fs::read_to_string(obj.path().join("out/data.jsonl"))
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
        assert_eq!(rows.len(), 4);
        for r in &rows {
            let roles: Vec<&str> = r["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["role"].as_str().unwrap())
                .collect();
            assert_eq!(roles, vec!["user", "assistant"], "{r}");
        }
        runs.push(hashes);
    }
    assert_eq!(runs[0], runs[1]);
}

#[test]
fn finetune_lora_then_sample_from_the_adapter() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let rows: String = (0..6)
        .map(|i| {
            format!(
                "{{\"prompt\": \"{i}+{i}?\", \"response\": \"{}\"}}\n",
                2 * i
            )
        })
        .collect();
    std::fs::write(d.join("sums.jsonl"), rows).unwrap();
    std::fs::write(
        d.join("s.inoc"),
        format!("model m = local(\"{SCRATCH}\")\n\
         dataset sums = jsonl(\"sums.jsonl\")\n\
         train t = finetune(m, sums, lora(rank = 2, targets = [\"q_proj\", \"v_proj\"]), epochs = 2, lr = 1e-3, batch = 3, max_seq = 64, checkpoints = 2)\n\
         dataset g = generate(t, prompts(items = [\"1+1?\"]), sampling(max_tokens = 3))\n"),
    )
    .unwrap();
    let folder = stdout(&inoc(d, &["run", "s.inoc"]))
        .lines()
        .last()
        .unwrap()
        .to_string();
    let steps = output_hashes(d, &folder);
    assert_eq!(steps.len(), 5, "{steps:?}");
    let plan: serde_json::Value =
        serde_json::from_str(&stdout(&inoc(d, &["plan", "s.inoc", "--format", "json"]))).unwrap();
    assert!(
        plan["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] == "cached"),
        "{plan}"
    );
    let key = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "t")
        .unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let obj = std::fs::read_dir(d.join("cache/objects").join(&key[..2]))
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with(&key))
        .unwrap()
        .path()
        .join("out");
    for f in [
        "adapter_config.json",
        "adapter_model.safetensors",
        "model.json",
        "train.json",
    ] {
        assert!(obj.join(f).is_file(), "{f} missing");
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(obj.join("model.json")).unwrap()).unwrap();
    assert_eq!(manifest["source"], "adapter");
    assert_eq!(manifest["base"]["source"], "local");
    let train: serde_json::Value =
        serde_json::from_slice(&std::fs::read(obj.join("train.json")).unwrap()).unwrap();
    assert_eq!(train["steps"], 4);
    assert!(obj.join("checkpoints").is_dir());
    // The scratch directory (checkpoints for resume) is gone once stored.
    let full_key = obj.parent().unwrap().file_name().unwrap().to_owned();
    assert!(!d.join("cache/scratch").join(full_key).exists());
}

/// `gguf(path)`: a GGUF file (written here as llama.cpp's converter would,
/// with a digit-splitting tokenizer) becomes an HF checkpoint in the store,
/// answers, and judges itself with every number 0..100 scored whole.
#[test]
fn a_gguf_model_answers_and_judges_itself() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    inoc::runtime::gguf::fixture::write_tiny(&d.join("tiny.gguf"), "smollm");
    std::fs::write(
        d.join("s.inoc"),
        r#"model g = gguf("tiny.gguf")
let self_judge = judge(prompt = "{answer} Score 0 to 100:", local = g, min_mass = 0, name = "self")
eval e = evaluate(
    models = [g],
    prompts = prompts(["hello", "12 apples"]),
    sample = sampling(max_tokens = 3, n = 2),
    metrics = [self_judge],
)
report t = table(e)
"#,
    )
    .unwrap();
    let folder = stdout(&inoc(d, &["run", "--no-progress", "s.inoc"]))
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string();
    let results = std::fs::read_to_string(d.join(&folder).join("t/results.csv")).unwrap();
    let line = results
        .lines()
        .find(|l| l.contains(",self,"))
        .unwrap_or_else(|| panic!("{results}"));
    let mean: f64 = line.split(',').nth(4).unwrap().parse().unwrap();
    assert!((0.0..=100.0).contains(&mean), "{line}");
    // The converted checkpoint is an ordinary HF directory in the store.
    let configs: Vec<_> = walk(&d.join("cache"))
        .into_iter()
        .filter(|p| p.ends_with("config.json"))
        .collect();
    assert!(!configs.is_empty());
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&configs[0]).unwrap()).unwrap();
    assert_eq!(cfg["model_type"], "llama");
    // A second run converts nothing again.
    let again = inoc(d, &["run", "--no-progress", "s.inoc"]);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&again.stdout),
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(again.status.success(), "{all}");
    assert!(!all.contains("start    g (gguf)"), "{all}");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
