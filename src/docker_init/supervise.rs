//! The init's work: block the signals it relays, start the child, then take one signal at a
//! time with `sigtimedwait` (no handler, no thread: the process stays one small thread for
//! the container's life), forward it, and reap whatever has exited.

use super::Options;
use std::ffi::{CStr, CString, OsString};
use std::fmt::Write as _;
use std::os::unix::ffi::OsStrExt;

/// Signals the kernel raises for faults in this process, and the terminal's stop signals,
/// which it must not collect (tini's list).
const NOT_RELAYED: &[libc::c_int] = &[libc::SIGFPE, libc::SIGILL, libc::SIGSEGV, libc::SIGBUS, libc::SIGABRT, libc::SIGTRAP, libc::SIGSYS, libc::SIGTTIN, libc::SIGTTOU];

#[derive(Clone, Copy, PartialEq, PartialOrd)]
enum Level {
    Fatal,
    Warn,
    Info,
    Debug,
    Trace,
}

struct Log {
    verbosity: u32,
}

impl Log {
    /// tini's message form: `[LEVEL tini (PID)] text`, fatal and warnings to stderr, the rest
    /// to stdout. One write per message, so lines of the init and its child never interleave.
    fn say(&self, level: Level, text: std::fmt::Arguments) {
        if level != Level::Fatal && self.verbosity < level as u32 {
            return;
        }
        let (tag, fd) = match level {
            Level::Fatal => ("FATAL", libc::STDERR_FILENO),
            Level::Warn => ("WARN ", libc::STDERR_FILENO),
            Level::Info => ("INFO ", libc::STDOUT_FILENO),
            Level::Debug => ("DEBUG", libc::STDOUT_FILENO),
            Level::Trace => ("TRACE", libc::STDOUT_FILENO),
        };
        let mut line = String::new();
        let _ = writeln!(line, "[{tag} tini ({})] {text}", std::process::id());
        write_all(fd, line.as_bytes());
    }
}

/// Writes all of `bytes` to `fd`, giving up silently on errors (a closed stdout must not
/// stop the init).
pub fn write_all(fd: libc::c_int, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: write reads at most `bytes.len()` bytes from a valid slice.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n < 0 && errno() == libc::EINTR {
            continue;
        }
        if n <= 0 {
            return;
        }
        bytes = &bytes[n as usize..];
    }
}

