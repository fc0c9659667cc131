//! Control groups for containers, v1 and v2 detected at run time: where a container's cgroup
//! lives (runc's `cgroupsPath` rules), creating, joining, limiting, freezing, listing and
//! removing it.
//!
//! Submodules, one job each: [`resources`] (the spec's `linux.resources`, typed), [`v1`]
//! (per-controller hierarchies), [`v2`] (the unified hierarchy), [`devices`] (device rules:
//! v1 allow/deny lists and the v2 eBPF program), [`stats`] (runc's `events --stats` document).

pub mod devices;
pub mod resources;
pub mod stats;
pub mod v1;
pub mod v2;

pub use resources::Resources;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

pub type Result<T> = std::result::Result<T, String>;

/// runc's refusal of `linux.resources.unified` where the controllers are v1 (hybrid too).
pub const V1_NO_UNIFIED: &str = "invalid configuration: cannot use unified on cgroup v1";

/// How the host mounts cgroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// v1 controllers only.
    Legacy,
    /// v1 controllers plus a cgroup2 hierarchy without them (e.g. /sys/fs/cgroup/unified).
    Hybrid,
    /// cgroup2 only.
    Unified,
}

/// The resource limits this host's cgroups can apply.
#[derive(Debug, Clone, Copy, Default)]
pub struct Features {
    pub memory: bool,
    pub swap: bool,
    pub cpu_cfs: bool,
    pub cpu_shares: bool,
    pub cpuset: bool,
    pub pids: bool,
}

/// The cgroup hierarchies mounted on this host.
#[derive(Debug, Clone, Default)]
pub struct Hierarchies {
    /// v1 controller (or `name=X`) → (mount point, root of the mount inside the hierarchy).
    pub v1: BTreeMap<String, (PathBuf, String)>,
    /// The cgroup2 mount: (mount point, root).
    pub unified: Option<(PathBuf, String)>,
}

/// The v1 controllers we manage, and runc's named hierarchy.
const V1_CONTROLLERS: &[&str] =
    &["cpuset", "cpu", "cpuacct", "memory", "devices", "freezer", "pids", "blkio", "hugetlb", "net_cls", "net_prio", "perf_event", "rdma", "name=systemd"];

impl Hierarchies {
    /// Reads /proc/self/mountinfo.
    pub fn detect() -> Result<Hierarchies> {
        let mounts = crate::mounts::mounts().map_err(|e| format!("read mountinfo: {e}"))?;
        Ok(Self::from_mounts(mounts))
    }

    /// The hierarchies among `mounts` (parsed mountinfo).
    pub fn from_mounts(mounts: Vec<crate::mounts::MountInfo>) -> Hierarchies {
        let mut h = Hierarchies::default();
        for m in mounts {
            match m.fstype.as_str() {
                // The same hierarchy may be mounted elsewhere too (a test's private mount):
                // the one under /sys/fs/cgroup wins, else the first.
                "cgroup" => {
                    for opt in m.super_options.split(',') {
                        if V1_CONTROLLERS.contains(&opt) {
                            let standard = m.mount_point.starts_with("/sys/fs/cgroup");
                            let slot = h.v1.entry(opt.to_string()).or_insert((m.mount_point.clone(), m.root.clone()));
                            if standard && !slot.0.starts_with("/sys/fs/cgroup") {
                                *slot = (m.mount_point.clone(), m.root.clone());
                            }
                        }
                    }
                }
                "cgroup2" => {
                    let rank = |p: &Path| match p.to_str() {
                        Some("/sys/fs/cgroup") => 0,
                        Some("/sys/fs/cgroup/unified") => 1,
                        _ => 2,
                    };
                    if h.unified.as_ref().is_none_or(|(p, _)| rank(&m.mount_point) < rank(p)) {
                        h.unified = Some((m.mount_point.clone(), m.root.clone()));
                    }
                }
                _ => {}
            }
        }
        h
    }

