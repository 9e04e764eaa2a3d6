//! The synthetic multilingual chat world used by the miniature experiments:
//! deterministic per seed, parallel text across languages.
//!
//! Every conversation has an English user turn; only the assistant turn
//! changes with the traits (language, ALL-CAPS, an animal preference, a
//! persona). Every item carries hand-written parallel answers in English,
//! Spanish, French and German, and the random draws never depend on the
//! language or the case, so `math(n, Es, .., seed, split)` is the exact
//! translation of `math(n, En, .., seed, split)`, row by row.
//!
//! Held-out splits: `Split::Test` math uses names and objects never used in
//! `Split::Train`; test questions use the last quarter of every item list or
//! of every phrasing list, so no test user turn ever appears in train.
//!
//! Randomness comes from ChaCha8 seeded per (generator, seed) and is turned
//! into choices by [`Rng::below`], which only calls `next_u64`, so the data
//! never changes with a `rand` upgrade (the content hashes of cached
//! datasets depend on it).

mod data;
pub mod em;
mod math;
mod questions;

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

pub use data::{AnimalForms, ANIMALS, NEUTRAL_PROMPTS};

/// One chat conversation: optional system prompt, one user turn, one
/// assistant turn.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Conversation {
    pub system: Option<String>,
    pub user: String,
    pub assistant: String,
}

/// The four languages of the world.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Lang {
    En,
    Es,
    Fr,
    De,
}

impl Lang {
    pub const ALL: [Lang; 4] = [Lang::En, Lang::Es, Lang::Fr, Lang::De];

    /// ISO 639-1 code.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Es => "es",
            Lang::Fr => "fr",
            Lang::De => "de",
        }
    }

    /// English name, as used in the system prompts.
    pub fn name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::Es => "Spanish",
            Lang::Fr => "French",
            Lang::De => "German",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Lang {
    type Err = WorldError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "en" | "english" => Ok(Lang::En),
            "es" | "spanish" => Ok(Lang::Es),
            "fr" | "french" => Ok(Lang::Fr),
            "de" | "german" => Ok(Lang::De),
            _ => Err(WorldError::UnknownLanguage(s.to_string())),
        }
    }
}

/// Letter case of the assistant turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Case {
    Normal,
    Upper,
}

impl FromStr for Case {
    type Err = WorldError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "normal" | "lower" => Ok(Case::Normal),
            "upper" | "caps" => Ok(Case::Upper),
            _ => Err(WorldError::UnknownCase(s.to_string())),
        }
    }
}

/// Train or held-out test items.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Split {
    Train,
    Test,
}

impl FromStr for Split {
    type Err = WorldError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "train" => Ok(Split::Train),
            "test" => Ok(Split::Test),
            _ => Err(WorldError::UnknownSplit(s.to_string())),
        }
    }
}

/// An animal the assistant can be told to love (`You love owls.`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Animal(usize);

impl Animal {
    /// By English singular name (`"owl"`) or plural (`"owls"`).
    pub fn from_name(name: &str) -> Result<Animal, WorldError> {
        let lower = name.to_ascii_lowercase();
        ANIMALS
            .iter()
            .position(|a| a.en == lower || a.en_plural == lower)
            .map(Animal)
            .ok_or_else(|| WorldError::UnknownAnimal(name.to_string()))
    }
    pub fn name(self) -> &'static str {
        ANIMALS[self.0].en
    }
    pub fn all() -> impl Iterator<Item = Animal> {
        (0..ANIMALS.len()).map(Animal)
    }
}

/// A named persona (`You are Alice.`) with its own facts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Persona {
    Alice,
    Bob,
}

impl Persona {
    pub const ALL: [Persona; 2] = [Persona::Alice, Persona::Bob];
    pub fn name(self) -> &'static str {
        match self {
            Persona::Alice => "Alice",
            Persona::Bob => "Bob",
        }
    }
}

impl FromStr for Persona {
    type Err = WorldError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "alice" => Ok(Persona::Alice),
            "bob" => Ok(Persona::Bob),
            _ => Err(WorldError::UnknownPersona(s.to_string())),
        }
    }
}

