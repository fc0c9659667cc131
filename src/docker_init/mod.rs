//! docker-init: the init `docker run --init` puts at PID 1, with tini's command line and
//! behaviour (Docker ships tini under this name). It runs one program as its child, in the
//! child's own process group (made the terminal's foreground group when there is one),
//! forwards the signals it receives to it, reaps every zombie, and exits with the child's
//! status.
//!
//! The command line is parsed the way tini's (glibc getopt) is: options may follow the
//! program's name unless `--` ends them, so `docker-init ls -l` reads `-l` as its own
//! option. Docker always writes `docker-init -- PROGRAM ARGS...`.
//!
//! It lives as long as the container, once per container: it keeps no thread, no buffer and
//! no table beyond its options (`supervise`).

mod supervise;

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

/// The tini release whose command line and behaviour this applet has.
pub const TINI_VERSION: &str = "0.19.0";

/// The line `--version` prints: tini's form (dockerd parses it for `docker info` and
/// `docker version`), naming this build.
pub fn version_line() -> String {
    let mut line = format!("tini version {TINI_VERSION} (dockbox {})", crate::version::DOCKBOX);
    if crate::version::GIT_COMMIT != "unknown" {
        line.push_str(&format!(" - git.{}", crate::version::GIT_COMMIT));
    }
    line
}

/// The signal names `-p` accepts, as tini spells them.
const SIGNAL_NAMES: &[(&str, libc::c_int)] = &[
    ("SIGHUP", libc::SIGHUP),
    ("SIGINT", libc::SIGINT),
    ("SIGQUIT", libc::SIGQUIT),
    ("SIGILL", libc::SIGILL),
    ("SIGTRAP", libc::SIGTRAP),
    ("SIGABRT", libc::SIGABRT),
    ("SIGBUS", libc::SIGBUS),
    ("SIGFPE", libc::SIGFPE),
    ("SIGKILL", libc::SIGKILL),
    ("SIGUSR1", libc::SIGUSR1),
    ("SIGSEGV", libc::SIGSEGV),
    ("SIGUSR2", libc::SIGUSR2),
    ("SIGPIPE", libc::SIGPIPE),
    ("SIGALRM", libc::SIGALRM),
    ("SIGTERM", libc::SIGTERM),
    ("SIGCHLD", libc::SIGCHLD),
    ("SIGCONT", libc::SIGCONT),
    ("SIGSTOP", libc::SIGSTOP),
    ("SIGTSTP", libc::SIGTSTP),
    ("SIGTTIN", libc::SIGTTIN),
    ("SIGTTOU", libc::SIGTTOU),
    ("SIGURG", libc::SIGURG),
    ("SIGXCPU", libc::SIGXCPU),
    ("SIGXFSZ", libc::SIGXFSZ),
    ("SIGVTALRM", libc::SIGVTALRM),
    ("SIGPROF", libc::SIGPROF),
    ("SIGWINCH", libc::SIGWINCH),
    ("SIGSYS", libc::SIGSYS),
];

/// What the command line and environment asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// 0 fatal only, 1 warnings (the default), 2 info, 3 debug, 4 trace.
    pub verbosity: u32,
    pub subreaper: bool,
    /// Forward signals to the child's process group rather than to the child.
    pub kill_process_group: bool,
    pub warn_on_reap: bool,
    /// The signal to get when the parent dies (0: none).
    pub parent_death_signal: libc::c_int,
    /// Exit codes reported as 0.
    pub remapped_to_zero: ExitCodes,
}

/// A set of exit codes (0 to 255).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExitCodes([u64; 4]);

impl ExitCodes {
    pub fn insert(&mut self, code: u8) {
        self.0[usize::from(code / 64)] |= 1 << (code % 64);
    }
    pub fn contains(&self, code: u8) -> bool {
        self.0[usize::from(code / 64)] & (1 << (code % 64)) != 0
    }
}

impl Default for Options {
    fn default() -> Options {
        Options { verbosity: 1, subreaper: false, kill_process_group: false, warn_on_reap: false, parent_death_signal: 0, remapped_to_zero: ExitCodes::default() }
    }
}

/// The outcome of reading the command line.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    Run(Options, Vec<OsString>),
    /// Print this to stdout (`Ok`) or stderr (`Err`) and exit with the code.
    Exit(i32, Result<String, String>),
}

