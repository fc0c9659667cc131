//! cgroup v2: one unified hierarchy; controllers delegated through cgroup.subtree_control,
//! limits in memory.*, cpu.*, pids.*, io.*, hugetlb.* files, cgroup.freeze, and device
//! rules as an eBPF program.

use super::resources::{self, Resources};
use super::stats::{self, Stats};
use super::{read, read_keyed, read_u64, write, Result};
use std::path::Path;

/// Creates `dir` and every missing ancestor, enabling in each ancestor's
/// cgroup.subtree_control every controller it has, so the new cgroup can use them all.
pub fn create_delegating(dir: &Path) -> Result<()> {
    let mut missing = Vec::new();
    let mut d = dir;
    while !d.is_dir() {
        missing.push(d.to_path_buf());
        d = d.parent().ok_or_else(|| format!("no cgroup2 hierarchy above {}", dir.display()))?;
    }
    let mut parent = d.to_path_buf();
    for m in missing.into_iter().rev() {
        enable_controllers(&parent);
        match std::fs::create_dir(&m) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(format!("mkdir {}: {e}", m.display())),
        }
        parent = m;
    }
    Ok(())
}

/// Best effort: a controller the parent cannot delegate (busy root, threaded) stays off,
/// and a limit that needs it fails later with the file's name.
fn enable_controllers(dir: &Path) {
    let available = read(dir, "cgroup.controllers").unwrap_or_default();
    for c in available.split_whitespace() {
        let _ = write(dir, "cgroup.subtree_control", &format!("+{c}"));
    }
}

fn max_or(v: i64) -> String {
    if v < 0 {
        "max".into()
    } else {
        v.to_string()
    }
}

pub fn apply(dir: &Path, r: &Resources) -> Result<()> {
    if let Some(m) = &r.memory {
        let limit = m.limit.unwrap_or(0);
        if let Some(swap) = m.swap {
            let v = resources::swap_to_v2(swap, limit)?;
            if v != 0 {
                write(dir, "memory.swap.max", &max_or(v))?;
            }
        }
        if limit != 0 {
            write(dir, "memory.max", &max_or(limit))?;
        }
        if let Some(v) = m.reservation.filter(|v| *v != 0) {
            write(dir, "memory.low", &max_or(v))?;
        }
        if m.kernel.is_some_and(|k| k != 0) || m.kernel_tcp.is_some_and(|k| k != 0) {
            return Err("kernel memory limits are not supported on cgroup v2".into());
        }
    }
    if let Some(c) = &r.cpu {
        if let Some(s) = c.shares.filter(|s| *s != 0) {
            write(dir, "cpu.weight", &resources::shares_to_weight(s).to_string())?;
        }
        let quota = c.quota.filter(|q| *q != 0);
        let period = c.period.filter(|p| *p != 0);
        if quota.is_some() || period.is_some() {
            // cpu.max is "$QUOTA $PERIOD": keep whichever half was not given.
            let current = read(dir, "cpu.max").unwrap_or_else(|| "max 100000".into());
            let mut parts = current.split_whitespace();
            let (old_q, old_p) = (parts.next().unwrap_or("max").to_string(), parts.next().unwrap_or("100000").to_string());
            let q = quota.map(max_or).unwrap_or(old_q);
            let p = period.map(|p| p.to_string()).unwrap_or(old_p);
            write(dir, "cpu.max", &format!("{q} {p}"))?;
        }
        if let Some(v) = c.cpus.as_deref().filter(|s| !s.is_empty()) {
            write(dir, "cpuset.cpus", v)?;
        }
        if let Some(v) = c.mems.as_deref().filter(|s| !s.is_empty()) {
            write(dir, "cpuset.mems", v)?;
        }
        if c.realtime_runtime.is_some_and(|v| v != 0) || c.realtime_period.is_some_and(|v| v != 0) {
            return Err("realtime cpu limits are not supported on cgroup v2".into());
        }
    }
    if let Some(p) = r.pids.as_ref().filter(|p| p.limit != 0) {
        write(dir, "pids.max", &if p.limit > 0 { p.limit.to_string() } else { "max".into() })?;
    }
    if let Some(b) = &r.block_io {
        if let Some(w) = b.weight.filter(|w| *w != 0) {
            write_io_weight(dir, &format!("default {}", resources::blkio_weight_to_io_weight(w as u64)))?;
        }
        for wd in &b.weight_device {
            if let Some(w) = wd.weight {
                write_io_weight(dir, &format!("{}:{} {}", wd.major, wd.minor, resources::blkio_weight_to_io_weight(w as u64)))?;
            }
        }
        for (list, key) in [
            (&b.throttle_read_bps_device, "rbps"),
            (&b.throttle_write_bps_device, "wbps"),
            (&b.throttle_read_iops_device, "riops"),
            (&b.throttle_write_iops_device, "wiops"),
        ] {
            for t in list {
                let rate = if t.rate == 0 { "max".to_string() } else { t.rate.to_string() };
                write(dir, "io.max", &format!("{}:{} {key}={rate}", t.major, t.minor))?;
            }
        }
    }
    for h in &r.hugepage_limits {
        write(dir, &format!("hugetlb.{}.max", h.page_size), &h.limit.to_string())?;
    }
    for (key, value) in &r.unified {
        if key.contains('/') || key.starts_with("cgroup.") && !matches!(key.as_str(), "cgroup.max.depth" | "cgroup.max.descendants") {
            return Err(format!("unified resource {key:?} may not be set"));
        }
        write(dir, key, value)?;
    }
    if !r.devices.is_empty() {
        super::devices::apply_v2(dir, &r.devices)?;
    }
    Ok(())
}

