//! A container's record on disk (`<root>/<id>/state.json` beside `exec.fifo`) and its live
//! status, derived from the init process (gone, zombie or recycled pid = stopped) and the
//! exec fifo (present = created).

use super::{Error, Global, Result};
use crate::cgroups::Cgroup;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

pub const STATE_FILE: &str = "state.json";
pub const EXEC_FIFO: &str = "exec.fifo";

/// What runc keeps about a container between commands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub init_pid: i32,
    /// Field 22 of /proc/PID/stat when the init started: tells a recycled pid apart.
    pub init_start_time: u64,
    pub bundle: String,
    pub rootfs: String,
    pub created: String,
    pub config: crate::oci::Spec,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Created,
    Running,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Stopped => "stopped",
        }
    }
}

/// A loaded container.
pub struct Container {
    pub dir: PathBuf,
    pub record: Record,
}

pub use crate::sys::go_error_text as errno_text;

/// runc's rule for ids: letters, digits and `_ + - .`, not `.` or `..`.
pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"_+-.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::new(format!("invalid container id format: {id}")))
    }
}

/// (state char, start time) from /proc/PID/stat; None when the process is gone.
pub fn proc_stat(pid: i32) -> Option<(char, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    // `after` starts at field 3 (state); field 22 is index 19.
    let state = fields.first()?.chars().next()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((state, start))
}

impl Container {
    pub fn dir_of(g: &Global, id: &str) -> PathBuf {
        g.root.join(id)
    }

    pub fn load(g: &Global, id: &str) -> Result<Container> {
        validate_id(id)?;
        let dir = Self::dir_of(g, id);
        let text = match std::fs::read(dir.join(STATE_FILE)) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Error::new("container does not exist")),
            Err(e) => return Err(Error::new(format!("read state: {}", errno_text(&e)))),
        };
        let record = serde_json::from_slice(&text).map_err(|e| Error::new(format!("parse state.json: {e}")))?;
        Ok(Container { dir, record })
    }

    pub fn save(&self) -> Result<()> {
        let text = serde_json::to_vec(&self.record).map_err(|e| Error::new(e.to_string()))?;
        write_replace(&self.dir.join(STATE_FILE), &text).map_err(|e| Error::new(format!("write state: {e}")))
    }

    /// Whether the recorded init is still that process and not yet dead.
    pub fn init_alive(&self) -> bool {
        match proc_stat(self.record.init_pid) {
            Some((state, start)) => start == self.record.init_start_time && state != 'Z' && state != 'X',
            None => false,
        }
    }

    pub fn status(&self) -> Status {
        if !self.init_alive() {
            Status::Stopped
        } else if self.dir.join(EXEC_FIFO).exists() {
            Status::Created
        } else {
            Status::Running
        }
    }

    /// The document `runc state` prints; `list` fills the owner in.
    pub fn state_document(&self, with_owner: bool) -> crate::oci::State {
        let status = self.status();
        let owner = if with_owner { owner_name(&self.dir) } else { String::new() };
        crate::oci::State {
            oci_version: self.record.config.oci_version.clone(),
            id: self.record.id.clone(),
            pid: if status == Status::Stopped { 0 } else { self.record.init_pid },
            status: status_text(&self.dir, status).to_string(),
            bundle: self.record.bundle.clone(),
            rootfs: self.record.rootfs.clone(),
            created: self.record.created.clone(),
            owner,
            annotations: self.record.config.annotations.clone(),
        }
    }
}

/// Replaces `path` atomically (temporary file + rename). No fsync: runc's state lives on
/// tmpfs and is worthless after a reboot anyway, and a sync costs milliseconds per start.
pub fn write_replace(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("f");
    let tmp = path.with_file_name(format!(".{name}.tmp{}", std::process::id()));
    std::fs::write(&tmp, data)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// The user name owning the state directory, from /etc/passwd (uid as text otherwise).
fn owner_name(dir: &Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(dir) else { return String::new() };
    let uid = meta.uid();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 2 && f[2] == uid.to_string()).then(|| f[0].to_string())
        })
        .unwrap_or_else(|| format!("#{uid}"))
}