pub fn main(args: Vec<String>) -> i32 {
    // The program's arguments go to execvp as the bytes we were given, not as lossy UTF-8.
    let os: Vec<OsString> = std::env::args_os().collect();
    let argv = match os.len().checked_sub(args.len()) {
        Some(skip) if os[skip..].iter().zip(&args).all(|(o, a)| o.to_string_lossy() == a.as_str()) => os[skip..].to_vec(),
        _ => args.into_iter().map(OsString::from).collect(),
    };
    let posixly_correct = std::env::var_os("POSIXLY_CORRECT").is_some();
    match parse(&argv, posixly_correct) {
        Parsed::Exit(code, message) => {
            match message {
                Ok(text) => supervise::write_all(libc::STDOUT_FILENO, text.as_bytes()),
                Err(text) => supervise::write_all(libc::STDERR_FILENO, text.as_bytes()),
            }
            code
        }
        Parsed::Run(mut opts, program) => {
            apply_env(&mut opts, |k| std::env::var_os(k));
            supervise::run(&opts, &program)
        }
    }
}

/// tini's environment variables, which it reads after the command line.
pub fn apply_env(opts: &mut Options, var: impl Fn(&str) -> Option<OsString>) {
    if var("TINI_SUBREAPER").is_some() {
        opts.subreaper = true;
    }
    if var("TINI_KILL_PROCESS_GROUP").is_some() {
        opts.kill_process_group = true;
    }
    if let Some(v) = var("TINI_VERBOSITY") {
        opts.verbosity = atoi(&v.into_vec()) as u32;
    }
}

