//! The build context as `POST /build` receives it: a tar (plain, gzip, zstd, bzip2 or xz; the
//! last two through the `bzip2` and `xz` programs, as Docker runs `xz`), checked entry by entry (no `..` leaving it, no absolute names) and
//! extracted safely into a private directory; the Dockerfile found inside or sent beside it,
//! and `.dockerignore` applied to the Dockerfile and itself as Docker's daemon does.

use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// An extracted build context; its directory goes when this is dropped.
pub struct Context {
    pub dir: PathBuf,
    /// The tarsum of every entry of the tar it came from (`None` for a git checkout, whose
    /// files are hashed from disk).
    pub sums: Option<super::copy::ContextSums>,
}

impl Drop for Context {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The compression of a context, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Bzip2,
    Xz,
    Zstd,
}

pub fn detect(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b, 0x08]) {
        Compression::Gzip
    } else if head.starts_with(b"BZh") {
        Compression::Bzip2
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Compression::Xz
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// The plain tar stream of a context body.
pub fn decompressed(body: Box<dyn Read + Send>) -> Result<Box<dyn Read + Send>, String> {
    let mut r = BufReader::with_capacity(64 << 10, body);
    let head = r.fill_buf().map_err(|e| e.to_string())?.to_vec();
    match detect(&head) {
        Compression::None => Ok(Box::new(r)),
        Compression::Gzip => Ok(Box::new(flate2::read::MultiGzDecoder::new(r))),
        Compression::Zstd => Ok(Box::new(ruzstd::decoding::StreamingDecoder::new(r).map_err(|e| e.to_string())?)),
        // Docker decompresses xz by running `xz -d -c -q`; bzip2 goes the same way here (no
        // decoder crate for a format contexts rarely use; busybox and every distribution
        // have the program).
        Compression::Bzip2 => Ok(Box::new(ProgramDecoder::spawn("bzip2", Box::new(r))?)),
        Compression::Xz => Ok(Box::new(ProgramDecoder::spawn("xz", Box::new(r))?)),
    }
}

/// The output of `<program> -d -c -q` fed with a stream on a thread of its own; the end of the
/// output is an error unless the program exited 0 (a truncated or corrupt stream).
struct ProgramDecoder {
    program: &'static str,
    child: std::process::Child,
    stdout: std::process::ChildStdout,
    feeder: Option<std::thread::JoinHandle<()>>,
    finished: bool,
}

impl ProgramDecoder {
    fn spawn(program: &'static str, mut input: Box<dyn Read + Send>) -> Result<ProgramDecoder, String> {
        use std::process::{Command, Stdio};
        let mut child = Command::new(program)
            .args(["-d", "-c", "-q"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot decompress the {program} build context: running {program}: {e}"))?;
        let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("cannot decompress the {program} build context: no pipes to {program}"));
        };
        // A write error means the program stopped reading (it failed, or we dropped it).
        let feeder = std::thread::Builder::new()
            .name(format!("{program}-input"))
            .stack_size(64 << 10)
            .spawn(move || {
                let _ = io::copy(&mut input, &mut stdin);
            })
            .map_err(|e| e.to_string())?;
        Ok(ProgramDecoder { program, child, stdout, feeder: Some(feeder), finished: false })
    }
}

impl Read for ProgramDecoder {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.finished {
            return Ok(0);
        }
        let n = self.stdout.read(buf)?;
        if n > 0 || buf.is_empty() {
            return Ok(n);
        }
        self.finished = true;
        if let Some(f) = self.feeder.take() {
            let _ = f.join();
        }
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        let status = self.child.wait()?;
        if !status.success() {
            let err = err.trim();
            let err = if err.is_empty() { status.to_string() } else { err.to_string() };
            return Err(io::Error::other(format!("{} -d: {err}", self.program)));
        }
        Ok(0)
    }
}