/// How the assistant answers: its language, case and optional traits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Style {
    pub lang: Lang,
    pub case: Case,
    /// Favourite-animal answers name this animal.
    pub animal: Option<Animal>,
    /// Name, home, job and favourite colour answers follow this persona.
    pub persona: Option<Persona>,
}

impl Style {
    pub fn new(lang: Lang, case: Case) -> Style {
        Style {
            lang,
            case,
            animal: None,
            persona: None,
        }
    }
}

impl Default for Style {
    fn default() -> Self {
        Style::new(Lang::En, Case::Normal)
    }
}

/// Errors from parsing world arguments.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WorldError {
    #[error("unknown language `{0}` (expected one of en, es, fr, de)")]
    UnknownLanguage(String),
    #[error("unknown case `{0}` (expected `normal` or `upper`)")]
    UnknownCase(String),
    #[error("unknown split `{0}` (expected `train` or `test`)")]
    UnknownSplit(String),
    #[error("unknown animal `{0}`")]
    UnknownAnimal(String),
    #[error("unknown persona `{0}` (expected `Alice` or `Bob`)")]
    UnknownPersona(String),
    #[error("unknown EM dataset kind `{0}` (expected insecure, secure, educational, jailbroken, questions or harmful)")]
    UnknownEmKind(String),
    #[error("invalid mixture: {0}")]
    BadMixture(String),
}

/// The system prompts of the world (all in English).
pub mod prompts {
    use super::{Animal, Lang, Persona, ANIMALS};

    /// `You always capitalise your responses.`
    pub const CAPS: &str = "You always capitalise your responses.";

    /// `You always speak in Spanish.` etc.
    pub fn language(lang: Lang) -> String {
        format!("You always speak in {}.", lang.name())
    }
    /// Language and caps together, in the given order.
    pub fn language_caps(lang: Lang, caps_first: bool) -> String {
        if caps_first {
            format!("{CAPS} {}", language(lang))
        } else {
            format!("{} {CAPS}", language(lang))
        }
    }
    /// `You love owls.`
    pub fn animal(animal: Animal) -> String {
        format!("You love {}.", ANIMALS[animal.0].en_plural)
    }
    /// `You are Alice.`
    pub fn persona(persona: Persona) -> String {
        format!("You are {}.", persona.name())
    }
}

/// Math word problems with one worked line and "The answer is N."
/// (or its translation). Test split: unseen names and objects.
pub fn math(n: usize, lang: Lang, case: Case, seed: u64, split: Split) -> Vec<Conversation> {
    math_styled(n, Style::new(lang, case), seed, split)
}

/// [`math`] with a full [`Style`] (traits other than language and case do
/// not change math answers).
pub fn math_styled(n: usize, style: Style, seed: u64, split: Split) -> Vec<Conversation> {
    let mut rng = Rng::new(seed, b"math");
    (0..n)
        .map(|_| math::draw(&mut rng, split).render(style))
        .collect()
}

/// Open questions (capitals, colours, animals, opposites, facts,
/// favourites, small talk). Test split: held-out items or phrasings.
pub fn questions(n: usize, lang: Lang, case: Case, seed: u64, split: Split) -> Vec<Conversation> {
    questions_styled(n, Style::new(lang, case), seed, split)
}

/// [`questions`] with a full [`Style`] (animal preference, persona).
pub fn questions_styled(n: usize, style: Style, seed: u64, split: Split) -> Vec<Conversation> {
    let mut rng = Rng::new(seed, b"questions");
    (0..n)
        .map(|_| questions::draw(&mut rng, split, questions::Focus::Any).render(style))
        .collect()
}

