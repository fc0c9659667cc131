//! kill -9 at random moments: each round starts an operation (run, stop, exec, pull, rm) on a
//! networked dockerd, kills dockerd, containerd or a shim at a random point of it, restarts
//! what the product restarts (a new dockerd on the same roots; dockerd restarts containerd
//! itself), and checks that every container is accounted for and nothing leaked.
//!
//! `CHAOS_SEED=N` replays a run (the seed is printed), `CHAOS_ROUNDS=N` sets the number of
//! rounds (200 under CI=true, 40 otherwise).

mod common;

use common::{argv, stderr, stdout, Dockerd, NetNs};
use std::collections::{BTreeMap, BTreeSet};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

/// splitmix64: small, seedable, good enough to pick moments and targets.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }

    fn pick<'a, T>(&mut self, v: &'a [T]) -> Option<&'a T> {
        if v.is_empty() {
            None
        } else {
            Some(&v[self.below(v.len() as u64) as usize])
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Op {
    Run,
    Stop,
    Exec,
    Pull,
    Rm,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Target {
    Dockerd,
    Containerd,
    Shim,
}

/// One process as /proc shows it.
struct Proc {
    pid: i32,
    ppid: i32,
    comm: String,
    argv: Vec<String>,
    zombie: bool,
    netns: String,
}

fn processes() -> Vec<Proc> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        let Some((head, rest)) = stat.rsplit_once(')') else { continue };
        let comm = head.split_once('(').map(|(_, c)| c.to_string()).unwrap_or_default();
        let mut fields = rest.split_whitespace();
        let state = fields.next().unwrap_or("");
        let ppid = fields.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        let netns = std::fs::read_link(format!("/proc/{pid}/ns/net")).map(|l| l.display().to_string()).unwrap_or_default();
        out.push(Proc { pid, ppid, comm, argv: argv(pid), zombie: state == "Z" || state == "X", netns });
    }
    out
}

fn argv0_base(p: &Proc) -> &str {
    p.argv.first().map(|a| a.rsplit('/').next().unwrap_or(a)).unwrap_or("")
}

fn kill9(pid: i32) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
}

/// Reaps the zombies the test inherited as subreaper (shims whose containerd died, the
/// containerd of a killed dockerd, a container's processes whose shim died), leaving our own
/// dockerd and clients to their `Child`.
fn reap_inherited(keep: i32) {
    let me = std::process::id() as i32;
    for p in processes() {
        if p.ppid == me && p.zombie && p.pid != keep && p.comm != "docker" && p.comm != "dockerd" {
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(p.pid), Some(nix::sys::wait::WaitPidFlag::WNOHANG));
        }
    }
}

/// What a check found: the containers and which of them run.
#[derive(Default, Clone)]
struct Snapshot {
    all: BTreeSet<String>,
    running: BTreeSet<String>,
    stopped: BTreeSet<String>,
}

/// What the last round did, for what the check expects.
struct Expect<'a> {
    /// The container whose shim was killed while it was running, outside a stop or rm of it.
    killed_shim_of: Option<&'a str>,
    /// The container the round removed (it may be gone).
    removed: Option<&'a str>,
}

struct Chaos {
    d: Dockerd,
    ns: NetNs,
    ns_link: String,
    busybox: String,
    hello: String,
    canary: String,
    /// Every container id the test has seen, to look for what a removed one left.
    ever: BTreeSet<String>,
    last: Snapshot,
}

/// A container that runs until its stop signal and then exits at once (sh as PID 1 takes
/// SIGTERM only with a trap, and the trap runs as soon as `wait` is interrupted).
const STOPS_AT_ONCE: &str = "trap 'exit 0' TERM; sleep 3600 & wait";

const CGROUP_HIERARCHIES: &[&str] = &["memory", "pids", "cpu", "cpuacct", "blkio", "devices", "freezer", "cpuset", "systemd", "unified", ""];

impl Chaos {
    fn tmp(&self) -> &Path {
        self.d.tmp.path()
    }

    fn data(&self) -> PathBuf {
        self.d.tmp.join("data")
    }

    fn exec_root(&self) -> PathBuf {
        self.d.exec_root()
    }

