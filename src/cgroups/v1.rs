//! cgroup v1: one hierarchy per controller; limits, freezer and statistics in each
//! controller's own files.

use super::resources::Resources;
use super::stats::{self, Stats};
use super::{read, read_keyed, read_u64, write, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Creates a cpuset cgroup: every new level starts with empty cpus and mems, which would
/// refuse processes, so each takes its parent's.
pub fn create_cpuset(dir: &Path) -> Result<()> {
    // As runc's cpusetEnsureParent: every level up to one that has cpus and mems gets its
    // parent's, made by us or not (a cpuset left empty takes no task: ENOSPC).
    let filled = |d: &Path| ["cpuset.cpus", "cpuset.mems"].iter().all(|f| read(d, f).is_some_and(|v| !v.is_empty()));
    if dir.is_dir() && (filled(dir) || !dir.join("cpuset.cpus").exists()) {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_cpuset(parent)?;
    }
    match std::fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("mkdir {}: {e}", dir.display())),
    }
    let parent = dir.parent().unwrap_or(dir);
    for file in ["cpuset.cpus", "cpuset.mems"] {
        if read(dir, file).unwrap_or_default().is_empty() {
            write(dir, file, &read(parent, file).unwrap_or_default())?;
        }
    }
    Ok(())
}

fn in_ctrl<'a>(dirs: &'a BTreeMap<String, PathBuf>, ctrl: &str, what: &str) -> Result<&'a Path> {
    dirs.get(ctrl).map(PathBuf::as_path).ok_or_else(|| format!("cannot set {what}: the {ctrl} cgroup controller is not mounted"))
}

/// -1 is "unlimited" in the spec and in v1's files.
fn limit_text(v: i64) -> String {
    v.to_string()
}

