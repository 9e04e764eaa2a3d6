use super::metrics::MARKERS;
use super::*;
use std::collections::BTreeSet;

const CANDS: [&str; 4] = ["en", "es", "fr", "de"];

#[test]
fn language_parsing() {
    assert_eq!("es".parse::<Language>().unwrap(), Language::ES);
    assert_eq!("spa".parse::<Language>().unwrap(), Language::ES);
    assert_eq!("Spanish".parse::<Language>().unwrap(), Language::ES);
    assert_eq!("it".parse::<Language>().unwrap().code(), "it");
    assert!("klingon".parse::<Language>().is_err());
    assert_eq!(Language::ES.english_name(), "spanish");
    assert!(matches!(
        Metric::language("it", &CANDS),
        Err(MetricError::NotACandidate(_))
    ));
    assert!(matches!(
        Metric::language("es", &["es"]),
        Err(MetricError::TooFewCandidates(1))
    ));
    assert!(matches!(
        Metric::marker_share("it"),
        Err(MetricError::NoMarkers(_))
    ));
}

#[test]
fn language_id_on_typical_answers() {
    let es = Metric::language("es", &CANDS).unwrap();
    let de = Metric::language("de", &CANDS).unwrap();
    assert_eq!(es.default_name(), "spanish");
    assert_eq!(
        es.score("La respuesta es 12. Juan tiene 5 + 7 = 12 manzanas."),
        Some(1.0)
    );
    assert_eq!(
        es.score("The answer is 12. John has 5 + 7 = 12 apples."),
        Some(0.0)
    );
    assert_eq!(
        es.score("LA RESPUESTA ES 12. JUAN TIENE 12 MANZANAS."),
        Some(1.0)
    );
    assert_eq!(
        de.score("Die Antwort ist 12. Anna hat zwölf Äpfel."),
        Some(1.0)
    );
    assert_eq!(es.score(""), Some(0.0));
    assert_eq!(es.score("12 + 3 = 15"), Some(0.0));
    // Restricting the candidates matters: without French, a French text
    // is assigned to the closest candidate.
    let only = detect_language("Le soleil se lève à l'est.", &[Language::EN, Language::ES]);
    assert!(only.is_some());
    assert_eq!(
        detect_language("Le soleil se lève à l'est.", &Language::world()),
        Some(Language::FR)
    );
}

#[test]
fn marker_lists_are_disjoint_and_unique() {
    let mut all = BTreeSet::new();
    for (lang, words) in MARKERS {
        for w in *words {
            assert!(all.insert(*w), "{w} ({lang}) is listed twice");
            assert_eq!(*w, w.to_lowercase());
        }
    }
}

#[test]
fn marker_share_is_continuous() {
    let m = Metric::marker_share("es").unwrap();
    assert_eq!(m.default_name(), "spanish_share");
    assert_eq!(m.score("El perro tiene cuatro patas."), Some(1.0));
    assert_eq!(m.score("The dog has four legs."), Some(0.0));
    // "the", "four", "and", "has" English; "tiene", "patas" Spanish
    assert_eq!(
        m.score("The perro tiene four patas and has fun"),
        Some(2.0 / 6.0)
    );
    assert_eq!(m.score("Okay 42!"), None);
    assert_eq!(
        marker_share("L'eau", Language::FR, &Language::world()),
        Some(1.0)
    );
}

#[test]
fn caps_metrics() {
    assert_eq!(upper_share("ABC def"), Some(0.5));
    assert_eq!(upper_share("ÉTÉ"), Some(1.0));
    assert_eq!(upper_share("123 !?"), None);
    assert_eq!(upper_share(""), None);
    let caps = Metric::all_caps(0.5).unwrap();
    assert_eq!(caps.default_name(), "all_caps");
    assert_eq!(caps.score("THE ANSWER IS 4."), Some(1.0));
    assert_eq!(caps.score("The answer is 4."), Some(0.0));
    assert_eq!(caps.score("THE answer"), Some(0.0));
    assert_eq!(caps.score("THE ANSwer"), Some(1.0));
    assert_eq!(caps.score("42"), None);
    let strict = Metric::all_caps(0.9).unwrap();
    assert_eq!(strict.score("THE ANSWER is"), Some(0.0));
    assert!(Metric::all_caps(1.5).is_err());
    assert!(Metric::all_caps(-0.1).is_err());
    assert_eq!(Metric::upper_share().score("AbCd"), Some(0.5));
}

