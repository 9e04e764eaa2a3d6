//! `inoc score` and `inoc sample` on the fixture checkpoints: output formats,
//! adapters, and clean errors (exit 1 with a message, never a panic).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hf")
        .join(name)
        .display()
        .to_string()
}

fn inoc(args: &[&str]) -> (i32, String, String) {
    inoc_with_cache(args, Path::new("/nonexistent-hf-cache"))
}

fn inoc_with_cache(args: &[&str], cache: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_inoc"))
        .args(args)
        .env("HF_HUB_CACHE", cache)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn score_prints_total_and_json_tokens() {
    let m = fixture("qwen2");
    let base = [
        "score",
        "--model",
        &m,
        "--prompt",
        "What is the capital of France?",
        "--response",
        "The capital of France is Paris.",
    ];
    let (code, out, err) = inoc(&base);
    assert_eq!(code, 0, "{err}");
    let total: f64 = out.trim().parse().unwrap();
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(PathBuf::from(&m).join("expected.json")).unwrap(),
    )
    .unwrap();
    assert!((total - expected["scores"][0]["logprob"].as_f64().unwrap()).abs() < 1e-3);
    let (code, out, _) = inoc(&[&base[..], &["--format", "json"]].concat());
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    let tokens = v["tokens"].as_array().unwrap();
    let sum: f64 = tokens.iter().map(|t| t["logprob"].as_f64().unwrap()).sum();
    assert!((sum - v["logprob"].as_f64().unwrap()).abs() < 1e-3);
    let text: String = tokens
        .iter()
        .map(|t| t["token"].as_str().unwrap())
        .collect();
    assert_eq!(text, "The capital of France is Paris.");
    // An adapter changes the score.
    let a = fixture("qwen2-lora");
    let (code, out2, _) = inoc(&[&base[..], &["--adapter", &a]].concat());
    assert_eq!(code, 0);
    assert_ne!(out2.trim(), out.trim());
}

#[test]
fn sample_is_seeded() {
    let m = fixture("llama3");
    let args = [
        "sample",
        "--model",
        &m,
        "--prompt",
        "Hello!",
        "-n",
        "2",
        "--max-tokens",
        "5",
        "--seed",
        "3",
        "--format",
        "json",
    ];
    let (code, a, err) = inoc(&args);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&a).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert!(v[0]["tokens"].as_u64().unwrap() <= 5);
    assert_eq!(inoc(&args).1, a);
}

