//! Volumes: the store of the local volume driver, below the daemon. Each volume is a directory
//! `<data-root>/volumes/<name>/` holding `_data` (what containers see) and `volume.json` (its
//! labels, driver options and creation time), reloaded at start. A volume with driver options
//! (`type`, `device`, `o`) gets its `_data` mounted at its first use and unmounted when the
//! last user releases it, as Docker's local driver does. Users are counted twice, as Docker
//! counts them: references (a container that names the volume, running or not: the volume
//! cannot be removed) and active mounts (running containers: the device stays mounted).

pub mod local;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// The only driver there is.
pub const DRIVER: &str = "local";
/// The label Docker puts on volumes created without a name; prune without `all` takes only
/// these.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";
/// The metadata file beside `_data`.
const META_FILE: &str = "volume.json";

/// What went wrong, as the API's status classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Invalid,
    NotFound,
    Conflict,
    System,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

impl Error {
    fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error { kind, message: message.into() }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// What `volume.json` holds. `labels`/`options` keep `None` apart from empty, as Docker shows
/// `null` for a volume created without them and `{}` for one created with an empty map.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "PascalCase")]
struct Meta {
    name: String,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    options: Option<BTreeMap<String, String>>,
    #[serde(default)]
    created_at: String,
}

struct State {
    meta: Meta,
    /// Containers that use the volume (it cannot be removed while any does).
    refs: BTreeSet<String>,
    /// Containers that have it mounted now (its device stays mounted while any does).
    active: BTreeSet<String>,
    /// Whether `_data` is mounted (a volume with a device).
    mounted: bool,
}

/// A volume as the store shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub name: String,
    /// Its `_data` directory.
    pub mountpoint: PathBuf,
    pub created_at: String,
    pub labels: Option<BTreeMap<String, String>>,
    pub options: Option<BTreeMap<String, String>>,
    /// The containers that reference it, sorted.
    pub refs: Vec<String>,
}

impl Volume {
    /// Whether it was created without a name (Docker's anonymous label).
    pub fn is_anonymous(&self) -> bool {
        self.labels.as_ref().is_some_and(|l| l.contains_key(ANONYMOUS_LABEL))
    }

    /// Its labels, empty when none.
    pub fn label_map(&self) -> BTreeMap<String, String> {
        self.labels.clone().unwrap_or_default()
    }

    /// Docker's `Volume` JSON; `usage` = (size in bytes or -1, reference count) adds `UsageData`.
    pub fn to_json(&self, usage: Option<(i64, i64)>) -> Value {
        let mut v = json!({
            "CreatedAt": self.created_at,
            "Driver": DRIVER,
            "Labels": self.labels,
            "Mountpoint": self.mountpoint,
            "Name": self.name,
            "Options": self.options,
            "Scope": "local",
        });
        if let Some((size, ref_count)) = usage {
            v["UsageData"] = json!({"Size": size, "RefCount": ref_count});
        }
        v
    }
}

/// Docker's rule for local volume names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`. It keeps a name inside
/// the volumes directory (no `/`, no leading `.`).
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.len() == 1 {
        return Err("volume name is too short, names should be at least two alphanumeric characters".into());
    }
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
        return Err(format!("{name:?} includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"));
    }
    Ok(())
}

/// Prefixes of a volume's directory while it is made and while it is deleted.
const HIDDEN_NEW: &str = ".new-";
const HIDDEN_TRASH: &str = ".trash-";

/// The local driver's volumes.
pub struct Store {
    /// `<data-root>/volumes`.
    root: PathBuf,
    volumes: Mutex<BTreeMap<String, State>>,
}

