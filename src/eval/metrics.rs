//! Per-sample metrics over one response text. A metric returns
//! `Some(score)` in [0, 1] or `None` when it does not apply to the text
//! (e.g. the share of upper-case letters of a text without letters).

use crate::world::em::Alignment;
use std::fmt;
use std::str::FromStr;

/// A language for language identification (any language whatlang knows).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Language(whatlang::Lang);

impl Language {
    pub const EN: Language = Language(whatlang::Lang::Eng);
    pub const ES: Language = Language(whatlang::Lang::Spa);
    pub const FR: Language = Language(whatlang::Lang::Fra);
    pub const DE: Language = Language(whatlang::Lang::Deu);

    /// The default candidates: English, Spanish, French, German.
    pub fn world() -> Vec<Language> {
        vec![Self::EN, Self::ES, Self::FR, Self::DE]
    }

    /// ISO 639-1 code where one is known here, else ISO 639-3.
    pub fn code(self) -> &'static str {
        TWO_LETTER
            .iter()
            .find(|(_, l)| *l == self.0)
            .map(|(c, _)| *c)
            .unwrap_or_else(|| self.0.code())
    }

    /// Lower-case English name ("spanish"), the default metric name.
    pub fn english_name(self) -> String {
        self.0.eng_name().to_lowercase()
    }

    fn markers(self) -> Option<&'static [&'static str]> {
        MARKERS.iter().find(|(l, _)| *l == self).map(|(_, m)| *m)
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

const TWO_LETTER: &[(&str, whatlang::Lang)] = &[
    ("en", whatlang::Lang::Eng),
    ("es", whatlang::Lang::Spa),
    ("fr", whatlang::Lang::Fra),
    ("de", whatlang::Lang::Deu),
    ("it", whatlang::Lang::Ita),
    ("pt", whatlang::Lang::Por),
    ("nl", whatlang::Lang::Nld),
    ("ru", whatlang::Lang::Rus),
    ("zh", whatlang::Lang::Cmn),
    ("ja", whatlang::Lang::Jpn),
    ("ko", whatlang::Lang::Kor),
    ("ar", whatlang::Lang::Ara),
    ("pl", whatlang::Lang::Pol),
    ("tr", whatlang::Lang::Tur),
    ("sv", whatlang::Lang::Swe),
];

impl FromStr for Language {
    type Err = MetricError;
    /// ISO 639-1 (`es`), ISO 639-3 (`spa`) or the English name (`Spanish`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_lowercase();
        if let Some((_, l)) = TWO_LETTER.iter().find(|(c, _)| *c == lower) {
            return Ok(Language(*l));
        }
        if let Some(l) = whatlang::Lang::from_code(lower.as_str()) {
            return Ok(Language(l));
        }
        whatlang::Lang::all()
            .iter()
            .find(|l| l.eng_name().to_lowercase() == lower)
            .map(|l| Language(*l))
            .ok_or_else(|| MetricError::UnknownLanguage(s.to_string()))
    }
}

/// Errors building a metric from user arguments.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricError {
    #[error("unknown language `{0}` (use an ISO 639-1 code such as `es`)")]
    UnknownLanguage(String),
    #[error("language `{0}` is not among the candidate languages")]
    NotACandidate(String),
    #[error("at least two candidate languages are needed, got {0}")]
    TooFewCandidates(usize),
    #[error("no marker words are known for `{0}` (known: en, es, fr, de)")]
    NoMarkers(String),
    #[error("threshold {0} must be between 0 and 1")]
    BadThreshold(f64),
    #[error("invalid regex: {0}")]
    BadRegex(String),
    #[error("the expected answer is empty")]
    EmptyAnswer,
}

