//! The container's cgroup as runc handles it: set up at create (the init enters it as it is
//! made: `cgroups::Entry`), removed at delete, and the commands that work on it — update,
//! pause, resume, events and ps.
//!
//! The cgroup's directories are saved in `<root>/<id>/cgroup.json` before they are made,
//! so a later command (or the clean-up of a failed create) finds them whatever cgroup it
//! runs in.

use super::state::{cgroup_file, cgroup_of, Container, Status};
use super::{Error, Global, Result};
use crate::cgroups::{Cgroup, Resources};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Resolves the container's cgroup and checks it as runc does before anything is made:
/// `unified` resources need a cgroup2-only host; a cgroup that already has processes is
/// used with a warning; a frozen one is refused (the init would freeze on entering it).
pub fn cgroup_precheck(g: &Global, spec: &crate::oci::Spec, id: &str) -> Result<Cgroup> {
    let linux = spec.linux.as_ref();
    let cg = Cgroup::resolve(linux.and_then(|l| l.cgroups_path.as_deref()), id)?;
    let unified = linux.and_then(|l| l.resources.as_ref()).and_then(|r| r.other.get("unified")).and_then(|u| u.as_object());
    if unified.is_some_and(|u| !u.is_empty()) && cg.mode != crate::cgroups::Mode::Unified {
        return Err(Error::new(crate::cgroups::V1_NO_UNIFIED));
    }
    if cg.exists() {
        let pids = cg.pids().unwrap_or_default();
        if !pids.is_empty() {
            g.log("warning", &format!("container's cgroup is not empty: {} process(es) found", pids.len()));
            g.log("warning", "DEPRECATED: running container in a non-empty cgroup won't be supported in runc 1.2; https://github.com/opencontainers/runc/issues/3132");
        }
        if cg.is_frozen() {
            return Err(Error::new("container's cgroup unexpectedly frozen"));
        }
    }
    Ok(cg)
}

/// Records, creates and limits the container's cgroup (from [`cgroup_precheck`]). Without
/// root, a container that asks for no limits goes without a cgroup when none can be made
/// (as rootless runc does); None then.
pub fn cgroup_setup(dir: &Path, spec: &crate::oci::Spec, cg: Cgroup) -> Result<Option<Cgroup>> {
    let linux = spec.linux.clone().unwrap_or_default();
    let mut r = linux.resources.as_ref().map(Resources::from_spec).transpose()?.unwrap_or_default();
    cg.save(&cgroup_file(dir))?;
    if let Err(e) = cg.create() {
        let limits_wanted = Resources { devices: Vec::new(), ..r.clone() } != Resources::default();
        if !nix::unistd::geteuid().is_root() && !limits_wanted {
            let _ = cg.destroy();
            let _ = std::fs::remove_file(cgroup_file(dir));
            return Ok(None);
        }
        return Err(Error::new(format!("unable to create cgroup: {e}")));
    }
    // As runc: the devices the spec creates, then the standard ones, are always usable.
    if !r.devices.is_empty() {
        for d in &linux.devices {
            r.devices.push(crate::oci::DeviceRule { allow: true, kind: Some(d.kind.clone()), major: Some(d.major), minor: Some(d.minor), access: Some("rwm".into()) });
        }
        r.devices.extend(crate::cgroups::devices::default_allowed());
    }
    cg.apply(&r).map_err(|e| Error::new(format!("unable to apply cgroup configuration: {e}")))?;
    Ok(Some(cg))
}

/// Thaws a paused container so that a SIGKILL can end it.
pub fn cgroup_thaw(dir: &Path) {
    if let Some(cg) = cgroup_of(dir).filter(|cg| cg.is_frozen()) {
        let _ = cg.set_frozen(false);
    }
}

