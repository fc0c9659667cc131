//! Log drivers (`--log-driver`, `--log-opt`) as Docker has them: json-file with rotation,
//! compression and attributes, local (Docker's framed protobuf files), syslog to sockets the
//! tests listen on, none; `docker logs` and its flags across rotated and compressed files,
//! 16 KiB partial messages, a full disk, restarted containers. With our client and the real
//! docker CLI 28.

mod common;

use common::{ok, stderr, stdout, Dockerd, REAL_CLI};
use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

/// Our client, and the real CLI 28 when installed.
fn clis() -> Vec<Option<&'static str>> {
    let mut v = vec![None];
    if Path::new(REAL_CLI).exists() {
        v.push(Some(REAL_CLI));
    }
    v
}

fn run(d: &Dockerd, cli: Option<&str>, args: &[&str]) -> Output {
    d.client_with_input(cli, args, None)
}

fn image(d: &Dockerd) -> String {
    let image = d.registry.image("busybox");
    ok(&d.docker(&["pull", "-q", &image]), d);
    image
}

fn container_dir(d: &Dockerd, id: &str) -> PathBuf {
    d.tmp.join("data").join("containers").join(id)
}

fn wait_exit(d: &Dockerd, name: &str) -> String {
    ok(&run(d, None, &["wait", name]), d).trim().to_string()
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The names in a directory, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

/// `line 0000` .. `line N-1` printed by the container, one per line.
fn numbered_lines_cmd(n: usize) -> String {
    format!("i=0; while [ $i -lt {n} ]; do printf 'line %04d\\n' $i; i=$((i+1)); done")
}

/// Checks that `out` is `line K` .. `line N-1` for some K, and returns K.
fn contiguous_suffix(out: &str, n: usize) -> usize {
    let lines: Vec<&str> = out.lines().collect();
    assert!(!lines.is_empty(), "no output");
    let first: usize = lines[0].trim_start_matches("line ").parse().unwrap_or_else(|_| panic!("bad first line in {out:?}"));
    let want: Vec<String> = (first..n).map(|i| format!("line {i:04}")).collect();
    assert_eq!(lines, want.iter().map(String::as_str).collect::<Vec<_>>());
    first
}

fn gunzip(path: &Path) -> (Vec<u8>, Vec<u8>) {
    let f = std::fs::File::open(path).unwrap();
    let mut dec = flate2::read::GzDecoder::new(f);
    let mut data = Vec::new();
    dec.read_to_end(&mut data).unwrap();
    let extra = dec.header().and_then(|h| h.extra()).map(<[u8]>::to_vec).unwrap_or_default();
    (data, extra)
}

#[test]
fn json_file_rotates_compresses_and_logs_reads_every_file() {
    let Some(d) = Dockerd::start() else { return };
    let image = image(&d);
    let n = 300;
    let id = ok(&run(&d, None, &["run", "-d", "--name", "rot", "--log-opt", "max-size=2k", "--log-opt", "max-file=4", "--log-opt", "compress=true", &image, "sh", "-c", &numbered_lines_cmd(n)]), &d).trim().to_string();
    assert_eq!(wait_exit(&d, "rot"), "0");
    let dir = container_dir(&d, &id);
    let log = format!("{id}-json.log");
    wait_for("the compression of the last rotation", || !dir.join(format!("{log}.1")).exists());
    let files: Vec<String> = names(&dir).into_iter().filter(|f| f.starts_with(&log)).collect();
    assert_eq!(files, [log.clone(), format!("{log}.1.gz"), format!("{log}.2.gz"), format!("{log}.3.gz")]);
    // Each file holds at most max-size plus one entry; the gzip header carries lastTime.
    let (data, extra) = gunzip(&dir.join(format!("{log}.1.gz")));
    assert!(data.len() >= 2000 && data.len() < 2200, "{}", data.len());
    let meta: Value = serde_json::from_slice(&extra).unwrap();
    assert!(meta["lastTime"].as_str().unwrap().ends_with('Z'), "{meta}");
    let entry: Value = serde_json::from_slice(data.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert_eq!(entry["stream"], "stdout");
    assert!(entry["log"].as_str().unwrap().starts_with("line "));
    let inspect = ok(&d.docker(&["inspect", "-f", "{{.LogPath}} {{.HostConfig.LogConfig.Type}} {{json .HostConfig.LogConfig.Config}}", "rot"]), &d);
    assert_eq!(inspect.trim(), format!("{} json-file {{\"compress\":\"true\",\"max-file\":\"4\",\"max-size\":\"2k\"}}", dir.join(&log).display()));
    for cli in clis() {
        let all = ok(&run(&d, cli, &["logs", "rot"]), &d);
        let first = contiguous_suffix(&all, n);
        // Four files of ~2 KB, ~80 bytes an entry.
        assert!(first > 0 && n - first > 90, "{cli:?}: kept from {first}");
        let tail = ok(&run(&d, cli, &["logs", "--tail", "60", "rot"]), &d);
        assert_eq!(contiguous_suffix(&tail, n), n - 60, "{cli:?}");
        let ts = ok(&run(&d, cli, &["logs", "-t", "--tail", "2", "rot"]), &d);
        let l: Vec<&str> = ts.lines().collect();
        assert_eq!(l.len(), 2);
        assert!(l[1].ends_with(&format!("Z line {:04}", n - 1)) && l[1].len() == 30 + 1 + 9, "{cli:?}: {ts:?}");
    }
    // Without compress, rotated files stay plain.
    let id2 = ok(&run(&d, Some(REAL_CLI).filter(|c| Path::new(c).exists()), &["run", "-d", "--name", "plain", "--log-opt", "max-size=1k", "--log-opt", "max-file=2", &image, "sh", "-c", &numbered_lines_cmd(100)]), &d).trim().to_string();
    assert_eq!(wait_exit(&d, "plain"), "0");
    let files: Vec<String> = names(&container_dir(&d, &id2)).into_iter().filter(|f| f.contains("-json.log")).collect();
    assert_eq!(files, [format!("{id2}-json.log"), format!("{id2}-json.log.1")]);
    contiguous_suffix(&ok(&d.docker(&["logs", "plain"]), &d), 100);
    // max-file=1 starts the one file over.
    let id3 = ok(&d.docker(&["run", "-d", "--name", "one", "--log-opt", "max-size=1k", &image, "sh", "-c", &numbered_lines_cmd(100)]), &d).trim().to_string();
    assert_eq!(wait_exit(&d, "one"), "0");
    assert_eq!(names(&container_dir(&d, &id3)).into_iter().filter(|f| f.contains("-json.log")).count(), 1);
    let first = contiguous_suffix(&ok(&d.docker(&["logs", "one"]), &d), 100);
    assert!(first > 50, "{first}");
}

#[test]
fn json_file_attributes_from_labels_env_and_tag() {
    let Some(d) = Dockerd::start() else { return };
    let image = image(&d);
    for (i, cli) in clis().into_iter().enumerate() {
        let name = format!("attrs{i}");
        let out = run(&d, cli, &[
            "run", "--name", &name, "-l", "app=web", "-l", "xtra=1", "-l", "other=no", "-e", "E1=one", "-e", "REGION=eu", "-e", "SKIP=x",
            "--log-opt", "labels=app,missing", "--log-opt", "labels-regex=^x", "--log-opt", "env=E1", "--log-opt", "env-regex=^REG", "--log-opt", "tag={{.Name}}/{{.ImageName}}",
            &image, "sh", "-c", "echo out; echo err >&2",
        ]);
        ok(&out, &d);
        let id = ok(&d.docker(&["inspect", "-f", "{{.Id}}", &name]), &d).trim().to_string();
        let raw = std::fs::read_to_string(container_dir(&d, &id).join(format!("{id}-json.log"))).unwrap();
        let first: Value = raw.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).find(|e| e["stream"] == "stdout").unwrap();
        let tag = format!("{name}/{image}");
        assert_eq!(first["attrs"], serde_json::json!({"app": "web", "xtra": "1", "E1": "one", "REGION": "eu", "tag": tag}), "{raw}");
        // Docker's key order in the file: log, stream, attrs, time.
        assert!(raw.lines().any(|l| l.starts_with("{\"log\":\"out\\n\",\"stream\":\"stdout\",\"attrs\":{")), "{raw}");
        let details = ok(&run(&d, cli, &["logs", "--details", &name]), &d);
        let prefix = format!("E1=one,REGION=eu,app=web,tag={},xtra=1 ", tag.replace('/', "%2F").replace(':', "%3A"));
        assert_eq!(details.trim_end(), format!("{prefix}out"), "{cli:?}");
        let o = run(&d, cli, &["logs", "--details", &name]);
        assert_eq!(stderr(&o).trim_end(), format!("{prefix}err"));
    }
}

/// The frames of a local-driver file: each entry's protobuf bytes.
fn local_frames(data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        assert_eq!(rest[4 + len..8 + len], rest[..4], "the length is written after the entry too");
        out.push(rest[4..4 + len].to_vec());
        rest = &rest[8 + len..];
    }
    out
}

