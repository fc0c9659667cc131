//! The part of Go's regexp syntax that Docker's list filters get used with (`name=^web`,
//! `name=db-[0-9]+$`, `id=^ab`): literals, `.`, classes (`[a-z]`, `[^/]`, `\d \w \s`),
//! groups with alternation, `* + ?` and `{n,m}` (greedy), anchors `^ $`. `is_match`
//! searches anywhere in the text, as `regexp.MatchString` does.

#[derive(Debug, Clone)]
enum Node {
    Char(char),
    Any,
    Class(Vec<(char, char)>, bool),
    Start,
    End,
    Group(Vec<Vec<Node>>),
    Repeat(Box<Node>, usize, Option<usize>),
}

/// A compiled pattern.
#[derive(Debug, Clone)]
pub struct Regex {
    alternatives: Vec<Vec<Node>>,
}

fn class_escape(c: char) -> Option<(Vec<(char, char)>, bool)> {
    let digits = vec![('0', '9')];
    let word = vec![('0', '9'), ('A', 'Z'), ('a', 'z'), ('_', '_')];
    let space = vec![(' ', ' '), ('\t', '\t'), ('\n', '\n'), ('\r', '\r'), ('\u{b}', '\u{c}')];
    Some(match c {
        'd' => (digits, false),
        'D' => (digits, true),
        'w' => (word, false),
        'W' => (word, true),
        's' => (space, false),
        'S' => (space, true),
        _ => return None,
    })
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn alternatives(&mut self) -> Result<Vec<Vec<Node>>, String> {
        let mut alts = vec![Vec::new()];
        while let Some(&c) = self.chars.get(self.pos) {
            match c {
                '|' => {
                    self.pos += 1;
                    alts.push(Vec::new());
                }
                ')' => break,
                _ => {
                    let atom = self.atom()?;
                    let atom = self.quantified(atom)?;
                    if let Some(last) = alts.last_mut() {
                        last.push(atom);
                    }
                }
            }
        }
        Ok(alts)
    }

    fn atom(&mut self) -> Result<Node, String> {
        let c = self.chars[self.pos];
        self.pos += 1;
        Ok(match c {
            '.' => Node::Any,
            '^' => Node::Start,
            '$' => Node::End,
            '(' => {
                if self.chars.get(self.pos) == Some(&'?') && self.chars.get(self.pos + 1) == Some(&':') {
                    self.pos += 2;
                }
                let alts = self.alternatives()?;
                if self.chars.get(self.pos) != Some(&')') {
                    return Err("missing closing )".into());
                }
                self.pos += 1;
                Node::Group(alts)
            }
            '[' => self.class()?,
            '\\' => {
                let e = *self.chars.get(self.pos).ok_or("trailing backslash at end of expression")?;
                self.pos += 1;
                match class_escape(e) {
                    Some((ranges, negated)) => Node::Class(ranges, negated),
                    None => Node::Char(match e {
                        'n' => '\n',
                        't' => '\t',
                        other => other,
                    }),
                }
            }
            '*' | '+' | '?' => return Err(format!("missing argument to repetition operator: `{c}`")),
            other => Node::Char(other),
        })
    }

    fn class(&mut self) -> Result<Node, String> {
        let mut negated = false;
        if self.chars.get(self.pos) == Some(&'^') {
            negated = true;
            self.pos += 1;
        }
        let mut ranges = Vec::new();
        let mut first = true;
        loop {
            let c = *self.chars.get(self.pos).ok_or("missing closing ]")?;
            self.pos += 1;
            if c == ']' && !first {
                break;
            }
            first = false;
            let lo = if c == '\\' {
                let e = *self.chars.get(self.pos).ok_or("missing closing ]")?;
                self.pos += 1;
                if let Some((r, false)) = class_escape(e) {
                    ranges.extend(r);
                    continue;
                }
                e
            } else {
                c
            };
            if self.chars.get(self.pos) == Some(&'-') && self.chars.get(self.pos + 1).is_some_and(|x| *x != ']') {
                let hi = self.chars[self.pos + 1];
                self.pos += 2;
                ranges.push((lo, hi));
            } else {
                ranges.push((lo, lo));
            }
        }
        Ok(Node::Class(ranges, negated))
    }

    fn quantified(&mut self, atom: Node) -> Result<Node, String> {
        let (min, max) = match self.chars.get(self.pos) {
            Some('*') => (0, None),
            Some('+') => (1, None),
            Some('?') => (0, Some(1)),
            Some('{') => {
                let rest: String = self.chars[self.pos + 1..].iter().collect();
                let Some(close) = rest.find('}') else { return Ok(atom) };
                let spec = &rest[..close];
                let (a, b) = match spec.split_once(',') {
                    Some((a, "")) => (a.parse().map_err(|_| "invalid repeat count")?, None),
                    Some((a, b)) => (a.parse().map_err(|_| "invalid repeat count")?, Some(b.parse().map_err(|_| "invalid repeat count")?)),
                    None => {
                        let n = spec.parse().map_err(|_| "invalid repeat count")?;
                        (n, Some(n))
                    }
                };
                self.pos += close + 1;
                (a, b)
            }
            _ => return Ok(atom),
        };
        self.pos += 1;
        // A lazy `?` suffix matches the same strings for a yes/no answer.
        if self.chars.get(self.pos) == Some(&'?') {
            self.pos += 1;
        }
        Ok(Node::Repeat(Box::new(atom), min, max))
    }
}