impl Drop for ProgramDecoder {
    fn drop(&mut self) {
        if !self.finished {
            // The feeder is left to end on its own (its next write fails): it may be
            // waiting on a client that sends nothing more.
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Whether a tar entry name stays inside the context: relative, and no `..` climbing above
/// its start.
pub fn name_inside(name: &[u8]) -> bool {
    if name.first() == Some(&b'/') {
        return false;
    }
    let mut depth: i64 = 0;
    for part in name.split(|b| *b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => depth += 1,
        }
    }
    true
}

/// Writes the plain tar to `dir/context.tar` while checking every entry name (and hard
/// link target), then extracts it into `dir/root` with the safe extractor.
pub fn extract(tar: Box<dyn Read + Send>, dir: &Path) -> Result<Context, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot make the build directory: {e}"))?;
    let mut ctx = Context { dir: dir.to_path_buf(), sums: None };
    let tar_path = dir.join("context.tar");
    {
        let mut f = std::fs::File::create(&tar_path).map_err(|e| e.to_string())?;
        let n = io::copy(&mut { tar }, &mut f).map_err(|e| format!("error reading the build context: {e}"))?;
        // Docker's CLI sends a context whose Dockerfile it added (`-f -`, `-f ../x`) without
        // the last entry's padding or the end-of-archive blocks, which Go's tar reader takes:
        // so do we, by adding them.
        let pad = (512 - n % 512) % 512;
        io::Write::write_all(&mut f, &vec![0u8; pad as usize + 1024]).map_err(|e| e.to_string())?;
    }
    let root = dir.join("root");
    std::fs::create_dir(&root).map_err(|e| e.to_string())?;
    let f = std::fs::File::open(&tar_path).map_err(|e| e.to_string())?;
    let mut archive = tar::Archive::new(f);
    let mut sums = super::copy::ContextSums::new();
    for entry in archive.entries().map_err(|e| format!("error reading the build context: {e}"))? {
        let mut entry = entry.map_err(|e| format!("error reading the build context: {e}"))?;
        let name = entry.path_bytes().into_owned();
        let sum = entry_tarsum(&mut entry).map_err(|e| format!("error reading the build context: {e}"))?;
        sums.entry(tarsum_key(&name)).or_insert(sum);
        if !name_inside(&name) {
            return Err(format!("invalid build context: tar entry {:?} is outside the build context", String::from_utf8_lossy(&name)));
        }
        if let Some(link) = entry.link_name_bytes().map(|l| l.into_owned()) {
            if entry.header().entry_type().is_hard_link() && !name_inside(&link) {
                return Err(format!("invalid build context: hard link {:?} points outside the build context", String::from_utf8_lossy(&name)));
            }
        }
    }
    ctx.sums = Some(sums);
    let f = std::fs::File::open(&tar_path).map_err(|e| e.to_string())?;
    crate::archive::extract_layer(f, &root, crate::archive::Whiteouts::Keep).map_err(|e| format!("error extracting the build context: {e}"))?;
    let _ = std::fs::remove_file(&tar_path);
    Ok(ctx)
}

/// The name a tarsum is kept under, as moby's `path.Join(".", path.Join("/", name))`: cleaned,
/// relative, `.` for the root.
fn tarsum_key(name: &[u8]) -> String {
    let name = String::from_utf8_lossy(name);
    let mut parts: Vec<&str> = Vec::new();
    for p in name.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    }
}

