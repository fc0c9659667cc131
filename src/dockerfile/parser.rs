//! The line level of Docker's Dockerfile parser: parser directives, comments, line
//! continuations, heredoc bodies, and the split of each instruction into keyword, `--flags`
//! and arguments by the instruction's own rule (JSON array or shell form, words, key=value
//! pairs). [`super::instructions`] turns these nodes into typed instructions.

use super::shell::{self, Options};

/// One instruction as the line parser sees it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Node {
    /// The keyword as written (`run`, `RUN`, ...).
    pub keyword: String,
    pub flags: Vec<String>,
    /// The arguments (for ENV and LABEL: key, value, "=" or "" triples; for ONBUILD the
    /// trigger's keyword followed by its arguments; for HEALTHCHECK the type then the command).
    pub args: Vec<String>,
    /// The arguments were a JSON array (exec form).
    pub json: bool,
    /// The whole logical line, continuations joined.
    pub original: String,
    pub start_line: usize,
    pub end_line: usize,
    /// Names of the heredocs the line opened (their bodies were consumed).
    pub heredocs: Vec<String>,
    /// ONBUILD's trigger.
    pub sub: Option<Box<Node>>,
}

/// A line-level failure: the message (Docker's words) and the lines it covers.
#[derive(Debug, Clone)]
pub(crate) struct LineError {
    pub message: String,
    pub start_line: usize,
    pub end_line: usize,
}

#[derive(Debug)]
pub(crate) struct Parsed {
    pub nodes: Vec<Node>,
    pub escape: char,
    pub syntax: Option<String>,
    pub warnings: Vec<String>,
}

const MAX_LINE: usize = 64 * 1024 - 1;

#[derive(Default)]
struct Directives {
    done: bool,
    seen: Vec<String>,
    syntax: Option<String>,
    escape: Option<char>,
}

impl Directives {
    /// Docker's directive parser: only `#` lines before anything else, `key=value`, known keys
    /// only (an unknown one is a comment and ends the directives), each key once.
    fn line(&mut self, line: &str) -> Result<bool, String> {
        if self.done {
            return Ok(false);
        }
        let Some(rest) = line.strip_prefix('#') else {
            self.done = true;
            return Ok(false);
        };
        let rest = rest.trim_start();
        let Some((key, value)) = split_directive(rest) else {
            self.done = true;
            return Ok(false);
        };
        let key = key.to_ascii_lowercase();
        if !matches!(key.as_str(), "syntax" | "escape" | "check") {
            self.done = true;
            return Ok(false);
        }
        if self.seen.contains(&key) {
            return Err(format!("only one {key} parser directive can be used"));
        }
        self.seen.push(key.clone());
        match key.as_str() {
            "escape" => {
                if value != "`" && value != "\\" {
                    return Err(format!("invalid escape token '{value}' does not match ` or \\"));
                }
                self.escape = value.chars().next();
            }
            "syntax" => self.syntax = Some(value.to_string()),
            _ => {}
        }
        Ok(true)
    }
}

/// `^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`
fn split_directive(s: &str) -> Option<(&str, &str)> {
    let mut chars = s.char_indices();
    let (_, first) = chars.next()?;
    if !first.is_ascii_alphabetic() {
        return None;
    }
    let key_end = s.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(s.len());
    let key = &s[..key_end];
    let rest = s[key_end..].trim_start_matches(is_go_regexp_space);
    let rest = rest.strip_prefix('=')?;
    let value = rest.trim_start_matches(is_go_regexp_space).trim_end_matches(is_go_regexp_space);
    if value.is_empty() {
        return None;
    }
    Some((key, value))
}

/// `\s` of Go's regexp.
fn is_go_regexp_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0c' | '\r')
}

/// The whitespace of the parser's `[\t\v\f\r ]+` splits.
fn is_split_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\x0b' | '\x0c' | '\r')
}

fn trim_newline(s: &str) -> &str {
    s.trim_end_matches(['\r', '\n'])
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// Removes a trailing line-continuation escape; false when the line ends the instruction.
fn trim_continuation(line: &str, escape: char) -> (String, bool) {
    let body = line.trim_end_matches([' ', '\t']);
    if let Some(before) = body.strip_suffix(escape) {
        match before.chars().last() {
            None => return (String::new(), false),
            Some(c) if c != escape => return (before.to_string(), false),
            Some(_) => {}
        }
    }
    (line.to_string(), true)
}

struct Lines<'a> {
    lines: std::str::Split<'a, char>,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Lines<'a> {
        let text = text.strip_suffix('\n').unwrap_or(text);
        Lines { lines: text.split('\n') }
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        self.lines.next()
    }
}