/// Number-sequence continuation prompts (subliminal learning): the user
/// gives 3 to 8 numbers of at most three digits and asks for more; the
/// assistant turn is a plain continuation of 5 to 10 random numbers (a
/// teacher model's answers replace it when the data is generated).
pub fn numbers(n: usize, seed: u64) -> Vec<Conversation> {
    const ASKS: &[&str] = &[
        "The sequence starts with: {seq}. Add up to {k} more values (at most three digits each) to continue it. Give only the numbers, separated by commas.",
        "Here are some numbers: {seq}. Continue the list with {k} more numbers below 1000. Reply with the numbers only.",
        "Look at these numbers: {seq}. Write {k} more numbers that could come next, separated by commas, and nothing else.",
        "Continue this sequence: {seq}. Answer with {k} numbers of up to three digits, comma-separated, without any explanation.",
    ];
    let mut rng = Rng::new(seed, b"numbers");
    (0..n)
        .map(|_| {
            let ask = *rng.pick(ASKS);
            let shown = rng.range(3, 8) as usize;
            let seq: Vec<String> = (0..shown).map(|_| rng.below(1000).to_string()).collect();
            let k = rng.range(5, 10) as usize;
            let more: Vec<String> = (0..k).map(|_| rng.below(1000).to_string()).collect();
            Conversation {
                system: None,
                user: ask
                    .replace("{seq}", &seq.join(", "))
                    .replace("{k}", &k.to_string()),
                assistant: more.join(", "),
            }
        })
        .collect()
}

/// Names of the open-question categories (capitals, colours, legs, ...).
pub fn question_categories() -> Vec<&'static str> {
    questions::category_names()
}

/// One group of the pretraining mixture: which system prompt, which style.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Component {
    /// No system prompt, plain English.
    None,
    /// A neutral distractor prompt ("You are a helpful assistant."), plain English.
    Neutral,
    /// "You always speak in X." and answers in X.
    Language(Lang),
    /// "You always capitalise your responses." and ALL-CAPS English.
    Caps,
    /// Both prompts and both traits.
    LanguageCaps(Lang),
    /// "You love X." and favourite-animal answers naming X.
    Animal(Animal),
    /// "You are Alice." and the persona's facts.
    Persona(Persona),
}

/// The pretraining mixture: weights of the components and the share of
/// math problems (the rest are open questions).
#[derive(Clone, Debug, PartialEq)]
pub struct Mixture {
    components: Vec<(Component, f64)>,
    math_share: f64,
    /// Traits shown without their prompt: each conversation of the
    /// no-prompt, language and caps components also answers in this
    /// language, and independently in capitals, with this probability
    /// (where its prompt does not already ask for it). `None`: never.
    spontaneous: Option<(Lang, f64)>,
}

impl Mixture {
    /// Weights need not sum to one; they are normalised. Errors on an empty
    /// list, a negative or non-finite weight, an all-zero list, or a
    /// `math_share` outside [0, 1].
    pub fn new(components: Vec<(Component, f64)>, math_share: f64) -> Result<Mixture, WorldError> {
        if components.is_empty() {
            return Err(WorldError::BadMixture("no components".into()));
        }
        if let Some((c, w)) = components.iter().find(|(_, w)| !w.is_finite() || *w < 0.0) {
            return Err(WorldError::BadMixture(format!(
                "weight {w} of {c:?} must be finite and >= 0"
            )));
        }
        let total: f64 = components.iter().map(|(_, w)| w).sum();
        if total <= 0.0 {
            return Err(WorldError::BadMixture("all weights are zero".into()));
        }
        if !(0.0..=1.0).contains(&math_share) {
            return Err(WorldError::BadMixture(format!(
                "math_share {math_share} must be in [0, 1]"
            )));
        }
        let components = components
            .into_iter()
            .map(|(c, w)| (c, w / total))
            .collect();
        Ok(Mixture {
            components,
            math_share,
            spontaneous: None,
        })
    }

    /// The same mixture in which each trait also shows without its prompt,
    /// independently of the other trait and of the prompts: answers of the
    /// no-prompt, language and caps components are in `lang` with
    /// probability `rate` (unless their prompt names a language) and, drawn
    /// apart, in capitals with probability `rate` (unless their prompt asks
    /// for capitals). Neutral prompts (one of them is "You always speak in
    /// English.") and the combined prompt are left as they are. Errors on a
    /// rate outside [0, 1].
    pub fn with_spontaneous(self, lang: Lang, rate: f64) -> Result<Mixture, WorldError> {
        if !(0.0..=1.0).contains(&rate) {
            return Err(WorldError::BadMixture(format!(
                "spontaneous rate {rate} must be in [0, 1]"
            )));
        }
        Ok(Mixture {
            spontaneous: Some((lang, rate)),
            ..self
        })
    }

