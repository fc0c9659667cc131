//! A small pflag-style command-line parser with Docker's exact error texts: long flags
//! (`--env K=V`, `--env=K=V`), short flags (`-e K=V`, `-eK=V`, combined bools `-dit`), `--`
//! to end the options, and optionally stopping at the first positional (`docker run IMAGE
//! CMD...`).

/// What a flag takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `--rm`, `--rm=false`.
    Bool,
    /// One value; the last occurrence wins.
    Value,
    /// Repeatable; every occurrence is kept.
    List,
}

/// One flag a command accepts.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub long: &'static str,
    pub short: Option<char>,
    pub kind: Kind,
    /// The type word shown in help (`string`, `list`, `int`).
    pub value_name: &'static str,
    pub help: &'static str,
}

pub const fn flag(long: &'static str, short: Option<char>, kind: Kind, help: &'static str) -> Spec {
    let value_name = match kind {
        Kind::Bool => "",
        Kind::Value => "string",
        Kind::List => "list",
    };
    Spec { long, short, kind, value_name, help }
}

/// The flags given and the positional arguments, in order.
#[derive(Debug, Default, Clone)]
pub struct Parsed {
    /// `(long name, value)` for every occurrence; bools hold `true`/`false`.
    pub values: Vec<(&'static str, String)>,
    pub args: Vec<String>,
    /// `--help` was given.
    pub help: bool,
}

impl Parsed {
    pub fn bool(&self, long: &str) -> bool {
        self.value(long).is_some_and(|v| v == "true")
    }
    pub fn value(&self, long: &str) -> Option<&str> {
        self.values.iter().rev().find(|(k, _)| *k == long).map(|(_, v)| v.as_str())
    }
    pub fn list(&self, long: &str) -> Vec<&str> {
        self.values.iter().filter(|(k, _)| *k == long).map(|(_, v)| v.as_str()).collect()
    }
    pub fn has(&self, long: &str) -> bool {
        self.values.iter().any(|(k, _)| *k == long)
    }
}

/// Parses `args` (without the command name). With `interspersed` false, the first
/// positional argument ends the options, as `docker run IMAGE ...` needs. Errors are
/// pflag's messages, without the "See '... --help'." line.
pub fn parse(specs: &[Spec], args: &[String], interspersed: bool) -> Result<Parsed, String> {
    let mut out = Parsed::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--" {
            out.args.extend(args[i..].iter().cloned());
            break;
        }
        if let Some(body) = arg.strip_prefix("--") {
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (body, None),
            };
            let Some(spec) = specs.iter().find(|s| s.long == name) else {
                if name == "help" {
                    out.help = true;
                    continue;
                }
                return Err(format!("unknown flag: --{name}"));
            };
            let value = match (spec.kind, inline) {
                (Kind::Bool, Some(v)) => parse_bool(&v).map_err(|_| invalid_bool(&v, &format!("--{name}")))?,
                (Kind::Bool, None) => "true".to_string(),
                (_, Some(v)) => v,
                (_, None) if i < args.len() => {
                    i += 1;
                    args[i - 1].clone()
                }
                (_, None) => return Err(format!("flag needs an argument: --{name}")),
            };
            out.values.push((spec.long, value));
            continue;
        }
        if arg.len() > 1 && arg.starts_with('-') {
            let shorts = &arg[1..];
            for (at, c) in shorts.char_indices() {
                let Some(spec) = specs.iter().find(|s| s.short == Some(c)) else {
                    if c == 'h' {
                        out.help = true;
                        continue;
                    }
                    return Err(format!("unknown shorthand flag: '{c}' in {arg}"));
                };
                let rest = &shorts[at + c.len_utf8()..];
                match spec.kind {
                    Kind::Bool => {
                        if let Some(v) = rest.strip_prefix('=') {
                            let b = parse_bool(v).map_err(|_| invalid_bool(v, &format!("-{c}, --{}", spec.long)))?;
                            out.values.push((spec.long, b));
                            break;
                        }
                        out.values.push((spec.long, "true".to_string()));
                    }
                    _ => {
                        let value = if !rest.is_empty() {
                            rest.strip_prefix('=').unwrap_or(rest).to_string()
                        } else if i < args.len() {
                            i += 1;
                            args[i - 1].clone()
                        } else {
                            return Err(format!("flag needs an argument: '{c}' in {arg}"));
                        };
                        out.values.push((spec.long, value));
                        break;
                    }
                }
            }
            continue;
        }
        out.args.push(arg.clone());
        if !interspersed {
            out.args.extend(args[i..].iter().cloned());
            break;
        }
    }
    Ok(out)
}

/// Go's strconv.ParseBool.
fn parse_bool(v: &str) -> Result<String, ()> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok("true".into()),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok("false".into()),
        _ => Err(()),
    }
}

fn invalid_bool(v: &str, shown: &str) -> String {
    format!("invalid argument \"{v}\" for \"{shown}\" flag: strconv.ParseBool: parsing \"{v}\": invalid syntax")
}