fn errno() -> libc::c_int {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// strerror's text, without Rust's " (os error N)".
fn error_text(code: libc::c_int) -> String {
    // SAFETY: strerror returns a pointer to a NUL-terminated static or thread-local string;
    // this process has one thread, and the text is copied before any other call.
    unsafe { CStr::from_ptr(libc::strerror(code)) }.to_string_lossy().into_owned()
}

/// strsignal's text ("Terminated").
fn signal_text(signal: libc::c_int) -> String {
    // SAFETY: as for strerror: a NUL-terminated string, copied at once.
    unsafe { CStr::from_ptr(libc::strsignal(signal)) }.to_string_lossy().into_owned()
}

/// What the child must get back before it executes the program.
struct Saved {
    mask: libc::sigset_t,
    ttin: libc::sigaction,
    ttou: libc::sigaction,
}

/// Blocks every signal the main loop collects and ignores SIGTTIN/SIGTTOU (the init may stop
/// owning the terminal's foreground once the child takes it; its messages must not stop it).
fn configure_signals(log: &Log) -> Result<(libc::sigset_t, Saved), ()> {
    // SAFETY: sigset_t and sigaction are plain C data; all-zero is a valid value that the
    // calls below overwrite.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    let mut saved = Saved { mask: unsafe { std::mem::zeroed() }, ttin: unsafe { std::mem::zeroed() }, ttou: unsafe { std::mem::zeroed() } };
    // SAFETY: sigfillset/sigdelset write only into the set we own.
    unsafe {
        libc::sigfillset(&mut set);
        for &s in NOT_RELAYED {
            libc::sigdelset(&mut set, s);
        }
    }
    // SAFETY: one thread; the new mask is a valid set and the old one is written to our struct.
    if unsafe { libc::sigprocmask(libc::SIG_SETMASK, &set, &mut saved.mask) } != 0 {
        log.say(Level::Fatal, format_args!("sigprocmask failed: '{}'", error_text(errno())));
        return Err(());
    }
    // SAFETY: an all-zero sigaction with SIG_IGN and an empty mask is a valid disposition.
    let mut ignore: libc::sigaction = unsafe { std::mem::zeroed() };
    ignore.sa_sigaction = libc::SIG_IGN;
    for (signal, old, name) in [(libc::SIGTTIN, &mut saved.ttin, "SIGTTIN"), (libc::SIGTTOU, &mut saved.ttou, "SIGTTOU")] {
        // SAFETY: installs SIG_IGN (no handler code runs) and stores the previous action.
        if unsafe { libc::sigaction(signal, &ignore, old) } != 0 {
            log.say(Level::Fatal, format_args!("Failed to ignore {name}"));
            return Err(());
        }
    }
    Ok((set, saved))
}

/// Runs `program` under supervision and returns the exit code the init must exit with.
pub fn run(opts: &Options, program: &[OsString]) -> i32 {
    let log = Log { verbosity: opts.verbosity };
    let Ok((relayed, saved)) = configure_signals(&log) else { return 1 };
    if opts.parent_death_signal != 0 {
        // SAFETY: PR_SET_PDEATHSIG takes a signal number.
        if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, opts.parent_death_signal as libc::c_ulong, 0, 0, 0) } != 0 {
            log.say(Level::Fatal, format_args!("Failed to set up parent death signal"));
            return 1;
        }
    }
    if opts.subreaper {
        if let Err(e) = crate::sys::set_child_subreaper() {
            match e.raw_os_error() {
                Some(libc::EINVAL) => log.say(Level::Fatal, format_args!("PR_SET_CHILD_SUBREAPER is unavailable on this platform. Are you using Linux >= 3.4?")),
                code => log.say(Level::Fatal, format_args!("Failed to register as child subreaper: {}", error_text(code.unwrap_or(0)))),
            }
            return 1;
        }
        log.say(Level::Trace, format_args!("Registered as child subreaper"));
    }
    check_reaping(&log);
    let child = match spawn(&log, &saved, program) {
        Ok(pid) => pid,
        Err(code) => return code,
    };
    // Built field by field: some targets' timespec has private padding.
    // SAFETY: timespec is plain C data; all-zero is valid.
    let mut timeout: libc::timespec = unsafe { std::mem::zeroed() };
    timeout.tv_sec = 1;
    loop {
        // SAFETY: siginfo_t is plain C data the call fills in.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waits for one of the blocked signals of a valid set; fills `info`.
        let signal = unsafe { libc::sigtimedwait(&relayed, &mut info, &timeout) };
        if signal < 0 {
            let e = errno();
            if e != libc::EAGAIN && e != libc::EINTR {
                log.say(Level::Fatal, format_args!("Unexpected error in sigtimedwait: '{}'", error_text(e)));
                return 1;
            }
        } else if signal == libc::SIGCHLD {
            log.say(Level::Debug, format_args!("Received SIGCHLD"));
        } else {
            log.say(Level::Debug, format_args!("Passing signal: '{}'", signal_text(signal)));
            let target = if opts.kill_process_group { -child } else { child };
            // SAFETY: kill sends a signal; no memory is involved.
            if unsafe { libc::kill(target, signal) } != 0 {
                match errno() {
                    libc::ESRCH => log.say(Level::Warn, format_args!("Child was dead when forwarding signal")),
                    e => {
                        log.say(Level::Fatal, format_args!("Unexpected error when forwarding signal: '{}'", error_text(e)));
                        return 1;
                    }
                }
            }
        }
        match reap(&log, opts, child) {
            Err(()) => return 1,
            Ok(Some(code)) => {
                log.say(Level::Trace, format_args!("Exiting: child has exited"));
                return code;
            }
            Ok(None) => {}
        }
    }
}

/// Warns when orphans will not come to us: neither PID 1 nor a subreaper.
fn check_reaping(log: &Log) {
    if std::process::id() == 1 {
        return;
    }
    let mut bit: libc::c_int = 0;
    // SAFETY: PR_GET_CHILD_SUBREAPER writes one int through the pointer.
    if unsafe { libc::prctl(libc::PR_GET_CHILD_SUBREAPER, &mut bit as *mut libc::c_int as libc::c_ulong, 0, 0, 0) } != 0 {
        log.say(Level::Debug, format_args!("Failed to read child subreaper attribute: {}", error_text(errno())));
    } else if bit == 1 {
        return;
    }
    log.say(
        Level::Warn,
        format_args!(
            "Tini is not running as PID 1 and isn't registered as a child subreaper.\n\
             Zombie processes will not be re-parented to Tini, so zombie reaping won't work.\n\
             To fix the problem, use the -s option or set the environment variable TINI_SUBREAPER to register Tini as a child subreaper, or run Tini as PID 1."
        ),
    );
}

