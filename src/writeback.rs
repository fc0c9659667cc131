//! Write-behind for files written in bulk (layer extraction): each file's data is handed to
//! the disk as it is written (`sync_file_range(SYNC_FILE_RANGE_WRITE)`, which starts
//! writeback without waiting), and once at most [`WriteBehind::budget`] bytes of written data
//! are still held, the oldest is waited for and dropped from the page cache
//! (`posix_fadvise(POSIX_FADV_DONTNEED)`). So a pull of any size leaves at most the budget of
//! its files cached, never a burst of dirty pages for the kernel to flush at once, and the
//! final `syncfs` before a layer is committed finds almost nothing left to write.
//!
//! The waits are `sync_file_range` ones: data only, no journal commit per file (the one
//! `syncfs` per layer does that), so they cost what the disk's bandwidth costs and no more.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;

/// How much of the written files may stay in the page cache (the limit is 8 MiB).
pub const DEFAULT_BUDGET: u64 = 8 << 20;
/// Writeback is started after each chunk of this size of a large file.
const CHUNK: u64 = 1 << 20;

/// A written range of one file whose pages are still cached.
struct Held {
    file: File,
    offset: u64,
    len: u64,
}

/// Tracks the files written and keeps what they hold in the page cache under a budget.
pub struct WriteBehind {
    held: VecDeque<Held>,
    held_bytes: u64,
    budget: u64,
}

impl Default for WriteBehind {
    fn default() -> Self {
        WriteBehind::new(DEFAULT_BUDGET)
    }
}

fn start_writeback(file: &File, offset: u64, len: u64) {
    // SAFETY: sync_file_range only reads the descriptor and three integers; an error (an fs
    // without it) leaves the data to the normal writeback, which is what happens without us.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset as libc::off64_t, len as libc::off64_t, libc::SYNC_FILE_RANGE_WRITE);
    }
}

fn wait_and_drop(h: &Held) {
    let flags = libc::SYNC_FILE_RANGE_WAIT_BEFORE | libc::SYNC_FILE_RANGE_WRITE | libc::SYNC_FILE_RANGE_WAIT_AFTER;
    // SAFETY: as above; the advice is a hint on the descriptor's own pages.
    unsafe {
        libc::sync_file_range(h.file.as_raw_fd(), h.offset as libc::off64_t, h.len as libc::off64_t, flags);
        libc::posix_fadvise(h.file.as_raw_fd(), h.offset as libc::off_t, h.len as libc::off_t, libc::POSIX_FADV_DONTNEED);
    }
}

impl WriteBehind {
    pub fn new(budget: u64) -> WriteBehind {
        WriteBehind { held: VecDeque::new(), held_bytes: 0, budget }
    }

    /// Copies `from` into `file` (opened for writing, at offset 0), with writeback started as
    /// it goes; `file` is kept open until its pages are dropped. Returns the bytes copied.
    pub fn copy_into(&mut self, from: &mut dyn Read, mut file: File) -> io::Result<u64> {
        let mut buf = vec![0u8; 128 << 10];
        let (mut written, mut started) = (0u64, 0u64);
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            file.write_all(&buf[..n])?;
            written += n as u64;
            if written - started >= CHUNK {
                self.hold(file.try_clone()?, started, written - started);
                started = written;
            }
        }
        if written > started {
            self.hold(file, started, written - started);
        }
        Ok(written)
    }

    fn hold(&mut self, file: File, offset: u64, len: u64) {
        start_writeback(&file, offset, len);
        self.held.push_back(Held { file, offset, len });
        self.held_bytes += len;
        while self.held_bytes > self.budget {
            let Some(h) = self.held.pop_front() else { break };
            wait_and_drop(&h);
            self.held_bytes -= h.len;
        }
    }

    /// Waits for everything still held and drops it from the page cache.
    pub fn finish(&mut self) {
        while let Some(h) = self.held.pop_front() {
            wait_and_drop(&h);
        }
        self.held_bytes = 0;
    }
}

impl Drop for WriteBehind {
    fn drop(&mut self) {
        // Unfinished (an error): the files go with their staging directory, unwaited.
        self.held.clear();
    }
}

/// How many bytes of `file` are in the page cache (mincore over a mapping of it).
pub fn cached_bytes(file: &File) -> io::Result<u64> {
    let len = file.metadata()?.len() as usize;
    if len == 0 {
        return Ok(0);
    }
    // SAFETY: sysconf takes an integer.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as usize;
    // SAFETY: a fresh shared read-only mapping of the whole file; unmapped below.
    let addr = unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_SHARED, file.as_raw_fd(), 0) };
    if addr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    let mut vec = vec![0u8; len.div_ceil(page)];
    // SAFETY: addr..addr+len is the mapping made above; vec has one byte per page of it.
    let rc = unsafe { libc::mincore(addr, len, vec.as_mut_ptr()) };
    let err = io::Error::last_os_error();
    // SAFETY: the mapping made above, not used after this.
    unsafe { libc::munmap(addr, len) };
    if rc != 0 {
        return Err(err);
    }
    Ok(vec.iter().filter(|b| **b & 1 == 1).count() as u64 * page as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_files_leave_the_page_cache_beyond_the_budget() {
        let dir = std::env::temp_dir().join(format!("dbx-writeback-{}", &crate::ids::new_id()[..12]));
        std::fs::create_dir_all(&dir).unwrap();
        let mut wb = WriteBehind::new(2 << 20);
        let data = vec![7u8; 3 << 20];
        for i in 0..4 {
            let f = File::create(dir.join(i.to_string())).unwrap();
            assert_eq!(wb.copy_into(&mut &data[..], f).unwrap(), data.len() as u64);
        }
        // The older files are already out of the cache; all are after finish.
        let first = cached_bytes(&File::open(dir.join("0")).unwrap()).unwrap();
        wb.finish();
        let cached: u64 = (0..4).map(|i| cached_bytes(&File::open(dir.join(i.to_string())).unwrap()).unwrap()).sum();
        let content_ok = std::fs::read(dir.join("3")).unwrap() == data;
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(content_ok);
        // tmpfs keeps pages whatever the advice: only a disk-backed /tmp can show it.
        let tmpfs = nix::sys::statfs::statfs(&std::env::temp_dir()).map(|s| s.filesystem_type() == nix::sys::statfs::TMPFS_MAGIC).unwrap_or(true);
        if !tmpfs {
            assert_eq!(first, 0, "the first file was dropped once the budget was passed");
            assert!(cached < 1 << 20, "{cached} bytes still cached");
        }
    }
}
