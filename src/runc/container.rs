//! The container life cycle runc drives from the outside: create (fork the init into its
//! namespaces and wait until it is ready), start (release it through the exec fifo), run,
//! kill and delete.

use super::state::{errno_text, proc_stat, validate_id, Container, Record, Status, EXEC_FIFO};
use super::{init, Error, Global, Result};
use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::signal::Signal;
use nix::sys::stat::Mode;
use nix::unistd::Pid;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

#[derive(Debug, Default, Clone)]
pub struct CreateOptions {
    pub id: String,
    pub bundle: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: i32,
    pub detach: bool,
    pub keep: bool,
    pub no_subreaper: bool,
    /// Internal: runc's own end of a console socketpair (`run` in the foreground with a tty).
    pub console_fd: Option<std::sync::Arc<OwnedFd>>,
}

/// `p` made absolute and cleaned of `.` and `..` (lexically, as Go's filepath.Abs does).
fn absolute(p: &Path) -> PathBuf {
    use std::path::Component;
    let joined = if p.is_absolute() { p.to_path_buf() } else { std::env::current_dir().map(|d| d.join(p)).unwrap_or_else(|_| p.to_path_buf()) };
    let mut out = PathBuf::from("/");
    for c in joined.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// Namespace type names of the spec and their clone flags.
fn namespace_flag(kind: &str) -> Result<CloneFlags> {
    Ok(match kind {
        "pid" => CloneFlags::CLONE_NEWPID,
        "network" => CloneFlags::CLONE_NEWNET,
        "mount" => CloneFlags::CLONE_NEWNS,
        "ipc" => CloneFlags::CLONE_NEWIPC,
        "uts" => CloneFlags::CLONE_NEWUTS,
        "cgroup" => CloneFlags::CLONE_NEWCGROUP,
        "user" => CloneFlags::CLONE_NEWUSER,
        "time" => super::userns::CLONE_NEWTIME,
        other => return Err(Error::new(format!("namespace {other:?} does not exist"))),
    })
}

fn open_cloexec(path: &Path, flags: OFlag) -> std::io::Result<OwnedFd> {
    let fd = crate::fs64::open(path, flags | OFlag::O_CLOEXEC, Mode::empty())?;
    // SAFETY: open returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Creates the container and leaves its init waiting on the exec fifo; returns the init's pid.
pub fn create(g: &Global, o: &CreateOptions) -> Result<i32> {
    validate_id(&o.id)?;
    let bundle = absolute(o.bundle.as_deref().unwrap_or(Path::new(".")));
    let pid_file = o.pid_file.as_deref().map(absolute);
    std::env::set_current_dir(&bundle).map_err(|e| Error::new(format!("chdir {}: {}", bundle.display(), errno_text(&e))))?;
    let spec = crate::oci::Spec::load(&bundle)?;
    let process = spec.process.as_ref().ok_or("process property must not be empty")?;
    super::console::check_options(process.terminal, o.console_socket.is_some() || o.console_fd.is_some(), true)?;
    if process.args.is_empty() {
        return Err(Error::new("args must not be empty"));
    }
    if !process.cwd.starts_with('/') {
        return Err(Error::new("cwd property must not be empty and must be an absolute path"));
    }
    let root = spec.root.as_ref().ok_or("root must be specified")?;
    let rootfs = absolute(Path::new(&root.path));
    if !rootfs.is_dir() {
        return Err(Error::new(format!("rootfs ({}) does not exist", rootfs.display())));
    }

    // Namespaces: new ones by flag, existing ones opened now (paths mean the host's view).
    let mut new_flags = CloneFlags::empty();
    let mut join = Vec::new();
    let mut join_pid = None;
    for ns in spec.namespaces() {
        let flag = namespace_flag(&ns.kind)?;
        match ns.path.as_deref().filter(|p| !p.is_empty()) {
            None => new_flags |= flag,
            Some(path) => {
                let fd = open_cloexec(Path::new(path), OFlag::O_RDONLY)
                    .map_err(|e| Error::new(format!("open namespace {path}: {}", errno_text(&e))))?;
                if flag == CloneFlags::CLONE_NEWPID {
                    join_pid = Some(fd);
                } else {
                    join.push((fd, flag));
                }
            }
        }
    }
    if new_flags.contains(CloneFlags::CLONE_NEWUSER) && spec.linux.as_ref().is_none_or(|l| l.uid_mappings.is_empty() || l.gid_mappings.is_empty()) {
        return Err(Error::new("user namespaces enabled, but no user mapping found"));
    }
    if spec.hostname.as_deref().is_some_and(|h| !h.is_empty()) && !new_flags.contains(CloneFlags::CLONE_NEWUTS) {
        return Err(Error::new("unable to set hostname without a private UTS namespace"));
    }

    if Container::dir_of(g, &o.id).exists() {
        return Err(Error::new(format!("container with id exists: {}", o.id)));
    }
    // The cgroup is resolved and checked (runc's validator and factory checks) before
    // anything is made.
    let cgroup = super::manage::cgroup_precheck(g, &spec, &o.id)?;
    std::fs::create_dir_all(&g.root).map_err(|e| Error::new(format!("mkdir {}: {}", g.root.display(), errno_text(&e))))?;
    let dir = Container::dir_of(g, &o.id);
    match std::fs::create_dir(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(Error::new(format!("container with id exists: {}", o.id)));
        }
        Err(e) => return Err(Error::new(format!("mkdir {}: {}", dir.display(), errno_text(&e)))),
    }
    let result = create_in(g, o, &dir, &bundle, &rootfs, spec.clone(), cgroup, new_flags, join, join_pid, pid_file.as_deref());
    if result.is_err() {
        let _ = super::manage::cgroup_remove(&dir);
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

#[allow(clippy::too_many_arguments)]
fn create_in(
    g: &Global,
    o: &CreateOptions,
    dir: &Path,
    bundle: &Path,
    rootfs: &Path,
    spec: crate::oci::Spec,
    cgroup: crate::cgroups::Cgroup,
    new_flags: CloneFlags,
    join: Vec<(OwnedFd, CloneFlags)>,
    join_pid: Option<OwnedFd>,
    pid_file: Option<&Path>,
) -> Result<i32> {
    let fifo_path = dir.join(EXEC_FIFO);
    nix::unistd::mkfifo(&fifo_path, Mode::from_bits_truncate(0o622)).map_err(|e| Error::new(format!("mkfifo {}: {}", fifo_path.display(), e.desc())))?;
    // 0622 whatever the umask: the init opens it for writing after becoming the spec's user.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fifo_path, std::fs::Permissions::from_mode(0o622)).map_err(|e| Error::new(format!("chmod exec fifo: {}", errno_text(&e))))?;
    }
    let fifo = open_cloexec(&fifo_path, OFlag::O_PATH).map_err(|e| Error::new(format!("open exec fifo: {}", errno_text(&e))))?;
    let (ready_r, ready_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| Error::new(format!("pipe: {}", e.desc())))?;
    let debug = super::debuglog::pipe(g);
    // The console socket is reached now: the init's view of the host's paths ends at pivot_root.
    let console = match (&o.console_socket, &o.console_fd) {
        (Some(path), _) if spec.process.as_ref().is_some_and(|p| p.terminal) => Some(super::console::connect(path)?),
        (_, Some(fd)) => Some(fd.try_clone().map_err(|e| Error::new(format!("dup console socket: {e}")))?),
        _ => None,
    };
    let hook_state = crate::oci::State {
        oci_version: spec.oci_version.clone(),
        id: o.id.clone(),
        status: "created".into(),
        bundle: bundle.to_string_lossy().into_owned(),
        annotations: spec.annotations.clone(),
        ..Default::default()
    };

    // A new user namespace is made by clone (below) together with the pid namespace it must own.
    let new_user = new_flags.contains(CloneFlags::CLONE_NEWUSER);
    // The init waits on this until runc's outside setup (id maps, cgroups) is done.
    let (sync_r, sync_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| Error::new(format!("pipe: {}", e.desc())))?;
    // The init must be PID 1 of the new pid namespace: unsharing (or joining) it here makes
    // only our next child enter it.
    if let Some(fd) = &join_pid {
        nix::sched::setns(fd, CloneFlags::CLONE_NEWPID).map_err(|e| Error::new(format!("join pid namespace: {}", e.desc())))?;
    } else if new_flags.contains(CloneFlags::CLONE_NEWPID) && !new_user {
        nix::sched::unshare(CloneFlags::CLONE_NEWPID).map_err(|e| Error::new(format!("unshare pid namespace: {}", e.desc())))?;
    }
    // Cgroups: the init enters the container's cgroup before it sets anything up (see
    // cgroups::Entry); its files are opened here, where runc's view and rights apply.
    let cgroup = super::manage::cgroup_setup(dir, &spec, cgroup)?;
    let entry = cgroup.as_ref().map(|cg| cg.entry()).transpose().map_err(|e| Error::new(format!("unable to join cgroup: {e}")))?;
    let runtime_hooks = spec.hooks.as_ref().is_some_and(|h| !h.prestart.is_empty() || !h.create_runtime.is_empty());
    let mount_sources = if new_user { super::rootfs::open_bind_sources(&spec, bundle).map_err(Error::new)? } else { Vec::new() };
    let child = init::Child {
        spec: &spec,
        rootfs,
        bundle,
        new_namespaces: new_flags - CloneFlags::CLONE_NEWPID - CloneFlags::CLONE_NEWUSER - super::userns::CLONE_NEWTIME,
        join: &join,
        fifo: &fifo,
        ready: &ready_w,
        no_pivot: o.no_pivot,
        keyring: (!o.no_new_keyring).then(|| std::ffi::CString::new(format!("_ses.{}", o.id)).expect("ids have no NUL")),
        preserve_fds: o.preserve_fds,
        console: console.as_ref(),
        hook_state: hook_state.clone(),
        sync: &sync_r,
        new_user,
        mount_sources: &mount_sources,
        time_offsets: new_flags.contains(super::userns::CLONE_NEWTIME).then(|| spec.linux.as_ref().and_then(|l| l.time_offsets.clone()).unwrap_or_default()),
        cgroup: entry.as_ref(),
        debug: debug.as_ref().map(|d| &d.write),
        runtime_hooks,
    };
    let clone_flags = if new_user { CloneFlags::CLONE_NEWUSER | (new_flags & CloneFlags::CLONE_NEWPID) } else { CloneFlags::empty() };
    let (pid, in_unified) = super::spawn::spawn(clone_flags, entry.as_ref().and_then(|e| e.unified_fd()), |_| {
        // SAFETY: in the child, closing our copy of the read end only touches its fd table.
        unsafe { libc::close(ready_r.as_raw_fd()) };
        init::run(child)
    })
    .map_err(Error::new)?;
    g.debug(|| format!("nsexec[{}]: spawned the container init, pid {pid}", std::process::id()));
    drop(ready_w);
    drop(sync_r);
    let abort = |msg: String| {
        let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(pid, None);
        Error::new(msg)
    };
    // Outside setup of the init, then its go-ahead.
    if new_user {
        if let Err(e) = super::userns::write_id_maps(pid, spec.linux.as_ref().expect("namespaces come from linux")) {
            return Err(abort(e));
        }
    }
    if let Some(entry) = entry.as_ref().filter(|_| !in_unified) {
        entry.add_unified(pid.as_raw()).map_err(|e| abort(format!("unable to join cgroup: {e}")))?;
    }
    let _ = nix::unistd::write(&sync_w, b"1");
    drop(entry);
    drop(join);
    drop(mount_sources);
    drop(console);
    let mut buf = [0u8; 4096];
    let read_init = |buf: &mut [u8]| loop {
        match nix::unistd::read(ready_r.as_raw_fd(), buf) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(format!("read from init: {}", e.desc())),
            Ok(n) => return Ok(String::from_utf8_lossy(&buf[..n]).into_owned()),
        }
    };
    let mut msg = read_init(&mut buf).map_err(abort)?;
    // Requests of the init before its report: hooks to run, a seccomp listener to take.
    loop {
        if let Some(fd) = msg.strip_prefix(super::seccomp_agent::LISTENER).and_then(|r| r.strip_suffix('\n')).and_then(|n| n.parse().ok()) {
            let listener = super::seccomp_agent::copy_from(pid.as_raw(), fd).map_err(|e| abort(format!("unable to start container process: {e}")))?;
            let _ = nix::unistd::write(&sync_w, b"1");
            let (path, metadata) = super::security::listener(&spec).ok_or_else(|| abort("seccomp listenerPath is not set".into()))?;
            let mut state = hook_state.clone();
            state.pid = pid.as_raw();
            state.status = "creating".into();
            let process_state = super::seccomp_agent::process_state(pid.as_raw(), metadata.as_deref(), &state);
            super::seccomp_agent::send(&path, &process_state, &listener).map_err(|e| abort(format!("unable to start container process: {e}")))?;
            msg = read_init(&mut buf).map_err(abort)?;
            continue;
        }
        if msg != init::HOOKS {
            break;
        }
        // As runc: prestart and createRuntime hooks run here, in runc's namespaces (our
        // children go back to our own pid namespace), the bundle their cwd, while the init
        // waits with its mounts made and before pivot_root.
        if new_flags.contains(CloneFlags::CLONE_NEWPID) && join_pid.is_none() && !new_user {
            let own = open_cloexec(Path::new("/proc/self/ns/pid"), OFlag::O_RDONLY).map_err(|e| abort(format!("open pid namespace: {}", errno_text(&e))))?;
            nix::sched::setns(&own, CloneFlags::CLONE_NEWPID).map_err(|e| abort(format!("return to our pid namespace: {}", e.desc())))?;
        }
        let mut state = hook_state.clone();
        state.pid = pid.as_raw();
        state.status = "creating".into();
        if let Some(h) = &spec.hooks {
            let hooks: Vec<_> = h.prestart.iter().chain(&h.create_runtime).cloned().collect();
            super::hooks::run(&hooks, &state, Some(bundle)).map_err(abort)?;
        }
        let _ = nix::unistd::write(&sync_w, b"1");
        msg = read_init(&mut buf).map_err(abort)?;
    }
    drop(sync_w);
    if let Some(d) = &debug {
        super::debuglog::forward(g, &d.read);
    }
    match msg.strip_prefix(init::READY) {
        Some("") => {}
        _ if msg.is_empty() => return Err(abort("unable to start container process: container init exited without reporting".into())),
        _ => return Err(abort(format!("unable to start container process: {}", msg.trim_start_matches(init::FAILED)))),
    }
    let start_time = match proc_stat(pid.as_raw()) {
        Some((_, t)) => t,
        None => return Err(abort("container init vanished".into())),
    };
    let record = Record {
        id: o.id.clone(),
        init_pid: pid.as_raw(),
        init_start_time: start_time,
        bundle: bundle.to_string_lossy().into_owned(),
        rootfs: rootfs.to_string_lossy().into_owned(),
        created: crate::sys::rfc3339_nanos(std::time::SystemTime::now()),
        config: spec,
    };
    let c = Container { dir: dir.to_path_buf(), record };
    if let Err(e) = c.save() {
        return Err(abort(e.msg));
    }
    if let Some(p) = pid_file {
        if let Err(e) = super::state::write_replace(p, pid.as_raw().to_string().as_bytes()) {
            return Err(abort(format!("write pid file {}: {e}", p.display())));
        }
    }
    g.debug(|| format!("created container {} with init pid {pid}", o.id));
    Ok(pid.as_raw())
}

/// Poststart hooks; when one fails the container is killed, as runc does.
fn run_poststart(c: &Container) -> Result<()> {
    let Some(h) = c.record.config.hooks.as_ref().filter(|h| !h.poststart.is_empty()) else { return Ok(()) };
    super::hooks::run(&h.poststart, &c.state_document(false), None).map_err(|e| {
        let _ = nix::sys::signal::kill(Pid::from_raw(c.record.init_pid), Signal::SIGKILL);
        Error::new(e)
    })
}

/// Releases the init blocked on the exec fifo, so it execs the user's process.
fn release(c: &Container) -> Result<()> {
    let fifo_path = c.dir.join(EXEC_FIFO);
    let fifo = match open_cloexec(&fifo_path, OFlag::O_RDONLY | OFlag::O_NONBLOCK) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Error::new("cannot start an already running container")),
        Err(e) => return Err(Error::new(format!("open exec fifo: {}", errno_text(&e)))),
    };
    loop {
        let mut fds = [nix::poll::PollFd::new(std::os::fd::AsFd::as_fd(&fifo), nix::poll::PollFlags::POLLIN)];
        let ready = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(100u16)).unwrap_or(0);
        if ready > 0 {
            let mut b = [0u8; 1];
            match nix::unistd::read(fifo.as_raw_fd(), &mut b) {
                Ok(1) => break,
                Ok(_) => return Err(Error::new("cannot start a container that has stopped")),
                Err(nix::errno::Errno::EAGAIN) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(Error::new(format!("read exec fifo: {}", e.desc()))),
            }
        }
        if !c.init_alive() {
            return Err(Error::new("cannot start a container that has stopped"));
        }
    }
    let _ = std::fs::remove_file(&fifo_path);
    Ok(())
}