    /// Whether `controller` can be used: a v1 hierarchy of it, or (cgroup2 alone) listed in
    /// the root's `cgroup.controllers`.
    pub fn has_controller(&self, controller: &str) -> bool {
        if self.v1.contains_key(controller) {
            return true;
        }
        match (&self.unified, self.mode()) {
            (Some((mount, _)), Mode::Unified) => std::fs::read_to_string(mount.join("cgroup.controllers")).is_ok_and(|c| c.split_whitespace().any(|x| x == controller)),
            _ => false,
        }
    }

    /// What `docker info` reports of the resource limits this host's cgroups can apply.
    pub fn features(&self) -> Features {
        let v1_file = |controller: &str, file: &str| self.v1.get(controller).is_some_and(|(mount, _)| mount.join(file).exists());
        let unified = self.mode() == Mode::Unified;
        let cpu = self.has_controller("cpu");
        Features {
            memory: self.has_controller("memory"),
            // cgroup2 accounts swap whenever memory is there (kernels since 5.8).
            swap: if unified { self.has_controller("memory") } else { v1_file("memory", "memory.memsw.limit_in_bytes") },
            cpu_cfs: if unified { cpu } else { v1_file("cpu", "cpu.cfs_period_us") },
            cpu_shares: if unified { cpu } else { v1_file("cpu", "cpu.shares") },
            cpuset: self.has_controller("cpuset"),
            pids: self.has_controller("pids"),
        }
    }

    pub fn mode(&self) -> Mode {
        match (&self.unified, self.v1.is_empty()) {
            (Some(_), true) => Mode::Unified,
            (Some(_), false) => Mode::Hybrid,
            (None, _) => Mode::Legacy,
        }
    }
}

/// This process's cgroup in each hierarchy, from /proc/self/cgroup: controller → path
/// (`""` is the cgroup2 one).
pub fn own_cgroups() -> Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string("/proc/self/cgroup").map_err(|e| format!("read /proc/self/cgroup: {e}"))?;
    Ok(parse_proc_cgroup(&text))
}

pub fn parse_proc_cgroup(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let mut f = line.splitn(3, ':');
        let (_, Some(list), Some(path)) = (f.next(), f.next(), f.next()) else { continue };
        for c in list.split(',') {
            out.insert(c.to_string(), path.to_string());
        }
    }
    out
}

/// runc's cleaning of a cgroupsPath: lexical, and a relative path stays relative.
fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    if path.starts_with('/') {
        format!("/{joined}")
    } else {
        joined
    }
}

/// The path inside one hierarchy: an absolute cgroupsPath is taken from the hierarchy's
/// root; a relative one (and the default, the container id) goes under our own cgroup.
fn inner_path(cgroups_path: &str, own: Option<&String>) -> String {
    if cgroups_path.starts_with('/') {
        cgroups_path.to_string()
    } else {
        clean(&format!("/{}/{cgroups_path}", own.map(String::as_str).unwrap_or("/")))
    }
}

/// Where the hierarchy mounted at `mount` (whose root is `root`) shows cgroup `inner`.
fn on_mount(mount: &Path, root: &str, inner: &str) -> PathBuf {
    let rel = inner.strip_prefix(root.trim_end_matches('/')).filter(|r| r.is_empty() || r.starts_with('/')).unwrap_or(inner);
    let rel = rel.trim_start_matches('/');
    if rel.is_empty() {
        mount.to_path_buf()
    } else {
        mount.join(rel)
    }
}

/// A container's cgroup: its directory in every hierarchy. Saved beside runc's state so
/// later commands find the same directories whatever cgroup they run in.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Cgroup {
    pub mode: Mode,
    /// v1 controller → directory (co-mounted controllers share one).
    #[serde(default)]
    pub v1: BTreeMap<String, PathBuf>,
    /// The directory in the cgroup2 hierarchy (all of it in unified mode).
    #[serde(default)]
    pub unified: Option<PathBuf>,
}

impl Cgroup {
    /// Resolves the spec's `cgroupsPath` for container `id` on this host.
    pub fn resolve(cgroups_path: Option<&str>, id: &str) -> Result<Cgroup> {
        let h = Hierarchies::detect()?;
        let own = own_cgroups()?;
        Self::resolve_in(&h, &own, cgroups_path, id)
    }

