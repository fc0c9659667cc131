//! `docker cp`: copies between a container (the archive routes) and the local filesystem,
//! with the real CLI's rules for where things land (go-archive's CopyInfo logic: the
//! destination's existence and kind decide the directory extracted into and the name the
//! copied entry takes) and its messages.

use super::api::seg;
use super::flags::{flag, Kind, Parsed};
use super::{Args, Command, Ctx, Failure};
use crate::http::client::request_streaming;
use serde_json::Value;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub const COMMANDS: &[Command] = &[Command {
    name: "cp",
    usage: "docker cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tdocker cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
    short: "Copy files/folders between a container and the local filesystem",
    args: Args::Exact(2),
    interspersed: true,
    flags: &[
        flag("archive", Some('a'), Kind::Bool, "Archive mode (copy all uid/gid information)"),
        flag("follow-link", Some('L'), Kind::Bool, "Always follow symbol link in SRC_PATH"),
        flag("quiet", Some('q'), Kind::Bool, "Suppress progress output during copy. Progress output is automatically suppressed if no terminal is attached"),
    ],
    run: cp_cmd,
}];

const GO_MODE_DIR: u32 = 1 << 31;
const GO_MODE_SYMLINK: u32 = 1 << 27;
/// Go's ModeType without ModeDir and ModeSymlink: devices, pipes, sockets, irregular files.
const GO_MODE_SPECIAL: u32 = (1 << 26) | (1 << 25) | (1 << 24) | (1 << 21) | (1 << 19);

/// `CONTAINER:PATH` or a local path (absolute, `./x:y`, or without a colon).
fn split_arg(arg: &str) -> (Option<&str>, &str) {
    if arg.starts_with('/') {
        return (None, arg);
    }
    match arg.split_once(':') {
        Some((c, p)) if !c.starts_with('.') => (Some(c), p),
        _ => (None, arg),
    }
}

fn fail(message: impl Into<String>) -> Failure {
    Failure::new(message, 1)
}

fn cp_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    let (src, dst) = (&p.args[0], &p.args[1]);
    if src.is_empty() {
        return Err(fail("source can not be empty"));
    }
    if dst.is_empty() {
        return Err(fail("destination can not be empty"));
    }
    let quiet = if p.has("quiet") { p.bool("quiet") } else { !super::is_terminal(1) };
    let opts = Opts { follow_link: p.bool("follow-link"), copy_uid_gid: p.bool("archive"), quiet };
    match (split_arg(src), split_arg(dst)) {
        ((Some(c), sp), (None, dp)) => from_container(ctx, c, sp, dp, &opts),
        ((None, sp), (Some(c), dp)) => to_container(ctx, c, sp, dp, &opts),
        ((Some(_), _), (Some(_), _)) => Err(fail("copying between containers is not supported")),
        _ => Err(fail("must specify at least one container source")),
    }
}

struct Opts {
    follow_link: bool,
    copy_uid_gid: bool,
    quiet: bool,
}

/// Go's filepath.Clean of an absolute path.
fn clean(path: &str) -> String {
    let comps = crate::rootfs_access::clean_components(path);
    let joined = comps.join("/");
    if path.starts_with('/') {
        format!("/{joined}")
    } else if joined.is_empty() {
        ".".into()
    } else {
        joined
    }
}

fn trailing_dot_or_sep(original: &str) -> &'static str {
    if original.ends_with("/.") || original == "." {
        "/."
    } else if original.ends_with('/') {
        "/"
    } else {
        ""
    }
}

/// An absolute local path keeping a trailing `/` or `/.` (they mean "a directory").
fn resolve_local(path: &str) -> Result<String, Failure> {
    let abs = if path.starts_with('/') {
        path.to_string()
    } else {
        let cwd = std::env::current_dir().map_err(|e| fail(e.to_string()))?;
        format!("{}/{path}", cwd.display())
    };
    let cleaned = clean(&abs);
    let suffix = trailing_dot_or_sep(path);
    Ok(if cleaned == "/" && suffix == "/" { cleaned } else { format!("{cleaned}{suffix}") })
}

