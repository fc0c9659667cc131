//! Go's text/template as the docker CLI uses it for `--format`, over JSON values: text and
//! actions with `{{-`/`-}}` trimming and comments; pipelines (`a | b`); fields (`.A.B`,
//! `$v.A`), variables (`$x := ...`, `$`); `if`/`else if`/`else`, `range` (arrays, and maps
//! in key order, with `$i, $e :=`), `with`; Go's functions (`and`, `or`, `not`, `len`,
//! `index`, `eq`, `ne`, `lt`, `le`, `gt`, `ge`, `print`, `printf`, `println`, `slice`) and
//! Docker's (`json`, `join`, `split`, `lower`, `upper`, `title`, `pad`, `truncate`).
//! Methods taking arguments (ps's `{{.Label "k"}}`) come from the caller.

use serde_json::{Map, Value};

/// A key marking a context that Go marshals with `json.Marshal` (HTML characters escaped).
pub const GO_MARSHAL: &str = "_go_marshal";

/// A method of the data taking arguments: (name, function of the dot and the arguments).
pub type Method = (&'static str, fn(&Value, &[Value]) -> Result<Value, String>);

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Pipeline),
    If(Vec<(Pipeline, Vec<Node>)>, Vec<Node>),
    Range(Pipeline, Vec<Node>, Vec<Node>),
    With(Pipeline, Vec<Node>, Vec<Node>),
}

#[derive(Debug, Clone)]
struct Pipeline {
    decl: Vec<String>,
    assign: bool,
    cmds: Vec<Vec<Arg>>,
}

#[derive(Debug, Clone)]
enum Arg {
    /// `.A.B` (empty path: `.`), on the dot or, with a variable, on it.
    Field(Option<String>, Vec<String>),
    Ident(String),
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Nil,
    Sub(Box<Pipeline>, Vec<String>),
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<Node>,
}

fn perr(msg: impl std::fmt::Display) -> String {
    format!("template: :1: {msg}")
}

const FUNCTIONS: &[&str] = &[
    "and", "or", "not", "len", "index", "eq", "ne", "lt", "le", "gt", "ge", "print", "printf", "println", "slice", "json", "join", "split", "lower", "upper", "title", "pad", "truncate", "html", "urlquery", "js",
];

/// One `{{...}}` or text piece.
enum Piece {
    Text(String),
    Action(String),
}

fn split_pieces(src: &str) -> Result<Vec<Piece>, String> {
    let mut out = Vec::new();
    let mut rest = src;
    while let Some(start) = rest.find("{{") {
        let mut text = rest[..start].to_string();
        let mut after = &rest[start + 2..];
        let trim_left = after.starts_with("- ") || after.starts_with("-\t") || after.starts_with("-\n") || after.starts_with("-}}");
        if trim_left {
            text = text.trim_end().to_string();
            after = &after[1..];
        }
        // The action ends at the first `}}` outside a string.
        let bytes = after.as_bytes();
        let mut i = 0;
        let mut quote: Option<u8> = None;
        let end = loop {
            if i >= bytes.len() {
                return Err(perr("unclosed action"));
            }
            let c = bytes[i];
            match quote {
                Some(q) => {
                    if c == b'\\' && q == b'"' {
                        i += 1;
                    } else if c == q {
                        quote = None;
                    }
                }
                None => {
                    if c == b'"' || c == b'`' || c == b'\'' {
                        quote = Some(c);
                    } else if c == b'}' && bytes.get(i + 1) == Some(&b'}') {
                        break i;
                    }
                }
            }
            i += 1;
        };
        let mut action = &after[..end];
        let mut trim_right = false;
        if action.ends_with(" -") || action.ends_with("\t-") || action.ends_with("\n-") {
            trim_right = true;
            action = &action[..action.len() - 1];
        }
        if !text.is_empty() {
            out.push(Piece::Text(text));
        }
        out.push(Piece::Action(action.trim().to_string()));
        rest = &after[end + 2..];
        if trim_right {
            rest = rest.trim_start();
        }
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest.to_string()));
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Field(String),
    Var(String),
    Ident(String),
    Str(String),
    Num(String),
    LParen,
    RParen,
    Pipe,
    Declare,
    Assign,
    Comma,
}

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let c: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    let word = |i: &mut usize| {
        let start = *i;
        while *i < c.len() && (c[*i].is_alphanumeric() || c[*i] == '_') {
            *i += 1;
        }
        c[start..*i].iter().collect::<String>()
    };
    while i < c.len() {
        let ch = c[i];
        match ch {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '(' => {
                out.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                i += 1;
                out.push(Tok::RParen);
                // A field chain on a parenthesized value: `(...).A.B`.
                while i < c.len() && c[i] == '.' {
                    i += 1;
                    out.push(Tok::Field(word(&mut i)));
                }
            }
            '|' => {
                out.push(Tok::Pipe);
                i += 1;
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            ':' if c.get(i + 1) == Some(&'=') => {
                out.push(Tok::Declare);
                i += 2;
            }
            '=' => {
                out.push(Tok::Assign);
                i += 1;
            }
            '"' => {
                let mut v = String::new();
                i += 1;
                loop {
                    let Some(&x) = c.get(i) else { return Err(perr("unterminated quoted string")) };
                    i += 1;
                    match x {
                        '"' => break,
                        '\\' => {
                            let e = *c.get(i).ok_or_else(|| perr("unterminated quoted string"))?;
                            i += 1;
                            v.push(match e {
                                'n' => '\n',
                                't' => '\t',
                                'r' => '\r',
                                '\\' => '\\',
                                '"' => '"',
                                '\'' => '\'',
                                '0' => '\0',
                                other => return Err(perr(format!("invalid syntax: \\{other}"))),
                            });
                        }
                        x => v.push(x),
                    }
                }
                out.push(Tok::Str(v));
            }
            '`' => {
                let start = i + 1;
                let end = c[start..].iter().position(|x| *x == '`').ok_or_else(|| perr("unterminated raw quoted string"))? + start;
                out.push(Tok::Str(c[start..end].iter().collect()));
                i = end + 1;
            }
            '\'' => {
                let v = *c.get(i + 1).ok_or_else(|| perr("unterminated character constant"))?;
                out.push(Tok::Num((v as u32).to_string()));
                i += 3;
            }
            '.' if c.get(i + 1).is_some_and(|x| x.is_ascii_digit()) => {
                let start = i;
                i += 1;
                while i < c.len() && (c[i].is_ascii_digit() || c[i] == '.') {
                    i += 1;
                }
                out.push(Tok::Num(c[start..i].iter().collect()));
            }
            '.' => {
                // `.`, `.A`, `.A.B` as one token of dotted names.
                let mut path = String::new();
                while i < c.len() && c[i] == '.' {
                    i += 1;
                    let w = word(&mut i);
                    path.push('.');
                    path.push_str(&w);
                }
                out.push(Tok::Field(path));
            }
            '$' => {
                i += 1;
                let mut name = format!("${}", word(&mut i));
                while i < c.len() && c[i] == '.' {
                    i += 1;
                    name.push('.');
                    name.push_str(&word(&mut i));
                }
                out.push(Tok::Var(name));
            }
            x if x.is_ascii_digit() || x == '-' || x == '+' => {
                let start = i;
                i += 1;
                while i < c.len() && (c[i].is_ascii_alphanumeric() || c[i] == '.' || c[i] == '_') {
                    i += 1;
                }
                out.push(Tok::Num(c[start..i].iter().collect()));
            }
            x if x.is_alphabetic() || x == '_' => out.push(Tok::Ident(word(&mut i))),
            other => return Err(perr(format!("unexpected {other:?} in command"))),
        }
    }
    Ok(out)
}