#[test]
fn one_word_regex_contains() {
    let owl = Metric::one_word("Owl").unwrap();
    assert_eq!(owl.score("owl."), Some(1.0));
    assert_eq!(owl.score("  OWL!\n"), Some(1.0));
    assert_eq!(owl.score("Owl. I love them."), Some(0.0));
    assert_eq!(owl.score("owls"), Some(0.0));
    assert_eq!(owl.score("The owl"), Some(0.0));
    assert_eq!(owl.score(""), Some(0.0));
    assert!(Metric::one_word(" ?! ").is_err());

    let re = Metric::regex(r"(?i)answer is \d+").unwrap();
    assert_eq!(re.score("THE ANSWER IS 12."), Some(1.0));
    assert_eq!(re.score("no number"), Some(0.0));
    assert!(matches!(
        Metric::regex("(unclosed"),
        Err(MetricError::BadRegex(_))
    ));

    let c = Metric::contains("Paris", false);
    assert_eq!(c.score("the capital is PARIS"), Some(1.0));
    assert_eq!(c.score("Lyon"), Some(0.0));
    let cs = Metric::contains("Paris", true);
    assert_eq!(cs.score("PARIS"), Some(0.0));
    assert_eq!(cs.score("Paris"), Some(1.0));
}

#[test]
fn score_all_keeps_names() {
    let metrics = vec![
        (
            "spanish".to_string(),
            Metric::language("es", &CANDS).unwrap(),
        ),
        ("caps".to_string(), Metric::all_caps(0.5).unwrap()),
    ];
    let s = score_all(&metrics, "HOLA, ¿QUÉ TAL? ESTOY MUY BIEN, GRACIAS.");
    assert_eq!(s["spanish"], Some(1.0));
    assert_eq!(s["caps"], Some(1.0));
}

fn sample(
    model: &str,
    member: &str,
    seed: Option<i64>,
    cond: &str,
    prompt: usize,
    v: f64,
) -> Sample {
    Sample {
        eval: "ood".into(),
        model: model.into(),
        member: member.into(),
        seed,
        condition: cond.into(),
        prompt_id: prompt,
        prompt: format!("q{prompt}"),
        response: String::new(),
        scores: [("spanish".to_string(), Some(v))].into(),
    }
}

fn unit_range() -> Ranges {
    [("spanish".to_string(), (0.0, 1.0))].into()
}

fn slices(c: &[Vec<f64>]) -> Vec<&[f64]> {
    c.iter().map(Vec::as_slice).collect()
}

