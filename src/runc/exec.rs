//! `runc exec`: runs another process in a running container. A first child joins the init's
//! cgroups and namespaces (`/proc/<init>/ns/*`, the root from `/proc/<init>/root`) and forks
//! the process itself, which is then inside the container's pid namespace; the first child
//! exits at once, so the process is adopted by runc (a subreaper while it waits in the
//! foreground) or, with `-d`, by the caller's subreaper (the shim).

use super::seccomp_agent::Handoff;
use super::state::{errno_text, Container, Status};
use super::{console, init, Error, Global, Result};
use nix::sched::CloneFlags;
use nix::sys::signal::{SigSet, Signal};
use nix::unistd::Pid;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;

/// `runc exec`'s flags.
#[derive(Debug, Default)]
pub struct ExecOptions {
    pub id: String,
    pub args: Vec<String>,
    pub process_file: Option<PathBuf>,
    pub tty: bool,
    pub detach: bool,
    pub console_socket: Option<PathBuf>,
    pub cwd: Option<String>,
    pub env: Vec<String>,
    pub user: Option<String>,
    pub additional_gids: Vec<String>,
    pub caps: Vec<String>,
    pub no_new_privs: bool,
    pub pid_file: Option<PathBuf>,
    pub preserve_fds: i32,
    pub process_label: Option<String>,
    pub apparmor: Option<String>,
    /// `--ignore-paused`: exec even while the container is frozen (the process then waits
    /// frozen too until `resume`).
    pub ignore_paused: bool,
    /// `--cgroup [<controller>[,<controller>]:]<path>`, as given (see [`sub_cgroups`]).
    pub cgroups: Vec<String>,
}

/// runc's reading of the `--cgroup` flags: controller → sub-path, or the one key `""` for
/// a path without a controller (all hierarchies; allowed only when given alone).
pub fn sub_cgroups(args: &[String]) -> Result<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = Vec::new();
    for a in args {
        let parts: Vec<&str> = a.splitn(3, ':').collect();
        match parts[..] {
            [path] => {
                if args.len() != 1 {
                    return Err(Error::new(format!("invalid --cgroup argument: {a} (missing <controller>: prefix)")));
                }
                out.push((String::new(), path.to_string()));
            }
            [ctrls, path] => {
                for c in ctrls.split(',') {
                    out.retain(|(k, _)| k != c);
                    out.push((c.to_string(), path.to_string()));
                }
            }
            _ => return Err(Error::new(format!("invalid --cgroup argument: {a}"))),
        }
    }
    Ok(out)
}

/// `base` joined with `sub` lexically (as Go's path.Join), refused when it leaves `base`.
fn join_sub(base: &std::path::Path, sub: &str) -> Result<PathBuf> {
    let mut out = base.to_path_buf();
    let depth = base.components().count();
    for part in sub.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.components().count() <= depth {
                    return Err(Error::new(format!("{sub} is not a sub cgroup path")));
                }
                out.pop();
            }
            p => out.push(p),
        }
    }
    Ok(out)
}

/// The directories an exec'd process joins with `--cgroup`: the container's recorded cgroup
/// with the sub-paths applied, (v1 directories, the cgroup2 one).
fn sub_cgroup_dirs(cg: &crate::cgroups::Cgroup, subs: &[(String, String)]) -> Result<(Vec<PathBuf>, Option<PathBuf>)> {
    let mut v1 = cg.v1.clone();
    let mut unified = cg.unified.clone();
    if let Some((_, sub)) = subs.iter().find(|(k, _)| k.is_empty()) {
        for dir in v1.values_mut() {
            *dir = join_sub(dir, sub)?;
        }
        if let Some(dir) = unified.as_mut() {
            *dir = join_sub(dir, sub)?;
        }
    } else {
        for (ctrl, sub) in subs {
            // Co-mounted controllers share a directory: naming one moves them all.
            let Some(base) = cg.v1.get(ctrl).cloned() else {
                return Err(Error::new(format!("unknown controller {ctrl} in SubCgroupPaths")));
            };
            let target = join_sub(&base, sub)?;
            for dir in v1.values_mut() {
                if *dir == base {
                    *dir = target.clone();
                }
            }
        }
    }
    let mut dirs: Vec<PathBuf> = Vec::new();
    for d in v1.into_values() {
        if !dirs.contains(&d) {
            dirs.push(d);
        }
    }
    for d in dirs.iter().chain(unified.as_ref()) {
        if !d.is_dir() {
            return Err(Error::new(format!("error adding pid to cgroups: openat2 {}: no such file or directory", d.join("cgroup.procs").display())));
        }
    }
    Ok((dirs, unified))
}

