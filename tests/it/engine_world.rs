//! The world generators as dataset steps.

use std::path::Path;
use std::process::Command;

fn inoc(dir: &Path, args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_inoc"))
        .args(args)
        .current_dir(dir)
        .env("INOC_CACHE", dir.join("cache"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).to_string()
}

#[test]
fn world_datasets_are_generated_once_and_match_the_world() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("w.inoc"),
        "dataset m = world_math(n = 5, language = \"es\", case = \"upper\", seed = 1)\n\
         dataset q = world_questions(n = 3, seed = 2)\n\
         dataset c = world_corpus(n = 10, seed = 0)\n\
         dataset k = world_numbers(n = 4, seed = 0)\n",
    )
    .unwrap();
    let folder = inoc(d, &["run", "w.inoc"])
        .lines()
        .last()
        .unwrap()
        .to_string();
    let prov: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join(folder).join("provenance.json")).unwrap())
            .unwrap();
    let key = |name: &str| {
        prov["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap()["key"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let rows = |name: &str| -> Vec<serde_json::Value> {
        let k = key(name);
        std::fs::read_to_string(
            d.join("cache/objects")
                .join(&k[..2])
                .join(&k)
                .join("out/data.jsonl"),
        )
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
    };
    let math = rows("m");
    let expected = inoc::world::math(
        5,
        "es".parse().unwrap(),
        "upper".parse().unwrap(),
        1,
        "train".parse().unwrap(),
    );
    assert_eq!(math.len(), 5);
    for (r, e) in math.iter().zip(&expected) {
        let msgs = r["messages"].as_array().unwrap();
        assert_eq!(msgs.last().unwrap()["content"], e.assistant.as_str());
        assert_eq!(msgs[msgs.len() - 2]["content"], e.user.as_str());
    }
    assert_eq!(rows("q").len(), 3);
    assert_eq!(rows("c").len(), 10);
    assert_eq!(rows("k").len(), 4);
    assert!(inoc(d, &["plan", "w.inoc"]).contains("4 cached, 0 to run"));
}

#[test]
fn pretrain_from_the_world_corpus_then_sample() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("p.inoc"),
        "model p = pretrain(corpus = world_corpus(n = 40, seed = 0), arch = arch(layers = 1, hidden = 16, heads = 2, kv_heads = 2, ffn = 32, max_seq = 128), steps = 3, batch = 4, warmup = 1, max_seq = 128)\n\
         dataset g = generate(p, prompts(items = [\"hi\"]), sampling(max_tokens = 3))\n",
    )
    .unwrap();
    let folder = inoc(d, &["run", "p.inoc"])
        .lines()
        .last()
        .unwrap()
        .to_string();
    let prov: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join(folder).join("provenance.json")).unwrap())
            .unwrap();
    let names: Vec<&str> = prov["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["p.corpus", "p", "g.prompts", "g"]);
    let k = prov["steps"][1]["key"].as_str().unwrap();
    let out = d.join("cache/objects").join(&k[..2]).join(k).join("out");
    for f in ["config.json", "tokenizer.json", "model.json", "train.json"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    assert!(inoc(d, &["plan", "p.inoc"]).contains("4 cached, 0 to run"));
}
