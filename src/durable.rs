//! The steps by which the stores make their state durable (fsyncs, and the renames, unlinks
//! and directory creations between them), and a fault hook on them that simulates a power cut.
//!
//! Every durable write step of the stores goes through [`step`] (or [`fsync`], [`fsync_dir`],
//! [`syncfs`], [`write_file`], [`remove_dir_all`], which call it). With `DOCKBOX_FAULT_LOG=<file>` in dockerd's environment (read
//! once at start by [`init_from_env`] and taken out of the environment, so containerd and the
//! shims do not inherit it) each step is counted and logged to that file, and with
//! `DOCKBOX_FAULT_STEP=N` as well, the process SIGKILLs itself at step N, before doing it.
//! Without them a step is one relaxed atomic load.
//!
//! A kill keeps what the page cache holds; a power cut does not. The log also records every
//! fsync (the inode with its mtime and size) and syncfs (the time it began), and
//! [`power_cut`], run by the test on the data-root after the kill, drops the data of every
//! file changed since the daemon started that no later fsync or syncfs covered: it truncates
//! it to zero length, what ext4 (delayed allocation) shows for a new file whose data never
//! reached the disk. Directory operations (creates, renames, unlinks) are all kept: ext4 and
//! xfs commit them to their journal in order, so a cut keeps a prefix of them, which the kill
//! at each step enumerates. See ARCHITECTURE.md ("A power cut, simulated").

use std::collections::{HashMap, HashSet};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

/// The step to stop at; 0 while the hook is off, `u64::MAX` to count and log only.
static TARGET: AtomicU64 = AtomicU64::new(0);
static COUNT: AtomicU64 = AtomicU64::new(0);
static LOG: OnceLock<Mutex<std::fs::File>> = OnceLock::new();

pub const FAULT_LOG_ENV: &str = "DOCKBOX_FAULT_LOG";
pub const FAULT_STEP_ENV: &str = "DOCKBOX_FAULT_STEP";

/// Turns the hook on when dockerd's environment asks for it. Call before any other thread
/// exists (it edits the environment).
pub fn init_from_env() {
    let Some(log) = std::env::var_os(FAULT_LOG_ENV) else { return };
    let target = std::env::var(FAULT_STEP_ENV).ok().and_then(|s| s.parse::<u64>().ok()).filter(|&n| n > 0).unwrap_or(u64::MAX);
    // Taken out so that containerd and the shims, started with this environment, stay unhooked.
    std::env::remove_var(FAULT_LOG_ENV);
    std::env::remove_var(FAULT_STEP_ENV);
    match std::fs::OpenOptions::new().create(true).append(true).open(&log) {
        Ok(f) => {
            let _ = LOG.set(Mutex::new(f));
            TARGET.store(target, Ordering::SeqCst);
        }
        Err(e) => crate::log::error(&format!("{FAULT_LOG_ENV}: {e}")),
    }
}

fn on() -> bool {
    TARGET.load(Ordering::Relaxed) != 0
}

fn log_line(line: &str) {
    if let Some(log) = LOG.get() {
        let mut f = log.lock().unwrap_or_else(|e| e.into_inner());
        let _ = f.write_all(format!("{line}\n").as_bytes());
    }
}

/// A durable write step named `what` is about to happen.
#[inline]
pub fn step(what: &str) {
    if on() {
        counted_step(what);
    }
}

/// [`step`] naming the path it is about (spelled out only with the hook on).
#[inline]
pub fn step_at(what: &str, path: &Path) {
    if on() {
        counted_step(&format!("{what} {}", path.display()));
    }
}

#[cold]
fn counted_step(what: &str) {
    let n = COUNT.fetch_add(1, Ordering::SeqCst) + 1;
    log_line(&format!("step {n} {what}"));
    if n == TARGET.load(Ordering::SeqCst) {
        log_line(&format!("cut {n}"));
        // SAFETY: kill and getpid take plain integers; SIGKILL ends the process here.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
        // SIGKILL is not delivered later than the return to user space; never reached.
        std::process::abort();
    }
}

