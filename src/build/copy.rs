//! COPY and ADD: their sources found in the build context (or in another stage's or image's
//! root for `COPY --from`), wildcards expanded, checksummed for the cache key as the classic
//! builder does (`file:<hash>`, `dir:<hash>`, `multi:<hash>`), and laid out as one tar whose
//! names are the destination paths, extracted by the caller into the new layer.

use sha2::{Digest, Sha256};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// One source of a COPY/ADD: a path in its root, resolved.
#[derive(Debug, Clone)]
pub struct SourceInfo {
    /// The path as found (relative to the source root).
    pub rel: String,
    pub host: PathBuf,
    pub is_dir: bool,
    /// `file:<hex>` or `dir:<hex>`.
    pub hash: String,
    /// ADD of a local tar archive: extracted, not copied.
    pub archive: bool,
}

/// Go's `filepath.Match` for one path (`*`, `?`, `[...]`, `\` escapes; never across `/`).
pub fn glob_match(pattern: &str, name: &str) -> bool {
    fn m(p: &[char], n: &[char]) -> bool {
        if p.is_empty() {
            return n.is_empty();
        }
        match p[0] {
            '*' => {
                for i in 0..=n.len() {
                    if i > 0 && n[i - 1] == '/' {
                        break;
                    }
                    if m(&p[1..], &n[i..]) {
                        return true;
                    }
                }
                false
            }
            '?' => !n.is_empty() && n[0] != '/' && m(&p[1..], &n[1..]),
            '[' => {
                if n.is_empty() || n[0] == '/' {
                    return false;
                }
                let mut i = 1;
                let negate = p.get(1) == Some(&'^');
                if negate {
                    i += 1;
                }
                let mut matched = false;
                let mut first = true;
                while i < p.len() && (p[i] != ']' || first) {
                    first = false;
                    let mut lo = p[i];
                    if lo == '\\' && i + 1 < p.len() {
                        i += 1;
                        lo = p[i];
                    }
                    let mut hi = lo;
                    if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
                        hi = p[i + 2];
                        i += 2;
                    }
                    if lo <= n[0] && n[0] <= hi {
                        matched = true;
                    }
                    i += 1;
                }
                if i >= p.len() {
                    return false;
                }
                matched != negate && m(&p[i + 1..], &n[1..])
            }
            '\\' if p.len() > 1 => !n.is_empty() && n[0] == p[1] && m(&p[2..], &n[1..]),
            c => !n.is_empty() && n[0] == c && m(&p[1..], &n[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    m(&p, &n)
}

fn has_wildcards(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

fn clean(rel: &str) -> String {
    crate::dockerfile::ignore::clean_path(rel.trim_start_matches('/'))
}

/// The content sums of a build context sent as a tar (moby's `archiveContext`): entry name
/// (cleaned, relative) → the hex of its tarsum, the first entry of a name winning.
pub type ContextSums = std::collections::HashMap<String, String>;

/// The header fields tarsum version 1 hashes (moby's `pkg/tarsum`), in its order: name, mode,
/// uid, gid, size, typeflag, linkname, uname, gname, devmajor, devminor, then the xattrs by
/// name; never the modification time.
pub struct TarsumHeader<'a> {
    pub name: &'a [u8],
    pub mode: u64,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
    pub typeflag: u8,
    pub linkname: &'a [u8],
    pub uname: &'a [u8],
    pub gname: &'a [u8],
    pub devmajor: u64,
    pub devminor: u64,
    pub xattrs: Vec<(String, Vec<u8>)>,
}

impl TarsumHeader<'_> {
    /// Feeds the fields to `hasher` as `key` then value, each as text.
    pub fn write(&self, hasher: &mut Sha256) {
        let num = |hasher: &mut Sha256, key: &str, v: u64| {
            hasher.update(key.as_bytes());
            hasher.update(v.to_string().as_bytes());
        };
        hasher.update(b"name");
        hasher.update(self.name);
        num(hasher, "mode", self.mode);
        num(hasher, "uid", self.uid);
        num(hasher, "gid", self.gid);
        num(hasher, "size", self.size);
        hasher.update(b"typeflag");
        hasher.update([self.typeflag]);
        hasher.update(b"linkname");
        hasher.update(self.linkname);
        hasher.update(b"uname");
        hasher.update(self.uname);
        hasher.update(b"gname");
        hasher.update(self.gname);
        num(hasher, "devmajor", self.devmajor);
        num(hasher, "devminor", self.devminor);
        let mut xattrs: Vec<&(String, Vec<u8>)> = self.xattrs.iter().collect();
        xattrs.sort_by(|a, b| a.0.cmp(&b.0));
        for (k, v) in xattrs {
            hasher.update(k.as_bytes());
            hasher.update(v);
        }
    }
}

/// The sum of a path on disk as moby's `lazySource` computes it (`COPY --from` an image, an
/// ADD URL's download, a context not sent as a tar): a tar header made from the file as
/// `archive.FileInfoHeader` makes it (no user or group names, the name of a directory ending
/// in `/`), then the contents of a regular file.
pub fn disk_sum(host: &Path, rel: &str) -> io::Result<String> {
    use std::os::unix::fs::FileTypeExt;
    let meta = std::fs::symlink_metadata(host)?;
    let ft = meta.file_type();
    let name = if ft.is_dir() { format!("{}/", rel.trim_end_matches('/')) } else { rel.to_string() };
    let link = if ft.is_symlink() { std::fs::read_link(host)?.into_os_string().into_encoded_bytes() } else { Vec::new() };
    let typeflag = if ft.is_dir() {
        b'5'
    } else if ft.is_symlink() {
        b'2'
    } else if ft.is_char_device() {
        b'3'
    } else if ft.is_block_device() {
        b'4'
    } else if ft.is_fifo() {
        b'6'
    } else {
        b'0'
    };
    let (devmajor, devminor) = if ft.is_char_device() || ft.is_block_device() {
        let rdev = meta.rdev();
        (u64::from(libc::major(rdev)), u64::from(libc::minor(rdev)))
    } else {
        (0, 0)
    };
    // Go's FileInfoHeader: the permission bits and setuid/setgid/sticky, no file type bits.
    let header = TarsumHeader {
        name: name.as_bytes(),
        mode: u64::from(meta.mode() & 0o7777),
        uid: u64::from(meta.uid()),
        gid: u64::from(meta.gid()),
        size: if ft.is_file() { meta.len() } else { 0 },
        typeflag,
        linkname: &link,
        uname: b"",
        gname: b"",
        devmajor,
        devminor,
        xattrs: Vec::new(),
    };
    let mut hasher = Sha256::new();
    header.write(&mut hasher);
    if ft.is_file() && meta.len() > 0 {
        std::io::copy(&mut std::fs::File::open(host)?, &mut hasher)?;
    }
    Ok(format!("{:x}", hasher.finalize()))
}

/// Where COPY/ADD sources are hashed from, and how (moby's `builder.Source.Hash`).
#[derive(Clone, Copy)]
pub enum Sums<'a> {
    /// A context sent as a tar: the sums of its entries; a path with none is its own hash.
    Archive(&'a ContextSums),
    /// Files on disk, hashed as they are met.
    Disk,
}

/// moby's `Source.Hash(path)`: the path resolved inside `root` (symlinks followed, the sum
/// of what is copied), then its sum.
fn source_hash(root: &Path, rel: &str, sums: Sums) -> String {
    let Ok(resolved) = resolve_scoped(root, rel) else { return rel.to_string() };
    let key = match resolved.strip_prefix(root) {
        Ok(r) if r.as_os_str().is_empty() => ".".to_string(),
        Ok(r) => r.to_string_lossy().into_owned(),
        Err(_) => return rel.to_string(),
    };
    match sums {
        Sums::Archive(map) => map.get(&key).cloned().unwrap_or_else(|| rel.to_string()),
        Sums::Disk => disk_sum(&resolved, &key).unwrap_or_else(|_| rel.to_string()),
    }
}

/// The classic builder's hash of one source: `file:<sum>`, or for a directory `dir:` and the
/// sha256 of the sorted sums of it and everything under it joined by commas (moby's
/// `walkSource`, which does not follow symlinked directories but hashes what each link points
/// to, and leaves the context's root itself out).
fn copy_hash(root: &Path, rel: &str, host: &Path, is_dir: bool, sums: Sums) -> String {
    if !is_dir {
        return format!("file:{}", source_hash(root, rel, sums));
    }
    let base = match host.strip_prefix(root) {
        Ok(r) => r.to_string_lossy().into_owned(),
        Err(_) => String::new(),
    };
    // The walk starts at the directory itself, which counts unless it is the root.
    let mut subs = Vec::new();
    if !base.is_empty() {
        subs.push(source_hash(root, &base, sums));
    }
    let mut stack = vec![(host.to_path_buf(), base)];
    while let Some((dir, dir_rel)) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else { continue };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let child_rel = if dir_rel.is_empty() { name } else { format!("{dir_rel}/{name}") };
            subs.push(source_hash(root, &child_rel, sums));
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push((e.path(), child_rel));
            }
        }
    }
    subs.sort();
    format!("dir:{:x}", Sha256::digest(subs.join(",").as_bytes()))
}