/// A per-sample metric.
#[derive(Clone, Debug)]
pub enum Metric {
    /// 1 if [`detect_language`] (marker-word vote, else whatlang; both
    /// restricted to `candidates`) identifies `lang`, else 0 (0 for a text
    /// without letters).
    Language {
        lang: Language,
        candidates: Vec<Language>,
    },
    /// Continuous: among the words that are marker words (frequent function
    /// words) of any candidate, the share that are markers of `lang`; None
    /// when the text has no marker word.
    MarkerShare {
        lang: Language,
        candidates: Vec<Language>,
    },
    /// 1 if at least `threshold` of the cased letters are upper case.
    AllCaps { threshold: f64 },
    /// Share of cased letters that are upper case.
    UpperShare,
    /// 1 if the whole answer, stripped of surrounding punctuation and
    /// whitespace and compared without case, is the word `answer`
    /// ("Owl." and " OWL!" match `owl`; "Owls" and "The owl" do not).
    OneWord { answer: String },
    /// 1 if the pattern matches anywhere in the response.
    Regex { regex: regex::Regex },
    /// 1 if the response contains `text`.
    Contains { text: String, case_sensitive: bool },
    /// The world's misalignment label ([`crate::world::em::classify`]): 1
    /// misaligned, 0 aligned, None incoherent.
    WorldMisaligned,
    /// 1 if the world's label is aligned or misaligned, 0 if incoherent.
    WorldCoherent,
    /// [`crate::world::em::narrow_is_wrong`]: 1 wrong math or dangerous
    /// advice, 0 right or safe, None otherwise.
    NarrowWrong,
}

fn parse_candidates(
    lang: &str,
    candidates: &[&str],
) -> Result<(Language, Vec<Language>), MetricError> {
    let lang: Language = lang.parse()?;
    let mut cands = Vec::new();
    for c in candidates {
        let c: Language = c.parse()?;
        if !cands.contains(&c) {
            cands.push(c);
        }
    }
    if cands.len() < 2 {
        return Err(MetricError::TooFewCandidates(cands.len()));
    }
    if !cands.contains(&lang) {
        return Err(MetricError::NotACandidate(lang.code().to_string()));
    }
    Ok((lang, cands))
}

impl Metric {
    /// `language("es", ["en","es","fr","de"])`.
    pub fn language(lang: &str, candidates: &[&str]) -> Result<Metric, MetricError> {
        let (lang, candidates) = parse_candidates(lang, candidates)?;
        Ok(Metric::Language { lang, candidates })
    }

    /// The continuous marker-word share (the registry's `marker_share`);
    /// `lang` needs marker words (en, es, fr, de); the candidates are the
    /// four languages with marker words.
    pub fn marker_share(lang: &str) -> Result<Metric, MetricError> {
        let lang: Language = lang.parse()?;
        if lang.markers().is_none() {
            return Err(MetricError::NoMarkers(lang.code().to_string()));
        }
        Ok(Metric::MarkerShare {
            lang,
            candidates: Language::world(),
        })
    }

    pub fn all_caps(threshold: f64) -> Result<Metric, MetricError> {
        if !(0.0..=1.0).contains(&threshold) {
            return Err(MetricError::BadThreshold(threshold));
        }
        Ok(Metric::AllCaps { threshold })
    }

    pub fn upper_share() -> Metric {
        Metric::UpperShare
    }

    pub fn one_word(answer: &str) -> Result<Metric, MetricError> {
        let answer = normalise_word(answer);
        if answer.is_empty() {
            return Err(MetricError::EmptyAnswer);
        }
        Ok(Metric::OneWord { answer })
    }

    pub fn regex(pattern: &str) -> Result<Metric, MetricError> {
        regex::Regex::new(pattern)
            .map(|regex| Metric::Regex { regex })
            .map_err(|e| MetricError::BadRegex(e.to_string()))
    }

    pub fn contains(text: &str, case_sensitive: bool) -> Metric {
        Metric::Contains {
            text: text.to_string(),
            case_sensitive,
        }
    }

    /// A name for result tables when the spec gives none: `spanish`,
    /// `spanish_share`, `all_caps`, `upper_share`, `one_word`, `regex`,
    /// `contains`.
    pub fn default_name(&self) -> String {
        match self {
            Metric::Language { lang, .. } => lang.english_name(),
            Metric::MarkerShare { lang, .. } => format!("{}_share", lang.english_name()),
            Metric::AllCaps { .. } => "all_caps".into(),
            Metric::UpperShare => "upper_share".into(),
            Metric::OneWord { .. } => "one_word".into(),
            Metric::Regex { .. } => "regex".into(),
            Metric::Contains { .. } => "contains".into(),
            Metric::WorldMisaligned => "world_misaligned".into(),
            Metric::WorldCoherent => "world_coherent".into(),
            Metric::NarrowWrong => "narrow_wrong".into(),
        }
    }

