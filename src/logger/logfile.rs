//! A log file with Docker's rotation (loggerutils.LogFile): when the file has reached
//! `max-size`, `log.N` become `log.N+1` (the oldest dropped), the file becomes `log.1`, and a
//! new file starts; with `compress`, `log.1` is then gzipped to `log.1.gz` (its header's extra
//! field holds `{"lastTime":...}`, as Docker's) on a thread of its own while it runs (2 MiB of stack: the deflater's frames). With one file the
//! full file is simply started over.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::SystemTime;

pub struct LogFile {
    path: PathBuf,
    file: File,
    size: u64,
    /// `max-size`; `None`: the file grows without bound.
    capacity: Option<u64>,
    max_files: u32,
    compress: bool,
    last_time: SystemTime,
    /// The compression of the last rotation, waited for before the next one.
    compressing: Option<JoinHandle<()>>,
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).mode(0o640).custom_flags(libc::O_CLOEXEC).open(path)
}

fn numbered(path: &Path, i: u32, gz: bool) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{i}{}", if gz { ".gz" } else { "" }));
    PathBuf::from(s)
}

impl LogFile {
    /// Opens (appending to) the current file; its size so far counts toward `capacity`.
    pub fn open(path: &Path, capacity: Option<u64>, max_files: u32, compress: bool) -> io::Result<LogFile> {
        let file = open_append(path)?;
        let size = file.metadata()?.len();
        Ok(LogFile { path: path.to_path_buf(), file, size, capacity, max_files: max_files.max(1), compress: compress && max_files > 1, last_time: SystemTime::now(), compressing: None })
    }

    /// Appends one encoded entry, rotating first when the file is full. A failed write (a
    /// full disk) leaves no torn entry behind: the file is cut back to its last whole entry.
    pub fn write_entry(&mut self, time: SystemTime, entry: &[u8]) -> io::Result<()> {
        if self.capacity.is_some_and(|c| self.size >= c) {
            self.rotate()?;
        }
        let mut done = 0;
        while done < entry.len() {
            match self.file.write(&entry[done..]) {
                Ok(0) => {
                    let _ = self.file.set_len(self.size);
                    return Err(io::Error::new(io::ErrorKind::WriteZero, "error writing log entry"));
                }
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    if done > 0 {
                        let _ = self.file.set_len(self.size);
                    }
                    return Err(io::Error::new(e.kind(), format!("error writing log entry: {e}")));
                }
            }
        }
        self.size += entry.len() as u64;
        self.last_time = time;
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        if let Some(t) = self.compressing.take() {
            let _ = t.join();
        }
        if self.max_files < 2 {
            let _ = std::fs::remove_file(&self.path);
        } else {
            let gz = self.compress;
            let _ = std::fs::remove_file(numbered(&self.path, self.max_files - 1, gz));
            for i in (2..self.max_files).rev() {
                match std::fs::rename(numbered(&self.path, i - 1, gz), numbered(&self.path, i, gz)) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(io::Error::new(e.kind(), format!("error rotating log file: {e}"))),
                    _ => {}
                }
            }
            std::fs::rename(&self.path, numbered(&self.path, 1, false))?;
        }
        self.file = open_append(&self.path)?;
        self.file.set_len(0)?;
        self.size = 0;
        if self.compress {
            let (plain, last) = (numbered(&self.path, 1, false), self.last_time);
            self.compressing = std::thread::Builder::new().name("log-gzip".into()).stack_size(2 << 20).spawn(move || {
                if let Err(e) = compress_file(&plain, last) {
                    crate::log::line(crate::log::Level::Error, "Error compressing log file after rotation", &[("file", &plain.display().to_string()), ("error", &e.to_string())]);
                }
            }).ok();
        }
        Ok(())
    }
}

impl Drop for LogFile {
    fn drop(&mut self) {
        if let Some(t) = self.compressing.take() {
            let _ = t.join();
        }
    }
}

/// `log.1` to `log.1.gz`, then `log.1` removed; on failure the partial `.gz` goes.
fn compress_file(plain: &Path, last_time: SystemTime) -> io::Result<()> {
    let gz_path = PathBuf::from(format!("{}.gz", plain.display()));
    let result = (|| -> io::Result<()> {
        let mut src = File::open(plain)?;
        let out = OpenOptions::new().create(true).write(true).truncate(true).mode(0o640).open(&gz_path)?;
        let extra = serde_json::to_vec(&serde_json::json!({"lastTime": crate::sys::rfc3339_nanos(last_time)})).map_err(io::Error::other)?;
        let mut enc = flate2::GzBuilder::new().extra(extra).write(out, flate2::Compression::default());
        io::copy(&mut src, &mut enc)?;
        enc.finish()?.sync_all()
    })();
    match result {
        Ok(()) => std::fs::remove_file(plain),
        Err(e) => {
            let _ = std::fs::remove_file(&gz_path);
            Err(e)
        }
    }
}

/// The files of a log, oldest first: `log.N[.gz]` down to `log.1[.gz]`, then `log`. A
/// rotated file is read plain while its compression is under way.
pub fn files_oldest_first(path: &Path) -> Vec<PathBuf> {
    let mut rotated = Vec::new();
    for i in 1..10_000 {
        let plain = numbered(path, i, false);
        let gz = numbered(path, i, true);
        if plain.exists() {
            rotated.push(plain);
        } else if gz.exists() {
            rotated.push(gz);
        } else {
            break;
        }
    }
    rotated.reverse();
    rotated.push(path.to_path_buf());
    rotated
}

/// A log file's bytes, decompressed when it is a `.gz`.
pub fn read_whole(path: &Path) -> io::Result<Vec<u8>> {
    let mut data = Vec::new();
    let f = File::open(path)?;
    if path.extension().is_some_and(|e| e == "gz") {
        flate2::read::GzDecoder::new(f).read_to_end(&mut data)?;
    } else {
        io::BufReader::new(f).read_to_end(&mut data)?;
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_and_compresses_as_docker() {
        let dir = std::env::temp_dir().join(format!("dbx-logfile-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c-json.log");
        let mut f = LogFile::open(&path, Some(10), 3, true).unwrap();
        for i in 0..5 {
            f.write_entry(SystemTime::now(), format!("entry{i:04}\n").as_bytes()).unwrap();
        }
        drop(f);
        let files = files_oldest_first(&path);
        let names: Vec<String> = files.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(names, ["c-json.log.2.gz", "c-json.log.1.gz", "c-json.log"]);
        let text: Vec<u8> = files.iter().flat_map(|p| read_whole(p).unwrap()).collect();
        assert_eq!(String::from_utf8(text).unwrap(), "entry0002\nentry0003\nentry0004\n");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
