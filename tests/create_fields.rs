//! Nothing accepted and ignored: every field of `POST /containers/create` is honoured or
//! refused (the Swagger walk), Docker's validation reaches our client and the real CLI, and the
//! honoured fields are seen from inside a running container.

mod common;

use common::{stderr, stdout, Dockerd};
use dockbox::daemon::create_fields::{lookup, Handling, Section, FIELDS};
use serde_json::Value;
use std::path::Path;

/// The Engine API's Swagger file, in the `shared/` folder beside the checkout.
const SWAGGER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/reference/engine-api-v1.44.yaml");

/// A YAML mapping or sequence entry: `key: value` with what is indented under it. Sequence
/// items have the key `-`.
#[derive(Debug)]
struct Node {
    key: String,
    value: String,
    children: Vec<Node>,
}

impl Node {
    fn get(&self, key: &str) -> Option<&Node> {
        self.children.iter().find(|n| n.key == key)
    }
}

fn unquote(s: &str) -> String {
    let s = s.trim();
    s.strip_prefix('"').and_then(|s| s.strip_suffix('"')).or_else(|| s.strip_prefix('\'').and_then(|s| s.strip_suffix('\''))).unwrap_or(s).to_string()
}

/// The lines that carry structure, as (indent, text): comments, blank lines, block scalars
/// (`|`, `>`) and the continuation lines of quoted scalars left out; `- key: v` split into a
/// sequence item and the entry inside it.
fn tokens(text: &str) -> Vec<(usize, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        i += 1;
        let content = line.trim_start();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let mut indent = line.len() - content.len();
        let mut content = content.to_string();
        while let Some(rest) = content.strip_prefix("- ").or_else(|| (content == "-").then_some("")) {
            out.push((indent, "-".to_string()));
            let rest = rest.trim_start();
            indent += content.len() - rest.len();
            content = rest.to_string();
            if content.is_empty() {
                break;
            }
        }
        if content.is_empty() {
            continue;
        }
        let value = content.split_once(':').map(|(_, v)| v.trim().to_string()).unwrap_or_default();
        if value.starts_with('|') || value.starts_with('>') {
            while i < lines.len() && (lines[i].trim().is_empty() || lines[i].len() - lines[i].trim_start().len() > indent) {
                i += 1;
            }
        } else if let Some(open) = value.strip_prefix('"') {
            // A double-quoted scalar runs until its closing quote, maybe lines later.
            let closed = |s: &str| s.ends_with('"') && !s.ends_with("\\\"");
            if !closed(open) {
                while i < lines.len() && !closed(lines[i].trim_end()) {
                    i += 1;
                }
                i += 1;
            }
        }
        out.push((indent, content));
    }
    out
}

fn parse_block(tokens: &[(usize, String)], pos: &mut usize, indent: usize) -> Vec<Node> {
    let mut nodes = Vec::new();
    while *pos < tokens.len() && tokens[*pos].0 == indent {
        let text = &tokens[*pos].1;
        *pos += 1;
        let (key, value) = match text.split_once(':') {
            Some((k, v)) if text != "-" => (unquote(k), unquote(v)),
            _ => (text.clone(), String::new()),
        };
        let children = if *pos < tokens.len() && tokens[*pos].0 > indent { parse_block(tokens, pos, tokens[*pos].0) } else { Vec::new() };
        nodes.push(Node { key, value, children });
    }
    nodes
}

fn parse_yaml(text: &str) -> Node {
    let tokens = tokens(text);
    let mut pos = 0;
    let children = parse_block(&tokens, &mut pos, 0);
    assert_eq!(pos, tokens.len(), "the reader stopped at {:?}", tokens.get(pos));
    Node { key: String::new(), value: String::new(), children }
}

/// The properties a schema defines, following `allOf` and `$ref`; `HostConfig` and
/// `NetworkingConfig` properties of the create body open their own sections.
fn walk(root: &Node, schema: &Node, section: Section, out: &mut Vec<(Section, String)>) {
    if let Some(r) = schema.get("$ref") {
        let name = r.value.strip_prefix("#/definitions/").expect("a local reference");
        let def = root.get("definitions").and_then(|d| d.get(name)).unwrap_or_else(|| panic!("no definition {name}"));
        walk(root, def, section, out);
    }
    for item in schema.get("allOf").map(|a| a.children.as_slice()).unwrap_or(&[]) {
        walk(root, item, section, out);
    }
    for prop in schema.get("properties").map(|p| p.children.as_slice()).unwrap_or(&[]) {
        match (section, prop.key.as_str()) {
            (Section::Config, "HostConfig") => walk(root, prop, Section::HostConfig, out),
            (Section::Config, "NetworkingConfig") => walk(root, prop, Section::NetworkingConfig, out),
            _ => out.push((section, prop.key.clone())),
        }
    }
}