impl Store {
    /// Opens (creating) `<data-root>/volumes` and loads its volumes. A `_data` still mounted
    /// from before (a crash) is kept mounted, as Docker keeps it, until
    /// [`Store::unmount_unused`] runs after the containers' restore.
    pub fn open(data_root: &Path) -> io::Result<Store> {
        let root = data_root.join("volumes");
        std::fs::create_dir_all(&root)?;
        let mounted: HashSet<PathBuf> = crate::mounts::mounts().map(|m| m.into_iter().map(|m| m.mount_point).collect()).unwrap_or_default();
        let mut volumes = BTreeMap::new();
        for entry in std::fs::read_dir(&root)? {
            let entry = entry?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else { continue };
            if (name.starts_with(HIDDEN_NEW) || name.starts_with(HIDDEN_TRASH)) && !mounted.iter().any(|m| m.starts_with(entry.path())) {
                // A creation or removal a crash interrupted.
                let _ = std::fs::remove_dir_all(entry.path());
                continue;
            }
            if validate_name(&name).is_err() || !entry.path().join("_data").is_dir() {
                continue;
            }
            // A volume whose metadata a crash kept from being written (or that is unreadable)
            // is still a volume, as Docker's local driver lists every directory, without
            // labels or options; one bad file must not keep the daemon from starting.
            let bare = || Meta { name: name.clone(), created_at: created_time(&entry.path()), ..Meta::default() };
            let meta = match std::fs::read(entry.path().join(META_FILE)) {
                Ok(b) => serde_json::from_slice::<Meta>(&b).unwrap_or_else(|e| {
                    crate::log::line(crate::log::Level::Error, &format!("reading {META_FILE}"), &[("volume", &name.to_string()), ("error", &e.to_string())]);
                    bare()
                }),
                Err(_) => bare(),
            };
            let meta = Meta { name: name.clone(), ..meta };
            let is_mounted = mounted.contains(&entry.path().join("_data"));
            volumes.insert(name, State { meta, refs: BTreeSet::new(), active: BTreeSet::new(), mounted: is_mounted });
        }
        Ok(Store { root, volumes: Mutex::new(volumes) })
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, State>> {
        self.volumes.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    fn view(&self, s: &State) -> Volume {
        Volume {
            name: s.meta.name.clone(),
            mountpoint: self.dir(&s.meta.name).join("_data"),
            created_at: s.meta.created_at.clone(),
            labels: s.meta.labels.clone(),
            options: s.meta.options.clone(),
            refs: s.refs.iter().cloned().collect(),
        }
    }

    /// Creates a volume (`name` `None`: an anonymous one, 64 hex digits, with Docker's
    /// anonymous label). A volume of that name that exists already is returned as it is, as
    /// Docker returns it. The bool tells whether it was created now.
    pub fn create(&self, name: Option<&str>, driver: &str, labels: Option<BTreeMap<String, String>>, options: Option<BTreeMap<String, String>>) -> Result<(Volume, bool), Error> {
        let mut labels = labels;
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) => n.to_string(),
            None => {
                labels.get_or_insert_with(BTreeMap::new).insert(ANONYMOUS_LABEL.into(), String::new());
                crate::ids::new_id()
            }
        };
        let op_err = |kind, e: String| Error::new(kind, format!("create {name}: {e}"));
        let driver = if driver.is_empty() { DRIVER } else { driver };
        if driver != DRIVER {
            return Err(op_err(ErrorKind::NotFound, format!("error looking up volume plugin {driver}: plugin {driver:?} not found")));
        }
        validate_name(&name).map_err(|e| op_err(ErrorKind::Invalid, e))?;
        let mut volumes = self.lock();
        if let Some(s) = volumes.get(&name) {
            return Ok((self.view(s), false));
        }
        if let Some(o) = &options {
            local::validate(o).map_err(|e| op_err(ErrorKind::Invalid, e))?;
        }
        let dir = self.dir(&name);
        let meta = Meta { name: name.clone(), labels, options, created_at: crate::sys::rfc3339_seconds(std::time::SystemTime::now()) };
        // Made whole under a hidden name (no volume name starts with a dot), then renamed in:
        // a power cut leaves the volume with its metadata, or no volume.
        let new = self.root.join(format!("{HIDDEN_NEW}{name}-{}", &crate::ids::new_id()[..8]));
        let written = (|| -> io::Result<()> {
            crate::durable::step_at("mkdir", &new);
            std::fs::create_dir_all(new.join("_data"))?;
            crate::durable::write_file(&new.join(META_FILE), &serde_json::to_vec(&meta).map_err(io::Error::other)?)?;
            crate::durable::step_at("rename", &dir);
            std::fs::rename(&new, &dir)?;
            crate::durable::fsync_dir(&self.root)
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_dir_all(&new);
            return Err(op_err(ErrorKind::System, e.to_string()));
        }
        let s = State { meta, refs: BTreeSet::new(), active: BTreeSet::new(), mounted: false };
        let v = self.view(&s);
        volumes.insert(name, s);
        Ok((v, true))
    }

    /// The volume `name` if it exists, else creates it (`None`: anonymous) — what a
    /// container's `-v name:/path` needs.
    pub fn get_or_create(&self, name: Option<&str>, driver: &str, labels: Option<BTreeMap<String, String>>, options: Option<BTreeMap<String, String>>) -> Result<Volume, Error> {
        self.create(name, driver, labels, options).map(|(v, _)| v)
    }

    /// The volume of this name (Docker's "get NAME: no such volume", 404).
    pub fn get(&self, name: &str) -> Result<Volume, Error> {
        self.lock().get(name).map(|s| self.view(s)).ok_or_else(|| no_such(name))
    }

    /// Every volume, by name.
    pub fn list(&self) -> Vec<Volume> {
        self.lock().values().map(|s| self.view(s)).collect()
    }

    /// Records that container `user` uses the volume (it can no longer be removed).
    pub fn reference(&self, name: &str, user: &str) -> Result<(), Error> {
        let mut volumes = self.lock();
        let s = volumes.get_mut(name).ok_or_else(|| no_such(name))?;
        s.refs.insert(user.to_string());
        Ok(())
    }

    /// Drops container `user`'s reference (and its mount, if it still has one).
    pub fn dereference(&self, name: &str, user: &str) -> Result<(), Error> {
        self.release(name, user)?;
        if let Some(s) = self.lock().get_mut(name) {
            s.refs.remove(user);
        }
        Ok(())
    }

    /// Container `user` starts using the volume: referenced, and its device mounted on `_data`
    /// if this is the first active user. Returns the `_data` path to bind into the container.
    pub fn acquire(&self, name: &str, user: &str) -> Result<PathBuf, Error> {
        let mut volumes = self.lock();
        let s = volumes.get_mut(name).ok_or_else(|| no_such(name))?;
        let data = self.root.join(name).join("_data");
        let opts = s.meta.options.clone().unwrap_or_default();
        if local::needs_mount(&opts) && !s.mounted {
            local::mount(&opts, &data).map_err(|e| Error::new(ErrorKind::System, format!("error while mounting volume '{}': {e}", data.display())))?;
            s.mounted = true;
        }
        s.refs.insert(user.to_string());
        s.active.insert(user.to_string());
        Ok(data)
    }

    /// Container `user` stops using the volume's mount (its reference stays): the device is
    /// unmounted when no active user is left. Releasing twice is harmless.
    pub fn release(&self, name: &str, user: &str) -> Result<(), Error> {
        let mut volumes = self.lock();
        let s = volumes.get_mut(name).ok_or_else(|| no_such(name))?;
        s.active.remove(user);
        if s.active.is_empty() && s.mounted {
            let data = self.root.join(name).join("_data");
            crate::mounts::unmount(&data).map_err(|e| Error::new(ErrorKind::System, format!("error while unmounting volume {name}: {e}")))?;
            s.mounted = false;
        }
        Ok(())
    }

    /// Unmounts the devices of volumes no container has mounted (left from before a crash or
    /// a restart); for the daemon to call once its containers are restored.
    pub fn unmount_unused(&self) {
        let names: Vec<String> = self.lock().iter().filter(|(_, s)| s.mounted && s.active.is_empty()).map(|(n, _)| n.clone()).collect();
        for n in names {
            let _ = self.release(&n, "");
        }
    }

    /// Removes a volume and its data. In use: Docker's 409 "remove NAME: volume is in use -
    /// [IDS]" (`force` does not override it); not found: an error, or `Ok(None)` with `force`.
    pub fn remove(&self, name: &str, force: bool) -> Result<Option<Volume>, Error> {
        let mut volumes = self.lock();
        let Some(s) = volumes.get(name) else {
            return if force { Ok(None) } else { Err(no_such(name)) };
        };
        if !s.refs.is_empty() {
            return Err(Error::new(ErrorKind::Conflict, format!("remove {name}: volume is in use - [{}]", s.refs.iter().cloned().collect::<Vec<_>>().join(", "))));
        }
        let v = self.view(s);
        self.remove_dir(name).map_err(|e| Error::new(ErrorKind::System, format!("remove {name}: {e}")))?;
        volumes.remove(name);
        Ok(Some(v))
    }

    /// Unmounts what is mounted under the volume's directory, makes sure nothing is left (a
    /// bind's host directory must never be emptied), then deletes the directory.
    fn remove_dir(&self, name: &str) -> io::Result<()> {
        let dir = self.dir(name);
        crate::mounts::unmount_all_under(&dir)?;
        if !crate::mounts::mounts_under(&dir)?.is_empty() {
            return Err(io::Error::other(format!("{} is still mounted", dir.display())));
        }
        // Out of sight first (durably), so that a cut in the middle of the deletion leaves no
        // half-emptied volume; what is left under the hidden name goes at the next start.
        let trash = self.root.join(format!("{HIDDEN_TRASH}{name}-{}", &crate::ids::new_id()[..8]));
        crate::durable::step_at("rename", &dir);
        match std::fs::rename(&dir, &trash) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            r => r?,
        }
        crate::durable::fsync_dir(&self.root)?;
        crate::durable::remove_dir_all(&trash)
    }

