//! System-wide commands: `version`, `info`, and `inspect` (containers, then images).

use super::api::{seg, Api, ApiError};
use super::flags::{flag, Kind, Parsed};
use super::{format, out, Args, Command, Ctx, Failure};
use serde_json::Value;

pub const COMMANDS: &[Command] = &[
    Command {
        name: "version",
        usage: "docker version [OPTIONS]",
        short: "Show the Docker version information",
        args: Args::None,
        interspersed: true,
        flags: &[flag("format", Some('f'), Kind::Value, "Format the output using the given Go template")],
        run: version_cmd,
    },
    Command {
        name: "info",
        usage: "docker info [OPTIONS]",
        short: "Display system-wide information",
        args: Args::None,
        interspersed: true,
        flags: &[flag("format", Some('f'), Kind::Value, "Format the output using the given Go template")],
        run: info_cmd,
    },
    Command {
        name: "inspect",
        usage: "docker inspect [OPTIONS] NAME|ID [NAME|ID...]",
        short: "Return low-level information on Docker objects",
        args: Args::AtLeast(1),
        interspersed: true,
        flags: &[
            flag("format", Some('f'), Kind::Value, "Format the output using the given Go template"),
            flag("size", Some('s'), Kind::Bool, "Display total file sizes if the type is container"),
            flag("type", None, Kind::Value, "Return JSON for specified type"),
        ],
        run: inspect_cmd,
    },
];

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn row(indent: &str, label: &str, value: &str, width: usize) -> String {
    format!("{indent}{:<width$}{value}\n", format!("{label}:"))
}

fn version_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    let api = ctx.api();
    let client_api = match &api {
        Ok(a) if a.version != super::api::CLIENT_API_VERSION => format!("{} (downgraded from {})", a.version, super::api::CLIENT_API_VERSION),
        _ => super::api::CLIENT_API_VERSION.to_string(),
    };
    let server = api.as_ref().ok().map(|a| a.json("GET", "/version", &[], None));
    if let Some(f) = p.value("format") {
        let v = serde_json::json!({
            "Client": {"Version": crate::version::DOCKBOX, "ApiVersion": client_api, "GitCommit": crate::version::GIT_COMMIT, "Os": "linux", "Arch": arch()},
            "Server": server.as_ref().and_then(|s| s.as_ref().ok()).cloned().unwrap_or(Value::Null),
        });
        out(&format!("{}\n", format::render_template(f, &v).map_err(|e| Failure::new(e, 1))?));
    } else {
        let mut s = String::from("Client:\n");
        s += &row(" ", "Version", crate::version::DOCKBOX, 19);
        s += &row(" ", "API version", &client_api, 19);
        s += &row(" ", "Git commit", crate::version::GIT_COMMIT, 19);
        s += &row(" ", "OS/Arch", &format!("linux/{}", arch()), 19);
        s += &row(" ", "Context", "default", 19);
        if let Some(Ok(v)) = &server {
            let str_of = |k: &str| v[k].as_str().unwrap_or("").to_string();
            s += "\nServer:\n Engine:\n";
            s += &row("  ", "Version", &str_of("Version"), 18);
            s += &row("  ", "API version", &format!("{} (minimum version {})", str_of("ApiVersion"), str_of("MinAPIVersion")), 18);
            if !str_of("GoVersion").is_empty() {
                s += &row("  ", "Go version", &str_of("GoVersion"), 18);
            }
            s += &row("  ", "Git commit", &str_of("GitCommit"), 18);
            s += &row("  ", "Built", &ansic_time(&str_of("BuildTime")), 18);
            s += &row("  ", "OS/Arch", &format!("{}/{}", str_of("Os"), str_of("Arch")), 18);
            s += &row("  ", "Experimental", &v["Experimental"].as_bool().unwrap_or(false).to_string(), 18);
            for c in v["Components"].as_array().into_iter().flatten() {
                let name = c["Name"].as_str().unwrap_or("");
                if name == "Engine" {
                    continue;
                }
                s += &format!(" {name}:\n");
                s += &row("  ", "Version", c["Version"].as_str().unwrap_or(""), 18);
                s += &row("  ", "GitCommit", c["Details"]["GitCommit"].as_str().unwrap_or(""), 18);
            }
        }
        out(&s);
    }
    match (api, server) {
        (Err(e), _) => Err(e.into()),
        (_, Some(Err(e))) => Err(e.into()),
        _ => Ok(0),
    }
}