/// Kills whatever is left in the cgroup and removes every directory of it.
pub fn cgroup_remove(dir: &Path) -> Result<()> {
    let Some(cg) = cgroup_of(dir) else { return Ok(()) };
    if cg.exists() {
        if cg.is_frozen() {
            // SIGKILL reaches frozen tasks only once they thaw.
            let _ = cg.set_frozen(false);
        }
        for _ in 0..100 {
            let pids = cg.pids().unwrap_or_default();
            if pids.is_empty() {
                break;
            }
            for pid in pids {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        cg.destroy()?;
    }
    let _ = std::fs::remove_file(cgroup_file(dir));
    Ok(())
}

/// Every pid in the container's cgroup; None when it has no cgroup.
pub fn cgroup_pids(dir: &Path) -> Option<Vec<i32>> {
    cgroup_of(dir)?.pids().ok()
}

fn cgroup_required(c: &Container) -> Result<Cgroup> {
    cgroup_of(&c.dir).ok_or_else(|| Error::new("container has no cgroup"))
}

pub fn pause(g: &Global, id: &str) -> Result<()> {
    let c = Container::load(g, id)?;
    let cg = cgroup_required(&c)?;
    if c.status() == Status::Stopped || cg.is_frozen() {
        return Err(Error::new("container not running"));
    }
    cg.set_frozen(true).map_err(Error::new)
}

pub fn resume(g: &Global, id: &str) -> Result<()> {
    let c = Container::load(g, id)?;
    let cg = cgroup_required(&c)?;
    if c.status() == Status::Stopped || !cg.is_frozen() {
        return Err(Error::new("container not paused"));
    }
    cg.set_frozen(false).map_err(Error::new)
}

/// Flags of `runc update`, and the resources they name.
pub struct UpdateFlags<'a> {
    pub resources_file: Option<&'a str>,
    pub values: Vec<(&'static str, &'a str)>,
    pub l3_cache_schema: Option<&'a str>,
    pub mem_bw_schema: Option<&'a str>,
}

/// `5m`, `1g`, `1.5GiB`, `1024` → bytes as Go's units.RAMInBytes reads them (binary
/// multiples, an optional `i` and `b`, one space allowed); `-1` stays -1.
fn parse_bytes(s: &str) -> std::result::Result<i64, String> {
    if s == "-1" {
        return Ok(-1);
    }
    let bad = || format!("invalid size: '{s}'");
    let lower = s.to_ascii_lowercase();
    let t = lower.strip_suffix('b').unwrap_or(&lower);
    let t = if t.len() < lower.len() || t.ends_with('i') { t.strip_suffix('i').unwrap_or(t) } else { t };
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        Some('p') => (&t[..t.len() - 1], 1 << 50),
        _ => (t, 1),
    };
    let num = num.strip_suffix(' ').unwrap_or(num);
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit() || b == b'.') || num.starts_with('.') {
        return Err(bad());
    }
    let n: f64 = num.parse().map_err(|_| bad())?;
    Ok((n * mult as f64) as i64)
}

/// Whether the kernel offers Intel RDT (resctrl) with the given resource.
fn rdt_has(resource: &str) -> bool {
    crate::mounts::mounts().unwrap_or_default().iter().filter(|m| m.fstype == "resctrl").any(|m| m.mount_point.join("info").join(resource).is_dir())
}