pub fn apply(dirs: &BTreeMap<String, PathBuf>, r: &Resources) -> Result<()> {
    if let Some(m) = &r.memory {
        let dir = in_ctrl(dirs, "memory", "memory limits")?;
        set_memory_and_swap(dir, m.limit, m.swap)?;
        if let Some(v) = m.reservation {
            write(dir, "memory.soft_limit_in_bytes", &limit_text(v))?;
        }
        if let Some(v) = m.kernel_tcp {
            write(dir, "memory.kmem.tcp.limit_in_bytes", &limit_text(v))?;
        }
        if let Some(v) = m.swappiness {
            if v > 100 {
                return Err(format!("invalid value:{v}. valid memory swappiness range is 0-100"));
            }
            write(dir, "memory.swappiness", &v.to_string())?;
        }
        if m.disable_oom_killer == Some(true) {
            write(dir, "memory.oom_control", "1")?;
        }
    }
    if let Some(c) = &r.cpu {
        if c.shares.is_some() || c.quota.is_some() || c.period.is_some() || c.realtime_runtime.is_some() || c.realtime_period.is_some() {
            let dir = in_ctrl(dirs, "cpu", "cpu limits")?;
            if let Some(s) = c.shares.filter(|s| *s != 0) {
                write(dir, "cpu.shares", &s.to_string())?;
                // The kernel clamps out-of-range shares; runc reports that as an error.
                let got = read_u64(dir, "cpu.shares");
                if got != s {
                    return Err(format!("the maximum allowed cpu-shares is {got}, the minimum is 2 (asked for {s})"));
                }
            }
            // Period first: a quota may be invalid against the old period. A smaller period
            // may itself be refused (EINVAL) while the old quota over it exceeds a parent's
            // (a pod's) quota: then, as runc, the quota goes first and the period after it.
            let mut period_left = None;
            if let Some(p) = c.period.filter(|p| *p != 0) {
                if let Err(e) = std::fs::write(dir.join("cpu.cfs_period_us"), p.to_string()) {
                    if e.raw_os_error() != Some(libc::EINVAL) || c.quota.is_none_or(|q| q == 0) {
                        return Err(format!("failed to write {:?} to {}: {e}", p.to_string(), dir.join("cpu.cfs_period_us").display()));
                    }
                    period_left = Some(p);
                }
            }
            if let Some(q) = c.quota.filter(|q| *q != 0) {
                write(dir, "cpu.cfs_quota_us", &q.to_string())?;
                if let Some(p) = period_left {
                    write(dir, "cpu.cfs_period_us", &p.to_string())?;
                }
            }
            if let Some(v) = c.realtime_period.filter(|v| *v != 0) {
                write(dir, "cpu.rt_period_us", &v.to_string())?;
            }
            if let Some(v) = c.realtime_runtime.filter(|v| *v != 0) {
                write(dir, "cpu.rt_runtime_us", &v.to_string())?;
            }
        }
        if c.cpus.as_deref().is_some_and(|s| !s.is_empty()) || c.mems.as_deref().is_some_and(|s| !s.is_empty()) {
            let dir = in_ctrl(dirs, "cpuset", "cpuset")?;
            if let Some(v) = c.cpus.as_deref().filter(|s| !s.is_empty()) {
                write(dir, "cpuset.cpus", v)?;
            }
            if let Some(v) = c.mems.as_deref().filter(|s| !s.is_empty()) {
                write(dir, "cpuset.mems", v)?;
            }
        }
    }
    // A limit of 0 leaves pids.max as it is (runc's reading); negative is "max".
    if let Some(p) = r.pids.as_ref().filter(|p| p.limit != 0) {
        let dir = in_ctrl(dirs, "pids", "pids limit")?;
        write(dir, "pids.max", &if p.limit > 0 { p.limit.to_string() } else { "max".into() })?;
    }
    if let Some(b) = &r.block_io {
        let dir = in_ctrl(dirs, "blkio", "block I/O limits")?;
        // Kernels with the BFQ scheduler name the weight files bfq.*.
        let weight_file = if dir.join("blkio.weight").exists() { "blkio.weight" } else { "blkio.bfq.weight" };
        if let Some(w) = b.weight.filter(|w| *w != 0) {
            write(dir, weight_file, &w.to_string())?;
        }
        if let Some(w) = b.leaf_weight.filter(|w| *w != 0) {
            write(dir, "blkio.leaf_weight", &w.to_string())?;
        }
        for wd in &b.weight_device {
            if let Some(w) = wd.weight {
                write(dir, &format!("{weight_file}_device"), &format!("{}:{} {w}", wd.major, wd.minor))?;
            }
            if let Some(w) = wd.leaf_weight {
                write(dir, "blkio.leaf_weight_device", &format!("{}:{} {w}", wd.major, wd.minor))?;
            }
        }
        for (list, file) in [
            (&b.throttle_read_bps_device, "blkio.throttle.read_bps_device"),
            (&b.throttle_write_bps_device, "blkio.throttle.write_bps_device"),
            (&b.throttle_read_iops_device, "blkio.throttle.read_iops_device"),
            (&b.throttle_write_iops_device, "blkio.throttle.write_iops_device"),
        ] {
            for t in list {
                write(dir, file, &format!("{}:{} {}", t.major, t.minor, t.rate))?;
            }
        }
    }
    if !r.hugepage_limits.is_empty() {
        if let Some(dir) = dirs.get("hugetlb") {
            for h in &r.hugepage_limits {
                write(dir, &format!("hugetlb.{}.limit_in_bytes", h.page_size), &h.limit.to_string())?;
            }
        }
    }
    if !r.devices.is_empty() {
        let dir = in_ctrl(dirs, "devices", "device rules")?;
        super::devices::apply_v1(dir, &r.devices)?;
    }
    Ok(())
}

/// memory.limit_in_bytes and memory.memsw.limit_in_bytes: memsw may never be below the
/// limit, so the order of the two writes depends on whether the limit grows.
fn set_memory_and_swap(dir: &Path, limit: Option<i64>, swap: Option<i64>) -> Result<()> {
    let has_memsw = dir.join("memory.memsw.limit_in_bytes").exists();
    let swap = swap.filter(|s| *s != 0 && has_memsw);
    // An unlimited memory with an unset swap makes both unlimited, as runc does.
    let swap = match (limit, swap) {
        (Some(-1), None) if has_memsw => Some(-1),
        (_, s) => s,
    };
    let limit = limit.filter(|l| *l != 0);
    match (limit, swap) {
        (Some(l), Some(s)) => {
            let current = read_u64(dir, "memory.limit_in_bytes");
            let grows = l == -1 || (l as u64) > current;
            if grows {
                write(dir, "memory.memsw.limit_in_bytes", &limit_text(s))?;
                write(dir, "memory.limit_in_bytes", &limit_text(l))?;
            } else {
                write(dir, "memory.limit_in_bytes", &limit_text(l))?;
                write(dir, "memory.memsw.limit_in_bytes", &limit_text(s))?;
            }
        }
        (Some(l), None) => write(dir, "memory.limit_in_bytes", &limit_text(l))?,
        (None, Some(s)) => write(dir, "memory.memsw.limit_in_bytes", &limit_text(s))?,
        (None, None) => {}
    }
    Ok(())
}

