//! The mount flags of `docker run`/`docker create` as the CLI 28 reads them: `-v` split into
//! `HostConfig.Binds` (a source given) and `Config.Volumes` (a path alone: an anonymous
//! volume), `--mount` (CSV fields) into `HostConfig.Mounts`, `--volumes-from` and
//! `--volume-driver`. The daemon checks the rest.

use super::flags::Parsed;
use serde_json::{json, Map, Value};

/// A relative host path (`./data`) made absolute, as the CLI does for `-v` and `--mount`.
fn absolute(source: &str) -> String {
    if !source.starts_with('/') && source.starts_with('.') {
        if let Ok(cwd) = std::env::current_dir() {
            let joined = cwd.join(source);
            let parts = crate::rootfs_access::clean_components(joined.to_str().unwrap_or(source));
            return crate::rootfs_access::absolute(&parts);
        }
    }
    source.to_string()
}

/// One `-v` value: `Some(bind)` when it names a source, `None` for an anonymous volume.
fn split_volume(v: &str) -> Option<String> {
    let (host, rest) = v.split_once(':')?;
    if host.is_empty() || !rest.starts_with('/') {
        return None;
    }
    Some(format!("{}:{rest}", absolute(host)))
}

fn bad(value: &str, why: impl std::fmt::Display) -> String {
    format!("invalid argument \"{value}\" for \"--mount\" flag: {why}")
}

fn parse_bool(key: &str, v: &str) -> Result<bool, String> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!("invalid value for {key}: {v}")),
    }
}

/// Fields of one CSV record (Go's encoding/csv: `"` quotes a field, `""` inside is a quote).
fn csv_fields(s: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    let mut at_start = true;
    let mut quoted = false;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    cur.push('"');
                } else {
                    quoted = false;
                }
            } else {
                cur.push(c);
            }
            continue;
        }
        match c {
            '"' if at_start => {
                quoted = true;
                at_start = false;
            }
            ',' => {
                fields.push(std::mem::take(&mut cur));
                at_start = true;
            }
            _ => {
                cur.push(c);
                at_start = false;
            }
        }
    }
    if quoted {
        return Err("parse error on line 1, column 0: extraneous or missing \" in quoted-field".into());
    }
    fields.push(cur);
    Ok(fields)
}

fn volume_opts(v: &mut Option<Map<String, Value>>) -> &mut Map<String, Value> {
    v.get_or_insert_with(|| serde_json::from_value(json!({"Labels": {}, "DriverConfig": {}})).unwrap_or_default())
}