/// The tarsum (version 1) of one entry as moby's archive context computes it while reading
/// the context: its header as Go's tar reader gives it (user and group names left out,
/// PAX uid/gid/xattrs applied, an old-style regular type `\0` read as `0`), then its data.
fn entry_tarsum<R: Read>(entry: &mut tar::Entry<R>) -> io::Result<String> {
    use sha2::Digest as _;
    let header = entry.header().clone();
    let name = entry.path_bytes().into_owned();
    let link = entry.link_name_bytes().map(|l| l.into_owned()).unwrap_or_default();
    let (mut uid, mut gid) = (header.uid().unwrap_or(0), header.gid().unwrap_or(0));
    let mut xattrs = Vec::new();
    if let Ok(Some(pax)) = entry.pax_extensions() {
        for ext in pax.flatten() {
            let Ok(key) = ext.key() else { continue };
            match key {
                "uid" => uid = ext.value().ok().and_then(|v| v.parse().ok()).unwrap_or(uid),
                "gid" => gid = ext.value().ok().and_then(|v| v.parse().ok()).unwrap_or(gid),
                k if k.starts_with("SCHILY.xattr.") => xattrs.push((k["SCHILY.xattr.".len()..].to_string(), ext.value_bytes().to_vec())),
                _ => {}
            }
        }
    }
    let mut typeflag = header.as_bytes()[156];
    if typeflag == 0 {
        typeflag = if name.ends_with(b"/") { b'5' } else { b'0' };
    }
    let fields = super::copy::TarsumHeader {
        name: &name,
        mode: header.mode().map(u64::from).unwrap_or(0),
        uid,
        gid,
        size: entry.size(),
        typeflag,
        linkname: &link,
        uname: b"",
        gname: b"",
        devmajor: header.device_major().ok().flatten().map(u64::from).unwrap_or(0),
        devminor: header.device_minor().ok().flatten().map(u64::from).unwrap_or(0),
        xattrs,
    };
    let mut hasher = sha2::Sha256::new();
    fields.write(&mut hasher);
    io::copy(entry, &mut hasher)?;
    Ok(format!("{:x}", hasher.finalize()))
}

impl Context {
    pub fn root(&self) -> PathBuf {
        self.dir.join("root")
    }

    /// Reads the Dockerfile named `name` (default `Dockerfile`, else `dockerfile`), inside the
    /// context; a name with `..` leaving it is Docker's refusal.
    pub fn dockerfile(&self, name: &str) -> Result<(String, String), String> {
        let shown = if name.is_empty() { "Dockerfile" } else { name };
        if !name_inside(shown.as_bytes()) {
            return Err(format!("Forbidden path outside the build context: {shown} ()"));
        }
        let root = self.root();
        let resolved = resolve_in(&root, shown.trim_start_matches("./")).map_err(|_| format!("Forbidden path outside the build context: {shown} ()"))?;
        match std::fs::read(&resolved) {
            Ok(b) => Ok((shown.to_string(), String::from_utf8_lossy(&b).into_owned())),
            Err(_) if name.is_empty() => match std::fs::read(root.join("dockerfile")) {
                Ok(b) => Ok(("dockerfile".into(), String::from_utf8_lossy(&b).into_owned())),
                Err(_) => Err(format!("Cannot locate specified Dockerfile: {shown}")),
            },
            Err(_) => Err(format!("Cannot locate specified Dockerfile: {shown}")),
        }
    }

    /// Docker's daemon-side use of `.dockerignore`: when it names `.dockerignore` or the
    /// Dockerfile, those are taken out of the context (the client left the other excluded
    /// files out already).
    pub fn apply_ignore_file(&self, dockerfile: &str) -> Result<(), String> {
        let root = self.root();
        let Ok(text) = std::fs::read_to_string(root.join(".dockerignore")) else { return Ok(()) };
        let patterns = crate::dockerfile::ignore::read_ignore_file(&text);
        let matcher = crate::dockerfile::ignore::PatternMatcher::new(&patterns).map_err(|e| e.0)?;
        for name in [".dockerignore", dockerfile] {
            let clean = crate::dockerfile::ignore::clean_path(name);
            if matcher.matches_or_parent_matches(&clean) {
                let _ = std::fs::remove_file(root.join(&clean));
            }
        }
        Ok(())
    }
}

/// What [`resolve_below`] does with a path that would leave the root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// An error: the build context, where such a path is "outside the build context".
    Refuse,
    /// Kept inside, as Docker's FollowSymlinkInScope does in an image's root: an absolute
    /// link restarts at the root and `..` cannot climb above it.
    Clamp,
}

