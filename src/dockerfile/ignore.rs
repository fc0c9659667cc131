//! `.dockerignore` files and the pattern matcher Docker uses with them (moby/patternmatcher and
//! its `ignorefile` reader, plus the rule of Docker's archive walk for excluded directories).
//!
//! Patterns are slash-separated paths relative to the context root: `*` and `?` never match
//! `/`, `[...]` is a character class, `**` matches any number of directories (zero included),
//! `\` escapes, a leading `!` makes an exception that re-includes what earlier patterns
//! excluded, and the last pattern that matches a path decides. A pattern that matches a
//! directory matches everything below it.

use std::fmt;

/// A bad pattern, with Docker's wording (`syntax error in pattern`,
/// `illegal exclusion pattern: "!"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError(pub String);

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PatternError {}

const BAD_PATTERN: &str = "syntax error in pattern";

/// Reads a `.dockerignore` as Docker does: a UTF-8 BOM dropped, lines starting with `#` are
/// comments, blank lines skipped, each pattern trimmed and cleaned (`filepath.Clean`), a
/// leading `/` dropped (`/a` and `a` are the same), `!` kept in front of exceptions.
pub fn read_ignore_file(text: &str) -> Vec<String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.starts_with('#') {
            continue;
        }
        let mut pattern = line.trim();
        if pattern.is_empty() {
            continue;
        }
        let invert = pattern.starts_with('!');
        if invert {
            pattern = pattern[1..].trim();
        }
        let mut cleaned = String::new();
        if !pattern.is_empty() {
            cleaned = clean_path(pattern);
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
        }
        out.push(if invert { format!("!{cleaned}") } else { cleaned });
    }
    out
}

/// Go's `filepath.Clean` for slash-separated paths.
pub fn clean_path(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// Go's `filepath.Dir` for slash-separated paths.
fn dir_of(path: &str) -> String {
    match path.rfind('/') {
        Some(i) => clean_path(&path[..=i]),
        None => ".".into(),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Literal(char),
    /// `?`: one character but `/`.
    OneNotSlash,
    /// `*`: any run without `/`.
    RunNotSlash,
    /// `**/` (or `**` followed by more pattern): nothing, or anything ending with `/`.
    Dirs,
    /// A trailing `**` after other wildcards: anything.
    Anything,
    Class { negated: bool, ranges: Vec<(char, char)> },
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Exact,
    /// Ends with `**` and has no other wildcard: a plain prefix.
    Prefix(String),
    /// Starts with `**` and has no other wildcard: a plain suffix.
    Suffix(String),
    Tokens(Vec<Token>),
}

/// One cleaned pattern of a [`PatternMatcher`].
#[derive(Debug, Clone)]
pub struct Pattern {
    cleaned: String,
    exclusion: bool,
    kind: Kind,
}

impl Pattern {
    /// The cleaned pattern, without its `!`.
    pub fn as_str(&self) -> &str {
        &self.cleaned
    }

    /// Whether this is an exception (`!pattern`).
    pub fn is_exclusion(&self) -> bool {
        self.exclusion
    }

    fn matches(&self, path: &str) -> bool {
        match &self.kind {
            Kind::Exact => path == self.cleaned,
            Kind::Prefix(p) => path.starts_with(p.as_str()),
            Kind::Suffix(s) => path.ends_with(s.as_str()) || (s.starts_with('/') && path == &s[1..]),
            Kind::Tokens(tokens) => {
                let chars: Vec<char> = path.chars().collect();
                full_match(tokens, &chars, 0, 0)
            }
        }
    }
}

fn full_match(tokens: &[Token], s: &[char], ti: usize, si: usize) -> bool {
    let Some(tok) = tokens.get(ti) else { return si == s.len() };
    match tok {
        Token::Literal(c) => s.get(si) == Some(c) && full_match(tokens, s, ti + 1, si + 1),
        Token::OneNotSlash => s.get(si).is_some_and(|&c| c != '/') && full_match(tokens, s, ti + 1, si + 1),
        Token::Class { negated, ranges } => match s.get(si) {
            Some(&c) => {
                let inside = ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi);
                inside != *negated && full_match(tokens, s, ti + 1, si + 1)
            }
            None => false,
        },
        Token::RunNotSlash => {
            let max = s[si..].iter().take_while(|&&c| c != '/').count();
            (0..=max).any(|k| full_match(tokens, s, ti + 1, si + k))
        }
        Token::Anything => {
            // Go's `.` does not match a newline.
            let max = s[si..].iter().take_while(|&&c| c != '\n').count();
            (0..=max).any(|k| full_match(tokens, s, ti + 1, si + k))
        }
        Token::Dirs => {
            if full_match(tokens, s, ti + 1, si) {
                return true;
            }
            let max = s[si..].iter().take_while(|&&c| c != '\n').count();
            (0..max).any(|k| s[si + k] == '/' && full_match(tokens, s, ti + 1, si + k + 1))
        }
    }
}

/// Parses `[...]` starting after the `[`; returns the class and the index after `]`.
fn parse_class(chars: &[char], mut i: usize) -> Result<(Token, usize), PatternError> {
    let bad = || PatternError(BAD_PATTERN.into());
    let mut negated = false;
    if chars.get(i) == Some(&'^') {
        negated = true;
        i += 1;
    }
    let mut ranges = Vec::new();
    loop {
        if chars.get(i) == Some(&']') && !ranges.is_empty() {
            return Ok((Token::Class { negated, ranges }, i + 1));
        }
        let (lo, ni) = class_char(chars, i).ok_or_else(bad)?;
        i = ni;
        let mut hi = lo;
        if chars.get(i) == Some(&'-') {
            let (h, ni) = class_char(chars, i + 1).ok_or_else(bad)?;
            hi = h;
            i = ni;
        }
        ranges.push((lo, hi));
    }
}

/// Go's `getEsc`: one (possibly escaped) class character, which must not be the class's end.
fn class_char(chars: &[char], mut i: usize) -> Option<(char, usize)> {
    let c = *chars.get(i)?;
    if c == '-' || c == ']' {
        return None;
    }
    if c == '\\' {
        i += 1;
    }
    let c = *chars.get(i)?;
    i += 1;
    if i >= chars.len() {
        return None;
    }
    Some((c, i))
}

/// Whether `filepath.Match` accepts `pattern` (its chunks' syntax: classes and escapes).
fn validate(pattern: &str) -> Result<(), PatternError> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '[' => {
                let (_, ni) = parse_class(&chars, i + 1)?;
                i = ni;
            }
            '\\' => {
                if i + 1 >= chars.len() {
                    return Err(PatternError(BAD_PATTERN.into()));
                }
                i += 2;
            }
            _ => i += 1,
        }
    }
    Ok(())
}