/// An RFC 3339 time in Go's ANSIC layout ("Thu May  7 21:09:36 2026"), as `docker version`
/// prints build times; anything unparsable is shown as given.
fn ansic_time(rfc3339: &str) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let Some(t) = crate::sys::parse_rfc3339(rfc3339) else { return rfc3339.to_string() };
    let secs = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
    // Re-format through rfc3339_nanos so the fields are in UTC.
    let utc = crate::sys::rfc3339_nanos(t);
    let num = |r: std::ops::Range<usize>| utc.get(r).and_then(|x| x.parse::<usize>().ok()).unwrap_or(0);
    let (year, month, day) = (num(0..4), num(5..7), num(8..10));
    format!("{} {} {day:>2} {} {year}", DAYS[(secs.div_euclid(86400) % 7) as usize], MONTHS[month.clamp(1, 12) - 1], &utc[11..19])
}


fn info_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    let api = ctx.api()?;
    let v = api.json("GET", "/info", &[], None)?;
    if let Some(f) = p.value("format") {
        out(&format!("{}\n", format::render_template(f, &v).map_err(|e| Failure::new(e, 1))?));
        return Ok(0);
    }
    let s_of = |k: &str| match &v[k] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let mut s = String::from("Client:\n Context:    default\n Debug Mode: false\n\nServer:\n");
    s += &format!(" Containers: {}\n", s_of("Containers"));
    s += &format!("  Running: {}\n  Paused: {}\n  Stopped: {}\n", s_of("ContainersRunning"), s_of("ContainersPaused"), s_of("ContainersStopped"));
    s += &format!(" Images: {}\n", s_of("Images"));
    s += &format!(" Server Version: {}\n", s_of("ServerVersion"));
    s += &format!(" Storage Driver: {}\n", s_of("Driver"));
    s += &format!(" Logging Driver: {}\n", s_of("LoggingDriver"));
    s += &format!(" Cgroup Driver: {}\n", s_of("CgroupDriver"));
    if !s_of("CgroupVersion").is_empty() {
        s += &format!(" Cgroup Version: {}\n", s_of("CgroupVersion"));
    }
    if let Some(runtimes) = v["Runtimes"].as_object() {
        s += &format!(" Runtimes: {}\n", runtimes.keys().cloned().collect::<Vec<_>>().join(" "));
    }
    s += &format!(" Default Runtime: {}\n", s_of("DefaultRuntime"));
    if v.get("InitBinary").is_some() {
        s += &format!(" Init Binary: {}\n", s_of("InitBinary"));
    }
    for (name, key) in [("containerd", "ContainerdCommit"), ("runc", "RuncCommit"), ("init", "InitCommit")] {
        let Some(commit) = v.get(key).filter(|c| c.is_object()) else { continue };
        let (id, expected) = (commit["ID"].as_str().unwrap_or(""), commit["Expected"].as_str().unwrap_or(""));
        s += &format!(" {name} version: {id}");
        if id != expected {
            s += &format!(" (expected: {expected})");
        }
        s += "\n";
    }
    s += &format!(" Kernel Version: {}\n", s_of("KernelVersion"));
    s += &format!(" Operating System: {}\n", s_of("OperatingSystem"));
    s += &format!(" OSType: {}\n", s_of("OSType"));
    s += &format!(" Architecture: {}\n", s_of("Architecture"));
    s += &format!(" CPUs: {}\n", s_of("NCPU"));
    s += &format!(" Total Memory: {}\n", crate::units::bytes_size(v["MemTotal"].as_f64().unwrap_or(0.0)));
    s += &format!(" Name: {}\n", s_of("Name"));
    s += &format!(" ID: {}\n", s_of("ID"));
    s += &format!(" Docker Root Dir: {}\n", s_of("DockerRootDir"));
    s += &format!(" Debug Mode: {}\n", s_of("Debug"));
    s += &format!(" Experimental: {}\n", s_of("ExperimentalBuild"));
    s += &format!(" Live Restore Enabled: {}\n", s_of("LiveRestoreEnabled"));
    out(&s);
    Ok(0)
}

