//! What a person reads: `logs` with `--since`, `--until`, `--timestamps`, `--details`; `ps`
//! with its filters and flags; `--format` Go templates on `ps`, `images` and `inspect`; each
//! through our client and the real CLI 28, compared.

mod common;

use common::{stderr, stdout, Dockerd};
use std::path::Path;
use std::process::Output;

const REAL_CLI: &str = "/usr/local/bin/docker";

fn ok(o: &Output, what: &str) -> String {
    assert_eq!(o.status.code(), Some(0), "{what}: stdout: {}\nstderr: {}", stdout(o), stderr(o));
    stdout(o)
}

/// Runs `args` with our client and, when installed, the real CLI; asserts both give the
/// same output and exit code; returns ours.
fn both(d: &Dockerd, args: &[&str]) -> Output {
    let ours = d.docker(args);
    if Path::new(REAL_CLI).exists() {
        let real = d.real_docker(REAL_CLI, args);
        assert_eq!(stdout(&ours), stdout(&real), "stdout of {args:?} (ours, then the real CLI's); stderr: {} / {}", stderr(&ours), stderr(&real));
        assert_eq!(ours.status.code(), real.status.code(), "exit code of {args:?}: {} / {}", stderr(&ours), stderr(&real));
    }
    ours
}

#[test]
fn logs_since_until_timestamps_details() {
    let Some(d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    ok(&d.docker(&["pull", &image]), "pull");
    ok(&d.docker(&["run", "--name", "talker", &image, "sh", "-c", "echo one; sleep 0.2; echo two >&2; sleep 0.2; echo three"]), "run");
    let stamped = ok(&both(&d, &["logs", "-t", "talker"]), "logs -t");
    let lines: Vec<(&str, &str)> = stamped.lines().map(|l| l.split_once(' ').unwrap()).collect();
    assert_eq!(lines.iter().map(|(_, m)| *m).collect::<Vec<_>>(), vec!["one", "three"], "{stamped}");
    for (t, _) in &lines {
        // RFC 3339 with nine digits, UTC.
        assert_eq!(t.len(), 30, "{t}");
        assert!(t.ends_with('Z') && t.as_bytes()[19] == b'.', "{t}");
    }
    let all_stamped = ok(&d.docker(&["logs", "-t", "talker"]), "logs");
    assert!(all_stamped.lines().count() == 2);
    // stderr has "two": take its time from the combined stream.
    let o = d.docker(&["logs", "-t", "talker"]);
    let two_time = stderr(&o).lines().next().unwrap().split_once(' ').unwrap().0.to_string();
    let (t_one, t_three) = (lines[0].0.to_string(), lines[1].0.to_string());

    let o = both(&d, &["logs", "--since", &two_time, "talker"]);
    assert_eq!((stdout(&o).as_str(), stderr(&o).as_str()), ("three\n", "two\n"));
    let o = both(&d, &["logs", "--until", &two_time, "talker"]);
    assert_eq!((stdout(&o).as_str(), stderr(&o).as_str()), ("one\n", "two\n"));
    let o = both(&d, &["logs", "--since", &t_one, "--until", &t_one, "talker"]);
    assert_eq!((stdout(&o).as_str(), stderr(&o).as_str()), ("one\n", ""));
    let o = both(&d, &["logs", "--since", &t_three, "talker"]);
    assert_eq!(stdout(&o), "three\n");
    // Relative durations and unix timestamps.
    let o = both(&d, &["logs", "--since", "10m", "talker"]);
    assert_eq!(stdout(&o), "one\nthree\n");
    let o = both(&d, &["logs", "--until", "10m", "talker"]);
    assert_eq!((stdout(&o).as_str(), stderr(&o).as_str()), ("", ""));
    let o = both(&d, &["logs", "--since", "1", "talker"]);
    assert_eq!(stdout(&o), "one\nthree\n");
    let far = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 3600).to_string();
    let o = both(&d, &["logs", "--since", &far, "talker"]);
    assert_eq!(stdout(&o), "");
    // Dates alone, in a zone and in the local one.
    let o = both(&d, &["logs", "--since", "2000-01-01", "--until", "2100-01-01T00:00:00Z", "talker"]);
    assert_eq!(stdout(&o), "one\nthree\n");
    // --details: no attributes here, so a space before each line.
    let o = both(&d, &["logs", "--details", "talker"]);
    assert_eq!((stdout(&o).as_str(), stderr(&o).as_str()), (" one\n three\n", " two\n"));
    let o = both(&d, &["logs", "--details", "-t", "--tail", "1", "talker"]);
    assert_eq!(stdout(&o), format!("{t_three}  three\n"));
    // Bad values: the client's words, and the daemon's 400.
    let o = both(&d, &["logs", "--since", "abc", "talker"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("invalid value for \"since\": failed to parse value as time or duration: \"abc\""), "{}", stderr(&o));
    let o = both(&d, &["logs", "--until", "2020-13-01", "talker"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("invalid value for \"until\""), "{}", stderr(&o));
    let (status, body) = d.api("GET", "/containers/talker/logs?stdout=1&since=abc", None);
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("invalid value for \"since\""), "{body}");

    // --follow with --until ends by itself.
    ok(&d.docker(&["run", "-d", "--name", "ticker", &image, "sh", "-c", "while :; do echo tick; sleep 0.1; done"]), "run ticker");
    let until = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 2).to_string();
    let started = std::time::Instant::now();
    let o = d.docker(&["logs", "-f", "--until", &until, "ticker"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "follow did not stop at --until");
    assert!(stdout(&o).lines().count() >= 3, "{}", stdout(&o));
}