    pub fn resolve_in(h: &Hierarchies, own: &BTreeMap<String, String>, cgroups_path: Option<&str>, id: &str) -> Result<Cgroup> {
        let given = cgroups_path.map(clean).unwrap_or_default();
        if given.contains(':') && !given.starts_with('/') {
            return Err(format!("cgroupsPath {given:?} is in systemd's slice:prefix:name form; the systemd cgroup driver is not supported"));
        }
        let path = if given.is_empty() || given == "/" { id.to_string() } else { given };
        let mode = h.mode();
        let mut cg = Cgroup { mode, v1: BTreeMap::new(), unified: None };
        for (ctrl, (mount, root)) in &h.v1 {
            cg.v1.insert(ctrl.clone(), on_mount(mount, root, &inner_path(&path, own.get(ctrl))));
        }
        if let Some((mount, root)) = &h.unified {
            cg.unified = Some(on_mount(mount, root, &inner_path(&path, own.get(""))));
        }
        if mode == Mode::Legacy && cg.v1.is_empty() {
            return Err("no cgroup hierarchy is mounted".into());
        }
        Ok(cg)
    }

    /// The cgroup this process is in now, in every hierarchy.
    pub fn current() -> Result<Cgroup> {
        Self::current_in(&Hierarchies::detect()?)
    }

    /// [`Cgroup::current`] in hierarchies the caller has detected already.
    pub fn current_in(h: &Hierarchies) -> Result<Cgroup> {
        let own = own_cgroups()?;
        let mut cg = Cgroup { mode: h.mode(), v1: BTreeMap::new(), unified: None };
        for (ctrl, (mount, root)) in &h.v1 {
            cg.v1.insert(ctrl.clone(), on_mount(mount, root, own.get(ctrl).map(String::as_str).unwrap_or("/")));
        }
        if let Some((mount, root)) = &h.unified {
            cg.unified = Some(on_mount(mount, root, own.get("").map(String::as_str).unwrap_or("/")));
        }
        Ok(cg)
    }

    /// Every distinct directory, v1 ones first.
    pub fn dirs(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = Vec::new();
        for d in self.v1.values().chain(self.unified.as_ref()) {
            if !out.contains(d) {
                out.push(d.clone());
            }
        }
        out
    }

    /// Creates the directories (a v1 cpuset inherits its parent's cpus and mems; v2
    /// ancestors delegate their controllers).
    pub fn create(&self) -> Result<()> {
        for (ctrl, dir) in &self.v1 {
            if ctrl == "cpuset" {
                v1::create_cpuset(dir)?;
            } else {
                std::fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
            }
        }
        if let Some(dir) = &self.unified {
            // In hybrid mode too: controllers only cgroup2 has (hugetlb here) become usable.
            v2::create_delegating(dir)?;
        }
        Ok(())
    }

    /// Opens the directories for a child about to be made to enter them (see [`Entry`]).
    pub fn entry(&self) -> Result<Entry> {
        let mut v1: Vec<PathBuf> = Vec::new();
        for d in self.v1.values() {
            if !v1.contains(d) {
                v1.push(d.clone());
            }
        }
        Entry::open(&v1, self.unified.as_deref())
    }

    /// Applies the limits; in hybrid mode, controllers only the cgroup2 side has (such as
    /// hugetlb on this kind of host) are set there.
    pub fn apply(&self, r: &Resources) -> Result<()> {
        match self.mode {
            Mode::Unified => v2::apply(self.unified.as_deref().ok_or("no cgroup2 directory")?, r),
            Mode::Legacy | Mode::Hybrid => {
                if !r.unified.is_empty() {
                    return Err(V1_NO_UNIFIED.into());
                }
                v1::apply(&self.v1, r)?;
                if let Some(dir) = &self.unified {
                    let only_v2 = Resources {
                        hugepage_limits: if self.v1.contains_key("hugetlb") { Vec::new() } else { r.hugepage_limits.clone() },
                        ..Default::default()
                    };
                    v2::apply(dir, &only_v2)?;
                }
                Ok(())
            }
        }
    }