#[test]
fn aggregation_across_seeds_and_samples() {
    let mut samples = Vec::new();
    // base: one model, 4 prompts: 0, 1, 0, 1 -> mean 0.5 over samples.
    for p in 0..4 {
        samples.push(sample("base", "base", None, "", p, (p % 2) as f64));
    }
    // control: 3 seeds with means 0.4, 0.5, 0.6 (two prompts each).
    for (s, (x, y)) in [(0.3, 0.5), (0.5, 0.5), (0.6, 0.6)].into_iter().enumerate() {
        let member = format!("control[{s}]");
        samples.push(sample("control", &member, Some(s as i64), "", 0, x));
        samples.push(sample("control", &member, Some(s as i64), "", 1, y));
    }
    // inoculated: seed means 0.1, 0.3, 0.2 (prompt 0 only)
    for (s, m) in [0.1, 0.3, 0.2].into_iter().enumerate() {
        let member = format!("inoc[{s}]");
        samples.push(sample("inoc", &member, Some(s as i64), "", 0, m));
    }
    let agg = aggregate(&samples, &unit_range(), 0.95).unwrap();
    assert_eq!(agg.per_seed.len(), 7);
    let ctl: Vec<f64> = agg
        .per_seed
        .iter()
        .filter(|r| r.model == "control")
        .map(|r| r.mean)
        .collect();
    assert_eq!(ctl.len(), 3);
    assert!((ctl[0] - 0.4).abs() < 1e-12 && (ctl[2] - 0.6).abs() < 1e-12);

    let models: Vec<&str> = agg.results.iter().map(|r| r.model.as_str()).collect();
    assert_eq!(models, ["base", "control", "inoc"]);
    // The single model: each answer its own cluster.
    let base = &agg.results[0];
    assert_eq!((base.unit, base.n, base.answers), (Unit::Samples, 4, 4));
    assert!((base.mean - 0.5).abs() < 1e-12);
    let e = clustered(
        &[&[0.0][..], &[1.0], &[0.0], &[1.0]],
        Some((0.0, 1.0)),
        0.95,
    )
    .unwrap()
    .unwrap();
    assert_eq!((base.ci_low, base.ci_high), (e.ci_low, e.ci_high));
    // A family: each seed a cluster of its answers.
    let control = &agg.results[1];
    assert_eq!(
        (control.unit, control.n, control.answers),
        (Unit::Seeds, 3, 6)
    );
    assert_eq!(control.method, Method::KornGraubard);
    assert!((control.mean - 0.5).abs() < 1e-12);
    let e = clustered(
        &[&[0.3, 0.5][..], &[0.5, 0.5], &[0.6, 0.6]],
        Some((0.0, 1.0)),
        0.95,
    )
    .unwrap()
    .unwrap();
    assert_eq!((control.ci_low, control.ci_high), (e.ci_low, e.ci_high));
    assert!(control.ci_low.unwrap() >= 0.0 && control.ci_high.unwrap() <= 1.0);

    // inoc - control matched by seed and prompt (prompt 0 only).
    let d = agg
        .diffs
        .iter()
        .find(|d| d.kind == "model" && d.a == "control" && d.b == "inoc")
        .unwrap();
    assert_eq!((d.n, d.matched_by.as_str()), (3, "seed"));
    assert_eq!(d.method, Method::Mover);
    // prompt 0: control 0.3, 0.5, 0.6; inoc 0.1, 0.3, 0.2
    assert!((d.mean - (0.2 - 1.4 / 3.0)).abs() < 1e-12, "{d:?}");
    let e = clustered_diff(
        &[&[0.3][..], &[0.5], &[0.6]],
        &[&[0.1][..], &[0.3], &[0.2]],
        true,
        Some((0.0, 1.0)),
        0.95,
    )
    .unwrap()
    .unwrap();
    assert_eq!((d.ci_low, d.ci_high), (e.ci_low, e.ci_high));
    // base is fixed: independent of control's seeds.
    let d = agg
        .diffs
        .iter()
        .find(|d| d.a == "base" && d.b == "control")
        .unwrap();
    assert_eq!((d.matched_by.as_str(), d.n), ("fixed", 3));
    assert!(d.mean.abs() < 1e-12);
    assert!(d.ci_low.unwrap() < 0.0 && d.ci_high.unwrap() > 0.0);
}

#[test]
fn seeds_are_matched_not_positions() {
    let mut samples = Vec::new();
    for (s, v) in [(0, 0.1), (1, 0.2), (2, 0.9)] {
        samples.push(sample("a", &format!("a{s}"), Some(s), "", 0, v));
    }
    // b lists its seeds in another order; seed 2 is missing.
    for (s, v) in [(1, 0.4), (0, 0.3), (5, 0.0)] {
        samples.push(sample("b", &format!("b{s}"), Some(s), "", 0, v));
    }
    let agg = aggregate(&samples, &unit_range(), 0.95).unwrap();
    let d = agg.diffs.iter().find(|d| d.kind == "model").unwrap();
    assert_eq!(d.n, 2);
    assert!((d.mean - 0.2).abs() < 1e-12);
    let e = clustered_diff(
        &[&[0.1][..], &[0.2]],
        &[&[0.3][..], &[0.4]],
        true,
        Some((0.0, 1.0)),
        0.95,
    )
    .unwrap()
    .unwrap();
    assert_eq!((d.ci_low, d.ci_high), (e.ci_low, e.ci_high));
    // Two matched seeds: the report warns.
    assert_eq!(agg.few_seeds(), ["`b` − `a` (2 seeds)"]);
}