#[test]
fn local_driver_keeps_dockers_format_rotated_and_compressed() {
    let Some(d) = Dockerd::start() else { return };
    let image = image(&d);
    let n = 300;
    let id = ok(&run(&d, Some(REAL_CLI).filter(|c| Path::new(c).exists()), &["run", "-d", "--name", "loc", "--log-driver", "local", "--log-opt", "max-size=2k", &image, "sh", "-c", &numbered_lines_cmd(n)]), &d).trim().to_string();
    assert_eq!(wait_exit(&d, "loc"), "0");
    let dir = container_dir(&d, &id).join("local-logs");
    wait_for("the compression of the last rotation", || !dir.join("container.log.1").exists());
    // Docker's defaults: 5 files, compressed.
    assert_eq!(names(&dir), ["container.log", "container.log.1.gz", "container.log.2.gz", "container.log.3.gz", "container.log.4.gz"]);
    let frames = local_frames(&std::fs::read(dir.join("container.log")).unwrap());
    let last = frames.last().unwrap();
    // source = 1 "stdout", time_nano = 2, line = 3 "line 0299" (no newline kept).
    assert_eq!(&last[..8], b"\x0a\x06stdout");
    assert_eq!(last[8], 0x10);
    assert!(last.ends_with(&[&[0x1a, 9][..], format!("line {:04}", n - 1).as_bytes()].concat()), "{last:?}");
    let (old, _) = gunzip(&dir.join("container.log.4.gz"));
    assert!(!local_frames(&old).is_empty());
    // Not exposed as LogPath, as Docker.
    assert_eq!(ok(&d.docker(&["inspect", "-f", "[{{.LogPath}}]", "loc"]), &d).trim(), "[]");
    for cli in clis() {
        let first = contiguous_suffix(&ok(&run(&d, cli, &["logs", "loc"]), &d), n);
        assert!(n - first > 150, "{cli:?}: {first}");
        assert_eq!(contiguous_suffix(&ok(&run(&d, cli, &["logs", "--tail", "120", "loc"]), &d), n), n - 120);
    }
    // Options local does not have, and bad values, are refused at create.
    for cli in clis() {
        let o = run(&d, cli, &["run", "--log-driver", "local", "--log-opt", "labels-x=1", &image]);
        assert_eq!(o.status.code(), Some(125), "{cli:?}");
        assert!(stderr(&o).contains("unknown log opt 'labels-x' for log driver local"), "{}", stderr(&o));
        let o = run(&d, cli, &["run", "--log-driver", "local", "--log-opt", "max-file=1", &image]);
        assert!(stderr(&o).contains("compression cannot be enabled when max file count is 1"), "{}", stderr(&o));
    }
    ok(&d.docker(&["create", "--log-driver", "local", "--log-opt", "max-file=1", "--log-opt", "compress=false", &image]), &d);
    // Attributes are kept in each entry (field 6) and shown by --details.
    let id = ok(&d.docker(&["run", "-d", "--name", "locattr", "-l", "a=1", "--log-driver", "local", "--log-opt", "labels=a", "--log-opt", "tag={{.ID}}", &image, "echo", "hi"]), &d).trim().to_string();
    assert_eq!(wait_exit(&d, "locattr"), "0");
    for cli in clis() {
        assert_eq!(ok(&run(&d, cli, &["logs", "--details", "locattr"]), &d), format!("a=1,tag={} hi\n", &id[..12]), "{cli:?}");
    }
}

