//! Typed instructions from the line parser's nodes, with Docker's checks and messages
//! (argument counts, flags, stage names, HEALTHCHECK options, ONBUILD triggers).

use std::time::Duration;

use super::parser::{self, Node};
use super::shell::go_quote;
use super::*;

const ALL_INSTRUCTIONS: [&str; 18] = [
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL", "MAINTAINER",
    "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
];

enum Parsed {
    From(Stage),
    Command(Command),
}

pub(super) fn parse_dockerfile(text: &str) -> Result<Dockerfile, ParseError> {
    let parsed = parser::parse(text).map_err(|e| ParseError {
        kind: ParseErrorKind::Syntax,
        message: e.message,
        start_line: e.start_line,
        end_line: e.end_line,
    })?;
    let mut stages: Vec<Stage> = Vec::new();
    let mut args_before_from = Vec::new();
    for node in &parsed.nodes {
        let source = source_of(node);
        let instruction_error = |message: String| ParseError {
            kind: ParseErrorKind::Instruction,
            message,
            start_line: node.start_line,
            end_line: node.end_line,
        };
        match convert(node).map_err(instruction_error)? {
            Parsed::From(stage) => stages.push(stage),
            Parsed::Command(Command::Arg(args)) if stages.is_empty() => {
                args_before_from.push(ArgInstruction { source, args });
            }
            Parsed::Command(command) => match stages.last_mut() {
                Some(stage) => stage.instructions.push(Instruction { source, command }),
                None => {
                    return Err(ParseError {
                        kind: ParseErrorKind::NoStage,
                        message: "no build stage in current context".into(),
                        start_line: node.start_line,
                        end_line: node.end_line,
                    })
                }
            },
        }
    }
    Ok(Dockerfile { escape: parsed.escape, syntax: parsed.syntax, args_before_from, stages, warnings: parsed.warnings })
}

/// Parses text holding instructions only, as Docker does for ONBUILD triggers and for
/// `docker commit --change`: the outer error is a failure of the line parser; each instruction
/// comes with its keyword as written (to check it against an allow-list first) and its own
/// result (FROM is not a command here).
#[allow(clippy::type_complexity)]
pub fn parse_commands(text: &str) -> Result<Vec<(String, Result<Instruction, ParseError>)>, ParseError> {
    let parsed = parser::parse(text).map_err(|e| ParseError {
        kind: ParseErrorKind::Syntax,
        message: e.message,
        start_line: e.start_line,
        end_line: e.end_line,
    })?;
    Ok(parsed
        .nodes
        .iter()
        .map(|node| {
            let err = |message: String| ParseError {
                kind: ParseErrorKind::Instruction,
                message,
                start_line: node.start_line,
                end_line: node.end_line,
            };
            let result = match convert(node) {
                Ok(Parsed::Command(command)) => Ok(Instruction { source: source_of(node), command }),
                Ok(Parsed::From(_)) => Err(err("*instructions.Stage is not a command type".into())),
                Err(m) => Err(err(m)),
            };
            (node.keyword.clone(), result)
        })
        .collect())
}

fn source_of(node: &Node) -> Source {
    Source {
        original: node.original.trim().to_string(),
        keyword: node.keyword.clone(),
        start_line: node.start_line,
        end_line: node.end_line,
    }
}