fn parse_pipeline(toks: &[Tok]) -> Result<Pipeline, String> {
    let mut pos = 0;
    let p = parse_pipeline_at(toks, &mut pos)?;
    if pos != toks.len() {
        return Err(perr(format!("unexpected {:?} in operand", toks[pos])));
    }
    Ok(p)
}

fn parse_pipeline_at(toks: &[Tok], pos: &mut usize) -> Result<Pipeline, String> {
    let mut decl = Vec::new();
    let mut assign = false;
    // `$x :=`, `$i, $e :=`, `$x =`
    let mut look = *pos;
    let mut vars = Vec::new();
    while let Some(Tok::Var(v)) = toks.get(look) {
        vars.push(v.clone());
        look += 1;
        if toks.get(look) == Some(&Tok::Comma) {
            look += 1;
            continue;
        }
        break;
    }
    if !vars.is_empty() && matches!(toks.get(look), Some(Tok::Declare) | Some(Tok::Assign)) {
        assign = toks.get(look) == Some(&Tok::Assign);
        decl = vars;
        *pos = look + 1;
    }
    let mut cmds = Vec::new();
    let mut cur: Vec<Arg> = Vec::new();
    while let Some(t) = toks.get(*pos) {
        match t {
            Tok::RParen => break,
            Tok::Pipe => {
                if cur.is_empty() {
                    return Err(perr("missing command"));
                }
                cmds.push(std::mem::take(&mut cur));
                *pos += 1;
                continue;
            }
            Tok::LParen => {
                *pos += 1;
                let inner = parse_pipeline_at(toks, pos)?;
                if toks.get(*pos) != Some(&Tok::RParen) {
                    return Err(perr("unclosed left paren"));
                }
                *pos += 1;
                let mut chain = Vec::new();
                while let Some(Tok::Field(f)) = toks.get(*pos) {
                    chain.extend(f.trim_start_matches('.').split('.').filter(|s| !s.is_empty()).map(str::to_string));
                    *pos += 1;
                }
                cur.push(Arg::Sub(Box::new(inner), chain));
                continue;
            }
            Tok::Field(f) => cur.push(Arg::Field(None, f.trim_start_matches('.').split('.').filter(|s| !s.is_empty()).map(str::to_string).collect())),
            Tok::Var(v) => {
                let mut parts = v.split('.');
                let name = parts.next().unwrap_or("$").to_string();
                cur.push(Arg::Field(Some(name), parts.map(str::to_string).collect()));
            }
            Tok::Ident(id) => match id.as_str() {
                "true" => cur.push(Arg::Bool(true)),
                "false" => cur.push(Arg::Bool(false)),
                "nil" => cur.push(Arg::Nil),
                name if FUNCTIONS.contains(&name) => cur.push(Arg::Ident(name.to_string())),
                name => return Err(perr(format!("function {name:?} not defined"))),
            },
            Tok::Str(s) => cur.push(Arg::Str(s.clone())),
            Tok::Num(n) => {
                if let Ok(i) = n.parse::<i64>() {
                    cur.push(Arg::Int(i));
                } else if let Ok(f) = n.parse::<f64>() {
                    cur.push(Arg::Float(f));
                } else {
                    return Err(perr(format!("bad number syntax: {n:?}")));
                }
            }
            other => return Err(perr(format!("unexpected {other:?} in operand"))),
        }
        *pos += 1;
    }
    if !cur.is_empty() {
        cmds.push(cur);
    }
    if cmds.is_empty() {
        return Err(perr("missing value for command"));
    }
    Ok(Pipeline { decl, assign, cmds })
}