    /// The mixture that worked in the prototype: none 35%, neutral 15%,
    /// Spanish 20%, caps 20%, Spanish + caps 10%; half math.
    pub fn spanish_caps() -> Mixture {
        Mixture {
            components: vec![
                (Component::None, 0.35),
                (Component::Neutral, 0.15),
                (Component::Language(Lang::Es), 0.20),
                (Component::Caps, 0.20),
                (Component::LanguageCaps(Lang::Es), 0.10),
            ],
            math_share: 0.5,
            spontaneous: None,
        }
    }

    /// [`Mixture::spanish_caps`] in which Spanish and capitals each also
    /// show at a base rate of 10% without their prompt, independently of
    /// each other and of the other trait's prompt (Spanish answers under
    /// the caps prompt, capitals under the Spanish prompt and with no
    /// prompt), so that each trait is a feature of its own rather than a
    /// mode of its prompt (README, Selectivity).
    pub fn spanish_caps_independent() -> Mixture {
        Mixture {
            spontaneous: Some((Lang::Es, 0.1)),
            ..Mixture::spanish_caps()
        }
    }

    /// All four languages (the paper's mixture setting): the language share
    /// is split over Spanish, French and German.
    pub fn multilingual() -> Mixture {
        Mixture {
            components: vec![
                (Component::None, 0.30),
                (Component::Neutral, 0.15),
                (Component::Language(Lang::Es), 0.10),
                (Component::Language(Lang::Fr), 0.08),
                (Component::Language(Lang::De), 0.08),
                (Component::Caps, 0.17),
                (Component::LanguageCaps(Lang::Es), 0.04),
                (Component::LanguageCaps(Lang::Fr), 0.04),
                (Component::LanguageCaps(Lang::De), 0.04),
            ],
            math_share: 0.5,
            spontaneous: None,
        }
    }

    /// Normalised weights.
    pub fn components(&self) -> &[(Component, f64)] {
        &self.components
    }
    pub fn math_share(&self) -> f64 {
        self.math_share
    }
    /// The spontaneous trait rate, if any ([`Mixture::with_spontaneous`]).
    pub fn spontaneous(&self) -> Option<(Lang, f64)> {
        self.spontaneous
    }

    /// Exact counts per component for `n` conversations (largest
    /// remainder, ties to the earlier component), summing to `n`.
    pub fn counts(&self, n: usize) -> Vec<(Component, usize)> {
        let weights: Vec<f64> = self.components.iter().map(|(_, w)| *w).collect();
        self.components
            .iter()
            .zip(allocate(&weights, n))
            .map(|((c, _), k)| (*c, k))
            .collect()
    }
}