#[test]
fn options_and_drivers_docker_refuses_are_refused() {
    let Some(d) = Dockerd::start() else { return };
    let image = image(&d);
    let cases: &[(&[&str], &str)] = &[
        (&["--log-opt", "x=1"], "unknown log opt 'x' for json-file log driver"),
        (&["--log-driver", "json-file", "--log-opt", "max-file=0"], "max-file cannot be less than 1"),
        (&["--log-opt", "max-size=-1"], "invalid size: '-1'"),
        (&["--log-opt", "compress=true"], "compress cannot be true when max-file is less than 2 or max-size is not set"),
        (&["--log-opt", "mode=sometimes"], "logger: logging mode not supported: sometimes"),
        (&["--log-driver", "syslog", "--log-opt", "max-size=1m"], "unknown log opt 'max-size' for syslog log driver"),
        (&["--log-driver", "syslog", "--log-opt", "syslog-address=http://127.0.0.1"], "unsupported scheme: 'http'"),
        (&["--log-driver", "syslog", "--log-opt", "syslog-facility=nope"], "invalid syslog facility"),
        (&["--log-driver", "syslog", "--log-opt", "syslog-format=rfc9999"], "Invalid syslog format"),
        (&["--log-driver", "syslog", "--log-opt", "syslog-address=unix:///nonexistent/sock"], "no such file or directory"),
        (&["--log-driver", "bogus"], "logger: no log driver named 'bogus' is registered"),
        (&["--log-driver", "gelf"], "logging driver 'gelf'"),
    ];
    for cli in clis() {
        for (flags, want) in cases {
            let mut args = vec!["run"];
            args.extend_from_slice(flags);
            args.push(&image);
            let o = run(&d, cli, &args);
            // (The CLI answers 127 to an error naming a missing file.)
            let code = o.status.code();
            assert!(code == Some(if want.contains("no such file") { 127 } else { 125 }), "{cli:?} {flags:?}: {code:?} {}", stderr(&o));
            assert!(stderr(&o).contains(want), "{cli:?} {flags:?}: {}", stderr(&o));
        }
    }
    // A tag template that cannot run fails the start, as Docker's driver does at its start.
    for cli in clis() {
        let o = run(&d, cli, &["run", "--log-opt", "tag={{.Nope}}", &image, "true"]);
        assert_ne!(o.status.code(), Some(0));
        assert!(stderr(&o).contains("failed to initialize logging driver: template"), "{cli:?}: {}", stderr(&o));
    }
    // The API refuses the same with 400.
    let (status, body) = d.api("POST", "/containers/create", Some(&format!(r#"{{"Image":"{image}","HostConfig":{{"LogConfig":{{"Type":"local","Config":{{"nope":"1"}}}}}}}}"#)));
    assert_eq!((status, body["message"].as_str().unwrap_or_default()), (400, "unknown log opt 'nope' for log driver local"));
}

#[test]
fn none_driver_keeps_nothing_and_logs_errors_as_docker() {
    let Some(d) = Dockerd::start() else { return };
    let image = image(&d);
    for cli in clis() {
        let o = run(&d, cli, &["run", "--name", "quiet", "--log-driver", "none", &image, "echo", "hi"]);
        // An attached run still shows the output: only the log is off.
        assert_eq!(ok(&o, &d), "hi\n");
        let id = ok(&d.docker(&["inspect", "-f", "{{.Id}}", "quiet"]), &d).trim().to_string();
        assert!(!names(&container_dir(&d, &id)).iter().any(|f| f.contains("log")), "{:?}", names(&container_dir(&d, &id)));
        let o = run(&d, cli, &["logs", "quiet"]);
        assert_eq!(o.status.code(), Some(1), "{cli:?}");
        assert!(stderr(&o).contains("configured logging driver does not support reading"), "{}", stderr(&o));
        let o = run(&d, cli, &["run", "--log-driver", "none", "--log-opt", "a=b", &image]);
        assert!(stderr(&o).contains("invalid logging opts for driver none"), "{}", stderr(&o));
        ok(&d.docker(&["rm", "quiet"]), &d);
    }
}

/// A syslog server on a datagram socket: the messages it got.
fn receive_datagrams(sock: &std::os::unix::net::UnixDatagram, want: usize) -> Vec<String> {
    sock.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    while out.len() < want {
        let n = sock.recv(&mut buf).expect("a syslog message");
        out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    out
}

/// Go's `time.Stamp`: `Jan _2 15:04:05`.
fn is_stamp(s: &str) -> bool {
    let b = s.as_bytes();
    s.len() == 15 && ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"].contains(&&s[..3]) && b[3] == b' ' && (b[4] == b' ' || b[4].is_ascii_digit()) && b[5].is_ascii_digit() && b[6] == b' ' && b[9] == b':' && b[12] == b':'
}

/// RFC 3339 as Go prints it, with `digits` of fraction (0: none), `Z` or an offset.
fn is_rfc3339(s: &str, digits: usize) -> bool {
    let b = s.as_bytes();
    let base = 19 + if digits > 0 { digits + 1 } else { 0 };
    s.len() > base && b[4] == b'-' && b[10] == b'T' && b[13] == b':' && (digits == 0 || b[19] == b'.') && (&s[base..] == "Z" || s.len() == base + 6)
}

/// `text` is `head`, then a middle `check` accepts, then `tail`.
fn framed(text: &str, head: &str, tail: &str, check: impl Fn(&str) -> bool) -> bool {
    text.strip_prefix(head).and_then(|r| r.strip_suffix(tail)).is_some_and(check)
}

#[test]
fn syslog_sends_each_format_to_unix_sockets_and_logs_reads_the_cache() {
    let Some(d) = Dockerd::start() else { return };
    let image = image(&d);
    let pid = d.pid();
    let gram_path = d.tmp.join("syslog.gram");
    let gram = std::os::unix::net::UnixDatagram::bind(&gram_path).unwrap();
    let addr = format!("syslog-address=unixgram://{}", gram_path.display());
    // HOST is empty on a unix socket (srslog takes the socket's local address).
    type Case = (&'static str, &'static str, &'static str, fn(&str) -> bool);
    let formats: &[Case] = &[
        ("", "<158>", " web[PID]: out\n", is_stamp),
        ("rfc3164", "<158>", "  web[PID]: out\n", is_stamp),
        ("rfc5424", "<158>1 ", "  web PID web - out\n", |t| is_rfc3339(t, 0)),
        ("rfc5424micro", "<158>1 ", "  web PID web - out\n", |t| is_rfc3339(t, 6)),
    ];
    for (i, (format, head, tail, check)) in formats.iter().enumerate() {
        let cli = clis()[i % clis().len()];
        let name = format!("sys{i}");
        let fmt = format!("syslog-format={format}");
        let mut args = vec!["run", "--name", &name, "-e", "E1=x", "--log-driver", "syslog", "--log-opt", &addr, "--log-opt", "syslog-facility=local3", "--log-opt", "tag=web", "--log-opt", "env=E1"];
        if !format.is_empty() {
            args.extend(["--log-opt", &fmt]);
        }
        args.extend([image.as_str(), "sh", "-c", "echo out; echo err >&2"]);
        ok(&run(&d, cli, &args), &d);
        let got = receive_datagrams(&gram, 2);
        let (out, err) = if got[0].ends_with("out\n") { (&got[0], &got[1]) } else { (&got[1], &got[0]) };
        let tail = tail.replace("PID", &pid.to_string());
        assert!(framed(out, head, &tail, check), "{format:?}: {out:?} is not {head:?}...{tail:?}");
        // stderr at severity err: local3 (19) * 8 + 3.
        assert!(err.starts_with("<155>") && err.ends_with("err\n"), "{err:?}");
        // docker logs reads the local cache, with the driver's attributes.
        let o = run(&d, cli, &["logs", &name]);
        assert_eq!((stdout(&o).as_str(), stderr(&o).as_str()), ("out\n", "err\n"), "{cli:?}");
        let o = run(&d, cli, &["logs", "--details", &name]);
        assert_eq!(stdout(&o), "E1=x,tag=web out\n", "{cli:?}");
    }
    // The cache's own rotation options.
    let drain = gram.try_clone().unwrap();
    let receiver = std::thread::spawn(move || receive_datagrams(&drain, 100).len());
    let id = ok(&d.docker(&["run", "-d", "--name", "cached", "--log-driver", "syslog", "--log-opt", &addr, "--log-opt", "cache-max-size=1k", "--log-opt", "cache-max-file=2", "--log-opt", "cache-compress=false", &image, "sh", "-c", &numbered_lines_cmd(100)]), &d).trim().to_string();
    assert_eq!(wait_exit(&d, "cached"), "0");
    assert_eq!(receiver.join().unwrap(), 100);
    let cached: Vec<String> = names(&container_dir(&d, &id)).into_iter().filter(|f| f.starts_with("container-cached")).collect();
    assert_eq!(cached, ["container-cached.log", "container-cached.log.1"]);
    let first = contiguous_suffix(&ok(&d.docker(&["logs", "cached"]), &d), 100);
    assert!(first > 0 && first < 80, "{first}");
    // A stream socket, the default facility (daemon) and tag (the short id), no cache.
    let stream_path = d.tmp.join("syslog.stream");
    let listener = std::os::unix::net::UnixListener::bind(&stream_path).unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut text = String::new();
        let _ = s.read_to_string(&mut text);
        text
    });
    let saddr = format!("syslog-address=unix://{}", stream_path.display());
    let id = ok(&d.docker(&["run", "-d", "--name", "stream", "--log-driver", "syslog", "--log-opt", &saddr, "--log-opt", "cache-disabled=true", &image, "sh", "-c", "echo a; echo; echo b"]), &d).trim().to_string();
    assert_eq!(wait_exit(&d, "stream"), "0");
    let text = server.join().unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "an empty line is not sent: {text:?}");
    assert!(framed(lines[0], "<30>", &format!(" {}[{pid}]: a", &id[..12]), is_stamp), "{text:?}");
    assert!(!container_dir(&d, &id).join("container-cached.log").exists());
    for cli in clis() {
        let o = run(&d, cli, &["logs", "stream"]);
        assert!(stderr(&o).contains("configured logging driver does not support reading"), "{cli:?}: {}", stderr(&o));
    }
    // A server gone at start fails the start with Docker's message.
    let gone = d.tmp.join("gone.sock");
    drop(std::os::unix::net::UnixListener::bind(&gone).unwrap());
    let gaddr = format!("syslog-address=unix://{}", gone.display());
    for cli in clis() {
        let o = run(&d, cli, &["run", "--log-driver", "syslog", "--log-opt", &gaddr, &image, "true"]);
        assert_ne!(o.status.code(), Some(0));
        assert!(stderr(&o).contains(&format!("failed to initialize logging driver: dial unix {}: connect: connection refused", gone.display())), "{cli:?}: {}", stderr(&o));
    }
}

#[test]
fn syslog_over_tcp_and_udp_on_loopback() {
    let Some(d) = Dockerd::start() else { return };
    let image = image(&d);
    let pid = d.pid();
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let uaddr = format!("syslog-address=udp://{}", udp.local_addr().unwrap());
    ok(&d.docker(&["run", "--log-driver", "syslog", "--log-opt", &uaddr, "--log-opt", "syslog-format=rfc5424", "--log-opt", "syslog-facility=user", "--log-opt", "tag={{.ImageName}}", &image, "echo", "over udp"]), &d);
    let mut buf = [0u8; 2048];
    let (n, from) = udp.recv_from(&mut buf).unwrap();
    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
    // HOST is the sending socket's address, as srslog sets it.
    assert!(framed(&msg, "<14>1 ", &format!(" {from} {image} {pid} {image} - over udp\n"), |t| is_rfc3339(t, 0)), "{msg:?}");
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taddr = format!("syslog-address=tcp://{}", tcp.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let (mut s, _) = tcp.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut text = String::new();
        let _ = s.read_to_string(&mut text);
        text
    });
    if let Some(cli) = Some(REAL_CLI).filter(|c| Path::new(c).exists()) {
        ok(&run(&d, Some(cli), &["run", "--log-driver", "syslog", "--log-opt", &taddr, "--log-opt", "syslog-format=rfc3164", &image, "sh", "-c", "echo one; echo two"]), &d);
    } else {
        ok(&d.docker(&["run", "--log-driver", "syslog", "--log-opt", &taddr, "--log-opt", "syslog-format=rfc3164", &image, "sh", "-c", "echo one; echo two"]), &d);
    }
    let text = server.join().unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text:?}");
    // rfc3164: the stamp, then HOST (the connection's local address), then the short id as tag.
    let (head, rest) = lines[1].split_at(4 + 15);
    assert!(head.starts_with("<30>") && is_stamp(&head[4..]), "{text:?}");
    assert!(rest.starts_with(" 127.0.0.1:") && rest.ends_with(&format!("[{pid}]: two")), "{text:?}");
}