/// Edit distance, for Docker's "did you mean" suggestions.
fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let sub = prev[j - 1] + usize::from(a[i - 1] != b[j - 1]);
            cur[j] = sub.min(prev[j] + 1).min(cur[j - 1] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Docker's suggestion: the closest option under distance 3, none on an exact match.
fn suggest(value: &str, options: &[&str], case_sensitive: bool) -> Option<String> {
    let v = if case_sensitive { value.to_string() } else { value.to_lowercase() };
    let mut best: Option<String> = None;
    let mut min = 3;
    for opt in options {
        let o = if case_sensitive { opt.to_string() } else { opt.to_lowercase() };
        if o == v {
            return None;
        }
        let d = levenshtein(&v, &o);
        if d < min {
            min = d;
            best = Some(if case_sensitive {
                o
            } else if value == value.to_lowercase() {
                o.to_lowercase()
            } else if value == value.to_uppercase() {
                o.to_uppercase()
            } else {
                o
            });
        }
    }
    best
}

fn with_suggestion(message: String, value: &str, options: &[&str], case_sensitive: bool) -> String {
    match suggest(value, options, case_sensitive) {
        Some(m) => format!("{message} (did you mean {m}?)"),
        None => message,
    }
}

#[derive(Clone, Copy, PartialEq)]
enum FlagType {
    Bool,
    String,
    Strings,
}

#[derive(Default)]
struct Flags {
    /// name → values (bool: "true"/"false"; string: one value; strings: every value)
    values: Vec<(String, Vec<String>)>,
    used: Vec<String>,
}

impl Flags {
    fn string(&self, name: &str) -> Option<String> {
        self.values.iter().find(|(n, _)| n == name).and_then(|(_, v)| v.last().cloned()).filter(|v| !v.is_empty())
    }
    fn strings(&self, name: &str) -> Vec<String> {
        self.values.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap_or_default()
    }
    fn bool(&self, name: &str) -> Option<bool> {
        self.values.iter().find(|(n, _)| n == name).and_then(|(_, v)| v.last()).map(|v| v == "true")
    }
}

/// Docker's BFlags: `--name=value` words checked against the instruction's flags.
fn parse_flags(args: &[String], defs: &[(&str, FlagType)]) -> Result<Flags, String> {
    let mut flags = Flags::default();
    for a in args {
        if a == "--" {
            break;
        }
        let Some(body) = a.strip_prefix("--") else {
            return Err(format!("arg should start with -- : {a}"));
        };
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        let flag_name = format!("--{name}");
        let Some(&(_, typ)) = defs.iter().find(|(n, _)| *n == name) else {
            let names: Vec<&str> = defs.iter().map(|(n, _)| *n).collect();
            return Err(with_suggestion(format!("unknown flag: {flag_name}"), name, &names, true));
        };
        let seen = flags.used.iter().any(|u| u == name);
        if seen && typ != FlagType::Strings {
            return Err(format!("duplicate flag specified: {flag_name}"));
        }
        if !seen {
            flags.used.push(name.to_string());
        }
        let v = match typ {
            FlagType::Bool => {
                if value == Some("") {
                    return Err(format!("missing a value on flag: {flag_name}"));
                }
                match value.map(|v| v.to_lowercase()).as_deref() {
                    None | Some("true") => "true".to_string(),
                    Some("false") => "false".to_string(),
                    Some(_) => {
                        return Err(format!(
                            "expecting boolean value for flag {flag_name}, not: {}",
                            value.unwrap_or_default()
                        ))
                    }
                }
            }
            FlagType::String | FlagType::Strings => match value {
                None => return Err(format!("missing a value on flag: {flag_name}")),
                Some(v) => v.to_string(),
            },
        };
        match flags.values.iter_mut().find(|(n, _)| n == name) {
            Some((_, vals)) => vals.push(v),
            None => flags.values.push((name.to_string(), vec![v])),
        }
    }
    Ok(flags)
}

fn no_flags(node: &Node) -> Result<(), String> {
    parse_flags(&node.flags, &[]).map(|_| ())
}

fn at_least_one(cmd: &str) -> String {
    format!("{cmd} requires at least one argument")
}

fn exactly_one(cmd: &str) -> String {
    format!("{cmd} requires exactly one argument")
}

fn command_line(node: &Node) -> CommandLine {
    let args = if node.args.is_empty() {
        Vec::new()
    } else if node.json {
        node.args.clone()
    } else {
        vec![node.args.join(" ")]
    };
    CommandLine { args, prepend_shell: !node.json }
}

fn key_values(node: &Node, cmd: &str) -> Result<Vec<KeyValue>, String> {
    if node.args.is_empty() {
        return Err(at_least_one(cmd));
    }
    if node.args.len() % 3 != 0 {
        return Err(format!("Bad input to {cmd}, too many arguments"));
    }
    node.args
        .chunks(3)
        .map(|c| {
            if c[0].is_empty() {
                return Err(format!("{cmd} names can not be blank"));
            }
            Ok(KeyValue { key: c[0].clone(), value: c[1].clone(), legacy_form: c[2].is_empty() })
        })
        .collect()
}

/// Go's `time.ParseDuration`, in nanoseconds.
fn parse_go_duration(s: &str) -> Result<i128, String> {
    let orig = s;
    let invalid = || format!("time: invalid duration {}", go_quote(orig));
    let mut s = s;
    let mut neg = false;
    if let Some(r) = s.strip_prefix('-') {
        neg = true;
        s = r;
    } else if let Some(r) = s.strip_prefix('+') {
        s = r;
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: f64 = 0.0;
    while !s.is_empty() {
        let c = s.chars().next().unwrap_or_default();
        if !(c == '.' || c.is_ascii_digit()) {
            return Err(invalid());
        }
        let int_len = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let int_part = &s[..int_len];
        s = &s[int_len..];
        let mut frac_part = "";
        if let Some(r) = s.strip_prefix('.') {
            let frac_len = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
            frac_part = &r[..frac_len];
            s = &r[frac_len..];
            if int_part.is_empty() && frac_part.is_empty() {
                return Err(invalid());
            }
        } else if int_part.is_empty() {
            return Err(invalid());
        }
        let unit_len = s.find(|c: char| c == '.' || c.is_ascii_digit()).unwrap_or(s.len());
        let unit = &s[..unit_len];
        s = &s[unit_len..];
        if unit.is_empty() {
            return Err(format!("time: missing unit in duration {}", go_quote(orig)));
        }
        let scale: f64 = match unit {
            "ns" => 1.0,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(format!("time: unknown unit {} in duration {}", go_quote(unit), go_quote(orig))),
        };
        let number: f64 = format!("{}.{}0", if int_part.is_empty() { "0" } else { int_part }, frac_part)
            .parse()
            .map_err(|_| invalid())?;
        total += number * scale;
        if total > i64::MAX as f64 {
            return Err(invalid());
        }
    }
    let total = total.round() as i128;
    Ok(if neg { -total } else { total })
}

fn interval(flags: &Flags, name: &str) -> Result<Duration, String> {
    let Some(v) = flags.string(name) else { return Ok(Duration::ZERO) };
    let ns = parse_go_duration(&v)?;
    if ns == 0 {
        return Ok(Duration::ZERO);
    }
    if ns < 1_000_000 {
        return Err(format!("Interval {} cannot be less than 1ms", go_quote(name)));
    }
    Ok(Duration::from_nanos(ns as u64))
}

fn parse_retries(v: &str) -> Result<i64, String> {
    let digits = v.strip_prefix(['+', '-']).unwrap_or(v);
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("strconv.ParseInt: parsing {}: invalid syntax", go_quote(v)));
    }
    match v.parse::<i64>() {
        Ok(n) if n >= i32::MIN as i64 && n <= i32::MAX as i64 => Ok(n),
        _ => Err(format!("strconv.ParseInt: parsing {}: value out of range", go_quote(v))),
    }
}