/// Resolves `rel` below `root` following symlinks as if `root` were `/`, a path that would
/// leave the root treated as `escape` says. Returns the host path.
pub fn resolve_below(root: &Path, rel: &str, escape: Escape) -> Result<PathBuf, String> {
    let outside = || format!("{rel} is outside the root");
    let mut parts: Vec<String> = Vec::new();
    let mut todo: Vec<String> = rel.split('/').rev().filter(|p| !p.is_empty() && *p != ".").map(String::from).collect();
    let mut hops = 0;
    while let Some(part) = todo.pop() {
        if part == ".." {
            if parts.pop().is_none() && escape == Escape::Refuse {
                return Err(outside());
            }
            continue;
        }
        let candidate = root.join(parts.join("/")).join(&part);
        match std::fs::symlink_metadata(&candidate) {
            Ok(m) if m.file_type().is_symlink() => {
                hops += 1;
                if hops > 255 {
                    return Err(format!("too many links in {rel}"));
                }
                let target = std::fs::read_link(&candidate).map_err(|e| e.to_string())?.to_string_lossy().into_owned();
                if target.starts_with('/') {
                    match escape {
                        Escape::Refuse => return Err(outside()),
                        Escape::Clamp => parts.clear(),
                    }
                }
                for t in target.split('/').rev().filter(|p| !p.is_empty() && *p != ".") {
                    todo.push(t.to_string());
                }
            }
            _ => parts.push(part),
        }
    }
    Ok(root.join(parts.join("/")))
}

/// [`resolve_below`] refusing a path that leaves the build context.
pub fn resolve_in(root: &Path, rel: &str) -> Result<PathBuf, String> {
    resolve_below(root, rel, Escape::Refuse)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_inside_and_outside() {
        assert!(name_inside(b"a/b"));
        assert!(name_inside(b"./a/../b"));
        assert!(!name_inside(b"../x"));
        assert!(!name_inside(b"a/../../x"));
        assert!(!name_inside(b"/etc/passwd"));
    }

    #[test]
    fn compression_by_magic() {
        assert_eq!(detect(&[0x1f, 0x8b, 0x08, 0]), Compression::Gzip);
        assert_eq!(detect(b"BZh91AY"), Compression::Bzip2);
        assert_eq!(detect(&[0xfd, b'7', b'z', b'X', b'Z', 0]), Compression::Xz);
        assert_eq!(detect(b"Dockerfile\0\0"), Compression::None);
    }

    /// Compresses `data` with `program` (the test's own use of the tool the decoder runs).
    fn compressed_with(program: &str, data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut child = std::process::Command::new(program).arg("-c").stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let data = data.to_vec();
        let feeder = std::thread::spawn(move || stdin.write_all(&data).unwrap());
        let out = child.wait_with_output().unwrap();
        feeder.join().unwrap();
        assert!(out.status.success());
        out.stdout
    }

    #[test]
    fn bzip2_and_xz_contexts_decompress_and_a_corrupt_one_fails() {
        let data: Vec<u8> = (0..300_000u32).flat_map(|i| (i % 251).to_le_bytes()).collect();
        for program in ["bzip2", "xz"] {
            let packed = compressed_with(program, &data);
            assert_ne!(detect(&packed), Compression::None, "{program}");
            let mut out = Vec::new();
            decompressed(Box::new(io::Cursor::new(packed.clone()))).unwrap().read_to_end(&mut out).unwrap();
            assert!(out == data, "{program}: the decompressed stream differs");
            let truncated = packed[..packed.len() / 2].to_vec();
            let mut out = Vec::new();
            let err = decompressed(Box::new(io::Cursor::new(truncated))).unwrap().read_to_end(&mut out).unwrap_err();
            assert!(err.to_string().contains(program), "{program}: {err}");
        }
    }

    #[test]
    fn symlinks_resolve_inside_or_fail() {
        let d = std::env::temp_dir().join(format!("dbx-ctx-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("a")).unwrap();
        std::fs::write(d.join("a/f"), "x").unwrap();
        std::os::unix::fs::symlink("a", d.join("l")).unwrap();
        std::os::unix::fs::symlink("../..", d.join("a/up")).unwrap();
        std::os::unix::fs::symlink("/etc", d.join("abs")).unwrap();
        assert_eq!(resolve_in(&d, "l/f").unwrap(), d.join("a/f"));
        assert!(resolve_in(&d, "a/up/x").is_err());
        assert!(resolve_in(&d, "abs/passwd").is_err());
        assert!(resolve_in(&d, "../x").is_err());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
