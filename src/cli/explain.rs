//! `inoc explain CODE`: what a diagnostic code means and how to fix it, from
//! the one registry of codes (`diag::codes`), as `rustc --explain` does.

use crate::diag::{lookup, CODES};

/// Arguments of `inoc explain`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A diagnostic code (`E0149`, `w0101`); without one, every code with its title.
    pub code: Option<String>,
}

pub fn run(args: Args) -> u8 {
    let Some(code) = args.code else {
        for c in CODES {
            println!("{}  {}", c.code, c.title);
        }
        return 0;
    };
    let code = code.trim().to_ascii_uppercase();
    let Some(info) = lookup(&code) else {
        let best = CODES
            .iter()
            .map(|c| (strsim::jaro_winkler(c.code, &code), c.code))
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .filter(|(s, _)| *s > 0.8)
            .map(|(_, c)| format!("; did you mean {c}?"))
            .unwrap_or_default();
        eprintln!(
            "error: `{code}` is no diagnostic code of inoc{best} (`inoc explain` lists them)"
        );
        return 2;
    };
    println!("{}: {}\n", info.code, info.title);
    println!("{}", wrap(info.explanation, 80));
    if let Some(lint) = info.lint {
        println!(
            "\nA warning of the lint `{lint}`: silence it with `# inoc: allow({lint})` on its line or the line before."
        );
    }
    0
}

/// Words of `text` in lines of at most `width` columns (a longer word
/// stands alone).
fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = 0;
    for word in text.split_whitespace() {
        let n = word.chars().count();
        if line > 0 && line + 1 + n > width {
            out.push('\n');
            line = 0;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += n;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn wraps_at_word_boundaries() {
        assert_eq!(wrap("aa bb cc", 5), "aa bb\ncc");
        assert_eq!(wrap("  a\n  b ", 80), "a b");
        assert_eq!(wrap("abcdefgh x", 3), "abcdefgh\nx");
    }
}