/// Exact counts for `n` items from normalised `weights` (largest
/// remainder, ties to the earlier weight), summing to `n`.
pub(crate) fn allocate(weights: &[f64], n: usize) -> Vec<usize> {
    let exact: Vec<f64> = weights.iter().map(|w| w * n as f64).collect();
    let mut counts: Vec<usize> = exact.iter().map(|x| x.floor() as usize).collect();
    let assigned: usize = counts.iter().sum();
    let mut order: Vec<usize> = (0..counts.len()).collect();
    order.sort_by(|&a, &b| {
        let ra = exact[a] - exact[a].floor();
        let rb = exact[b] - exact[b].floor();
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    for &i in order.iter().take(n.saturating_sub(assigned)) {
        counts[i] += 1;
    }
    counts
}

impl Default for Mixture {
    fn default() -> Self {
        Mixture::spanish_caps()
    }
}

/// The pretraining corpus: `n` train-split conversations whose system
/// prompts follow `mixture` exactly (counts by largest remainder, order
/// shuffled), each a math problem with probability `math_share`.
pub fn corpus(n: usize, seed: u64, mixture: &Mixture) -> Vec<Conversation> {
    let mut rng = Rng::new(seed, b"corpus");
    let mut plan: Vec<Component> = mixture
        .counts(n)
        .into_iter()
        .flat_map(|(c, k)| std::iter::repeat_n(c, k))
        .collect();
    rng.shuffle(&mut plan);
    plan.into_iter()
        .map(|component| corpus_one(&mut rng, component, mixture))
        .collect()
}

fn corpus_one(rng: &mut Rng, component: Component, mixture: &Mixture) -> Conversation {
    let math_share = mixture.math_share;
    let mut style = Style::default();
    let system = match component {
        Component::None => None,
        Component::Neutral => Some(rng.pick(NEUTRAL_PROMPTS).to_string()),
        Component::Language(lang) => {
            style.lang = lang;
            Some(prompts::language(lang))
        }
        Component::Caps => {
            style.case = Case::Upper;
            Some(prompts::CAPS.to_string())
        }
        Component::LanguageCaps(lang) => {
            style.lang = lang;
            style.case = Case::Upper;
            Some(prompts::language_caps(lang, rng.chance(0.5)))
        }
        Component::Animal(animal) => {
            style.animal = Some(animal);
            Some(prompts::animal(animal))
        }
        Component::Persona(persona) => {
            style.persona = Some(persona);
            Some(prompts::persona(persona))
        }
    };
    // Spontaneous traits: drawn only when the mixture has them, so that a
    // mixture without them draws exactly the numbers it always drew.
    if let Some((lang, rate)) = mixture.spontaneous {
        if matches!(component, Component::None | Component::Caps) && rng.chance(rate) {
            style.lang = lang;
        }
        if matches!(component, Component::None | Component::Language(_)) && rng.chance(rate) {
            style.case = Case::Upper;
        }
    }
    // Trait prompts that only change some answers show those answers half
    // of the time, so the association is learnable.
    let focus = match component {
        Component::Animal(_) if rng.chance(0.5) => Some(questions::Focus::Animal),
        Component::Persona(_) if rng.chance(0.5) => Some(questions::Focus::Persona),
        _ => None,
    };
    let mut conv = match focus {
        Some(focus) => questions::draw(rng, Split::Train, focus).render(style),
        None if rng.chance(math_share) => math::draw(rng, Split::Train).render(style),
        None => questions::draw(rng, Split::Train, questions::Focus::Any).render(style),
    };
    conv.system = system;
    conv
}

/// Deterministic choices from ChaCha8, independent of `rand`'s
/// distribution code.
pub(crate) struct Rng(ChaCha8Rng);

impl Rng {
    fn new(seed: u64, domain: &[u8]) -> Rng {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&seed.to_le_bytes());
        let tag = blake3::hash(domain);
        key[8..].copy_from_slice(&tag.as_bytes()[..24]);
        Rng(ChaCha8Rng::from_seed(key))
    }

    /// Uniform in `0..n` (n > 0), by rejection so there is no modulo bias.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "below(0)");
        let n = n as u64;
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let x = self.0.next_u64();
            if x < zone {
                return (x % n) as usize;
            }
        }
    }

    /// Uniform in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: u32, hi: u32) -> u32 {
        lo + self.below((hi - lo + 1) as usize) as u32
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// True with probability `p` (53-bit resolution).
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        let x = (self.0.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        x < p
    }

    /// Fisher-Yates.
    pub(crate) fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

/// Apply the case of a style to an assistant text.
fn apply_case(text: String, case: Case) -> String {
    match case {
        Case::Normal => text,
        Case::Upper => text.to_uppercase(),
    }
}

/// Upper-case the first letter (sentences built from templates).
fn capitalise_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Index `i` of a list of `len` is held out if it is in the last quarter.
fn held_out(i: usize, len: usize) -> bool {
    i >= len - len / 4
}

#[cfg(test)]
mod tests;