#[test]
fn long_lines_are_split_in_16k_pieces_and_joined_by_logs() {
    let Some(d) = Dockerd::start() else { return };
    let image = image(&d);
    // 40000 characters, then a short line, then a last line without its newline.
    let script = "head -c 40000 /dev/zero | tr '\\0' x; echo; echo short; printf end";
    let expected = format!("{}\nshort\nend", "x".repeat(40000));
    for driver in ["json-file", "local"] {
        let name = format!("long-{driver}");
        let id = ok(&d.docker(&["run", "-d", "--name", &name, "--log-driver", driver, &image, "sh", "-c", script]), &d).trim().to_string();
        assert_eq!(wait_exit(&d, &name), "0");
        if driver == "json-file" {
            let raw = std::fs::read_to_string(container_dir(&d, &id).join(format!("{id}-json.log"))).unwrap();
            let entries: Vec<Value> = raw.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
            let logs: Vec<&str> = entries.iter().map(|e| e["log"].as_str().unwrap()).collect();
            assert_eq!(logs.iter().map(|l| l.len()).collect::<Vec<_>>(), [16384, 16384, 7233, 6, 3], "{driver}");
            assert!(!logs[0].ends_with('\n') && logs[2].ends_with('\n') && !logs[4].ends_with('\n'));
            // The pieces of one line share its first piece's time.
            assert_eq!(entries[0]["time"], entries[2]["time"]);
        } else {
            let data = std::fs::read(container_dir(&d, &id).join("local-logs/container.log")).unwrap();
            let frames = local_frames(&data);
            assert_eq!(frames.len(), 5);
            // partial = 4 true, partial_log_metadata = 5 with last = 1 on the third.
            assert!(frames[0].windows(2).any(|w| w == [0x20, 1]) && frames[2].windows(4).any(|w| w[0] == 0x2a && w[2] == 0x08 && w[3] == 1));
            assert!(!frames[3].windows(2).any(|w| w == [0x20, 1]));
        }
        for cli in clis() {
            assert_eq!(ok(&run(&d, cli, &["logs", &name]), &d), expected, "{driver} {cli:?}");
        }
    }
}

