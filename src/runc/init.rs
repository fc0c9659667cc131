//! The container's init, in the forked child: enter the namespaces, build the root
//! filesystem, become the spec's user with the spec's capabilities, find the executable,
//! report ready (or the error) to runc, wait on the exec fifo for `start`, then execve.

use super::rootfs;
use nix::sched::CloneFlags;
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// First byte of the message the init sends runc: ready, or failed followed by the reason.
pub const READY: &str = "R";
pub const FAILED: &str = "E";
/// The init's request that runc run the prestart and createRuntime hooks now (its mounts
/// are made, pivot_root is still to come); it waits for a go-ahead byte on `sync`.
pub const HOOKS: &str = "H";

/// Everything the init needs, borrowed from runc's memory (the child has a copy of it).
pub struct Child<'a> {
    pub spec: &'a crate::oci::Spec,
    pub rootfs: &'a Path,
    pub bundle: &'a Path,
    /// Namespaces to unshare (pid is already done by runc before the fork).
    pub new_namespaces: CloneFlags,
    pub join: &'a [(OwnedFd, CloneFlags)],
    pub fifo: &'a OwnedFd,
    pub ready: &'a OwnedFd,
    pub no_pivot: bool,
    /// Session keyring name (`_ses.<id>`), or None for --no-new-keyring.
    pub keyring: Option<CString>,
    pub preserve_fds: i32,
    /// The console socket when the process has a terminal.
    pub console: Option<&'a OwnedFd>,
    /// The state given to createContainer/startContainer hooks (the pid is filled in here).
    pub hook_state: crate::oci::State,
    /// Read end of runc's go-ahead (after id maps and cgroups).
    pub sync: &'a OwnedFd,
    /// The init was cloned into a new user namespace.
    pub new_user: bool,
    /// Per spec mount, its bind source opened by runc (with a new user namespace).
    pub mount_sources: &'a [Option<OwnedFd>],
    /// A new time namespace with these offsets.
    pub time_offsets: Option<serde_json::Map<String, serde_json::Value>>,
    /// The container's cgroup, opened by runc (None: rootless without one). The init was
    /// made inside its cgroup2 directory, or runc moves it there before the go-ahead.
    pub cgroup: Option<&'a crate::cgroups::Entry>,
    /// Where `--debug` lines go (None without `--debug`).
    pub debug: Option<&'a OwnedFd>,
    /// runc has prestart/createRuntime hooks to run between the mounts and pivot_root.
    pub runtime_hooks: bool,
}

type Result<T> = std::result::Result<T, String>;

fn send(fd: &OwnedFd, msg: &str) {
    let b = msg.as_bytes();
    // One write under PIPE_BUF is atomic, so runc reads the whole message at once.
    let _ = nix::unistd::write(fd, &b[..b.len().min(4000)]);
}

/// Runs the init; never returns.
pub fn run(c: Child) -> ! {
    // Die with runc while it waits for us, rather than linger as an orphan nobody will start.
    // SAFETY: PR_SET_PDEATHSIG takes a plain signal number.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) };
    // With no_new_privs the filter goes in last before runc hears we are ready (as runc's
    // init: a failure is still create's), so startContainer hooks run under it too.
    let handoff = super::seccomp_agent::Handoff { report: c.ready, ack: c.sync };
    let err = match prepare(&c).and_then(|exec| super::security::before_exec(&exec.security, &handoff).map(|()| exec)) {
        Ok(exec) => {
            // runc exits after `create`: from here on the init outlives it.
            // SAFETY: as above.
            unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, 0 as libc::c_ulong, 0, 0, 0) };
            send(c.ready, READY);
            match wait_for_start(&c).and_then(|()| run_hooks(&c, |h| &h.start_container, None)) {
                Ok(()) => {
                    let e = errno(exec.exec());
                    // Too late to tell runc: the caller of `start` has gone. Say it on stderr.
                    eprintln!("exec {:?} failed: {}", c.spec.process.as_ref().map(|p| p.args[0].as_str()).unwrap_or(""), e);
                    // SAFETY: _exit ends this process without running parent-owned destructors.
                    unsafe { libc::_exit(127) }
                }
                Err(e) => {
                    eprintln!("{e}");
                    // SAFETY: as above.
                    unsafe { libc::_exit(1) }
                }
            }
        }
        Err(e) => e,
    };
    send(c.ready, &format!("{FAILED}{err}"));
    // SAFETY: _exit ends the child without unwinding into runc's code.
    unsafe { libc::_exit(1) }
}

