//! Word expansion as Docker's Dockerfile shell lexer does it: `$VAR`, `${VAR}`, the
//! `${VAR:-x}`, `${VAR-x}`, `${VAR:+x}`, `${VAR+x}`, `${VAR:?x}`, `${VAR?x}` modifiers, the
//! `${VAR#p}`, `${VAR##p}`, `${VAR%p}`, `${VAR%%p}` and `${VAR/p/r}`, `${VAR//p/r}` pattern
//! forms, single and double quotes and the Dockerfile's escape character (`\` or `` ` ``).
//!
//! The builder supplies the environment as a lookup closure (ENV values of the stage plus the
//! build args it allows), so this module knows nothing of images or containers.

use std::fmt;

/// What a failed expansion says, with Docker's wording
/// (`failed to process "${x": syntax error: missing '}'`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpandError(pub String);

impl fmt::Display for ExpandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ExpandError {}

/// Expands `word` into one string (Docker's `ProcessWord`): variables replaced, quotes removed,
/// escapes applied; spaces are kept.
pub fn expand(
    word: &str,
    env: &dyn Fn(&str) -> Option<String>,
    escape: char,
) -> Result<String, ExpandError> {
    Lexer::new(word, env, escape, Options::default()).run(word).map(|(w, _)| w)
}

/// Expands `word` and splits the result into words (Docker's `ProcessWords`, used for EXPOSE):
/// unquoted whitespace, including whitespace coming from a variable's value, separates words;
/// quoted and escaped whitespace does not.
pub fn expand_words(
    word: &str,
    env: &dyn Fn(&str) -> Option<String>,
    escape: char,
) -> Result<Vec<String>, ExpandError> {
    Lexer::new(word, env, escape, Options::default()).run(word).map(|(_, w)| w)
}

/// The lexer's switches Docker's parser uses to find heredoc words (quotes and escapes kept,
/// unset variables left as written).
#[derive(Default, Clone, Copy)]
pub(crate) struct Options {
    pub raw_quotes: bool,
    pub raw_escapes: bool,
    pub skip_unset_env: bool,
}

pub(crate) fn split_words_with(word: &str, escape: char, options: Options) -> Result<Vec<String>, ExpandError> {
    let no_env = |_: &str| None;
    Lexer::new(word, &no_env, escape, options).run(word).map(|(_, w)| w)
}

/// Go's `%q` for the strings Docker quotes in its messages.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

struct Words {
    buf: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn new() -> Words {
        Words { buf: String::new(), words: Vec::new(), in_word: false }
    }
    fn add_char(&mut self, c: char) {
        if c.is_whitespace() {
            if self.in_word && !self.buf.is_empty() {
                self.words.push(std::mem::take(&mut self.buf));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(c);
        }
    }
    fn add_raw_char(&mut self, c: char) {
        self.buf.push(c);
        self.in_word = true;
    }
    fn add_string(&mut self, s: &str) {
        for c in s.chars() {
            self.add_char(c);
        }
    }
    fn add_raw_string(&mut self, s: &str) {
        self.buf.push_str(s);
        self.in_word = true;
    }
    fn finish(mut self) -> Vec<String> {
        if !self.buf.is_empty() {
            self.words.push(std::mem::take(&mut self.buf));
        }
        self.words
    }
}

struct Lexer<'a> {
    chars: Vec<char>,
    pos: usize,
    env: &'a dyn Fn(&str) -> Option<String>,
    escape: char,
    options: Options,
    raw_escapes: bool,
}

type Res<T> = Result<T, String>;