/// What a block reads until: its `{{end}}`, or an `{{else}}`.
enum Stop {
    End,
    Else(Option<String>),
    Eof,
}

fn parse_nodes(pieces: &[Piece], pos: &mut usize) -> Result<(Vec<Node>, Stop), String> {
    let mut nodes = Vec::new();
    while let Some(p) = pieces.get(*pos) {
        *pos += 1;
        let action = match p {
            Piece::Text(t) => {
                nodes.push(Node::Text(t.clone()));
                continue;
            }
            Piece::Action(a) => a.as_str(),
        };
        if action.starts_with("/*") {
            if !action.ends_with("*/") {
                return Err(perr("unclosed comment"));
            }
            continue;
        }
        let (keyword, rest) = match action.split_once(|c: char| c.is_whitespace()) {
            Some((k, r)) => (k, r.trim()),
            None => (action, ""),
        };
        match keyword {
            "end" => return Ok((nodes, Stop::End)),
            "else" => return Ok((nodes, Stop::Else((!rest.is_empty()).then(|| rest.to_string())))),
            "if" => {
                let mut branches = vec![(parse_pipeline(&lex(rest)?)?, Vec::new())];
                let mut otherwise = Vec::new();
                loop {
                    let (body, stop) = parse_nodes(pieces, pos)?;
                    if let Some(last) = branches.last_mut() {
                        last.1 = body;
                    }
                    match stop {
                        Stop::End => break,
                        Stop::Eof => return Err(perr("unexpected EOF")),
                        Stop::Else(Some(cond)) => {
                            let cond = cond.strip_prefix("if").map(str::trim).ok_or_else(|| perr("expected end; found else"))?;
                            branches.push((parse_pipeline(&lex(cond)?)?, Vec::new()));
                        }
                        Stop::Else(None) => {
                            let (body, stop) = parse_nodes(pieces, pos)?;
                            if !matches!(stop, Stop::End) {
                                return Err(perr("expected end"));
                            }
                            otherwise = body;
                            break;
                        }
                    }
                }
                nodes.push(Node::If(branches, otherwise));
            }
            "range" | "with" => {
                let pipe = parse_pipeline(&lex(rest)?)?;
                let (body, stop) = parse_nodes(pieces, pos)?;
                let otherwise = match stop {
                    Stop::End => Vec::new(),
                    Stop::Else(None) => {
                        let (b, stop) = parse_nodes(pieces, pos)?;
                        if !matches!(stop, Stop::End) {
                            return Err(perr("expected end"));
                        }
                        b
                    }
                    Stop::Else(Some(_)) => return Err(perr("else if only in if")),
                    Stop::Eof => return Err(perr("unexpected EOF")),
                };
                nodes.push(if keyword == "range" { Node::Range(pipe, body, otherwise) } else { Node::With(pipe, body, otherwise) });
            }
            "define" | "template" | "block" | "break" | "continue" => return Err(perr(format!("{keyword} is not supported"))),
            _ => nodes.push(Node::Action(parse_pipeline(&lex(action)?)?)),
        }
    }
    Ok((nodes, Stop::Eof))
}

impl Template {
    pub fn parse(src: &str) -> Result<Template, String> {
        let pieces = split_pieces(src)?;
        let mut pos = 0;
        let (nodes, stop) = parse_nodes(&pieces, &mut pos)?;
        match stop {
            Stop::Eof => Ok(Template { nodes }),
            Stop::End => Err(perr("unexpected {{end}}")),
            Stop::Else(_) => Err(perr("unexpected {{else}}")),
        }
    }

    /// Runs the template with `dot` as `.` and `$`.
    pub fn execute(&self, dot: &Value, methods: &[Method]) -> Result<String, String> {
        let mut ex = Exec { methods, vars: vec![("$".to_string(), dot.clone())], strict: true };
        let mut out = String::new();
        ex.nodes(&self.nodes, dot, &mut out)?;
        Ok(out)
    }
}

