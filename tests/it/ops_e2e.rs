//! The real operations end to end through `inoc run` on a tiny spec
//! (tests/fixtures/ops/tiny.inoc): pretrain -> LoRA finetunes (a family of
//! two seeds, with and without a system prompt) -> evaluate under two
//! test-time conditions -> logprob_gap and probe_curve -> table, bar and
//! curve reports. A second run is fully cached and writes the same results.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ops");

fn inoc(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_inoc"))
        .args(args)
        .current_dir(dir)
        .env("INOC_CACHE", dir.join("cache"))
        .env("HF_HUB_CACHE", dir.join("hub"))
        .output()
        .unwrap()
}

fn run(dir: &Path) -> PathBuf {
    let o = inoc(dir, &["run", "tiny.inoc"]);
    assert!(
        o.status.success(),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    dir.join(out.lines().last().unwrap().trim())
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn tiny_spec_runs_end_to_end_and_reruns_from_cache() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for f in ["tiny.inoc", "corpus.jsonl", "math.jsonl", "questions.jsonl"] {
        std::fs::copy(Path::new(FIXTURES).join(f), d.join(f)).unwrap();
    }
    let folder = run(d);

    // The evaluation: every model cell x 2 conditions x 8 prompts.
    // Written once per evaluation, beside the reports.
    let samples = read(&folder.join("samples/ood.jsonl"));
    assert!(!folder.join("ood_table/samples.jsonl").exists());
    let rows: Vec<serde_json::Value> = samples
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), (1 + 2 + 2) * 2 * 8);
    for model in ["base", "plain", "inoculated"] {
        assert!(rows.iter().any(|r| r["model"] == model), "{model} missing");
    }
    // Family cells keep their own names and sweep seeds.
    let seeds: std::collections::BTreeSet<i64> = rows
        .iter()
        .filter(|r| r["model"] == "plain")
        .map(|r| r["seed"].as_i64().unwrap())
        .collect();
    assert_eq!(seeds.into_iter().collect::<Vec<_>>(), vec![0, 1]);
    assert!(rows.iter().any(|r| r["condition"] == ""));
    assert!(rows
        .iter()
        .any(|r| r["condition"] == "You always speak in Spanish."));
    for r in &rows {
        let s = &r["scores"];
        assert!(
            s.get("spanish").is_some() && s.get("all_caps").is_some(),
            "{r}"
        );
    }
    let results = read(&folder.join("ood_table/results.csv"));
    assert!(results.lines().count() > 1, "{results}");
    assert!(results.contains("inoculated"), "{results}");

    // Bar chart of the one metric asked for.
    let plots: Vec<String> = std::fs::read_dir(folder.join("ood_bar/plots"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert!(plots.iter().any(|p| p.ends_with(".svg")), "{plots:?}");
    assert!(read(&folder.join("ood_bar/report.md")).contains("spanish"));

    // The mechanism: one gap row, and a curve over the base + 2 checkpoints.
    let gap = read(&folder.join("gap_table/table_gap_table.csv"));
    assert!(gap.contains("gap per token"), "{gap}");
    assert_eq!(gap.lines().count(), 2, "{gap}");
    // Two gaps in one table: a row each, with its evaluation and prompt.
    let gaps = read(&folder.join("gaps_both/table_gaps_both.csv"));
    let lines: Vec<&str> = gaps.lines().collect();
    assert_eq!(lines.len(), 3, "{gaps}");
    assert!(lines[0].starts_with("evaluation,prompt,examples"), "{gaps}");
    assert!(
        lines[1].starts_with("gap,You always speak in Spanish.,"),
        "{gaps}"
    );
    assert!(
        lines[2].starts_with("gap_caps,You write in capitals.,"),
        "{gaps}"
    );
    let curve = read(&folder.join("probe_plot/table_probe_plot.csv"));
    assert_eq!(curve.lines().count(), 1 + 3, "{curve}");
    assert!(folder.join("probe_plot/plots").is_dir());
    // A full finetune's curve has its base as step 0 as well.
    let full = read(&folder.join("full_plot/table_full_plot.csv"));
    assert_eq!(full.lines().count(), 1 + 3, "{full}");

    // Several evaluations in one plot: a line per evaluation, the family
    // `probes_inoc` one line whose points have its 2 cells as clusters.
    let both = read(&folder.join("probes_both/table_probes_both.csv"));
    let lines: Vec<&str> = both.lines().collect();
    assert_eq!(lines.len(), 1 + 2 * 3, "{both}");
    assert!(lines[0].starts_with("evaluation,step"), "{both}");
    assert_eq!(lines.iter().filter(|l| l.starts_with("probes,")).count(), 3);
    for l in lines.iter().filter(|l| l.starts_with("probes_inoc,")) {
        assert!(l.ends_with(",2"), "two cells per point: {l}");
    }
    let svgs = |report: &str| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(folder.join(report).join("plots"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "svg"))
            .map(|p| read(&p))
            .collect();
        v.sort();
        v
    };
    let plot = svgs("probes_both");
    assert_eq!(plot.len(), 1, "one plot");
    assert!(plot[0].contains(">probes<") && plot[0].contains(">probes_inoc<"));
    // A bar chart of two evaluations: a group per evaluation and metric, one
    // chart per condition (ood has two; id, one).
    let bars = svgs("both_bar");
    assert_eq!(bars.len(), 2);
    assert!(bars
        .iter()
        .all(|b| b.contains("ood: spanish") && b.contains("id: spanish")));
    assert!(folder.join("samples/id.jsonl").is_file());
    let both_results = read(&folder.join("both_bar/results.csv"));
    assert!(both_results.contains("\nid,plain,"), "{both_results}");

    // Everything is cached the second time, with the same results.
    let again = run(d);
    assert_ne!(again, folder);
    assert_eq!(read(&again.join("ood_table/results.csv")), results);
    let prov: serde_json::Value =
        serde_json::from_str(&read(&again.join("provenance.json"))).unwrap();
    for s in prov["steps"].as_array().unwrap() {
        assert_ne!(s["status"], "ran", "{s}");
    }
}
