//! Variable interpolation as the Compose Specification defines it (`$VAR`, `${VAR}`,
//! `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`, `${VAR:+alt}`,
//! `${VAR+alt}`, `$$` for a literal `$`), and `.env` files.

use std::collections::BTreeMap;

/// The variables interpolation reads: the process environment over the `.env` file.
pub type Vars = BTreeMap<String, String>;

/// What interpolating one string can fail with.
#[derive(Debug, PartialEq)]
pub enum Error {
    /// A `$` that starts nothing valid.
    Syntax,
    /// `${X:?message}` with X unset (or empty); the compose wording.
    Required(String),
}

/// Interpolates `s`; `unset` is told the name of each variable used without a value
/// (compose warns and substitutes an empty string).
pub fn interpolate(s: &str, vars: &Vars, unset: &mut dyn FnMut(&str)) -> Result<String, Error> {
    if !s.contains('$') {
        return Ok(s.to_string());
    }
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        let Some(off) = s[i..].find('$') else {
            out.push_str(&s[i..]);
            break;
        };
        out.push_str(&s[i..i + off]);
        i += off + 1;
        match b.get(i) {
            Some(b'$') => {
                out.push('$');
                i += 1;
            }
            Some(b'{') => {
                let start = i + 1;
                let end = closing_brace(b, start).ok_or(Error::Syntax)?;
                out.push_str(&braced(&s[start..end], vars, unset)?);
                i = end + 1;
            }
            Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {
                let len = name_len(&s[i..]);
                let name = &s[i..i + len];
                match vars.get(name) {
                    Some(v) => out.push_str(v),
                    None => unset(name),
                }
                i += len;
            }
            _ => return Err(Error::Syntax),
        }
    }
    Ok(out)
}

fn name_len(s: &str) -> usize {
    s.bytes().take_while(|c| c.is_ascii_alphanumeric() || *c == b'_').count()
}