/// go-archive's SplitPathDirEntry: the directory and the last entry (`.` for `dir/.`).
fn split_dir_entry(path: &str) -> (String, String) {
    let mut cleaned = clean(path);
    if path.ends_with("/.") || path == "." {
        cleaned.push_str("/.");
    }
    match cleaned.rsplit_once('/') {
        Some(("", base)) => ("/".into(), if base.is_empty() { "/".into() } else { base.into() }),
        Some((dir, base)) => (dir.into(), base.into()),
        None => (".".into(), cleaned),
    }
}

fn base(path: &str) -> String {
    let t = path.trim_end_matches('/');
    if t.is_empty() {
        return if path.is_empty() { ".".into() } else { "/".into() };
    }
    t.rsplit('/').next().unwrap_or(t).to_string()
}

/// go-archive's GetRebaseName: the resolved path keeping the original's trailing form, and
/// the name the entry must take when resolving changed the last component.
fn rebase_name(path: &str, resolved: &str) -> (String, String) {
    let mut resolved = resolved.to_string();
    if (path.ends_with("/.") || path == ".") && !resolved.ends_with("/.") {
        resolved.push_str("/.");
    }
    if path.ends_with('/') && !resolved.ends_with('/') {
        resolved.push('/');
    }
    let rebase = if base(path) != base(&resolved) { base(path) } else { String::new() };
    (resolved, rebase)
}

/// The stat header of a container path (`HEAD /containers/{id}/archive`); `None` on any error.
fn stat_path(ctx: &Ctx, container: &str, path: &str) -> Option<Value> {
    let api = ctx.api().ok()?;
    let target = format!("/v{}/containers/{}/archive?path={}", api.version, seg(container), crate::http::percent_encode(path));
    // A HEAD answer has no body, whatever its length says: nothing more is read.
    let resp = crate::http::client::request(&api.endpoint, "HEAD", &target, &[], None).ok()?;
    if resp.status != 200 {
        return None;
    }
    let header = resp.headers.get("X-Docker-Container-Path-Stat")?.to_string();
    serde_json::from_slice(&crate::base64::decode(&header)?).ok()
}

fn mode_of(stat: &Value) -> u32 {
    stat["mode"].as_u64().unwrap_or(0) as u32
}

fn copied_line(n: u64, to: &str) -> String {
    format!("Successfully copied {} to {to}\n", crate::units::human_size_with_precision(n as f64, 3))
}

/// Counts what passes through.
struct Counting<R> {
    inner: R,
    total: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.total.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

fn from_container(ctx: &Ctx, container: &str, src: &str, dst: &str, opts: &Opts) -> Result<i32, Failure> {
    let dst_path = if dst == "-" { dst.to_string() } else { resolve_local(dst)? };
    if dst_path != "-" {
        validate_output_path(&dst_path)?;
    }
    let mut src_path = src.to_string();
    let mut rebase = String::new();
    if opts.follow_link {
        if let Some(stat) = stat_path(ctx, container, src) {
            if mode_of(&stat) & GO_MODE_SYMLINK != 0 {
                let mut target = stat["linkTarget"].as_str().unwrap_or_default().to_string();
                if !target.starts_with('/') {
                    let (parent, _) = split_dir_entry(src);
                    target = clean(&format!("{parent}/{target}"));
                }
                (src_path, rebase) = rebase_name(src, &target);
            }
        }
    }
    let api = ctx.api()?;
    let resp = api.call("GET", &format!("/containers/{}/archive", seg(container)), &[("path", src_path.clone())], None, &[])?;
    let stat: Value = resp
        .headers
        .get("X-Docker-Container-Path-Stat")
        .and_then(crate::base64::decode)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    let total = Arc::new(AtomicU64::new(0));
    let mut content = Counting { inner: resp.into_body(), total: total.clone() };
    if dst_path == "-" {
        let mut stdout = io::stdout().lock();
        io::copy(&mut content, &mut stdout).map_err(|e| fail(e.to_string()))?;
        let _ = stdout.flush();
        return Ok(0);
    }
    let src_info = CopyInfo { path: src_path, exists: true, is_dir: mode_of(&stat) & GO_MODE_DIR != 0, rebase_name: rebase };
    let result = copy_to_local(&mut content, &src_info, &dst_path);
    // The rest of the stream is read so the count is the archive's size.
    let _ = io::copy(&mut content, &mut io::sink());
    if !opts.quiet {
        eprint!("{}", copied_line(total.load(Ordering::Relaxed), &dst_path));
    }
    result.map(|_| 0)
}

fn validate_output_path(path: &str) -> Result<(), Failure> {
    let cleaned = clean(path);
    let dir = Path::new(&cleaned).parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("/"));
    if !dir.exists() {
        return Err(fail(format!("invalid output path: directory {:?} does not exist", dir.display().to_string())));
    }
    if let Ok(md) = std::fs::metadata(path) {
        if !md.is_dir() && !md.is_file() {
            return Err(fail(format!("invalid output path: {path:?} must be a directory or a regular file: {}", special_kind(&md.file_type()))));
        }
    }
    Ok(())
}