/// `runc update`: new limits on a live container, from `-r FILE` (`-` is stdin; the other
/// flags are then not read, as runc) or from the flags.
pub fn update(g: &Global, id: &str, f: &UpdateFlags) -> Result<()> {
    let c = Container::load(g, id)?;
    if c.status() == Status::Stopped {
        return Err(Error::new("container not running"));
    }
    let cg = cgroup_required(&c)?;
    let mut r = Resources::default();
    if let Some(file) = f.resources_file {
        let text = if file == "-" {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).map_err(|e| Error::new(e.to_string()))?;
            s
        } else {
            std::fs::read_to_string(file).map_err(|e| Error::new(format!("open {file}: {}", super::state::errno_text(&e))))?
        };
        r = serde_json::from_str(&text).map_err(|e| Error::new(format!("decode resources: {e}")))?;
    } else {
        let int = |name: &str, v: &str| v.parse::<i64>().map_err(|_| Error::new(format!("invalid value for {name}: strconv.ParseInt: parsing {v:?}: invalid syntax")));
        let uint = |name: &str, v: &str| v.parse::<u64>().map_err(|_| Error::new(format!("invalid value for {name}: strconv.ParseUint: parsing {v:?}: invalid syntax")));
        let bytes = |name: &str, v: &str| parse_bytes(v).map_err(|e| Error::new(format!("invalid value for {name}: {e}")));
        // Int flags of urfave/cli: a bad number is a usage error of the flag itself.
        let flag_int = |name: &str, v: &str| v.parse::<i64>().map_err(|_| Error::new(format!("invalid value {v:?} for flag -{name}: parse error")));
        for (name, v) in &f.values {
            let mem = r.memory.get_or_insert_with(Default::default);
            match *name {
                "memory" => mem.limit = Some(bytes(name, v)?),
                "memory-reservation" => mem.reservation = Some(bytes(name, v)?),
                "memory-swap" => mem.swap = Some(bytes(name, v)?),
                "kernel-memory" => mem.kernel = Some(bytes(name, v)?),
                "kernel-memory-tcp" => mem.kernel_tcp = Some(bytes(name, v)?),
                "cpu-shares" => r.cpu.get_or_insert_with(Default::default).shares = Some(uint("cpu-share", v)?),
                "cpu-quota" => r.cpu.get_or_insert_with(Default::default).quota = Some(int(name, v)?),
                "cpu-period" => r.cpu.get_or_insert_with(Default::default).period = Some(uint(name, v)?),
                "cpu-rt-period" => r.cpu.get_or_insert_with(Default::default).realtime_period = Some(uint(name, v)?),
                "cpu-rt-runtime" => r.cpu.get_or_insert_with(Default::default).realtime_runtime = Some(int(name, v)?),
                "cpuset-cpus" => r.cpu.get_or_insert_with(Default::default).cpus = Some(v.to_string()),
                "cpuset-mems" => r.cpu.get_or_insert_with(Default::default).mems = Some(v.to_string()),
                "pids-limit" => r.pids = Some(crate::cgroups::resources::Pids { limit: flag_int(name, v)? }),
                "blkio-weight" => r.block_io.get_or_insert_with(Default::default).weight = Some(flag_int(name, v)? as u16),
                _ => {}
            }
            if r.memory.as_ref().is_some_and(|m| *m == Default::default()) {
                r.memory = None;
            }
        }
    }
    // As runc 1.1: kernel memory settings are warned about and not applied.
    if let Some(m) = r.memory.as_mut() {
        if m.kernel.take().is_some_and(|k| k != 0) | m.kernel_tcp.take().is_some_and(|k| k != 0) {
            g.log("warning", "Kernel memory settings are ignored and will be removed");
        }
    }
    // Intel RDT: runc's refusals where the kernel lacks it; this runtime manages no RDT
    // group, so where the kernel has it the flags are refused as unsupported.
    for (value, resource, what) in [(f.l3_cache_schema, "L3", "Intel RDT/CAT: l3 cache schema"), (f.mem_bw_schema, "MB", "Intel RDT/MBA: memory bandwidth schema")] {
        if value.is_some_and(|v| !v.is_empty()) {
            return Err(Error::new(if rdt_has(resource) { format!("{what} is not supported by this runtime") } else { format!("{what} is not enabled") }));
        }
    }
    // The spec's device rules are not part of an update.
    r.devices.clear();
    cg.apply(&r).map_err(Error::new)?;
    // Keep the recorded spec in step, as runc does, so `state` and later reads agree.
    let mut c = c;
    let linux = c.record.config.linux.get_or_insert_with(Default::default);
    let mut merged = linux.resources.clone().map(|x| Resources::from_spec(&x)).transpose()?.unwrap_or_default();
    merge(&mut merged, &r);
    let value = serde_json::to_value(&merged).map_err(|e| Error::new(e.to_string()))?;
    linux.resources = Some(serde_json::from_value(value).map_err(|e| Error::new(e.to_string()))?);
    c.save()
}