impl<'a> Lexer<'a> {
    fn new(word: &str, env: &'a dyn Fn(&str) -> Option<String>, escape: char, options: Options) -> Lexer<'a> {
        Lexer { chars: word.chars().collect(), pos: 0, env, escape, options, raw_escapes: options.raw_escapes }
    }

    fn run(mut self, source: &str) -> Result<(String, Vec<String>), ExpandError> {
        let raw = self.raw_escapes;
        self.stop_on(None, raw)
            .map_err(|e| ExpandError(format!("failed to process {}: {}", go_quote(source), e)))
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.chars.get(self.pos).copied();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn stop_on(&mut self, stop: Option<char>, raw_escapes: bool) -> Res<(String, Vec<String>)> {
        let saved = self.raw_escapes;
        self.raw_escapes = raw_escapes;
        let r = self.stop_on_inner(stop);
        self.raw_escapes = saved;
        r
    }

    fn stop_on_inner(&mut self, stop: Option<char>) -> Res<(String, Vec<String>)> {
        let mut result = String::new();
        let mut words = Words::new();
        while let Some(ch) = self.peek() {
            if stop == Some(ch) {
                self.next();
                return Ok((result, words.finish()));
            }
            match ch {
                '$' => {
                    let tmp = self.dollar()?;
                    result.push_str(&tmp);
                    words.add_string(&tmp);
                }
                '<' => {
                    let tmp = self.possible_heredoc();
                    result.push_str(&tmp);
                    words.add_raw_string(&tmp);
                }
                '\'' => {
                    let tmp = self.single_quote()?;
                    result.push_str(&tmp);
                    words.add_raw_string(&tmp);
                }
                '"' => {
                    let tmp = self.double_quote()?;
                    result.push_str(&tmp);
                    words.add_raw_string(&tmp);
                }
                _ => {
                    let mut ch = self.next().unwrap_or(ch);
                    if ch == self.escape {
                        if self.raw_escapes {
                            words.add_raw_char(ch);
                            result.push(ch);
                        }
                        match self.next() {
                            None => break,
                            Some(c) => ch = c,
                        }
                        words.add_raw_char(ch);
                    } else {
                        words.add_char(ch);
                    }
                    result.push(ch);
                }
            }
        }
        if let Some(stop) = stop {
            return Err(format!("unexpected end of statement while looking for matching {stop}"));
        }
        Ok((result, words.finish()))
    }

    fn single_quote(&mut self) -> Res<String> {
        let mut result = String::new();
        let q = self.next().unwrap_or('\'');
        if self.options.raw_quotes {
            result.push(q);
        }
        loop {
            match self.next() {
                None => return Err("unexpected end of statement while looking for matching single-quote".into()),
                Some('\'') => {
                    if self.options.raw_quotes {
                        result.push('\'');
                    }
                    return Ok(result);
                }
                Some(c) => result.push(c),
            }
        }
    }

    fn double_quote(&mut self) -> Res<String> {
        let mut result = String::new();
        let q = self.next().unwrap_or('"');
        if self.options.raw_quotes {
            result.push(q);
        }
        loop {
            match self.peek() {
                None => return Err("unexpected end of statement while looking for matching double-quote".into()),
                Some('"') => {
                    self.next();
                    if self.options.raw_quotes {
                        result.push('"');
                    }
                    return Ok(result);
                }
                Some('$') => {
                    let v = self.dollar()?;
                    result.push_str(&v);
                }
                Some(_) => {
                    let mut ch = self.next().unwrap_or_default();
                    if ch == self.escape {
                        if self.raw_escapes {
                            result.push(ch);
                        }
                        match self.peek() {
                            None => continue,
                            Some(c) if c == '"' || c == '$' || c == self.escape => {
                                ch = c;
                                self.next();
                            }
                            Some(_) => {}
                        }
                    }
                    result.push(ch);
                }
            }
        }
    }

    fn getenv(&self, name: &str) -> Option<String> {
        (self.env)(name)
    }

    fn dollar(&mut self) -> Res<String> {
        self.next();
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(match self.getenv(&name) {
                Some(v) => v,
                None if self.options.skip_unset_env => format!("${name}"),
                None => String::new(),
            });
        }
        self.next();
        match self.peek() {
            None => return Err("syntax error: missing '}'".into()),
            Some('{') | Some('}') | Some(':') => return Err("syntax error: bad substitution".into()),
            _ => {}
        }
        let name = self.name();
        let ch = self.next();
        let mut chs: String = ch.map(String::from).unwrap_or_else(|| "\u{fffd}".into());
        let mut null_is_unset = false;
        let modifier = match ch {
            Some('}') => {
                return Ok(match self.getenv(&name) {
                    Some(v) => v,
                    None if self.options.skip_unset_env => format!("${{{name}}}"),
                    None => String::new(),
                });
            }
            Some(':') => {
                null_is_unset = true;
                let c = self.next();
                chs.push(c.unwrap_or('\u{fffd}'));
                c
            }
            Some('+') | Some('-') | Some('?') | Some('#') | Some('%') => ch,
            Some('/') => return self.replace(&name),
            _ => return Err(format!("unsupported modifier ({chs}) in substitution")),
        };
        let raw = matches!(modifier, Some('#') | Some('%'));
        if null_is_unset && raw {
            return Err(format!("unsupported modifier ({chs}) in substitution"));
        }
        let word = match self.stop_on(Some('}'), raw) {
            Ok((w, _)) => w,
            Err(e) => {
                if self.peek().is_none() {
                    return Err("syntax error: missing '}'".into());
                }
                return Err(e);
            }
        };
        let value = self.getenv(&name);
        if self.options.skip_unset_env && value.is_none() {
            return Ok(format!("${{{name}{chs}{word}}}"));
        }
        let set = value.is_some();
        let value = value.unwrap_or_default();
        match modifier {
            Some('-') => Ok(if !set || (null_is_unset && value.is_empty()) { word } else { value }),
            Some('+') => Ok(if !set || (null_is_unset && value.is_empty()) { String::new() } else { word }),
            Some('?') => {
                if !set {
                    let m = if word.is_empty() { "is not allowed to be unset".to_string() } else { word };
                    return Err(format!("{name}: {m}"));
                }
                if null_is_unset && value.is_empty() {
                    let m = if word.is_empty() { "is not allowed to be empty".to_string() } else { word };
                    return Err(format!("{name}: {m}"));
                }
                Ok(value)
            }
            Some(c @ ('%' | '#')) => {
                let (greedy, pattern) = match word.strip_prefix(c) {
                    Some(rest) => (true, rest.to_string()),
                    None => (false, word),
                };
                if c == '%' {
                    trim_suffix(&pattern, &value, greedy)
                } else {
                    trim_prefix(&pattern, &value, greedy)
                }
            }
            _ => Err(format!("unsupported modifier ({chs}) in substitution")),
        }
    }

    fn replace(&mut self, name: &str) -> Res<String> {
        let all = self.peek() == Some('/');
        if all {
            self.next();
        }
        let pattern = match self.stop_on(Some('/'), true) {
            Ok((p, _)) => p,
            Err(e) => {
                if self.peek().is_none() {
                    return Err("syntax error: missing '/' in ${}".into());
                }
                return Err(e);
            }
        };
        let replacement = match self.stop_on(Some('}'), true) {
            Ok((r, _)) => r,
            Err(e) => {
                if self.peek().is_none() {
                    return Err("syntax error: missing '}'".into());
                }
                return Err(e);
            }
        };
        let value = self.getenv(name);
        if self.options.skip_unset_env && value.is_none() {
            return Ok(format!("${{{name}/{pattern}/{replacement}}}"));
        }
        let value: Vec<char> = value.unwrap_or_default().chars().collect();
        let tokens = compile_pattern(&pattern)
            .map_err(|e| format!("invalid pattern ({pattern}) in substitution: {e}"))?;
        let mut out = String::new();
        let mut copied = 0;
        let mut start = 0;
        let mut last_end: Option<usize> = None;
        while start <= value.len() {
            let found = (start..=value.len()).find_map(|s| {
                match_at(&tokens, &value, 0, s, true).filter(|&e| !(e == s && last_end == Some(s))).map(|e| (s, e))
            });
            let Some((s, e)) = found else { break };
            out.extend(&value[copied..s]);
            out.push_str(&replacement);
            copied = e;
            last_end = Some(e);
            start = if e > s { e } else { s + 1 };
            if !all {
                break;
            }
        }
        out.extend(&value[copied.min(value.len())..]);
        Ok(out)
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && ch.is_numeric() {
                while let Some(d) = self.peek().filter(|c| c.is_numeric()) {
                    name.push(d);
                    self.next();
                }
                return name;
            }
            if name.is_empty() && matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.next();
                return ch.to_string();
            }
            if !ch.is_alphabetic() && !ch.is_numeric() && ch != '_' {
                break;
            }
            self.next();
            name.push(ch);
        }
        name
    }

    fn possible_heredoc(&mut self) -> String {
        self.next();
        if self.peek() != Some('<') {
            return "<".into();
        }
        self.next();
        let mut result = String::from("<<");
        while let Some(c) = self.peek().filter(|c| matches!(c, '\t' | '\r' | ' ')) {
            result.push(c);
            self.next();
        }
        result
    }
}