pub fn start(g: &Global, id: &str) -> Result<()> {
    let c = Container::load(g, id)?;
    match c.status() {
        Status::Created => {
            release(&c)?;
            run_poststart(&c)
        }
        Status::Running => Err(Error::new("cannot start an already running container")),
        Status::Stopped => Err(Error::new("cannot start a container that has stopped")),
    }
}

/// `run`: create and start; in the foreground wait for the init, forwarding signals to it,
/// and exit with its status (128+signal when killed).
pub fn run(g: &Global, o: &CreateOptions) -> Result<i32> {
    if !o.detach && !o.no_subreaper {
        let _ = crate::sys::set_child_subreaper();
    }
    // With a terminal and nobody to hand it to, runc takes the master itself and proxies it.
    let mut own_console = None;
    let with_console;
    let o = if !o.detach && o.console_socket.is_none() && super::console::spec_wants_terminal(&absolute(o.bundle.as_deref().unwrap_or(Path::new(".")))) {
        let (ours, theirs) = super::console::socketpair()?;
        own_console = Some(ours);
        with_console = CreateOptions { console_fd: Some(std::sync::Arc::new(theirs)), ..o.clone() };
        &with_console
    } else {
        o
    };
    let pid = create(g, o)?;
    let c = Container::load(g, &o.id)?;
    let master = match own_console.take() {
        Some(sock) => match super::console::recv_fd(sock.as_raw_fd()) {
            Ok((master, _)) => Some(master),
            Err(e) => {
                let _ = destroy(&c, true);
                return Err(Error::new(format!("receive console: {e}")));
            }
        },
        None => None,
    };
    if o.detach {
        if let Err(e) = release(&c).and_then(|()| run_poststart(&c)) {
            let _ = destroy(&c, true);
            return Err(e);
        }
        return Ok(0);
    }
    use nix::sys::signal::SigSet;
    let mut forwarded = SigSet::empty();
    for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP, Signal::SIGQUIT, Signal::SIGUSR1, Signal::SIGUSR2, Signal::SIGWINCH, Signal::SIGCHLD] {
        forwarded.add(s);
    }
    let _ = forwarded.thread_block();
    let mut proxy = master.map(super::console::Proxy::start);
    let sigfd = nix::sys::signalfd::SignalFd::with_flags(&forwarded, nix::sys::signalfd::SfdFlags::SFD_CLOEXEC).map_err(|e| Error::new(format!("signalfd: {}", e.desc())))?;
    if let Err(e) = release(&c).and_then(|()| run_poststart(&c)) {
        let _ = destroy(&c, true);
        return Err(e);
    }
    let init = Pid::from_raw(pid);
    let code = super::console::wait_forwarding(init, &sigfd, proxy.as_mut()).map_err(Error::new)?;
    if let Some(p) = proxy {
        p.finish();
    }
    g.debug(|| format!("process exited: pid {pid}, status {code}"));
    if !o.keep {
        destroy(&c, false)?;
    }
    Ok(code)
}