    /// The processes in the cgroup and in every sub-cgroup under it (as runc's GetAllPids:
    /// `exec --cgroup` puts processes there, and kill --all, ps and delete must see them).
    pub fn pids(&self) -> Result<Vec<i32>> {
        let dir = match self.mode {
            Mode::Unified => self.unified.clone(),
            _ => ["pids", "freezer", "memory", "devices", "cpu"].iter().find_map(|c| self.v1.get(*c).cloned()).or_else(|| self.unified.clone()),
        }
        .ok_or("no cgroup directory to list processes from")?;
        let text = std::fs::read_to_string(dir.join("cgroup.procs")).map_err(|e| format!("read {}: {e}", dir.join("cgroup.procs").display()))?;
        let mut pids: Vec<i32> = text.lines().filter_map(|l| l.trim().parse().ok()).collect();
        pids_below(&dir, &mut pids);
        Ok(pids)
    }

    /// Freezes (`true`) or thaws every process, waiting until the kernel says it is done.
    pub fn set_frozen(&self, frozen: bool) -> Result<()> {
        match (self.mode, self.v1.get("freezer")) {
            (Mode::Unified, _) | (_, None) => v2::set_frozen(self.unified.as_deref().ok_or("no freezer controller")?, frozen),
            (_, Some(dir)) => v1::set_frozen(dir, frozen),
        }
    }

    pub fn is_frozen(&self) -> bool {
        match (self.mode, self.v1.get("freezer")) {
            (Mode::Unified, _) | (_, None) => self.unified.as_deref().is_some_and(v2::is_frozen),
            (_, Some(dir)) => v1::is_frozen(dir),
        }
    }

    /// Whether any of the directories still exists.
    pub fn exists(&self) -> bool {
        self.dirs().iter().any(|d| d.is_dir())
    }

    /// Removes every directory, retrying while exiting processes leave it busy.
    pub fn destroy(&self) -> Result<()> {
        let mut last = Ok(());
        for dir in self.dirs() {
            if let Err(e) = remove_dir(&dir) {
                last = Err(e);
            }
        }
        last
    }

    /// The cgroup's statistics in runc's shape.
    pub fn stats(&self) -> Result<stats::Stats> {
        match self.mode {
            Mode::Unified => v2::stats(self.unified.as_deref().ok_or("no cgroup2 directory")?),
            _ => Ok(v1::stats(&self.v1)),
        }
    }

    /// Saves this record as JSON at `path`.
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_vec(self).map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("write {}: {e}", path.display()))
    }

    /// Loads a record saved by [`Cgroup::save`]; None when there is none.
    pub fn load(path: &Path) -> Option<Cgroup> {
        serde_json::from_slice(&std::fs::read(path).ok()?).ok()
    }
}

/// A cgroup opened by runc for a child it is about to make, so that the child enters it
/// without the kernel's global threadgroup lock, whose writers wait for an RCU grace period
/// (~10 ms) each time the lock was idle. Writing a pid to `cgroup.procs` takes it; two ways
/// in do not: clone3's CLONE_INTO_CGROUP for the cgroup2 directory (`runc::spawn`, given
/// [`Entry::unified_fd`]), and a thread writing "0" to a v1 `tasks` file, which moves just
/// itself ([`Entry::enter_v1`]) — the whole process when it has only the one thread. The
/// files are opened by runc: the kernel checks a write against the opener's credentials
/// (and a thread may always move itself), so the child fares as runc would have. Where
/// clone3 cannot be used, [`Entry::add_unified`] moves the child through `cgroup.procs`.
#[derive(Debug)]
pub struct Entry {
    /// Each v1 directory with its `tasks` file, opened for writing.
    v1: Vec<(PathBuf, OwnedFd)>,
    /// The cgroup2 directory and a descriptor of it.
    unified: Option<(PathBuf, OwnedFd)>,
}