/// io.weight, or io.bfq.weight on kernels whose scheduler is BFQ.
fn write_io_weight(dir: &Path, value: &str) -> Result<()> {
    let file = if dir.join("io.weight").exists() { "io.weight" } else { "io.bfq.weight" };
    write(dir, file, value)
}

pub fn set_frozen(dir: &Path, frozen: bool) -> Result<()> {
    write(dir, "cgroup.freeze", if frozen { "1" } else { "0" })?;
    for _ in 0..1000 {
        if is_frozen(dir) == frozen {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    Err(format!("unable to {} the cgroup {}", if frozen { "freeze" } else { "thaw" }, dir.display()))
}

/// cgroup.events says `frozen 1` once every task has stopped.
pub fn is_frozen(dir: &Path) -> bool {
    read_keyed(dir, "cgroup.events").get("frozen") == Some(&1)
}

pub fn stats(dir: &Path) -> Result<Stats> {
    let mut s = Stats::default();
    let cpu = read_keyed(dir, "cpu.stat");
    let us = |k: &str| cpu.get(k).copied().unwrap_or(0) * 1000;
    s.cpu.usage.total = us("usage_usec");
    s.cpu.usage.user = us("user_usec");
    s.cpu.usage.kernel = us("system_usec");
    s.cpu.throttling.periods = cpu.get("nr_periods").copied().unwrap_or(0);
    s.cpu.throttling.throttled_periods = cpu.get("nr_throttled").copied().unwrap_or(0);
    s.cpu.throttling.throttled_time = us("throttled_usec");
    if dir.join("memory.current").exists() {
        s.memory.usage = stats::MemoryEntry { limit: read_u64(dir, "memory.max"), usage: read_u64(dir, "memory.current"), max: read_u64(dir, "memory.peak"), failcnt: 0 };
        s.memory.swap = stats::MemoryEntry { limit: read_u64(dir, "memory.swap.max"), usage: read_u64(dir, "memory.swap.current"), ..Default::default() };
        s.memory.raw = read_keyed(dir, "memory.stat");
        s.memory.cache = s.memory.raw.get("file").copied().unwrap_or(0);
    }
    s.pids.current = read_u64(dir, "pids.current");
    let max = read_u64(dir, "pids.max");
    s.pids.limit = if max == u64::MAX { 0 } else { max };
    let (bytes, ios) = stats::parse_io_stat_v2(&read(dir, "io.stat").unwrap_or_default());
    s.blkio.io_service_bytes_recursive = bytes;
    s.blkio.io_serviced_recursive = ios;
    for entry in std::fs::read_dir(dir).map_err(|e| format!("read {}: {e}", dir.display()))?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(size) = name.strip_prefix("hugetlb.").and_then(|n| n.strip_suffix(".current")) {
            let events = read_keyed(dir, &format!("hugetlb.{size}.events"));
            s.hugetlb.insert(
                size.to_string(),
                stats::Hugetlb { usage: read_u64(dir, &name), max: 0, failcnt: events.get("max").copied().unwrap_or(0) },
            );
        }
    }
    Ok(s)
}