/// Whether `host` is a tar archive (plain or gzip/zstd-compressed) ADD extracts.
pub fn is_archive(host: &Path) -> bool {
    let Ok(f) = std::fs::File::open(host) else { return false };
    let mut r = io::BufReader::new(f);
    let Ok(head) = io::BufRead::fill_buf(&mut r).map(<[u8]>::to_vec) else { return false };
    let reader: Box<dyn Read> = match super::context::detect(&head) {
        super::context::Compression::Gzip => Box::new(flate2::read::GzDecoder::new(r)),
        super::context::Compression::None => Box::new(r),
        _ => return false,
    };
    let mut block = [0u8; 512];
    let mut reader = reader;
    if reader.read_exact(&mut block).is_err() {
        return false;
    }
    // A tar header's checksum: the sum of its bytes with the checksum field as spaces.
    let stored = std::str::from_utf8(&block[148..156]).ok().map(|s| s.trim_matches(|c: char| c == '\0' || c == ' ')).and_then(|s| u32::from_str_radix(s, 8).ok());
    let sum: u32 = block.iter().enumerate().map(|(i, b)| if (148..156).contains(&i) { 32 } else { u32::from(*b) }).sum();
    stored == Some(sum) && block[0] != 0
}

/// The sources `pattern` names in `root`: one path, or every path a wildcard matches (in
/// the directory order Docker walks, sorted). `from_image`: the root is an image's (`COPY
/// --from`), whose absolute symlinks stay inside it; a context's symlink that leaves the
/// context is refused.
pub fn find_sources(root: &Path, pattern: &str, allow_archive: bool, from_image: bool, sums: Sums) -> Result<Vec<SourceInfo>, String> {
    let orig = pattern;
    let rel = clean(pattern);
    if rel == ".." || rel.starts_with("../") {
        return Err(format!("forbidden path outside the build context: {orig} ()"));
    }
    let resolve = |rel: &str| -> Result<PathBuf, String> {
        if from_image {
            resolve_scoped(root, rel).map_err(|e| e.to_string())
        } else {
            super::context::resolve_in(root, rel).map_err(|_| format!("forbidden path outside the build context: {orig} ({})", root.join(rel).display()))
        }
    };
    let mut found: Vec<String> = Vec::new();
    if has_wildcards(&rel) {
        let mut stack = vec![String::new()];
        while let Some(dir) = stack.pop() {
            let host_dir = if dir.is_empty() { root.to_path_buf() } else { root.join(&dir) };
            let Ok(rd) = std::fs::read_dir(&host_dir) else { continue };
            let mut names: Vec<String> = rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
            names.sort();
            for n in names {
                let path = if dir.is_empty() { n.clone() } else { format!("{dir}/{n}") };
                if glob_match(&rel, &path) {
                    found.push(path.clone());
                } else if std::fs::symlink_metadata(host_dir.join(&n)).is_ok_and(|m| m.is_dir()) && rel.matches('/').count() > path.matches('/').count() {
                    stack.push(path);
                }
            }
        }
        found.sort();
        if found.is_empty() {
            return Err("no source files were specified".to_string());
        }
    } else {
        found.push(rel.clone());
    }
    let mut out = Vec::new();
    for rel in found {
        let host = resolve(&rel)?;
        let meta = std::fs::metadata(&host).map_err(|_| {
            if from_image {
                format!("stat {rel}: file does not exist")
            } else {
                format!("file not found in build context or excluded by .dockerignore: stat {rel}: file does not exist")
            }
        })?;
        let hash = copy_hash(root, &rel, &host, meta.is_dir(), sums);
        let archive = allow_archive && meta.is_file() && is_archive(&host);
        out.push(SourceInfo { rel, host, is_dir: meta.is_dir(), hash, archive });
    }
    Ok(out)
}