fn compile(pattern: &str) -> Result<Kind, PatternError> {
    // Mirrors the match-type detection of Docker's pattern compiler, quirks included (a
    // leading `**` followed by plain text is a plain suffix test).
    #[derive(PartialEq)]
    enum Detected {
        Exact,
        Prefix,
        Suffix,
        Tokens,
    }
    let chars: Vec<char> = pattern.chars().collect();
    let mut tokens = Vec::new();
    let mut detected = Detected::Exact;
    let mut i = 0;
    let mut iteration = 0;
    while i < chars.len() {
        let ch = chars[i];
        i += 1;
        match ch {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i >= chars.len() {
                    if detected == Detected::Exact {
                        detected = Detected::Prefix;
                    } else {
                        tokens.push(Token::Anything);
                        detected = Detected::Tokens;
                    }
                } else {
                    tokens.push(Token::Dirs);
                    detected = Detected::Tokens;
                }
                if iteration == 0 {
                    detected = Detected::Suffix;
                }
            }
            '*' => {
                tokens.push(Token::RunNotSlash);
                detected = Detected::Tokens;
            }
            '?' => {
                tokens.push(Token::OneNotSlash);
                detected = Detected::Tokens;
            }
            '\\' => match chars.get(i) {
                Some(&c) => {
                    i += 1;
                    tokens.push(Token::Literal(c));
                    detected = Detected::Tokens;
                }
                None => tokens.push(Token::Literal('\\')),
            },
            '[' => {
                let (class, ni) = parse_class(&chars, i)?;
                tokens.push(class);
                i = ni;
                detected = Detected::Tokens;
            }
            ']' => {
                tokens.push(Token::Literal(']'));
                detected = Detected::Tokens;
            }
            c => tokens.push(Token::Literal(c)),
        }
        iteration += 1;
    }
    Ok(match detected {
        Detected::Exact => Kind::Exact,
        Detected::Prefix => Kind::Prefix(pattern[..pattern.len() - 2].to_string()),
        Detected::Suffix => Kind::Suffix(pattern[2..].to_string()),
        Detected::Tokens => Kind::Tokens(tokens),
    })
}