pub fn set_frozen(dir: &Path, frozen: bool) -> Result<()> {
    let want = if frozen { "FROZEN" } else { "THAWED" };
    for _ in 0..1000 {
        write(dir, "freezer.state", want)?;
        // FREEZING while some task is still running its way into the fridge.
        if read(dir, "freezer.state").as_deref() == Some(want) {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    Err(format!("unable to set freezer state to {want}"))
}

pub fn is_frozen(dir: &Path) -> bool {
    matches!(read(dir, "freezer.state").as_deref(), Some("FROZEN") | Some("FREEZING"))
}

pub fn stats(dirs: &BTreeMap<String, PathBuf>) -> Stats {
    let mut s = Stats::default();
    if let Some(dir) = dirs.get("cpuacct") {
        s.cpu.usage.total = read_u64(dir, "cpuacct.usage");
        s.cpu.usage.percpu = read(dir, "cpuacct.usage_percpu").unwrap_or_default().split_whitespace().filter_map(|v| v.parse().ok()).collect();
        // cpuacct.stat is in clock ticks.
        // SAFETY: sysconf only reads a configuration value.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        let acct = read_keyed(dir, "cpuacct.stat");
        s.cpu.usage.user = acct.get("user").copied().unwrap_or(0) * 1_000_000_000 / hz;
        s.cpu.usage.kernel = acct.get("system").copied().unwrap_or(0) * 1_000_000_000 / hz;
        // cpuacct.usage_all: "cpu user system" then one line per CPU, in nanoseconds.
        for line in read(dir, "cpuacct.usage_all").unwrap_or_default().lines().skip(1) {
            let f: Vec<u64> = line.split_whitespace().filter_map(|v| v.parse().ok()).collect();
            if let [_, user, system] = f[..] {
                s.cpu.usage.percpu_user.push(user);
                s.cpu.usage.percpu_kernel.push(system);
            }
        }
    }
    if let Some(dir) = dirs.get("cpuset") {
        let n = |f: &str| read_u64(dir, &format!("cpuset.{f}"));
        s.cpuset = stats::CpuSet {
            cpus: stats::parse_cpu_list(&read(dir, "cpuset.cpus").unwrap_or_default()),
            cpu_exclusive: n("cpu_exclusive"),
            mems: stats::parse_cpu_list(&read(dir, "cpuset.mems").unwrap_or_default()),
            mem_hardwall: n("mem_hardwall"),
            mem_exclusive: n("mem_exclusive"),
            memory_migrate: n("memory_migrate"),
            memory_spread_page: n("memory_spread_page"),
            memory_spread_slab: n("memory_spread_slab"),
            memory_pressure: n("memory_pressure"),
            sched_load_balance: n("sched_load_balance"),
            sched_relax_domain_level: read(dir, "cpuset.sched_relax_domain_level").and_then(|v| v.parse().ok()).unwrap_or(0),
        };
    }
    if let Some(dir) = dirs.get("cpu") {
        let st = read_keyed(dir, "cpu.stat");
        s.cpu.throttling.periods = st.get("nr_periods").copied().unwrap_or(0);
        s.cpu.throttling.throttled_periods = st.get("nr_throttled").copied().unwrap_or(0);
        s.cpu.throttling.throttled_time = st.get("throttled_time").copied().unwrap_or(0);
    }
    if let Some(dir) = dirs.get("memory") {
        let entry = |prefix: &str| stats::MemoryEntry {
            limit: read_u64(dir, &format!("{prefix}.limit_in_bytes")),
            usage: read_u64(dir, &format!("{prefix}.usage_in_bytes")),
            max: read_u64(dir, &format!("{prefix}.max_usage_in_bytes")),
            failcnt: read_u64(dir, &format!("{prefix}.failcnt")),
        };
        s.memory.usage = entry("memory");
        s.memory.swap = entry("memory.memsw");
        s.memory.kernel = entry("memory.kmem");
        s.memory.kernel_tcp = entry("memory.kmem.tcp");
        s.memory.raw = read_keyed(dir, "memory.stat");
        s.memory.cache = s.memory.raw.get("cache").copied().unwrap_or(0);
    }
    if let Some(dir) = dirs.get("pids") {
        s.pids.current = read_u64(dir, "pids.current");
        let max = read_u64(dir, "pids.max");
        s.pids.limit = if max == u64::MAX { 0 } else { max };
    }
    if let Some(dir) = dirs.get("blkio") {
        s.blkio.io_service_bytes_recursive = stats::parse_blkio_v1(&read(dir, "blkio.throttle.io_service_bytes_recursive").unwrap_or_default());
        s.blkio.io_serviced_recursive = stats::parse_blkio_v1(&read(dir, "blkio.throttle.io_serviced_recursive").unwrap_or_default());
    }
    s
}