/// One `--mount` value as the API's Mount object.
pub fn parse_mount(value: &str) -> Result<Value, String> {
    let fields = csv_fields(value).map_err(|e| bad(value, e))?;
    let mut m = Map::new();
    m.insert("Type".into(), json!("volume"));
    let mut bind = Map::new();
    let mut volume: Option<Map<String, Value>> = None;
    let mut tmpfs = Map::new();
    let mut image = false;
    for field in fields {
        let (key, val) = match field.split_once('=') {
            Some((k, v)) => (k.to_lowercase(), Some(v.to_string())),
            None => (field.to_lowercase(), None),
        };
        let Some(val) = val else {
            match key.as_str() {
                "readonly" | "ro" => {
                    m.insert("ReadOnly".into(), json!(true));
                }
                "volume-nocopy" => {
                    volume_opts(&mut volume).insert("NoCopy".into(), json!(true));
                }
                "bind-nonrecursive" => {
                    bind.insert("NonRecursive".into(), json!(true));
                }
                _ => return Err(bad(value, format!("invalid field '{field}' must be a key=value pair"))),
            }
            continue;
        };
        match key.as_str() {
            "type" => {
                m.insert("Type".into(), json!(val.to_lowercase()));
            }
            "source" | "src" => {
                m.insert("Source".into(), json!(absolute(&val)));
            }
            "target" | "dst" | "destination" => {
                m.insert("Target".into(), json!(val));
            }
            "readonly" | "ro" => {
                m.insert("ReadOnly".into(), json!(parse_bool(&key, &val).map_err(|e| bad(value, e))?));
            }
            "consistency" => {
                m.insert("Consistency".into(), json!(val.to_lowercase()));
            }
            "bind-propagation" => {
                bind.insert("Propagation".into(), json!(val.to_lowercase()));
            }
            "bind-nonrecursive" => {
                bind.insert("NonRecursive".into(), json!(parse_bool(&key, &val).map_err(|e| bad(value, e))?));
                eprintln!("WARN[0000] bind-nonrecursive is deprecated, use bind-recursive=disabled instead");
            }
            "bind-recursive" => match val.as_str() {
                "enabled" => {}
                "disabled" => {
                    bind.insert("NonRecursive".into(), json!(true));
                }
                "writable" => {
                    bind.insert("ReadOnlyNonRecursive".into(), json!(true));
                }
                "readonly" => {
                    bind.insert("ReadOnlyForceRecursive".into(), json!(true));
                }
                _ => return Err(bad(value, format!("invalid value for {key}: {val} (must be \"enabled\", \"disabled\", \"writable\", or \"readonly\")"))),
            },
            "volume-subpath" => {
                volume_opts(&mut volume).insert("Subpath".into(), json!(val));
            }
            "volume-nocopy" => {
                let b = parse_bool(&key, &val).map_err(|_| bad(value, format!("invalid value for volume-nocopy: {val}")))?;
                volume_opts(&mut volume).insert("NoCopy".into(), json!(b));
            }
            "volume-label" => {
                let (k, v) = val.split_once('=').unwrap_or((&val, ""));
                if !k.is_empty() {
                    volume_opts(&mut volume)["Labels"][k] = json!(v);
                }
            }
            "volume-driver" => {
                volume_opts(&mut volume)["DriverConfig"]["Name"] = json!(val);
            }
            "volume-opt" => {
                let (k, v) = val.split_once('=').unwrap_or((&val, ""));
                let driver = &mut volume_opts(&mut volume)["DriverConfig"];
                if driver.get("Options").is_none() {
                    driver["Options"] = json!({});
                }
                if !k.is_empty() {
                    driver["Options"][k] = json!(v);
                }
            }
            "image-subpath" => image = true,
            "tmpfs-size" => {
                let size = super::resources::ram_in_bytes(&val).map_err(|_| bad(value, format!("invalid value for {key}: {val}")))?;
                tmpfs.insert("SizeBytes".into(), json!(size));
            }
            "tmpfs-mode" => {
                let mode = u32::from_str_radix(&val, 8).map_err(|_| bad(value, format!("invalid value for {key}: {val}")))?;
                tmpfs.insert("Mode".into(), json!(mode));
            }
            _ => return Err(bad(value, format!("unexpected key '{key}' in '{field}'"))),
        }
    }
    let kind = m["Type"].as_str().unwrap_or("").to_string();
    if kind.is_empty() {
        return Err(bad(value, "type is required"));
    }
    if m.get("Target").is_none_or(|t| t.as_str() == Some("")) {
        return Err(bad(value, "target is required"));
    }
    let mixed = |prefix: &str| bad(value, format!("cannot mix '{prefix}-*' options with mount type '{kind}'"));
    if volume.is_some() && kind != "volume" {
        return Err(mixed("volume"));
    }
    if image && kind != "image" {
        return Err(mixed("image"));
    }
    if !bind.is_empty() && kind != "bind" {
        return Err(mixed("bind"));
    }
    if !tmpfs.is_empty() && kind != "tmpfs" {
        return Err(mixed("tmpfs"));
    }
    let read_only = m.get("ReadOnly").and_then(Value::as_bool).unwrap_or(false);
    if bind.contains_key("ReadOnlyNonRecursive") && !read_only {
        return Err(bad(value, "option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction"));
    }
    if bind.contains_key("ReadOnlyForceRecursive") {
        if !read_only {
            return Err(bad(value, "option 'bind-recursive=readonly' requires 'readonly' to be specified in conjunction"));
        }
        if bind.get("Propagation").and_then(Value::as_str) != Some("rprivate") {
            return Err(bad(value, "option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to be specified in conjunction"));
        }
    }
    if !bind.is_empty() {
        m.insert("BindOptions".into(), Value::Object(bind));
    }
    if let Some(v) = volume {
        m.insert("VolumeOptions".into(), Value::Object(v));
    }
    if !tmpfs.is_empty() {
        m.insert("TmpfsOptions".into(), Value::Object(tmpfs));
    }
    if image {
        return Err(bad(value, "image mounts (type=image) are not supported by this daemon"));
    }
    Ok(Value::Object(m))
}