/// One element of a `${VAR#pattern}` shell pattern (`*` any run, `?` one character; as in
/// Docker, neither matches a newline).
#[derive(Debug, Clone, Copy, PartialEq)]
enum PatternToken {
    Star,
    Any,
    Literal(char),
}

fn compile_pattern(pattern: &str) -> Result<Vec<PatternToken>, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' => out.push(PatternToken::Star),
            '?' => out.push(PatternToken::Any),
            '\\' => {
                // `\}` and `\/` were escapes of the ${} syntax, not of the pattern.
                if matches!(chars.get(i), Some('}') | Some('/')) {
                    continue;
                }
                let next = chars.get(i).copied();
                i += 1;
                match next {
                    Some(t @ ('*' | '?' | '\\')) => out.push(PatternToken::Literal(t)),
                    other => return Err(format!("invalid escape '\\{}'", other.unwrap_or('\u{fffd}'))),
                }
            }
            c => out.push(PatternToken::Literal(c)),
        }
    }
    Ok(out)
}

/// The end of the first match of `tokens` at `s[start..]` in the priority order of Go's
/// (leftmost-first) regexp: each `*` as long (greedy) or as short as possible.
fn match_at(tokens: &[PatternToken], s: &[char], ti: usize, si: usize, greedy: bool) -> Option<usize> {
    let Some(tok) = tokens.get(ti) else { return Some(si) };
    match *tok {
        PatternToken::Literal(c) => {
            if s.get(si) == Some(&c) {
                match_at(tokens, s, ti + 1, si + 1, greedy)
            } else {
                None
            }
        }
        PatternToken::Any => match s.get(si) {
            Some(&c) if c != '\n' => match_at(tokens, s, ti + 1, si + 1, greedy),
            _ => None,
        },
        PatternToken::Star => {
            let max = s[si..].iter().take_while(|&&c| c != '\n').count();
            if greedy {
                (0..=max).rev().find_map(|k| match_at(tokens, s, ti + 1, si + k, greedy))
            } else {
                (0..=max).find_map(|k| match_at(tokens, s, ti + 1, si + k, greedy))
            }
        }
    }
}