/// The index of the `}` closing a `${` whose body starts at `start`, counting nested `${`.
fn closing_brace(b: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0;
    let mut i = start;
    while i < b.len() {
        match b[i] {
            b'$' if b.get(i + 1) == Some(&b'$') => i += 1,
            b'$' if b.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

/// The body of `${...}`: a name and an optional operator with its word, which is itself
/// interpolated, and only when used.
fn braced(body: &str, vars: &Vars, unset: &mut dyn FnMut(&str)) -> Result<String, Error> {
    let len = name_len(body);
    if len == 0 || body.as_bytes()[0].is_ascii_digit() {
        return Err(Error::Syntax);
    }
    let (name, rest) = body.split_at(len);
    let value = vars.get(name);
    let set = value.is_some();
    let non_empty = value.is_some_and(|v| !v.is_empty());
    let word = |w: &str, unset: &mut dyn FnMut(&str)| interpolate(w, vars, unset);
    let value = || value.cloned().unwrap_or_default();
    if rest.is_empty() {
        if !set {
            unset(name);
        }
        return Ok(value());
    }
    let (op, w) = [":-", ":?", ":+", "-", "?", "+"].iter().find_map(|op| rest.strip_prefix(op).map(|w| (*op, w))).ok_or(Error::Syntax)?;
    Ok(match op {
        ":-" if non_empty => value(),
        "-" if set => value(),
        ":-" | "-" => word(w, unset)?,
        ":?" if !non_empty => return Err(required(name, &word(w, unset)?)),
        "?" if !set => return Err(required(name, &word(w, unset)?)),
        ":?" | "?" => value(),
        ":+" if non_empty => word(w, unset)?,
        "+" if set => word(w, unset)?,
        _ => String::new(),
    })
}

fn required(name: &str, message: &str) -> Error {
    if message.is_empty() {
        Error::Required(format!("required variable {name} is missing a value"))
    } else {
        Error::Required(format!("required variable {name} is missing a value: {message}"))
    }
}

/// Parses a `.env` (or `env_file`) text: `KEY=VALUE` lines, `export ` prefixes, `#`
/// comments, single-quoted values taken literally, double-quoted ones with `\n`, `\t`,
/// `\"` and `\\` escapes; unquoted and double-quoted values are interpolated from the
/// variables read so far and `base`. A bare `KEY` takes its value from `base` when set.
pub fn parse_dotenv(text: &str, base: &Vars) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((n, raw)) = lines.next() {
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map(str::trim_start).unwrap_or(line);
        let Some((key, rest)) = line.split_once('=') else {
            let key = line.trim();
            if key.chars().any(char::is_whitespace) {
                return Err(format!("line {}: unexpected character in variable name {key:?}", n + 1));
            }
            if let Some(v) = base.get(key) {
                out.push((key.to_string(), v.clone()));
            }
            continue;
        };
        let key = key.trim();
        if key.is_empty() || key.chars().any(char::is_whitespace) {
            return Err(format!("line {}: unexpected character in variable name {key:?}", n + 1));
        }
        let rest = rest.trim_start();
        let mut vars = base.clone();
        vars.extend(out.iter().cloned());
        let value = match rest.chars().next() {
            Some(q @ ('\'' | '"')) => {
                // A quoted value may span lines until its closing quote.
                let mut body = rest[1..].to_string();
                while closing_quote(&body, q).is_none() {
                    match lines.next() {
                        Some((_, more)) => {
                            body.push('\n');
                            body.push_str(more);
                        }
                        None => return Err(format!("line {}: unterminated quoted value", n + 1)),
                    }
                }
                let end = closing_quote(&body, q).unwrap_or(body.len());
                let inner = &body[..end];
                if q == '\'' {
                    inner.to_string()
                } else {
                    let unescaped = unescape(inner);
                    interpolate(&unescaped, &vars, &mut |_| {}).map_err(|e| dotenv_error(n, e))?
                }
            }
            _ => {
                let v = match rest.find(" #") {
                    Some(at) => &rest[..at],
                    None => rest,
                };
                interpolate(v.trim_end(), &vars, &mut |_| {}).map_err(|e| dotenv_error(n, e))?
            }
        };
        out.retain(|(k, _)| k != key);
        out.push((key.to_string(), value));
    }
    Ok(out)
}

fn dotenv_error(n: usize, e: Error) -> String {
    match e {
        Error::Syntax => format!("line {}: invalid interpolation format", n + 1),
        Error::Required(m) => m,
    }
}

fn closing_quote(s: &str, q: char) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' && q == '"' {
            escaped = true;
        } else if c == q {
            return Some(i);
        }
    }
    None
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(c @ ('"' | '\\' | '$')) => {
                if c == '$' {
                    out.push_str("$$");
                } else {
                    out.push(c);
                }
            }
            Some(c) => {
                out.push('\\');
                out.push(c);
            }
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn run(s: &str, v: &Vars) -> (Result<String, Error>, Vec<String>) {
        let mut missing = Vec::new();
        let r = interpolate(s, v, &mut |n| missing.push(n.to_string()));
        (r, missing)
    }

    #[test]
    fn specification_examples() {
        // The spec's own table: unset, empty and set, for each operator.
        let v = vars(&[("SET", "value"), ("EMPTY", "")]);
        let cases = [
            ("${SET:-default}", "value"),
            ("${EMPTY:-default}", "default"),
            ("${UNSET:-default}", "default"),
            ("${SET-default}", "value"),
            ("${EMPTY-default}", ""),
            ("${UNSET-default}", "default"),
            ("${SET:+alt}", "alt"),
            ("${EMPTY:+alt}", ""),
            ("${UNSET:+alt}", ""),
            ("${SET+alt}", "alt"),
            ("${EMPTY+alt}", "alt"),
            ("${UNSET+alt}", ""),
            ("$SET", "value"),
            ("${SET}", "value"),
            ("$$SET", "$SET"),
            ("a$${b}c", "a${b}c"),
            ("x-$SET-y", "x-value-y"),
            ("${UNSET:-${SET}}", "value"),
            ("${UNSET:-${ALSO:-nested}}", "nested"),
            ("${UNSET:-a}b${SET}", "abvalue"),
        ];
        for (input, want) in cases {
            assert_eq!(run(input, &v).0, Ok(want.to_string()), "{input}");
        }
    }

    #[test]
    fn required_variables() {
        let v = vars(&[("EMPTY", "")]);
        assert_eq!(run("${X:?must be set}", &v).0, Err(Error::Required("required variable X is missing a value: must be set".into())));
        assert_eq!(run("${EMPTY:?}", &v).0, Err(Error::Required("required variable EMPTY is missing a value".into())));
        assert_eq!(run("${EMPTY?no}", &v).0, Ok(String::new()));
    }

    #[test]
    fn unset_variables_are_reported_and_empty() {
        let (r, missing) = run("a${NOPE}b$ALSO", &Vars::new());
        assert_eq!(r, Ok("ab".into()));
        assert_eq!(missing, ["NOPE", "ALSO"]);
        // A default that is not used is not interpolated.
        let (_, missing) = run("${X-y}", &vars(&[("X", "1")]));
        assert!(missing.is_empty());
    }

    #[test]
    fn invalid_templates() {
        for s in ["$", "a $ b", "${", "${1X}", "${X%%y}", "${}"] {
            assert_eq!(run(s, &Vars::new()).0, Err(Error::Syntax), "{s}");
        }
    }

    #[test]
    fn dotenv_files() {
        let text = "# comment\nA=1\nexport B = two words # trailing\nC='$A literal'\nD=\"x${A}y\\n\"\nE=${A:-0}${B}\nMULTI=\"one\ntwo\"\nFROM_BASE\n\nEMPTY=\n";
        let base = vars(&[("FROM_BASE", "b")]);
        let got = parse_dotenv(text, &base).unwrap();
        let want = [("A", "1"), ("B", "two words"), ("C", "$A literal"), ("D", "x1y\n"), ("E", "1two words"), ("MULTI", "one\ntwo"), ("FROM_BASE", "b"), ("EMPTY", "")];
        assert_eq!(got, want.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>());
        assert!(parse_dotenv("A=\"open", &Vars::new()).is_err());
        assert!(parse_dotenv("BAD KEY=1", &Vars::new()).is_err());
    }
}