/// The program to exec, resolved before `start`.
pub(super) struct Exec {
    path: CString,
    args: Vec<CString>,
    env: Vec<CString>,
    security: super::security::Plan,
}

impl Exec {
    pub(super) fn new(path: &str, args: &[String], env: &[String], security: super::security::Plan) -> Result<Exec> {
        Ok(Exec {
            path: cstring(path)?,
            args: args.iter().map(|a| cstring(a)).collect::<Result<_>>()?,
            env: env.iter().map(|a| cstring(a)).collect::<Result<_>>()?,
            security,
        })
    }

    /// The last security step (the seccomp filter when no_new_privs is set), then execve;
    /// returns only on failure, with the reason.
    pub(super) fn secure_exec(&self, handoff: &super::seccomp_agent::Handoff) -> String {
        if let Err(e) = super::security::before_exec(&self.security, handoff) {
            return e;
        }
        errno(self.exec())
    }

    pub(super) fn exec(&self) -> nix::errno::Errno {
        match nix::unistd::execve(&self.path, &self.args, &self.env) {
            Err(e) => e,
            Ok(never) => match never {},
        }
    }
}

fn cstring(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| format!("{s:?} contains a NUL byte"))
}

fn errno(e: nix::errno::Errno) -> String {
    e.desc().to_ascii_lowercase()
}