struct Exec<'a> {
    methods: &'a [Method],
    vars: Vec<(String, Value)>,
    /// A field missing from a map is an error (the CLI's data are Go structs, and its raw
    /// fallback sets `missingkey=error`), except for table headers.
    strict: bool,
}

fn xerr(msg: impl std::fmt::Display) -> String {
    format!("template: :1:2: executing \"\" {msg}")
}

/// Go's truth: false, 0, nil, and empty strings, arrays and maps are false.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

impl Exec<'_> {
    fn nodes(&mut self, nodes: &[Node], dot: &Value, out: &mut String) -> Result<(), String> {
        for n in nodes {
            let mark = self.vars.len();
            match n {
                Node::Text(t) => out.push_str(t),
                Node::Action(p) => {
                    let v = self.pipeline(p, dot)?;
                    if p.decl.is_empty() {
                        out.push_str(&go_string(&v));
                    }
                    // Declared variables live to the end of the enclosing block.
                    continue;
                }
                Node::If(branches, otherwise) => {
                    let mut done = false;
                    for (cond, body) in branches {
                        if truthy(&self.pipeline(cond, dot)?) {
                            self.nodes(body, dot, out)?;
                            done = true;
                            break;
                        }
                    }
                    if !done {
                        self.nodes(otherwise, dot, out)?;
                    }
                }
                Node::With(p, body, otherwise) => {
                    let v = self.pipeline_value(p, dot)?;
                    if truthy(&v) {
                        self.nodes(body, &v, out)?;
                    } else {
                        self.nodes(otherwise, dot, out)?;
                    }
                }
                Node::Range(p, body, otherwise) => {
                    let v = self.pipeline_value(p, dot)?;
                    let items: Vec<(Value, Value)> = match &v {
                        Value::Array(a) => a.iter().enumerate().map(|(i, x)| (Value::from(i), x.clone())).collect(),
                        Value::Object(m) => m.iter().map(|(k, x)| (Value::from(k.clone()), x.clone())).collect(),
                        Value::Null => Vec::new(),
                        Value::Number(n) if n.as_i64().is_some() => (0..n.as_i64().unwrap_or(0)).map(|i| (Value::from(i), Value::from(i))).collect(),
                        other => return Err(xerr(format!("range can't iterate over {}", go_string(other)))),
                    };
                    if items.is_empty() {
                        self.nodes(otherwise, dot, out)?;
                    }
                    for (k, x) in items {
                        let inner = self.vars.len();
                        match p.decl.len() {
                            1 => self.vars.push((p.decl[0].clone(), x.clone())),
                            2 => {
                                self.vars.push((p.decl[0].clone(), k));
                                self.vars.push((p.decl[1].clone(), x.clone()));
                            }
                            _ => {}
                        }
                        self.nodes(body, &x, out)?;
                        self.vars.truncate(inner);
                    }
                }
            }
            self.vars.truncate(mark);
        }
        Ok(())
    }

    /// A range or with's pipeline: the declared variables are the loop's, not assigned here.
    fn pipeline_value(&mut self, p: &Pipeline, dot: &Value) -> Result<Value, String> {
        let bare = Pipeline { decl: Vec::new(), assign: false, cmds: p.cmds.clone() };
        let v = self.pipeline(&bare, dot)?;
        if !p.decl.is_empty() && !matches!(v, Value::Array(_) | Value::Object(_)) {
            // `with $x := ...`: the variable is the value.
            self.vars.push((p.decl[0].clone(), v.clone()));
        }
        Ok(v)
    }

    fn pipeline(&mut self, p: &Pipeline, dot: &Value) -> Result<Value, String> {
        let mut prev: Option<Value> = None;
        for cmd in &p.cmds {
            prev = Some(self.command(cmd, dot, prev)?);
        }
        let v = prev.unwrap_or(Value::Null);
        if let Some(name) = p.decl.first() {
            if p.assign {
                match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                    Some(slot) => slot.1 = v.clone(),
                    None => return Err(xerr(format!("undefined variable: {name}"))),
                }
            } else {
                self.vars.push((name.clone(), v.clone()));
            }
        }
        Ok(v)
    }

    fn arg(&mut self, a: &Arg, dot: &Value) -> Result<Value, String> {
        Ok(match a {
            Arg::Field(None, path) if path.len() == 1 && self.methods.iter().any(|(n, _)| *n == path[0]) => {
                return Err(xerr(format!("at <.{0}>: wrong number of args for {0}: want 1 got 0", path[0])));
            }
            Arg::Field(var, path) => {
                let base = match var {
                    None => dot.clone(),
                    Some(name) => self.vars.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.clone()).ok_or_else(|| perr(format!("undefined variable \"{name}\"")))?,
                };
                field(&base, path, self.strict)?
            }
            Arg::Str(s) => Value::String(s.clone()),
            Arg::Int(i) => Value::from(*i),
            Arg::Float(f) => serde_json::Number::from_f64(*f).map(Value::Number).unwrap_or(Value::Null),
            Arg::Bool(b) => Value::Bool(*b),
            Arg::Nil => Value::Null,
            Arg::Sub(p, chain) => {
                let v = self.pipeline(p, dot)?;
                field(&v, chain, self.strict)?
            }
            Arg::Ident(name) => return Err(xerr(format!("{name} is a function, not a value"))),
        })
    }

    fn command(&mut self, cmd: &[Arg], dot: &Value, prev: Option<Value>) -> Result<Value, String> {
        let Some(first) = cmd.first() else { return Err(perr("empty command")) };
        match first {
            Arg::Ident(name) => {
                let mut args = Vec::new();
                for a in &cmd[1..] {
                    args.push(self.arg(a, dot)?);
                }
                if let Some(p) = prev {
                    args.push(p);
                }
                call(name, &args)
            }
            // A method with arguments on the data (`.Label "k"`).
            Arg::Field(None, path) if path.len() == 1 && (cmd.len() > 1 || prev.is_some()) => {
                let Some((_, f)) = self.methods.iter().find(|(n, _)| *n == path[0]) else {
                    return Err(xerr(format!("at <.{}>: {} has arguments but cannot be invoked as function", path[0], path[0])));
                };
                let mut args = Vec::new();
                for a in &cmd[1..] {
                    args.push(self.arg(a, dot)?);
                }
                if let Some(p) = prev {
                    args.push(p);
                }
                f(dot, &args)
            }
            _ => {
                if cmd.len() > 1 || prev.is_some() {
                    return Err(xerr("can't give argument to non-function"));
                }
                self.arg(first, dot)
            }
        }
    }
}