    /// Removes the volumes no container references that `matches` selects (anonymous ones
    /// only unless `all`). Returns the removed volumes and the bytes their data took.
    pub fn prune(&self, all: bool, matches: impl Fn(&Volume) -> bool) -> (Vec<Volume>, u64) {
        let candidates: Vec<Volume> = self.list().into_iter().filter(|v| v.refs.is_empty() && (all || v.is_anonymous()) && matches(v)).collect();
        let mut removed = Vec::new();
        let mut reclaimed = 0u64;
        for v in candidates {
            let size = self.size(&v.name);
            if let Ok(Some(v)) = self.remove(&v.name, false) {
                reclaimed += size.max(0) as u64;
                removed.push(v);
            }
        }
        (removed, reclaimed)
    }

    /// The bytes a volume's data takes (files counted once per inode, as Docker's
    /// `directory.Size`); -1 when it cannot be read.
    pub fn size(&self, name: &str) -> i64 {
        dir_size(&self.dir(name).join("_data")).map(|s| s as i64).unwrap_or(-1)
    }
}

fn no_such(name: &str) -> Error {
    Error::new(ErrorKind::NotFound, format!("get {name}: no such volume"))
}

/// The change time of a volume's directory, as Docker's local driver reports CreatedAt.
fn created_time(dir: &Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let t = std::fs::metadata(dir).map(|m| std::time::UNIX_EPOCH + std::time::Duration::from_secs(m.ctime().max(0) as u64)).unwrap_or(std::time::UNIX_EPOCH);
    crate::sys::rfc3339_seconds(t)
}

