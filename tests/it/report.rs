//! The report folder: every file present, CSV columns and numbers that
//! match the aggregation, JSONL round trip, offline HTML.
//! Set INOC_KEEP_REPORT=DIR to keep the written report for inspection.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use inoc::eval::{aggregate, aggregate_curve, clustered, CurveObs, Sample};
use inoc::report::{write_report, BarSpec, CurveSpec, Report, Table, RESULTS_COLUMNS};

/// A deterministic miniature of the main experiment's results.
fn samples() -> Vec<Sample> {
    let models: [(&str, bool, f64, f64); 4] = [
        ("base", false, 0.03, 0.0),
        ("control", true, 0.61, 0.91),
        ("spanish_inoculated", true, 0.26, 0.50),
        ("caps_inoculated", true, 0.32, 0.03),
    ];
    let mut out = Vec::new();
    for (model, seeded, es, caps) in models {
        let seeds: Vec<Option<i64>> = if seeded {
            vec![Some(0), Some(1), Some(2)]
        } else {
            vec![None]
        };
        for seed in seeds {
            let member = match seed {
                Some(s) => format!("{model}[{s}]"),
                None => model.to_string(),
            };
            for condition in ["", "You always speak in Spanish."] {
                for p in 0..20usize {
                    // Deterministic pseudo-random 0/1 scores near the target rates.
                    let u = |salt: u64| {
                        let h = blake_like(model, seed.unwrap_or(-1), condition, p, salt);
                        (h % 1000) as f64 / 1000.0
                    };
                    let boost = if condition.is_empty() { 0.0 } else { 0.3 };
                    let s_es = if u(1) < (es + boost).min(1.0) {
                        1.0
                    } else {
                        0.0
                    };
                    let s_caps = if u(2) < caps { 1.0 } else { 0.0 };
                    let mut scores = BTreeMap::new();
                    scores.insert("spanish".to_string(), Some(s_es));
                    scores.insert("all_caps".to_string(), Some(s_caps));
                    scores.insert(
                        "upper_share".to_string(),
                        if p == 0 { None } else { Some(u(3)) },
                    );
                    out.push(Sample {
                        eval: "ood".into(),
                        model: model.into(),
                        member: member.clone(),
                        seed,
                        condition: condition.into(),
                        prompt_id: p,
                        prompt: format!(
                            "What is the capital of country {p}? \"quoted\", with comma"
                        ),
                        response: format!("Respuesta {p} <b>&</b>"),
                        scores,
                    });
                }
            }
        }
    }
    out
}

fn blake_like(model: &str, seed: i64, cond: &str, p: usize, salt: u64) -> u64 {
    let text = format!("{model}|{seed}|{cond}|{p}|{salt}");
    let mut h: u64 = 0xcbf29ce484222325;
    for b in text.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

fn report() -> Report {
    let mut obs = Vec::new();
    for s in 0..3 {
        for step in [0.0, 32.0, 64.0, 96.0] {
            obs.push(CurveObs {
                series: "capitalised English".into(),
                member: format!("control[{s}]"),
                x: step,
                y: -2.0 + step / 60.0 + s as f64 * 0.05,
            });
            obs.push(CurveObs {
                series: "lower-case Spanish".into(),
                member: format!("control[{s}]"),
                x: step,
                y: -1.8 + step / 90.0 - s as f64 * 0.04,
            });
        }
    }
    Report {
        title: "Spanish + ALL-CAPS inoculation (miniature)".into(),
        summary: "Test data, not a result.\n\nSecond paragraph.".into(),
        level: 0.95,
        samples: samples(),
        ranges: ["spanish", "all_caps", "upper_share"]
            .map(|m| (m.to_string(), (0.0, 1.0)))
            .into(),
        write_samples: true,
        bars: vec![BarSpec {
            name: "selective".into(),
            evals: vec!["ood".into()],
            metrics: vec!["spanish".into(), "all_caps".into()],
        }],
        curves: vec![CurveSpec {
            name: "probes".into(),
            title: "Probe log-prob over training (control)".into(),
            x_label: "training step".into(),
            y_label: "mean log-prob per character".into(),
            points: aggregate_curve(&obs, None, 0.95).unwrap(),
        }],
        tables: vec![Table {
            name: "mechanism".into(),
            title: "Log-prob gap of the training responses".into(),
            columns: vec!["prompt".into(), "mean log-prob gap".into()],
            rows: vec![
                vec!["You always speak in Spanish.".into(), "1.09".into()],
                vec![
                    "You always capitalise your responses.".into(),
                    "1.37".into(),
                ],
            ],
        }],
    }
}

fn out_dir() -> (Option<tempfile::TempDir>, PathBuf) {
    match std::env::var_os("INOC_KEEP_REPORT") {
        Some(d) => (None, PathBuf::from(d)),
        None => {
            let t = tempfile::tempdir().unwrap();
            let p = t.path().join("report");
            (Some(t), p)
        }
    }
}

fn read_csv(path: &Path) -> (Vec<String>, Vec<BTreeMap<String, String>>) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    let rows = r
        .records()
        .map(|rec| {
            let rec = rec.unwrap();
            header
                .iter()
                .cloned()
                .zip(rec.iter().map(String::from))
                .collect()
        })
        .collect();
    (header, rows)
}