fn prepare(c: &Child) -> Result<Exec> {
    let spec = c.spec;
    let debug = |msg: &str| super::debuglog::line(c.debug, "init", || msg.to_string());
    debug("container init started");
    // Into the v1 cgroups first, so the limits (and the memory charges) cover all that
    // follows; the cgroup2 directory is runc's part (see `Child::cgroup`).
    if let Some(cgroup) = c.cgroup {
        cgroup.enter_v1().map_err(|e| format!("unable to join cgroup: {e}"))?;
        debug("joined the container's cgroups");
    }
    let process = spec.process.as_ref().ok_or("no process")?;
    host_pid(); // read now, while /proc is still the host's
    let security = super::security::prepare(spec)?;
    reset_signals();
    nix::unistd::setsid().map_err(|e| format!("setsid: {}", errno(e)))?;
    if let Some(adj) = process.oom_score_adj {
        std::fs::write("/proc/self/oom_score_adj", adj.to_string()).map_err(|e| format!("set oom_score_adj: {e}"))?;
    }
    // Join before unsharing; the mount namespace last, since it changes what paths mean.
    let mut join: Vec<&(OwnedFd, CloneFlags)> = c.join.iter().collect();
    // The user namespace first: it owns the others.
    join.sort_by_key(|(_, f)| if *f == CloneFlags::CLONE_NEWUSER { 0 } else if *f == CloneFlags::CLONE_NEWNS { 2 } else { 1 });
    for (fd, flag) in join {
        nix::sched::setns(fd, *flag).map_err(|e| format!("join namespace: {}", errno(e)))?;
        super::debuglog::line(c.debug, "init", || format!("setns({:#x}) into an existing namespace", flag.bits()));
    }
    super::userns::wait_for_parent(c.sync)?;
    debug("runc's outside setup is done");
    if c.new_user {
        super::userns::become_root()?;
    }
    if let Some(offsets) = &c.time_offsets {
        super::userns::enter_time_namespace(offsets)?;
    }
    if let Some(name) = &c.keyring {
        // A fresh session keyring keeps the host's keys out of reach. Kernels without
        // keyrings (ENOSYS) or that refuse it in a sandbox (EPERM/EACCES) go without, as runc.
        // SAFETY: KEYCTL_JOIN_SESSION_KEYRING reads one NUL-terminated name.
        let rc = unsafe { libc::syscall(libc::SYS_keyctl, libc::KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
        if rc < 0 {
            let e = std::io::Error::last_os_error();
            if !matches!(e.raw_os_error(), Some(libc::ENOSYS) | Some(libc::EPERM) | Some(libc::EACCES)) {
                return Err(format!("join session keyring: {e}"));
            }
        }
    }
    nix::sched::unshare(c.new_namespaces).map_err(|e| format!("unshare namespaces: {}", errno(e)))?;
    super::debuglog::line(c.debug, "init", || format!("unshare({:#x}) new namespaces", c.new_namespaces.bits()));
    if c.new_namespaces.contains(CloneFlags::CLONE_NEWNET) {
        crate::sys::loopback_up().map_err(|e| format!("bring up lo: {e}"))?;
    }
    let linux = spec.linux.clone().unwrap_or_default();
    if c.new_namespaces.contains(CloneFlags::CLONE_NEWNS) || c.join.iter().any(|(_, f)| *f == CloneFlags::CLONE_NEWNS) {
        rootfs::prepare(spec, c.rootfs, c.bundle, &process.cwd, c.mount_sources)?;
        debug("rootfs mounts prepared");
        if c.runtime_hooks {
            send(c.ready, HOOKS);
            super::userns::wait_for_parent(c.sync)?;
        }
        run_hooks(c, |h| &h.create_container, Some(c.rootfs))?;
        rootfs::enter(c.rootfs, c.no_pivot)?;
        debug(if c.no_pivot { "entered the rootfs (no pivot_root)" } else { "entered the rootfs (pivot_root)" });
        if let Some(socket) = c.console {
            super::console::setup_in_container(socket, process.console_size.as_ref())?;
        }
    } else {
        return Err("a mount namespace is required".into());
    }
    if let Some(h) = spec.hostname.as_deref().filter(|h| !h.is_empty()) {
        nix::unistd::sethostname(h).map_err(|e| format!("sethostname: {}", errno(e)))?;
    }
    if let Some(d) = spec.domainname.as_deref().filter(|d| !d.is_empty()) {
        // SAFETY: setdomainname reads exactly len bytes from the given buffer.
        if unsafe { libc::setdomainname(d.as_ptr().cast(), d.len()) } != 0 {
            return Err(format!("setdomainname: {}", std::io::Error::last_os_error()));
        }
    }
    for (key, value) in &linux.sysctl {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        super::procfs::write(&path, value).map_err(|e| format!("write sysctl key {key}: {e}"))?;
    }
    rootfs::finish(spec)?;
    let cwd_done = chdir_before_user(&process.cwd)?;
    super::security::before_user(&security, spec, &super::seccomp_agent::Handoff { report: c.ready, ack: c.sync })?;
    set_rlimits(&process.rlimits)?;
    super::console::fix_stdio_owner(process.user.uid)?;
    become_user(process)?;
    chdir_after_user(&process.cwd, cwd_done)?;
    super::security::check_cwd()?;
    let umask = process.user.umask.unwrap_or(0o022);
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(umask as libc::mode_t));
    let path = look_path(&process.args[0], &process.env)?;
    super::debuglog::line(c.debug, "init", || format!("ready; will exec {path:?} once started"));
    close_host_fds(c.preserve_fds)?;
    Exec::new(&path, &process.args, &process.env, security)
}

fn chdir_failed(cwd: &str, e: nix::errno::Errno) -> String {
    format!("chdir to cwd ({cwd:?}) set in config.json failed: {}", errno(e))
}

/// runc's first try at the cwd, still with root's rights, so that a cwd only root can reach
/// works for any user: Ok(true) when done (or when there is no cwd), Ok(false) when the
/// rights fall short (EACCES, EPERM) and the user gets a try of its own after the switch.
pub(super) fn chdir_before_user(cwd: &str) -> Result<bool> {
    if cwd.is_empty() {
        return Ok(true);
    }
    match nix::unistd::chdir(cwd) {
        Ok(()) => Ok(true),
        Err(nix::errno::Errno::EACCES | nix::errno::Errno::EPERM) => Ok(false),
        Err(e) => Err(chdir_failed(cwd, e)),
    }
}

/// The second try, as the process's user, when the first one fell short.
pub(super) fn chdir_after_user(cwd: &str, done: bool) -> Result<()> {
    if done {
        return Ok(());
    }
    nix::unistd::chdir(cwd).map_err(|e| chdir_failed(cwd, e))
}

/// Signal dispositions survive execve: undo the ignored SIGPIPE Rust's runtime set up, and
/// unblock everything.
pub(super) fn reset_signals() {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let dfl = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    for sig in Signal::iterator() {
        if sig != Signal::SIGKILL && sig != Signal::SIGSTOP {
            // SAFETY: installing the default disposition has no handler code to be unsafe.
            let _ = unsafe { sigaction(sig, &dfl) };
        }
    }
    let _ = SigSet::empty().thread_set_mask();
}

fn rlimit_resource(name: &str) -> Option<libc::__rlimit_resource_t> {
    Some(match name {
        "RLIMIT_CPU" => libc::RLIMIT_CPU,
        "RLIMIT_FSIZE" => libc::RLIMIT_FSIZE,
        "RLIMIT_DATA" => libc::RLIMIT_DATA,
        "RLIMIT_STACK" => libc::RLIMIT_STACK,
        "RLIMIT_CORE" => libc::RLIMIT_CORE,
        "RLIMIT_RSS" => libc::RLIMIT_RSS,
        "RLIMIT_NPROC" => libc::RLIMIT_NPROC,
        "RLIMIT_NOFILE" => libc::RLIMIT_NOFILE,
        "RLIMIT_MEMLOCK" => libc::RLIMIT_MEMLOCK,
        "RLIMIT_AS" => libc::RLIMIT_AS,
        "RLIMIT_LOCKS" => libc::RLIMIT_LOCKS,
        "RLIMIT_SIGPENDING" => libc::RLIMIT_SIGPENDING,
        "RLIMIT_MSGQUEUE" => libc::RLIMIT_MSGQUEUE,
        "RLIMIT_NICE" => libc::RLIMIT_NICE,
        "RLIMIT_RTPRIO" => libc::RLIMIT_RTPRIO,
        "RLIMIT_RTTIME" => libc::RLIMIT_RTTIME,
        _ => return None,
    })
}

pub(super) fn set_rlimits(limits: &[crate::oci::Rlimit]) -> Result<()> {
    for l in limits {
        let res = rlimit_resource(&l.kind).ok_or_else(|| format!("unknown rlimit type {:?}", l.kind))?;
        // rlimit64: rlim_t is 32-bit on 32-bit glibc, and OCI's limits are 64-bit.
        let lim = libc::rlimit64 { rlim_cur: l.soft, rlim_max: l.hard };
        // SAFETY: setrlimit64 reads the rlimit64 struct we pass.
        if unsafe { libc::setrlimit64(res, &lim) } != 0 {
            return Err(format!("setrlimit {}: {}", l.kind, std::io::Error::last_os_error()));
        }
    }
    Ok(())
}

fn cap_set(names: &Option<Vec<String>>) -> caps::CapsHashSet {
    // Unknown names are skipped, as runc does (it only warns).
    names.iter().flatten().filter_map(|n| n.parse::<caps::Capability>().ok()).collect()
}

/// Groups, gid, uid and the capability sets of the spec, in the order that keeps the
/// capabilities needed to make each change.
pub(super) fn become_user(p: &crate::oci::Process) -> Result<()> {
    use caps::CapSet;
    let caps_err = |what: &str, e: caps::errors::CapsError| format!("set {what} capabilities: {e}");
    if let Some(c) = &p.capabilities {
        // SAFETY: PR_SET_KEEPCAPS takes a plain integer flag.
        unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) };
        let bounding = cap_set(&c.bounding);
        for cap in caps::runtime::thread_all_supported() {
            if !bounding.contains(&cap) {
                caps::drop(None, CapSet::Bounding, cap).map_err(|e| caps_err("bounding", e))?;
            }
        }
    }
    let gids: Vec<nix::unistd::Gid> = p.user.additional_gids.iter().map(|g| nix::unistd::Gid::from_raw(*g)).collect();
    nix::unistd::setgroups(&gids).map_err(|e| format!("setgroups: {}", errno(e)))?;
    nix::unistd::setresgid(p.user.gid.into(), p.user.gid.into(), p.user.gid.into()).map_err(|e| format!("setgid: {}", errno(e)))?;
    nix::unistd::setresuid(p.user.uid.into(), p.user.uid.into(), p.user.uid.into()).map_err(|e| format!("setuid: {}", errno(e)))?;
    if let Some(c) = &p.capabilities {
        // SAFETY: as above.
        unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0) };
        caps::set(None, CapSet::Inheritable, &cap_set(&c.inheritable)).map_err(|e| caps_err("inheritable", e))?;
        let permitted = cap_set(&c.permitted);
        let effective: caps::CapsHashSet = cap_set(&c.effective).intersection(&permitted).copied().collect();
        caps::set(None, CapSet::Effective, &effective).map_err(|e| caps_err("effective", e))?;
        caps::set(None, CapSet::Permitted, &permitted).map_err(|e| caps_err("permitted", e))?;
        let _ = caps::clear(None, CapSet::Ambient);
        for cap in cap_set(&c.ambient) {
            // Raising fails unless the cap is also permitted and inheritable; runc goes on.
            let _ = caps::raise(None, CapSet::Ambient, cap);
        }
    }
    Ok(())
}