/// fsync(2) of an open file, as a step; with the hook on, recorded (inode, mtime, size).
pub fn fsync(f: &std::fs::File) -> io::Result<()> {
    step("fsync");
    f.sync_all()?;
    if on() {
        let m = f.metadata()?;
        log_line(&format!("fsync {} {} {} {} {}", m.dev(), m.ino(), m.mtime(), m.mtime_nsec(), m.size()));
    }
    Ok(())
}

/// Creates (or truncates) `path` with `data`, fsynced: steps `write` and `fsync`.
pub fn write_file(path: &Path, data: &[u8]) -> io::Result<()> {
    step_at("write", path);
    let mut f = std::fs::File::create(path)?;
    f.write_all(data)?;
    fsync(&f)
}

/// `std::fs::remove_dir_all` (step `remove`); with the hook on, a step before each directory
/// below is emptied, so that a cut can fall in the middle of a deletion, as a power cut can
/// (the unlinks are not fsynced).
pub fn remove_dir_all(path: &Path) -> io::Result<()> {
    if !on() {
        return std::fs::remove_dir_all(path);
    }
    step_at("remove", path);
    remove_tree_in_steps(path)
}

fn remove_tree_in_steps(path: &Path) -> io::Result<()> {
    if !std::fs::symlink_metadata(path)?.is_dir() {
        return std::fs::remove_file(path);
    }
    for e in std::fs::read_dir(path)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            step_at("remove", &e.path());
            remove_tree_in_steps(&e.path())?;
        } else {
            std::fs::remove_file(e.path())?;
        }
    }
    std::fs::remove_dir(path)
}

/// fsync(2) of a directory, making the entries made, renamed or removed in it durable.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    step("fsync-dir");
    std::fs::File::open(dir)?.sync_all()
}

/// syncfs(2) of the filesystem holding `f`; with the hook on, recorded (device, start time).
pub fn syncfs(f: &std::fs::File) -> io::Result<()> {
    step("syncfs");
    let began = std::time::SystemTime::now();
    nix::unistd::syncfs(std::os::fd::AsRawFd::as_raw_fd(f)).map_err(io::Error::from)?;
    if on() {
        let since = began.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        log_line(&format!("syncfs {} {} {}", f.metadata()?.dev(), since.as_secs(), since.subsec_nanos()));
    }
    Ok(())
}

/// What a fault log says was made durable.
#[derive(Default, Debug)]
pub struct FaultLog {
    /// Steps logged, in order (`step N what`).
    pub steps: Vec<String>,
    /// Whether the process stopped at a step.
    pub cut: Option<u64>,
    fsynced: HashSet<(u64, u64, i64, i64, u64)>,
    /// Device → the latest start of a syncfs, in nanoseconds since the epoch.
    syncfs: HashMap<u64, i128>,
}

impl FaultLog {
    pub fn read(path: &Path) -> io::Result<FaultLog> {
        let mut log = FaultLog::default();
        for line in std::fs::read_to_string(path)?.lines() {
            let mut words = line.split(' ');
            let num = |w: Option<&str>| w.and_then(|w| w.parse::<i128>().ok()).unwrap_or(-1);
            match words.next() {
                Some("step") => log.steps.push(line.splitn(3, ' ').nth(2).unwrap_or_default().to_string()),
                Some("cut") => log.cut = words.next().and_then(|n| n.parse().ok()),
                Some("fsync") => {
                    let v: Vec<i128> = (0..5).map(|_| num(words.next())).collect();
                    log.fsynced.insert((v[0] as u64, v[1] as u64, v[2] as i64, v[3] as i64, v[4] as u64));
                }
                Some("syncfs") => {
                    let (dev, secs, nanos) = (num(words.next()), num(words.next()), num(words.next()));
                    let at = secs * 1_000_000_000 + nanos;
                    let e = log.syncfs.entry(dev as u64).or_insert(at);
                    *e = (*e).max(at);
                }
                _ => {}
            }
        }
        Ok(log)
    }

    /// Whether the data of the file `m` describes reached the disk.
    fn covers(&self, m: &std::fs::Metadata) -> bool {
        if self.fsynced.contains(&(m.dev(), m.ino(), m.mtime(), m.mtime_nsec(), m.size())) {
            return true;
        }
        let changed = m.ctime() as i128 * 1_000_000_000 + m.ctime_nsec() as i128;
        self.syncfs.get(&m.dev()).is_some_and(|&at| changed < at)
    }
}

