//! The metrics must read the world's answers right: language id and
//! ALL-CAPS on generated text of every language and case.

use inoc::eval::{Metric, Unit};
use inoc::world::{self, Case, Lang, Split};

const CANDS: [&str; 4] = ["en", "es", "fr", "de"];

fn rate(metric: &Metric, texts: &[String]) -> f64 {
    let scores: Vec<f64> = texts.iter().filter_map(|t| metric.score(t)).collect();
    scores.iter().sum::<f64>() / scores.len() as f64
}

#[test]
fn language_metrics_identify_every_world_language_in_both_cases() {
    for lang in Lang::ALL {
        for case in [Case::Normal, Case::Upper] {
            let mut texts: Vec<String> = world::questions(300, lang, case, 1, Split::Test)
                .into_iter()
                .map(|c| c.assistant)
                .collect();
            texts.extend(
                world::math(100, lang, case, 1, Split::Test)
                    .into_iter()
                    .map(|c| c.assistant),
            );
            let id = Metric::language(lang.code(), &CANDS).unwrap();
            let share = Metric::marker_share(lang.code()).unwrap();
            let acc = rate(&id, &texts);
            let sh = rate(&share, &texts);
            let target: inoc::eval::Language = lang.code().parse().unwrap();
            let whatlang_only = texts
                .iter()
                .filter(|t| {
                    inoc::eval::detect_language_whatlang(t, &inoc::eval::Language::world())
                        == Some(target)
                })
                .count() as f64
                / texts.len() as f64;
            println!(
                "{lang} {case:?}: language id {acc:.3} (whatlang alone {whatlang_only:.3}), marker share {sh:.3}"
            );
            assert!(acc >= 0.98, "{lang} {case:?}: language id accuracy {acc}");
            assert!(sh >= 0.9, "{lang} {case:?}: marker share {sh}");
            // ... and no other language claims the text.
            for other in Lang::ALL.iter().filter(|o| **o != lang) {
                let m = Metric::language(other.code(), &CANDS).unwrap();
                assert!(rate(&m, &texts) <= 0.1, "{other} claims {lang} text");
            }
        }
    }
}

#[test]
fn caps_metrics_separate_the_two_cases() {
    let caps = Metric::all_caps(0.5).unwrap();
    for lang in Lang::ALL {
        let upper: Vec<String> = world::questions(200, lang, Case::Upper, 2, Split::Test)
            .into_iter()
            .map(|c| c.assistant)
            .collect();
        let normal: Vec<String> = world::questions(200, lang, Case::Normal, 2, Split::Test)
            .into_iter()
            .map(|c| c.assistant)
            .collect();
        assert_eq!(rate(&caps, &upper), 1.0);
        assert_eq!(rate(&caps, &normal), 0.0);
        assert!(rate(&Metric::upper_share(), &normal) < 0.2);
    }
}

#[test]
fn scored_world_samples_aggregate_per_model() {
    // Three "seeds" of a model that answers in Spanish, one of English.
    let mut samples = Vec::new();
    let metrics = vec![
        (
            "spanish".to_string(),
            Metric::language("es", &CANDS).unwrap(),
        ),
        ("all_caps".to_string(), Metric::all_caps(0.5).unwrap()),
    ];
    for seed in 0..3u64 {
        for (model, lang) in [("spanish_model", Lang::Es), ("english_model", Lang::En)] {
            for (i, c) in world::questions(40, lang, Case::Normal, seed, Split::Test)
                .into_iter()
                .enumerate()
            {
                samples.push(inoc::eval::Sample {
                    eval: "ood".into(),
                    model: model.into(),
                    member: format!("{model}[{seed}]"),
                    seed: Some(seed as i64),
                    condition: String::new(),
                    prompt_id: i,
                    prompt: c.user,
                    scores: inoc::eval::score_all(&metrics, &c.assistant),
                    response: c.assistant,
                });
            }
        }
    }
    let ranges = metrics
        .iter()
        .map(|(n, m)| (n.clone(), m.range()))
        .collect();
    let agg = inoc::eval::aggregate(&samples, &ranges, 0.95).unwrap();
    let get = |model: &str, metric: &str| {
        agg.results
            .iter()
            .find(|r| r.model == model && r.metric == metric)
            .unwrap()
            .clone()
    };
    let es = get("spanish_model", "spanish");
    assert_eq!((es.n, es.unit), (3, Unit::Seeds));
    assert!(es.mean > 0.85);
    assert!(get("english_model", "spanish").mean < 0.1);
    assert_eq!(get("english_model", "all_caps").mean, 0.0);
    let d = agg
        .diffs
        .iter()
        .find(|d| d.metric == "spanish" && d.kind == "model")
        .unwrap();
    assert_eq!(d.matched_by, "seed");
    assert!(d.mean < -0.75, "english - spanish: {}", d.mean);
}