pub(crate) fn parse(text: &str) -> Result<Parsed, LineError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let err = |message: String, start_line: usize, end_line: usize| LineError { message, start_line, end_line };
    let mut directives = Directives::default();
    let mut escape = '\\';
    let mut nodes = Vec::new();
    let mut warnings = Vec::new();
    let mut line_no = 0;
    if text.is_empty() {
        return Err(err("file with no instructions".into(), 1, 1));
    }
    let mut lines = Lines::new(text);
    while let Some(raw) = lines.next() {
        if raw.len() > MAX_LINE {
            return Err(err(format!("dockerfile line greater than max allowed size of {MAX_LINE}"), line_no + 1, line_no + 1));
        }
        let first = trim_newline(raw).trim_start();
        directives.line(first).map_err(|m| err(m, line_no + 1, line_no + 1))?;
        if let Some(e) = directives.escape {
            escape = e;
        }
        let first = if is_comment(first) { "" } else { first };
        line_no += 1;
        let start = line_no;
        let (mut text, mut end) = trim_continuation(first, escape);
        if end && text.is_empty() {
            continue;
        }
        let mut empty_continuation = false;
        while !end {
            let Some(raw) = lines.next() else { break };
            if raw.len() > MAX_LINE {
                return Err(err(format!("dockerfile line greater than max allowed size of {MAX_LINE}"), line_no + 1, line_no + 1));
            }
            line_no += 1;
            if is_comment(raw) {
                continue;
            }
            let line = trim_newline(raw);
            if line.trim_start().is_empty() {
                empty_continuation = true;
                continue;
            }
            let (t, e) = trim_continuation(line, escape);
            text.push_str(&t);
            end = e;
        }
        if empty_continuation {
            warnings.push(format!("Empty continuation line found in: {text}"));
        }
        let mut node = node_from_line(&text, escape).map_err(|m| err(m, start, line_no))?;
        if can_contain_heredoc(&node) && text.contains("<<") {
            for (name, chomp) in heredocs_from_line(&text).map_err(|m| err(m, start, line_no))? {
                let mut terminated = false;
                for raw in lines.by_ref() {
                    line_no += 1;
                    let mut candidate = trim_newline(raw);
                    if chomp {
                        candidate = candidate.trim_start_matches('\t');
                    }
                    if candidate == name {
                        terminated = true;
                        break;
                    }
                }
                if !terminated {
                    return Err(err("unterminated heredoc".into(), start, line_no));
                }
                node.heredocs.push(name);
            }
        }
        node.start_line = start;
        node.end_line = line_no;
        nodes.push(node);
    }
    if nodes.is_empty() {
        return Err(err("file with no instructions".into(), line_no.max(1), line_no.max(1)));
    }
    Ok(Parsed { nodes, escape, syntax: directives.syntax, warnings })
}

fn can_contain_heredoc(node: &Node) -> bool {
    let node = match &node.sub {
        Some(sub) if node.keyword.eq_ignore_ascii_case("onbuild") => sub,
        _ => node,
    };
    let k = node.keyword.to_ascii_lowercase();
    matches!(k.as_str(), "add" | "copy" | "run") && !node.json
}

/// The heredocs a line opens, as Docker finds them: `[n]<<[-]WORD` among the line's words.
fn heredocs_from_line(line: &str) -> Result<Vec<(String, bool)>, String> {
    let options = Options { raw_quotes: true, raw_escapes: true, skip_unset_env: true };
    let words = shell::split_words_with(line, '\\', options).unwrap_or_default();
    let mut out = Vec::new();
    for word in words {
        if let Some(h) = parse_heredoc_word(&word)? {
            out.push(h);
        }
    }
    Ok(out)
}

/// `^(\d*)<<(-?)\s*([^<]*)$`, the word lexing to exactly one word.
pub(crate) fn parse_heredoc_word(word: &str) -> Result<Option<(String, bool)>, String> {
    let rest = word.trim_start_matches(|c: char| c.is_ascii_digit());
    let Some(rest) = rest.strip_prefix("<<") else { return Ok(None) };
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let rest = rest.trim_start_matches(is_go_regexp_space);
    if rest.is_empty() || rest.contains('<') {
        return Ok(None);
    }
    let options = Options { raw_quotes: false, raw_escapes: false, skip_unset_env: true };
    let words = shell::split_words_with(rest, '\\', options).map_err(|e| e.0)?;
    if words.len() != 1 {
        return Ok(None);
    }
    Ok(Some((words[0].clone(), chomp)))
}

