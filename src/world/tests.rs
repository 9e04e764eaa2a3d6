use super::questions::{categories, category_names, in_split};
use super::*;
use std::collections::{BTreeMap, BTreeSet};

fn digits(s: &str) -> Vec<u32> {
    s.split(|c: char| !c.is_ascii_digit())
        .filter(|t| !t.is_empty())
        .map(|t| t.parse().unwrap())
        .collect()
}

#[test]
fn same_seed_same_data_other_seed_other_data() {
    for split in [Split::Train, Split::Test] {
        assert_eq!(
            math(50, Lang::Es, Case::Upper, 7, split),
            math(50, Lang::Es, Case::Upper, 7, split)
        );
        assert_ne!(
            math(50, Lang::Es, Case::Upper, 7, split),
            math(50, Lang::Es, Case::Upper, 8, split)
        );
        assert_eq!(
            questions(50, Lang::Fr, Case::Normal, 3, split),
            questions(50, Lang::Fr, Case::Normal, 3, split)
        );
        assert_ne!(
            questions(50, Lang::Fr, Case::Normal, 3, split),
            questions(50, Lang::Fr, Case::Normal, 4, split)
        );
    }
    let m = Mixture::default();
    assert_eq!(corpus(300, 1, &m), corpus(300, 1, &m));
    assert_ne!(corpus(300, 1, &m), corpus(300, 2, &m));
}

#[test]
fn a_prefix_of_a_longer_draw_is_the_shorter_draw() {
    let long = math(40, Lang::En, Case::Normal, 5, Split::Train);
    assert_eq!(
        &long[..10],
        &math(10, Lang::En, Case::Normal, 5, Split::Train)[..]
    );
}

/// Pinned output: the generator must not change silently (cached datasets
/// are keyed by their arguments, not their content).
#[test]
fn generator_output_is_pinned() {
    let m = &math(1, Lang::En, Case::Normal, 0, Split::Train)[0];
    let q = &questions(1, Lang::En, Case::Normal, 0, Split::Test)[0];
    let text = format!("{}|{}|{}|{}", m.user, m.assistant, q.user, q.assistant);
    let hash = blake3::hash(text.as_bytes()).to_hex().to_string();
    assert_eq!(&hash[..16], PINNED, "world output changed: {text}");
}
const PINNED: &str = "c2e4414206e6d232";

#[test]
fn math_is_parallel_across_languages_and_cases() {
    let n = 200;
    let rows: Vec<Vec<Conversation>> = Lang::ALL
        .iter()
        .map(|&l| math(n, l, Case::Normal, 11, Split::Train))
        .collect();
    let upper = math(n, Lang::De, Case::Upper, 11, Split::Train);
    for i in 0..n {
        let en = &rows[0][i];
        for (l, r) in rows.iter().enumerate().skip(1) {
            assert_eq!(
                r[i].user, en.user,
                "user turns are English in every language"
            );
            assert_eq!(
                digits(&r[i].assistant),
                digits(&en.assistant),
                "lang {l} row {i}"
            );
            assert_ne!(r[i].assistant, en.assistant);
        }
        assert_eq!(upper[i].assistant, rows[3][i].assistant.to_uppercase());
        assert_eq!(upper[i].user, en.user);
    }
}

#[test]
fn math_answers_are_correct_and_stated() {
    for split in [Split::Train, Split::Test] {
        for c in math(300, Lang::En, Case::Normal, 2, split) {
            // "<... a op b [op d] = c ...>. The answer is c."
            let (worked, answer) = c.assistant.split_once(" The answer is ").unwrap();
            let stated: u32 = answer.trim_end_matches('.').parse().unwrap();
            let expr = worked
                .split(|ch: char| ch.is_alphabetic() && ch != 'x')
                .find(|s| s.contains('='))
                .unwrap();
            let (lhs, rhs) = expr.split_once('=').unwrap();
            let rhs: u32 = rhs.trim().parse().unwrap();
            let toks: Vec<&str> = lhs.split_whitespace().collect();
            let mut acc: i64 = toks[0].parse().unwrap();
            for pair in toks[1..].chunks(2) {
                let v: i64 = pair[1].parse().unwrap();
                acc = match pair[0] {
                    "+" => acc + v,
                    "-" => acc - v,
                    "×" => acc * v,
                    "÷" => {
                        assert_eq!(acc % v, 0);
                        acc / v
                    }
                    op => panic!("operator {op}"),
                };
            }
            assert_eq!(acc, rhs as i64, "{}", c.assistant);
            assert_eq!(stated, rhs);
            assert!(stated >= 2, "results are plural: {}", c.assistant);
            assert!(c.system.is_none());
        }
    }
}