/// C's atoi: leading blanks, a sign, then digits as far as they go; 0 when there are none.
fn atoi(s: &[u8]) -> i32 {
    let s = s.trim_ascii_start();
    let (negative, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut n: i64 = 0;
    for d in digits.iter().take_while(|d| d.is_ascii_digit()) {
        n = (n * 10 + i64::from(d - b'0')).min(i64::from(u32::MAX) + 1);
    }
    (if negative { -n } else { n }) as i32
}

/// An `-e` value as tini reads it (strtol base 10, the whole string, 0 to 255).
fn exit_code_arg(s: &[u8]) -> Option<u8> {
    let t = s.trim_ascii_start();
    let (negative, digits) = match t.first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() {
        // strtol consumed nothing: the end pointer is the start, so only "" passes, as 0.
        return s.is_empty().then_some(0);
    }
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    match (negative, n) {
        (_, 0) => Some(0),
        (false, n) if n <= 255 => Some(n as u8),
        _ => None,
    }
}

fn basename(name: &[u8]) -> String {
    let trimmed = match name.iter().rposition(|&b| b != b'/') {
        Some(end) => &name[..=end],
        None if name.is_empty() => b".".as_slice(),
        None => b"/".as_slice(),
    };
    let base = match trimmed.iter().rposition(|&b| b == b'/') {
        Some(i) if trimmed.len() > 1 => &trimmed[i + 1..],
        _ => trimmed,
    };
    String::from_utf8_lossy(base).into_owned()
}

/// tini's help, naming the program as it was called.
pub fn usage(argv0: &[u8]) -> String {
    let name = basename(argv0);
    format!(
        "{name} ({version})\n\
         Usage: {name} [OPTIONS] PROGRAM -- [ARGS] | --version\n\n\
         Execute a program under the supervision of a valid init process ({name})\n\n\
         Command line options:\n\n  \
         --version: Show version and exit.\n  \
         -h: Show this help message and exit.\n  \
         -s: Register as a process subreaper (requires Linux >= 3.4).\n  \
         -p SIGNAL: Trigger SIGNAL when parent dies, e.g. \"-p SIGKILL\".\n  \
         -v: Generate more verbose output. Repeat up to 3 times.\n  \
         -w: Print a warning when processes are getting reaped.\n  \
         -g: Send signals to the child's process group.\n  \
         -e EXIT_CODE: Remap EXIT_CODE (from 0 to 255) to 0.\n  \
         -l: Show license and exit.\n\n\
         Environment variables:\n\n  \
         TINI_SUBREAPER: Register as a process subreaper (requires Linux >= 3.4).\n  \
         TINI_VERBOSITY: Set the verbosity level (default: 1).\n  \
         TINI_KILL_PROCESS_GROUP: Send signals to the child's process group.\n\n",
        version = version_line(),
    )
}

/// Reads the command line (argv[0] first) as tini's getopt loop does: options are
/// `-h -s -v -w -g -l` and `-p SIGNAL -e CODE` (value joined or next), option letters may be
/// grouped, `--` ends the options, and other words are the program and its arguments
/// wherever they stand (unless `posixly_correct`, where the first one ends the options).
pub fn parse(argv: &[OsString], posixly_correct: bool) -> Parsed {
    let argv0 = argv.first().map(|a| a.as_bytes()).unwrap_or(b"docker-init");
    let name = String::from_utf8_lossy(argv0);
    if argv.len() == 2 && argv[1].as_bytes() == b"--version" {
        return Parsed::Exit(0, Ok(format!("{}\n", version_line())));
    }
    let pid = std::process::id();
    let bad_usage = |first_line: String| Parsed::Exit(1, Err(format!("{first_line}{}", usage(argv0))));
    let mut opts = Options::default();
    let mut program: Vec<OsString> = Vec::new();
    let mut i = 1;
    while i < argv.len() {
        let word = argv[i].as_bytes();
        i += 1;
        if word == b"--" {
            program.extend_from_slice(&argv[i..]);
            break;
        }
        if word.len() < 2 || word[0] != b'-' {
            if posixly_correct {
                program.extend_from_slice(&argv[i - 1..]);
                break;
            }
            program.push(argv[i - 1].clone());
            continue;
        }
        let mut j = 1;
        while j < word.len() {
            let letter = word[j];
            j += 1;
            match letter {
                b'h' => return Parsed::Exit(0, Ok(usage(argv0))),
                b'l' => return Parsed::Exit(0, Ok(include_str!("../../LICENSE").to_string())),
                b's' => opts.subreaper = true,
                b'v' => opts.verbosity += 1,
                b'w' => opts.warn_on_reap = true,
                b'g' => opts.kill_process_group = true,
                b'p' | b'e' => {
                    let value: &[u8] = if j < word.len() {
                        let v = &word[j..];
                        j = word.len();
                        v
                    } else if i < argv.len() {
                        i += 1;
                        argv[i - 1].as_bytes()
                    } else {
                        return bad_usage(format!("{name}: option requires an argument -- '{}'\n", letter as char));
                    };
                    let shown = String::from_utf8_lossy(value);
                    if letter == b'p' {
                        match SIGNAL_NAMES.iter().find(|(n, _)| n.as_bytes() == value) {
                            Some(&(_, number)) => opts.parent_death_signal = number,
                            None => return Parsed::Exit(1, Err(format!("[FATAL tini ({pid})] Not a valid option for -p: {shown}\n"))),
                        }
                    } else {
                        match exit_code_arg(value) {
                            Some(code) => opts.remapped_to_zero.insert(code),
                            None => return Parsed::Exit(1, Err(format!("[FATAL tini ({pid})] Not a valid option for -e: {shown}\n"))),
                        }
                    }
                }
                other => return bad_usage(format!("{name}: invalid option -- '{}'\n", other as char)),
            }
        }
    }
    if program.is_empty() {
        return Parsed::Exit(1, Err(usage(argv0)));
    }
    Parsed::Run(opts, program)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    fn run(words: &[&str]) -> (Options, Vec<String>) {
        match parse(&args(words), false) {
            Parsed::Run(o, p) => (o, p.into_iter().map(|s| s.into_string().unwrap()).collect()),
            other => panic!("{words:?}: {other:?}"),
        }
    }

    fn exit(words: &[&str]) -> (i32, Result<String, String>) {
        match parse(&args(words), false) {
            Parsed::Exit(code, out) => (code, out),
            other => panic!("{words:?}: {other:?}"),
        }
    }

    #[test]
    fn program_after_double_dash_keeps_its_options() {
        let (o, p) = run(&["docker-init", "--", "ls", "-l", "--", "x"]);
        assert_eq!(p, ["ls", "-l", "--", "x"]);
        assert_eq!(o, Options::default());
    }

    #[test]
    fn options_are_found_after_the_program_as_getopt_permutes() {
        let (o, p) = run(&["tini", "echo", "-s", "a", "--", "-v"]);
        assert!(o.subreaper);
        assert_eq!(o.verbosity, 1);
        assert_eq!(p, ["echo", "a", "-v"]);
        match parse(&args(&["tini", "echo", "-s"]), true) {
            Parsed::Run(o, p) => {
                assert!(!o.subreaper);
                assert_eq!(p, args(&["echo", "-s"]));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn grouped_letters_and_joined_values() {
        let (o, p) = run(&["tini", "-vvvsgw", "-e3", "-e", "143", "-pSIGKILL", "--", "true"]);
        assert_eq!(o.verbosity, 4);
        assert!(o.subreaper && o.kill_process_group && o.warn_on_reap);
        assert_eq!(o.parent_death_signal, libc::SIGKILL);
        let remapped: Vec<u8> = (0..=255).filter(|&c| o.remapped_to_zero.contains(c)).collect();
        assert_eq!(remapped, [3, 143]);
        assert_eq!(p, ["true"]);
        let (o, _) = run(&["tini", "-vp", "SIGTERM", "x"]);
        assert_eq!((o.verbosity, o.parent_death_signal), (2, libc::SIGTERM));
    }

    #[test]
    fn bad_values_are_fatal() {
        let (code, out) = exit(&["tini", "-p", "KILL", "true"]);
        assert_eq!(code, 1);
        assert!(out.unwrap_err().ends_with("] Not a valid option for -p: KILL\n"));
        for bad in ["256", "-1", "3x", "x", " "] {
            let (code, out) = exit(&["tini", "-e", bad, "true"]);
            assert_eq!(code, 1, "{bad}");
            assert!(out.unwrap_err().ends_with(&format!("Not a valid option for -e: {bad}\n")));
        }
        for good in [("", 0), ("-0", 0), (" 7", 7), ("+255", 255)] {
            let (o, _) = run(&["tini", "-e", good.0, "true"]);
            assert!(o.remapped_to_zero.contains(good.1), "{good:?}");
        }
    }

    #[test]
    fn usage_errors_as_getopt_reports_them() {
        let (code, out) = exit(&["/sbin/docker-init", "-x", "true"]);
        assert_eq!(code, 1);
        let text = out.unwrap_err();
        assert!(text.starts_with("/sbin/docker-init: invalid option -- 'x'\ndocker-init (tini version 0.19.0"), "{text}");
        assert!(text.contains("Usage: docker-init [OPTIONS] PROGRAM -- [ARGS] | --version\n"));
        let (code, out) = exit(&["tini", "true", "-e"]);
        assert_eq!(code, 1);
        assert!(out.unwrap_err().starts_with("tini: option requires an argument -- 'e'\n"));
        let (code, out) = exit(&["tini", "--verbose", "true"]);
        assert_eq!(code, 1);
        assert!(out.unwrap_err().starts_with("tini: invalid option -- '-'\n"));
        let (code, out) = exit(&["tini"]);
        assert_eq!(code, 1);
        assert!(out.unwrap_err().starts_with("tini (tini version"));
    }

    #[test]
    fn help_version_and_license() {
        let (code, out) = exit(&["x/docker-init", "-h", "-x"]);
        assert_eq!(code, 0);
        assert!(out.unwrap().starts_with("docker-init (tini version 0.19.0 (dockbox "));
        let (code, out) = exit(&["docker-init", "--version"]);
        assert_eq!(code, 0);
        assert_eq!(out.unwrap(), format!("{}\n", version_line()));
        assert!(version_line().starts_with("tini version 0.19.0 (dockbox "));
        let (code, out) = exit(&["docker-init", "-l", "true"]);
        assert_eq!(code, 0);
        assert!(out.unwrap().contains("Apache License"));
        // --version is only itself when alone.
        let (code, _) = exit(&["docker-init", "--version", "true"]);
        assert_eq!(code, 1);
    }

    #[test]
    fn environment_after_the_command_line() {
        let mut o = Options { verbosity: 4, ..Options::default() };
        apply_env(&mut o, |k| match k {
            "TINI_VERBOSITY" => Some("0".into()),
            "TINI_SUBREAPER" | "TINI_KILL_PROCESS_GROUP" => Some("".into()),
            _ => None,
        });
        assert_eq!(o.verbosity, 0);
        assert!(o.subreaper && o.kill_process_group);
        assert_eq!(atoi(b" 12abc"), 12);
        assert_eq!(atoi(b"x"), 0);
        assert_eq!(atoi(b"-1") as u32, u32::MAX);
    }

    #[test]
    fn basename_as_libc() {
        assert_eq!(basename(b"/sbin/docker-init"), "docker-init");
        assert_eq!(basename(b"docker-init"), "docker-init");
        assert_eq!(basename(b"a/b/"), "b");
        assert_eq!(basename(b"/"), "/");
    }
}