    fn ours(&self) -> Vec<Proc> {
        let needle = self.tmp().display().to_string();
        processes().into_iter().filter(|p| !p.zombie && p.argv.iter().any(|a| a.contains(&needle))).collect()
    }

    /// containerd processes of ours (not their children between fork and exec, which have
    /// containerd's command line for a moment).
    fn containerd_pids(&self) -> Vec<i32> {
        let ours = self.ours();
        let all: BTreeSet<i32> = ours.iter().filter(|p| argv0_base(p) == "docker-containerd").map(|p| p.pid).collect();
        ours.iter().filter(|p| all.contains(&p.pid) && !all.contains(&p.ppid)).map(|p| p.pid).collect()
    }

    /// (pid, container id) of each live shim of ours.
    /// (Not the runtime the shim forks without executing, which keeps its command line.)
    fn shims(&self) -> Vec<(i32, String)> {
        let ours = self.ours();
        let all: BTreeSet<i32> = ours.iter().filter(|p| argv0_base(p) == "docker-containerd-shim").map(|p| p.pid).collect();
        ours.iter()
            .filter(|p| all.contains(&p.pid) && !all.contains(&p.ppid))
            .filter_map(|p| {
                let i = p.argv.iter().position(|a| a == "-workdir")?;
                let id = Path::new(p.argv.get(i + 1)?).file_name()?.to_string_lossy().into_owned();
                Some((p.pid, id))
            })
            .collect()
    }

    fn client(&self, args: &[&str]) -> Child {
        common::applet("docker").arg("-H").arg(self.d.host()).args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
    }

    fn wait_client(&self, mut child: Child, what: &str) -> Output {
        let deadline = Instant::now() + Duration::from_secs(60);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let o = child.wait_with_output().unwrap();
                panic!("{what} hung: {}{}\ndockerd:\n{}", stdout(&o), stderr(&o), tail(&self.d.log()));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        child.wait_with_output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.wait_client(self.client(args), &format!("docker {args:?}"));
        assert_eq!(o.status.code(), Some(0), "docker {args:?}: {}{}\ndockerd:\n{}", stdout(&o), stderr(&o), tail(&self.d.log()));
        stdout(&o)
    }

