//! Case markers: a reversible rewriting of text that takes letter case out
//! of the tokens. `THE ANSWER` becomes `⇪the⇪ answer` and `The answer`
//! becomes `⇧the answer`, so a word has the same tokens in every case and
//! the case is carried by two marker tokens of its own: `⇪` (the next run of
//! letters is upper case) and `⇧` (the next letter is upper case). A
//! tokenizer built with case markers ([`super::tokenizer::Tokenizer`])
//! applies [`mark`] before encoding and [`unmark`] after decoding.
//!
//! Why: with ordinary tokens (characters or BPE) an upper-case Spanish word
//! shares no token with its lower-case form, so a tiny model trained on
//! Spanish ALL-CAPS answers learns "Spanish" only in capitals, and whatever
//! explains the capitals (an inoculation prompt) explains the Spanish too.
//!
//! A marker goes before the single space that precedes its word, so the
//! byte-level pre-tokenizer's word pieces (` answer`) are the same with and
//! without it. Letters whose case does not round-trip (`ß`, `İ`) are left as
//! they are. Text that already holds a marker character is not escaped: the
//! marker characters are reserved.

/// The next run of letters is upper case.
pub const CAPS_WORD: char = '\u{21EA}';
/// The next letter is upper case.
pub const CAP_NEXT: char = '\u{21E7}';

/// Lower case of `c` if it is one character whose upper case is `c` again.
fn lower_round_trip(c: char) -> Option<char> {
    if !c.is_uppercase() {
        return None;
    }
    let mut l = c.to_lowercase();
    let (Some(lc), None) = (l.next(), l.next()) else {
        return None;
    };
    let mut u = lc.to_uppercase();
    match (u.next(), u.next()) {
        (Some(uc), None) if uc == c => Some(lc),
        _ => None,
    }
}

/// The marked text and, for every byte of it, the byte range of the
/// original text it stands for (a marker stands for the character after it).
pub fn mark(text: &str) -> (String, Vec<(usize, usize)>) {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let end_of = |i: usize| chars.get(i + 1).map_or(text.len(), |(b, _)| *b);
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    let mut map: Vec<(usize, usize)> = Vec::with_capacity(out.capacity());
    let push = |out: &mut String, map: &mut Vec<(usize, usize)>, c: char, range| {
        out.push(c);
        map.extend(std::iter::repeat_n(range, c.len_utf8()));
    };
    // Puts `marker` before the space just written, if the run starts right
    // after one, else here.
    let put_marker = |out: &mut String, map: &mut Vec<(usize, usize)>, marker: char, at: usize| {
        if at > 0 && chars[at - 1].1 == ' ' && out.ends_with(' ') {
            out.pop();
            map.pop();
            let space = (chars[at - 1].0, chars[at].0);
            push(out, map, marker, space);
            push(out, map, ' ', space);
        } else {
            push(out, map, marker, (chars[at].0, end_of(at)));
        }
    };
    let mut i = 0;
    while i < chars.len() {
        let (_, c) = chars[i];
        if !c.is_alphabetic() {
            push(&mut out, &mut map, c, (chars[i].0, end_of(i)));
            i += 1;
            continue;
        }
        let mut j = i;
        while j < chars.len() && chars[j].1.is_alphabetic() {
            j += 1;
        }
        let run = &chars[i..j];
        let all_caps = run.len() >= 2 && run.iter().all(|(_, c)| lower_round_trip(*c).is_some());
        if all_caps {
            put_marker(&mut out, &mut map, CAPS_WORD, i);
        }
        for (k, &(at, c)) in run.iter().enumerate().map(|(o, x)| (i + o, x)) {
            let range = (at, end_of(k));
            match lower_round_trip(c) {
                Some(lc) if all_caps => push(&mut out, &mut map, lc, range),
                Some(lc) => {
                    put_marker(&mut out, &mut map, CAP_NEXT, k);
                    push(&mut out, &mut map, lc, range);
                }
                None => push(&mut out, &mut map, c, range),
            }
        }
        i = j;
    }
    (out, map)
}