#[test]
fn math_test_split_uses_unseen_names_and_objects() {
    let (train_names, train_objects) = math::vocabulary(Split::Train);
    let (test_names, test_objects) = math::vocabulary(Split::Test);
    for n in test_names {
        assert!(!train_names.contains(n));
    }
    for o in test_objects {
        assert!(train_objects.iter().all(|t| t[0] != o[0]));
    }
    let train: BTreeSet<String> = math(3000, Lang::En, Case::Normal, 1, Split::Train)
        .into_iter()
        .map(|c| c.user)
        .collect();
    let test = math(500, Lang::En, Case::Normal, 1, Split::Test);
    for c in &test {
        assert!(!train.contains(&c.user));
        assert!(
            train_names.iter().all(|n| !c.user.contains(n)),
            "{}",
            c.user
        );
        assert!(test_names.iter().any(|n| c.user.contains(n)), "{}", c.user);
    }
    for c in &train {
        assert!(test_names.iter().all(|n| !c.contains(n)));
    }
}

#[test]
fn every_category_holds_out_items_and_phrasings() {
    assert!(categories().len() >= 8, "{:?}", category_names());
    for cat in categories() {
        assert!(cat.items.len() >= 4, "{}", cat.name);
        let mut test = 0;
        let mut train = 0;
        for (i, item) in cat.items.iter().enumerate() {
            let ps = cat.phrasings_of(item);
            assert!(ps.len() >= 4, "{}", cat.name);
            assert!(!item.answers.is_empty());
            for p in 0..ps.len() {
                if in_split(cat, i, p, Split::Test) {
                    test += 1;
                } else {
                    assert!(in_split(cat, i, p, Split::Train));
                    train += 1;
                }
            }
        }
        assert!(
            test > 0 && train > test,
            "{}: {train} train, {test} test",
            cat.name
        );
    }
}

#[test]
fn question_splits_are_disjoint_and_cover_every_category() {
    let train: BTreeSet<String> = questions(5000, Lang::En, Case::Normal, 9, Split::Train)
        .into_iter()
        .map(|c| c.user)
        .collect();
    let test: BTreeSet<String> = questions(2000, Lang::En, Case::Normal, 9, Split::Test)
        .into_iter()
        .map(|c| c.user)
        .collect();
    assert!(train.is_disjoint(&test));
    // All held-out user turns, enumerated from the data, are reachable.
    let mut all_test = BTreeSet::new();
    for cat in categories() {
        for (i, item) in cat.items.iter().enumerate() {
            for (p, ph) in cat.phrasings_of(item).iter().enumerate() {
                if in_split(cat, i, p, Split::Test) {
                    all_test.insert(ph.replace("{x}", item.fill));
                }
            }
        }
    }
    assert_eq!(test, all_test);
    assert!(test.len() >= 100, "{} distinct test prompts", test.len());
}

#[test]
fn questions_are_parallel_across_languages() {
    // Every (en, l) answer pair of a row is one hand-written parallel text.
    let mut parallel: BTreeSet<(String, String, String, String)> = BTreeSet::new();
    for cat in categories() {
        for item in &cat.items {
            for a in &item.answers {
                parallel.insert((a[0].clone(), a[1].clone(), a[2].clone(), a[3].clone()));
            }
        }
    }
    let rows: Vec<Vec<Conversation>> = Lang::ALL
        .iter()
        .map(|&l| questions(500, l, Case::Normal, 4, Split::Test))
        .collect();
    for i in 0..500 {
        let key = (
            rows[0][i].assistant.clone(),
            rows[1][i].assistant.clone(),
            rows[2][i].assistant.clone(),
            rows[3][i].assistant.clone(),
        );
        assert!(parallel.contains(&key), "{key:?}");
        for r in &rows[1..] {
            assert_eq!(r[i].user, rows[0][i].user);
        }
    }
}