/// The process to run: from `-p`, or the container's process with the flags applied.
fn build_process(c: &Container, o: &ExecOptions) -> Result<crate::oci::Process> {
    if let Some(path) = &o.process_file {
        let text = std::fs::read_to_string(path).map_err(|e| Error::new(format!("open {}: {}", path.display(), errno_text(&e))))?;
        let p: crate::oci::Process = serde_json::from_str(&text).map_err(|e| Error::new(format!("parse {}: {e}", path.display())))?;
        return Ok(p);
    }
    let mut p = c.record.config.process.clone().unwrap_or_default();
    p.args = o.args.clone();
    p.terminal = o.tty;
    p.console_size = None;
    if let Some(cwd) = &o.cwd {
        p.cwd = cwd.clone();
    }
    for kv in &o.env {
        let key = kv.split('=').next().unwrap_or("");
        p.env.retain(|e| e.split('=').next() != Some(key));
        p.env.push(kv.clone());
    }
    if let Some(u) = &o.user {
        let (uid, gid) = match u.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (u.as_str(), None),
        };
        p.user.uid = uid.parse().map_err(|_| Error::new(format!("parsing {uid} as int for uid failed")))?;
        if let Some(g) = gid {
            p.user.gid = g.parse().map_err(|_| Error::new(format!("parsing {g} as int for gid failed")))?;
        }
    }
    for g in &o.additional_gids {
        let gid = g.parse().map_err(|_| Error::new(format!("invalid additional-gids value {g}")))?;
        p.user.additional_gids.push(gid);
    }
    if !o.caps.is_empty() {
        let caps = p.capabilities.get_or_insert_with(Default::default);
        for cap in &o.caps {
            for set in [&mut caps.bounding, &mut caps.effective, &mut caps.permitted] {
                let v = set.get_or_insert_with(Vec::new);
                if !v.contains(cap) {
                    v.push(cap.clone());
                }
            }
        }
    }
    if o.no_new_privs {
        p.no_new_privileges = true;
    }
    if let Some(a) = &o.apparmor {
        p.apparmor_profile = Some(a.clone());
    }
    if let Some(l) = &o.process_label {
        p.selinux_label = Some(l.clone());
    }
    Ok(p)
}

/// The namespaces to enter, in order: the user namespace first (it owns the others), the
/// mount namespace last (it changes what paths mean). Ones we already share are skipped.
/// The compiled seccomp filter of the container's execs, in its state directory.
const SECCOMP_CACHE: &str = "seccomp.bpf";

const NAMESPACES: &[(&str, CloneFlags)] = &[
    ("user", CloneFlags::CLONE_NEWUSER),
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("net", CloneFlags::CLONE_NEWNET),
    ("pid", CloneFlags::CLONE_NEWPID),
    ("cgroup", CloneFlags::CLONE_NEWCGROUP),
    ("time", CloneFlags::from_bits_retain(libc::CLONE_NEWTIME)),
    ("mnt", CloneFlags::CLONE_NEWNS),
];