#[test]
fn logs_flags_across_rotated_files_and_follow() {
    let Some(d) = Dockerd::start() else { return };
    let image = image(&d);
    // Two bursts a few seconds apart; rotation every ~1 KB.
    let script = format!("{}; sleep 2; echo second; sleep 30", numbered_lines_cmd(60));
    for driver in ["json-file", "local"] {
        let name = format!("flags-{driver}");
        ok(&d.docker(&["run", "-d", "--name", &name, "--log-driver", driver, "--log-opt", "max-size=1k", "--log-opt", "max-file=10", &image, "sh", "-c", &script]), &d);
        wait_for("the second burst", || stdout(&d.docker(&["logs", "--tail", "1", &name])) == "second\n");
        for cli in clis() {
            let ts = ok(&run(&d, cli, &["logs", "--timestamps", &name]), &d);
            let lines: Vec<&str> = ts.lines().collect();
            assert_eq!(lines.len(), 61, "{driver} {cli:?}");
            let t_second = lines[60].split(' ').next().unwrap().to_string();
            let t_first = lines[0].split(' ').next().unwrap().to_string();
            // --since the second burst: just it; --until before it: the first burst, from every file.
            let since = ok(&run(&d, cli, &["logs", "--since", &t_second, &name]), &d);
            assert_eq!(since, "second\n", "{driver} {cli:?}");
            let until = ok(&run(&d, cli, &["logs", "--until", &t_first, &name]), &d);
            assert_eq!(until, "line 0000\n", "{driver} {cli:?}");
            let secs = t_second.get(..19).unwrap().to_string() + "Z";
            let until = ok(&run(&d, cli, &["logs", "--until", &secs, &name]), &d);
            assert!(until.starts_with("line 0000\n") && !until.contains("second"), "{driver} {cli:?}: {until}");
            let tail = ok(&run(&d, cli, &["logs", "--tail", "3", &name]), &d);
            assert_eq!(tail, "line 0058\nline 0059\nsecond\n");
        }
        // -f: what is there, then the end when the container stops.
        let mut child = common::applet("docker").arg("-H").arg(d.host()).args(["logs", "-f", "--tail", "2", &name]).stdout(std::process::Stdio::piped()).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(500));
        ok(&d.docker(&["kill", &name]), &d);
        let deadline = Instant::now() + Duration::from_secs(20);
        while child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "logs -f did not end with the container");
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut out = String::new();
        child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        assert_eq!(out, "line 0059\nsecond\n");
    }
}