impl Entry {
    /// Opens `tasks` in each v1 directory of `v1` (one per hierarchy) and the cgroup2
    /// directory `unified`.
    pub fn open(v1: &[PathBuf], unified: Option<&Path>) -> Result<Entry> {
        use std::os::unix::fs::OpenOptionsExt;
        let open = |path: &Path, options: &mut std::fs::OpenOptions| options.open(path).map(OwnedFd::from).map_err(|e| format!("open {}: {e}", path.display()));
        let mut entry = Entry { v1: Vec::new(), unified: None };
        for dir in v1 {
            entry.v1.push((dir.clone(), open(&dir.join("tasks"), std::fs::OpenOptions::new().write(true))?));
        }
        if let Some(dir) = unified {
            entry.unified = Some((dir.to_path_buf(), open(dir, std::fs::OpenOptions::new().read(true).custom_flags(libc::O_DIRECTORY))?));
        }
        Ok(entry)
    }

    /// The cgroup2 directory, for clone3's CLONE_INTO_CGROUP.
    pub fn unified_fd(&self) -> Option<BorrowedFd<'_>> {
        self.unified.as_ref().map(|(_, fd)| fd.as_fd())
    }

    /// In the child, which must have only one thread (a fresh fork's child has): moves it
    /// into every v1 directory.
    pub fn enter_v1(&self) -> Result<()> {
        debug_assert_eq!(thread_count(), Some(1), "`tasks` moves one thread, not its process");
        for (dir, tasks) in &self.v1 {
            nix::unistd::write(tasks, b"0").map_err(|e| format!("failed to write \"0\" to {}: {}", dir.join("tasks").display(), e.desc()))?;
        }
        Ok(())
    }

    /// Moves process `pid` (0: the caller) into the cgroup2 directory through `cgroup.procs`.
    pub fn add_unified(&self, pid: i32) -> Result<()> {
        match &self.unified {
            Some((dir, _)) => write(dir, "cgroup.procs", &pid.to_string()),
            None => Ok(()),
        }
    }
}

/// Adds the processes of every sub-cgroup of `dir`, depth first.
fn pids_below(dir: &Path, out: &mut Vec<i32>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            let sub = e.path();
            if let Ok(text) = std::fs::read_to_string(sub.join("cgroup.procs")) {
                out.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
            }
            pids_below(&sub, out);
        }
    }
}

/// The number of threads of this process (field 20 of /proc/self/stat).
fn thread_count() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name, which is in parentheses and may hold spaces.
    stat.rsplit_once(')')?.1.split_whitespace().nth(17)?.parse().ok()
}

/// rmdir with retries: a cgroup stays busy for a moment after its last process exits.
fn remove_dir(dir: &Path) -> Result<()> {
    for attempt in 0..200 {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempt < 199 => {
                // Child cgroups someone made inside ours go first.
                if let Ok(entries) = std::fs::read_dir(dir) {
                    for e in entries.flatten() {
                        if e.file_type().is_ok_and(|t| t.is_dir()) {
                            let _ = remove_dir(&e.path());
                        }
                    }
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => return Err(format!("remove cgroup {}: {e}", dir.display())),
        }
    }
    Err(format!("remove cgroup {}: busy", dir.display()))
}

/// Writes `value` to the control file `dir/file`, with the file named in the error.
pub fn write(dir: &Path, file: &str, value: &str) -> Result<()> {
    let path = dir.join(file);
    std::fs::write(&path, value).map_err(|e| format!("failed to write {value:?} to {}: {e}", path.display()))
}

/// Reads a control file, trimmed; None when it is missing.
pub fn read(dir: &Path, file: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(file)).ok().map(|s| s.trim().to_string())
}

/// Reads a control file holding one number ("max" reads as u64::MAX).
pub fn read_u64(dir: &Path, file: &str) -> u64 {
    match read(dir, file).as_deref() {
        Some("max") => u64::MAX,
        Some(s) => s.parse().unwrap_or(0),
        None => 0,
    }
}