/// Lays out rows the way Go's tabwriter does for runc (minwidth 12, padding 3; the last
/// cell of a row is not padded).
pub fn tabulate(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(|r| r.len()).max().unwrap_or(0);
    let mut widths = vec![0usize; columns];
    for r in rows {
        for (i, cell) in r.iter().enumerate().take(r.len().saturating_sub(1)) {
            widths[i] = widths[i].max((cell.chars().count() + 3).max(12));
        }
    }
    let mut out = String::new();
    for r in rows {
        for (i, cell) in r.iter().enumerate() {
            if i + 1 < r.len() {
                out.push_str(&format!("{cell:<w$}", w = widths[i]));
            } else {
                out.push_str(cell);
            }
        }
        out.push('\n');
    }
    out
}

/// `runc list`.
pub fn list(g: &Global, format: &str, quiet: bool) -> Result<()> {
    let mut containers = Vec::new();
    match std::fs::read_dir(&g.root) {
        Ok(entries) => {
            let mut names: Vec<String> = entries.filter_map(|e| e.ok()).filter(|e| e.path().is_dir()).filter_map(|e| e.file_name().into_string().ok()).collect();
            names.sort();
            for name in names {
                // A directory without state.json is a container being created or deleted.
                if let Ok(c) = Container::load(g, &name) {
                    containers.push(c.state_document(true));
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::new(format!("open {}: {}", g.root.display(), errno_text(&e)))),
    }
    let mut out = std::io::stdout().lock();
    if quiet {
        for c in &containers {
            let _ = writeln!(out, "{}", c.id);
        }
        return Ok(());
    }
    match format {
        "table" => {
            let mut rows = vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from).to_vec()];
            for c in &containers {
                rows.push(vec![c.id.clone(), c.pid.to_string(), c.status.clone(), c.bundle.clone(), c.created.clone(), c.owner.clone()]);
            }
            let _ = out.write_all(tabulate(&rows).as_bytes());
        }
        "json" => {
            // Go encodes an empty (nil) list as null.
            let text = if containers.is_empty() { "null".to_string() } else { serde_json::to_string(&containers).map_err(|e| Error::new(e.to_string()))? };
            let _ = writeln!(out, "{text}");
        }
        other => return Err(Error::new(format!("invalid format option: {other}"))),
    }
    Ok(())
}

/// Where the container's cgroup is recorded, in its state directory (`manage` writes it
/// before the cgroup is made).
const CGROUP_FILE: &str = "cgroup.json";

pub fn cgroup_file(dir: &Path) -> PathBuf {
    dir.join(CGROUP_FILE)
}

/// The cgroup saved for the container whose state directory is `dir`.
pub fn cgroup_of(dir: &Path) -> Option<Cgroup> {
    Cgroup::load(&cgroup_file(dir))
}

/// The status `state` and `list` show: `paused` while a live container is frozen.
pub fn status_text(dir: &Path, status: Status) -> &'static str {
    if status != Status::Stopped && cgroup_of(dir).is_some_and(|cg| cg.is_frozen()) {
        "paused"
    } else {
        status.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_go_tabwriter() {
        let rows = vec![
            ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from).to_vec(),
            ["t1", "13008", "created", "/tmp/tmp.c4CFGspJv3", "2026-11-23T11:50:17.499475719Z", "root"].map(String::from).to_vec(),
        ];
        assert_eq!(
            tabulate(&rows),
            "ID          PID         STATUS      BUNDLE                CREATED                          OWNER\n\
             t1          13008       created     /tmp/tmp.c4CFGspJv3   2026-11-23T11:50:17.499475719Z   root\n"
        );
    }

    #[test]
    fn ids_are_checked() {
        assert!(validate_id("abc-1.2_x+y").is_ok());
        assert!(validate_id("../x").is_err());
        assert!(validate_id("..").is_err());
        assert!(validate_id("").is_err());
    }

    #[test]
    fn own_stat_parses() {
        let pid = std::process::id() as i32;
        let (state, start) = proc_stat(pid).unwrap();
        assert!("RS".contains(state), "{state}");
        assert!(start > 0);
        assert_eq!(proc_stat(pid).unwrap().1, start, "the start time is stable");
        assert_eq!(proc_stat(i32::MAX), None);
    }
}
