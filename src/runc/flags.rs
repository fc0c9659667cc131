//! runc's command-line flags, as Go's flag package (urfave/cli) parses them: `-x` and `--x`,
//! `--x=v` and `--x v`, `--x=false` for booleans, `--` and the first non-flag ending them, and
//! runc's messages for an unknown flag or a wrong count of arguments.

use super::{Error, Result};

/// Splits `--name=value` into its parts.
pub(super) fn split_eq(arg: &str) -> (&str, Option<&str>) {
    match arg.split_once('=') {
        Some((n, v)) if n.starts_with('-') => (n, Some(v)),
        _ => (arg, None),
    }
}

/// A command's parsed flags and positional arguments.
#[derive(Default, Debug)]
pub struct Parsed {
    values: Vec<(String, String)>,
    bools: Vec<String>,
    pub args: Vec<String>,
}

impl Parsed {
    pub fn value(&self, name: &str) -> Option<&str> {
        self.values.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
    /// Every value of a flag given more than once, in order.
    pub fn values(&self, name: &str) -> Vec<String> {
        self.values.iter().filter(|(n, _)| n == name).map(|(_, v)| v.clone()).collect()
    }
    pub fn flag(&self, name: &str) -> bool {
        self.bools.iter().any(|b| b == name)
    }
}

/// Command flags: (names, takes a value). The first name is the canonical one.
pub(super) type FlagSpec = &'static [(&'static [&'static str], bool)];

/// Whether `arg` names one of the command's flags (help included), with or without a value.
fn is_command_flag(spec: FlagSpec, arg: &str) -> bool {
    if arg == "-" || arg == "--" || !arg.starts_with('-') {
        return false;
    }
    let bare = arg.strip_prefix("--").unwrap_or(arg);
    let bare = bare.strip_prefix('-').unwrap_or(bare);
    let name = bare.split('=').next().unwrap_or("");
    name == "help" || name == "h" || spec.iter().any(|(names, _)| names.contains(&name))
}

/// The argument reordering of runc's urfave/cli (as the runc packaged here has it), for every
/// command but `exec` and `ps`: the command's own flags found after a positional argument
/// move in front, each with the next argument when it has no `=` and that argument is no
/// flag of the command (so `update ID --memory 1m` works, and a bool flag takes the next
/// word along, harmlessly, since parsing stops at it); anything else keeps its order, and
/// `--` ends the reordering.
pub(super) fn reorder(spec: FlagSpec, args: &[String]) -> Vec<String> {
    let (mut flags, mut rest) = (Vec::new(), Vec::new());
    let mut may_be_value = false;
    for (i, arg) in args.iter().enumerate() {
        if may_be_value && !is_command_flag(spec, arg) {
            may_be_value = false;
            flags.push(arg.clone());
        } else if arg == "--" {
            rest.extend_from_slice(&args[i..]);
            break;
        } else if is_command_flag(spec, arg) {
            flags.push(arg.clone());
            may_be_value = !arg.contains('=');
        } else {
            rest.push(arg.clone());
        }
    }
    flags.extend(rest);
    flags
}

/// Parses a command's flags; with `reorder`, first moves flags that follow positional
/// arguments in front of them, as runc does for every command but `exec` and `ps`.
pub(super) fn parse_flags(cmd: &str, spec: FlagSpec, args: &[String], reorder_args: bool) -> Result<Parsed> {
    let reordered;
    let args = if reorder_args {
        reordered = reorder(spec, args);
        &reordered[..]
    } else {
        args
    };
    let mut p = Parsed::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        if arg == "--" {
            p.args.extend_from_slice(&args[i + 1..]);
            break;
        }
        if !arg.starts_with('-') || arg == "-" {
            p.args.extend_from_slice(&args[i..]);
            break;
        }
        let (name, inline) = split_eq(arg);
        let bare = name.trim_start_matches('-');
        if bare == "help" || bare == "h" {
            p.bools.push("help".into());
            i += 1;
            continue;
        }
        let Some((names, takes_value)) = spec.iter().find(|(names, _)| names.contains(&bare)) else {
            return Err(Error::new(format!("flag provided but not defined: -{bare}")));
        };
        let canonical = names[0].to_string();
        if *takes_value {
            let v = match inline {
                Some(v) => v.to_string(),
                None => {
                    i += 1;
                    args.get(i).cloned().ok_or_else(|| Error::new(format!("flag needs an argument: -{bare}")))?
                }
            };
            p.values.push((canonical, v));
        } else {
            match inline {
                Some("false") => p.bools.retain(|b| *b != canonical),
                _ => p.bools.push(canonical),
            }
        }
        i += 1;
    }
    let _ = cmd;
    Ok(p)
}

/// Exactly `n` positional arguments, with runc's wording otherwise.
pub(super) fn check_args(cmd: &str, p: &Parsed, min: usize, max: usize) -> Result<()> {
    let n = p.args.len();
    if min == max && n != min {
        return Err(Error::new(format!("runc: {cmd:?} requires exactly {min} argument(s)")));
    }
    if n < min {
        return Err(Error::new(format!("runc: {cmd:?} requires a minimum of {min} argument(s)")));
    }
    if n > max {
        return Err(Error::new(format!("runc: {cmd:?} requires a maximum of {max} argument(s)")));
    }
    Ok(())
}