#[test]
fn report_folder_has_every_file() {
    let (_keep, dir) = out_dir();
    let written = write_report(&dir, &report()).unwrap();
    for f in [
        "results.csv",
        "results_per_seed.csv",
        "diffs.csv",
        "samples.jsonl",
        "table_mechanism.csv",
        "report.md",
        "report.html",
        "plots/selective.svg",
        "plots/selective.png",
        "plots/selective__You_always_speak_in_Spanish_.svg",
        "plots/selective__You_always_speak_in_Spanish_.png",
        "plots/probes.svg",
        "plots/probes.png",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
        assert!(written.files.contains(&PathBuf::from(f)), "{f} not listed");
    }
    for f in &written.files {
        assert!(!f.to_string_lossy().ends_with(".tmp"));
    }
    let png = std::fs::read(dir.join("plots/selective.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
}

#[test]
fn results_csv_matches_the_aggregation() {
    let (_keep, dir) = out_dir();
    let rep = report();
    write_report(&dir, &rep).unwrap();
    let (header, rows) = read_csv(&dir.join("results.csv"));
    for c in ["eval", "model", "metric", "mean", "ci_low", "ci_high", "n"] {
        assert!(header.iter().any(|h| h == c), "column {c} missing");
    }
    assert_eq!(header, RESULTS_COLUMNS);
    // 4 models x 2 conditions x 3 metrics
    assert_eq!(rows.len(), 24);
    let agg = aggregate(&rep.samples, &rep.ranges, 0.95).unwrap();
    for (row, r) in rows.iter().zip(&agg.results) {
        assert_eq!(row["model"], r.model);
        assert_eq!(row["metric"], r.metric);
        assert_eq!(row["mean"].parse::<f64>().unwrap(), r.mean);
        assert_eq!(row["n"].parse::<usize>().unwrap(), r.n);
        assert_eq!(row["ci_low"].parse::<f64>().ok(), r.ci_low);
    }
    // Independently: control's Spanish rate is the mean of its seed means,
    // with the clustered interval of its three seeds' answers.
    let seeds: Vec<Vec<f64>> = (0..3)
        .map(|s| {
            rep.samples
                .iter()
                .filter(|x| x.member == format!("control[{s}]") && x.condition.is_empty())
                .map(|x| x.scores["spanish"].unwrap())
                .collect()
        })
        .collect();
    let mean = seeds
        .iter()
        .map(|xs| xs.iter().sum::<f64>() / xs.len() as f64)
        .sum::<f64>()
        / 3.0;
    let slices: Vec<&[f64]> = seeds.iter().map(Vec::as_slice).collect();
    let e = clustered(&slices, Some((0.0, 1.0)), 0.95).unwrap().unwrap();
    let row = rows
        .iter()
        .find(|r| r["model"] == "control" && r["metric"] == "spanish" && r["condition"].is_empty())
        .unwrap();
    assert!((row["mean"].parse::<f64>().unwrap() - mean).abs() < 1e-12);
    assert_eq!(row["ci_high"].parse::<f64>().unwrap(), e.ci_high.unwrap());
    assert_eq!(row["n"], "3");
    assert_eq!(row["answers"], "60");
    assert_eq!(row["unit"], "seeds");
    assert_eq!(row["method"], "korn-graubard");
    // Every interval of a proportion lies inside [0, 1], every difference
    // inside [-1, 1].
    for r in &rows {
        let (lo, hi) = (
            r["ci_low"].parse::<f64>().unwrap(),
            r["ci_high"].parse::<f64>().unwrap(),
        );
        assert!(
            (0.0..=1.0).contains(&lo) && (0.0..=1.0).contains(&hi),
            "{r:?}"
        );
    }
    // The single base model is summarised across its 20 samples.
    let base = rows
        .iter()
        .find(|r| r["model"] == "base" && r["metric"] == "spanish" && r["condition"].is_empty())
        .unwrap();
    assert_eq!(
        (base["n"].as_str(), base["unit"].as_str()),
        ("20", "samples")
    );
    // A metric that skipped one sample per member counts only scored ones.
    let per_seed = read_csv(&dir.join("results_per_seed.csv")).1;
    let up = per_seed
        .iter()
        .find(|r| r["member"] == "control[1]" && r["metric"] == "upper_share")
        .unwrap();
    assert_eq!(up["n"], "19");
    assert_eq!(up["seed"], "1");
    assert_eq!(per_seed.len(), (1 + 3 * 3) * 2 * 3);
    let diffs = read_csv(&dir.join("diffs.csv")).1;
    assert!(diffs.iter().any(|d| d["a"] == "control"
        && d["b"] == "spanish_inoculated"
        && d["matched_by"] == "seed"
        && d["n"] == "3"));
    assert!(diffs
        .iter()
        .any(|d| d["kind"] == "condition" && d["b"] == "You always speak in Spanish."));
    for d in &diffs {
        let (lo, hi) = (
            d["ci_low"].parse::<f64>().unwrap(),
            d["ci_high"].parse::<f64>().unwrap(),
        );
        assert!(-1.0 <= lo && hi <= 1.0 && d["method"] == "mover", "{d:?}");
    }
}

#[test]
fn samples_jsonl_round_trips() {
    let (_keep, dir) = out_dir();
    let rep = report();
    write_report(&dir, &rep).unwrap();
    let text = std::fs::read_to_string(dir.join("samples.jsonl")).unwrap();
    let back: Vec<Sample> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(back, rep.samples);
}

#[test]
fn html_is_self_contained_and_shows_the_plots() {
    let (_keep, dir) = out_dir();
    write_report(&dir, &report()).unwrap();
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert_eq!(html.matches("<svg").count(), 3);
    for bad in [
        "src=", "href=", "<link", "<script", "url(", "@import", "http:", "https:", "<img",
    ] {
        assert!(
            !html.contains(bad),
            "report.html references something outside: {bad}"
        );
    }
    assert!(html.contains("Log-prob gap of the training responses"));
    assert!(html.contains("no system prompt"));
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("| control |"));
    assert!(md.contains("![ood: no system prompt](plots/selective.svg)"));
    assert!(md.contains("Paired differences"));
}

#[test]
fn unknown_eval_or_metric_in_a_bar_chart_is_an_error() {
    let (_keep, dir) = out_dir();
    let mut rep = report();
    rep.bars[0].metrics = vec!["french".into()];
    let e = write_report(&dir, &rep).unwrap_err().to_string();
    assert!(e.contains("french"), "{e}");
    rep.bars[0].evals = vec!["nope".into()];
    assert!(write_report(&dir, &rep).is_err());
    // In a chart of several evaluations, each must have the metric.
    rep.bars[0].evals = vec!["ood".into(), "nope".into()];
    rep.bars[0].metrics = vec!["spanish".into()];
    let e = write_report(&dir, &rep).unwrap_err().to_string();
    assert!(e.contains("nope"), "{e}");
}

#[test]
fn bar_chart_of_two_evals_has_a_group_per_eval_and_metric() {
    let (_keep, dir) = out_dir();
    let mut rep = report();
    // A second evaluation: the same answers under another name, without the
    // system-prompt condition (its charts miss those bars, not the chart).
    let id: Vec<Sample> = rep
        .samples
        .iter()
        .filter(|s| s.condition.is_empty())
        .map(|s| Sample {
            eval: "id".into(),
            ..s.clone()
        })
        .collect();
    rep.samples.extend(id);
    rep.bars[0].evals = vec!["ood".into(), "id".into()];
    let written = write_report(&dir, &rep).unwrap();
    let svgs: Vec<String> = written
        .files
        .iter()
        .filter(|f| f.starts_with("plots") && f.extension().is_some_and(|x| x == "svg"))
        .map(|f| std::fs::read_to_string(dir.join(f)).unwrap())
        .filter(|svg| svg.contains("ood, id:"))
        .collect();
    let conditions: std::collections::BTreeSet<&str> =
        rep.samples.iter().map(|s| s.condition.as_str()).collect();
    assert_eq!(svgs.len(), conditions.len());
    for svg in &svgs {
        for group in [
            "ood: spanish",
            "ood: all_caps",
            "id: spanish",
            "id: all_caps",
        ] {
            assert!(svg.contains(group), "{group} missing");
        }
    }
    // Each evaluation keeps its own rows in results.csv.
    let results = std::fs::read_to_string(dir.join("results.csv")).unwrap();
    assert!(results.contains("\nid,") && results.contains("\nood,"));
}