/// The per-pattern results for a directory, handed to its entries
/// ([`PatternMatcher::matches_using_parent_results`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchInfo {
    parent_matched: Vec<bool>,
}

/// What a walk of the build context does with one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalkDecision {
    /// Send it (and walk into it if it is a directory).
    Include,
    /// Leave this entry out but walk into the directory: an exception may re-include
    /// something below it.
    ExcludeButDescend,
    /// Leave it out, and everything below it.
    Exclude,
}

/// A list of `.dockerignore` patterns, compiled.
#[derive(Debug, Clone, Default)]
pub struct PatternMatcher {
    patterns: Vec<Pattern>,
    exclusions: bool,
}

impl PatternMatcher {
    /// Compiles patterns as Docker does: each trimmed and cleaned, blank ones skipped, `!`
    /// alone refused, bad syntax refused.
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<PatternMatcher, PatternError> {
        let mut pm = PatternMatcher::default();
        for p in patterns {
            let p = p.as_ref().trim();
            if p.is_empty() {
                continue;
            }
            let mut p = clean_path(p);
            let mut exclusion = false;
            if let Some(rest) = p.strip_prefix('!') {
                if rest.is_empty() {
                    return Err(PatternError("illegal exclusion pattern: \"!\"".into()));
                }
                exclusion = true;
                pm.exclusions = true;
                p = rest.to_string();
            }
            validate(&p)?;
            let kind = compile(&p)?;
            pm.patterns.push(Pattern { cleaned: p, exclusion, kind });
        }
        Ok(pm)
    }

    /// Whether any pattern is an exception (`!...`).
    pub fn exclusions(&self) -> bool {
        self.exclusions
    }

    /// The compiled patterns, in order.
    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    /// Whether `file` (slash-separated, relative to the context) is excluded: by a pattern
    /// matching it or one of its parent directories, unless a later exception re-includes it
    /// (Docker's `MatchesOrParentMatches`).
    pub fn matches_or_parent_matches(&self, file: &str) -> bool {
        let parent = dir_of(file);
        let parent_dirs: Vec<&str> = parent.split('/').collect();
        let mut matched = false;
        for pattern in &self.patterns {
            if pattern.exclusion != matched {
                continue;
            }
            let mut m = pattern.matches(file);
            if !m && parent != "." {
                m = (0..parent_dirs.len()).any(|i| pattern.matches(&parent_dirs[..=i].join("/")));
            }
            if m {
                matched = !pattern.exclusion;
            }
        }
        matched
    }

    /// Like [`Self::matches_or_parent_matches`], for a walk that passes down its directory's
    /// results (Docker's `MatchesUsingParentResults`); pass `MatchInfo::default()` for an entry
    /// whose parent was not matched through this function.
    pub fn matches_using_parent_results(&self, file: &str, parent: &MatchInfo) -> (bool, MatchInfo) {
        let mut info = MatchInfo { parent_matched: vec![false; self.patterns.len()] };
        let have_parent = parent.parent_matched.len() == self.patterns.len() && !self.patterns.is_empty();
        let mut matched = false;
        for (i, pattern) in self.patterns.iter().enumerate() {
            let mut m = have_parent && parent.parent_matched[i];
            if !m {
                if pattern.exclusion != matched {
                    continue;
                }
                m = pattern.matches(file);
                if !m && !have_parent {
                    let parent_path = dir_of(file);
                    if parent_path != "." {
                        let dirs: Vec<&str> = parent_path.split('/').collect();
                        m = (0..dirs.len()).any(|k| pattern.matches(&dirs[..=k].join("/")));
                    }
                }
            }
            info.parent_matched[i] = m;
            if m {
                matched = !pattern.exclusion;
            }
        }
        (matched, info)
    }

    /// For an excluded directory: whether an exception pattern names something inside it, so
    /// that the walk must still enter it. As in Docker's archive walk this compares the
    /// exception's text literally (`!dir/keep` re-opens `dir`; `!*/keep` does not).
    pub fn exception_may_match_inside(&self, dir: &str) -> bool {
        if !self.exclusions {
            return false;
        }
        let dir_slash = format!("{dir}/");
        self.patterns.iter().any(|p| p.exclusion && format!("{}/", p.cleaned).starts_with(&dir_slash))
    }

