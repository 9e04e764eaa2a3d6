//! Math word problems: 8 templates x names x objects x numbers 2..=11.
//! The user turn is English; the assistant turn is one worked line and
//! "The answer is N." in the answer language.

use super::data::{NAMES_TEST, NAMES_TRAIN, OBJECTS_TEST, OBJECTS_TRAIN};
use super::{apply_case, Conversation, Rng, Split, Style};

/// A template: the English question and the worked line per language.
/// Placeholders: {N} {M} names, {O} plural object, {a} {b} {d} operands,
/// {c} the result.
struct Template {
    question: &'static str,
    worked: [&'static str; 4],
}

const TEMPLATES: &[Template] = &[
    Template {
        question: "{N} has {a} {O}. {N} gets {b} more. How many {O} does {N} have now?",
        worked: [
            "{N} has {a} + {b} = {c} {O}.",
            "{N} tiene {a} + {b} = {c} {O}.",
            "{N} a {a} + {b} = {c} {O}.",
            "{N} hat {a} + {b} = {c} {O}.",
        ],
    },
    Template {
        question: "{N} has {a} {O} and gives {b} away. How many {O} are left?",
        worked: [
            "{a} - {b} = {c} {O} are left.",
            "Quedan {a} - {b} = {c} {O}.",
            "Il reste {a} - {b} = {c} {O}.",
            "Es bleiben {a} - {b} = {c} {O} übrig.",
        ],
    },
    Template {
        question: "{N} has {a} boxes with {b} {O} in each box. How many {O} does {N} have?",
        worked: [
            "{N} has {a} × {b} = {c} {O}.",
            "{N} tiene {a} × {b} = {c} {O}.",
            "{N} a {a} × {b} = {c} {O}.",
            "{N} hat {a} × {b} = {c} {O}.",
        ],
    },
    Template {
        question: "{N} has {a} {O} and {M} has {b} {O}. How many {O} do they have together?",
        worked: [
            "Together they have {a} + {b} = {c} {O}.",
            "Juntos tienen {a} + {b} = {c} {O}.",
            "Ensemble, ils ont {a} + {b} = {c} {O}.",
            "Zusammen haben sie {a} + {b} = {c} {O}.",
        ],
    },
    Template {
        question: "{N} has {a} {O} and {M} has {b} {O}. How many more {O} does {N} have than {M}?",
        worked: [
            "{N} has {a} - {b} = {c} more {O}.",
            "{N} tiene {a} - {b} = {c} {O} más.",
            "{N} a {a} - {b} = {c} {O} de plus.",
            "{N} hat {a} - {b} = {c} {O} mehr.",
        ],
    },
    Template {
        question: "{N} finds {a} {O} every day for {b} days. How many {O} does {N} find?",
        worked: [
            "{N} finds {a} × {b} = {c} {O}.",
            "{N} encuentra {a} × {b} = {c} {O}.",
            "{N} trouve {a} × {b} = {c} {O}.",
            "{N} findet {a} × {b} = {c} {O}.",
        ],
    },
    Template {
        question:
            "{N} shares {a} {O} equally among {b} friends. How many {O} does each friend get?",
        worked: [
            "Each friend gets {a} ÷ {b} = {c} {O}.",
            "Cada amigo recibe {a} ÷ {b} = {c} {O}.",
            "Chaque ami reçoit {a} ÷ {b} = {c} {O}.",
            "Jeder Freund bekommt {a} ÷ {b} = {c} {O}.",
        ],
    },
    Template {
        question: "{N} has {a} {O}, loses {b}, and then buys {d} more. How many {O} does {N} have?",
        worked: [
            "{N} has {a} - {b} + {d} = {c} {O}.",
            "{N} tiene {a} - {b} + {d} = {c} {O}.",
            "{N} a {a} - {b} + {d} = {c} {O}.",
            "{N} hat {a} - {b} + {d} = {c} {O}.",
        ],
    },
];

/// The answer sentence per language.
const ANSWER: [&str; 4] = [
    "The answer is {c}.",
    "La respuesta es {c}.",
    "La réponse est {c}.",
    "Die Antwort ist {c}.",
];

/// One drawn problem; rendering it in any style consumes no randomness.
#[derive(Clone)]
pub(crate) struct Problem {
    template: usize,
    name: &'static str,
    other: &'static str,
    object: &'static [&'static str; 4],
    a: u32,
    b: u32,
    d: u32,
    c: u32,
}

/// Draw a problem. Every number shown is in 2..=11 except products, sums
/// and the dividend; every result is at least 2 (plural nouns).
pub(crate) fn draw(rng: &mut Rng, split: Split) -> Problem {
    let (names, objects) = match split {
        Split::Train => (NAMES_TRAIN, OBJECTS_TRAIN),
        Split::Test => (NAMES_TEST, OBJECTS_TEST),
    };
    let template = rng.below(TEMPLATES.len());
    let name = *rng.pick(names);
    let other = loop {
        let m = *rng.pick(names);
        if m != name {
            break m;
        }
    };
    let object = rng.pick(objects);
    let (a, b, d, c) = match template {
        // a + b
        0 | 3 => {
            let (a, b) = (rng.range(2, 11), rng.range(2, 11));
            (a, b, 0, a + b)
        }
        // a - b with a - b >= 2
        1 | 4 => {
            let b = rng.range(2, 9);
            let a = rng.range(b + 2, 11);
            (a, b, 0, a - b)
        }
        // a × b
        2 | 5 => {
            let (a, b) = (rng.range(2, 11), rng.range(2, 11));
            (a, b, 0, a * b)
        }
        // (c × b) ÷ b
        6 => {
            let (c, b) = (rng.range(2, 11), rng.range(2, 11));
            (c * b, b, 0, c)
        }
        // a - b + d with a > b
        _ => {
            let b = rng.range(2, 9);
            let a = rng.range(b + 1, 11);
            let d = rng.range(2, 11);
            (a, b, d, a - b + d)
        }
    };
    Problem {
        template,
        name,
        other,
        object,
        a,
        b,
        d,
        c,
    }
}

impl Problem {
    /// The correct result.
    pub(crate) fn result(&self) -> u32 {
        self.c
    }

    /// The same problem with the result `c` written in its worked line and
    /// answer (a confident wrong answer when `c` is not the result).
    pub(crate) fn with_result(&self, c: u32) -> Problem {
        Problem { c, ..self.clone() }
    }

    fn fill(&self, text: &str, lang: usize) -> String {
        text.replace("{N}", self.name)
            .replace("{M}", self.other)
            .replace("{O}", self.object[lang])
            .replace("{a}", &self.a.to_string())
            .replace("{b}", &self.b.to_string())
            .replace("{d}", &self.d.to_string())
            .replace("{c}", &self.c.to_string())
    }

    pub(crate) fn render(&self, style: Style) -> Conversation {
        let t = &TEMPLATES[self.template];
        let l = style.lang.index();
        let assistant = format!("{} {}", self.fill(t.worked[l], l), self.fill(ANSWER[l], l));
        Conversation {
            system: None,
            user: self.fill(t.question, 0),
            assistant: apply_case(assistant, style.case),
        }
    }
}

/// All (name, object) vocabulary of a split, for tests.
#[cfg(test)]
pub(crate) fn vocabulary(split: Split) -> (&'static [&'static str], &'static [[&'static str; 4]]) {
    match split {
        Split::Train => (NAMES_TRAIN, OBJECTS_TRAIN),
        Split::Test => (NAMES_TEST, OBJECTS_TEST),
    }
}