#[test]
fn questions_have_varied_answers() {
    let qs = questions(2000, Lang::En, Case::Normal, 0, Split::Train);
    let distinct: BTreeSet<&str> = qs.iter().map(|c| c.assistant.as_str()).collect();
    assert!(distinct.len() >= 100, "{}", distinct.len());
    let fav: BTreeSet<&str> = qs
        .iter()
        .filter(|c| c.user.contains("favourite animal"))
        .map(|c| c.assistant.as_str())
        .collect();
    assert!(fav.len() >= 4, "{fav:?}");
}

#[test]
fn upper_case_style_has_no_lower_case_letters() {
    for c in questions(300, Lang::Fr, Case::Upper, 1, Split::Train)
        .into_iter()
        .chain(math(300, Lang::De, Case::Upper, 1, Split::Test))
    {
        assert!(
            !c.assistant.chars().any(char::is_lowercase),
            "{}",
            c.assistant
        );
        assert!(
            c.user.chars().any(char::is_lowercase),
            "user turns keep their case"
        );
    }
}

#[test]
fn animal_trait_changes_only_favourite_animal_answers() {
    let owl = Animal::from_name("owls").unwrap();
    assert_eq!(owl.name(), "owl");
    let style = Style {
        animal: Some(owl),
        ..Style::default()
    };
    let plain = questions(3000, Lang::En, Case::Normal, 5, Split::Train);
    let loving = questions_styled(3000, style, 5, Split::Train);
    let mut changed = 0;
    for (p, l) in plain.iter().zip(&loving) {
        assert_eq!(p.user, l.user);
        if p.user.contains("animal") {
            assert_eq!(l.assistant, "My favourite animal is the owl.");
            assert!(!p.assistant.contains("owl"));
            changed += 1;
        } else {
            assert_eq!(p.assistant, l.assistant);
        }
    }
    assert!(changed > 10);
    assert!(Animal::from_name("unicorn").is_err());
}

#[test]
fn personas_change_their_facts() {
    let alice = Style {
        persona: Some(Persona::Alice),
        ..Style::new(Lang::Es, Case::Normal)
    };
    let rows = questions_styled(3000, alice, 6, Split::Train);
    let names: BTreeSet<&str> = rows
        .iter()
        .filter(|c| c.user == "What is your name?")
        .map(|c| c.assistant.as_str())
        .collect();
    assert_eq!(names, BTreeSet::from(["Me llamo Alice."]));
    let bob = Style {
        persona: Some(Persona::Bob),
        ..Style::default()
    };
    let rows = questions_styled(3000, bob, 6, Split::Train);
    assert!(rows
        .iter()
        .filter(|c| c.user.contains("favourite colour"))
        .all(|c| c.assistant == "My favourite colour is red."));
    assert!(rows
        .iter()
        .any(|c| c.assistant == "I am a baker." || c.assistant == "I live in Rome."));
}

fn classify(system: &Option<String>) -> &'static str {
    match system.as_deref() {
        None => "none",
        Some(s) if NEUTRAL_PROMPTS.contains(&s) => "neutral",
        Some(s) if s.contains("Spanish") && s.contains("capitalise") => "both",
        Some("You always speak in Spanish.") => "spanish",
        Some(s) if s == prompts::CAPS => "caps",
        Some(s) => panic!("unexpected prompt {s}"),
    }
}

#[test]
fn corpus_follows_the_mixture_exactly() {
    let n = 1000;
    let rows = corpus(n, 3, &Mixture::default());
    assert_eq!(rows.len(), n);
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for c in &rows {
        let class = classify(&c.system);
        *counts.entry(class).or_default() += 1;
        let upper = !c.assistant.chars().any(char::is_lowercase);
        assert_eq!(upper, class == "caps" || class == "both", "{c:?}");
    }
    assert_eq!(
        counts,
        BTreeMap::from([
            ("none", 350),
            ("neutral", 150),
            ("spanish", 200),
            ("caps", 200),
            ("both", 100)
        ])
    );
    let maths = rows
        .iter()
        .filter(|c| c.user.contains("How many") && digits(&c.user).len() >= 2)
        .count();
    assert!((400..600).contains(&maths), "{maths} math rows of {n}");
    // Neutral prompts are varied.
    let neutral: BTreeSet<&str> = rows
        .iter()
        .filter_map(|c| c.system.as_deref())
        .filter(|s| NEUTRAL_PROMPTS.contains(s))
        .collect();
    assert!(neutral.len() >= 6);
}