    fn iptables_save(&self, table: &str) -> String {
        let o = self.ns.command("iptables-save").args(["-t", table]).output().unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Everything the slice asks for, once. `Err` says what is wrong (the caller retries for
    /// a while: exits and cleanups after a restart are asynchronous).
    fn check(&self, expect: &Expect) -> Result<Snapshot, String> {
        let (status, list) = self.d.api("GET", "/containers/json?all=1", None);
        if status != 200 {
            return Err(format!("GET /containers/json: {status} {list}"));
        }
        let mut snap = Snapshot::default();
        for c in list.as_array().cloned().unwrap_or_default() {
            snap.all.insert(c["Id"].as_str().unwrap_or_default().to_string());
        }
        for id in &self.last.all {
            if !snap.all.contains(id) && expect.removed != Some(id.as_str()) {
                return Err(format!("container {id} was lost"));
            }
        }
        // Per container: its state is true, and a running one has all it needs.
        let mut merged = BTreeSet::new();
        let mut sandboxes = BTreeSet::new();
        let mut destinations = BTreeSet::new();
        let mut bindings = 0usize;
        for id in &snap.all {
            let (status, c) = self.d.api("GET", &format!("/containers/{id}/json"), None);
            if status == 404 && expect.removed == Some(id.as_str()) {
                continue;
            }
            if status != 200 {
                return Err(format!("inspect {id}: {status} {c}"));
            }
            let state = &c["State"];
            let st = state["Status"].as_str().unwrap_or_default();
            match st {
                "running" => {
                    let pid = state["Pid"].as_i64().unwrap_or(0) as i32;
                    if pid <= 0 || !common::alive(pid) {
                        return Err(format!("{id} is running with pid {pid}, which is not alive"));
                    }
                    if state["Restarting"] == true || state["Paused"] == true {
                        return Err(format!("{id}: unexpected state {state}"));
                    }
                    snap.running.insert(id.clone());
                    merged.insert(PathBuf::from(c["GraphDriver"]["Data"]["MergedDir"].as_str().unwrap_or_default()));
                    let key = c["NetworkSettings"]["SandboxKey"].as_str().unwrap_or_default();
                    if key.is_empty() {
                        return Err(format!("{id} runs without a sandbox"));
                    }
                    sandboxes.insert(PathBuf::from(key));
                    let ip = c["NetworkSettings"]["Networks"]["bridge"]["IPAddress"].as_str().unwrap_or_default().to_string();
                    for (port, binds) in c["NetworkSettings"]["Ports"].as_object().cloned().unwrap_or_default() {
                        let n = binds.as_array().map(Vec::len).unwrap_or(0);
                        bindings += n;
                        if n > 0 {
                            destinations.insert(format!("{ip}:{}", port.split('/').next().unwrap_or_default()));
                        }
                    }
                }
                "exited" | "created" => {
                    if state["ExitCode"].as_i64().is_none() {
                        return Err(format!("{id} is {st} without an exit code: {state}"));
                    }
                    snap.stopped.insert(id.clone());
                }
                _ => return Err(format!("{id} is in state {st:?}: {state}")),
            }
            if expect.killed_shim_of == Some(id.as_str()) && (st != "exited" || state["ExitCode"].as_i64() != Some(137)) {
                return Err(format!("{id}, whose shim was killed, is {st} with exit code {}, not exited 137", state["ExitCode"]));
            }
        }

        // Mounts: a running container's root and network namespace file, nothing else.
        let mounts = common::mounts_under(self.tmp());
        let allowed: BTreeSet<&PathBuf> = merged.iter().chain(sandboxes.iter()).collect();
        let extra: Vec<_> = mounts.iter().filter(|m| !allowed.contains(m)).collect();
        if !extra.is_empty() {
            return Err(format!("mounts left behind: {extra:?}"));
        }
        for m in &merged {
            if !mounts.contains(m) {
                return Err(format!("a running container's root {} is not mounted", m.display()));
            }
        }
        // Namespace files, bundles (FIFOs), runtime and containerd state: running ones only.
        let names = |dir: PathBuf| -> BTreeSet<String> { std::fs::read_dir(dir).into_iter().flatten().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect() };
        let netns_files = names(self.exec_root().join("netns"));
        let wanted: BTreeSet<String> = sandboxes.iter().filter_map(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned()).collect();
        if netns_files != wanted {
            return Err(format!("netns files {netns_files:?}, running containers' {wanted:?}"));
        }
        let runtime_dir = "io.containerd.runtime.v1.linux/moby";
        for (what, dir) in [
            ("bundle (FIFOs)", self.exec_root().join("libcontainerd")),
            ("containerd state", self.exec_root().join("containerd/daemon").join(runtime_dir)),
            ("shim workdir", self.data().join("containerd/daemon").join(runtime_dir)),
            ("runc state", self.exec_root().join("containerd/daemon/runtime-runc/moby")),
        ] {
            let found = names(dir);
            let extra: Vec<_> = found.iter().filter(|n| !snap.running.contains(*n)).collect();
            if !extra.is_empty() {
                return Err(format!("{what} left for {extra:?}"));
            }
        }
        let fifos: Vec<String> = snap.running.iter().flat_map(|id| names(self.exec_root().join("libcontainerd").join(id)).into_iter().filter(|n| n.contains('-') && !n.starts_with("init-"))).collect();
        if !fifos.is_empty() {
            return Err(format!("exec FIFOs left: {fifos:?}"));
        }
        // Cgroups of every container ever seen: only running ones have theirs.
        for id in self.ever.iter().chain(snap.all.iter()) {
            for h in CGROUP_HIERARCHIES {
                let dir = Path::new("/sys/fs/cgroup").join(h).join(self.d.container_cgroup(id).trim_start_matches('/'));
                if dir.exists() != snap.running.contains(id) && (dir.exists() || *h == "memory") {
                    return Err(format!("cgroup {} exists: {}, container running: {}", dir.display(), dir.exists(), snap.running.contains(id)));
                }
            }
        }
        // Processes: one containerd (dockerd's child), one shim per running container, the
        // proxies of running containers' ports (dockerd's children, in our namespace).
        let procs = processes();
        let dockerd = self.d.pid() as i32;
        let containerds = self.containerd_pids();
        if containerds.len() != 1 || procs.iter().find(|p| p.pid == containerds[0]).map(|p| p.ppid) != Some(dockerd) {
            return Err(format!("containerds of ours: {containerds:?} (dockerd is {dockerd})"));
        }
        let shims: BTreeMap<String, usize> = self.shims().into_iter().fold(BTreeMap::new(), |mut m, (_, id)| {
            *m.entry(id).or_default() += 1;
            m
        });
        if shims.keys().cloned().collect::<BTreeSet<_>>() != snap.running || shims.values().any(|&n| n != 1) {
            return Err(format!("shims {shims:?}, running containers {:?}", snap.running));
        }
        let proxies: Vec<&Proc> = procs.iter().filter(|p| !p.zombie && p.comm == "docker-proxy" && p.netns == self.ns_link).collect();
        if proxies.len() != bindings || proxies.iter().any(|p| p.ppid != dockerd) {
            let shown: Vec<_> = proxies.iter().map(|p| (p.pid, p.ppid, p.argv.join(" "))).collect();
            return Err(format!("{} port bindings, proxies {shown:?}", bindings));
        }
        // iptables: a DNAT rule and an ACCEPT per running container's published port, no more.
        let nat = self.iptables_save("nat");
        let dnat: BTreeSet<String> = nat
            .lines()
            .filter(|l| l.contains("-j DNAT"))
            .filter_map(|l| l.split_whitespace().skip_while(|w| *w != "--to-destination").nth(1).map(str::to_string))
            .collect();
        if dnat != destinations {
            return Err(format!("DNAT rules to {dnat:?}, running containers publish {destinations:?}\n{nat}"));
        }
        let filter = self.iptables_save("filter");
        let accept: BTreeSet<String> = filter.lines().filter(|l| l.starts_with("-A DOCKER -d ")).filter_map(|l| l.split_whitespace().nth(3)).map(|a| a.trim_end_matches("/32").to_string()).collect();
        let ips: BTreeSet<String> = destinations.iter().map(|d| d.rsplit_once(':').unwrap().0.to_string()).collect();
        if accept != ips {
            return Err(format!("filter DOCKER accepts {accept:?}, running containers are {ips:?}\n{filter}"));
        }
        let veths = self.ns.command("ip").args(["-o", "link", "show", "type", "veth"]).output().unwrap();
        let veths = stdout(&veths).lines().count();
        if veths != snap.running.len() {
            return Err(format!("{veths} veths for {} running containers", snap.running.len()));
        }
        // The volume's content.
        let canary = std::fs::read_to_string(self.data().join("volumes/chaosvol/_data/canary")).unwrap_or_default();
        if canary != self.canary {
            return Err(format!("the volume's canary reads {canary:?}"));
        }
        Ok(snap)
    }

    /// `check` until it passes, or fails for 20 s.
    /// `strict`: a dockerd that has just started answers the truth from its first answer on
    /// (no container running whose process is gone).
    fn settle(&mut self, expect: &Expect, context: &str, strict: bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut first = strict;
        loop {
            reap_inherited(self.d.pid() as i32);
            match self.check(expect) {
                Ok(snap) => {
                    self.ever.extend(snap.all.iter().cloned());
                    self.last = snap;
                    return;
                }
                Err(e) if first && e.contains("which is not alive") => panic!("{context}: right after the restart: {e}\ndockerd:\n{}", tail(&self.d.log())),
                Err(e) if Instant::now() > deadline => panic!("{context}: {e}\ndockerd:\n{}", tail(&self.d.log())),
                Err(_) => {
                    first = false;
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
    }

    /// The images still run.
    fn images_run(&self) {
        let out = self.ok(&["run", "--rm", &self.busybox, "cat", "/etc/hostname"]);
        assert!(!out.trim().is_empty());
        let (_, images) = self.d.api("GET", "/images/json", None);
        let has_hello = images.as_array().into_iter().flatten().any(|i| i["RepoTags"].as_array().into_iter().flatten().any(|t| t.as_str().is_some_and(|t| t.starts_with(&self.hello))));
        if has_hello {
            let out = self.ok(&["run", "--rm", &self.hello]);
            assert!(out.contains("Hello from"), "hello-world: {out}");
        }
    }
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

#[test]
fn kill_9_at_random_moments_loses_no_container_and_leaks_nothing() {
    let Some((d, ns)) = Dockerd::start_networked(&[], None) else { return };
    let seed = env_u64("CHAOS_SEED").unwrap_or_else(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64);
    let rounds = env_u64("CHAOS_ROUNDS").unwrap_or(if std::env::var("CI").as_deref() == Ok("true") { 200 } else { 40 });
    eprintln!("chaos: seed {seed} (replay with CHAOS_SEED={seed}), {rounds} rounds");
    let mut rng = Rng(seed);
    let verbose = std::env::var_os("CHAOS_VERBOSE").is_some();
    let ns_link = format!("net:[{}]", dockbox::fs64::fstat(ns.handle().as_raw_fd()).unwrap().st_ino);
    let busybox = d.registry.image("busybox");
    let hello = d.registry.image("hello-world");
    let mut chaos = Chaos { d, ns, ns_link, busybox, hello, canary: format!("canary {seed}\n"), ever: BTreeSet::new(), last: Snapshot::default() };
    chaos.ok(&["pull", &chaos.busybox.clone()]);
    chaos.ok(&["volume", "create", "chaosvol"]);
    let script = format!("printf 'canary {seed}\\n' > /data/canary");
    chaos.ok(&["run", "--rm", "-v", "chaosvol:/data", &chaos.busybox.clone(), "sh", "-c", &script]);
    chaos.settle(&Expect { killed_shim_of: None, removed: None }, "before the first round", false);

    let started = Instant::now();
    let mut settle_time = Duration::ZERO;
    let mut average_ms: BTreeMap<Op, f64> = BTreeMap::new();
    let mut tally: BTreeMap<(Op, Target), u32> = BTreeMap::new();
    for round in 0..rounds {
        let running: Vec<String> = chaos.last.running.iter().cloned().collect();
        let all: Vec<String> = chaos.last.all.iter().cloned().collect();
        // Weights that keep a few containers around, most of them running.
        let mut ops = vec![Op::Pull];
        if all.len() < 5 {
            ops.extend([Op::Run, Op::Run]);
        }
        if !running.is_empty() {
            ops.extend([Op::Stop, Op::Exec, Op::Exec]);
        }
        if !all.is_empty() {
            ops.push(Op::Rm);
            if all.len() >= 4 || all.len() > running.len() + 1 {
                ops.extend([Op::Rm, Op::Rm]);
            }
        }
        let op = *rng.pick(&ops).unwrap();
        let subject = match op {
            Op::Stop | Op::Exec => rng.pick(&running).cloned(),
            Op::Rm => rng.pick(&all).cloned(),
            _ => None,
        };
        let target = *rng.pick(&[Target::Dockerd, Target::Containerd, Target::Shim]).unwrap();
        let busybox = chaos.busybox.clone();
        let hello = chaos.hello.clone();
        let args: Vec<String> = match op {
            Op::Run => ["run", "-d", "-v", "chaosvol:/data", "-p", "80", &busybox, "sh", "-c", STOPS_AT_ONCE].map(String::from).to_vec(),
            Op::Stop => vec!["stop".into(), "-t".into(), "3".into(), subject.clone().unwrap()],
            Op::Exec => vec!["exec".into(), subject.clone().unwrap(), "cat".into(), "/data/canary".into()],
            Op::Pull => {
                let o = chaos.wait_client(chaos.client(&["rmi", &hello]), "rmi");
                let _ = o;
                vec!["pull".into(), hello.clone()]
            }
            Op::Rm => vec!["rm".into(), "-f".into(), subject.clone().unwrap()],
        };
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        // A moment within the operation as long as it usually takes (a little past its end).
        let typical = average_ms.get(&op).copied().unwrap_or(300.0);
        let delay = Duration::from_millis(rng.below((typical * 1.2) as u64 + 1));
        // The shim: the subject's most of the time, else any.
        let prefer_subject = rng.below(3) != 0;
        let shim_pick = rng.next();
        let context = format!("round {round} (seed {seed}): {op:?} {args:?}, kill -9 of {target:?} after {delay:?}");

        let begun = Instant::now();
        let child = chaos.client(&args);
        std::thread::sleep(delay);
        let mut killed_shim_of = None;
        match target {
            Target::Dockerd => {
                chaos.d.crash_and_restart();
                // From its first answer on, the new dockerd tells no container running whose
                // process is gone.
                let (_, list) = chaos.d.api("GET", "/containers/json", None);
                for c in list.as_array().cloned().unwrap_or_default() {
                    let id = c["Id"].as_str().unwrap_or_default();
                    let pid = chaos.d.api("GET", &format!("/containers/{id}/json"), None).1["State"]["Pid"].as_i64().unwrap_or(0) as i32;
                    assert!(common::alive(pid), "{context}: right after the restart, {id} is running with pid {pid}, which is gone\n{}", tail(&chaos.d.log()));
                }
            }
            Target::Containerd => {
                let old = chaos.containerd_pids();
                assert_eq!(old.len(), 1, "{context}: containerds {old:?}");
                kill9(old[0]);
                let deadline = Instant::now() + Duration::from_secs(20);
                loop {
                    reap_inherited(chaos.d.pid() as i32);
                    let now = chaos.containerd_pids();
                    if now.len() == 1 && now[0] != old[0] {
                        break;
                    }
                    assert!(Instant::now() < deadline, "{context}: dockerd did not restart containerd\n{}", tail(&chaos.d.log()));
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            Target::Shim => {
                let shims = chaos.shims();
                let chosen = shims.iter().find(|(_, id)| prefer_subject && subject.as_deref() == Some(id.as_str())).or_else(|| shims.get((shim_pick % shims.len().max(1) as u64) as usize));
                if let Some((pid, id)) = chosen {
                    kill9(*pid);
                    // A container running before the round and not being stopped or removed
                    // by it must end as SIGKILL's 137.
                    let ends_anyway = matches!(op, Op::Stop | Op::Rm) && subject.as_deref() == Some(id.as_str());
                    if running.contains(id) && !ends_anyway {
                        killed_shim_of = Some(id.clone());
                    }
                }
            }
        }
        let o = chaos.wait_client(child, &context);
        let settling = Instant::now();
        let elapsed = begun.elapsed().as_secs_f64() * 1000.0;
        let avg = average_ms.entry(op).or_insert(elapsed);
        *avg = *avg * 0.8 + elapsed.min(2000.0) * 0.2;
        *tally.entry((op, target)).or_default() += 1;
        if op == Op::Exec && o.status.code() == Some(0) {
            assert_eq!(stdout(&o), chaos.canary, "{context}: exec read the volume wrong");
        }
        if op == Op::Run && o.status.code() == Some(0) {
            chaos.ever.insert(stdout(&o).trim().to_string());
        }
        let removed = if op == Op::Rm { subject.clone() } else { None };
        chaos.settle(&Expect { killed_shim_of: killed_shim_of.as_deref(), removed: removed.as_deref() }, &context, target == Target::Dockerd);
        if verbose {
            let states: Vec<String> = chaos.last.all.iter().map(|id| {
                let s = chaos.d.api("GET", &format!("/containers/{id}/json"), None).1;
                format!("{} {} {}", &id[..12], s["State"]["Status"].as_str().unwrap_or(""), s["State"]["ExitCode"])
            }).collect();
            eprintln!("{context}: exit {:?} {} {} -> {states:?}", o.status.code(), stdout(&o).trim(), stderr(&o).trim());
        }
        settle_time += settling.elapsed();
        if op == Op::Pull || round % 10 == 9 {
            chaos.images_run();
        }
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!("chaos: {rounds} rounds in {secs:.1} s ({:.2} rounds/s)", rounds as f64 / secs);
    eprintln!("chaos: rounds per operation and kill: {tally:?}; {settle_time:.1?} of it settling and checking");
    // The end: everything removed leaves nothing at all.
    for id in chaos.last.all.clone() {
        chaos.ok(&["rm", "-f", &id]);
    }
    chaos.last = Snapshot::default();
    chaos.settle(&Expect { killed_shim_of: None, removed: None }, "after removing every container", false);
    chaos.images_run();
}