    /// The decision of Docker's context walk for one entry, from its parent directory's
    /// [`MatchInfo`] (use `MatchInfo::default()` at the top); returns the info to hand to the
    /// entries of this one if it is a directory.
    pub fn walk_decision(&self, path: &str, is_dir: bool, parent: &MatchInfo) -> (WalkDecision, MatchInfo) {
        let (skip, info) = self.matches_using_parent_results(path, parent);
        let decision = if !skip {
            WalkDecision::Include
        } else if is_dir && self.exception_may_match_inside(path) {
            WalkDecision::ExcludeButDescend
        } else {
            WalkDecision::Exclude
        };
        (decision, info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pm(patterns: &[&str]) -> PatternMatcher {
        PatternMatcher::new(patterns).unwrap()
    }

    fn excluded(patterns: &[&str], file: &str) -> bool {
        pm(patterns).matches_or_parent_matches(file)
    }

    #[test]
    fn read_ignore_file_normalises_like_docker() {
        let text = "\u{feff}# comment\n*/temp*\n\n  */*/temp*  \ntemp?\n/abs/./path/\n!/keep\n  # not a comment\r\n!  spaced \nx/../y\n";
        assert_eq!(
            read_ignore_file(text),
            ["*/temp*", "*/*/temp*", "temp?", "abs/path", "!keep", "# not a comment", "!spaced", "y"]
        );
    }

    #[test]
    fn clean_path_is_gos() {
        assert_eq!(clean_path(""), ".");
        assert_eq!(clean_path("a/b/../c/./d/"), "a/c/d");
        assert_eq!(clean_path("/../a"), "/a");
        assert_eq!(clean_path("../../a"), "../../a");
        assert_eq!(clean_path("a/.."), ".");
        assert_eq!(clean_path("//a//b"), "/a/b");
    }

    #[test]
    fn dockerignore_reference_examples() {
        // The reference's example file:
        //   # comment
        //   */temp*
        //   */*/temp*
        //   temp?
        let p = read_ignore_file("# comment\n*/temp*\n*/*/temp*\ntemp?\n");
        let m = PatternMatcher::new(&p).unwrap();
        assert!(m.matches_or_parent_matches("somedir/temporary.txt"));
        assert!(m.matches_or_parent_matches("somedir/temp"));
        assert!(m.matches_or_parent_matches("somedir/subdir/temporary.txt"));
        assert!(m.matches_or_parent_matches("tempa"));
        assert!(m.matches_or_parent_matches("tempb"));
        assert!(!m.matches_or_parent_matches("temp"));
        assert!(!m.matches_or_parent_matches("temporary.txt"));
        assert!(!m.matches_or_parent_matches("a/b/c/temp"));
        // `**/*.go` excludes every .go file, the root's included.
        assert!(excluded(&["**/*.go"], "main.go"));
        assert!(excluded(&["**/*.go"], "a/b/c.go"));
        assert!(!excluded(&["**/*.go"], "a/b/c.gone"));
        // Exceptions: *.md excluded but README.md kept.
        assert!(excluded(&["*.md", "!README.md"], "CHANGES.md"));
        assert!(!excluded(&["*.md", "!README.md"], "README.md"));
        // The placement of the exception matters: the last match wins.
        let later = ["*.md", "README-secret.md", "!README*.md"];
        assert!(!excluded(&later, "README-secret.md"));
        let earlier = ["*.md", "!README*.md", "README-secret.md"];
        assert!(excluded(&earlier, "README-secret.md"));
        assert!(!excluded(&earlier, "README-public.md"));
    }

    #[test]
    fn wildcards_and_classes() {
        assert!(excluded(&["a?c"], "abc"));
        assert!(!excluded(&["a?c"], "a/c"));
        assert!(!excluded(&["a*"], "ab/c") || excluded(&["a*"], "ab"));
        assert!(excluded(&["a*"], "ab/c")); // through its parent "ab"
        assert!(excluded(&["[a-c]x"], "bx"));
        assert!(!excluded(&["[a-c]x"], "dx"));
        assert!(excluded(&["[^a-c]x"], "dx"));
        assert!(excluded(&["\\*x"], "*x"));
        assert!(!excluded(&["\\*x"], "ax"));
        assert!(excluded(&["a/**/b"], "a/b"));
        assert!(excluded(&["a/**/b"], "a/x/y/b"));
        assert!(!excluded(&["a/**/b"], "a/xb"));
        assert!(excluded(&["foo/**"], "foo/bar/baz"));
        assert!(excluded(&["**"], "anything/at/all"));
        // A leading `**` with nothing else is a plain suffix, as in Docker.
        assert!(excluded(&["**foo"], "xfoo"));
        assert!(excluded(&["**/foo"], "foo"));
        assert!(excluded(&["**/foo"], "a/foo"));
        assert!(!excluded(&["**/foo"], "a/xfoo"));
        // Special regexp characters are literal.
        assert!(excluded(&["a.b+(c)"], "a.b+(c)"));
        assert!(!excluded(&["a.b"], "axb"));
        // Patterns are cleaned; a directory excludes what it holds.
        assert!(excluded(&["./dir/"], "dir/file"));
        assert!(excluded(&["dir"], "dir/sub/file"));
        assert!(!excluded(&["dir"], "dirt"));
    }

    #[test]
    fn bad_patterns_are_refused() {
        assert_eq!(PatternMatcher::new(&["!"]).unwrap_err().0, "illegal exclusion pattern: \"!\"");
        assert_eq!(PatternMatcher::new(&["[a-"]).unwrap_err().0, "syntax error in pattern");
        assert_eq!(PatternMatcher::new(&["a["]).unwrap_err().0, "syntax error in pattern");
        assert_eq!(PatternMatcher::new(&["[]a]"]).unwrap_err().0, "syntax error in pattern");
        assert_eq!(PatternMatcher::new(&["a\\"]).unwrap_err().0, "syntax error in pattern");
        assert!(PatternMatcher::new(&["", "  ", "a[b]c"]).is_ok());
        assert_eq!(PatternMatcher::new(&["", "a"]).unwrap().patterns().len(), 1);
    }

    #[test]
    fn excluded_directories_and_exceptions_inside_them() {
        let m = pm(&["docs", "!docs/keep.md"]);
        assert!(m.exclusions());
        assert!(m.matches_or_parent_matches("docs/other.md"));
        assert!(!m.matches_or_parent_matches("docs/keep.md"));
        let top = MatchInfo::default();
        let (d, info) = m.walk_decision("docs", true, &top);
        assert_eq!(d, WalkDecision::ExcludeButDescend);
        assert_eq!(m.walk_decision("docs/keep.md", false, &info).0, WalkDecision::Include);
        assert_eq!(m.walk_decision("docs/other.md", false, &info).0, WalkDecision::Exclude);
        assert_eq!(m.walk_decision("src", true, &top).0, WalkDecision::Include);

        // Without exceptions an excluded directory is skipped whole.
        let m = pm(&["docs"]);
        assert_eq!(m.walk_decision("docs", true, &top).0, WalkDecision::Exclude);

        // Docker compares the exception's text: a wildcard exception does not re-open a dir.
        let m = pm(&["docs", "!*/keep.md"]);
        assert_eq!(m.walk_decision("docs", true, &top).0, WalkDecision::Exclude);
        assert!(!m.exception_may_match_inside("doc"));

        // Everything excluded but one directory's file.
        let m = pm(&["*", "!src/main.rs"]);
        let (d, info) = m.walk_decision("src", true, &top);
        assert_eq!(d, WalkDecision::ExcludeButDescend);
        assert_eq!(m.walk_decision("src/main.rs", false, &info).0, WalkDecision::Include);
        assert_eq!(m.walk_decision("src/lib.rs", false, &info).0, WalkDecision::Exclude);
        assert_eq!(m.walk_decision("Dockerfile", false, &top).0, WalkDecision::Exclude);
    }

    #[test]
    fn parent_results_agree_with_parent_matches() {
        let m = pm(&["a/*", "!a/b", "**/*.log", "c"]);
        for path in ["a/x", "a/b", "a/b/c", "x/y.log", "c/d/e", "d", "a/b/z.log"] {
            // Walk down from the root handing over each directory's info.
            let parts: Vec<&str> = path.split('/').collect();
            let mut info = MatchInfo::default();
            let mut result = false;
            for i in 0..parts.len() {
                let p = parts[..=i].join("/");
                let (r, ni) = m.matches_using_parent_results(&p, &info);
                result = r;
                info = ni;
            }
            assert_eq!(result, m.matches_or_parent_matches(path), "{path}");
        }
    }
}