/// Whether an ADD source is a URL to fetch.
pub fn is_url(source: &str) -> bool {
    source.starts_with("http://") || source.starts_with("https://")
}

/// ADD's remote source: fetched into `dir` under the last part of the URL's path (the file's
/// name in the image when the destination is a directory), mode 0600 as Docker makes it, never
/// unpacked; its checksum is of its contents.
pub fn fetch_url(url: &str, dir: &Path) -> Result<SourceInfo, String> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let after_host = path.splitn(4, '/').nth(3).unwrap_or("");
    let name = after_host.rsplit('/').next().filter(|n| !n.is_empty() && *n != "." && *n != "..").unwrap_or("__unnamed__").to_string();
    let resp = match ureq::get(url).timeout(std::time::Duration::from_secs(60)).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(code, r)) => return Err(format!("failed to GET {url} with status {code} {}", r.status_text())),
        Err(e) => return Err(format!("failed to GET {url}: {e}")),
    };
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let host = dir.join(&name);
    let mut f = std::fs::File::create(&host).map_err(|e| e.to_string())?;
    let mut reader = resp.into_reader();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = reader.read(&mut buf).map_err(|e| format!("failed to GET {url}: {e}"))?;
        if n == 0 {
            break;
        }
        f.write_all(&buf[..n]).map_err(|e| e.to_string())?;
    }
    drop(f);
    std::fs::set_permissions(&host, std::fs::Permissions::from_mode(0o600)).map_err(|e| e.to_string())?;
    // moby hashes the download as a file of a directory of its own, and without the
    // `file:` prefix of context sources.
    let hash = disk_sum(&host, &name).map_err(|e| e.to_string())?;
    Ok(SourceInfo { rel: name, host, is_dir: false, hash, archive: false })
}

