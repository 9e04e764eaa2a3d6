//! Judge prompt templates: `{name}` variables, `{{` and `}}` literal braces.

/// A problem in a template, with the byte range inside the template text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TemplateError {
    /// `{name}` where `name` is not a known variable.
    UnknownVar {
        name: String,
        start: usize,
        end: usize,
    },
    /// A `{` with no closing `}`, or a lone `}`.
    Unbalanced { start: usize },
}

/// A variable use found in a template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VarUse {
    pub name: String,
    /// Byte range of `{name}` in the template.
    pub start: usize,
    pub end: usize,
}

/// Parses the variables of a template; errors for unknown names and
/// unbalanced braces (all of them, in order).
pub fn check(template: &str, known: &[&str]) -> (Vec<VarUse>, Vec<TemplateError>) {
    let bytes = template.as_bytes();
    let mut uses = Vec::new();
    let mut errors = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' if bytes.get(i + 1) == Some(&b'{') => i += 2,
            b'}' if bytes.get(i + 1) == Some(&b'}') => i += 2,
            b'{' => {
                let start = i;
                let close = template[i + 1..].find(['}', '{']).map(|k| k + i + 1);
                match close {
                    Some(j) if bytes[j] == b'}' => {
                        let name = template[start + 1..j].trim().to_string();
                        if known.contains(&name.as_str()) {
                            uses.push(VarUse {
                                name,
                                start,
                                end: j + 1,
                            });
                        } else {
                            errors.push(TemplateError::UnknownVar {
                                name,
                                start,
                                end: j + 1,
                            });
                        }
                        i = j + 1;
                    }
                    _ => {
                        errors.push(TemplateError::Unbalanced { start });
                        i += 1;
                    }
                }
            }
            b'}' => {
                errors.push(TemplateError::Unbalanced { start: i });
                i += 1;
            }
            _ => i += 1,
        }
    }
    (uses, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: &[&str] = &["question", "answer"];

    #[test]
    fn finds_known_variables_and_skips_escapes() {
        let (uses, errs) = check("Q: {question}\nA: {answer} {{literal}}", KNOWN);
        assert!(errs.is_empty());
        assert_eq!(
            uses.iter().map(|u| u.name.as_str()).collect::<Vec<_>>(),
            ["question", "answer"]
        );
        assert_eq!(uses[0].start, 3);
    }

    #[test]
    fn reports_unknown_and_unbalanced() {
        let (_, errs) = check("{qestion} and { and }", KNOWN);
        assert_eq!(
            errs,
            vec![
                TemplateError::UnknownVar {
                    name: "qestion".into(),
                    start: 0,
                    end: 9
                },
                TemplateError::UnknownVar {
                    name: " and ".trim().into(),
                    start: 14,
                    end: 21
                },
            ]
        );
        let (_, errs) = check("{answer", KNOWN);
        assert_eq!(errs, vec![TemplateError::Unbalanced { start: 0 }]);
        let (_, errs) = check("a } b", KNOWN);
        assert_eq!(errs, vec![TemplateError::Unbalanced { start: 2 }]);
    }

    #[test]
    fn multibyte_text_is_safe() {
        let (uses, errs) = check("¿{answer}? ñ{", KNOWN);
        assert_eq!(uses.len(), 1);
        assert_eq!(errs.len(), 1);
    }
}