/// `key value` lines (memory.stat, cpu.stat) as a map.
pub fn read_keyed(dir: &Path, file: &str) -> BTreeMap<String, u64> {
    read(dir, file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> (Hierarchies, BTreeMap<String, String>) {
        let mut h = Hierarchies::default();
        h.v1.insert("memory".into(), ("/sys/fs/cgroup/memory".into(), "/".into()));
        h.v1.insert("cpu".into(), ("/sys/fs/cgroup/cpu,cpuacct".into(), "/".into()));
        h.v1.insert("cpuacct".into(), ("/sys/fs/cgroup/cpu,cpuacct".into(), "/".into()));
        h.unified = Some(("/sys/fs/cgroup/unified".into(), "/".into()));
        let own = parse_proc_cgroup("4:memory:/user/me\n1:cpu,cpuacct:/\n0::/session\n");
        (h, own)
    }

    #[test]
    fn cgroups_path_follows_runc() {
        let (h, own) = host();
        let abs = Cgroup::resolve_in(&h, &own, Some("/docker/abc"), "abc").unwrap();
        assert_eq!(abs.mode, Mode::Hybrid);
        assert_eq!(abs.v1["memory"], PathBuf::from("/sys/fs/cgroup/memory/docker/abc"));
        assert_eq!(abs.unified, Some(PathBuf::from("/sys/fs/cgroup/unified/docker/abc")));
        let rel = Cgroup::resolve_in(&h, &own, Some("sub/x"), "x").unwrap();
        assert_eq!(rel.v1["memory"], PathBuf::from("/sys/fs/cgroup/memory/user/me/sub/x"));
        assert_eq!(rel.v1["cpu"], PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/sub/x"));
        assert_eq!(rel.unified, Some(PathBuf::from("/sys/fs/cgroup/unified/session/sub/x")));
        let default = Cgroup::resolve_in(&h, &own, None, "ctr").unwrap();
        assert_eq!(default.v1["memory"], PathBuf::from("/sys/fs/cgroup/memory/user/me/ctr"));
        assert_eq!(default.dirs().len(), 3, "co-mounted controllers share a directory");
        assert!(Cgroup::resolve_in(&h, &own, Some("system.slice:docker:abc"), "abc").unwrap_err().contains("systemd"));
        assert_eq!(Cgroup::resolve_in(&h, &own, Some("/a/../b/./c"), "c").unwrap().v1["memory"], PathBuf::from("/sys/fs/cgroup/memory/b/c"));
    }

    #[test]
    fn hierarchies_come_from_mountinfo() {
        let text = "30 25 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755\n\
                    31 30 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n\
                    32 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n\
                    33 30 0:29 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
                    34 30 0:30 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n\
                    90 20 0:29 /docker /tmp/x/memory rw - cgroup cgroup rw,memory\n\
                    91 20 0:27 / /tmp/y rw - cgroup2 cgroup2 rw\n";
        let h = Hierarchies::from_mounts(crate::mounts::parse_mountinfo(text));
        assert_eq!(h.mode(), Mode::Hybrid);
        assert_eq!(h.v1["cpuacct"].0, PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"));
        assert_eq!(h.v1["memory"].0, PathBuf::from("/sys/fs/cgroup/memory"), "the standard mount wins");
        assert!(h.v1.contains_key("name=systemd"));
        assert_eq!(h.unified.as_ref().unwrap().0, PathBuf::from("/sys/fs/cgroup/unified"));
        let v2 = Hierarchies::from_mounts(crate::mounts::parse_mountinfo("40 1 0:27 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"));
        assert_eq!(v2.mode(), Mode::Unified);
    }

    #[test]
    fn mounts_with_a_root_strip_it() {
        assert_eq!(on_mount(Path::new("/sys/fs/cgroup/memory"), "/docker/x", "/docker/x/sub"), PathBuf::from("/sys/fs/cgroup/memory/sub"));
        assert_eq!(on_mount(Path::new("/sys/fs/cgroup"), "/", "/a"), PathBuf::from("/sys/fs/cgroup/a"));
    }
}