impl Regex {
    pub fn new(pattern: &str) -> Result<Regex, String> {
        let mut p = Parser { chars: pattern.chars().collect(), pos: 0 };
        let alternatives = p.alternatives()?;
        if p.pos != p.chars.len() {
            return Err("unexpected )".into());
        }
        Ok(Regex { alternatives })
    }

    /// Whether the pattern matches somewhere in `text`.
    pub fn is_match(&self, text: &str) -> bool {
        let chars: Vec<char> = text.chars().collect();
        (0..=chars.len()).any(|start| self.alternatives.iter().any(|alt| seq(alt, &chars, start, &mut |_| true)))
    }
}

/// Matches `nodes` at `pos`, then whatever `k` wants of the rest.
fn seq(nodes: &[Node], text: &[char], pos: usize, k: &mut dyn FnMut(usize) -> bool) -> bool {
    let Some((first, rest)) = nodes.split_first() else { return k(pos) };
    one(first, text, pos, &mut |p| seq(rest, text, p, k))
}

fn one(node: &Node, text: &[char], pos: usize, k: &mut dyn FnMut(usize) -> bool) -> bool {
    match node {
        Node::Char(c) => text.get(pos) == Some(c) && k(pos + 1),
        Node::Any => text.get(pos).is_some_and(|c| *c != '\n') && k(pos + 1),
        Node::Class(ranges, negated) => text.get(pos).is_some_and(|c| ranges.iter().any(|(lo, hi)| lo <= c && c <= hi) != *negated) && k(pos + 1),
        Node::Start => pos == 0 && k(pos),
        Node::End => pos == text.len() && k(pos),
        Node::Group(alts) => alts.iter().any(|alt| seq(alt, text, pos, k)),
        Node::Repeat(inner, min, max) => repeat(inner, *min, *max, 0, text, pos, k),
    }
}

fn repeat(inner: &Node, min: usize, max: Option<usize>, done: usize, text: &[char], pos: usize, k: &mut dyn FnMut(usize) -> bool) -> bool {
    // Greedy: one more first (never looping on an empty match), then stop here.
    if max.is_none_or(|m| done < m) && one(inner, text, pos, &mut |p| p != pos && repeat(inner, min, max, done + 1, text, p, k)) {
        return true;
    }
    done >= min && k(pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, t: &str) -> bool {
        Regex::new(p).unwrap().is_match(t)
    }

    #[test]
    fn go_like_matching() {
        assert!(m("web", "my-web-1"));
        assert!(m("^web", "web-1") && !m("^web", "my-web"));
        assert!(m("db-[0-9]+$", "app-db-12") && !m("db-[0-9]+$", "db-12x"));
        assert!(m("^(a|b)c?$", "b") && m("^(a|b)c?$", "ac") && !m("^(a|b)c?$", "abc"));
        assert!(m("^x.*z$", "x--z") && m("\\d{2,3}", "a12") && !m("^\\d{2,3}$", "1234"));
        assert!(m("[^/]+", "abc") && !m("^[^/]+$", "a/b"));
        assert!(m("", "anything"));
        assert!(Regex::new("(unclosed").is_err() && Regex::new("*x").is_err());
    }
}