fn healthcheck(node: &Node) -> Result<Healthcheck, String> {
    if node.args.is_empty() {
        return Err(at_least_one("HEALTHCHECK"));
    }
    let typ = node.args[0].to_uppercase();
    let args = &node.args[1..];
    let mut hc = Healthcheck {
        test: Vec::new(),
        interval: Duration::ZERO,
        timeout: Duration::ZERO,
        start_period: Duration::ZERO,
        start_interval: Duration::ZERO,
        retries: 0,
    };
    if typ == "NONE" {
        if !args.is_empty() {
            return Err("HEALTHCHECK NONE takes no arguments".into());
        }
        no_flags(node)?;
        hc.test = vec![typ];
        return Ok(hc);
    }
    use FlagType::String as S;
    let flags = parse_flags(
        &node.flags,
        &[("interval", S), ("timeout", S), ("start-period", S), ("start-interval", S), ("retries", S)],
    )?;
    if typ != "CMD" {
        return Err(format!("Unknown type {} in HEALTHCHECK (try CMD)", go_quote(&typ)));
    }
    let cmd = if node.json { args.to_vec() } else if args.is_empty() { Vec::new() } else { vec![args.join(" ")] };
    if cmd.is_empty() {
        return Err("Missing command after HEALTHCHECK CMD".into());
    }
    let kind = if node.json { "CMD" } else { "CMD-SHELL" };
    hc.test = std::iter::once(kind.to_string()).chain(cmd).collect();
    hc.interval = interval(&flags, "interval")?;
    hc.timeout = interval(&flags, "timeout")?;
    hc.start_period = interval(&flags, "start-period")?;
    hc.start_interval = interval(&flags, "start-interval")?;
    if let Some(r) = flags.string("retries") {
        let n = parse_retries(&r)?;
        if n < 0 {
            return Err(format!("--retries cannot be negative ({n})"));
        }
        hc.retries = n;
    }
    Ok(hc)
}