/// Drops, under `root`, the data a power cut loses: every regular file whose inode changed
/// at or after `since` (ctime: a layer's files carry old mtimes from their archive) and whose
/// data no fsync or syncfs in `log` covered is truncated to zero length. Run after every
/// process that wrote there is dead and nothing is mounted below `root`. Returns the files.
pub fn power_cut(root: &Path, log: &FaultLog, since: std::time::SystemTime) -> io::Result<Vec<PathBuf>> {
    let since = since.duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos() as i128;
    let mut lost = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir)?.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() {
                stack.push(e.path());
            } else if m.is_file() && m.size() > 0 && m.ctime() as i128 * 1_000_000_000 + m.ctime_nsec() as i128 >= since && !log.covers(&m) {
                std::fs::OpenOptions::new().write(true).open(e.path())?.set_len(0)?;
                lost.push(e.path());
            }
        }
    }
    Ok(lost)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_power_cut_drops_the_data_of_files_no_fsync_covered() {
        let root = std::env::temp_dir().join(format!("dockbox-durable-{}-{}", std::process::id(), &crate::ids::new_id()[..8]));
        std::fs::create_dir_all(root.join("d")).unwrap();
        std::fs::write(root.join("old"), b"before").unwrap();
        // File times come from a clock that may lag this one by a tick.
        std::thread::sleep(std::time::Duration::from_millis(20));
        let since = std::time::SystemTime::now();
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(root.join("d/synced"), b"kept").unwrap();
        std::fs::write(root.join("d/unsynced"), b"lost").unwrap();
        std::fs::write(root.join("d/rewritten"), b"first").unwrap();
        let mut log = String::new();
        for name in ["d/synced", "d/rewritten"] {
            let f = std::fs::File::open(root.join(name)).unwrap();
            f.sync_all().unwrap();
            let m = f.metadata().unwrap();
            log += &format!("step {} fsync\nfsync {} {} {} {} {}\n", log.lines().count() + 1, m.dev(), m.ino(), m.mtime(), m.mtime_nsec(), m.size());
        }
        // Changed after its fsync: that change is not covered.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(root.join("d/rewritten"), b"second!").unwrap();
        log += "cut 3\n";
        std::fs::write(root.join("fault.log"), &log).unwrap();
        let parsed = FaultLog::read(&root.join("fault.log")).unwrap();
        assert_eq!(parsed.cut, Some(3));
        assert_eq!(parsed.steps, ["fsync", "fsync"]);
        std::fs::remove_file(root.join("fault.log")).unwrap();
        let mut lost = power_cut(&root, &parsed, since).unwrap();
        lost.sort();
        assert_eq!(lost, [root.join("d/rewritten"), root.join("d/unsynced")]);
        assert_eq!(std::fs::read(root.join("d/synced")).unwrap(), b"kept");
        assert_eq!(std::fs::read(root.join("old")).unwrap(), b"before");
        assert_eq!(std::fs::read(root.join("d/unsynced")).unwrap(), b"");

        // A syncfs covers what changed before it began.
        std::fs::write(root.join("d/unsynced"), b"again").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let began = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
        let dev = std::fs::metadata(&root).unwrap().dev();
        std::fs::write(root.join("fault.log"), format!("syncfs {dev} {} {}\n", began.as_secs(), began.subsec_nanos())).unwrap();
        let parsed = FaultLog::read(&root.join("fault.log")).unwrap();
        std::fs::remove_file(root.join("fault.log")).unwrap();
        assert_eq!(power_cut(&root, &parsed, since).unwrap(), Vec::<PathBuf>::new());
        assert_eq!(std::fs::read(root.join("d/unsynced")).unwrap(), b"again");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn the_hook_is_off_without_its_environment() {
        // No test sets DOCKBOX_FAULT_LOG: a step neither counts nor stops.
        step("nothing");
        assert!(!on());
        assert_eq!(COUNT.load(Ordering::SeqCst), 0);
    }
}