#[test]
fn logs_of_restarted_containers_and_a_restarted_daemon() {
    let Some(mut d) = Dockerd::start() else { return };
    let image = image(&d);
    for driver in ["json-file", "local"] {
        let name = format!("again-{driver}");
        ok(&d.docker(&["create", "--name", &name, "--log-driver", driver, "--log-opt", "max-size=500", "--log-opt", "max-file=3", &image, "sh", "-c", "i=0; while [ $i -lt 15 ]; do echo run-$(cut -d' ' -f1 /proc/uptime)-$i; i=$((i+1)); done"]), &d);
        for _ in 0..3 {
            ok(&d.docker(&["start", "-a", &name]), &d);
        }
        for cli in clis() {
            let out = ok(&run(&d, cli, &["logs", &name]), &d);
            let lines: Vec<&str> = out.lines().collect();
            // Rotation counted the earlier runs' bytes: not all of three runs is kept, and
            // what is kept runs on in order across runs and files to the last run's end.
            assert!(lines.len() >= 15 && lines.len() < 45, "{driver} {cli:?}: {}", lines.len());
            assert!(lines.last().unwrap().ends_with("-14"));
            let parse = |l: &str| -> (f64, u32) {
                let mut p = l.split('-');
                p.next();
                (p.next().unwrap().parse().unwrap(), p.next().unwrap().parse().unwrap())
            };
            for w in lines.windows(2) {
                let ((t0, i0), (t1, i1)) = (parse(w[0]), parse(w[1]));
                assert!(t1 >= t0 && i1 == (i0 + 1) % 15, "{driver} {cli:?}: {out}");
            }
        }
    }
    // A dockerd crash while a container prints: the next dockerd goes on logging.
    ok(&d.docker(&["run", "-d", "--name", "live", "--log-driver", "local", &image, "sh", "-c", "echo before; sleep 3; echo after; sleep 100"]), &d);
    wait_for("the first line", || stdout(&d.docker(&["logs", "live"])) == "before\n");
    d.crash_and_restart();
    wait_for("the line after the restart", || stdout(&d.docker(&["logs", "live"])) == "before\nafter\n");
    // docker restart: the new run's lines follow the old ones.
    ok(&d.docker(&["restart", "-t", "0", "live"]), &d);
    wait_for("the restarted run's line", || stdout(&d.docker(&["logs", "live"])) == "before\nafter\nbefore\n");
}