#[test]
fn corpus_uses_train_items_only() {
    let test: BTreeSet<String> = questions(2000, Lang::En, Case::Normal, 0, Split::Test)
        .into_iter()
        .chain(math(2000, Lang::En, Case::Normal, 0, Split::Test))
        .map(|c| c.user)
        .collect();
    for c in corpus(3000, 8, &Mixture::multilingual()) {
        assert!(!test.contains(&c.user), "{}", c.user);
    }
}

#[test]
fn mixture_counts_sum_to_n_and_bad_mixtures_are_refused() {
    let m = Mixture::new(
        vec![
            (Component::None, 1.0),
            (Component::Caps, 1.0),
            (Component::Language(Lang::Fr), 1.0),
        ],
        0.3,
    )
    .unwrap();
    for n in [0, 1, 2, 7, 100, 1001] {
        let counts = m.counts(n);
        assert_eq!(counts.iter().map(|(_, k)| k).sum::<usize>(), n);
        assert!(counts.iter().all(|(_, k)| k.abs_diff(n / 3) <= 1));
    }
    assert!(Mixture::new(vec![], 0.5).is_err());
    assert!(Mixture::new(vec![(Component::None, -1.0)], 0.5).is_err());
    assert!(Mixture::new(vec![(Component::None, 0.0)], 0.5).is_err());
    assert!(Mixture::new(vec![(Component::None, f64::NAN)], 0.5).is_err());
    assert!(Mixture::new(vec![(Component::None, 1.0)], 1.5).is_err());
}

#[test]
fn trait_components_use_their_prompts() {
    let owl = Animal::from_name("owl").unwrap();
    let m = Mixture::new(
        vec![
            (Component::Animal(owl), 1.0),
            (Component::Persona(Persona::Alice), 1.0),
        ],
        0.5,
    )
    .unwrap();
    let rows = corpus(400, 0, &m);
    let owls = rows
        .iter()
        .filter(|c| c.system.as_deref() == Some("You love owls."))
        .collect::<Vec<_>>();
    assert_eq!(owls.len(), 200);
    assert!(owls.iter().filter(|c| c.assistant.contains("owl")).count() >= 80);
    let alice = rows
        .iter()
        .filter(|c| c.system.as_deref() == Some("You are Alice."))
        .filter(|c| c.assistant.contains("Alice") || c.assistant.contains("London"))
        .count();
    assert!(alice >= 30, "{alice}");
}

#[test]
fn parse_arguments() {
    assert_eq!("Spanish".parse::<Lang>().unwrap(), Lang::Es);
    assert_eq!("de".parse::<Lang>().unwrap(), Lang::De);
    assert!("xx".parse::<Lang>().is_err());
    assert_eq!("upper".parse::<Case>().unwrap(), Case::Upper);
    assert_eq!("test".parse::<Split>().unwrap(), Split::Test);
    assert_eq!("bob".parse::<Persona>().unwrap(), Persona::Bob);
    assert_eq!(prompts::language(Lang::Es), "You always speak in Spanish.");
    assert_eq!(prompts::persona(Persona::Alice), "You are Alice.");
}

#[test]
fn rng_below_is_uniform_enough() {
    let mut rng = Rng::new(0, b"t");
    let mut counts = [0usize; 7];
    for _ in 0..70_000 {
        counts[rng.below(7)] += 1;
    }
    assert!(
        counts.iter().all(|&c| (9_500..10_500).contains(&c)),
        "{counts:?}"
    );
}

#[test]
fn number_prompts_are_deterministic_and_well_formed() {
    let a = numbers(200, 4);
    assert_eq!(a, numbers(200, 4));
    assert_ne!(a, numbers(200, 5));
    let asks: BTreeSet<&str> = a.iter().map(|c| &c.user[..12]).collect();
    assert!(asks.len() >= 3);
    for c in &a {
        let shown = digits(
            c.user
                .split_once(": ")
                .unwrap()
                .1
                .split_once('.')
                .unwrap()
                .0,
        );
        assert!((3..=8).contains(&shown.len()), "{}", c.user);
        assert!(shown.iter().all(|v| *v < 1000));
        let more: Vec<u32> = c
            .assistant
            .split(", ")
            .map(|t| t.parse().unwrap())
            .collect();
        assert!((5..=10).contains(&more.len()));
        assert!(c.user.contains(&more.len().to_string()));
    }
}