/// `.A.B` on a value: a missing key is an error when `strict`, else nil (printed `<no
/// value>`); a field of a non-map is an error, as Go's maps and structs.
fn field(base: &Value, path: &[String], strict: bool) -> Result<Value, String> {
    let mut cur = base.clone();
    for (i, name) in path.iter().enumerate() {
        cur = match &cur {
            Value::Object(m) => match m.get(name) {
                Some(v) => v.clone(),
                None if strict => return Err(xerr(format!("at <.{}>: map has no entry for key {name:?}", path[..=i].join(".")))),
                None => Value::Null,
            },
            Value::Null => Value::Null,
            other => return Err(xerr(format!("at <.{name}>: can't evaluate field {name} in type {}", go_type(other)))),
        };
    }
    Ok(cur)
}

fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "interface {}",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_i64() || n.is_u64() => "int",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// How Go's text/template prints a value (`fmt.Sprint`).
pub fn go_string(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".into(),
        other => sprint_value(other),
    }
}

/// `fmt.Sprint` of one value (nil inside containers is `<nil>`).
fn sprint_value(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(a) => format!("[{}]", a.iter().map(sprint_value).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => format!("map[{}]", m.iter().map(|(k, x)| format!("{k}:{}", sprint_value(x))).collect::<Vec<_>>().join(" ")),
    }
}

fn as_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => sprint_value(other),
    }
}

fn as_int(v: &Value, what: &str) -> Result<i64, String> {
    v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)).ok_or_else(|| xerr(format!("error calling {what}: expected integer; found {}", go_string(v))))
}