fn open_ro(path: &str, extra: i32) -> std::io::Result<OwnedFd> {
    let c = std::ffi::CString::new(path).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: open reads a NUL-terminated path and returns a new descriptor or -1.
    let fd = unsafe { libc::open64(c.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC | extra) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn namespaces_of(pid: i32) -> Result<Vec<(OwnedFd, CloneFlags)>> {
    let mut out = Vec::new();
    for (name, flag) in NAMESPACES {
        let theirs = format!("/proc/{pid}/ns/{name}");
        let Ok(target) = std::fs::read_link(&theirs) else { continue };
        if std::fs::read_link(format!("/proc/self/ns/{name}")).ok() == Some(target) {
            continue;
        }
        let fd = open_ro(&theirs, 0).map_err(|e| Error::new(format!("open {theirs}: {}", errno_text(&e))))?;
        out.push((fd, *flag));
    }
    Ok(out)
}

/// The init's cgroup directories that are not already ours: the v1 ones, and the cgroup2 one.
fn cgroups_of(pid: i32) -> (Vec<PathBuf>, Option<PathBuf>) {
    let read = |p: &str| std::fs::read_to_string(format!("/proc/{p}/cgroup")).unwrap_or_default();
    let ours = read("self");
    let mounts = crate::mounts::mounts().unwrap_or_default();
    let (mut v1, mut unified) = (Vec::new(), None);
    for line in read(&pid.to_string()).lines() {
        if ours.lines().any(|l| l == line) {
            continue;
        }
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next(), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let mount = mounts.iter().find(|m| {
            if controllers.is_empty() {
                m.fstype == "cgroup2"
            } else {
                m.fstype == "cgroup" && controllers.split(',').all(|c| m.super_options.split(',').any(|o| o == c))
            }
        });
        if let Some(m) = mount {
            let dir = m.mount_point.join(path.trim_start_matches('/'));
            if controllers.is_empty() {
                unified = Some(dir);
            } else {
                v1.push(dir);
            }
        }
    }
    (v1, unified)
}

fn errno(e: nix::errno::Errno) -> String {
    e.desc().to_ascii_lowercase()
}

/// Runs `runc exec`; Ok is runc's exit code (the process's status in the foreground).
pub fn exec(g: &Global, o: &ExecOptions) -> Result<i32> {
    let c = Container::load(g, &o.id)?;
    if c.status() == Status::Stopped {
        return Err(Error::new("cannot exec in a stopped container"));
    }
    let recorded_cgroup = super::state::cgroup_of(&c.dir);
    // A frozen container would freeze the new process before it reports back: refused at
    // once, as runc, unless the caller asked to wait for a resume.
    if !o.ignore_paused && recorded_cgroup.as_ref().is_some_and(|cg| cg.is_frozen()) {
        return Err(Error::new("cannot exec in a paused container (use --ignore-paused to override)"));
    }
    let subs = sub_cgroups(&o.cgroups)?;
    let process = build_process(&c, o)?;
    if process.args.is_empty() {
        return Err(Error::new("args must not be empty"));
    }
    if !process.cwd.is_empty() && !process.cwd.starts_with('/') {
        return Err(Error::new("cwd must be an absolute path"));
    }
    console::check_options(process.terminal, o.console_socket.is_some(), o.detach).map_err(Error::new)?;
    // The container's seccomp profile and LSM labels apply to exec'd processes too.
    let spec = crate::oci::Spec { process: Some(process.clone()), ..c.record.config.clone() };
    let plan = super::security::prepare_cached(&spec, &c.dir.join(SECCOMP_CACHE)).map_err(Error::new)?;
    if !o.detach {
        let _ = crate::sys::set_child_subreaper();
    }
    let init_pid = c.record.init_pid;
    let (console_socket, own_console) = match &o.console_socket {
        Some(path) => (Some(console::connect(path).map_err(Error::new)?), None),
        None if process.terminal => {
            let (ours, theirs) = console::socketpair().map_err(Error::new)?;
            (Some(theirs), Some(ours))
        }
        None => (None, None),
    };
    let namespaces = namespaces_of(init_pid)?;
    let root = open_ro(&format!("/proc/{init_pid}/root"), libc::O_DIRECTORY).map_err(|e| match e.raw_os_error() {
        // The init died since its state was read.
        Some(libc::ENOENT) | Some(libc::ESRCH) => Error::new("cannot exec in a stopped container"),
        _ => Error::new(format!("open container root: {}", errno_text(&e))),
    })?;
    let (v1, unified) = match &recorded_cgroup {
        Some(cg) if !subs.is_empty() => sub_cgroup_dirs(cg, &subs).map_err(|e| Error::new(format!("exec failed: unable to start container process: {}", e.msg)))?,
        None if !subs.is_empty() => return Err(Error::new("container has no cgroup to join a sub-cgroup of")),
        _ => cgroups_of(init_pid),
    };
    let cgroups = crate::cgroups::Entry::open(&v1, unified.as_deref()).map_err(|e| Error::new(format!("exec failed: unable to join cgroup: {e}")))?;
    let (report_r, report_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| Error::new(format!("pipe: {}", e.desc())))?;
    // runc's go-ahead to a process that handed it a seccomp listener.
    let (ack_r, ack_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| Error::new(format!("pipe: {}", e.desc())))?;
    let debug = super::debuglog::pipe(g);
    let debug_w = debug.as_ref().map(|d| &d.write);
    g.debug(|| format!("nsexec[{}]: exec in container {} (init pid {init_pid}): {:?}", std::process::id(), o.id, process.args));

    let mut forwarded = SigSet::empty();
    for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP, Signal::SIGQUIT, Signal::SIGUSR1, Signal::SIGUSR2, Signal::SIGWINCH, Signal::SIGCHLD] {
        forwarded.add(s);
    }
    let _ = forwarded.thread_block();

    let (first, _) = super::spawn::spawn(CloneFlags::empty(), cgroups.unified_fd(), |in_unified| {
        // SAFETY: in the child, closing our copy of the read end only touches its fd table.
        unsafe { libc::close(report_r.as_raw_fd()) };
        // SAFETY: as above; the process must see EOF on its go-ahead should runc die.
        unsafe { libc::close(ack_w.as_raw_fd()) };
        let code = match enter(&cgroups, in_unified, &namespaces, &root, debug_w) {
            Ok(()) => spawn_process(&process, &spec, &plan, console_socket.as_ref(), &Handoff { report: &report_w, ack: &ack_r }, o.preserve_fds, debug_w),
            Err(e) => {
                let _ = nix::unistd::write(&report_w, format!("E{e}").as_bytes());
                1
            }
        };
        // SAFETY: _exit leaves without running destructors of runc's state.
        unsafe { libc::_exit(code) }
    })
    .map_err(Error::new)?;
    drop(report_w);
    drop(ack_r);
    drop(cgroups);
    drop(console_socket);
    drop(root);
    drop(namespaces);
    let _ = nix::sys::wait::waitpid(first, None);
    let mut report = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match nix::unistd::read(report_r.as_raw_fd(), &mut buf) {
            Err(nix::errno::Errno::EINTR) => continue,
            Ok(0) | Err(_) => break,
            Ok(n) => report.extend_from_slice(&buf[..n]),
        }
        // A seccomp listener (SCMP_ACT_NOTIFY), handed over once the process's pid is known.
        if let Some(pid) = reported_pid(&report) {
            if let Some(fd) = super::seccomp_agent::take_listener_line(&mut report) {
                if let Err(e) = give_listener_to_agent(&c, &spec, init_pid, pid, fd, &ack_w) {
                    let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
                    let _ = nix::sys::wait::waitpid(Pid::from_raw(pid), None);
                    return Err(Error::new(format!("exec failed: unable to start container process: {e}")));
                }
            }
        }
    }
    drop(ack_w);
    if let Some(d) = debug {
        drop(d.write);
        super::debuglog::forward(g, &d.read);
    }
    let pid = reported_pid(&report);
    let report = String::from_utf8_lossy(&report).into_owned();
    if let Some(pos) = report.find('E') {
        if let Some(pid) = pid {
            let _ = nix::sys::wait::waitpid(Pid::from_raw(pid), None);
        }
        return Err(Error::new(format!("exec failed: unable to start container process: {}", &report[pos + 1..])));
    }
    let pid = pid.ok_or_else(|| Error::new("exec failed: unable to start container process: the process vanished"))?;
    if let Some(p) = &o.pid_file {
        if let Err(e) = super::state::write_replace(p, pid.to_string().as_bytes()) {
            // As runc: a process whose pid cannot be recorded does not run on untracked.
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
            if !o.detach {
                let _ = nix::sys::wait::waitpid(Pid::from_raw(pid), None);
            }
            return Err(Error::new(format!("write pid file {}: {e}", p.display())));
        }
    }
    if o.detach {
        return Ok(0);
    }
    let mut proxy = match own_console {
        Some(sock) => Some(console::Proxy::start(console::recv_fd(sock.as_raw_fd()).map_err(|e| Error::new(format!("receive console: {e}")))?.0)),
        None => None,
    };
    let sigfd = nix::sys::signalfd::SignalFd::with_flags(&forwarded, nix::sys::signalfd::SfdFlags::SFD_CLOEXEC | nix::sys::signalfd::SfdFlags::SFD_NONBLOCK).map_err(|e| Error::new(format!("signalfd: {}", e.desc())))?;
    let code = console::wait_forwarding(Pid::from_raw(pid), &sigfd, proxy.as_mut()).map_err(Error::new)?;
    if let Some(p) = proxy {
        p.finish();
    }
    g.debug(|| format!("process exited: pid {pid}, status {code}"));
    Ok(code)
}