/// Folds an update into the recorded resources; 0 (runc's "not given") keeps the old value.
fn merge(into: &mut Resources, r: &Resources) {
    fn keep<T: Copy + PartialEq + Default>(new: Option<T>, old: Option<T>) -> Option<T> {
        new.filter(|v| *v != T::default()).or(old)
    }
    if let Some(m) = &r.memory {
        let t = into.memory.get_or_insert_with(Default::default);
        t.limit = keep(m.limit, t.limit);
        t.reservation = keep(m.reservation, t.reservation);
        t.swap = keep(m.swap, t.swap);
    }
    if let Some(c) = &r.cpu {
        let t = into.cpu.get_or_insert_with(Default::default);
        t.shares = keep(c.shares, t.shares);
        t.quota = keep(c.quota, t.quota);
        t.period = keep(c.period, t.period);
        t.realtime_period = keep(c.realtime_period, t.realtime_period);
        t.realtime_runtime = keep(c.realtime_runtime, t.realtime_runtime);
        t.cpus = c.cpus.clone().filter(|v| !v.is_empty()).or(t.cpus.take());
        t.mems = c.mems.clone().filter(|v| !v.is_empty()).or(t.mems.take());
    }
    if r.pids.as_ref().is_some_and(|p| p.limit != 0) {
        into.pids = r.pids.clone();
    }
    if let Some(b) = &r.block_io {
        into.block_io.get_or_insert_with(Default::default).weight = keep(b.weight, into.block_io.as_ref().and_then(|x| x.weight));
    }
}

/// One `events` line.
fn stats_event(id: &str, cg: &Cgroup) -> Result<String> {
    let stats = cg.stats().map_err(Error::new)?;
    let doc = serde_json::json!({"type": "stats", "id": id, "data": stats});
    Ok(doc.to_string())
}

/// `runc events`: one stats document with `--stats`, else stats every `interval` and an
/// `oom` event whenever the kernel reports one, until the container stops.
pub fn events(g: &Global, id: &str, stats_once: bool, interval: std::time::Duration) -> Result<()> {
    let c = Container::load(g, id)?;
    if c.status() == Status::Stopped {
        return Err(Error::new("container not running"));
    }
    let cg = cgroup_required(&c)?;
    let mut out = std::io::stdout();
    if stats_once {
        let _ = writeln!(out, "{}", stats_event(id, &cg)?);
        return Ok(());
    }
    let oom = OomWatch::new(&cg);
    let mut next = std::time::Instant::now();
    while c.init_alive() {
        if std::time::Instant::now() >= next {
            if writeln!(out, "{}", stats_event(id, &cg)?).and_then(|()| out.flush()).is_err() {
                return Ok(());
            }
            next += interval;
        }
        let wait = next.saturating_duration_since(std::time::Instant::now()).min(std::time::Duration::from_millis(200));
        if oom.as_ref().is_some_and(|o| o.wait(wait)) {
            let _ = writeln!(out, "{}", serde_json::json!({"type": "oom", "id": id}));
            let _ = out.flush();
        } else if oom.is_none() {
            std::thread::sleep(wait);
        }
    }
    Ok(())
}

/// OOM notifications: on v1 an eventfd registered on memory.oom_control through
/// cgroup.event_control; on v2 the `oom_kill` counter of memory.events, read at each wait.
enum OomWatch {
    V1 { eventfd: std::os::fd::OwnedFd, _control: std::fs::File },
    V2 { dir: PathBuf, seen: std::cell::Cell<u64> },
}