fn create_body_fields() -> Vec<(Section, String)> {
    let root = parse_yaml(&std::fs::read_to_string(SWAGGER).expect("the Engine API's Swagger file"));
    let post = root.get("paths").and_then(|p| p.get("/containers/create")).and_then(|c| c.get("post")).expect("POST /containers/create");
    let body = post.get("parameters").expect("parameters").children.iter().find(|p| p.get("name").is_some_and(|n| n.value == "body")).expect("the body parameter");
    let mut fields = Vec::new();
    walk(&root, body.get("schema").expect("the body's schema"), Section::Config, &mut fields);
    fields
}

#[test]
fn every_create_field_in_the_swagger_file_is_honoured_or_refused() {
    if !Path::new(SWAGGER).exists() {
        // CI always has shared/ beside its clone: there the walk must run.
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{SWAGGER} is missing");
        eprintln!("skipped: {SWAGGER} is missing");
        return;
    }
    let fields = create_body_fields();
    // The walk must have reached the three schemas, Resources (through HostConfig's allOf) included.
    for (section, name) in [(Section::Config, "Cmd"), (Section::HostConfig, "Binds"), (Section::HostConfig, "CpuShares"), (Section::HostConfig, "Ulimits"), (Section::NetworkingConfig, "EndpointsConfig")] {
        assert!(fields.contains(&(section, name.to_string())), "the walk missed {section:?}.{name}: {fields:?}");
    }
    assert!(fields.len() >= 90, "only {} fields found", fields.len());
    let missing: Vec<String> = fields.iter().filter(|(s, n)| lookup(*s, n).is_none()).map(|(s, n)| format!("{s:?}.{n}")).collect();
    assert!(missing.is_empty(), "create fields neither honoured nor refused: {missing:?}");
    // And the table names nothing the API lacks, but the one field older clients still send.
    let extra: Vec<String> = FIELDS.iter().filter(|f| !fields.contains(&(f.section, f.name.to_string())) && f.name != "KernelMemory").map(|f| f.name.to_string()).collect();
    assert!(extra.is_empty(), "{extra:?}");
    // Every refusal names its field.
    for f in FIELDS {
        if let Handling::Refused(why) = f.handling {
            assert!(why.contains(f.name), "{}: {why}", f.name);
        }
    }
}

#[test]
fn the_yaml_reader_follows_nesting_sequences_and_scalars() {
    let doc = "a:\n  description: |\n    text: not a key\n  b:\n    - $ref: \"#/x\"\n    - type: object\n      properties:\n        C:\n          description: \"long\n            - not: an item\"\n        D: {}\n";
    let root = parse_yaml(doc);
    let b = root.get("a").unwrap().get("b").unwrap();
    assert_eq!(b.children.len(), 2);
    assert_eq!(b.children[0].get("$ref").unwrap().value, "#/x");
    let props: Vec<&str> = b.children[1].get("properties").unwrap().children.iter().map(|n| n.key.as_str()).collect();
    assert_eq!(props, ["C", "D"]);
    assert!(root.get("a").unwrap().get("text").is_none());
}

const CLI: &str = "/usr/local/bin/docker";

fn real_cli() -> bool {
    Path::new(CLI).exists()
}

/// A run that must fail at create: exit 125, the message on stderr, no container left.
fn assert_refused(d: &Dockerd, o: &std::process::Output, message: &str, args: &[&str]) {
    assert_eq!(o.status.code(), Some(125), "{args:?}\nstdout: {}\nstderr: {}", stdout(o), stderr(o));
    assert!(stderr(o).contains(message), "expected {message:?} in: {}", stderr(o));
    let (_, list) = d.api("GET", "/containers/json?all=1", None);
    assert_eq!(list, Value::Array(vec![]), "a refused create left a container");
}