fn trim_prefix_tokens(tokens: &[PatternToken], value: &[char], greedy: bool) -> String {
    match match_at(tokens, value, 0, 0, greedy) {
        Some(end) => value[end..].iter().collect(),
        None => value.iter().collect(),
    }
}

fn trim_prefix(pattern: &str, value: &str, greedy: bool) -> Res<String> {
    let tokens = compile_pattern(pattern).map_err(|e| format!("invalid pattern ({pattern}) in substitution: {e}"))?;
    let value: Vec<char> = value.chars().collect();
    Ok(trim_prefix_tokens(&tokens, &value, greedy))
}

fn trim_suffix(pattern: &str, value: &str, greedy: bool) -> Res<String> {
    // The shortest or longest suffix is the shortest or longest prefix of both reversed.
    let mut tokens =
        compile_pattern(pattern).map_err(|e| format!("invalid pattern ({pattern}) in substitution: {e}"))?;
    tokens.reverse();
    let reversed: Vec<char> = value.chars().rev().collect();
    Ok(trim_prefix_tokens(&tokens, &reversed, greedy).chars().rev().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let v: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name: &str| v.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    fn x(word: &str) -> Result<String, ExpandError> {
        let env = env_of(&[("HOME", "/root"), ("EMPTY", ""), ("NAME", "dockbox"), ("FILE", "dir/sub/file.tar.gz")]);
        expand(word, &env, '\\')
    }

    #[test]
    fn dockerfile_reference_environment_replacement_examples() {
        // The reference's examples: ${variable:-word} and ${variable:+word}.
        let env = env_of(&[("FOO", "/bar")]);
        assert_eq!(expand("${FOO:-default}", &env, '\\').unwrap(), "/bar");
        assert_eq!(expand("${UNSET:-default}", &env, '\\').unwrap(), "default");
        assert_eq!(expand("${FOO:+word}", &env, '\\').unwrap(), "word");
        assert_eq!(expand("${UNSET:+word}", &env, '\\').unwrap(), "");
        // ENV FOO=/bar; WORKDIR ${FOO}; ADD . $FOO; COPY \$FOO /quux
        assert_eq!(expand("${FOO}", &env, '\\').unwrap(), "/bar");
        assert_eq!(expand("$FOO", &env, '\\').unwrap(), "/bar");
        assert_eq!(expand("\\$FOO", &env, '\\').unwrap(), "$FOO");
        assert_eq!(expand("${FOO}/x", &env, '\\').unwrap(), "/bar/x");
        // With the backtick escape, \ is literal.
        assert_eq!(expand("`$FOO", &env, '`').unwrap(), "$FOO");
        assert_eq!(expand("c:\\$FOO", &env, '`').unwrap(), "c:\\/bar");
    }

    #[test]
    fn unset_and_empty_modifiers() {
        assert_eq!(x("${EMPTY-x}").unwrap(), "");
        assert_eq!(x("${EMPTY:-x}").unwrap(), "x");
        assert_eq!(x("${UNSET-x}").unwrap(), "x");
        assert_eq!(x("${EMPTY+x}").unwrap(), "x");
        assert_eq!(x("${EMPTY:+x}").unwrap(), "");
        assert_eq!(x("${UNSET+x}").unwrap(), "");
        assert_eq!(x("a${UNSET:-${NAME:-y}}b").unwrap(), "adockboxb");
        assert_eq!(x("${NAME?}").unwrap(), "dockbox");
        assert_eq!(x("${EMPTY?}").unwrap(), "");
        assert_eq!(x("${UNSET?}").unwrap_err().0, "failed to process \"${UNSET?}\": UNSET: is not allowed to be unset");
        assert_eq!(x("${EMPTY:?must be set}").unwrap_err().0, "failed to process \"${EMPTY:?must be set}\": EMPTY: must be set");
        assert_eq!(x("${EMPTY:?}").unwrap_err().0, "failed to process \"${EMPTY:?}\": EMPTY: is not allowed to be empty");
    }

    #[test]
    fn pattern_modifiers() {
        assert_eq!(x("${FILE#*/}").unwrap(), "sub/file.tar.gz");
        assert_eq!(x("${FILE##*/}").unwrap(), "file.tar.gz");
        assert_eq!(x("${FILE%.*}").unwrap(), "dir/sub/file.tar");
        assert_eq!(x("${FILE%%.*}").unwrap(), "dir/sub/file");
        assert_eq!(x("${FILE/sub/SUB}").unwrap(), "dir/SUB/file.tar.gz");
        assert_eq!(x("${NAME/o/0}").unwrap(), "d0ckbox");
        assert_eq!(x("${NAME//o/0}").unwrap(), "d0ckb0x");
        assert_eq!(x("${NAME#?}").unwrap(), "ockbox");
        assert_eq!(x("${NAME%\\*}").unwrap(), "dockbox");
        assert!(x("${NAME:#x}").unwrap_err().0.contains("unsupported modifier (:#) in substitution"));
        assert!(x("${NAME%\\x}").unwrap_err().0.contains("invalid escape '\\x'"));
    }

    #[test]
    fn syntax_errors_use_dockers_words() {
        assert_eq!(x("${}").unwrap_err().0, "failed to process \"${}\": syntax error: bad substitution");
        assert_eq!(x("${:-x}").unwrap_err().0, "failed to process \"${:-x}\": syntax error: bad substitution");
        // Docker reads the end of the word as the modifier here.
        assert_eq!(x("a${NAME").unwrap_err().0, "failed to process \"a${NAME\": unsupported modifier (\u{fffd}) in substitution");
        assert_eq!(x("a${").unwrap_err().0, "failed to process \"a${\": syntax error: missing '}'");
        assert_eq!(x("${NAME:-x").unwrap_err().0, "failed to process \"${NAME:-x\": syntax error: missing '}'");
        assert_eq!(x("${NAME:=x}").unwrap_err().0, "failed to process \"${NAME:=x}\": unsupported modifier (:=) in substitution");
        assert_eq!(x("${NAME:x}").unwrap_err().0, "failed to process \"${NAME:x}\": unsupported modifier (:x) in substitution");
        assert_eq!(x("${.}").unwrap_err().0, "failed to process \"${.}\": unsupported modifier (.) in substitution");
        assert!(x("'abc").unwrap_err().0.ends_with("unexpected end of statement while looking for matching single-quote"));
        assert!(x("\"abc").unwrap_err().0.ends_with("unexpected end of statement while looking for matching double-quote"));
        assert!(x("\"abc\\\"").is_err());
    }

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(x("'$HOME'").unwrap(), "$HOME");
        assert_eq!(x("\"$HOME\"").unwrap(), "/root");
        assert_eq!(x("\"'$HOME'\"").unwrap(), "'/root'");
        assert_eq!(x("he'll'o").unwrap(), "hello");
        assert_eq!(x("he\\'llo").unwrap(), "he'llo");
        assert_eq!(x("abc\\tdef").unwrap(), "abctdef");
        assert_eq!(x("\"abc\\tdef\"").unwrap(), "abc\\tdef");
        assert_eq!(x("\"abc\\\\def\"").unwrap(), "abc\\def");
        assert_eq!(x("'abc\\tdef'").unwrap(), "abc\\tdef");
        assert_eq!(x("hello\\").unwrap(), "hello");
        assert_eq!(x("hello\\\\").unwrap(), "hello\\");
        assert_eq!(x("'hello\\'").unwrap(), "hello\\");
        assert_eq!(x("\"he\\$HOME\"").unwrap(), "he$HOME");
        assert_eq!(x("he\\\\$HOME").unwrap(), "he\\/root");
        assert_eq!(x("\\${}").unwrap(), "${}");
        assert_eq!(x("$.").unwrap(), "$.");
        assert_eq!(x("he$1x").unwrap(), "hex");
        assert_eq!(x("${aaa}}").unwrap(), "}");
        assert_eq!(x("${aaa:-bbb {foo}").unwrap(), "bbb {foo");
        assert_eq!(x("${UNSET:-\\${HOME}z}xx").unwrap(), "${HOMEz}xx");
        assert_eq!(x("안'녕'$NAME").unwrap(), "안녕dockbox");
        // Special and positional parameters are never set in a Dockerfile.
        assert_eq!(x("$@@@").unwrap(), "@@");
        assert_eq!(x("${999:-b}aaa").unwrap(), "baaa");
        assert_eq!(x("$$").unwrap(), "");
    }

    #[test]
    fn words_split_after_expansion() {
        let env = env_of(&[("SPACE", "abc  def"), ("LEAD", "  ab c"), ("PORTS", "80/tcp 443")]);
        let w = |s: &str| expand_words(s, &env, '\\').unwrap();
        assert_eq!(w("hello${SPACE}bye"), ["helloabc", "defbye"]);
        assert_eq!(w("hello\"${SPACE}\"bye"), ["helloabc  defbye"]);
        assert_eq!(w("hello${LEAD}def"), ["hello", "ab", "cdef"]);
        assert_eq!(w("hello\\ there"), ["hello there"]);
        assert_eq!(w("hello\" there  \""), ["hello there  "]);
        assert_eq!(w("  a   b  "), ["a", "b"]);
        assert_eq!(w("$PORTS 8080"), ["80/tcp", "443", "8080"]);
        assert_eq!(w("a \"\" b"), ["a", "b"]);
        assert!(expand_words("hello\" there", &env, '\\').is_err());
    }

    #[test]
    fn go_quote_escapes_like_go() {
        assert_eq!(go_quote("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
        assert_eq!(go_quote("é"), "\"é\"");
    }
}