impl OomWatch {
    fn new(cg: &Cgroup) -> Option<OomWatch> {
        use std::os::fd::{AsRawFd, FromRawFd};
        if cg.mode == crate::cgroups::Mode::Unified {
            let dir = cg.unified.clone()?;
            let seen = crate::cgroups::read_keyed(&dir, "memory.events").get("oom_kill").copied();
            return seen.map(|n| OomWatch::V2 { dir, seen: std::cell::Cell::new(n) });
        }
        let dir = cg.v1.get("memory")?;
        let control = std::fs::File::open(dir.join("memory.oom_control")).ok()?;
        // SAFETY: eventfd takes plain integers and returns a new descriptor or -1.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return None;
        }
        // SAFETY: fd is a fresh descriptor we own.
        let eventfd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
        std::fs::write(dir.join("cgroup.event_control"), format!("{} {}", eventfd.as_raw_fd(), control.as_raw_fd())).ok()?;
        Some(OomWatch::V1 { eventfd, _control: control })
    }

    /// Waits up to `timeout`; true when an OOM happened.
    fn wait(&self, timeout: std::time::Duration) -> bool {
        use std::os::fd::{AsFd, AsRawFd};
        match self {
            OomWatch::V1 { eventfd, .. } => {
                let mut fds = [nix::poll::PollFd::new(eventfd.as_fd(), nix::poll::PollFlags::POLLIN)];
                let ms = timeout.as_millis().min(u16::MAX as u128) as u16;
                if nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms)).unwrap_or(0) > 0 {
                    let mut b = [0u8; 8];
                    return nix::unistd::read(eventfd.as_raw_fd(), &mut b).is_ok();
                }
                false
            }
            OomWatch::V2 { dir, seen } => {
                std::thread::sleep(timeout);
                let now = crate::cgroups::read_keyed(dir, "memory.events").get("oom_kill").copied().unwrap_or(0);
                let grew = now > seen.get();
                seen.set(now);
                grew
            }
        }
    }
}

/// `runc ps`: the container's processes as `ps` shows them (table, with the caller's ps
/// options), or their pids as JSON.
pub fn ps(g: &Global, id: &str, format: &str, ps_args: &[String]) -> Result<()> {
    let c = Container::load(g, id)?;
    // A stopped container lists what its cgroup still holds (nothing, usually), as runc.
    let mut pids = match cgroup_pids(&c.dir) {
        Some(pids) => pids,
        None if c.status() == Status::Stopped => Vec::new(),
        None => return Err(Error::new("container has no cgroup")),
    };
    pids.sort();
    match format {
        "json" => {
            // runc's Go encoder writes no pids as `null`.
            let doc = if pids.is_empty() { "null".to_string() } else { serde_json::to_string(&pids).map_err(|e| Error::new(e.to_string()))? };
            println!("{doc}");
            Ok(())
        }
        "table" => {
            let args: Vec<String> = if ps_args.is_empty() { vec!["-ef".into()] } else { ps_args.to_vec() };
            let out = std::process::Command::new("ps").args(&args).output().map_err(|e| Error::new(format!("exec ps: {e}")))?;
            if !out.status.success() {
                return Err(Error::new(format!("ps: {}", String::from_utf8_lossy(&out.stderr).trim())));
            }
            let text = String::from_utf8_lossy(&out.stdout);
            let mut lines = text.lines();
            let header = lines.next().unwrap_or_default();
            let pid_col = header.split_whitespace().position(|h| h == "PID").ok_or_else(|| Error::new("couldn't find PID field in ps output"))?;
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "{header}");
            for line in lines {
                let pid = line.split_whitespace().nth(pid_col).and_then(|p| p.parse::<i32>().ok());
                if pid.is_some_and(|p| pids.contains(&p)) {
                    let _ = writeln!(stdout, "{line}");
                }
            }
            Ok(())
        }
        other => Err(Error::new(format!("invalid format option: {other}"))),
    }
}

const UPDATE_FLAGS: super::flags::FlagSpec = &[
    (&["resources", "r"], true),
    (&["memory"], true),
    (&["memory-reservation"], true),
    (&["memory-swap"], true),
    (&["kernel-memory"], true),
    (&["kernel-memory-tcp"], true),
    (&["cpu-shares", "cpu-share"], true),
    (&["cpu-quota"], true),
    (&["cpu-period"], true),
    (&["cpu-rt-period"], true),
    (&["cpu-rt-runtime"], true),
    (&["cpuset-cpus"], true),
    (&["cpuset-mems"], true),
    (&["pids-limit"], true),
    (&["blkio-weight"], true),
    (&["l3-cache-schema"], true),
    (&["mem-bw-schema"], true),
];
const EVENTS_FLAGS: super::flags::FlagSpec = &[(&["interval"], true), (&["stats"], false)];
const PS_FLAGS: super::flags::FlagSpec = &[(&["format", "f"], true)];

