//! The Engine API's archive routes (`docker cp`): `HEAD`, `GET` and `PUT
//! /containers/{id}/archive?path=`, over a [`ContainerFs`] that resolves every path inside the
//! container's root.

use crate::daemon::container_fs::{path_stat, ContainerFs};
use crate::daemon::errors::ApiError;
use crate::daemon::Daemon;
use crate::http::server::{Request, Response};
use crate::rootfs_access::{clean_components, follows_last};
use std::io::{self, Write};
use std::sync::Arc;

const STAT_HEADER: &str = "X-Docker-Container-Path-Stat";

fn path_query(req: &Request) -> Result<String, ApiError> {
    match req.query("path") {
        Some(p) if !p.is_empty() => Ok(p.to_string()),
        _ => Err(ApiError::bad_request("bad parameter: path cannot be empty")),
    }
}

/// Docker's statuses for a failed lookup: 404 with its wording for a missing file.
fn lookup_error(e: io::Error, path: &str, container: &str) -> ApiError {
    match e.raw_os_error() {
        Some(libc::ENOENT) => ApiError::not_found(format!("Could not find the file {path} in container {container}")),
        Some(n) => ApiError::internal(format!("lstat {path}: {}", nix::errno::Errno::from_raw(n).desc().to_ascii_lowercase())),
        None => ApiError::internal(format!("{path}: {e}")),
    }
}

fn open_fs(d: &Arc<Daemon>, id: &str) -> Result<ContainerFs, ApiError> {
    let entry = d.find(id)?;
    ContainerFs::open(d, &entry).map_err(|e| ApiError::internal(format!("error mounting the container's filesystem: {e}")))
}

/// Docker's event for a copy out of (`archive-path`) or into (`extract-to-dir`) a container.
fn container_event(d: &Daemon, id: &str, action: &str) {
    if let Ok(entry) = d.find(id) {
        d.events.container(&entry.lock().c, action, &[]);
    }
}

/// The stat of `path` and the header carrying it.
fn stat_header(fs: &ContainerFs, path: &str, id: &str) -> Result<(String, crate::rootfs_access::Located, bool), ApiError> {
    let loc = fs.root.locate(path, follows_last(path)).map_err(|e| lookup_error(e, path, id))?;
    let st = fs.lstat(&loc).map_err(|e| lookup_error(e, path, id))?;
    // `file/` names a directory, as lstat(2) sees it.
    if follows_last(path) && st.st_mode & libc::S_IFMT != libc::S_IFDIR {
        return Err(lookup_error(io::Error::from_raw_os_error(libc::ENOTDIR), path, id));
    }
    let is_symlink = st.st_mode & libc::S_IFMT == libc::S_IFLNK;
    let link_target = if is_symlink { fs.root.resolved_path(path).map_err(|e| lookup_error(e, path, id))? } else { String::new() };
    let name = std::ffi::OsString::from(archive_name(path));
    let stat = path_stat(&name, &st, &link_target);
    let is_dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
    Ok((crate::base64::encode(&serde_json::to_vec(&stat).unwrap_or_default()), loc, is_dir))
}

/// The name a path's entry gets, as Go's `filepath.Base` gives it: `.` for `dir/.`, `/` for
/// the root, else the last component.
fn archive_name(path: &str) -> String {
    if path.ends_with("/.") || path == "." {
        return ".".into();
    }
    clean_components(path).last().map(|s| s.to_string()).unwrap_or_else(|| "/".into())
}

/// HEAD /containers/{id}/archive.
pub fn head(d: &Arc<Daemon>, id: &str, req: &Request) -> Result<Response, ApiError> {
    let path = path_query(req)?;
    let fs = open_fs(d, id)?;
    let (header, _, _) = stat_header(&fs, &path, id)?;
    Ok(Response::empty(200).with_header(STAT_HEADER, header))
}

/// GET /containers/{id}/archive: a tar of the path (named by its last component), with its
/// stat in the header.
pub fn get(d: &Arc<Daemon>, id: &str, req: &Request) -> Result<Response, ApiError> {
    let path = path_query(req)?;
    let fs = open_fs(d, id)?;
    let (header, loc, _) = stat_header(&fs, &path, id)?;
    container_event(d, id, "archive-path");
    let name = archive_name(&path);
    // The tar is written on a worker thread (connection threads have small stacks) and
    // handed over in pieces.
    let (tx, rx) = std::sync::mpsc::sync_channel::<io::Result<Vec<u8>>>(4);
    std::thread::Builder::new()
        .name("archive".into())
        .spawn(move || {
            let mut w = io::BufWriter::with_capacity(128 << 10, ChannelWriter(tx.clone()));
            if let Err(e) = fs.write_tar(&loc, &name, &mut w).and_then(|_| w.flush()) {
                let _ = tx.send(Err(e));
            }
        })
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Response::stream(
        200,
        "application/x-tar",
        Box::new(move |w: &mut dyn Write| {
            for piece in rx {
                w.write_all(&piece?)?;
            }
            Ok(())
        }),
    )
    .with_header(STAT_HEADER, header))
}

struct ChannelWriter(std::sync::mpsc::SyncSender<io::Result<Vec<u8>>>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.send(Ok(buf.to_vec())).map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "client went away"))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// PUT /containers/{id}/archive: extracts the tar of the body into the directory `path`.
pub fn put(d: &Arc<Daemon>, id: &str, req: &mut Request) -> Result<Response, ApiError> {
    let path = path_query(req)?;
    let no_overwrite = req.query_bool("noOverwriteDirNonDir");
    let copy_uid_gid = req.query_bool("copyUIDGID");
    let fs = open_fs(d, id)?;
    let loc = fs.root.locate(&path, true).map_err(|e| lookup_error(e, &path, id))?;
    let st = fs.lstat(&loc).map_err(|e| lookup_error(e, &path, id))?;
    if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
        return Err(ApiError::bad_request("extraction point is not a directory"));
    }
    let dest = crate::rootfs_access::absolute(&clean_components(&fs.root.resolved_path(&path).unwrap_or_else(|_| path.clone())));
    // As Docker: a volume's own mode decides, else the root's.
    match fs.in_volume(&dest) {
        Some(false) => return Err(ApiError::bad_request("mounted volume is marked read-only")),
        None if fs.read_only => return Err(ApiError::bad_request("container rootfs is marked read-only")),
        _ => {}
    }
    let chown = if copy_uid_gid { fs.user_ids().map_err(ApiError::bad_request)? } else { None };
    let opts = crate::archive::Extract { no_overwrite_dir_non_dir: no_overwrite.then_some(dest), chown, mount_points: fs.mount_points(), ..Default::default() };
    let dir = loc.open(nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY).map_err(|e| lookup_error(e, &path, id))?;
    let mut body = req.take_body();
    let extracted = std::thread::scope(|s| {
        s.spawn(|| {
            use std::os::fd::AsRawFd;
            crate::archive::extract_at(&mut body, dir.as_raw_fd(), crate::archive::Whiteouts::Keep, &opts)
        })
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("extraction panicked")))
    });
    drop(fs);
    match extracted {
        Ok(_) => {
            container_event(d, id, "extract-to-dir");
            Ok(Response::empty(200))
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(ApiError::internal(e.to_string())),
        Err(e) => Err(ApiError::internal(format!("{e}"))),
    }
}