fn special_kind(ft: &std::fs::FileType) -> &'static str {
    if ft.is_block_device() || ft.is_char_device() {
        "got a device"
    } else if ft.is_fifo() {
        "got a named pipe"
    } else if ft.is_socket() {
        "got a socket"
    } else {
        "unknown file type"
    }
}

struct CopyInfo {
    path: String,
    exists: bool,
    is_dir: bool,
    rebase_name: String,
}

/// go-archive's CopyInfoDestinationPath: follows a final symlink (10 at most); a missing
/// destination needs its parent directory.
fn destination_info(path: &str) -> Result<CopyInfo, Failure> {
    let mut path = path.to_string();
    let original = path.clone();
    let mut n = 0;
    loop {
        match std::fs::symlink_metadata(&path) {
            Ok(md) if md.file_type().is_symlink() => {
                n += 1;
                if n > 10 {
                    return Err(fail(format!("too many symlinks in {original}")));
                }
                let target = std::fs::read_link(&path).map_err(|e| fail(e.to_string()))?.to_string_lossy().into_owned();
                path = if target.starts_with('/') { target } else { clean(&format!("{}/{target}", split_dir_entry(&path).0)) };
            }
            Ok(md) => return Ok(CopyInfo { path, exists: true, is_dir: md.is_dir(), rebase_name: String::new() }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let (parent, _) = split_dir_entry(&path);
                let md = std::fs::metadata(&parent).map_err(|e| fail(format!("stat {parent}: {}", crate::sys::go_error_text(&e))))?;
                if !md.is_dir() {
                    return Err(fail("not a directory"));
                }
                return Ok(CopyInfo { path, exists: false, is_dir: false, rebase_name: String::new() });
            }
            Err(e) => return Err(fail(e.to_string())),
        }
    }
}

/// go-archive's PrepareArchiveCopy: the directory to extract into and the renaming of the
/// archive's top entry.
fn prepare_copy(src: &CopyInfo, dst: &CopyInfo) -> Result<(String, Option<(String, String)>), Failure> {
    // The archive's entries are named from the source's last component.
    let (_, archive_base) = split_dir_entry(&src.path);
    let (dst_dir, dst_base) = split_dir_entry(&dst.path);
    let (dir, wanted) = if dst.exists && dst.is_dir {
        // Into the directory, under the source's name (the link's, when one was followed).
        let name = if src.rebase_name.is_empty() { archive_base.clone() } else { src.rebase_name.clone() };
        (dst.path.clone(), name)
    } else if dst.exists && src.is_dir {
        return Err(fail("cannot copy directory"));
    } else if !dst.exists && !src.is_dir && (dst.path.ends_with('/') || dst.path.ends_with("/.")) {
        return Err(fail("no such directory"));
    } else {
        // Beside, taking the destination's name.
        (dst_dir, dst_base)
    };
    let rebase = (wanted != archive_base).then_some((archive_base, wanted));
    Ok((dir, rebase))
}

fn copy_to_local(content: &mut dyn Read, src: &CopyInfo, dst_path: &str) -> Result<(), Failure> {
    let dst = destination_info(dst_path)?;
    let (dir, rebase) = prepare_copy(src, &dst)?;
    let dir_fd = crate::fs64::open(Path::new(&dir), nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty())
        .map_err(|e| fail(format!("open {dir}: {}", e.desc().to_ascii_lowercase())))?;
    // SAFETY: open just returned this descriptor; nobody else owns it.
    let dir_fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(dir_fd) };
    let opts = crate::archive::Extract { no_overwrite_dir_non_dir: Some(dir.clone()), skip_chown: true, rebase, ..Default::default() };
    use std::os::fd::AsRawFd;
    crate::archive::extract_at(content, dir_fd.as_raw_fd(), crate::archive::Whiteouts::Keep, &opts).map(drop).map_err(|e| fail(e.to_string()))
}