/// The size of the files under `dir` (not following symlinks, hard links once, no descent
/// into other filesystems mounted below).
fn dir_size(dir: &Path) -> io::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let top = std::fs::symlink_metadata(dir)?;
    let mut seen = HashSet::new();
    let mut total = 0u64;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() {
                if m.dev() == top.dev() {
                    stack.push(e.path());
                }
                continue;
            }
            if m.nlink() > 1 && !seen.insert((m.dev(), m.ino())) {
                continue;
            }
            total += m.len();
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_root(tag: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("dbx-volume-{tag}-{}", crate::ids::new_id()));
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn is_root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    #[test]
    fn names_follow_dockers_rule() {
        for ok in ["ab", "a.b", "A_b-c.9", "0x"] {
            assert_eq!(validate_name(ok), Ok(()), "{ok}");
        }
        assert!(validate_name("a").unwrap_err().starts_with("volume name is too short"));
        for bad in ["..", ".x", "a/b", "../../etc", "-x", "a b", "", "é1"] {
            assert!(validate_name(bad).unwrap_err().contains("includes invalid characters"), "{bad}");
        }
    }

    #[test]
    fn create_reload_remove() {
        let root = temp_root("crud");
        let s = Store::open(&root).unwrap();
        let (v, created) = s.create(Some("data1"), "", Some(map(&[("a", "1")])), None).unwrap();
        assert!(created);
        assert_eq!(v.mountpoint, root.join("volumes/data1/_data"));
        assert!(v.mountpoint.is_dir());
        let (again, created) = s.create(Some("data1"), "local", None, None).unwrap();
        assert!(!created);
        assert_eq!(again.labels, Some(map(&[("a", "1")])));
        let (anon, _) = s.create(None, "local", None, None).unwrap();
        assert_eq!(anon.name.len(), 64);
        assert!(anon.is_anonymous());
        std::fs::write(v.mountpoint.join("f"), b"12345").unwrap();
        assert_eq!(s.size("data1"), 5);
        drop(s);

        let s = Store::open(&root).unwrap();
        let names: Vec<String> = s.list().into_iter().map(|v| v.name).collect();
        assert_eq!(names.len(), 2);
        assert!(names.contains(&"data1".to_string()));
        assert_eq!(s.get("data1").unwrap().labels, Some(map(&[("a", "1")])));
        assert_eq!(s.get("nope").unwrap_err().message, "get nope: no such volume");

        s.reference("data1", "c1").unwrap();
        let e = s.remove("data1", true).unwrap_err();
        assert_eq!((e.kind, e.message.as_str()), (ErrorKind::Conflict, "remove data1: volume is in use - [c1]"));
        // Prune: anonymous only, then all unreferenced.
        let (removed, _) = s.prune(false, |_| true);
        assert_eq!(removed.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(), [anon.name.as_str()]);
        let (removed, _) = s.prune(true, |_| true);
        assert!(removed.is_empty());
        s.dereference("data1", "c1").unwrap();
        let (removed, reclaimed) = s.prune(true, |_| true);
        assert_eq!((removed.len(), reclaimed), (1, 5));
        assert!(!root.join("volumes/data1").exists());
        assert_eq!(s.remove("data1", true), Ok(None));
        assert_eq!(s.remove("data1", false).unwrap_err().kind, ErrorKind::NotFound);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_volume_without_readable_metadata_is_still_listed() {
        let root = temp_root("bare");
        std::fs::create_dir_all(root.join("volumes/half/_data")).unwrap();
        std::fs::create_dir_all(root.join("volumes/torn/_data")).unwrap();
        std::fs::write(root.join("volumes/torn/volume.json"), b"{\"Name\":").unwrap();
        std::fs::create_dir_all(root.join("volumes/.hidden/_data")).unwrap();
        let s = Store::open(&root).unwrap();
        let names: Vec<String> = s.list().into_iter().map(|v| v.name).collect();
        assert_eq!(names, ["half", "torn"]);
        assert_eq!(s.get("half").unwrap().labels, None);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn bad_requests_are_refused() {
        let root = temp_root("bad");
        let s = Store::open(&root).unwrap();
        let e = s.create(Some("x1"), "flocker", None, None).unwrap_err();
        assert_eq!((e.kind, e.message.as_str()), (ErrorKind::NotFound, "create x1: error looking up volume plugin flocker: plugin \"flocker\" not found"));
        let e = s.create(Some("x1"), "local", None, Some(map(&[("bogus", "1")]))).unwrap_err();
        assert_eq!((e.kind, e.message.as_str()), (ErrorKind::Invalid, "create x1: invalid option: \"bogus\""));
        assert_eq!(s.create(Some("../x"), "local", None, None).unwrap_err().kind, ErrorKind::Invalid);
        assert!(s.list().is_empty());
        assert_eq!(std::fs::read_dir(root.join("volumes")).unwrap().count(), 0);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn tmpfs_and_bind_volumes_mount_at_first_use_only() {
        if !is_root() {
            return;
        }
        let root = temp_root("mnt");
        let host = root.join("host");
        std::fs::create_dir_all(&host).unwrap();
        std::fs::write(host.join("seen"), b"x").unwrap();
        let s = Store::open(&root).unwrap();
        s.create(Some("tmp"), "local", None, Some(map(&[("type", "tmpfs"), ("device", "tmpfs"), ("o", "size=1m")]))).unwrap();
        s.create(Some("bnd"), "local", None, Some(map(&[("type", "none"), ("device", host.to_str().unwrap()), ("o", "bind")]))).unwrap();
        let tmp_data = root.join("volumes/tmp/_data");
        assert!(!crate::mounts::is_mountpoint(&tmp_data));
        assert_eq!(s.acquire("tmp", "c1").unwrap(), tmp_data);
        s.acquire("tmp", "c2").unwrap();
        let m = crate::mounts::mounts().unwrap().into_iter().find(|m| m.mount_point == tmp_data).expect("tmpfs mounted");
        assert_eq!(m.fstype, "tmpfs");
        s.release("tmp", "c1").unwrap();
        assert!(crate::mounts::is_mountpoint(&tmp_data));
        s.release("tmp", "c2").unwrap();
        assert!(!crate::mounts::is_mountpoint(&tmp_data));

        let data = s.acquire("bnd", "c1").unwrap();
        assert!(data.join("seen").exists());
        assert_eq!(s.remove("bnd", false).unwrap_err().kind, ErrorKind::Conflict);
        // Reload while mounted (a crash): still known as mounted, unmounted once unused.
        drop(s);
        let s = Store::open(&root).unwrap();
        assert!(crate::mounts::is_mountpoint(&data));
        s.unmount_unused();
        assert!(!crate::mounts::is_mountpoint(&data));
        s.acquire("bnd", "c1").unwrap();
        s.dereference("bnd", "c1").unwrap();
        s.acquire("bnd", "c9").unwrap();
        s.release("bnd", "c9").unwrap();
        s.dereference("bnd", "c9").unwrap();
        s.remove("bnd", false).unwrap();
        // The host's directory survives its volume.
        assert!(host.join("seen").exists());
        assert!(crate::mounts::mounts_under(&root).unwrap().is_empty());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