/// Docker's `getSourceHashFromInfos`: one source's own hash, or `multi:` over them all.
pub fn sources_hash(infos: &[SourceInfo]) -> String {
    if infos.len() == 1 {
        return infos[0].hash.clone();
    }
    let joined: Vec<&str> = infos.iter().map(|i| i.hash.as_str()).collect();
    format!("multi:{:x}", Sha256::digest(joined.join(",").as_bytes()))
}

/// Resolves `rel` in an image root as Docker's FollowSymlinkInScope does: absolute links and
/// `..` stay inside the root.
pub fn resolve_scoped(root: &Path, rel: &str) -> io::Result<PathBuf> {
    super::context::resolve_below(root, rel, super::context::Escape::Clamp).map_err(io::Error::other)
}

/// Owner and mode rules of one copy.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ownership {
    /// `--chown` (or root for a plain COPY); `None` keeps the source's (`COPY --from`).
    pub ids: Option<(u32, u32)>,
    /// `--chmod`.
    pub mode: Option<u32>,
}

/// Writes the tar of the copy: each source at its place under `dest` (a path in the new
/// root, no leading `/`; `dest_is_dir` when it ends with `/`, names an existing directory, or
/// there are several sources). Archives (ADD) are unpacked into it.
pub fn write_tar(out: &mut dyn Write, infos: &[SourceInfo], dest: &str, dest_is_dir: bool, own: Ownership) -> io::Result<()> {
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    let dest = dest.trim_matches('/');
    let join = |a: &str, b: &str| if a.is_empty() { b.to_string() } else if b.is_empty() { a.to_string() } else { format!("{a}/{b}") };
    for info in infos {
        if info.archive {
            let target = if dest_is_dir || !dest.is_empty() { dest.to_string() } else { String::new() };
            unpack_into(&mut b, &info.host, &target, own)?;
            continue;
        }
        let base = info.rel.rsplit('/').next().unwrap_or("").to_string();
        let at = if info.is_dir {
            dest.to_string()
        } else if dest_is_dir {
            join(dest, &base)
        } else {
            dest.to_string()
        };
        add_tree(&mut b, &info.host, &at, own, info.is_dir)?;
    }
    b.finish()
}

fn header_for(meta: &std::fs::Metadata, own: Ownership) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_metadata_in_mode(meta, tar::HeaderMode::Complete);
    if let Some((u, g)) = own.ids {
        h.set_uid(u.into());
        h.set_gid(g.into());
    }
    if let Some(m) = own.mode {
        if !meta.file_type().is_symlink() {
            h.set_mode(m);
        }
    }
    h
}