/// go-archive's CopyInfoSourcePath: symlinks before the last separator are resolved (all of
/// them with `-L`).
fn source_info(path: &str, follow_link: bool) -> Result<CopyInfo, Failure> {
    let (resolved, rebase) = if follow_link {
        let real = std::fs::canonicalize(path).map_err(|e| fail(format!("lstat {path}: {}", crate::sys::go_error_text(&e))))?;
        rebase_name(path, &real.display().to_string())
    } else {
        let (dir, base) = match path.rfind('/') {
            Some(i) => (&path[..=i], &path[i + 1..]),
            None => ("", path),
        };
        let real_dir = std::fs::canonicalize(if dir.is_empty() { "." } else { dir }).map_err(|e| fail(format!("lstat {dir}: {}", crate::sys::go_error_text(&e))))?;
        let real_dir = real_dir.display().to_string();
        let resolved = if real_dir == "/" { format!("/{base}") } else { format!("{real_dir}/{base}") };
        let rebase = if path.ends_with('/') && base.is_empty() && self::base(path) != self::base(&resolved) { self::base(path) } else { String::new() };
        (resolved, rebase)
    };
    let md = std::fs::symlink_metadata(&resolved).map_err(|e| fail(format!("lstat {}: {}", resolved.trim_end_matches('/'), crate::sys::go_error_text(&e))))?;
    Ok(CopyInfo { path: resolved, exists: true, is_dir: md.is_dir(), rebase_name: rebase })
}

/// A tar of the local source (go-archive's TarResource): its last entry and what is below,
/// named from that entry (renamed as `top` says), symlinks stored, never followed.
fn tar_source(src: &CopyInfo, top: &str, out: &mut dyn Write) -> io::Result<()> {
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    b.mode(tar::HeaderMode::Complete);
    let path = Path::new(&src.path);
    let md = std::fs::symlink_metadata(path)?;
    if md.is_dir() {
        b.append_dir_all(if top.is_empty() { "." } else { top }, path)?;
    } else {
        b.append_path_with_name(path, top)?;
    }
    b.into_inner().map(drop)
}