/// The process's pid from the first child's `P<pid>` line, once the line is whole.
fn reported_pid(report: &[u8]) -> Option<i32> {
    let text = std::str::from_utf8(report).ok()?;
    text.split_inclusive('\n').filter(|l| l.ends_with('\n')).find_map(|l| l.strip_prefix('P')?.trim_end().parse().ok())
}

/// Takes descriptor `fd` (the seccomp listener) of process `pid`, lets the process go on and
/// sends the listener to the profile's agent, as runc does for an exec.
fn give_listener_to_agent(c: &Container, spec: &crate::oci::Spec, init_pid: i32, pid: i32, fd: i32, ack: &OwnedFd) -> std::result::Result<(), String> {
    let listener = super::seccomp_agent::copy_from(pid, fd)?;
    let _ = nix::unistd::write(ack, b"1");
    let (path, metadata) = super::security::listener(spec).ok_or("seccomp listenerPath is not set")?;
    let state = crate::oci::State {
        oci_version: spec.oci_version.clone(),
        id: c.record.id.clone(),
        pid: init_pid,
        status: "running".into(),
        bundle: c.record.bundle.clone(),
        annotations: spec.annotations.clone(),
        ..Default::default()
    };
    super::seccomp_agent::send(&path, &super::seccomp_agent::process_state(pid, metadata.as_deref(), &state), &listener)
}