fn add_tree<W: Write>(b: &mut tar::Builder<W>, host: &Path, name: &str, own: Ownership, is_root_dir: bool) -> io::Result<()> {
    let meta = std::fs::symlink_metadata(host)?;
    if meta.is_dir() {
        // The source directory itself is not copied, only its contents (Docker's rule), but
        // the destination directory is made (with the copy's owner).
        if !name.is_empty() {
            let mut h = header_for(&meta, own);
            if is_root_dir && own.mode.is_none() {
                h.set_mode(0o755);
            }
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            b.append_data(&mut h, format!("{name}/"), io::empty())?;
        }
        let mut names: Vec<_> = std::fs::read_dir(host)?.flatten().map(|e| e.file_name()).collect();
        names.sort();
        for n in names {
            let child = if name.is_empty() { n.to_string_lossy().into_owned() } else { format!("{name}/{}", n.to_string_lossy()) };
            add_tree(b, &host.join(&n), &child, own, false)?;
        }
        return Ok(());
    }
    let mut h = header_for(&meta, own);
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(host)?;
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, name, target)?;
    } else if meta.is_file() {
        let f = std::fs::File::open(host)?;
        b.append_data(&mut h, name, f)?;
    }
    Ok(())
}

/// Copies the entries of a local archive into the tar under `dest`.
fn unpack_into<W: Write>(b: &mut tar::Builder<W>, host: &Path, dest: &str, own: Ownership) -> io::Result<()> {
    let f = std::fs::File::open(host)?;
    let mut r = io::BufReader::new(f);
    let head = io::BufRead::fill_buf(&mut r)?.to_vec();
    let reader: Box<dyn Read> = match super::context::detect(&head) {
        super::context::Compression::Gzip => Box::new(flate2::read::GzDecoder::new(r)),
        _ => Box::new(r),
    };
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let name = entry.path_bytes().into_owned();
        if !super::context::name_inside(&name) {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("{:?} is outside of the destination", String::from_utf8_lossy(&name))));
        }
        let rel = clean(&String::from_utf8_lossy(&name));
        let full = if dest.is_empty() { rel } else if rel == "." { dest.to_string() } else { format!("{dest}/{rel}") };
        let mut h = entry.header().clone();
        if let Some(m) = own.mode {
            h.set_mode(m);
        }
        match entry.header().entry_type() {
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let target = entry.link_name()?.map(|l| l.into_owned()).unwrap_or_default();
                let target = if entry.header().entry_type() == tar::EntryType::Link { PathBuf::from(format!("{dest}/{}", clean(&target.to_string_lossy()))) } else { target };
                b.append_link(&mut h, &full, target)?;
            }
            _ => {
                let mut data = Vec::new();
                entry.read_to_end(&mut data)?;
                b.append_data(&mut h, &full, &data[..])?;
            }
        }
    }
    Ok(())
}