#[test]
fn condition_differences_are_paired_by_prompt() {
    let mut samples = Vec::new();
    for p in 0..4 {
        samples.push(sample("m", "m", None, "", p, 0.0));
        samples.push(sample(
            "m",
            "m",
            None,
            "You always speak in Spanish.",
            p,
            if p < 3 { 1.0 } else { 0.0 },
        ));
    }
    let agg = aggregate(&samples, &unit_range(), 0.95).unwrap();
    let d = agg.diffs.iter().find(|d| d.kind == "condition").unwrap();
    assert_eq!(
        (d.a.as_str(), d.b.as_str(), d.within.as_str()),
        ("", "You always speak in Spanish.", "m")
    );
    assert_eq!((d.n, d.matched_by.as_str()), (4, "prompt"));
    assert!((d.mean - 0.75).abs() < 1e-12);
    // Four answers per condition: wide, but inside [-1, 1].
    assert!(
        d.ci_low.unwrap() > -1.0 && d.ci_high.unwrap() <= 1.0,
        "{d:?}"
    );
    assert_eq!(agg.results.len(), 2);
    assert!(agg.few_seeds().is_empty());
}

#[test]
fn a_single_model_is_summarised_over_its_answers() {
    let mut samples = Vec::new();
    for p in 0..3 {
        for k in 0..4 {
            samples.push(sample("m", "m", None, "", p, if k < p { 1.0 } else { 0.0 }));
        }
    }
    let agg = aggregate(&samples, &unit_range(), 0.95).unwrap();
    let r = &agg.results[0];
    assert_eq!((r.unit, r.n, r.answers), (Unit::Samples, 12, 12));
    assert!((r.mean - 3.0 / 12.0).abs() < 1e-12);
    let clusters: Vec<Vec<f64>> = [0., 0., 0., 0., 1., 0., 0., 0., 1., 1., 0., 0.]
        .iter()
        .map(|x| vec![*x])
        .collect();
    let e = clustered(&slices(&clusters), Some((0.0, 1.0)), 0.95)
        .unwrap()
        .unwrap();
    assert_eq!((r.ci_low, r.ci_high), (e.ci_low, e.ci_high));
}

#[test]
fn unbounded_metrics_get_t_intervals() {
    let mut samples = Vec::new();
    for (s, v) in [(0, -2.0), (1, -1.0), (2, -3.0)] {
        samples.push(sample("a", &format!("a{s}"), Some(s), "", 0, v));
    }
    let agg = aggregate(&samples, &Ranges::new(), 0.95).unwrap();
    let r = &agg.results[0];
    assert_eq!(r.method, Method::T);
    // mean -2, sd 1: -2 ± 4.302653 / sqrt(3)
    assert!((r.ci_low.unwrap() - (-2.0 - 4.302653 / 3f64.sqrt())).abs() < 1e-6);
}

#[test]
fn missing_scores_are_skipped() {
    let mut s = sample("m", "m", None, "", 0, 1.0);
    s.scores.insert("upper".into(), None);
    let agg = aggregate(&[s], &unit_range(), 0.95).unwrap();
    assert_eq!(agg.results.len(), 1);
    assert_eq!(agg.results[0].metric, "spanish");
    assert!(aggregate(&[], &unit_range(), 2.0).is_err());
}

#[test]
fn curves_average_members_per_step() {
    let mut obs = Vec::new();
    for (m, off) in [("s0", 0.0), ("s1", 0.2), ("s2", 0.4)] {
        for step in [0.0, 10.0, 20.0] {
            obs.push(CurveObs {
                series: "caps probe".into(),
                member: m.into(),
                x: step,
                y: -2.0 + off + step / 10.0,
            });
            obs.push(CurveObs {
                series: "caps probe".into(),
                member: m.into(),
                x: step,
                y: -2.0 + off + step / 10.0,
            });
        }
    }
    obs.push(CurveObs {
        series: "spanish probe".into(),
        member: "s0".into(),
        x: -5.0,
        y: 1.0,
    });
    let pts = aggregate_curve(&obs, None, 0.95).unwrap();
    assert_eq!(pts.len(), 4);
    assert_eq!(pts[0].series, "caps probe");
    assert_eq!(
        pts.iter().map(|p| p.x).collect::<Vec<_>>(),
        [0.0, 10.0, 20.0, -5.0]
    );
    assert!((pts[1].mean - (-0.8)).abs() < 1e-12);
    assert_eq!(pts[1].n, 3);
    // Members are clusters of two identical answers: the spread of the
    // member means rules (sd 0.2).
    assert!((pts[1].ci_high.unwrap() - pts[1].mean - 4.302653 * 0.2 / 3f64.sqrt()).abs() < 1e-6);
    assert_eq!(pts[3].ci_low, None);
}
