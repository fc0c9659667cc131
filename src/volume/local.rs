//! The local driver's mount options (`type`, `device`, `o`): their checks as Docker's local
//! driver makes them, and the mount(2) of a volume's `_data` at its first use.

use nix::mount::MsFlags;
use std::collections::BTreeMap;
use std::path::Path;

/// The option keys the local driver knows (`size` needs quota support, which we lack).
const VALID: &[&str] = &["type", "device", "o"];

/// Checks a volume's driver options as Docker's local driver does: unknown keys are named,
/// and `type`, `device`, `o` need their partners.
pub fn validate(opts: &BTreeMap<String, String>) -> Result<(), String> {
    for key in opts.keys() {
        if key == "size" {
            return Err("quota size requested but no quota support".into());
        }
        if !VALID.contains(&key.as_str()) {
            return Err(format!("invalid option: {key:?}"));
        }
    }
    let needs: &[(&str, &[&str])] = &[("device", &["type"]), ("type", &["device"]), ("o", &["device", "type"])];
    for (key, required) in needs {
        if opts.contains_key(*key) {
            for r in *required {
                if !opts.contains_key(*r) {
                    return Err(format!("missing required option: {r:?}"));
                }
            }
        }
    }
    Ok(())
}

/// Whether the volume's `_data` is a mount of its own (a `type` or `device` given).
pub fn needs_mount(opts: &BTreeMap<String, String>) -> bool {
    opts.get("type").is_some_and(|t| !t.is_empty()) || opts.get("device").is_some_and(|d| !d.is_empty())
}

/// Splits `o` into mount flags and the data string handed to the filesystem, as Docker's
/// `mount.ParseOptions` does (flag words are taken out, the rest stays as data).
pub fn parse_o(o: &str) -> (MsFlags, String) {
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    for opt in o.split(',').filter(|s| !s.is_empty()) {
        let (set, clear) = match opt {
            "defaults" => (MsFlags::empty(), MsFlags::empty()),
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
            "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
            "mand" => (MsFlags::MS_MANDLOCK, MsFlags::empty()),
            "nomand" => (MsFlags::empty(), MsFlags::MS_MANDLOCK),
            "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "bind" => (MsFlags::MS_BIND, MsFlags::empty()),
            "rbind" => (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty()),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
            "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
            "nostrictatime" => (MsFlags::empty(), MsFlags::MS_STRICTATIME),
            other => {
                data.push(other);
                continue;
            }
        };
        flags = (flags & !clear) | set;
    }
    (flags, data.join(","))
}

/// Mounts the volume's device on `target` as Docker's local driver does. A bind with flags
/// beyond `bind` (ro, nosuid, ...) needs a second, remounting call: the kernel ignores them on
/// the first.
pub fn mount(opts: &BTreeMap<String, String>, target: &Path) -> Result<(), String> {
    let device = opts.get("device").map(String::as_str).unwrap_or("");
    if device.is_empty() {
        return Err("missing device in volume options".into());
    }
    let fstype = opts.get("type").map(String::as_str).unwrap_or("");
    let (flags, data) = parse_o(opts.get("o").map(String::as_str).unwrap_or(""));
    let data_opt = if data.is_empty() { None } else { Some(data.as_str()) };
    let fail = |e: nix::Error| format!("failed to mount local volume: mount {device}:{} , flags: {:#x}, data: {data}: {}", target.display(), flags.bits(), e.desc().to_lowercase());
    nix::mount::mount(Some(device), target, Some(fstype), flags, data_opt).map_err(fail)?;
    let extra = flags & !(MsFlags::MS_BIND | MsFlags::MS_REC);
    if flags.contains(MsFlags::MS_BIND) && !extra.is_empty() {
        if let Err(e) = nix::mount::mount(None::<&str>, target, None::<&str>, flags | MsFlags::MS_REMOUNT, data_opt) {
            let _ = crate::mounts::unmount(target);
            return Err(fail(e));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn options_are_checked_as_the_local_driver_checks_them() {
        assert_eq!(validate(&opts(&[])), Ok(()));
        assert_eq!(validate(&opts(&[("type", "tmpfs"), ("device", "tmpfs"), ("o", "size=1m")])), Ok(()));
        assert_eq!(validate(&opts(&[("foo", "bar")])).unwrap_err(), "invalid option: \"foo\"");
        assert_eq!(validate(&opts(&[("type", "tmpfs")])).unwrap_err(), "missing required option: \"device\"");
        assert_eq!(validate(&opts(&[("device", "/x")])).unwrap_err(), "missing required option: \"type\"");
        assert!(validate(&opts(&[("o", "bind")])).unwrap_err().starts_with("missing required option"));
        assert!(needs_mount(&opts(&[("type", "none"), ("device", "/x")])));
        assert!(!needs_mount(&opts(&[])));
    }

    #[test]
    fn o_splits_into_flags_and_data() {
        let (f, d) = parse_o("bind,ro,size=10m,uid=1000");
        assert_eq!(f, MsFlags::MS_BIND | MsFlags::MS_RDONLY);
        assert_eq!(d, "size=10m,uid=1000");
        let (f, d) = parse_o("ro,rw,defaults");
        assert!(f.is_empty());
        assert_eq!(d, "");
    }
}