/// The pids in the container's pid namespace (only when it has its own).
fn pids_in_namespace(init_pid: i32) -> Vec<i32> {
    let ns_of = |pid: &str| std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok();
    let Some(ns) = ns_of(&init_pid.to_string()) else { return Vec::new() };
    if ns_of("self").as_ref() == Some(&ns) {
        return vec![init_pid];
    }
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| ns_of(&p.to_string()).as_ref() == Some(&ns))
        .collect()
}

pub fn kill(g: &Global, id: &str, signal: libc::c_int, all: bool) -> Result<()> {
    let c = Container::load(g, id)?;
    if c.status() == Status::Stopped {
        // As runc: `--all` signals whatever is left in the cgroup (nothing, usually), and
        // is no error; the init alone is gone.
        if !all {
            return Err(Error::new("container not running"));
        }
        for pid in super::manage::cgroup_pids(&c.dir).unwrap_or_default() {
            // SAFETY: kill takes two integers and touches no memory of ours.
            unsafe { libc::kill(pid, signal) };
        }
        return Ok(());
    }
    let targets = if all { super::manage::cgroup_pids(&c.dir).unwrap_or_else(|| pids_in_namespace(c.record.init_pid)) } else { vec![c.record.init_pid] };
    for pid in targets {
        // Raw kill(2): nix's Signal has neither 0 (the liveness check) nor real-time signals.
        // SAFETY: kill takes two integers and touches no memory of ours.
        let rc = unsafe { libc::kill(pid, signal) };
        match if rc == 0 { Ok(()) } else { Err(nix::errno::Errno::last()) } {
            Ok(()) => {}
            Err(nix::errno::Errno::ESRCH) if pid == c.record.init_pid => return Err(Error::new("container not running")),
            Err(nix::errno::Errno::ESRCH) => {}
            Err(e) => return Err(Error::new(format!("unable to signal init: {}", e.desc().to_ascii_lowercase()))),
        }
    }
    Ok(())
}