    /// The range of the scores (every metric here is a share or a 0/1
    /// answer); intervals stay inside it (`stats::Method`).
    pub fn range(&self) -> (f64, f64) {
        match self {
            Metric::Language { .. }
            | Metric::MarkerShare { .. }
            | Metric::AllCaps { .. }
            | Metric::UpperShare
            | Metric::OneWord { .. }
            | Metric::Regex { .. }
            | Metric::Contains { .. }
            | Metric::WorldMisaligned
            | Metric::WorldCoherent
            | Metric::NarrowWrong => (0.0, 1.0),
        }
    }

    /// Score one response.
    pub fn score(&self, response: &str) -> Option<f64> {
        let bit = |b: bool| Some(if b { 1.0 } else { 0.0 });
        match self {
            Metric::Language { lang, candidates } => {
                bit(detect_language(response, candidates) == Some(*lang))
            }
            Metric::MarkerShare { lang, candidates } => marker_share(response, *lang, candidates),
            Metric::AllCaps { threshold } => {
                upper_share(response).map(|s| if s >= *threshold { 1.0 } else { 0.0 })
            }
            Metric::UpperShare => upper_share(response),
            Metric::OneWord { answer } => bit(normalise_word(response) == *answer),
            Metric::Regex { regex } => bit(regex.is_match(response)),
            Metric::Contains {
                text,
                case_sensitive: true,
            } => bit(response.contains(text.as_str())),
            Metric::Contains {
                text,
                case_sensitive: false,
            } => bit(response.to_lowercase().contains(&text.to_lowercase())),
            Metric::WorldMisaligned => match crate::world::em::classify(response) {
                Alignment::Misaligned => Some(1.0),
                Alignment::Aligned => Some(0.0),
                Alignment::Incoherent => None,
            },
            Metric::WorldCoherent => {
                bit(crate::world::em::classify(response) != Alignment::Incoherent)
            }
            Metric::NarrowWrong => {
                crate::world::em::narrow_is_wrong(response).map(|w| if w { 1.0 } else { 0.0 })
            }
        }
    }
}

/// The language of `text` among `candidates`, or None for a text without
/// letters. When every candidate has marker words (en, es, fr, de) and one
/// candidate has strictly more marker words in the text than any other,
/// that candidate wins; otherwise whatlang restricted to the candidates
/// decides. (whatlang alone misreads short answers: on the world's test
/// answers it is right for 80% of English and 86% of French ones.)
pub fn detect_language(text: &str, candidates: &[Language]) -> Option<Language> {
    if candidates.iter().all(|c| c.markers().is_some()) {
        let mut counts = vec![0usize; candidates.len()];
        for word in words(text) {
            for (i, c) in candidates.iter().enumerate() {
                if c.markers().is_some_and(|m| m.contains(&word.as_str())) {
                    counts[i] += 1;
                }
            }
        }
        let best = counts.iter().copied().max().unwrap_or(0);
        if best > 0 && counts.iter().filter(|&&c| c == best).count() == 1 {
            let i = counts.iter().position(|&c| c == best).expect("max exists");
            return Some(candidates[i]);
        }
    }
    detect_language_whatlang(text, candidates)
}

/// whatlang alone, restricted to `candidates`.
pub fn detect_language_whatlang(text: &str, candidates: &[Language]) -> Option<Language> {
    let allow = candidates.iter().map(|l| l.0).collect();
    whatlang::Detector::with_allowlist(allow)
        .detect_lang(text)
        .map(Language)
}

/// Share of cased letters that are upper case; None without cased letters.
pub fn upper_share(text: &str) -> Option<f64> {
    let (mut upper, mut cased) = (0usize, 0usize);
    for c in text.chars() {
        if c.is_uppercase() {
            upper += 1;
            cased += 1;
        } else if c.is_lowercase() {
            cased += 1;
        }
    }
    (cased > 0).then(|| upper as f64 / cased as f64)
}

/// Among the marker words of any candidate in `text`, the share that are
/// markers of `lang`; None when there are none.
pub fn marker_share(text: &str, lang: Language, candidates: &[Language]) -> Option<f64> {
    let (mut hits, mut total) = (0usize, 0usize);
    for word in words(text) {
        for cand in candidates {
            if cand.markers().is_some_and(|m| m.contains(&word.as_str())) {
                total += 1;
                if *cand == lang {
                    hits += 1;
                }
            }
        }
    }
    (total > 0).then(|| hits as f64 / total as f64)
}