/// Go's exec.LookPath over the container's PATH, with its error texts.
pub(super) fn look_path(name: &str, env: &[String]) -> Result<String> {
    let check = |p: &str| -> std::result::Result<(), String> {
        let meta = std::fs::metadata(p).map_err(|e| format!("stat {p}: {}", super::state::errno_text(&e)))?;
        if meta.is_dir() || meta.permissions().mode() & 0o111 == 0 {
            return Err("permission denied".into());
        }
        Ok(())
    };
    if name.contains('/') {
        return check(name).map(|()| name.to_string()).map_err(|e| format!("exec: {name:?}: {e}"));
    }
    let path_var = env.iter().find_map(|e| e.strip_prefix("PATH=")).unwrap_or("");
    for dir in path_var.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate = format!("{dir}/{name}");
        if check(&candidate).is_ok() {
            return Ok(candidate);
        }
    }
    Err(format!("exec: {name:?}: executable file not found in $PATH"))
}

/// Every descriptor but stdio and the preserved ones gets close-on-exec, so nothing of
/// runc's (or its caller's) reaches the container.
pub(super) fn close_host_fds(preserve: i32) -> Result<()> {
    let first_closed = 3 + preserve.max(0) as libc::c_uint;
    // SAFETY: close_range only changes descriptor flags in this process's table.
    let rc = unsafe { libc::syscall(libc::SYS_close_range, first_closed, libc::c_uint::MAX, libc::CLOSE_RANGE_CLOEXEC) };
    if rc != 0 {
        return Err(format!("close_range: {}", std::io::Error::last_os_error()));
    }
    for fd in 3..first_closed as i32 {
        // SAFETY: F_SETFD on a possibly-closed descriptor is harmless (EBADF).
        unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
    }
    Ok(())
}