/// Sets Binds, Volumes, Mounts, VolumesFrom and VolumeDriver of the create body.
pub fn add_to_body(p: &Parsed, body: &mut Value) -> Result<(), String> {
    let mut binds = Vec::new();
    let mut volumes = Map::new();
    for v in p.list("volume") {
        match split_volume(v) {
            Some(b) => binds.push(b),
            None => {
                volumes.insert(v.to_string(), json!({}));
            }
        }
    }
    let mounts: Vec<Value> = p.list("mount").into_iter().map(parse_mount).collect::<Result<_, _>>()?;
    body["Volumes"] = if volumes.is_empty() { Value::Null } else { Value::Object(volumes) };
    let h = &mut body["HostConfig"];
    h["Binds"] = if binds.is_empty() { Value::Null } else { json!(binds) };
    if !mounts.is_empty() {
        h["Mounts"] = json!(mounts);
    }
    let from: Vec<&str> = p.list("volumes-from");
    h["VolumesFrom"] = if from.is_empty() { Value::Null } else { json!(from) };
    h["VolumeDriver"] = json!(p.value("volume-driver").unwrap_or(""));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_split_into_binds_and_anonymous_ones() {
        assert_eq!(split_volume("/h:/c:ro"), Some("/h:/c:ro".into()));
        assert_eq!(split_volume("data:/c"), Some("data:/c".into()));
        assert_eq!(split_volume("/c"), None);
        assert!(split_volume("./h:/c").unwrap().ends_with("/h:/c"));
        assert!(split_volume("./h:/c").unwrap().starts_with('/'));
    }

    #[test]
    fn mount_flags_parse_as_the_cli_28() {
        assert_eq!(parse_mount("type=bind,src=/a,dst=/b,readonly,bind-propagation=rshared").unwrap(), json!({"Type": "bind", "Source": "/a", "Target": "/b", "ReadOnly": true, "BindOptions": {"Propagation": "rshared"}}));
        assert_eq!(
            parse_mount("source=v1,target=/d,volume-nocopy,volume-opt=type=tmpfs,volume-opt=device=tmpfs,volume-subpath=x").unwrap(),
            json!({"Type": "volume", "Source": "v1", "Target": "/d", "VolumeOptions": {"NoCopy": true, "Labels": {}, "DriverConfig": {"Options": {"type": "tmpfs", "device": "tmpfs"}}, "Subpath": "x"}})
        );
        assert_eq!(parse_mount("type=tmpfs,destination=/t,tmpfs-size=1m,tmpfs-mode=1770").unwrap(), json!({"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1048576, "Mode": 0o1770}}));
        assert_eq!(parse_mount("type=bind,src=/a").unwrap_err(), "invalid argument \"type=bind,src=/a\" for \"--mount\" flag: target is required");
        assert_eq!(parse_mount("type=tmpfs,dst=/a,volume-nocopy").unwrap_err(), "invalid argument \"type=tmpfs,dst=/a,volume-nocopy\" for \"--mount\" flag: cannot mix 'volume-*' options with mount type 'tmpfs'");
        assert_eq!(parse_mount("type=bind,dst=/a,foo=1").unwrap_err(), "invalid argument \"type=bind,dst=/a,foo=1\" for \"--mount\" flag: unexpected key 'foo' in 'foo=1'");
        assert_eq!(parse_mount("dst=/a,bogus").unwrap_err(), "invalid argument \"dst=/a,bogus\" for \"--mount\" flag: invalid field 'bogus' must be a key=value pair");
    }
}