fn split_command(line: &str, escape: char) -> (String, Vec<String>, String) {
    let line = line.trim();
    match line.find(is_split_space) {
        None => (line.to_string(), Vec::new(), String::new()),
        Some(i) => {
            let keyword = &line[..i];
            let rest = line[i..].trim_start_matches(is_split_space);
            let (args, flags) = extract_flags(rest, escape);
            (keyword.to_string(), flags, args.trim().to_string())
        }
    }
}

/// Takes the leading `--flag[=value]` words off an instruction's arguments (quotes and escapes
/// processed in them); `--` alone ends the flags.
fn extract_flags(line: &str, escape: char) -> (String, Vec<String>) {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut pos = 0;
    while pos <= chars.len() {
        let at_end = pos == chars.len();
        let ch = if at_end { '\0' } else { chars[pos].1 };
        if phase == Phase::Spaces {
            if at_end {
                break;
            }
            if ch.is_whitespace() {
                pos += 1;
                continue;
            }
            if ch != '-' || chars.get(pos + 1).map(|c| c.1) != Some('-') {
                return (line[chars[pos].0..].to_string(), words);
            }
            phase = Phase::Word;
        }
        if at_end {
            if word != "--" && (blank_ok || !word.is_empty()) {
                words.push(word);
            }
            break;
        }
        if phase == Phase::Word {
            if ch.is_whitespace() {
                phase = Phase::Spaces;
                if word == "--" {
                    return (line[chars[pos].0..].to_string(), words);
                }
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                word.clear();
                blank_ok = false;
                pos += 1;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
                pos += 1;
                continue;
            }
            let mut c = ch;
            if ch == escape {
                if pos + 1 == chars.len() {
                    pos += 1;
                    continue;
                }
                pos += 1;
                c = chars[pos].1;
            }
            word.push(c);
            pos += 1;
            continue;
        }
        // In quotes.
        if ch == quote {
            phase = Phase::Word;
            pos += 1;
            continue;
        }
        let mut c = ch;
        if ch == escape {
            if pos + 1 == chars.len() {
                phase = Phase::Word;
                pos += 1;
                continue;
            }
            pos += 1;
            c = chars[pos].1;
        }
        word.push(c);
        pos += 1;
    }
    (String::new(), words)
}

/// Splits on whitespace keeping quotes and escapes in the words (they are processed when the
/// word is expanded).
pub(crate) fn parse_words(rest: &str, escape: char) -> Vec<String> {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let chars: Vec<char> = rest.chars().collect();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut word = String::new();
    let mut pos = 0;
    while pos <= chars.len() {
        let at_end = pos == chars.len();
        let mut ch = if at_end { '\0' } else { chars[pos] };
        if phase == Phase::Spaces {
            if at_end {
                break;
            }
            if ch.is_whitespace() {
                pos += 1;
                continue;
            }
            phase = Phase::Word;
        }
        if at_end {
            if blank_ok || !word.is_empty() {
                words.push(word);
            }
            break;
        }
        if phase == Phase::Word {
            if ch.is_whitespace() {
                phase = Phase::Spaces;
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                blank_ok = false;
                pos += 1;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
            }
            if ch == escape {
                if pos + 1 == chars.len() {
                    pos += 1;
                    continue;
                }
                word.push(ch);
                pos += 1;
                ch = chars[pos];
            }
            word.push(ch);
            pos += 1;
            continue;
        }
        // In quotes.
        if ch == quote {
            phase = Phase::Word;
        }
        if ch == escape && quote != '\'' {
            if pos + 1 == chars.len() {
                phase = Phase::Word;
                pos += 1;
                continue;
            }
            pos += 1;
            word.push(ch);
            ch = chars[pos];
        }
        word.push(ch);
        pos += 1;
    }
    words
}

fn split_whitespace_delimited(rest: &str) -> Vec<String> {
    if rest.is_empty() {
        return Vec::new();
    }
    rest.split(is_split_space).filter(|s| !s.is_empty()).map(String::from).collect()
}