/// Waits until the init has exited (zombie counts), up to `timeout`.
fn wait_gone(c: &Container, timeout: std::time::Duration) -> bool {
    let pid = c.record.init_pid;
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    let deadline = std::time::Instant::now() + timeout;
    if raw >= 0 {
        // SAFETY: the descriptor was just created and is ours alone.
        let pidfd = unsafe { OwnedFd::from_raw_fd(raw) };
        // The pidfd may name a recycled pid: trust it only if the init is still the same.
        if c.init_alive() {
            let mut fds = [nix::poll::PollFd::new(std::os::fd::AsFd::as_fd(&pidfd), nix::poll::PollFlags::POLLIN)];
            let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
            let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::try_from(ms).unwrap_or(nix::poll::PollTimeout::MAX));
        }
    }
    while c.init_alive() {
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    true
}

/// Kills what is left of the container (if `kill`) and removes its state.
fn destroy(c: &Container, kill: bool) -> Result<()> {
    if kill && c.init_alive() {
        super::manage::cgroup_thaw(&c.dir);
        let _ = nix::sys::signal::kill(Pid::from_raw(c.record.init_pid), Signal::SIGKILL);
        if !wait_gone(c, std::time::Duration::from_secs(10)) {
            return Err(Error::new(format!("container init {} still alive after SIGKILL", c.record.init_pid)));
        }
    }
    if let Some(h) = c.record.config.hooks.as_ref().filter(|h| !h.poststop.is_empty()) {
        let mut state = c.state_document(false);
        state.status = "stopped".into();
        // runc only warns about failing poststop hooks; the container goes anyway.
        let _ = super::hooks::run(&h.poststop, &state, None);
    }
    super::manage::cgroup_remove(&c.dir)?;
    std::fs::remove_dir_all(&c.dir).map_err(|e| Error::new(format!("remove {}: {}", c.dir.display(), errno_text(&e))))
}

pub fn delete(g: &Global, id: &str, force: bool) -> Result<()> {
    let c = match Container::load(g, id) {
        Ok(c) => c,
        Err(e) if e.msg == "container does not exist" => {
            // A create that died before writing state.json leaves just the directory.
            let dir = Container::dir_of(g, id);
            if validate_id(id).is_ok() && dir.is_dir() {
                let _ = super::manage::cgroup_remove(&dir);
                let _ = std::fs::remove_dir_all(&dir);
            }
            return if force { Ok(()) } else { Err(e) };
        }
        Err(e) => return Err(e),
    };
    match c.status() {
        Status::Stopped => destroy(&c, false),
        Status::Created => destroy(&c, true),
        Status::Running if force => destroy(&c, true),
        Status::Running => Err(Error::new(format!("cannot delete container {id} that is not stopped: {}", super::state::status_text(&c.dir, Status::Running)))),
    }
}