/// Runs one kind of the spec's hooks from inside the container (createContainer: in its mount
/// namespace before pivot_root; startContainer: after `start`, before the user's program).
/// createContainer runs in the container's root (before pivot_root, as runc chdirs there),
/// startContainer in the process's cwd, where the init already is (`cwd` None).
fn run_hooks(c: &Child, which: impl Fn(&crate::oci::Hooks) -> &Vec<crate::oci::Hook>, cwd: Option<&Path>) -> Result<()> {
    let Some(hooks) = c.spec.hooks.as_ref().map(which).filter(|h| !h.is_empty()) else { return Ok(()) };
    let mut state = c.hook_state.clone();
    // Our pid as the host (and runc's state) sees it: /proc is still the host's before pivot,
    // and after it the state keeps what was found then.
    state.pid = host_pid();
    state.status = if cwd.is_some() { "creating" } else { "created" }.into();
    super::hooks::run(hooks, &state, cwd)
}

/// This process's pid in the host's pid namespace (from the outermost NSpid entry).
fn host_pid() -> i32 {
    static PID: std::sync::OnceLock<i32> = std::sync::OnceLock::new();
    *PID.get_or_init(|| {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| s.lines().find_map(|l| l.strip_prefix("NSpid:").and_then(|v| v.split_whitespace().next()?.parse().ok())))
            .unwrap_or(0)
    })
}

/// Blocks until `runc start` opens the exec fifo, then tells it we are going.
fn wait_for_start(c: &Child) -> Result<()> {
    let path = format!("/proc/self/fd/{}", c.fifo.as_raw_fd());
    let fd = crate::fs64::open(path.as_str(), nix::fcntl::OFlag::O_WRONLY | nix::fcntl::OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty())
        .map_err(|e| format!("open exec fifo: {}", errno(e)))?;
    // SAFETY: open returned a fresh descriptor we own.
    let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    nix::unistd::write(&fd, b"0").map_err(|e| format!("write exec fifo: {}", errno(e)))?;
    Ok(())
}