fn copy_spec(node: &Node, flags: &Flags) -> CopySpec {
    let (sources, dest) = node.args.split_at(node.args.len() - 1);
    CopySpec {
        sources: sources.to_vec(),
        dest: dest[0].clone(),
        chown: flags.string("chown"),
        chmod: flags.string("chmod"),
        link: flags.bool("link").unwrap_or(false),
        excludes: flags.strings("exclude"),
        json: node.json,
    }
}

fn no_destination(cmd: &str) -> String {
    format!("{cmd} requires at least two arguments, but only one was provided. Destination could not be determined")
}

fn stage_name_ok(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

fn convert(node: &Node) -> Result<Parsed, String> {
    use FlagType::*;
    let keyword = node.keyword.to_ascii_lowercase();
    let heredoc_node = match &node.sub {
        Some(sub) if keyword == "onbuild" => sub.as_ref(),
        _ => node,
    };
    if !node.heredocs.is_empty() || !heredoc_node.heredocs.is_empty() {
        return Err(requires_buildkit("heredoc syntax"));
    }
    let args = &node.args;
    let command = match keyword.as_str() {
        "env" => {
            no_flags(node)?;
            Command::Env(key_values(node, "ENV")?)
        }
        "maintainer" => {
            if args.len() != 1 {
                return Err(exactly_one("MAINTAINER"));
            }
            no_flags(node)?;
            Command::Maintainer(args[0].clone())
        }
        "label" => {
            no_flags(node)?;
            Command::Label(key_values(node, "LABEL")?)
        }
        "add" => {
            if args.len() < 2 {
                return Err(no_destination("ADD"));
            }
            let flags = parse_flags(
                &node.flags,
                &[
                    ("chown", String),
                    ("chmod", String),
                    ("link", Bool),
                    ("keep-git-dir", Bool),
                    ("checksum", String),
                    ("unpack", Bool),
                    ("exclude", Strings),
                ],
            )?;
            Command::Add(AddCommand {
                spec: copy_spec(node, &flags),
                keep_git_dir: flags.bool("keep-git-dir"),
                checksum: flags.string("checksum"),
                unpack: flags.bool("unpack"),
            })
        }
        "copy" => {
            if args.len() < 2 {
                return Err(no_destination("COPY"));
            }
            let flags = parse_flags(
                &node.flags,
                &[
                    ("chown", String),
                    ("from", String),
                    ("chmod", String),
                    ("link", Bool),
                    ("exclude", Strings),
                    ("parents", Bool),
                ],
            )?;
            Command::Copy(CopyCommand {
                spec: copy_spec(node, &flags),
                from: flags.string("from"),
                parents: flags.bool("parents").unwrap_or(false),
            })
        }
        "from" => {
            let name = match args.len() {
                3 if args[1].eq_ignore_ascii_case("as") => {
                    let name = args[2].to_lowercase();
                    if !stage_name_ok(&name) {
                        return Err(format!(
                            "invalid name for build stage: {}, name can't start with a number or contain symbols",
                            go_quote(&args[2])
                        ));
                    }
                    Some(name)
                }
                1 => None,
                _ => return Err("FROM requires either one or three arguments".into()),
            };
            let flags = parse_flags(&node.flags, &[("platform", String)])?;
            return Ok(Parsed::From(Stage {
                source: source_of(node),
                name,
                base_name: args[0].clone(),
                platform: flags.string("platform"),
                instructions: Vec::new(),
            }));
        }
        "onbuild" => {
            if args.is_empty() {
                return Err(at_least_one("ONBUILD"));
            }
            no_flags(node)?;
            let trigger = args[0].trim().to_uppercase();
            match trigger.as_str() {
                "ONBUILD" => return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into()),
                "MAINTAINER" | "FROM" => return Err(format!("{trigger} isn't allowed as an ONBUILD trigger")),
                _ => {}
            }
            let original = node.original.trim_start();
            let expression = original[original.find(char::is_whitespace).unwrap_or(original.len())..].trim_start();
            Command::Onbuild(expression.to_string())
        }
        "workdir" => {
            if args.len() != 1 {
                return Err(exactly_one("WORKDIR"));
            }
            no_flags(node)?;
            Command::Workdir(args[0].clone())
        }
        "run" => {
            let flags = parse_flags(
                &node.flags,
                &[("device", Strings), ("mount", Strings), ("network", String), ("security", String)],
            )?;
            let network = flags.string("network");
            if let Some(n) = &network {
                if !matches!(n.as_str(), "default" | "none" | "host") {
                    return Err(format!("invalid network mode {}", go_quote(n)));
                }
            }
            let security = flags.string("security");
            if let Some(s) = &security {
                if !matches!(s.as_str(), "sandbox" | "insecure") {
                    return Err(format!("security {} is not valid", go_quote(s)));
                }
            }
            Command::Run(RunCommand {
                command: command_line(node),
                mounts: flags.strings("mount"),
                network,
                security,
                devices: flags.strings("device"),
                flags_used: flags.used.clone(),
            })
        }
        "cmd" => {
            no_flags(node)?;
            Command::Cmd(command_line(node))
        }
        "entrypoint" => {
            no_flags(node)?;
            Command::Entrypoint(command_line(node))
        }
        "healthcheck" => Command::Healthcheck(healthcheck(node)?),
        "expose" => {
            if args.is_empty() {
                return Err(at_least_one("EXPOSE"));
            }
            no_flags(node)?;
            let mut ports = args.clone();
            ports.sort();
            Command::Expose(ports)
        }
        "user" => {
            if args.len() != 1 {
                return Err(exactly_one("USER"));
            }
            no_flags(node)?;
            Command::User(args[0].clone())
        }
        "volume" => {
            if args.is_empty() {
                return Err(at_least_one("VOLUME"));
            }
            no_flags(node)?;
            let mut volumes = Vec::new();
            for v in args {
                let v = v.trim();
                if v.is_empty() {
                    return Err("VOLUME specified can not be an empty string".into());
                }
                volumes.push(v.to_string());
            }
            Command::Volume(volumes)
        }
        "stopsignal" => {
            if args.len() != 1 {
                return Err(exactly_one("STOPSIGNAL"));
            }
            no_flags(node)?;
            Command::StopSignal(args[0].clone())
        }
        "arg" => {
            if args.is_empty() {
                return Err(at_least_one("ARG"));
            }
            no_flags(node)?;
            let mut defs = Vec::new();
            for a in args {
                match a.split_once('=') {
                    Some(("", _)) => return Err("ARG names can not be blank".into()),
                    Some((k, v)) => defs.push(ArgDefinition { key: k.to_string(), value: Some(v.to_string()) }),
                    None => defs.push(ArgDefinition { key: a.clone(), value: None }),
                }
            }
            Command::Arg(defs)
        }
        "shell" => {
            no_flags(node)?;
            if args.is_empty() {
                return Err(at_least_one("SHELL"));
            }
            if !node.json {
                return Err("SHELL requires the arguments to be in JSON form".into());
            }
            Command::Shell(args.clone())
        }
        _ => {
            return Err(with_suggestion(
                format!("unknown instruction: {}", node.keyword),
                &node.keyword,
                &ALL_INSTRUCTIONS,
                false,
            ))
        }
    };
    Ok(Parsed::Command(command))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("30s").unwrap(), 30_000_000_000);
        assert_eq!(parse_go_duration("1m30s").unwrap(), 90_000_000_000);
        assert_eq!(parse_go_duration("1.5h").unwrap(), 5_400_000_000_000);
        assert_eq!(parse_go_duration("300ms").unwrap(), 300_000_000);
        assert_eq!(parse_go_duration(".5s").unwrap(), 500_000_000);
        assert_eq!(parse_go_duration("0").unwrap(), 0);
        assert_eq!(parse_go_duration("-1s").unwrap(), -1_000_000_000);
        assert_eq!(parse_go_duration("30").unwrap_err(), "time: missing unit in duration \"30\"");
        assert_eq!(parse_go_duration("3x").unwrap_err(), "time: unknown unit \"x\" in duration \"3x\"");
        assert_eq!(parse_go_duration("abc").unwrap_err(), "time: invalid duration \"abc\"");
        assert_eq!(parse_go_duration("").unwrap_err(), "time: invalid duration \"\"");
    }

    #[test]
    fn suggestions_like_docker() {
        assert_eq!(suggest("FORM", &ALL_INSTRUCTIONS, false).as_deref(), Some("FROM"));
        assert_eq!(suggest("form", &ALL_INSTRUCTIONS, false).as_deref(), Some("from"));
        assert_eq!(suggest("BLAH", &ALL_INSTRUCTIONS, false), None);
        assert_eq!(suggest("chonw", &["chown", "from"], true).as_deref(), Some("chown"));
        assert_eq!(levenshtein("kitten", "sitting"), 3);
    }
}