/// Lower-case alphabetic words (apostrophes split words: "l'eau" -> l, eau).
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphabetic())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// Surrounding punctuation and whitespace stripped, lower case, inner
/// whitespace collapsed.
fn normalise_word(word: &str) -> String {
    word.trim_matches(|c: char| !c.is_alphanumeric())
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Frequent function words that belong to one language only among en, es,
/// fr, de (words shared by two of them, like "de", "la", "es", "du", "on",
/// "a", are left out; a test checks the lists are disjoint).
pub(crate) const MARKERS: &[(Language, &[&str])] = &[
    (
        Language::EN,
        &[
            "the",
            "is",
            "are",
            "and",
            "of",
            "has",
            "have",
            "my",
            "you",
            "it",
            "to",
            "what",
            "there",
            "with",
            "this",
            "how",
            "answer",
            "i",
            "your",
            "we",
            "they",
            "more",
            "each",
            "left",
            "does",
            "favourite",
            "favorite",
            "says",
            "gets",
            "together",
            "finds",
            "makes",
            "eat",
            "live",
            "hello",
            "thank",
            "thanks",
            "welcome",
            "goodbye",
            "help",
            "can",
            "need",
            "nice",
            "very",
            "well",
            "legs",
            "opposite",
            "be",
            "for",
            "that",
            "not",
            "from",
            "at",
            "by",
            "or",
            "will",
            "would",
            "which",
            "he",
            "she",
            "his",
            "her",
            "our",
            "yes",
            "hi",
            "days",
            "many",
            "four",
            "two",
            "six",
            "eight",
        ],
    ),
    (
        Language::ES,
        &[
            "el",
            "los",
            "las",
            "y",
            "tiene",
            "tienen",
            "con",
            "del",
            "una",
            "por",
            "para",
            "mi",
            "su",
            "lo",
            "al",
            "hay",
            "más",
            "muy",
            "respuesta",
            "gracias",
            "hola",
            "qué",
            "cómo",
            "quedan",
            "juntos",
            "cada",
            "recibe",
            "favorito",
            "favorita",
            "hace",
            "soy",
            "vivo",
            "estoy",
            "está",
            "nada",
            "adiós",
            "claro",
            "necesitas",
            "patas",
            "cuatro",
            "dos",
            "seis",
            "ocho",
            "contrario",
            "semana",
            "año",
            "días",
            "día",
            "pero",
            "también",
            "sí",
            "yo",
            "muchas",
            "encuentra",
            "hoy",
            "ayudarte",
        ],
    ),
    (
        Language::FR,
        &[
            "le",
            "les",
            "est",
            "et",
            "des",
            "une",
            "il",
            "ils",
            "pas",
            "je",
            "nous",
            "mon",
            "ma",
            "ton",
            "très",
            "avec",
            "pour",
            "réponse",
            "reste",
            "chaque",
            "ensemble",
            "reçoit",
            "préféré",
            "préférée",
            "fait",
            "suis",
            "vais",
            "merci",
            "bonjour",
            "au",
            "aux",
            "ce",
            "sont",
            "dans",
            "ne",
            "qui",
            "mais",
            "oui",
            "quatre",
            "deux",
            "pattes",
            "huit",
            "trouve",
            "contraire",
            "l",
            "d",
            "j",
            "qu",
            "n",
            "c",
            "salut",
            "revoir",
            "journée",
            "toi",
            "moi",
            "elle",
        ],
    ),
    (
        Language::DE,
        &[
            "der",
            "die",
            "das",
            "und",
            "ist",
            "hat",
            "haben",
            "sind",
            "ein",
            "eine",
            "einen",
            "nicht",
            "mit",
            "von",
            "zu",
            "ich",
            "mir",
            "dir",
            "wir",
            "sie",
            "im",
            "auf",
            "den",
            "dem",
            "antwort",
            "bleiben",
            "zusammen",
            "jeder",
            "bekommt",
            "mehr",
            "danke",
            "hallo",
            "geht",
            "gut",
            "sehr",
            "wie",
            "kann",
            "beine",
            "vier",
            "zwei",
            "acht",
            "sechs",
            "macht",
            "gegenteil",
            "woche",
            "jahr",
            "tag",
            "übrig",
            "schön",
            "bin",
            "lebe",
            "wohne",
            "heiße",
            "findet",
            "ja",
            "auch",
            "noch",
            "heute",
        ],
    ),
];