/// `--chown`'s `user[:group]` as ids: numbers as they are, names from the root's
/// `/etc/passwd` and `/etc/group` (the group defaults to the user's name or number).
pub fn parse_chown(spec: &str, root: Option<&Path>) -> Result<(u32, u32), String> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, g),
        None => (spec, spec),
    };
    let lookup = |file: &str, name: &str, what: &str| -> Result<u32, String> {
        if let Ok(n) = name.parse::<u32>() {
            return Ok(n);
        }
        let text = root.and_then(|r| resolve_scoped(r, file).ok()).and_then(|p| std::fs::read_to_string(p).ok()).unwrap_or_default();
        text.lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() > 2 && f[0] == name).then(|| f[2].parse::<u32>().ok()).flatten()
            })
            .next()
            .ok_or_else(|| format!("unable to convert uid/gid chown string to host mapping: can't find {what} for {what_name} {name}: no such {what_name}: {name}", what_name = if what == "uid" { "user" } else { "group" }))
    };
    let uid = lookup("etc/passwd", user, "uid")?;
    // `--chown=name` alone looks the group up by the same name, as Docker does.
    let gid = lookup("etc/group", group, "gid")?;
    Ok((uid, gid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_as_go_filepath_match() {
        assert!(glob_match("*.txt", "a.txt"));
        assert!(!glob_match("*.txt", "d/a.txt"));
        assert!(glob_match("d/*.txt", "d/a.txt"));
        assert!(glob_match("f?le", "file"));
        assert!(glob_match("[a-c]x", "bx"));
        assert!(!glob_match("[^a-c]x", "bx"));
        assert!(glob_match("a\\*", "a*"));
    }

    /// moby's lazy source (ADD's download, COPY --from): tarsum v1 of a header made from the
    /// file (Go's FileInfoHeader: permission bits alone, no user or group names, a directory's
    /// name ending in `/`), then the contents; `dir:` is the sha256 of the sorted sums of the
    /// directory and everything in it, joined by commas.
    #[test]
    fn disk_sums_are_tarsum_v1_of_go_headers() {
        let d = std::env::temp_dir().join(format!("dbx-sum-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("dir")).unwrap();
        std::fs::write(d.join("dir/f.txt"), "hi\n").unwrap();
        std::fs::set_permissions(d.join("dir/f.txt"), std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::set_permissions(d.join("dir"), std::fs::Permissions::from_mode(0o755)).unwrap();
        let meta = std::fs::metadata(d.join("dir/f.txt")).unwrap();
        let (uid, gid) = (meta.uid(), meta.gid());
        let file = format!("namedir/f.txtmode384uid{uid}gid{gid}size3typeflag0linkname{}unamegnamedevmajor0devminor0hi\n", "");
        let file_sum = format!("{:x}", Sha256::digest(file.as_bytes()));
        assert_eq!(disk_sum(&d.join("dir/f.txt"), "dir/f.txt").unwrap(), file_sum);
        let dir = format!("namedir/mode493uid{uid}gid{gid}size0typeflag5linknameunamegnamedevmajor0devminor0");
        let dir_sum = format!("{:x}", Sha256::digest(dir.as_bytes()));
        let mut both = [file_sum.clone(), dir_sum];
        both.sort();
        let want = format!("dir:{:x}", Sha256::digest(both.join(",").as_bytes()));
        assert_eq!(find_sources(&d, "dir", false, false, Sums::Disk).unwrap()[0].hash, want);
        assert_eq!(find_sources(&d, "dir/f.txt", false, false, Sums::Disk).unwrap()[0].hash, format!("file:{file_sum}"));
        // From a context tar's sums, a path with no sum is its own hash (moby's fallback).
        let mut sums = ContextSums::new();
        sums.insert("dir/f.txt".into(), "abc".into());
        assert_eq!(find_sources(&d, "dir/f.txt", false, false, Sums::Archive(&sums)).unwrap()[0].hash, "file:abc");
        let listed = find_sources(&d, "dir", false, false, Sums::Archive(&sums)).unwrap();
        assert_eq!(listed[0].hash, format!("dir:{:x}", Sha256::digest(b"abc,dir")));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn hashes_and_sources() {
        let d = std::env::temp_dir().join(format!("dbx-copy-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("dir")).unwrap();
        std::fs::write(d.join("a.txt"), "a").unwrap();
        std::fs::write(d.join("b.txt"), "b").unwrap();
        std::fs::write(d.join("dir/c"), "c").unwrap();
        let one = find_sources(&d, "a.txt", false, false, Sums::Disk).unwrap();
        assert!(one[0].hash.starts_with("file:"));
        let again = find_sources(&d, "./a.txt", false, false, Sums::Disk).unwrap();
        assert_eq!(one[0].hash, again[0].hash);
        let two = find_sources(&d, "*.txt", false, false, Sums::Disk).unwrap();
        assert_eq!(two.len(), 2);
        assert!(sources_hash(&two).starts_with("multi:"));
        assert!(find_sources(&d, "dir", false, false, Sums::Disk).unwrap()[0].hash.starts_with("dir:"));
        assert_eq!(find_sources(&d, "../x", false, false, Sums::Disk).unwrap_err(), "forbidden path outside the build context: ../x ()");
        assert!(find_sources(&d, "nope", false, false, Sums::Disk).unwrap_err().starts_with("file not found in build context"));
        std::fs::write(d.join("a.txt"), "changed").unwrap();
        assert_ne!(find_sources(&d, "a.txt", false, false, Sums::Disk).unwrap()[0].hash, one[0].hash);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn chown_numbers_and_names() {
        assert_eq!(parse_chown("10", None).unwrap(), (10, 10));
        assert_eq!(parse_chown("10:20", None).unwrap(), (10, 20));
        let d = std::env::temp_dir().join(format!("dbx-chown-{}", std::process::id()));
        std::fs::create_dir_all(d.join("etc")).unwrap();
        std::fs::write(d.join("etc/passwd"), "root:x:0:0::/root:/bin/sh\nbob:x:1000:1000::/home/bob:/bin/sh\n").unwrap();
        std::fs::write(d.join("etc/group"), "root:x:0:\nbob:x:1001:\nstaff:x:50:\n").unwrap();
        assert_eq!(parse_chown("bob", Some(&d)).unwrap(), (1000, 1001));
        assert_eq!(parse_chown("bob:staff", Some(&d)).unwrap(), (1000, 50));
        assert!(parse_chown("alice", Some(&d)).is_err());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