fn to_container(ctx: &Ctx, container: &str, src: &str, dst: &str, opts: &Opts) -> Result<i32, Failure> {
    let src_path = if src == "-" { src.to_string() } else { resolve_local(src)? };
    let mut dst_info = CopyInfo { path: dst.to_string(), exists: false, is_dir: false, rebase_name: String::new() };
    if let Some(mut stat) = stat_path(ctx, container, dst) {
        let mut found = true;
        if mode_of(&stat) & GO_MODE_SYMLINK != 0 {
            let mut target = stat["linkTarget"].as_str().unwrap_or_default().to_string();
            if !target.starts_with('/') {
                target = clean(&format!("{}/{target}", split_dir_entry(dst).0));
            }
            dst_info.path = target.clone();
            match stat_path(ctx, container, &target) {
                Some(s) => stat = s,
                None => found = false,
            }
        }
        if found {
            let mode = mode_of(&stat);
            if mode & GO_MODE_SPECIAL != 0 {
                return Err(fail(format!("destination \"{container}:{dst}\" must be a directory or a regular file: {}", go_special_kind(mode))));
            }
            dst_info.exists = true;
            dst_info.is_dir = mode & GO_MODE_DIR != 0;
        }
    }
    let api = ctx.api()?;
    let total = Arc::new(AtomicU64::new(0));
    // The thread writing the tar of a local source: its error ends the copy with that error.
    let mut producer = None;
    let (resolved_dst, body): (String, Box<dyn Read + Send>) = if src_path == "-" {
        if !dst_info.is_dir {
            return Err(fail(format!("destination \"{container}:{dst}\" must be a directory")));
        }
        (dst_info.path.clone(), Box::new(io::stdin()))
    } else {
        let src_info = source_info(&src_path, opts.follow_link)?;
        let (dir, rebase) = prepare_copy(&src_info, &dst_info)?;
        let (_, src_base) = split_dir_entry(&src_info.path);
        let top = match &rebase {
            Some((old, new)) => String::from_utf8_lossy(&crate::archive::rebase_name(src_base.as_bytes(), old, new)).into_owned(),
            None => src_base,
        };
        let (reader, writer) = nix::unistd::pipe().map_err(|e| fail(e.to_string()))?;
        let (reader, writer) = (std::fs::File::from(reader), std::fs::File::from(writer));
        producer = Some(std::thread::spawn(move || {
            let mut w = io::BufWriter::new(writer);
            tar_source(&src_info, &top, &mut w).and_then(|_| w.flush())
        }));
        (dir, Box::new(reader))
    };
    let mut query = vec![("path", resolved_dst), ("noOverwriteDirNonDir", "true".to_string())];
    if opts.copy_uid_gid {
        query.push(("copyUIDGID", "true".into()));
    }
    let mut path = format!("/v{}/containers/{}/archive", api.version, seg(container));
    for (i, (k, v)) in query.iter().enumerate() {
        path.push_str(&format!("{}{k}={}", if i == 0 { '?' } else { '&' }, crate::http::percent_encode(v)));
    }
    let mut counted = Counting { inner: body, total: total.clone() };
    let resp = request_streaming(&api.endpoint, "PUT", &path, &[("Content-Type", "application/x-tar")], &mut counted).map_err(|e| fail(format!("error during connect: {e}")))?;
    let status = resp.status;
    let result = if status >= 400 {
        Err(fail(format!("Error response from daemon: {}", resp.error_message())))
    } else {
        let _ = resp.bytes();
        Ok(0)
    };
    if let Some(Ok(Err(e))) = producer.map(std::thread::JoinHandle::join) {
        // What was sent before the error is in the container, as with Docker's CLI.
        return Err(fail(crate::sys::go_error_text(&e)));
    }
    if !opts.quiet {
        eprint!("{}", copied_line(total.load(Ordering::Relaxed), &format!("{container}:{}", dst_info.path)));
    }
    result
}

fn go_special_kind(mode: u32) -> &'static str {
    if mode & (1 << 26) != 0 {
        "got a device"
    } else if mode & (1 << 25) != 0 {
        "got a named pipe"
    } else if mode & (1 << 24) != 0 {
        "got a socket"
    } else {
        "unknown file type"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_split_like_the_cli() {
        assert_eq!(split_arg("ct:/etc"), (Some("ct"), "/etc"));
        assert_eq!(split_arg("/a:b"), (None, "/a:b"));
        assert_eq!(split_arg("./a:b"), (None, "./a:b"));
        assert_eq!(split_arg("file"), (None, "file"));
    }

    #[test]
    fn paths_split_and_rebase_like_go_archive() {
        assert_eq!(split_dir_entry("/a/b/."), ("/a/b".into(), ".".into()));
        assert_eq!(split_dir_entry("/a/b/"), ("/a".into(), "b".into()));
        assert_eq!(split_dir_entry("/a"), ("/".into(), "a".into()));
        assert_eq!(rebase_name("/x/link/", "/x/target"), ("/x/target/".into(), "link".into()));
        assert_eq!(rebase_name("/x/link", "/x/link"), ("/x/link".into(), String::new()));
    }

    #[test]
    fn prepare_copy_decides_like_go_archive() {
        let info = |path: &str, exists, is_dir| CopyInfo { path: path.into(), exists, is_dir, rebase_name: String::new() };
        assert_eq!(prepare_copy(&info("/s/f", true, false), &info("/d", true, true)).unwrap(), ("/d".into(), None));
        assert_eq!(prepare_copy(&info("/s/f", true, false), &info("/d/new", false, false)).unwrap(), ("/d".into(), Some(("f".into(), "new".into()))));
        assert_eq!(prepare_copy(&info("/s/dir", true, true), &info("/d/new", false, false)).unwrap(), ("/d".into(), Some(("dir".into(), "new".into()))));
        assert_eq!(prepare_copy(&info("/s/dir", true, true), &info("/d/file", true, false)).unwrap_err().message, "cannot copy directory");
        assert_eq!(prepare_copy(&info("/s/f", true, false), &info("/d/new/", false, false)).unwrap_err().message, "no such directory");
    }
}