/// Mounts a tmpfs of `size` on `dir` (made if missing); the test's TempDir unmounts it.
fn small_tmpfs(dir: &Path, size: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let st = std::process::Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"]).arg(dir).status().unwrap();
    assert!(st.success());
}

#[test]
fn a_full_disk_stops_logging_not_the_container() {
    let Some(d) = Dockerd::start() else { return };
    let image = image(&d);
    // local: the log directory alone is full.
    let id = ok(&d.docker(&["create", "--name", "full", "--log-driver", "local", "--log-opt", "max-size=0", &image, "sh", "-c", "yes 0123456789012345678901234567890123456789 | head -n 20000; echo done"]), &d).trim().to_string();
    let logs_dir = container_dir(&d, &id).join("local-logs");
    small_tmpfs(&logs_dir, "64k");
    let started = Instant::now();
    ok(&d.docker(&["start", "full"]), &d);
    assert_eq!(wait_exit(&d, "full"), "0");
    assert!(started.elapsed() < Duration::from_secs(20));
    let log = d.log();
    let reports = log.matches("Error writing log message").count();
    assert!((1..=2).contains(&reports), "reported once per run of failures, not per message: {log}");
    assert!(log.contains("driver=local") && log.contains("No space left on device"), "{log}");
    // What was written is whole and readable.
    let out = ok(&d.docker(&["logs", "full"]), &d);
    // (A last short line may still fit in what is left.)
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines.len() > 100 && lines[..lines.len() - 1].iter().all(|l| *l == "0123456789012345678901234567890123456789"), "{}", out.len());
    let _ = nix::mount::umount(&logs_dir);

    // json-file: the whole containers directory on a small disk; an attached client still
    // gets every byte, and the container ends as it should.
    let containers = d.tmp.join("data").join("containers");
    small_tmpfs(&containers, "1m");
    let o = d.docker(&["run", "--name", "full2", &image, "sh", "-c", "yes abc | head -n 30000; echo done"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).ends_with("abc\ndone\n"), "{}", stderr(&o));
    assert_eq!(stdout(&o).len(), 30000 * 4 + 5);
    let log = d.log();
    assert!(log.matches("Error writing log message").count() > reports && log.contains("driver=json-file"), "{log}");
    let id2 = ok(&d.docker(&["inspect", "-f", "{{.Id}}", "full2"]), &d).trim().to_string();
    let raw = std::fs::read_to_string(containers.join(&id2).join(format!("{id2}-json.log"))).unwrap();
    assert!(raw.lines().all(|l| serde_json::from_str::<Value>(l).is_ok()), "no torn entry");
    ok(&d.docker(&["rm", "full2"]), &d);
    let _ = nix::mount::umount(&containers);
}

#[test]
fn syslog_non_blocking_mode_drops_rather_than_blocks() {
    let Some(d) = Dockerd::start() else { return };
    let image = image(&d);
    // A server that reads nothing until the container is done.
    let path = d.tmp.join("slow.sock");
    let server = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    let addr = format!("syslog-address=unixgram://{}", path.display());
    let n = 20000;
    ok(&d.docker(&["run", "-d", "--name", "nb", "--log-driver", "syslog", "--log-opt", &addr, "--log-opt", "mode=non-blocking", "--log-opt", "max-buffer-size=64k", &image, "sh", "-c", &numbered_lines_cmd(n)]), &d);
    let started = Instant::now();
    assert_eq!(wait_exit(&d, "nb"), "0");
    assert!(started.elapsed() < Duration::from_secs(20));
    server.set_nonblocking(true).unwrap();
    let mut got = 0;
    let mut buf = [0u8; 1024];
    while server.recv(&mut buf).is_ok() {
        got += 1;
    }
    assert!(got > 0 && got < n, "{got} of {n} delivered");
    // The local cache has every line.
    assert_eq!(contiguous_suffix(&ok(&d.docker(&["logs", "nb"]), &d), n), 0);
}