/// A Go duration: `5s`, `100ms`, `1m30s`, `2h`.
fn parse_duration(s: &str) -> Option<std::time::Duration> {
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let n: f64 = rest[..end].parse().ok()?;
        rest = &rest[end..];
        let unit_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let secs = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += n * secs;
        rest = &rest[unit_end..];
    }
    Some(std::time::Duration::from_secs_f64(total))
}

/// Runs update, pause, resume, events or ps.
pub fn command(g: &Global, cmd: &str, rest: &[String]) -> Result<i32> {
    let spec = match cmd {
        "update" => UPDATE_FLAGS,
        "events" => EVENTS_FLAGS,
        "ps" => PS_FLAGS,
        _ => &[],
    };
    // ps keeps its arguments in order: those after the id are ps's own options.
    let p = super::flags::parse_flags(cmd, spec, rest, cmd != "ps")?;
    if p.flag("help") {
        print!("{}", super::help::command(cmd).unwrap_or_default());
        return Ok(0);
    }
    match cmd {
        "pause" | "resume" => {
            super::flags::check_args(cmd, &p, 1, 1)?;
            if cmd == "pause" {
                pause(g, &p.args[0])?
            } else {
                resume(g, &p.args[0])?
            }
        }
        "update" => {
            super::flags::check_args(cmd, &p, 1, 1)?;
            let names = ["memory", "memory-reservation", "memory-swap", "kernel-memory", "kernel-memory-tcp", "cpu-shares", "cpu-quota", "cpu-period", "cpu-rt-period", "cpu-rt-runtime", "cpuset-cpus", "cpuset-mems", "pids-limit", "blkio-weight"];
            let flags = UpdateFlags {
                resources_file: p.value("resources"),
                values: names.iter().filter_map(|n| Some((*n, p.value(n)?))).filter(|(_, v)| !v.is_empty()).collect(),
                l3_cache_schema: p.value("l3-cache-schema"),
                mem_bw_schema: p.value("mem-bw-schema"),
            };
            update(g, &p.args[0], &flags)?
        }
        "events" => {
            super::flags::check_args(cmd, &p, 1, 1)?;
            let interval = match p.value("interval") {
                Some(v) => parse_duration(v).filter(|d| !d.is_zero()).ok_or_else(|| Error::new(format!("invalid value {v:?} for flag -interval: duration must be greater than 0")))?,
                None => std::time::Duration::from_secs(5),
            };
            events(g, &p.args[0], p.flag("stats"), interval)?
        }
        _ => {
            super::flags::check_args(cmd, &p, 1, usize::MAX)?;
            ps(g, &p.args[0], p.value("format").unwrap_or("table"), &p.args[1..])?
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes_parse_as_runc_update() {
        assert_eq!(parse_bytes("1024").unwrap(), 1024);
        assert_eq!(parse_bytes("64m").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("1G").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("-1").unwrap(), -1);
        assert!(parse_bytes("lots").is_err());
        assert_eq!(parse_bytes("1.5GiB").unwrap(), 3 << 29);
        assert_eq!(parse_bytes("2 kb").unwrap(), 2048);
        assert_eq!(parse_bytes("1p").unwrap(), 1 << 50);
        assert!(parse_bytes("1x").is_err());
        assert!(parse_bytes("m").is_err());
    }

    #[test]
    fn durations_parse_as_go() {
        assert_eq!(parse_duration("5s"), Some(std::time::Duration::from_secs(5)));
        assert_eq!(parse_duration("100ms"), Some(std::time::Duration::from_millis(100)));
        assert_eq!(parse_duration("1m30s"), Some(std::time::Duration::from_secs(90)));
        assert_eq!(parse_duration("5"), None);
    }
}