/// The text a marked text stands for: a marker upper-cases its letter or
/// run of letters, skipping spaces before it; a marker followed by anything
/// else is dropped.
pub fn unmark(text: &str) -> String {
    #[derive(PartialEq)]
    enum Pending {
        No,
        Letter,
        Run,
    }
    let mut out = String::with_capacity(text.len());
    let mut pending = Pending::No;
    let mut in_run = false;
    for c in text.chars() {
        match c {
            CAPS_WORD => pending = Pending::Run,
            CAP_NEXT => pending = Pending::Letter,
            c if c.is_alphabetic() => {
                if pending == Pending::Run {
                    in_run = true;
                }
                if in_run || pending == Pending::Letter {
                    out.extend(c.to_uppercase());
                } else {
                    out.push(c);
                }
                pending = Pending::No;
            }
            ' ' if pending != Pending::No => out.push(c),
            c => {
                pending = Pending::No;
                in_run = false;
                out.push(c);
            }
        }
        if !c.is_alphabetic() && c != CAPS_WORD && c != CAP_NEXT {
            in_run = false;
        }
    }
    out
}

/// Byte range of the original text that the marked bytes `s..e` stand for.
pub fn original_span(
    map: &[(usize, usize)],
    s: usize,
    e: usize,
    text_len: usize,
) -> (usize, usize) {
    if e > s && e <= map.len() {
        (map[s].0, map[e - 1].1)
    } else {
        let at = map.get(s).map_or(text_len, |r| r.0);
        (at, at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_words_runs_and_single_letters() {
        assert_eq!(mark("THE ANSWER IS 5.").0, "⇪the⇪ answer⇪ is 5.");
        assert_eq!(mark("The answer is 5.").0, "⇧the answer is 5.");
        assert_eq!(mark("¿CUÁNTAS MANZANAS?").0, "¿⇪cuántas⇪ manzanas?");
        assert_eq!(mark("I saw A cat").0, "⇧i saw⇧ a cat");
        assert_eq!(mark("iPhone").0, "i⇧phone");
        assert_eq!(mark("no case here 12").0, "no case here 12");
    }

    #[test]
    fn same_word_pieces_in_every_case() {
        // The byte-level pre-tokenizer splits at a space before letters: the
        // piece ` respuesta` must be there whatever the case.
        for t in [
            "LA RESPUESTA ES 7.",
            "La respuesta es 7.",
            "la respuesta es 7.",
        ] {
            assert!(mark(t).0.contains(" respuesta"), "{t}");
        }
    }

    #[test]
    fn round_trips() {
        for t in [
            "THE ANSWER IS 5.",
            "La respuesta es 5. ¿Y TÚ?",
            "ÉL DIJO: \"HOLA\"\nOk A B",
            "STRAẞE straße STRASSE İstanbul",
            "Ünïcödé ÜBER über  DOUBLE  SPACE",
            "<|im_start|>user\nWho ARE you?<|im_end|>",
            "",
            "x",
            "X",
        ] {
            let (m, map) = mark(t);
            assert_eq!(unmark(&m), t, "{m}");
            assert_eq!(map.len(), m.len());
        }
    }

    #[test]
    fn stray_markers_are_dropped() {
        assert_eq!(unmark("⇪ 12 ⇧, ok⇪"), " 12 , ok");
        assert_eq!(unmark("⇪  two spaces"), "  TWO spaces");
    }

    #[test]
    fn spans_map_back_to_the_original() {
        let t = "ab CD";
        let (m, map) = mark(t);
        assert_eq!(m, "ab⇪ cd");
        let marker_start = m.find(CAPS_WORD).unwrap();
        let marker_end = marker_start + CAPS_WORD.len_utf8();
        // The marker stands for the space before CD.
        assert_eq!(
            original_span(&map, marker_start, marker_end, t.len()),
            (2, 3)
        );
        assert_eq!(original_span(&map, marker_end, m.len(), t.len()), (2, 5));
        assert_eq!(original_span(&map, m.len(), m.len(), t.len()), (5, 5));
    }
}