/// The raw JSON text of an object, trying containers before images unless `kind` says.
fn inspect_raw(api: &Api, name: &str, kind: Option<&str>, size: bool) -> Result<String, ApiError> {
    let attempts: &[&str] = match kind {
        Some("container") => &["container"],
        Some("image") => &["image"],
        Some("network") => &["network"],
        _ => &["container", "image", "network"],
    };
    let mut last = ApiError::Daemon { status: 404, message: String::new() };
    for a in attempts {
        let (path, query) = match *a {
            "container" => (format!("/containers/{}/json", seg(name)), if size { vec![("size", "1".to_string())] } else { vec![] }),
            "network" => (format!("/networks/{}", seg(name)), vec![]),
            _ => (format!("/images/{}/json", seg(name)), vec![]),
        };
        match api.call("GET", &path, &query, None, &[]) {
            Ok(r) => return r.bytes().map(|b| String::from_utf8_lossy(&b).trim().to_string()).map_err(|e| ApiError::Io(e.to_string())),
            Err(e) if e.is_not_found() => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

fn inspect_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    let api = ctx.api()?;
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for name in &p.args {
        match inspect_raw(api, name, p.value("type"), p.bool("size")) {
            Ok(raw) => found.push(raw),
            Err(e) if e.is_not_found() => errors.push(format!("Error: No such object: {name}")),
            Err(e) => errors.push(e.to_string()),
        }
    }
    print_inspected(&found, p.value("format").filter(|f| !f.is_empty()), errors)
}

/// Prints inspected objects (the daemon's JSON, one string each) as `docker inspect` and the
/// `inspect` of each object kind do: indented JSON, `json`, or a Go template; `errors` (the
/// names not found, ...) end it with exit 1 after what was found.
pub fn print_inspected(found: &[String], format: Option<&str>, mut errors: Vec<String>) -> Result<i32, Failure> {
    match format {
        // Docker's JSON inspector: the daemon's objects, compacted, in one array.
        Some("json") => out(&format!("[{}]\n", found.iter().map(|r| format::compact_json(r)).collect::<Vec<_>>().join(","))),
        Some(f) => {
            // As Docker's template inspector: a format that does not parse ends it (64); an
            // element it fails on is an error beside the others; a blank line when nothing
            // rendered.
            let t = crate::template::Template::parse(f).map_err(|e| Failure::new(format!("template parsing error: {e}"), 64))?;
            let mut text = String::new();
            for raw in found {
                let v: Value = serde_json::from_str(raw).unwrap_or(Value::Null);
                match t.execute(&v, &[]) {
                    Ok(line) => text.push_str(&format!("{line}\n")),
                    Err(e) => errors.push(format!("template parsing error: {e}")),
                }
            }
            out(if text.is_empty() { "\n" } else { &text });
        }
        None => out(&format!("{}\n", format::indent_json(&format!("[{}]", found.join(","))))),
    }
    if errors.is_empty() {
        Ok(0)
    } else {
        Err(Failure::new(errors.join("\n"), 1))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn build_times_in_ansic() {
        assert_eq!(super::ansic_time("2026-05-07T21:09:36.000000000+00:00"), "Thu May  7 21:09:36 2026");
        assert_eq!(super::ansic_time("2023-11-14T22:13:20Z"), "Tue Nov 14 22:13:20 2023");
        assert_eq!(super::ansic_time("unknown"), "unknown");
    }

    #[test]
    fn binary_sizes() {
        assert_eq!(crate::units::bytes_size(8_232_000_000.0), "7.667GiB");
        assert_eq!(crate::units::bytes_size(1024.0), "1KiB");
    }
}