#[test]
fn errors_are_messages_not_panics() {
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "score".into(),
                "--model".into(),
                "org/not-cached".into(),
                "--prompt".into(),
                "p".into(),
                "--response".into(),
                "r".into(),
            ],
            "not in the Hugging Face cache /nonexistent-hf-cache",
        ),
        (
            vec![
                "score".into(),
                "--model".into(),
                "no such thing".into(),
                "--prompt".into(),
                "p".into(),
                "--response".into(),
                "r".into(),
            ],
            "neither a local directory nor a hub id",
        ),
        (
            vec![
                "sample".into(),
                "--model".into(),
                fixture("qwen2"),
                "--prompt".into(),
                "p".into(),
                "--top-p".into(),
                "0".into(),
            ],
            "top_p must be in (0, 1]",
        ),
        (
            vec![
                "sample".into(),
                "--model".into(),
                fixture("qwen2"),
                "--prompt".into(),
                "p".into(),
                "--max-tokens".into(),
                "100000".into(),
            ],
            "exceeds max_position_embeddings",
        ),
        (
            vec![
                "score".into(),
                "--model".into(),
                fixture("smol"),
                "--adapter".into(),
                fixture("llama3-lora"),
                "--prompt".into(),
                "p".into(),
                "--response".into(),
                "r".into(),
            ],
            "do not fit weight",
        ),
        (
            vec![
                "score".into(),
                "--model".into(),
                fixture("qwen2"),
                "--adapter".into(),
                fixture("smol"),
                "--prompt".into(),
                "p".into(),
                "--response".into(),
                "r".into(),
            ],
            "adapter_config.json",
        ),
    ];
    for (args, want) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, _, err) = inoc(&args);
        assert_eq!(code, 1, "{args:?}: {err}");
        assert!(
            err.starts_with("error: ") && err.contains(want),
            "{args:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// `org/name` and `org/name@commit` resolve offline through an HF cache laid
/// out as huggingface_hub writes it (blobs, snapshot symlinks, refs/main).
#[test]
fn hub_ids_resolve_through_the_cache() {
    let cache = tempfile::tempdir().unwrap();
    let commit = "89abcdef0123456789abcdef0123456789abcdef";
    let repo = cache.path().join("models--tiny-org--tiny-qwen");
    let snap = repo.join("snapshots").join(commit);
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::create_dir_all(repo.join("blobs")).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), commit).unwrap();
    for f in std::fs::read_dir(fixture("qwen2")).unwrap() {
        let f = f.unwrap().path();
        let bytes = std::fs::read(&f).unwrap();
        let blob = repo
            .join("blobs")
            .join(blake3::hash(&bytes).to_hex().as_str());
        std::fs::write(&blob, &bytes).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(&blob, snap.join(f.file_name().unwrap())).unwrap();
        #[cfg(not(unix))]
        std::fs::copy(&blob, snap.join(f.file_name().unwrap())).unwrap();
    }
    let local = inoc(&[
        "score",
        "--model",
        &fixture("qwen2"),
        "--prompt",
        "Hi",
        "--response",
        "Hola",
    ]);
    for id in [
        "tiny-org/tiny-qwen".to_string(),
        format!("tiny-org/tiny-qwen@{commit}"),
    ] {
        let (code, out, err) = inoc_with_cache(
            &[
                "score",
                "--model",
                &id,
                "--prompt",
                "Hi",
                "--response",
                "Hola",
            ],
            cache.path(),
        );
        assert_eq!(code, 0, "{err}");
        assert_eq!(out, local.1);
    }
    let (code, _, err) = inoc_with_cache(
        &[
            "score",
            "--model",
            "tiny-org/tiny-qwen@v9",
            "--prompt",
            "Hi",
            "--response",
            "x",
        ],
        cache.path(),
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("tiny-org/tiny-qwen@v9 is not in the Hugging Face cache"),
        "{err}"
    );
}

#[test]
fn device_and_dtype_flags() {
    let m = fixture("qwen2");
    let base = [
        "score",
        "--model",
        &m,
        "--prompt",
        "What is the capital of France?",
        "--response",
        "The capital of France is Paris.",
    ];
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(PathBuf::from(&m).join("expected.json")).unwrap(),
    )
    .unwrap();
    let want = expected["scores"][0]["logprob"].as_f64().unwrap();
    // Explicit CPU in f32 is the default's number; bf16 is close to it.
    let (code, out, err) = inoc(&[&base[..], &["--device", "cpu", "--dtype", "f32"]].concat());
    assert_eq!(code, 0, "{err}");
    assert!((out.trim().parse::<f64>().unwrap() - want).abs() < 1e-3);
    let (code, out, err) = inoc(&[&base[..], &["--device", "cpu", "--dtype", "bf16"]].concat());
    assert_eq!(code, 0, "{err}");
    let got: f64 = out.trim().parse().unwrap();
    assert!(
        (got - want).abs() < 0.03 * want.abs(),
        "bf16 {got} vs {want}"
    );
    // Unknown values are usage errors with the accepted values listed.
    let (code, _, err) = inoc(&[&base[..], &["--device", "tpu"]].concat());
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cuda:N"), "{err}");
    let (code, _, err) = inoc(&[&base[..], &["--dtype", "f64"]].concat());
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("bf16"), "{err}");
    // Without the `cuda` feature, asking for a GPU is a clean error.
    if !cfg!(feature = "cuda") {
        let (code, _, err) = inoc(&[&base[..], &["--device", "cuda"]].concat());
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("--features cuda"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}