/// Forks the child: its own process group, made the terminal's foreground group when
/// stdin is a terminal, the caller's signal mask and dispositions back, then execvp.
/// Returns its pid, or the code to exit with.
fn spawn(log: &Log, saved: &Saved, program: &[OsString]) -> Result<libc::pid_t, i32> {
    let args: Vec<CString> = program.iter().map(|a| CString::new(a.as_bytes()).unwrap_or_default()).collect();
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let shown = program[0].to_string_lossy();
    // SAFETY: this process has one thread, so the child may run any code; it ends in
    // execvp or _exit and never returns into the caller.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        log.say(Level::Fatal, format_args!("fork failed: {}", error_text(errno())));
        return Err(1);
    }
    if pid == 0 {
        let code = prepare_child(log, saved).err().unwrap_or_else(|| {
            // SAFETY: argv is a NULL-terminated array of pointers to live C strings.
            unsafe { libc::execvp(argv[0], argv.as_ptr()) };
            let e = errno();
            log.say(Level::Fatal, format_args!("exec {shown} failed: {}", error_text(e)));
            match e {
                libc::ENOENT => 127,
                libc::EACCES => 126,
                _ => 1,
            }
        });
        // SAFETY: ends the forked child without running the parent's exit handlers.
        unsafe { libc::_exit(code) };
    }
    log.say(Level::Info, format_args!("Spawned child process '{shown}' with pid '{pid}'"));
    Ok(pid)
}

fn prepare_child(log: &Log, saved: &Saved) -> Result<(), i32> {
    // SAFETY: setpgid/getpgrp/tcsetpgrp act on this process and stdin; no memory involved.
    unsafe {
        if libc::setpgid(0, 0) < 0 {
            log.say(Level::Fatal, format_args!("setpgid failed: {}", error_text(errno())));
            return Err(1);
        }
        // Done here, not in the parent: with SIGTTOU still ignored the call cannot stop us,
        // and an init started by another init cannot end up in the background.
        if libc::tcsetpgrp(libc::STDIN_FILENO, libc::getpgrp()) != 0 {
            match errno() {
                libc::ENOTTY => log.say(Level::Debug, format_args!("tcsetpgrp failed: no tty (ok to proceed)")),
                libc::ENXIO => log.say(Level::Debug, format_args!("tcsetpgrp failed: no such device (ok to proceed)")),
                e => {
                    log.say(Level::Fatal, format_args!("tcsetpgrp failed: {}", error_text(e)));
                    return Err(1);
                }
            }
        }
    }
    // SAFETY: restores the mask and actions saved by configure_signals (valid values).
    unsafe {
        if libc::sigprocmask(libc::SIG_SETMASK, &saved.mask, std::ptr::null_mut()) != 0 {
            log.say(Level::Fatal, format_args!("Restoring child signal mask failed: '{}'", error_text(errno())));
            return Err(1);
        }
        if libc::sigaction(libc::SIGTTIN, &saved.ttin, std::ptr::null_mut()) != 0 {
            log.say(Level::Fatal, format_args!("Restoring SIGTTIN handler failed: '{}'", error_text(errno())));
            return Err(1);
        }
        if libc::sigaction(libc::SIGTTOU, &saved.ttou, std::ptr::null_mut()) != 0 {
            log.say(Level::Fatal, format_args!("Restoring SIGTTOU handler failed: '{}'", error_text(errno())));
            return Err(1);
        }
        // Rust's runtime ignores SIGPIPE before main, and an ignored signal survives exec:
        // the program gets the default a C init would have passed on.
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    Ok(())
}

/// Reaps every child that has exited. Returns the exit code once the main child is gone:
/// its status, 128 + the signal that killed it, or 0 when remapped by `-e`.
fn reap(log: &Log, opts: &Options, child: libc::pid_t) -> Result<Option<i32>, ()> {
    let mut code = None;
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: waitpid writes the status into our int.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        match pid {
            -1 if errno() == libc::ECHILD => {
                log.say(Level::Trace, format_args!("No child to wait"));
                break;
            }
            -1 => {
                log.say(Level::Fatal, format_args!("Error while waiting for pids: '{}'", error_text(errno())));
                return Err(());
            }
            0 => {
                log.say(Level::Trace, format_args!("No child to reap"));
                break;
            }
            _ => {
                log.say(Level::Debug, format_args!("Reaped child with pid: '{pid}'"));
                if pid == child {
                    let raw = if libc::WIFEXITED(status) {
                        log.say(Level::Info, format_args!("Main child exited normally (with status '{}')", libc::WEXITSTATUS(status)));
                        libc::WEXITSTATUS(status)
                    } else if libc::WIFSIGNALED(status) {
                        log.say(Level::Info, format_args!("Main child exited with signal (with signal '{}')", signal_text(libc::WTERMSIG(status))));
                        128 + libc::WTERMSIG(status)
                    } else {
                        log.say(Level::Fatal, format_args!("Main child exited for unknown reason"));
                        return Err(());
                    };
                    let raw = raw.rem_euclid(256);
                    code = Some(if opts.remapped_to_zero.contains(raw as u8) { 0 } else { raw });
                } else if opts.warn_on_reap {
                    log.say(Level::Warn, format_args!("Reaped zombie process with pid={pid}"));
                }
            }
        }
    }
    Ok(code)
}