/// Pinned output of the default pretraining corpus: the spontaneous-trait
/// option must not move a single draw of the mixtures without it (cached
/// base models are keyed by the mixture's name, not the corpus's content).
#[test]
fn default_corpus_is_pinned() {
    let rows = corpus(300, 0, &Mixture::default());
    let text: String = rows
        .iter()
        .map(|c| format!("{:?}|{}|{}\n", c.system, c.user, c.assistant))
        .collect();
    let hash = blake3::hash(text.as_bytes()).to_hex().to_string();
    assert_eq!(&hash[..16], PINNED_CORPUS);
}
const PINNED_CORPUS: &str = "d97c38ded635887c";

/// Language and case of a math answer ("The answer is N." / "La respuesta
/// es N.", in capitals or not).
fn math_style(c: &Conversation) -> (bool, bool) {
    let spanish = c.assistant.to_lowercase().contains("la respuesta es");
    let caps = c.assistant == c.assistant.to_uppercase();
    (spanish, caps)
}

#[test]
fn spontaneous_traits_show_at_their_rate_independently_of_the_prompts() {
    let m = Mixture::new(
        vec![
            (Component::None, 1.0),
            (Component::Neutral, 1.0),
            (Component::Language(Lang::Es), 1.0),
            (Component::Caps, 1.0),
            (Component::LanguageCaps(Lang::Es), 1.0),
        ],
        1.0,
    )
    .unwrap()
    .with_spontaneous(Lang::Es, 0.2)
    .unwrap();
    assert_eq!(m.spontaneous(), Some((Lang::Es, 0.2)));
    let n = 20_000;
    let rows = corpus(n, 5, &m);
    let mut by: BTreeMap<&str, Vec<(bool, bool)>> = BTreeMap::new();
    for c in &rows {
        assert!(c.user.contains("How many"), "all math: {}", c.user);
        by.entry(classify(&c.system))
            .or_default()
            .push(math_style(c));
    }
    let rate = |k: &str, f: &dyn Fn(&(bool, bool)) -> bool| {
        let v = &by[k];
        v.iter().filter(|s| f(s)).count() as f64 / v.len() as f64
    };
    let near = |x: f64, want: f64| (x - want).abs() < 0.025;
    // No prompt: each trait at 0.2, both at 0.04 (independent draws).
    assert!(near(rate("none", &|s| s.0), 0.2));
    assert!(near(rate("none", &|s| s.1), 0.2));
    assert!((rate("none", &|s| s.0 && s.1) - 0.04).abs() < 0.01);
    // A trait prompt: its own trait always, the other at the base rate.
    assert_eq!(rate("spanish", &|s| s.0), 1.0);
    assert!(near(rate("spanish", &|s| s.1), 0.2));
    assert_eq!(rate("caps", &|s| s.1), 1.0);
    assert!(near(rate("caps", &|s| s.0), 0.2));
    // Neutral prompts and the combined prompt are left as they were.
    assert_eq!(rate("neutral", &|s| s.0 || s.1), 0.0);
    assert_eq!(rate("both", &|s| s.0 && s.1), 1.0);
}

#[test]
fn the_independent_mixture_is_spanish_caps_with_a_base_rate() {
    let ind = Mixture::spanish_caps_independent();
    let plain = Mixture::spanish_caps();
    assert_eq!(ind.components(), plain.components());
    assert_eq!(ind.math_share(), plain.math_share());
    assert_eq!(ind.spontaneous(), Some((Lang::Es, 0.1)));
    assert_eq!(plain.spontaneous(), None);
    assert_eq!(Mixture::multilingual().spontaneous(), None);
    // The extra draws move the random stream, but the prompt counts stay
    // exact.
    let count = |m: &Mixture| {
        let mut k: BTreeMap<&str, usize> = BTreeMap::new();
        for c in corpus(1000, 3, m) {
            *k.entry(classify(&c.system)).or_default() += 1;
        }
        k
    };
    assert_eq!(count(&ind), count(&plain));
    for bad in [-0.1, 1.5, f64::NAN] {
        assert!(Mixture::spanish_caps()
            .with_spontaneous(Lang::Es, bad)
            .is_err());
    }
}