/// Our client's flags, the real CLI's (None when it checks them its own way), the message.
type Case<'a> = (&'a [&'a str], Option<&'a [&'a str]>, &'a str);

#[test]
fn dockers_validation_reaches_both_clients() {
    let Some(d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    assert_eq!(d.docker(&["pull", &image]).status.code(), Some(0));
    // (our flags, real CLI flags or None when it checks them itself, message)
    let cases: &[Case] = &[
        (&["--restart", "always:3"], Some(&["--restart", "always:3"]), "invalid restart policy: maximum retry count can only be used with 'on-failure'"),
        (&["--restart", "sometimes"], Some(&["--restart", "sometimes"]), "invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"),
        (&["--restart", ":1"], None, "invalid restart policy format: no policy provided before colon"),
        (&["--rm", "--restart", "always"], Some(&["--rm", "--restart", "always"]), "conflicting options: cannot specify both --restart and --rm"),
        (&["--restart", "on-failure:-1"], Some(&["--restart", "on-failure:-1"]), "invalid restart policy: maximum retry count cannot be negative"),
        (&["--log-driver", "bogus"], Some(&["--log-driver", "bogus"]), "logger: no log driver named 'bogus' is registered"),
        (&["--log-driver", "gelf"], Some(&["--log-driver", "gelf"]), "logging driver 'gelf' (HostConfig.LogConfig.Type) is not supported"),
        (&["--log-driver", "none", "--log-opt", "a=b"], Some(&["--log-driver", "none", "--log-opt", "a=b"]), "invalid logging opts for driver none"),
        (&["--log-opt", "nope=1"], Some(&["--log-opt", "nope=1"]), "unknown log opt 'nope' for json-file log driver"),
        (&["-m", "1m"], Some(&["-m", "1m"]), "Minimum memory limit allowed is 6MB"),
        (&["-m", "64m", "--memory-swap", "32m"], Some(&["-m", "64m", "--memory-swap", "32m"]), "Minimum memoryswap limit should be larger than memory limit"),
        (&["--cpus", "-1"], Some(&["--cpus", "-1"]), "range of CPUs is from 0.01 to"),
        (&["--cpu-shares", "-5"], Some(&["--cpu-shares", "-5"]), "invalid CpuShares: CPU shares can not be negative"),
        (&["-m", "lots"], Some(&["-m", "lots"]), "invalid argument \"lots\" for \"-m, --memory\" flag"),
        (&["--add-host", "nocolon"], Some(&["--add-host", "nocolon"]), "bad format for add-host: \"nocolon\""),
        (&["--dns", "1.2.3"], Some(&["--dns", "1.2.3"]), "IP address is not correctly formatted: 1.2.3"),
        (&["--device", "/dev/null:/dev/x:rwx"], Some(&["--device", "/dev/null:/dev/x:rwx"]), "bad mode specified: rwx"),
        (&["--pid", "weird"], Some(&["--pid", "weird"]), "--pid: invalid PID mode"),
        (&["--sysctl", "kernel.panic=1"], Some(&["--sysctl", "kernel.panic=1"]), "sysctl 'kernel.panic=1' is not allowed"),
        // The real CLI drops KernelMemory itself for API 1.42 and later.
        (&["--kernel-memory", "8m"], None, "HostConfig.KernelMemory is not supported"),
        (&["--oom-score-adj", "1001"], Some(&["--oom-score-adj", "1001"]), "Invalid value 1001, range for oom score adj is [-1000, 1000]"),
        (&["--ipc", "weird"], Some(&["--ipc", "weird"]), "invalid IPC mode: weird"),
        (&["--add-host", "gw:host-gateway"], Some(&["--add-host", "gw:host-gateway"]), "--host-gateway-ip"),
        // This daemon has no default bridge (`--bridge=none`): containers are on `none`.
        (&["--mac-address", "92:d0:c6:0a:29:33"], Some(&["--mac-address", "92:d0:c6:0a:29:33"]), "conflicting options: mac-address and the network mode"),
        (&["--link", "other:alias"], Some(&["--link", "other:alias"]), "could not get container for other"),
        (&["-p", "8080:80"], Some(&["-p", "8080:80"]), "conflicting options: port publishing and the network mode"),
        (&["--cap-add", "BOGUS"], Some(&["--cap-add", "BOGUS"]), "invalid CapAdd: unknown capability: \"CAP_BOGUS\""),
        (&["--stop-signal", "SIGNOPE"], Some(&["--stop-signal", "SIGNOPE"]), "Invalid signal: SIGNOPE"),
        (&["--volume-driver", "flocker", "-v", "named:/data"], Some(&["--volume-driver", "flocker", "-v", "named:/data"]), "error looking up volume plugin flocker: plugin \"flocker\" not found"),
        (&["--mount", "type=bind,src=/nonexistent-dbx,dst=/x"], Some(&["--mount", "type=bind,src=/nonexistent-dbx,dst=/x"]), "bind source path does not exist: /nonexistent-dbx"),
        (&["-v", "/tmp:/x:bogus"], Some(&["-v", "/tmp:/x:bogus"]), "invalid mode: bogus"),
    ];
    for (ours, theirs, message) in cases {
        let mut args = vec!["run"];
        args.extend_from_slice(ours);
        args.extend([image.as_str(), "true"]);
        let o = d.docker(&args);
        assert_refused(&d, &o, message, &args);
        if let (true, Some(theirs)) = (real_cli(), theirs) {
            let mut args = vec!["run"];
            args.extend_from_slice(theirs);
            args.extend([image.as_str(), "true"]);
            let o = d.real_docker(CLI, &args);
            assert_refused(&d, &o, message, &args);
        }
    }
    // What only the daemon checks (the real CLI lets it through), sent as the API's body.
    let daemon_only = [
        (r#"{"Image": "IMG", "HostConfig": {"Sysctls": {"kernel.panic": "1"}}}"#, "sysctl \"kernel.panic\" is not in a separate kernel namespace"),
        (r#"{"Image": "IMG", "HostConfig": {"CpuCount": 2}}"#, "HostConfig.CpuCount"),
        (r#"{"Image": "IMG", "HostConfig": {"LogConfig": {"Type": "json-file", "Config": {"max-size": "0"}}}}"#, "max-size must be a positive number"),
        (r#"{"Image": "IMG", "Healthcheck": {"Test": ["CMD", "true"], "Interval": 100}}"#, "Interval in Healthcheck cannot be less than 1ms"),
        (r#"{"Image": "IMG", "NetworkingConfig": {"EndpointsConfig": {"none": {"DriverOpts": {"a": "b"}}}}}"#, "none.DriverOpts is not supported"),
        (r#"{"Image": "IMG", "NetworkingConfig": {"EndpointsConfig": {"none": {"Aliases": ["a"]}}}}"#, "network-scoped alias is supported only for containers in user defined networks"),
        (r#"{"Image": "IMG", "HostConfig": {"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": -1}}}"#, "invalid restart policy: maximum retry count cannot be negative"),
        (r#"{"Image": "IMG", "HostConfig": {"Mounts": [{"Type": "npipe", "Target": "/x"}]}}"#, "mount type \"npipe\" (HostConfig.Mounts) is not supported"),
        (r#"{"Image": "IMG", "HostConfig": {"Binds": ["/a:/x"], "Tmpfs": {"/x": ""}}}"#, "Duplicate mount point: /x"),
    ];
    let (status, answer) = d.api("POST", "/containers/create", Some(&format!(r#"{{"Image": "{image}", "HostConfig": {{"NetworkMode": "mynet"}}}}"#)));
    assert_eq!((status, answer["message"].as_str()), (404, Some("network mynet not found")));
    for (body, message) in daemon_only {
        let (status, answer) = d.api("POST", "/containers/create", Some(&body.replace("IMG", &image)));
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(answer["message"].as_str().unwrap_or("").contains(message), "{body}: {answer}");
    }
    // A device that is not there is found at start, as Docker finds it.
    let o = d.docker(&["run", "--rm", "--device", "/dev/nonexistent-dockbox", &image, "true"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("error gathering device information while adding custom device \"/dev/nonexistent-dockbox\": no such file or directory"), "{}", stderr(&o));
}

fn run_ok(d: &Dockerd, cli: Option<&str>, args: &[&str]) -> String {
    let o = match cli {
        Some(cli) => d.real_docker(cli, args),
        None => d.docker(args),
    };
    assert_eq!(o.status.code(), Some(0), "{cli:?} {args:?}\nstdout: {}\nstderr: {}\ndockerd: {}", stdout(&o), stderr(&o), d.log());
    stdout(&o)
}

/// The lines `KEY=...` a script printed, as a map.
fn report(out: &str) -> std::collections::HashMap<String, String> {
    out.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

const PROBE: &str = r#"
echo "HOSTNAME=$(hostname)"
echo "ETC_HOSTNAME=$(cat /etc/hostname)"
echo "DOMAIN=$(cat /proc/sys/kernel/domainname)"
echo "HOSTS_DB=$(grep -c "^10.1.2.3	db$" /etc/hosts)"
echo "NAMESERVERS=$(grep ^nameserver /etc/resolv.conf | tr '\n' ' ')"
echo "SEARCH=$(grep ^search /etc/resolv.conf)"
echo "OPTIONS=$(grep ^options /etc/resolv.conf)"
echo "GROUPS=$(id -G)"
echo "NAMED_GID=$(awk -F: '$1 == "nogroup" {print $3}' /etc/group)"
echo "SHM_KB=$(df -k /dev/shm | awk 'NR == 2 {print $2}')"
echo "IP_FORWARD=$(cat /proc/sys/net/ipv4/ip_forward)"
echo "SHMMAX=$(cat /proc/sys/kernel/shmmax)"
echo "OOM_SCORE_ADJ=$(cat /proc/self/oom_score_adj)"
echo "XNULL=$(ls -l /dev/xnull | awk '{print substr($1, 1, 1) $5 $6}')"
echo "XNULL_WRITE=$(echo x > /dev/xnull && echo ok)"
echo "NOFILE=$(ulimit -n):$(ulimit -Hn)"
echo "CAPEFF=$(awk '/^CapEff/ {print $2}' /proc/self/status)"
echo "SCRATCH=$(awk '$2 == "/scratch" {print $3 " " $4}' /proc/mounts)"
"#;

fn check_probe(out: &str) {
    let r = report(out);
    let get = |k: &str| r.get(k).map(String::as_str).unwrap_or_else(|| panic!("{k} missing in:\n{out}"));
    assert_eq!(get("HOSTNAME"), "web", "{out}");
    assert_eq!(get("ETC_HOSTNAME"), "web");
    assert_eq!(get("DOMAIN"), "example.org");
    assert_eq!(get("HOSTS_DB"), "1", "{out}");
    assert_eq!(get("NAMESERVERS").trim(), "nameserver 9.9.9.9");
    assert_eq!(get("SEARCH"), "search corp.example");
    assert_eq!(get("OPTIONS"), "options ndots:3");
    let groups: Vec<&str> = get("GROUPS").split(' ').collect();
    assert!(groups.contains(&get("NAMED_GID")) && !get("NAMED_GID").is_empty(), "{out}");
    assert!(groups.contains(&"4242"), "{out}");
    assert_eq!(get("SHM_KB"), "8192");
    assert_eq!(get("IP_FORWARD"), "1");
    assert_eq!(get("SHMMAX"), "123456");
    assert_eq!(get("OOM_SCORE_ADJ"), "500");
    assert_eq!(get("XNULL"), "c1,3", "{out}");
    assert_eq!(get("XNULL_WRITE"), "ok");
    assert_eq!(get("NOFILE"), "100:200");
    let capeff = u64::from_str_radix(get("CAPEFF"), 16).unwrap();
    assert_ne!(capeff & (1 << (caps::Capability::CAP_NET_ADMIN.index())), 0, "CAP_NET_ADMIN missing: {capeff:x}");
    assert_eq!(capeff & (1 << (caps::Capability::CAP_SYS_ADMIN.index())), 0);
    let scratch = get("SCRATCH");
    assert!(scratch.starts_with("tmpfs ") && scratch.contains("nosuid") && scratch.contains("nodev") && scratch.contains("noexec") && scratch.contains("size=1024k"), "{scratch}");
}

/// Each honoured setting, observed from inside the container, through our client and the
/// real CLI.
#[test]
fn host_settings_are_seen_inside_the_container() {
    let Some(d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    assert_eq!(d.docker(&["pull", &image]).status.code(), Some(0));
    let flags = [
        "--hostname", "web", "--domainname", "example.org", "--add-host", "db:10.1.2.3", "--dns", "9.9.9.9",
        "--dns-search", "corp.example", "--dns-option", "ndots:3", "--group-add", "nogroup", "--group-add", "4242",
        "--shm-size", "8m", "--sysctl", "net.ipv4.ip_forward=1", "--sysctl", "kernel.shmmax=123456",
        "--oom-score-adj", "500", "--device", "/dev/null:/dev/xnull:rw", "--ulimit", "nofile=100:200",
        "--cap-add", "NET_ADMIN", "--tmpfs", "/scratch:size=1m",
    ];
    let mut args = vec!["run", "--rm"];
    args.extend(flags);
    args.extend([image.as_str(), "sh", "-c", PROBE]);
    check_probe(&run_ok(&d, None, &args));
    // The real CLI 28, and Debian's 20.10 (API 1.41) when installed.
    for cli in [CLI, "/usr/bin/docker"] {
        if Path::new(cli).exists() {
            check_probe(&run_ok(&d, Some(cli), &args));
        }
    }
}

fn ns_link(pid: &str, ns: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{ns}")).unwrap().to_string_lossy().into_owned()
}

/// `--pid`, `--ipc`, `--uts`, `--network host` and `--cgroupns` share the host's (or another
/// container's) namespaces, or not.
#[test]
fn namespace_modes_share_what_they_name() {
    let Some(d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    assert_eq!(d.docker(&["pull", &image]).status.code(), Some(0));
    let inside = |flags: &[&str], script: &str| {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(flags);
        args.extend([image.as_str(), "sh", "-c", script]);
        run_ok(&d, None, &args).trim().to_string()
    };
    let host_init = std::fs::read_to_string("/proc/1/comm").unwrap().trim().to_string();
    assert_eq!(inside(&[], "cat /proc/1/comm; true"), "sh");
    assert_eq!(inside(&["--pid", "host"], "cat /proc/1/comm; true"), host_init);
    for ns in ["ipc", "net", "uts", "cgroup"] {
        let own = inside(&[], &format!("readlink /proc/self/ns/{ns}"));
        let host = ns_link("self", ns);
        let (flag, value) = match ns {
            "net" => ("--network", "host"),
            "cgroup" => ("--cgroupns", "host"),
            other => (if other == "ipc" { "--ipc" } else { "--uts" }, "host"),
        };
        assert_eq!(inside(&[flag, value], &format!("readlink /proc/self/ns/{ns}")), host, "{flag} {value}");
        if ns == "cgroup" {
            assert_ne!(inside(&["--cgroupns", "private"], "readlink /proc/self/ns/cgroup"), host);
        } else {
            assert_ne!(own, host, "{ns} is the host's by default");
        }
    }
    let host_name = nix::unistd::gethostname().unwrap().into_string().unwrap();
    assert_eq!(inside(&["--uts", "host"], "hostname"), host_name);
    assert_eq!(inside(&["--ipc", "none"], "grep -c ' /dev/shm ' /proc/mounts || true"), "0");
    assert_eq!(inside(&["--ipc", "shareable"], "grep -c ' /dev/shm ' /proc/mounts"), "1");

    // --pid container:NAME sees the other container's processes.
    run_ok(&d, None, &["run", "-d", "--name", "donor", &image, "sleep", "300"]);
    assert_eq!(inside(&["--pid", "container:donor"], "cat /proc/1/comm; true"), "sleep");
    let pid = d.api("GET", "/containers/donor/json", None).1["State"]["Pid"].as_u64().unwrap().to_string();
    assert_eq!(inside(&["--pid", "container:donor"], "readlink /proc/self/ns/pid"), ns_link(&pid, "pid"));
    let o = d.docker(&["run", "--rm", "--ipc", "container:donor", &image, "true"]);
    assert!(stderr(&o).contains("non-shareable IPC (hint: use IpcMode:shareable for the donor container)"), "{}", stderr(&o));
    run_ok(&d, None, &["rm", "-f", "donor"]);
    let o = d.docker(&["run", "--rm", "--pid", "container:donor", &image, "true"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("No such container: donor"), "{}", stderr(&o));

    // --network container:NAME joins its network namespace and takes its name files.
    run_ok(&d, None, &["run", "-d", "--name", "net-donor", "-h", "donorhost", "--add-host", "peer:10.9.8.7", &image, "sleep", "300"]);
    let pid = d.api("GET", "/containers/net-donor/json", None).1["State"]["Pid"].as_u64().unwrap().to_string();
    let out = inside(&["--network", "container:net-donor"], "readlink /proc/self/ns/net; hostname; cat /etc/hostname; grep -c peer /etc/hosts");
    assert_eq!(out, format!("{}\ndonorhost\ndonorhost\n1", ns_link(&pid, "net")));
    let o = d.docker(&["run", "--rm", "--network", "container:net-donor", "-h", "mine", &image, "true"]);
    assert!(stderr(&o).contains("conflicting options: hostname and the network mode"), "{}", stderr(&o));
    run_ok(&d, None, &["rm", "-f", "net-donor"]);

    // --ipc container:NAME joins a shareable container's IPC namespace and /dev/shm.
    run_ok(&d, None, &["run", "-d", "--name", "ipc-donor", "--ipc", "shareable", "--shm-size", "2m", &image, "sh", "-c", "echo shared > /dev/shm/x; sleep 300"]);
    let pid = d.api("GET", "/containers/ipc-donor/json", None).1["State"]["Pid"].as_u64().unwrap().to_string();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let out = inside(&["--ipc", "container:ipc-donor"], "cat /dev/shm/x; readlink /proc/self/ns/ipc; df -k /dev/shm | awk 'NR == 2 {print $2}'");
    assert_eq!(out, format!("shared\n{}\n2048", ns_link(&pid, "ipc")));
    run_ok(&d, None, &["rm", "-f", "ipc-donor"]);
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(&format!("{}/data/containers/", d.tmp.path().display())), "a /dev/shm is still mounted: {mounts}");

    // --privileged: every capability, the host's devices, nothing masked.
    let capeff = u64::from_str_radix(&inside(&["--privileged"], "awk '/^CapEff/ {print $2}' /proc/self/status"), 16).unwrap();
    assert_ne!(capeff & (1 << (caps::Capability::CAP_SYS_ADMIN.index())), 0);
    if let Some(masked) = ["/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/proc/kcore"].into_iter().find(|p| Path::new(p).exists()) {
        assert_eq!(inside(&["--privileged"], &format!("grep -c ' {masked} ' /proc/mounts || true")), "0");
        assert_eq!(inside(&[], &format!("grep -c ' {masked} ' /proc/mounts")), "1");
    }
    let host_devices = std::fs::read_dir("/dev").unwrap().flatten().filter(|e| e.file_name() == "loop-control" || e.file_name() == "kmsg").map(|e| e.file_name().to_string_lossy().into_owned()).next();
    if let Some(dev) = host_devices {
        assert_eq!(inside(&["--privileged"], &format!("test -c /dev/{dev} && echo yes")), "yes");
        assert_eq!(inside(&[], &format!("test -e /dev/{dev} && echo yes || echo no")), "no");
    }
}

/// The container's cgroup files carry the limits, and its device list the rules.
#[test]
fn resource_settings_reach_the_cgroup() {
    let Some(d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    assert_eq!(d.docker(&["pull", &image]).status.code(), Some(0));
    if !Path::new("/sys/fs/cgroup/memory/memory.soft_limit_in_bytes").exists() {
        eprintln!("skipped: needs cgroup v1's memory controller");
        return;
    }
    let script = "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory/memory.soft_limit_in_bytes /sys/fs/cgroup/cpuset/cpuset.cpus; grep -c 'c 42:\\* rwm' /sys/fs/cgroup/devices/devices.list";
    let out = run_ok(&d, None, &["run", "--rm", "-m", "64m", "--memory-reservation", "32m", "--cpuset-cpus", "0", "--device-cgroup-rule", "c 42:* rwm", &image, "sh", "-c", script]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines, ["67108864", "33554432", "0", "1"], "{out}");
}

/// `--stop-signal` and `--stop-timeout` are what `docker stop` uses.
#[test]
fn stop_signal_and_timeout_are_used_by_stop() {
    let Some(d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    assert_eq!(d.docker(&["pull", &image]).status.code(), Some(0));
    run_ok(&d, None, &["run", "-d", "--name", "usr1", "--stop-signal", "USR1", &image, "sh", "-c", "trap 'echo got-usr1; exit 7' USR1; while true; do sleep 0.1; done"]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    run_ok(&d, None, &["stop", "usr1"]);
    assert_eq!(run_ok(&d, None, &["inspect", "-f", "{{.State.ExitCode}}", "usr1"]).trim(), "7");
    assert_eq!(run_ok(&d, None, &["logs", "usr1"]).trim(), "got-usr1");
    // PID 1 ignores SIGTERM: the stop waits the container's timeout, then kills.
    run_ok(&d, None, &["run", "-d", "--name", "slow", "--stop-timeout", "1", &image, "sleep", "300"]);
    let started = std::time::Instant::now();
    run_ok(&d, None, &["stop", "slow"]);
    let took = started.elapsed();
    assert!(took >= std::time::Duration::from_millis(900) && took < std::time::Duration::from_secs(6), "{took:?}");
    assert_eq!(run_ok(&d, None, &["inspect", "-f", "{{.State.ExitCode}}", "slow"]).trim(), "137");
}

/// inspect's HostConfig is filled as Docker fills it; `--add-host NAME:host-gateway` uses
/// dockerd's `--host-gateway-ip`.
#[test]
fn inspect_shows_dockers_host_config_and_host_gateway_resolves() {
    let Some(d) = Dockerd::start_with(&["--host-gateway-ip", "192.0.2.10"]) else { return };
    let image = d.registry.image("busybox");
    assert_eq!(d.docker(&["pull", &image]).status.code(), Some(0));
    let out = run_ok(&d, None, &["run", "--name", "gw", "--label", "team=a", "--add-host", "gw:host-gateway", &image, "cat", "/etc/hosts"]);
    assert!(out.contains("192.0.2.10\tgw\n"), "{out}");
    let format = "{{.HostConfig.LogConfig.Type}} {{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}} {{.HostConfig.Runtime}} {{.HostConfig.ShmSize}} {{.HostConfig.IpcMode}} {{.Config.Labels.team}}";
    let expected = "json-file no 0 runc 67108864 private a";
    assert_eq!(run_ok(&d, None, &["inspect", "-f", format, "gw"]).trim(), expected);
    if real_cli() {
        assert_eq!(run_ok(&d, Some(CLI), &["inspect", "-f", format, "gw"]).trim(), expected);
    }
    let h = &d.api("GET", "/containers/gw/json", None).1["HostConfig"];
    for key in ["GroupAdd", "CgroupnsMode", "PidMode", "UTSMode", "MaskedPaths", "ReadonlyPaths", "OomKillDisable", "Devices"] {
        assert!(h.get(key).is_some(), "HostConfig.{key} missing: {h}");
    }
    assert_eq!(h["LogConfig"]["Config"], serde_json::json!({}));
    // Left out when unset, as Docker's omitempty fields are.
    assert!(h.get("Init").is_none() && h.get("KernelMemory").is_none() && h.get("Annotations").is_none(), "{h}");
    assert!(h["MaskedPaths"].as_array().is_some_and(|a| a.iter().any(|p| p == "/proc/kcore")), "{h}");
}

fn inspect(d: &Dockerd, name: &str) -> Value {
    d.api("GET", &format!("/containers/{name}/json"), None).1
}

/// Polls inspect until `done` holds (10 s at most).
fn wait_for(d: &Dockerd, name: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let v = inspect(d, name);
        if done(&v) {
            return v;
        }
        assert!(std::time::Instant::now() < deadline, "{name}: {what}: {}\n{}", v["State"], d.log());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Restart policies as Docker's: restarted after each exit with a backoff, `on-failure:N`
/// N times, `docker stop` ends it, and at daemon start `always` comes back while a stopped
/// `unless-stopped` does not.
#[test]
fn restart_policies_restart_with_backoff_until_stopped() {
    let Some(mut d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    assert_eq!(d.docker(&["pull", &image]).status.code(), Some(0));

    run_ok(&d, None, &["run", "-d", "--name", "fails", "--restart", "on-failure:2", &image, "sh", "-c", "echo run; exit 3"]);
    let v = wait_for(&d, "fails", "two restarts then exited", |v| v["RestartCount"] == 2 && v["State"]["Status"] == "exited");
    assert_eq!((v["State"]["ExitCode"].as_i64(), v["State"]["Restarting"].as_bool()), (Some(3), Some(false)));
    assert_eq!(run_ok(&d, None, &["logs", "fails"]), "run\nrun\nrun\n");
    assert_eq!(inspect(&d, "fails")["HostConfig"]["RestartPolicy"], serde_json::json!({"Name": "on-failure", "MaximumRetryCount": 2}));

    // A success is not a failure.
    run_ok(&d, None, &["run", "-d", "--name", "fine", "--restart", "on-failure", &image, "true"]);
    wait_for(&d, "fine", "exited", |v| v["State"]["Status"] == "exited");
    std::thread::sleep(std::time::Duration::from_millis(600));
    let v = inspect(&d, "fine");
    assert_eq!((v["RestartCount"].as_i64(), v["State"]["Status"].as_str()), (Some(0), Some("exited")));

    let cli = if real_cli() { Some(CLI) } else { None };
    run_ok(&d, cli, &["run", "-d", "--name", "loop", "--restart", "always", &image, "sh", "-c", "sleep 0.2"]);
    wait_for(&d, "loop", "restarted twice", |v| v["RestartCount"].as_i64() >= Some(2));
    run_ok(&d, cli, &["stop", "loop"]);
    let stopped = wait_for(&d, "loop", "stopped", |v| v["State"]["Status"] == "exited");
    std::thread::sleep(std::time::Duration::from_millis(800));
    let later = inspect(&d, "loop");
    assert_eq!(later["State"]["Status"], "exited", "docker stop did not end the restarts");
    assert_eq!(later["RestartCount"], stopped["RestartCount"]);

    // At daemon start: `always` comes back even after a stop, a stopped `unless-stopped` not.
    run_ok(&d, None, &["run", "-d", "--name", "back", "--restart", "always", &image, "sleep", "300"]);
    run_ok(&d, None, &["run", "-d", "--name", "kept", "--restart", "unless-stopped", &image, "sleep", "300"]);
    run_ok(&d, None, &["stop", "-t", "0", "back", "kept"]);
    d.crash_and_restart();
    wait_for(&d, "back", "started at daemon start", |v| v["State"]["Status"] == "running");
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(inspect(&d, "kept")["State"]["Status"], "exited");
    run_ok(&d, None, &["rm", "-f", "back", "loop"]);
}

/// `-v /host:/container[:ro]` binds a host path; `ro` is read-only; inspect lists it.
#[test]
fn host_paths_are_bound() {
    let Some(d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    assert_eq!(d.docker(&["pull", &image]).status.code(), Some(0));
    let dir = d.tmp.join("shared");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("in"), "from the host\n").unwrap();
    let rw = format!("{}:/data", dir.display());
    let out = run_ok(&d, None, &["run", "--name", "bound", "-v", &rw, &image, "sh", "-c", "cat /data/in; echo from-container > /data/out"]);
    assert_eq!(out, "from the host\n");
    assert_eq!(std::fs::read_to_string(dir.join("out")).unwrap(), "from-container\n");
    let mounts = &inspect(&d, "bound")["Mounts"];
    assert_eq!(mounts, &serde_json::json!([{"Type": "bind", "Source": dir, "Destination": "/data", "Mode": "", "RW": true, "Propagation": "rprivate"}]));
    let ro = format!("{}:/data:ro", dir.display());
    let cli = if real_cli() { Some(CLI) } else { None };
    let out = run_ok(&d, cli, &["run", "--rm", "-v", &ro, &image, "sh", "-c", "cat /data/in; echo x > /data/nope 2>/dev/null || echo refused"]);
    assert_eq!(out, "from the host\nrefused\n");
    assert!(!dir.join("nope").exists());
    // A missing host directory is made, as Docker makes it for -v.
    let fresh = d.tmp.join("fresh/sub");
    run_ok(&d, None, &["run", "--rm", "-v", &format!("{}:/f", fresh.display()), &image, "touch", "/f/made"]);
    assert!(fresh.join("made").exists());
}

/// `--log-driver none`: the output still reaches an attached client, nothing is logged, and
/// `docker logs` says the driver cannot be read, as Docker's does.
#[test]
fn the_none_log_driver_keeps_no_log() {
    let Some(d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    assert_eq!(d.docker(&["pull", &image]).status.code(), Some(0));
    assert_eq!(run_ok(&d, None, &["run", "--name", "quiet", "--log-driver", "none", &image, "echo", "hi"]), "hi\n");
    let v = inspect(&d, "quiet");
    assert_eq!((v["LogPath"].as_str(), v["HostConfig"]["LogConfig"]["Type"].as_str()), (Some(""), Some("none")));
    let clis: Vec<Option<&str>> = if real_cli() { vec![None, Some(CLI)] } else { vec![None] };
    for cli in clis {
        let o = match cli {
            Some(cli) => d.real_docker(cli, &["logs", "quiet"]),
            None => d.docker(&["logs", "quiet"]),
        };
        assert_eq!(o.status.code(), Some(1), "{cli:?}");
        assert!(stderr(&o).contains("configured logging driver does not support reading"), "{cli:?}: {}", stderr(&o));
    }
    let leftovers: Vec<_> = std::fs::read_dir(d.tmp.join("data/containers").join(v["Id"].as_str().unwrap())).unwrap().flatten().filter(|e| e.file_name().to_string_lossy().ends_with("-json.log")).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// `ConsoleSize` is the tty's size from its start (what `docker run -t` sends).
#[test]
fn console_size_is_the_ttys_first_size() {
    let Some(d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    assert_eq!(d.docker(&["pull", &image]).status.code(), Some(0));
    let body = format!(r#"{{"Image": "{image}", "Tty": true, "Cmd": ["stty", "size"], "HostConfig": {{"ConsoleSize": [33, 101]}}}}"#);
    let (status, created) = d.api("POST", "/containers/create?name=sized", Some(&body));
    assert_eq!(status, 201, "{created}");
    // Not attached: attaching to a tty is the terminal work's (issue 9).
    assert_eq!(d.api("POST", "/containers/sized/start", None).0, 204);
    let (status, waited) = d.api("POST", "/containers/sized/wait", None);
    assert_eq!((status, waited["StatusCode"].as_i64()), (200, Some(0)), "{waited}");
    assert_eq!(run_ok(&d, None, &["logs", "sized"]).trim(), "33 101");
}