fn compare(a: &Value, b: &Value) -> Result<std::cmp::Ordering, String> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64().partial_cmp(&y.as_f64()).ok_or_else(|| xerr("incompatible types for comparison")),
        (Value::String(x), Value::String(y)) => Ok(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Ok(x.cmp(y)),
        _ => Err(xerr("error calling lt: incompatible types for comparison")),
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn need(name: &str, args: &[Value], n: usize) -> Result<(), String> {
    if args.len() != n {
        return Err(xerr(format!("wrong number of args for {name}: want {n} got {}", args.len())));
    }
    Ok(())
}

fn call(name: &str, args: &[Value]) -> Result<Value, String> {
    let s = |v: &str| Value::String(v.to_string());
    Ok(match name {
        "and" => args.iter().find(|a| !truthy(a)).or(args.last()).cloned().unwrap_or(Value::Null),
        "or" => args.iter().find(|a| truthy(a)).or(args.last()).cloned().unwrap_or(Value::Null),
        "not" => {
            need(name, args, 1)?;
            Value::Bool(!truthy(&args[0]))
        }
        "len" => {
            need(name, args, 1)?;
            Value::from(match &args[0] {
                Value::Array(a) => a.len(),
                Value::Object(m) => m.len(),
                Value::String(x) => x.len(),
                other => return Err(xerr(format!("error calling len: len of type {}", go_type(other)))),
            })
        }
        "index" => {
            let mut cur = args.first().cloned().unwrap_or(Value::Null);
            for k in args.iter().skip(1) {
                cur = match (&cur, k) {
                    (Value::Array(a), k) => {
                        let i = as_int(k, "index")?;
                        a.get(usize::try_from(i).map_err(|_| xerr(format!("error calling index: index out of range: {i}")))?).cloned().ok_or_else(|| xerr(format!("error calling index: index out of range: {i}")))?
                    }
                    // A missing key gives the map's zero value: "" for maps of strings.
                    (Value::Object(m), k) => match m.get(&as_str(k)) {
                        Some(v) => v.clone(),
                        None if m.values().all(Value::is_string) => s(""),
                        None => Value::Null,
                    },
                    // A nil map (Docker's empty label maps): the zero value.
                    (Value::Null, _) => s(""),
                    (other, _) => return Err(xerr(format!("error calling index: can't index item of type {}", go_type(other)))),
                };
            }
            cur
        }
        "slice" => {
            let base = args.first().cloned().unwrap_or(Value::Null);
            let from = args.get(1).map(|v| as_int(v, "slice")).transpose()?.unwrap_or(0).max(0) as usize;
            match base {
                Value::String(x) => {
                    let to = args.get(2).map(|v| as_int(v, "slice")).transpose()?.map(|t| t as usize).unwrap_or(x.len());
                    s(x.get(from..to).ok_or_else(|| xerr("error calling slice: index out of range"))?)
                }
                Value::Array(a) => {
                    let to = args.get(2).map(|v| as_int(v, "slice")).transpose()?.map(|t| t as usize).unwrap_or(a.len());
                    Value::Array(a.get(from..to).ok_or_else(|| xerr("error calling slice: index out of range"))?.to_vec())
                }
                other => return Err(xerr(format!("error calling slice: can't slice item of type {}", go_type(&other)))),
            }
        }
        "eq" => {
            let first = args.first().ok_or_else(|| xerr("missing argument for comparison"))?;
            Value::Bool(args[1..].iter().any(|b| equal(first, b)))
        }
        "ne" => {
            need(name, args, 2)?;
            Value::Bool(!equal(&args[0], &args[1]))
        }
        "lt" | "le" | "gt" | "ge" => {
            need(name, args, 2)?;
            let o = compare(&args[0], &args[1])?;
            Value::Bool(match name {
                "lt" => o.is_lt(),
                "le" => o.is_le(),
                "gt" => o.is_gt(),
                _ => o.is_ge(),
            })
        }
        "print" => s(&sprint(args)),
        "println" => s(&format!("{}\n", args.iter().map(sprint_value).collect::<Vec<_>>().join(" "))),
        "printf" => {
            let fmt = args.first().map(as_str).unwrap_or_default();
            s(&printf(&fmt, &args[1.min(args.len())..]))
        }
        "json" => {
            need(name, args, 1)?;
            // Keys starting with `_` are the caller's private data (what methods with
            // arguments read), not fields.
            let (v, go_marshal) = match &args[0] {
                Value::Object(m) => (Value::Object(m.iter().filter(|(k, _)| !k.starts_with('_')).map(|(k, v)| (k.clone(), v.clone())).collect()), m.contains_key(GO_MARSHAL)),
                other => (other.clone(), false),
            };
            let text = serde_json::to_string(&v).unwrap_or_default();
            // A context marshalled by Go's json.Marshal (ps and images rows) has its HTML
            // characters escaped; the `json` function itself does not escape.
            s(&if go_marshal { text.replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026") } else { text })
        }
        "join" => {
            need(name, args, 2)?;
            let list: Vec<String> = match &args[0] {
                Value::Array(a) => a.iter().map(as_str).collect(),
                Value::Null => Vec::new(),
                other => return Err(xerr(format!("error calling join: wrong type for value; expected []string; got {}", go_type(other)))),
            };
            s(&list.join(&as_str(&args[1])))
        }
        "split" => {
            need(name, args, 2)?;
            let (text, sep) = (as_str(&args[0]), as_str(&args[1]));
            let parts: Vec<Value> = if sep.is_empty() { text.chars().map(|c| Value::String(c.to_string())).collect() } else { text.split(sep.as_str()).map(|p| Value::String(p.to_string())).collect() };
            Value::Array(parts)
        }
        "lower" => {
            need(name, args, 1)?;
            s(&as_str(&args[0]).to_lowercase())
        }
        "upper" => {
            need(name, args, 1)?;
            s(&as_str(&args[0]).to_uppercase())
        }
        "title" => {
            need(name, args, 1)?;
            let text = as_str(&args[0]);
            let mut out = String::new();
            let mut prev_letter = false;
            for c in text.chars() {
                if !prev_letter && c.is_alphabetic() {
                    out.extend(c.to_uppercase());
                } else {
                    out.push(c);
                }
                prev_letter = c.is_alphanumeric() || c == '_' || c == '\'';
            }
            s(&out)
        }
        "pad" => {
            need(name, args, 3)?;
            let text = as_str(&args[0]);
            if text.is_empty() {
                s("")
            } else {
                let (pre, post) = (as_int(&args[1], "pad")?.max(0) as usize, as_int(&args[2], "pad")?.max(0) as usize);
                s(&format!("{}{text}{}", " ".repeat(pre), " ".repeat(post)))
            }
        }
        "truncate" => {
            need(name, args, 2)?;
            let text = as_str(&args[0]);
            let n = as_int(&args[1], "truncate")?.max(0) as usize;
            s(if text.len() < n { &text } else { text.get(..n).unwrap_or(&text) })
        }
        "html" | "js" | "urlquery" => s(&sprint(args)),
        other => return Err(perr(format!("function {other:?} not defined"))),
    })
}

/// `fmt.Sprint`: a space between operands when neither side is a string.
fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !a.is_string() && !args[i - 1].is_string() {
            out.push(' ');
        }
        out.push_str(&sprint_value(a));
    }
    out
}

/// `fmt.Sprintf` for the verbs people use: `%s %v %d %q %t %f %x %X %c %%`, with flags
/// `-`, `0`, `+`, width and precision.
pub fn printf(fmt: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let chars: Vec<char> = fmt.chars().collect();
    let mut i = 0;
    let mut next = 0;
    while i < chars.len() {
        if chars[i] != '%' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        i += 1;
        let (mut left, mut zero, mut plus) = (false, false, false);
        while let Some(&f) = chars.get(i) {
            match f {
                '-' => left = true,
                '0' => zero = true,
                '+' => plus = true,
                ' ' | '#' => {}
                _ => break,
            }
            i += 1;
        }
        let mut width = String::new();
        while chars.get(i).is_some_and(|c| c.is_ascii_digit()) {
            width.push(chars[i]);
            i += 1;
        }
        let mut prec: Option<usize> = None;
        if chars.get(i) == Some(&'.') {
            i += 1;
            let mut p = String::new();
            while chars.get(i).is_some_and(|c| c.is_ascii_digit()) {
                p.push(chars[i]);
                i += 1;
            }
            prec = Some(p.parse().unwrap_or(0));
        }
        let Some(&verb) = chars.get(i) else {
            out.push_str("%!(NOVERB)");
            break;
        };
        i += 1;
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(next) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        next += 1;
        let mut text = match verb {
            's' | 'v' => {
                let t = sprint_value(arg);
                match prec {
                    Some(p) if verb == 's' => t.chars().take(p).collect(),
                    _ => t,
                }
            }
            'q' => serde_json::to_string(&as_str(arg)).unwrap_or_default(),
            'd' => match arg.as_i64() {
                Some(n) if plus && n >= 0 => format!("+{n}"),
                Some(n) => n.to_string(),
                None => format!("%!d({})", sprint_value(arg)),
            },
            't' => match arg {
                Value::Bool(b) => b.to_string(),
                other => format!("%!t({})", sprint_value(other)),
            },
            'f' | 'F' => match arg.as_f64() {
                Some(f) => format!("{f:.*}", prec.unwrap_or(6)),
                None => format!("%!f({})", sprint_value(arg)),
            },
            'x' | 'X' => {
                let t = match arg {
                    Value::Number(n) if n.as_i64().is_some() => format!("{:x}", n.as_i64().unwrap_or(0)),
                    other => as_str(other).bytes().map(|b| format!("{b:02x}")).collect(),
                };
                if verb == 'X' {
                    t.to_uppercase()
                } else {
                    t
                }
            }
            'c' => arg.as_u64().and_then(|n| char::from_u32(n as u32)).map(String::from).unwrap_or_default(),
            other => format!("%!{other}({})", sprint_value(arg)),
        };
        if let Ok(w) = width.parse::<usize>() {
            let len = text.chars().count();
            if len < w {
                let pad = w - len;
                if left {
                    text.push_str(&" ".repeat(pad));
                } else if zero && matches!(verb, 'd' | 'f' | 'x' | 'X') {
                    let (sign, digits) = if text.starts_with('-') || text.starts_with('+') { text.split_at(1) } else { ("", text.as_str()) };
                    text = format!("{sign}{}{digits}", "0".repeat(pad));
                } else {
                    text = format!("{}{text}", " ".repeat(pad));
                }
            }
        }
        out.push_str(&text);
    }
    if next < args.len() {
        out.push_str(&format!("%!(EXTRA {})", args[next..].iter().map(|a| format!("{}={}", go_type(a), sprint_value(a))).collect::<Vec<_>>().join(", ")));
    }
    out
}

/// The header row of a table format: each field replaced by its column title (Docker runs
/// the template on a map of titles, with the string functions passing their first argument
/// through).
pub fn header_row(template: &str, titles: &Map<String, Value>) -> String {
    let passthrough: String = template.to_string();
    match Template::parse(&passthrough) {
        Ok(t) => {
            let header = Value::Object(titles.clone());
            let mut ex = Exec { methods: &[("Label", header_label)], vars: vec![("$".to_string(), header.clone())], strict: false };
            let mut out = String::new();
            let _ = ex.header_nodes(&t.nodes, &header, &mut out);
            out
        }
        Err(_) => String::new(),
    }
}

/// The title of a `{{.Label "name"}}` column: the last dotted part, `-` and `_` as spaces.
fn header_label(_: &Value, args: &[Value]) -> Result<Value, String> {
    let name = args.first().map(as_str).unwrap_or_default();
    let last = name.rsplit('.').next().unwrap_or("");
    Ok(Value::String(last.replace(['-', '_'], " ")))
}

impl Exec<'_> {
    /// Like `nodes`, but functions print their first argument (Docker's header functions);
    /// errors stop the row where they happen, as Go's Execute does.
    fn header_nodes(&mut self, nodes: &[Node], dot: &Value, out: &mut String) -> Result<(), String> {
        for n in nodes {
            match n {
                Node::Text(t) => out.push_str(t),
                Node::Action(p) => {
                    let mut v = Value::Null;
                    for cmd in &p.cmds {
                        v = match cmd.first() {
                            Some(Arg::Ident(name)) if ["json", "split", "join", "title", "lower", "upper", "truncate", "pad"].contains(&name.as_str()) => match cmd.get(1) {
                                Some(a) => self.arg(a, dot)?,
                                None => v,
                            },
                            _ => self.command(cmd, dot, None)?,
                        };
                    }
                    if p.decl.is_empty() {
                        out.push_str(&go_string(&v));
                    }
                }
                other => self.nodes(std::slice::from_ref(other), dot, out)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(t: &str, v: &Value) -> String {
        Template::parse(t).and_then(|t| t.execute(v, &[])).unwrap_or_else(|e| format!("ERR {e}"))
    }

    #[test]
    fn fields_functions_and_pipelines() {
        let v = json!({"Id": "abc", "State": {"Status": "running", "Pid": 42}, "Config": {"Cmd": ["sh", "-c"], "Labels": {"a": "1", "b": "2"}}, "N": []});
        assert_eq!(run("{{.Id}} {{.State.Status}}", &v), "abc running");
        assert_eq!(run("{{json .Config.Cmd}}", &v), "[\"sh\",\"-c\"]");
        assert_eq!(run("{{index .Config.Labels \"a\"}}|{{index .Config.Labels \"zz\"}}|", &v), "1||");
        assert_eq!(run("{{index .Nil \"a\"}}|", &json!({"Nil": null})), "|");
        assert_eq!(run("{{join .Config.Cmd \",\"}} {{\",\" | join .Config.Cmd}}", &v), "sh,-c sh,-c");
        assert_eq!(run("{{upper .State.Status}} {{.State.Status | lower}} {{title \"hello world\"}}", &v), "RUNNING running Hello World");
        assert_eq!(run("{{printf \"%s-%d-%5s|%-4s|%q\" .Id .State.Pid \"x\" \"y\" \"z\"}}", &v), "abc-42-    x|y   |\"z\"");
        assert_eq!(run("{{len .Config.Cmd}} {{index .Config.Cmd 1}} {{slice .Id 1}}", &v), "2 -c bc");
        assert!(run("{{.Nope}}", &v).contains("map has no entry for key \"Nope\""));
        assert_eq!(run("{{(index .Config.Cmd 0)}} {{print 1 2 \"a\"}}", &v), "sh 1 2a");
        assert_eq!(run("{{split \"a:b\" \":\"}} {{pad \"x\" 1 2}}|{{truncate \"abcdef\" 3}}", &v), "[a b]  x  |abc");
    }

    #[test]
    fn control_flow() {
        let v = json!({"Labels": {"b": "2", "a": "1"}, "List": ["x", "y"], "Empty": [], "On": true, "Code": 3});
        assert_eq!(run("{{range $k, $v := .Labels}}{{$k}}={{$v}};{{end}}", &v), "a=1;b=2;");
        assert_eq!(run("{{range .List}}<{{.}}>{{else}}none{{end}}", &v), "<x><y>");
        assert_eq!(run("{{range .Empty}}<{{.}}>{{else}}none{{end}}", &v), "none");
        assert_eq!(run("{{range $i, $e := .List}}{{$i}}{{$e}} {{end}}", &v), "0x 1y ");
        assert_eq!(run("{{if .On}}on{{else}}off{{end}} {{if eq .Code 1}}one{{else if eq .Code 3}}three{{else}}other{{end}}", &v), "on three");
        assert_eq!(run("{{if and .On (gt .Code 2)}}yes{{end}}{{if not .On}}no{{end}}", &v), "yes");
        assert_eq!(run("{{with .Labels.a}}a is {{.}}{{end}}{{with index .Labels \"z\"}}z{{else}} no z{{end}}", &v), "a is 1 no z");
        assert_eq!(run("{{$x := .Code}}{{$x}} {{- /* comment */ -}} !", &v), "3!");
        assert_eq!(run("a  {{- \"b\" -}}  c", &v), "abc");
        assert_eq!(run("{{range .List}}{{$.Code}}{{end}}", &v), "33");
        assert!(run("{{nope .}}", &v).contains("function \"nope\" not defined"));
        assert!(run("{{if .On}}x", &v).starts_with("ERR"));
    }

    #[test]
    fn methods_and_headers() {
        fn label(dot: &Value, args: &[Value]) -> Result<Value, String> {
            Ok(dot["L"].get(args[0].as_str().unwrap_or("")).cloned().unwrap_or(json!("")))
        }
        let t = Template::parse("{{.Label \"k\"}}").unwrap();
        assert_eq!(t.execute(&json!({"L": {"k": "v"}}), &[("Label", label)]).unwrap(), "v");
        let titles = json!({"ID": "CONTAINER ID", "Names": "NAMES"});
        assert_eq!(header_row("{{.ID}}\t{{upper .Names}}", titles.as_object().unwrap()), "CONTAINER ID\tNAMES");
    }
}
