//! Terminals and attach, end to end: interactive sessions typed through a real pty (tmux) with
//! our client and the real docker CLI 28 — `stty size` follows the outer terminal, detach
//! keys leave the container running, `docker attach` comes back to it, the exit code comes
//! through — plus stdin without a tty, `-t` without `-i`, resize's errors, the daemon's own
//! detach-key watch and the websocket attach.

mod common;

use common::{applet_dir, stderr, stdout, Dockerd, REAL_CLI};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A tmux server of the test's own (its own socket name), killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// Starts `command` in a detached session with a `cols` × `rows` pty.
    fn start(tag: &str, cols: u16, rows: u16, command: &str) -> Tmux {
        let socket = format!("dbx-{tag}-{}", &dockbox::ids::new_id()[..8]);
        let t = Tmux { socket };
        let ok = t.tmux(&["new-session", "-d", "-x", &cols.to_string(), "-y", &rows.to_string(), command]).status.success();
        assert!(ok, "tmux new-session failed");
        t
    }

    fn tmux(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux").args(["-L", &self.socket, "-f", "/dev/null"]).args(args).output().expect("tmux is not installed")
    }

    fn screen(&self) -> String {
        stdout(&self.tmux(&["capture-pane", "-p", "-S", "-200"]))
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys"];
        args.extend_from_slice(keys);
        assert!(self.tmux(&args).status.success());
    }

    fn line(&self, text: &str) {
        self.keys(&["-l", text]);
        self.keys(&["Enter"]);
    }

    /// Resizes the pane's pty (TIOCSWINSZ by tmux; the client in it gets SIGWINCH).
    fn resize(&self, cols: u16, rows: u16) {
        assert!(self.tmux(&["resize-window", "-x", &cols.to_string(), "-y", &rows.to_string()]).status.success());
    }

    /// Waits until the screen shows `needle` `times` times in all.
    fn wait_for_n(&self, needle: &str, times: usize, d: &Dockerd) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let screen = self.screen();
            if screen.matches(needle).count() >= times {
                return;
            }
            assert!(Instant::now() < deadline, "waited for {needle:?} (x{times}); the screen:\n{screen}\ndockerd:\n{}", d.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_for(&self, needle: &str, d: &Dockerd) {
        self.wait_for_n(needle, 1, d)
    }

    /// Runs `stty size` until the shell reports `rows cols` (a resize is sent asynchronously).
    fn wait_for_size(&self, rows: u16, cols: u16, d: &Dockerd) {
        let want = format!("{rows} {cols}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.screen().contains(&want) {
            assert!(Instant::now() < deadline, "stty size did not show {want}:\n{}\ndockerd:\n{}", self.screen(), d.log());
            self.line("stty size");
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}

/// The client command line for a shell in tmux: ours or the real CLI, on this daemon, with a
/// private client config directory.
fn client_cmd(d: &Dockerd, real: bool, config_dir: &Path, args: &str) -> String {
    let bin = if real { REAL_CLI.to_string() } else { applet_dir().join("docker").display().to_string() };
    format!("env DOCKER_CONFIG={} {bin} -H {} {args}; echo EXIT=$?; sleep 600", config_dir.display(), d.host())
}

/// The clients to drive: ours (`false`), and the real CLI (`true`) when installed.
fn clients() -> Vec<bool> {
    [false, true].into_iter().filter(|&real| !real || Path::new(REAL_CLI).exists()).collect()
}

/// The private client config directory (made empty) the tests' clients use.
fn client_config(d: &Dockerd) -> PathBuf {
    let config = d.tmp.join("client-config");
    std::fs::create_dir_all(&config).unwrap();
    config
}

/// Ours or the real CLI, on this daemon, with the private client config.
fn client(d: &Dockerd, real: bool) -> Command {
    let mut cmd = if real { Command::new(REAL_CLI) } else { Command::new(applet_dir().join("docker")) };
    cmd.env("DOCKER_CONFIG", d.tmp.join("client-config")).arg("-H").arg(d.host());
    cmd
}

fn inspect(d: &Dockerd, name: &str) -> serde_json::Value {
    let (status, v) = d.api("GET", &format!("/containers/{name}/json"), None);
    assert_eq!(status, 200, "{v}");
    v
}

fn pull_busybox(d: &Dockerd) -> String {
    let image = d.registry.image("busybox");
    let o = d.docker(&["pull", &image]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    image
}

fn interactive_session(real: bool) {
    let Some(d) = Dockerd::start() else { return };
    if real && !Path::new(REAL_CLI).exists() {
        eprintln!("skipped: no {REAL_CLI}");
        return;
    }
    let image = pull_busybox(&d);
    let config = client_config(&d);

    let run = Tmux::start("run", 100, 30, &client_cmd(&d, real, &config, &format!("run -it --name box {image} sh")));
    run.wait_for("/ #", &d);
    run.wait_for_size(30, 100, &d);
    run.resize(120, 40);
    run.wait_for_size(40, 120, &d);
    run.line("echo typed-$((6*7))");
    run.wait_for("typed-42", &d);
    run.keys(&["C-p", "C-q"]);
    run.wait_for("EXIT=0", &d);
    assert!(!run.screen().contains("read escape sequence"), "run prints nothing on detach:\n{}", run.screen());
    assert_eq!(inspect(&d, "box")["State"]["Running"], true, "detaching stopped the container");

    // attach comes back to the same shell, at the new terminal's size; detaching from
    // attach is Docker's "read escape sequence" and exit status 1.
    let again = Tmux::start("attach", 90, 25, &client_cmd(&d, real, &config, "attach box"));
    std::thread::sleep(Duration::from_millis(500));
    again.wait_for_size(25, 90, &d);
    again.keys(&["C-p", "C-q"]);
    again.wait_for("read escape sequence", &d);
    again.wait_for("EXIT=1", &d);
    assert_eq!(inspect(&d, "box")["State"]["Running"], true);

    let last = Tmux::start("exit", 80, 24, &client_cmd(&d, real, &config, "attach box"));
    std::thread::sleep(Duration::from_millis(500));
    last.line("exit 3");
    last.wait_for("EXIT=3", &d);
    let state = inspect(&d, "box");
    assert_eq!((state["State"]["Running"].clone(), state["State"]["ExitCode"].clone()), (serde_json::json!(false), serde_json::json!(3)));
}

#[test]
fn interactive_session_with_our_client() {
    interactive_session(false);
}

#[test]
fn interactive_session_with_the_real_cli() {
    interactive_session(true);
}

#[test]
fn detach_keys_from_the_flag_and_the_config_file() {
    let Some(d) = Dockerd::start() else { return };
    let image = pull_busybox(&d);
    let config = client_config(&d);
    for real in clients() {
        let name = if real { "keys-real" } else { "keys-ours" };
        std::fs::write(config.join("config.json"), r#"{"detachKeys": "ctrl-x,y"}"#).unwrap();
        let run = Tmux::start("keys", 80, 24, &client_cmd(&d, real, &config, &format!("run -it --detach-keys ctrl-a,d --name {name} {image} sh")));
        run.wait_for("/ #", &d);
        // The default keys are plain input now, and so are the config file's.
        run.keys(&["C-p", "C-q"]);
        run.keys(&["C-x", "y", "C-u"]);
        run.line("echo still-$((1+1))");
        run.wait_for("still-2", &d);
        run.keys(&["C-a", "d"]);
        run.wait_for("EXIT=0", &d);
        assert_eq!(inspect(&d, name)["State"]["Running"], true);
        // attach takes them from config.json.
        let again = Tmux::start("keys-attach", 80, 24, &client_cmd(&d, real, &config, &format!("attach {name}")));
        std::thread::sleep(Duration::from_millis(500));
        again.keys(&["C-p", "C-q", "C-u"]);
        again.line("echo back-$((2+2))");
        again.wait_for("back-4", &d);
        again.keys(&["C-x", "y"]);
        again.wait_for("EXIT=1", &d);
        assert_eq!(inspect(&d, name)["State"]["Running"], true);
    }
    // An invalid notation is refused before anything runs.
    let o = d.docker(&["run", "-i", "--detach-keys", "ctrl-Q", &image, "true"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(stderr(&o), "invalid detach keys (ctrl-Q): Unknown character: 'ctrl-Q'\n");
    let o = d.docker(&["attach", "nothing-here"]);
    assert_eq!((o.status.code(), stderr(&o).as_str()), (Some(1), "Error response from daemon: No such container: nothing-here\n"));
}

/// Ours or the real CLI with `input` on its stdin.
fn piped(d: &Dockerd, real: bool, args: &[&str], input: Option<&[u8]>) -> std::process::Output {
    d.client_with_input(real.then_some(REAL_CLI), args, input)
}

#[test]
fn stdin_without_a_tty_ends_with_the_clients_input() {
    let Some(d) = Dockerd::start() else { return };
    let image = pull_busybox(&d);
    for real in clients() {
        let o = piped(&d, real, &["run", "-i", "--rm", &image, "cat"], Some(b"x\n"));
        assert_eq!((o.status.code(), stdout(&o).as_str()), (Some(0), "x\n"), "real={real}: {}", stderr(&o));
        let big: Vec<u8> = (0..200_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        let o = piped(&d, real, &["run", "-i", "--rm", &image, "sh", "-c", "wc -c; exit 4"], Some(&big));
        assert_eq!((o.status.code(), stdout(&o).trim()), (Some(4), "200000"), "real={real}: {}", stderr(&o));
    }
}

#[test]
fn start_attached_with_piped_input() {
    let Some(d) = Dockerd::start() else { return };
    let image = pull_busybox(&d);
    // Each client creates (`create -i` asks for stdin once, as Docker's CLI words it) and
    // each starts: the container's input ends with the client's, and its output comes back.
    for (n, (creator, starter)) in [(false, false), (true, false), (false, true), (true, true)].into_iter().filter(|(c, s)| clients().contains(c) && clients().contains(s)).enumerate() {
        let name = format!("piped-{n}");
        let o = piped(&d, creator, &["create", "-i", "--name", &name, &image, "sh", "-c", "cat; echo done >&2; exit 3"], None);
        assert_eq!(o.status.code(), Some(0), "create (real={creator}): {}", stderr(&o));
        assert_eq!(inspect(&d, &name)["Config"]["StdinOnce"], true, "real={creator}");
        let o = piped(&d, starter, &["start", "-a", "-i", &name], Some(b"one\ntwo\n"));
        assert_eq!((o.status.code(), stdout(&o).as_str(), stderr(&o).as_str()), (Some(3), "one\ntwo\n", "done\n"), "created by real={creator}, started by real={starter}");
    }
}

#[test]
fn tty_without_stdin_prints_its_output() {
    let Some(d) = Dockerd::start() else { return };
    let image = pull_busybox(&d);
    for real in clients() {
        let o = piped(&d, real, &["run", "-t", "--rm", &image, "sh", "-c", "echo out; echo err >&2; tty; exit 5"], None);
        assert_eq!(o.status.code(), Some(5), "real={real}: {}{}", stdout(&o), stderr(&o));
        // One raw stream, the pty's: stderr included, line ends as a terminal writes them.
        assert_eq!(stdout(&o), "out\r\nerr\r\n/dev/pts/0\r\n", "real={real}");
        assert_eq!(stderr(&o), "", "real={real}");
    }
    // No reader was left waiting on a FIFO nobody writes: every fifo thread ended.
    let threads: Vec<String> = std::fs::read_dir(format!("/proc/{}/task", d.pid()))
        .unwrap()
        .flatten()
        .map(|t| std::fs::read_to_string(t.path().join("comm")).unwrap_or_default().trim().to_string())
        .collect();
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::read_dir(format!("/proc/{}/task", d.pid())).unwrap().flatten().any(|t| std::fs::read_to_string(t.path().join("comm")).unwrap_or_default().trim() == "fifo") {
        assert!(Instant::now() < deadline, "dockerd still has fifo readers: {threads:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn resize_answers_as_docker() {
    let Some(d) = Dockerd::start() else { return };
    let image = pull_busybox(&d);
    let o = d.docker(&["create", "-t", "--name", "made", &image, "sh"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let id = stdout(&o).trim().to_string();
    let (status, v) = d.api("POST", "/containers/made/resize?h=10&w=20", None);
    assert_eq!((status, v["message"].as_str().unwrap_or("")), (409, format!("container {id} is not running").as_str()));
    let (status, _) = d.api("POST", "/containers/nothing-here/resize?h=10&w=20", None);
    assert_eq!(status, 404);
    let (status, v) = d.api("POST", "/containers/made/resize?h=abc&w=20", None);
    assert_eq!((status, v["message"].as_str().unwrap_or("")), (400, "invalid resize height \"abc\": invalid syntax"));
    let (status, v) = d.api("POST", "/containers/made/resize?h=10&w=-1", None);
    assert_eq!((status, v["message"].as_str().unwrap_or("")), (400, "invalid resize width \"-1\": value out of range"));
    // Running with a tty: the pty takes the size.
    let o = d.docker(&["run", "-d", "-t", "--name", "sized", &image, "sh", "-c", "sleep 1; stty size; sleep 100"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let (status, v) = d.api("POST", "/containers/sized/resize?h=33&w=77", None);
    assert_eq!(status, 200, "{v}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !stdout(&d.docker(&["logs", "sized"])).contains("33 77") {
        assert!(Instant::now() < deadline, "logs: {}", stdout(&d.docker(&["logs", "sized"])));
        std::thread::sleep(Duration::from_millis(100));
    }
    // Without one there is nothing to size; Docker answers 200 all the same.
    let o = d.docker(&["run", "-d", "--name", "plain", &image, "sleep", "100"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(d.api("POST", "/containers/plain/resize?h=33&w=77", None).0, 200);
}

/// Sends a raw request on the daemon's socket and reads the head of the answer.
fn raw_request(d: &Dockerd, request: &str) -> (UnixStream, String) {
    let mut s = UnixStream::connect(&d.sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut b).unwrap(), 1, "the connection closed in the head: {}", String::from_utf8_lossy(&head));
        head.push(b[0]);
    }
    (s, String::from_utf8_lossy(&head).into_owned())
}

/// Reads until `needle` has come or the peer closes; returns what came.
fn read_until(s: &mut UnixStream, needle: &str) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains(needle) {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn the_daemon_ends_an_attach_at_its_detach_keys() {
    let Some(d) = Dockerd::start() else { return };
    let image = pull_busybox(&d);
    let o = d.docker(&["run", "-d", "-i", "-t", "--name", "shell", &image, "sh"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let (status, v) = d.api("POST", "/containers/shell/attach?stream=1&stdin=1&detachKeys=ctrl-Z", None);
    assert_eq!((status, v["message"].as_str().unwrap_or("")), (400, "Invalid detach keys (ctrl-Z) provided"));
    let (mut s, head) = raw_request(&d, "POST /v1.44/containers/shell/attach?stream=1&stdin=1&stdout=1&detachKeys=ctrl-a,d HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 101 UPGRADED"), "{head}");
    assert!(head.contains("application/vnd.docker.raw-stream"), "a tty's stream is raw: {head}");
    s.write_all(b"echo via-$((3*3))\n").unwrap();
    let seen = read_until(&mut s, "via-9");
    assert!(seen.contains("via-9"), "{seen:?}");
    assert!(!seen.as_bytes().starts_with(&[1, 0, 0, 0]), "no stdcopy frames with a tty: {seen:?}");
    s.write_all(b"\x01d").unwrap();
    let sent = Instant::now();
    let rest = read_until(&mut s, "\u{0}never\u{0}");
    assert!(sent.elapsed() < Duration::from_secs(10), "the daemon did not end the attach");
    assert!(!rest.contains('d'), "the detach keys reached the container: {rest:?}");
    assert_eq!(inspect(&d, "shell")["State"]["Running"], true, "detaching stopped the container");
}

#[test]
fn websocket_attach() {
    let Some(d) = Dockerd::start() else { return };
    let image = pull_busybox(&d);
    let o = d.docker(&["run", "-d", "-i", "--name", "ws", &image, "sh", "-c", "read line; echo got:$line; echo err:$line >&2; sleep 100"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // A wrong version is refused.
    let (_, head) = raw_request(&d, "GET /containers/ws/attach/ws?stream=1 HTTP/1.1\r\nHost: docker\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
    let (mut s, head) = raw_request(
        &d,
        "GET /v1.44/containers/ws/attach/ws?stream=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: docker\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: http://localhost\r\n\r\n",
    );
    assert!(head.starts_with("HTTP/1.1 101 Switching Protocols"), "{head}");
    // RFC 6455's own example: this key's accept value.
    assert!(head.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{head}");
    let payload = b"hello\n";
    let mask = [0x37u8, 0xfa, 0x21, 0x3d];
    let mut frame = vec![0x82, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    s.write_all(&frame).unwrap();
    // Server frames: unmasked binary frames (API 1.44), one per chunk, never multiplexed.
    let mut text = String::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !(text.contains("got:hello") && text.contains("err:hello")) {
        assert!(Instant::now() < deadline, "{text:?}");
        let mut h = [0u8; 2];
        s.read_exact(&mut h).unwrap();
        assert_eq!(h[0], 0x82, "a final binary frame");
        assert_eq!(h[1] & 0x80, 0, "server frames are not masked");
        let len = match h[1] & 0x7f {
            126 => {
                let mut b = [0u8; 2];
                s.read_exact(&mut b).unwrap();
                u16::from_be_bytes(b) as usize
            }
            n => n as usize,
        };
        let mut p = vec![0u8; len];
        s.read_exact(&mut p).unwrap();
        text.push_str(&String::from_utf8_lossy(&p));
    }
    assert!(!text.contains('\u{1}'), "no stdcopy header in websocket frames: {text:?}");
}

#[test]
fn start_attached_and_interactive() {
    let Some(d) = Dockerd::start() else { return };
    let image = pull_busybox(&d);
    let config = client_config(&d);
    for real in clients() {
        let name = if real { "started-real" } else { "started-ours" };
        let o = d.docker(&["create", "-it", "--name", name, &image, "sh"]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let t = Tmux::start("start", 70, 20, &client_cmd(&d, real, &config, &format!("start -ai {name}")));
        t.wait_for("/ #", &d);
        t.wait_for_size(20, 70, &d);
        t.line("exit 7");
        t.wait_for("EXIT=7", &d);
        assert_eq!(inspect(&d, name)["State"]["ExitCode"], 7);
    }
}

/// A container's script for the signal tests: `ready`, then `got-term` and exit 9 at SIGTERM.
const TRAP_TERM: &str = "trap 'echo got-term; exit 9' TERM; echo ready; while :; do sleep 0.1; done";

/// Starts `client` (attached to `name`, whose script is [`TRAP_TERM`]), once `ready` is in the
/// logs, sends it SIGTERM and checks where the signal went: with `proxy` to the container
/// (the client ends with its exit code), else to the client alone (the container runs on).
fn check_sigterm(d: &Dockerd, mut client: Command, name: &str, proxy: bool, wait_for_attach: bool) {
    use std::os::unix::process::ExitStatusExt;
    let mut child = client.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !stdout(&d.docker(&["logs", name])).contains("ready") {
        assert!(Instant::now() < deadline, "{name} did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    if wait_for_attach {
        std::thread::sleep(Duration::from_millis(1500));
    }
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the client did not end ({name})");
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = child.wait_with_output().unwrap();
    if proxy {
        assert_eq!(o.status.code(), Some(9), "{name}: {}{}", stdout(&o), stderr(&o));
        assert!(stdout(&o).contains("got-term"), "{name}: {}", stdout(&o));
    } else {
        assert_eq!(o.status.signal(), Some(libc::SIGTERM), "{name}: {:?}", o.status);
        assert_eq!(inspect(d, name)["State"]["Running"], true, "{name}: the signal reached the container");
    }
}

#[test]
fn run_proxies_signals() {
    let Some(d) = Dockerd::start() else { return };
    let image = pull_busybox(&d);
    for proxy in [true, false] {
        let name = format!("run-proxy-{proxy}");
        let mut run = client(&d, false);
        run.args(["run", &format!("--sig-proxy={proxy}"), "--name", &name, &image, "sh", "-c", TRAP_TERM]);
        check_sigterm(&d, run, &name, proxy, false);
    }
}

#[test]
fn attach_proxies_signals_without_a_tty() {
    let Some(d) = Dockerd::start() else { return };
    let image = pull_busybox(&d);
    for (real, proxy) in [(false, true), (false, false), (true, true)] {
        if !clients().contains(&real) {
            continue;
        }
        let name = format!("proxy-{real}-{proxy}");
        let o = d.docker(&["run", "-d", "--name", &name, &image, "sh", "-c", TRAP_TERM]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let mut attach = client(&d, real);
        attach.args(["attach", &format!("--sig-proxy={proxy}"), &name]);
        check_sigterm(&d, attach, &name, proxy, true);
    }
}

/// Names of dockerd's threads.
fn thread_names(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/task")).unwrap().flatten().map(|t| std::fs::read_to_string(t.path().join("comm")).unwrap_or_default().trim().to_string()).collect()
}

#[test]
fn an_attach_ends_when_its_client_hangs_up() {
    let Some(d) = Dockerd::start() else { return };
    let image = pull_busybox(&d);
    let o = d.docker(&["run", "-d", "-t", "--name", "quiet", &image, "sleep", "100"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let http = |d: &Dockerd| thread_names(d.pid()).iter().filter(|n| *n == "http").count();
    let before = http(&d);
    let (s, head) = raw_request(&d, "POST /containers/quiet/attach?stream=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    // Shutting down only our writing side is not hanging up (Docker's CLI does it when it has no input).
    s.shutdown(std::net::Shutdown::Write).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(thread_names(d.pid()).iter().any(|n| n == "attach-hangup"), "the attach ended at a half-close: {:?}", thread_names(d.pid()));
    drop(s);
    let deadline = Instant::now() + Duration::from_secs(10);
    while http(&d) > before || thread_names(d.pid()).iter().any(|n| n == "attach-hangup") {
        assert!(Instant::now() < deadline, "the attach outlived its client: {:?}", thread_names(d.pid()));
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(inspect(&d, "quiet")["State"]["Running"], true);
}