/// A JSON array of strings; `Ok(None)` when the text is not a JSON array at all.
fn parse_json(rest: &str) -> Result<Option<Vec<String>>, String> {
    let rest = rest.trim_start();
    if !rest.starts_with('[') {
        return Ok(None);
    }
    let Ok(values) = serde_json::from_str::<Vec<serde_json::Value>>(rest) else { return Ok(None) };
    values
        .into_iter()
        .map(|v| match v {
            serde_json::Value::String(s) => Ok(s),
            _ => Err("when using JSON array syntax, arrays must be comprised of strings only".to_string()),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn maybe_json(rest: &str) -> Result<(Vec<String>, bool), String> {
    if rest.is_empty() {
        return Ok((Vec::new(), false));
    }
    match parse_json(rest)? {
        Some(v) => Ok((v, true)),
        None => Ok((vec![rest.to_string()], false)),
    }
}

fn maybe_json_to_list(rest: &str) -> Result<(Vec<String>, bool), String> {
    match parse_json(rest)? {
        Some(v) => Ok((v, true)),
        None => Ok((split_whitespace_delimited(rest), false)),
    }
}

/// ENV and LABEL: `key value` (old form, the rest of the line is the value) or
/// `key=value ...` pairs.
fn name_val(rest: &str, keyword: &str, escape: char) -> Result<Vec<String>, String> {
    let words = parse_words(rest, escape);
    if words.is_empty() {
        return Ok(Vec::new());
    }
    if !words[0].contains('=') {
        let Some(i) = rest.find(is_split_space) else {
            return Err(format!("{keyword} must have two arguments"));
        };
        let key = &rest[..i];
        let value = rest[i..].trim_start_matches(is_split_space);
        return Ok(vec![key.to_string(), value.to_string(), String::new()]);
    }
    let mut out = Vec::new();
    for word in words {
        let Some((k, v)) = word.split_once('=') else {
            return Err(format!(
                "Syntax error - can't find = in {}. Must be of the form: name=value",
                shell::go_quote(&word)
            ));
        };
        out.extend([k.to_string(), v.to_string(), "=".to_string()]);
    }
    Ok(out)
}

fn node_from_line(line: &str, escape: char) -> Result<Node, String> {
    let (keyword, flags, rest) = split_command(line, escape);
    let mut node = Node { keyword: keyword.clone(), flags, original: line.to_string(), ..Node::default() };
    match keyword.to_ascii_lowercase().as_str() {
        "add" | "copy" | "volume" => {
            let (args, json) = maybe_json_to_list(&rest)?;
            node.args = args;
            node.json = json;
        }
        "cmd" | "entrypoint" | "run" | "shell" => {
            let (args, json) = maybe_json(&rest)?;
            node.args = args;
            node.json = json;
        }
        "arg" => node.args = parse_words(&rest, escape),
        "env" => node.args = name_val(&rest, "ENV", escape)?,
        "label" => node.args = name_val(&rest, "LABEL", escape)?,
        "expose" | "from" => node.args = split_whitespace_delimited(&rest),
        "maintainer" | "stopsignal" | "user" | "workdir" if !rest.is_empty() => node.args = vec![rest],
        "healthcheck" => {
            let sep = rest.find(char::is_whitespace).unwrap_or(rest.len());
            if sep > 0 {
                let typ = &rest[..sep];
                let (args, json) = maybe_json(rest[sep..].trim_start())?;
                node.args = std::iter::once(typ.to_string()).chain(args).collect();
                node.json = json;
            }
        }
        "onbuild" if !rest.is_empty() => {
            let sub = node_from_line(&rest, escape)?;
            node.args = std::iter::once(sub.keyword.clone()).chain(sub.args.iter().cloned()).collect();
            node.sub = Some(Box::new(sub));
        }
        _ => {}
    }
    Ok(node)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(text: &str) -> Vec<Node> {
        parse(text).unwrap().nodes
    }

    #[test]
    fn words_keep_quotes_and_escapes() {
        assert_eq!(parse_words("foo bar 'abc xyz'", '\\'), ["foo", "bar", "'abc xyz'"]);
        assert_eq!(parse_words("foo\\ bar", '\\'), ["foo\\ bar"]);
        assert_eq!(parse_words("a=\"x y\" b=''", '\\'), ["a=\"x y\"", "b=''"]);
        assert_eq!(parse_words("àöû", '\\'), ["àöû"]);
    }

    #[test]
    fn flags_are_taken_off_the_front() {
        assert_eq!(extract_flags("--from=a --chown=\"x y\" src dst", '\\'), ("src dst".to_string(), vec!["--from=a".to_string(), "--chown=x y".to_string()]));
        assert_eq!(extract_flags("-- --x a", '\\'), (" --x a".to_string(), vec![]));
        assert_eq!(extract_flags("--doit -- [ ]", '\\'), (" [ ]".to_string(), vec!["--doit".to_string()]));
        assert_eq!(extract_flags("src --from=a", '\\'), ("src --from=a".to_string(), vec![]));
    }

    #[test]
    fn continuation_regex_semantics() {
        assert_eq!(trim_continuation("echo \\", '\\'), ("echo ".to_string(), false));
        assert_eq!(trim_continuation("echo\\  \t", '\\'), ("echo".to_string(), false));
        assert_eq!(trim_continuation("\\", '\\'), (String::new(), false));
        assert_eq!(trim_continuation("echo \\\\", '\\'), ("echo \\\\".to_string(), true));
        assert_eq!(trim_continuation("c:\\", '`'), ("c:\\".to_string(), true));
        assert_eq!(trim_continuation("dir `", '`'), ("dir ".to_string(), false));
    }

    #[test]
    fn continuation_lines_as_docker_joins_them() {
        let n = nodes("FROM ubuntu\nRUN echo hello\\\n  world\\\n  goodnight  \\\n  moon\nRUN echo hi \\\n \\\n world \\\n\\\n good\\\n\\\nnight\n");
        assert_eq!(n[1].args, ["echo hello  world  goodnight    moon"]);
        assert_eq!(n[2].args, ["echo hi   world  goodnight"]);
        assert_eq!((n[1].start_line, n[1].end_line), (2, 5));
        let n = nodes("FROM x\nRUN echo hello \\\n# this is a comment\n\n# another\n\nthis is more\n");
        assert_eq!(n[1].args, ["echo hello this is more"]);
        assert_eq!((n[1].start_line, n[1].end_line), (2, 7));
        let p = parse("FROM x\nRUN a \\\n\n  b\n").unwrap();
        assert_eq!(p.warnings, ["Empty continuation line found in: RUN a   b"]);
    }

    #[test]
    fn env_and_label_nodes() {
        let n = nodes("ENV name value\nENV a=b c=\"d e\"\nLABEL maintainer docker <docker@docker.io>\nENV SCUBA 1 DUBA 3\n");
        assert_eq!(n[0].args, ["name", "value", ""]);
        assert_eq!(n[1].args, ["a", "b", "=", "c", "\"d e\"", "="]);
        assert_eq!(n[2].args, ["maintainer", "docker <docker@docker.io>", ""]);
        assert_eq!(n[3].args, ["SCUBA", "1 DUBA 3", ""]);
        assert_eq!(parse("ENV a\n").unwrap_err().message, "ENV must have two arguments");
        assert_eq!(parse("LABEL a=b c\n").unwrap_err().message, "Syntax error - can't find = in \"c\". Must be of the form: name=value");
    }

    #[test]
    fn json_and_shell_forms() {
        let n = nodes("CMD [\"echo\", \"hi\"]\nCMD echo hi\nRUN [ \"a\"\nCMD ['a']\nVOLUME /a /b\nVOLUME [\"/c\"]\nCMD --doit -- [ ]\n");
        assert!(n[0].json);
        assert_eq!(n[0].args, ["echo", "hi"]);
        assert!(!n[1].json);
        assert_eq!(n[2].args, ["[ \"a\""]);
        assert_eq!(n[3].args, ["['a']"]);
        assert_eq!(n[4].args, ["/a", "/b"]);
        assert!(n[5].json);
        assert!(n[6].json && n[6].args.is_empty() && n[6].flags == ["--doit"]);
        assert_eq!(parse("CMD [\"a\", 1]\n").unwrap_err().message, "when using JSON array syntax, arrays must be comprised of strings only");
    }

    #[test]
    fn heredoc_words() {
        assert_eq!(parse_heredoc_word("<<EOF").unwrap(), Some(("EOF".to_string(), false)));
        assert_eq!(parse_heredoc_word("<<-\"EOT\"").unwrap(), Some(("EOT".to_string(), true)));
        assert_eq!(parse_heredoc_word("3<<X").unwrap(), Some(("X".to_string(), false)));
        assert_eq!(parse_heredoc_word("<<").unwrap(), None);
        assert_eq!(parse_heredoc_word("a<<b").unwrap(), None);
        let n = nodes("FROM x\nRUN <<EOF\necho hi\nEOF\nRUN cat <<-A >f\n\tbody\n\tA\nRUN [\"<<X\"]\n");
        assert_eq!(n[1].heredocs, ["EOF"]);
        assert_eq!((n[1].start_line, n[1].end_line), (2, 4));
        assert_eq!(n[2].heredocs, ["A"]);
        assert!(n[3].heredocs.is_empty());
        assert_eq!(parse("FROM x\nRUN <<EOF\necho\n").unwrap_err().message, "unterminated heredoc");
    }
}