/// The "Options:" block of a command's help, in pflag's two-column layout. A flag without
/// help text is hidden (a deprecated spelling).
pub fn options_help(specs: &[Spec]) -> String {
    let mut rows: Vec<(String, &str)> = specs
        .iter()
        .filter(|s| !s.help.is_empty())
        .map(|s| {
            let short = s.short.map(|c| format!("-{c}, ")).unwrap_or_else(|| "    ".into());
            let value = if s.value_name.is_empty() { String::new() } else { format!(" {}", s.value_name) };
            (format!("  {short}--{}{value}", s.long), s.help)
        })
        .collect();
    rows.sort_by(|a, b| a.0.trim_start_matches([' ', '-']).cmp(b.0.trim_start_matches([' ', '-'])));
    let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    rows.iter().map(|(l, h)| format!("{l:<width$}   {h}\n")).collect()
}

/// The CLI 28's argument-count errors (`cli.ExactArgs`, `RequiresMinArgs`, `RequiresMaxArgs`,
/// `NoArgs`), for the commands that word them as the CLI 28 does (the shared check of the
/// command table words them as the CLI 20.10).
pub fn check_args_cli28(p: &Parsed, name: &str, usage: &str, want: super::Args) -> Result<(), super::Failure> {
    use super::Args;
    let n = p.args.len();
    let plural = |k: usize| if k == 1 { "argument" } else { "arguments" };
    let path = format!("docker {name}");
    let msg = match want {
        Args::None if n > 0 => format!("docker: '{path}' accepts no arguments\n\nUsage:  {usage}\n\nRun '{path} --help' for more information"),
        Args::Exact(k) if n != k => format!("docker: '{path}' requires {k} {}\n\nUsage:  {usage}\n\nRun '{path} --help' for more information", plural(k)),
        // "SRun" is the CLI 28's own text (its RequiresMaxArgs), kept as it prints it.
        Args::AtMost(k) if n > k => format!("docker: '{path}' requires at most {k} {}\n\nUsage:  {usage}\n\nSRun '{path} --help' for more information", plural(k)),
        Args::AtLeast(k) if n < k => format!("docker: '{path}' requires at least {k} {}\n\nUsage:  {usage}\n\nSee '{path} --help' for more information", plural(k)),
        _ => return Ok(()),
    };
    Err(super::Failure::new(msg, 1))
}

/// `key=value` list flags as a map (the CLI's `MapOpts`: a value without `=` maps to "").
pub fn map_flag(p: &Parsed, long: &str) -> serde_json::Map<String, serde_json::Value> {
    p.list(long).into_iter().map(|v| v.split_once('=').map(|(k, val)| (k.to_string(), serde_json::json!(val))).unwrap_or((v.to_string(), serde_json::json!("")))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECS: &[Spec] = &[
        flag("env", Some('e'), Kind::List, "Set environment variables"),
        flag("detach", Some('d'), Kind::Bool, "Run in background"),
        flag("interactive", Some('i'), Kind::Bool, "Keep STDIN open"),
        flag("tty", Some('t'), Kind::Bool, "Allocate a pseudo-TTY"),
        flag("rm", None, Kind::Bool, "Remove on exit"),
        flag("name", None, Kind::Value, "Name"),
    ];

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn long_short_and_combined_forms() {
        let p = parse(SPECS, &args(&["-e", "A=1", "--env=B=2", "--env", "C=3", "-eD=4", "-e=E=5", "-dit", "--rm", "--name", "x", "img", "-e", "cmd"]), false).unwrap();
        assert_eq!(p.list("env"), vec!["A=1", "B=2", "C=3", "D=4", "E=5"]);
        assert!(p.bool("detach") && p.bool("interactive") && p.bool("tty") && p.bool("rm"));
        assert_eq!(p.value("name"), Some("x"));
        assert_eq!(p.args, args(&["img", "-e", "cmd"]));
    }

    #[test]
    fn combined_short_with_value_last() {
        let p = parse(SPECS, &args(&["-de", "K=V", "img"]), false).unwrap();
        assert!(p.bool("detach"));
        assert_eq!(p.list("env"), vec!["K=V"]);
        assert_eq!(p.args, args(&["img"]));
    }

    #[test]
    fn interspersed_and_double_dash() {
        let p = parse(SPECS, &args(&["a", "--rm", "b", "--", "--name"]), true).unwrap();
        assert_eq!(p.args, args(&["a", "b", "--name"]));
        assert!(p.bool("rm"));
        let p = parse(SPECS, &args(&["--rm=false", "-"]), true).unwrap();
        assert!(!p.bool("rm"));
        assert_eq!(p.args, args(&["-"]));
    }

    #[test]
    fn errors_are_pflags() {
        assert_eq!(parse(SPECS, &args(&["--foo", "x"]), false).unwrap_err(), "unknown flag: --foo");
        assert_eq!(parse(SPECS, &args(&["-dx"]), false).unwrap_err(), "unknown shorthand flag: 'x' in -dx");
        assert_eq!(parse(SPECS, &args(&["-de"]), false).unwrap_err(), "flag needs an argument: 'e' in -de");
        assert_eq!(parse(SPECS, &args(&["--name"]), false).unwrap_err(), "flag needs an argument: --name");
        assert_eq!(
            parse(SPECS, &args(&["--rm=foo"]), false).unwrap_err(),
            "invalid argument \"foo\" for \"--rm\" flag: strconv.ParseBool: parsing \"foo\": invalid syntax"
        );
        assert!(parse(SPECS, &args(&["--help"]), false).unwrap().help);
    }
}