/// In the first child (single-threaded, so `tasks` moves all of it): the init's cgroups (the
/// cgroup2 one unless the child was made in it), its namespaces, its root.
fn enter(cgroups: &crate::cgroups::Entry, in_unified: bool, namespaces: &[(OwnedFd, CloneFlags)], root: &OwnedFd, debug: Option<&OwnedFd>) -> std::result::Result<(), String> {
    cgroups.enter_v1().map_err(|e| format!("join cgroup: {e}"))?;
    if !in_unified {
        cgroups.add_unified(0).map_err(|e| format!("join cgroup: {e}"))?;
    }
    super::debuglog::line(debug, "nsexec-1", || "joined the container's cgroups".into());
    for (fd, flag) in namespaces {
        nix::sched::setns(fd, *flag).map_err(|e| format!("join namespace {flag:?}: {}", errno(e)))?;
        super::debuglog::line(debug, "nsexec-1", || format!("setns({:#x}) into the container's namespace", flag.bits()));
    }
    nix::unistd::fchdir(root.as_raw_fd()).map_err(|e| format!("chdir to container root: {}", errno(e)))?;
    nix::unistd::chroot(".").map_err(|e| format!("chroot: {}", errno(e)))?;
    nix::unistd::chdir("/").map_err(|e| format!("chdir /: {}", errno(e)))?;
    Ok(())
}

/// Forks the process (inside the pid namespace just joined), reports its pid, and returns
/// the first child's exit code.
fn spawn_process(p: &crate::oci::Process, spec: &crate::oci::Spec, plan: &super::security::Plan, console: Option<&OwnedFd>, handoff: &Handoff, preserve_fds: i32, debug: Option<&OwnedFd>) -> i32 {
    let report = handoff.report;
    // SAFETY: the first child is single-threaded.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Child) => {
            super::debuglog::line(debug, "init", || "process forked inside the container's namespaces".into());
            let e = match prepare(p, spec, plan, console, handoff, preserve_fds, debug) {
                Ok(exec) => exec.secure_exec(handoff),
                Err(e) => e,
            };
            let _ = nix::unistd::write(report, format!("E{e}").as_bytes());
            // SAFETY: as above.
            unsafe { libc::_exit(127) }
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => {
            super::debuglog::line(debug, "nsexec-1", || format!("spawned the process, pid {child} in the container"));
            let _ = nix::unistd::write(report, format!("P{}\n", child.as_raw()).as_bytes());
            0
        }
        Err(e) => {
            let _ = nix::unistd::write(report, format!("Efork: {}", errno(e)).as_bytes());
            1
        }
    }
}

/// In the process: session, terminal, user and capabilities, cwd, then the program to exec.
fn prepare(p: &crate::oci::Process, spec: &crate::oci::Spec, plan: &super::security::Plan, console: Option<&OwnedFd>, handoff: &Handoff, preserve_fds: i32, debug: Option<&OwnedFd>) -> std::result::Result<init::Exec, String> {
    init::reset_signals();
    nix::unistd::setsid().map_err(|e| format!("setsid: {}", errno(e)))?;
    if let Some(sock) = console {
        console::setup_in_container(sock, p.console_size.as_ref())?;
    }
    if let Some(adj) = p.oom_score_adj {
        let _ = std::fs::write("/proc/self/oom_score_adj", adj.to_string());
    }
    // The cwd: first with root's rights, then as the user if those fell short (as runc).
    let cwd_done = init::chdir_before_user(&p.cwd)?;
    super::security::before_user(plan, spec, handoff)?;
    init::set_rlimits(&p.rlimits)?;
    console::fix_stdio_owner(p.user.uid)?;
    init::become_user(p)?;
    init::chdir_after_user(&p.cwd, cwd_done)?;
    super::security::check_cwd()?;
    let path = init::look_path(&p.args[0], &p.env)?;
    super::debuglog::line(debug, "init", || format!("about to exec {path:?}"));
    if p.no_new_privileges {
        // SAFETY: PR_SET_NO_NEW_PRIVS takes plain integer arguments.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return Err(format!("set no_new_privs: {}", std::io::Error::last_os_error()));
        }
    }
    init::close_host_fds(preserve_fds)?;
    init::Exec::new(&path, &p.args, &p.env, plan.clone())
}
