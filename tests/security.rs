//! Container security against the real kernel: seccomp (compiled filters run in a BPF
//! interpreter for four arches and for real here), capabilities, no_new_privs, rlimits and
//! the other process settings, and the defences against runc's known escapes.

mod common;

use common::{require_root, text, Bundle, TempDir};
use dockbox::seccomp::bpf::Insn;
use dockbox::seccomp::{Arch, Seccomp, X32_SYSCALL_BIT};
use serde_json::{json, Value};
use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};

// ---------------------------------------------------------------- BPF interpreter

/// Runs a classic BPF seccomp program over a `struct seccomp_data` the way the kernel does.
fn run_bpf(prog: &[Insn], nr: u32, arch: u32, args: [u64; 6]) -> u32 {
    let mut data = Vec::with_capacity(64);
    data.extend_from_slice(&nr.to_le_bytes());
    data.extend_from_slice(&arch.to_le_bytes());
    data.extend_from_slice(&0u64.to_le_bytes());
    for a in args {
        data.extend_from_slice(&a.to_le_bytes());
    }
    let word = |off: u32| u32::from_le_bytes(data[off as usize..off as usize + 4].try_into().unwrap());
    let (mut a, mut pc) = (0u32, 0usize);
    loop {
        let i = prog[pc];
        pc += 1;
        match i.code {
            0x20 => a = word(i.k),
            0x54 => a &= i.k,
            0x05 => pc += i.k as usize,
            0x15 | 0x25 | 0x35 | 0x45 => {
                let taken = match i.code {
                    0x15 => a == i.k,
                    0x25 => a > i.k,
                    0x35 => a >= i.k,
                    _ => a & i.k != 0,
                };
                pc += if taken { i.jt } else { i.jf } as usize;
            }
            0x06 => return i.k,
            other => panic!("unexpected BPF opcode {other:#x}"),
        }
    }
}

const ALLOW: u32 = 0x7fff_0000;
const fn errno(e: u32) -> u32 {
    0x0005_0000 | e
}

fn compile(profile: &Value) -> Vec<Insn> {
    Seccomp::from_value(profile).unwrap().compile().unwrap().program
}

/// Evaluates `name(args)` on `arch` under `prog`.
fn eval(prog: &[Insn], arch: Arch, name: &str, args: [u64; 6]) -> u32 {
    let nr = arch.syscall(name).unwrap_or_else(|| panic!("{name} has no number on {arch:?}"));
    run_bpf(prog, nr, arch.audit(), args)
}

const ALL_ARCHES: [Arch; 5] = [Arch::X86_64, Arch::X32, Arch::X86, Arch::Aarch64, Arch::Arm];
const ARCH_NAMES: [&str; 5] = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_X86", "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"];

#[test]
fn bpf_actions_and_argument_comparisons_on_four_arches() {
    let profile = json!({
        "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1, "architectures": ARCH_NAMES,
        "syscalls": [
            {"names": ["read", "write", "getpid", "exit_group"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
            {"names": ["kill"], "action": "SCMP_ACT_KILL_PROCESS"},
            {"names": ["tkill"], "action": "SCMP_ACT_TRAP"},
            {"names": ["tgkill"], "action": "SCMP_ACT_TRACE", "errnoRet": 7},
            {"names": ["getppid"], "action": "SCMP_ACT_LOG"},
            {"names": ["gettid"], "action": "SCMP_ACT_KILL"},
            {"names": ["close"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["dup3"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 2, "value": 0x80000, "op": "SCMP_CMP_EQ"}]},
            {"names": ["lseek"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 2, "value": 2, "op": "SCMP_CMP_NE"}]},
            {"names": ["fchdir"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 0x1_0000_0005u64, "op": "SCMP_CMP_GT"}]},
            {"names": ["fchmod"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 1, "value": 0o700, "op": "SCMP_CMP_GE"}]},
            {"names": ["umask"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 0o22, "op": "SCMP_CMP_LT"}]},
            {"names": ["setuid"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1000, "op": "SCMP_CMP_LE"}]},
            {"names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 0x7E02_0000u64, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
            {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 97, "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 1, "op": "SCMP_CMP_EQ"}]},
        ]
    });
    let prog = compile(&profile);
    for arch in ALL_ARCHES {
        let e = |name: &str, args: [u64; 6]| eval(&prog, arch, name, args);
        let z = [0u64; 6];
        assert_eq!(e("read", z), ALLOW, "{arch:?}");
        assert_eq!(e("getpid", z), ALLOW, "{arch:?}");
        assert_eq!(e("mkdirat", z), errno(13), "{arch:?}");
        assert_eq!(e("kill", z), 0x8000_0000, "{arch:?}");
        assert_eq!(e("tkill", z), 0x0003_0000, "{arch:?}");
        assert_eq!(e("tgkill", z), 0x7ff0_0007, "{arch:?}");
        assert_eq!(e("getppid", z), 0x7ffc_0000, "{arch:?}");
        assert_eq!(e("gettid", z), 0, "{arch:?}");
        assert_eq!(e("close", z), errno(1), "ERRNO without errnoRet is EPERM ({arch:?})");
        assert_eq!(e("openat", z), errno(1), "the default ({arch:?})");
        assert_eq!(e("dup3", [0, 0, 0x80000, 0, 0, 0]), ALLOW);
        assert_eq!(e("dup3", [0, 0, 0x80001, 0, 0, 0]), errno(1));
        assert_eq!(e("lseek", [0, 0, 1, 0, 0, 0]), ALLOW);
        assert_eq!(e("lseek", [0, 0, 2, 0, 0, 0]), errno(1));
        assert_eq!(e("fchmod", [0, 0o700, 0, 0, 0, 0]), ALLOW);
        assert_eq!(e("fchmod", [0, 0o677, 0, 0, 0, 0]), errno(1));
        assert_eq!(e("umask", [0o21, 0, 0, 0, 0, 0]), ALLOW);
        assert_eq!(e("umask", [0o22, 0, 0, 0, 0, 0]), errno(1));
        assert_eq!(e("setuid", [1000, 0, 0, 0, 0, 0]), ALLOW);
        assert_eq!(e("setuid", [1001, 0, 0, 0, 0, 0]), errno(1));
        assert_eq!(e("clone", [0x0100_0011u64, 0, 0, 0, 0, 0]), ALLOW, "no namespace flags ({arch:?})");
        assert_eq!(e("clone", [0x0002_0011, 0, 0, 0, 0, 0]), errno(1), "CLONE_NEWNS ({arch:?})");
        assert_eq!(e("personality", [8, 0, 0, 0, 0, 0]), ALLOW);
        assert_eq!(e("personality", [0, 0, 0, 0, 0, 0]), ALLOW);
        assert_eq!(e("personality", [4, 0, 0, 0, 0, 0]), errno(1));
        assert_eq!(e("socket", [40, 1, 0, 0, 0, 0]), errno(97), "both arguments match");
        assert_eq!(e("socket", [40, 2, 0, 0, 0, 0]), errno(1), "one argument differs");
        let wide = matches!(arch, Arch::X86_64 | Arch::X32 | Arch::Aarch64);
        // 64-bit comparisons: high word first; 32-bit arches compare the low word only.
        assert_eq!(e("fchdir", [0x1_0000_0006, 0, 0, 0, 0, 0]), ALLOW);
        assert_eq!(e("fchdir", [0x2_0000_0000, 0, 0, 0, 0, 0]), if wide { ALLOW } else { errno(1) }, "{arch:?}");
        assert_eq!(e("fchdir", [0x1_0000_0005, 0, 0, 0, 0, 0]), errno(1));
        assert_eq!(e("fchdir", [0x0_ffff_ffff, 0, 0, 0, 0, 0]), if wide { errno(1) } else { ALLOW }, "{arch:?}");
        assert_eq!(e("dup3", [0, 0, 0x1_0008_0000, 0, 0, 0]), if wide { errno(1) } else { ALLOW }, "{arch:?}");
        assert_eq!(e("umask", [0x1_0000_0000, 0, 0, 0, 0, 0]), if wide { errno(1) } else { ALLOW }, "{arch:?}");
    }
    // An arch outside the filter is killed.
    let only_x86_64 = json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"], "syscalls": []});
    let prog = compile(&only_x86_64);
    assert_eq!(run_bpf(&prog, 0, Arch::X86_64.audit(), [0; 6]), ALLOW);
    assert_eq!(run_bpf(&prog, 3, Arch::X86.audit(), [0; 6]), 0, "i386 calls are outside the filter");
    assert_eq!(run_bpf(&prog, X32_SYSCALL_BIT, Arch::X32.audit(), [0; 6]), 0, "x32 calls (bit 30) are outside it too");
    assert_eq!(run_bpf(&prog, 63, Arch::Aarch64.audit(), [0; 6]), 0);
}

#[test]
fn syscall_numbers_differ_per_arch_as_the_kernel_has_them() {
    assert_eq!(Arch::X86_64.syscall("mkdir"), Some(83));
    assert_eq!(Arch::X32.syscall("mkdir"), Some(83 | X32_SYSCALL_BIT));
    assert_eq!(Arch::X86.syscall("mkdir"), Some(39));
    assert_eq!(Arch::Aarch64.syscall("mkdir"), None, "aarch64 only has mkdirat");
    assert_eq!(Arch::Aarch64.syscall("mkdirat"), Some(34));
    assert_eq!(Arch::Arm.syscall("mkdir"), Some(39));
    assert_eq!(Arch::Arm.syscall("unshare"), Some(337));
    assert_eq!(Arch::Aarch64.syscall("unshare"), Some(97));
    assert_eq!(Arch::X86.syscall("socketcall"), Some(102));
    assert_eq!(Arch::Arm.syscall("set_tls"), Some(0xf0005));
    assert_eq!(Arch::X32.syscall("execve"), Some(520 | X32_SYSCALL_BIT), "x32 has its own execve");
    assert_eq!(Arch::X86_64.syscall("clone3"), Some(435));
    assert_eq!(Arch::Arm.syscall("clone3"), Some(435));
}

/// Docker's profile with the arches of every test arch.
fn docker_profile(caps: &[&str]) -> Value {
    let mut p = dockbox::daemon::seccomp_profile::default_profile(caps);
    p["architectures"] = json!(ARCH_NAMES);
    p
}

#[test]
fn docker_profile_in_the_interpreter_on_four_arches() {
    let default = compile(&docker_profile(&["CAP_CHOWN", "CAP_KILL"]));
    let admin = compile(&docker_profile(&["CAP_SYS_ADMIN"]));
    for arch in ALL_ARCHES {
        let z = [0u64; 6];
        let mkdir = if arch.syscall("mkdir").is_some() { "mkdir" } else { "mkdirat" };
        assert_eq!(eval(&default, arch, mkdir, z), ALLOW, "{arch:?}");
        assert_eq!(eval(&default, arch, "execve", z), ALLOW, "{arch:?}");
        for blocked in ["mount", "unshare", "setns", "umount2", "init_module", "reboot"] {
            assert_eq!(eval(&default, arch, blocked, z), errno(1), "{blocked} on {arch:?}");
        }
        assert_eq!(eval(&default, arch, "clone", [0x0100_0011, 0, 0, 0, 0, 0]), ALLOW, "{arch:?}");
        assert_eq!(eval(&default, arch, "clone", [0x1000_0000, 0, 0, 0, 0, 0]), errno(1), "CLONE_NEWUSER {arch:?}");
        assert_eq!(eval(&default, arch, "clone3", z), errno(38), "clone3 answers ENOSYS ({arch:?})");
        assert_eq!(eval(&default, arch, "personality", [0xffff_ffff, 0, 0, 0, 0, 0]), ALLOW);
        assert_eq!(eval(&default, arch, "personality", [0x0040_0000, 0, 0, 0, 0, 0]), errno(1), "READ_IMPLIES_EXEC");
        for allowed in ["mount", "unshare", "setns", "clone3"] {
            assert_eq!(eval(&admin, arch, allowed, z), ALLOW, "{allowed} with CAP_SYS_ADMIN on {arch:?}");
        }
        assert_eq!(eval(&admin, arch, "clone", [0x1000_0000, 0, 0, 0, 0, 0]), ALLOW);
        assert_eq!(eval(&admin, arch, "reboot", z), errno(1), "CAP_SYS_BOOT is another group");
    }
    assert_eq!(eval(&default, Arch::X86_64, "arch_prctl", [0; 6]), ALLOW);
    assert_eq!(eval(&default, Arch::X86, "socketcall", [0; 6]), ALLOW);
}

/// Every syscall number, named or not, gets what the profile says for it: the first rule
/// without conditions naming it (rules that repeat the default change nothing), else the
/// default; above the newest call the profile names on that arch, ENOSYS (runc's stub, so
/// libc falls back from calls newer than the profile). Checked exhaustively, as the compiler
/// merges runs of numbers into ranges.
#[test]
fn docker_profile_decides_every_number_as_its_rules_say() {
    for caps in [&["CAP_CHOWN"][..], &["CAP_SYS_ADMIN"][..]] {
        let profile = docker_profile(caps);
        let prog = compile(&profile);
        let default = dockbox::seccomp::action_value(profile["defaultAction"].as_str().unwrap(), profile["defaultErrnoRet"].as_u64().map(|e| e as u32)).unwrap();
        for arch in ALL_ARCHES {
            let mut plain: std::collections::BTreeMap<u32, u32> = Default::default();
            let mut conditional: std::collections::BTreeSet<u32> = Default::default();
            for rule in profile["syscalls"].as_array().unwrap() {
                let ret = dockbox::seccomp::action_value(rule["action"].as_str().unwrap(), rule["errnoRet"].as_u64().map(|e| e as u32)).unwrap();
                if ret == default {
                    continue;
                }
                let has_args = rule["args"].as_array().is_some_and(|a| !a.is_empty());
                for nr in rule["names"].as_array().unwrap().iter().filter_map(|n| arch.syscall(n.as_str().unwrap())) {
                    if has_args {
                        conditional.insert(nr);
                    } else {
                        plain.entry(nr).or_insert(ret);
                    }
                }
            }
            let base = if arch == Arch::X32 { X32_SYSCALL_BIT } else { 0 };
            let newest = profile["syscalls"].as_array().unwrap().iter().flat_map(|r| r["names"].as_array().unwrap().iter()).filter_map(|n| arch.syscall(n.as_str().unwrap())).max().unwrap();
            const ENOSYS: u32 = 0x0005_0000 | 38;
            for nr in (base..base + 1024).filter(|nr| plain.contains_key(nr) || !conditional.contains(nr)) {
                let want = if nr > newest { ENOSYS } else { plain.get(&nr).copied().unwrap_or(default) };
                assert_eq!(run_bpf(&prog, nr, arch.audit(), [0; 6]), want, "number {nr:#x} on {arch:?} with {caps:?}");
            }
        }
    }
}

#[test]
fn compiled_filter_runs_on_this_host() {
    // A child installs the filter (no_new_privs first) and runs busybox under it.
    let profile = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
            {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5, "args": [{"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}]},
        ]
    });
    let filter = Seccomp::from_value(&profile).unwrap().compile().unwrap();
    let tmp = TempDir::new("seccomp-host");
    let run = |script: &str| -> Output {
        let f = filter.clone();
        let mut cmd = Command::new("/bin/busybox");
        cmd.args(["sh", "-c", script]).current_dir(tmp.path());
        // SAFETY: between fork and exec the closure only calls prctl and seccomp, on a
        // program built before the fork.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                dockbox::seccomp::install(&f).map(drop).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))
            })
        };
        cmd.output().unwrap()
    };
    let out = run("mkdir d; echo mkdir=$?; kill -0 $$; echo kill0=$?; kill -CONT $$; echo cont=$?; echo hi");
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("mkdir=1"), "{text} {err}");
    assert!(err.contains("Operation not permitted"), "{err}");
    assert!(!tmp.join("d").exists());
    assert!(text.contains("kill0=1"), "kill with signal 0 fails: {text}");
    assert!(err.contains("I/O error") || err.contains("Input/output error"), "EIO from kill -0: {err}");
    assert!(text.contains("cont=0"), "other signals pass: {text}");
    assert!(text.contains("hi"));
}

// ---------------------------------------------------------------- runc containers

const DOCKER_CAPS: &[&str] = &[
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID",
    "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
];

#[test]
fn docker_profile_blocks_namespaces_and_mounts_in_a_runc_container() {
    if !require_root() {
        return;
    }
    let b = Bundle::new("sec-docker-profile");
    // unshare -U needs no capability, so only seccomp can refuse it.
    let script = "unshare -U true; echo unshare=$?; mount -t tmpfs x /mnt; echo mount=$?; echo hello; ls / | grep -c bin; grep Seccomp: /proc/self/status";
    let mut spec = b.config(&["sh", "-c", script]);
    std::fs::create_dir_all(b.rootfs().join("mnt")).unwrap();
    spec["process"]["capabilities"] = json!({"bounding": DOCKER_CAPS, "effective": DOCKER_CAPS, "permitted": DOCKER_CAPS});
    let out = b.run_spec("unconfined", &spec);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("unshare=0"), "without seccomp a user namespace is allowed: {stdout} {}", text(&out.stderr));
    assert!(stdout.contains("Seccomp:\t0"), "{stdout}");

    spec["linux"]["seccomp"] = dockbox::daemon::seccomp_profile::default_profile(DOCKER_CAPS);
    let out = b.run_spec("confined", &spec);
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout} {stderr}");
    assert!(stdout.contains("unshare=1"), "{stdout}");
    assert!(stderr.contains("unshare") && stderr.contains("Operation not permitted"), "{stderr}");
    assert!(stdout.contains("mount=255") || stdout.contains("mount=1"), "{stdout}");
    assert!(stdout.contains("hello\n1\n"), "{stdout}");
    assert!(stdout.contains("Seccomp:\t2"), "{stdout}");
}

#[test]
fn custom_profile_errno_and_kill() {
    if !require_root() {
        return;
    }
    let b = Bundle::new("sec-custom");
    let mut spec = b.config(&["sh", "-c", "mkdir /tmp/x; echo mkdir=$?; echo alive"]);
    spec["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
    });
    let out = b.run_spec("errno", &spec);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "mkdir=1\nalive\n");
    assert!(text(&out.stderr).contains("Operation not permitted"), "{}", text(&out.stderr));

    // Docker's allow list without mkdir, and kill as the default: mkdir kills the process.
    let mut profile = dockbox::daemon::seccomp_profile::default_profile(DOCKER_CAPS);
    profile["defaultAction"] = json!("SCMP_ACT_KILL_PROCESS");
    for rule in profile["syscalls"].as_array_mut().unwrap() {
        rule["names"].as_array_mut().unwrap().retain(|n| n != "mkdir" && n != "mkdirat");
    }
    spec["process"]["args"] = json!(["sh", "-c", "echo before; exec mkdir /tmp/y"]);
    spec["linux"]["seccomp"] = profile;
    let out = b.run_spec("killed", &spec);
    assert_eq!(text(&out.stdout), "before\n");
    assert_eq!(out.status.code(), Some(128 + libc::SIGSYS), "{}", text(&out.stderr));
    assert!(!b.rootfs().join("tmp/y").exists());

    // NOTIFY without an agent to notify is refused with runc's words (tests/runc_notify.rs
    // has the agent).
    spec["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]});
    let out = b.run_spec("notify", &spec);
    assert_ne!(out.status.code(), Some(0));
    assert!(text(&out.stderr).contains("seccomp listenerPath is not set"), "{}", text(&out.stderr));
}

#[test]
fn seccomp_without_no_new_privs_is_installed_before_capabilities_go() {
    if !require_root() {
        return;
    }
    // An unprivileged user without no_new_privs: the filter must go in while the init still
    // holds CAP_SYS_ADMIN, or seccomp(2) refuses it.
    let b = Bundle::new("sec-order");
    let mut spec = b.config(&["sh", "-c", "id -u; grep -E 'NoNewPrivs|Seccomp:' /proc/self/status; mkdir /tmp/z; echo mkdir=$?"]);
    spec["process"]["noNewPrivileges"] = json!(false);
    spec["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    spec["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]});
    let out = b.run_spec("order", &spec);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout} {}", text(&out.stderr));
    assert!(stdout.starts_with("1000\n"), "{stdout}");
    assert!(stdout.contains("NoNewPrivs:\t0"), "{stdout}");
    assert!(stdout.contains("Seccomp:\t2"), "{stdout}");
    assert!(stdout.contains("mkdir=1"), "{stdout}");
}

fn cap_mask(names: &[&str]) -> u64 {
    names.iter().map(|n| 1u64 << (n.parse::<caps::Capability>().unwrap().index())).fold(0, |a, b| a | b)
}

fn status_field(status: &str, name: &str) -> u64 {
    let line = status.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("no {name} in {status}"));
    u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
}

#[test]
fn capability_sets_match_the_spec() {
    if !require_root() {
        return;
    }
    let b = Bundle::new("sec-caps");
    let bounding = ["CAP_NET_BIND_SERVICE", "CAP_KILL", "CAP_CHOWN", "CAP_AUDIT_WRITE"];
    let mut spec = b.config(&["cat", "/proc/self/status"]);
    spec["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    spec["process"]["capabilities"] = json!({
        "bounding": bounding,
        "effective": ["CAP_NET_BIND_SERVICE", "CAP_KILL", "CAP_CHOWN"],
        "permitted": ["CAP_NET_BIND_SERVICE", "CAP_KILL", "CAP_CHOWN"],
        "inheritable": ["CAP_NET_BIND_SERVICE", "CAP_KILL"],
        "ambient": ["CAP_NET_BIND_SERVICE"],
    });
    let out = b.run_spec("user", &spec);
    let status = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // A non-root program without file capabilities keeps exactly its ambient set.
    assert_eq!(status_field(&status, "CapBnd:"), cap_mask(&bounding));
    assert_eq!(status_field(&status, "CapInh:"), cap_mask(&["CAP_NET_BIND_SERVICE", "CAP_KILL"]));
    assert_eq!(status_field(&status, "CapPrm:"), cap_mask(&["CAP_NET_BIND_SERVICE"]));
    assert_eq!(status_field(&status, "CapEff:"), cap_mask(&["CAP_NET_BIND_SERVICE"]));
    assert_eq!(status_field(&status, "CapAmb:"), cap_mask(&["CAP_NET_BIND_SERVICE"]));

    // Root: the bounding set is all it gets, nothing inheritable.
    spec["process"]["user"] = json!({"uid": 0, "gid": 0});
    spec["process"]["capabilities"] = json!({"bounding": DOCKER_CAPS, "effective": DOCKER_CAPS, "permitted": DOCKER_CAPS});
    let out = b.run_spec("root", &spec);
    let status = text(&out.stdout);
    assert_eq!(status_field(&status, "CapBnd:"), cap_mask(DOCKER_CAPS));
    assert_eq!(status_field(&status, "CapEff:"), cap_mask(DOCKER_CAPS));
    assert_eq!(status_field(&status, "CapPrm:"), cap_mask(DOCKER_CAPS));
    assert_eq!(status_field(&status, "CapInh:"), 0);
    assert_eq!(status_field(&status, "CapAmb:"), 0);
}

/// security.capability (revision 2) granting `inheritable` and the effective bit.
fn set_file_inheritable_caps(path: &std::path::Path, inheritable: u64) {
    let mut v = Vec::new();
    v.extend_from_slice(&(0x0200_0000u32 | 1).to_le_bytes());
    v.extend_from_slice(&0u32.to_le_bytes());
    v.extend_from_slice(&(inheritable as u32).to_le_bytes());
    v.extend_from_slice(&0u32.to_le_bytes());
    v.extend_from_slice(&((inheritable >> 32) as u32).to_le_bytes());
    let p = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    let name = std::ffi::CString::new("security.capability").unwrap();
    // SAFETY: setxattr reads the NUL-terminated path and name and `v.len()` bytes of `v`.
    let rc = unsafe { libc::setxattr(p.as_ptr(), name.as_ptr(), v.as_ptr().cast(), v.len(), 0) };
    assert_eq!(rc, 0, "setxattr security.capability: {}", std::io::Error::last_os_error());
}

#[test]
fn file_capabilities_gain_nothing_without_inheritable_caps_cve_2022_29162() {
    if !require_root() {
        return;
    }
    let b = Bundle::new("sec-filecaps");
    // A copy of busybox whose file capabilities say "inherit CAP_NET_ADMIN".
    std::fs::create_dir_all(b.rootfs().join("capdir")).unwrap();
    let capbb = b.rootfs().join("capdir/cat");
    std::fs::copy(b.rootfs().join("bin/busybox"), &capbb).unwrap();
    set_file_inheritable_caps(&capbb, cap_mask(&["CAP_NET_ADMIN"]));
    let mut spec = b.config(&["/capdir/cat", "/proc/self/status"]);
    spec["process"]["noNewPrivileges"] = json!(false);
    spec["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    let caps = ["CAP_NET_ADMIN", "CAP_KILL"];
    spec["process"]["capabilities"] = json!({"bounding": caps, "effective": caps, "permitted": caps});
    let out = b.run_spec("filecaps", &spec);
    let status = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(status_field(&status, "CapInh:"), 0, "{status}");
    assert_eq!(status_field(&status, "CapPrm:"), 0, "the file's inheritable bits meet an empty set: {status}");
    assert_eq!(status_field(&status, "CapEff:"), 0);
}

#[test]
fn no_new_privs_rlimits_oom_score_ioprio_personality_and_scheduler_are_applied() {
    if !require_root() {
        return;
    }
    let b = Bundle::new("sec-proc");
    let script = "grep NoNewPrivs /proc/self/status; ulimit -n; ulimit -Hn; cat /proc/self/oom_score_adj; ionice; uname -m; grep -E '^policy' /proc/self/sched";
    let mut spec = b.config(&["sh", "-c", script]);
    spec["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 321, "hard": 654}]);
    spec["process"]["oomScoreAdj"] = json!(345);
    spec["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_IDLE", "priority": 0});
    spec["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 5});
    spec["linux"]["personality"] = json!({"domain": "LINUX32"});
    let out = b.run_spec("settings", &spec);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout} {}", text(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "NoNewPrivs:\t1");
    assert_eq!(lines[1], "321");
    assert_eq!(lines[2], "654");
    assert_eq!(lines[3], "345");
    assert!(lines[4].starts_with("idle"), "{stdout}");
    assert!(lines[5].starts_with('i') && lines[5].ends_with("86"), "LINUX32 makes uname say i686: {stdout}");
    assert!(lines[6].ends_with(" 3"), "SCHED_BATCH is policy 3: {stdout}");

    spec["process"]["noNewPrivileges"] = json!(false);
    spec["process"]["args"] = json!(["grep", "NoNewPrivs", "/proc/self/status"]);
    spec["process"]["scheduler"] = json!({"policy": "SCHED_NOPE"});
    let out = b.run_spec("bad-sched", &spec);
    assert!(text(&out.stderr).contains("invalid scheduler policy") && text(&out.stderr).contains("SCHED_NOPE"), "{}", text(&out.stderr));
    spec["process"].as_object_mut().unwrap().remove("scheduler");
    let out = b.run_spec("nnp-off", &spec);
    assert_eq!(text(&out.stdout), "NoNewPrivs:\t0\n", "{}", text(&out.stderr));
}

#[test]
fn lsm_labels_need_the_lsm_on_the_host() {
    if !require_root() {
        return;
    }
    let b = Bundle::new("sec-lsm");
    let mut spec = b.config(&["true"]);
    spec["process"]["apparmorProfile"] = json!("docker-default");
    let out = b.run_spec("aa", &spec);
    if std::path::Path::new("/sys/kernel/security/apparmor").is_dir() {
        eprintln!("this host has AppArmor: the profile would be applied");
    } else {
        assert_ne!(out.status.code(), Some(0));
        assert!(text(&out.stderr).contains("AppArmor is not enabled on this host"), "{}", text(&out.stderr));
    }
    spec["process"].as_object_mut().unwrap().remove("apparmorProfile");
    spec["process"]["selinuxLabel"] = json!("system_u:system_r:container_t:s0");
    let out = b.run_spec("se", &spec);
    if !std::path::Path::new("/sys/fs/selinux/enforce").exists() {
        assert_ne!(out.status.code(), Some(0));
        assert!(text(&out.stderr).contains("SELinux is not enabled on this host"), "{}", text(&out.stderr));
    }
}

// ---------------------------------------------------------------- known escapes

fn sha256_of(path: &std::path::Path) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(std::fs::read(path).unwrap()).to_vec()
}

#[test]
fn host_binary_cannot_be_reached_through_proc_exe_cve_2019_5736() {
    if !require_root() {
        return;
    }
    let b = Bundle::new("sec-5736");
    let host_binary = common::dockbox();
    let before = sha256_of(&host_binary);
    b.write(&b.config(&["sleep", "1000"]));
    let out = b.quiet(&["create", "--bundle", b.bundle().to_str().unwrap(), "c"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let state: Value = serde_json::from_slice(&b.runc().args(["state", "c"]).output().unwrap().stdout).unwrap();
    let pid = state["pid"].as_i64().unwrap();
    // What a process in the container sees as the runtime's binary while the init waits.
    let exe = format!("/proc/{pid}/exe");
    let held = std::fs::File::options().read(true).open(&exe).unwrap();
    // The kernel says ETXTBSY while any process runs the file (checked before EROFS), so
    // the lasting protection is the read-only mount the init's binary lives on.
    let on_readonly_mount = dockbox::fs64::is_read_only(&dockbox::fs64::fstatvfs(&held).unwrap());
    assert!(on_readonly_mount, "the init runs from a read-only copy of the binary");
    let write_err = std::fs::OpenOptions::new().write(true).open(&exe).unwrap_err();
    assert!(matches!(write_err.raw_os_error(), Some(libc::EROFS) | Some(libc::ETXTBSY)), "opening the init's exe for writing: {write_err}");
    let out = b.quiet(&["start", "c"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Once the init has exec'd, the file is no longer busy: reopening the held descriptor
    // for writing is the original attack.
    let reopen = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&held));
    let err = std::fs::OpenOptions::new().write(true).open(&reopen).unwrap_err();
    // ETXTBSY only while another test's runc happens to run the same file.
    assert!(matches!(err.raw_os_error(), Some(libc::EROFS) | Some(libc::ETXTBSY)), "reopening the runtime's exe for writing: {err}");
    drop(held);
    assert_eq!(sha256_of(&host_binary), before, "the host binary is unchanged");
    // The sealed copy is a detached mount: nothing shows in the mount table.
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mountinfo.contains(host_binary.to_str().unwrap()), "{mountinfo}");

    // The fallback for kernels without open_tree: a memfd copy sealed against writes.
    let out = b.runc().args(["create", "--bundle", b.bundle().to_str().unwrap(), "m"]).env("DOCKBOX_RUNC_SEAL", "memfd").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).status().unwrap();
    assert!(out.success());
    let state: Value = serde_json::from_slice(&b.runc().args(["state", "m"]).output().unwrap().stdout).unwrap();
    let exe = format!("/proc/{}/exe", state["pid"].as_i64().unwrap());
    assert!(std::fs::read_link(&exe).unwrap().to_string_lossy().starts_with("/memfd:runc_cloned"), "{:?}", std::fs::read_link(&exe));
    let copy = std::fs::File::open(&exe).unwrap();
    // SAFETY: F_GET_SEALS only reads the seals of a descriptor we hold.
    let seals = unsafe { libc::fcntl(std::os::fd::AsRawFd::as_raw_fd(&copy), libc::F_GET_SEALS) };
    assert!(seals >= 0 && seals & libc::F_SEAL_WRITE != 0, "seals {seals:#x}");
    assert_eq!(sha256_of(&host_binary), before);
}

#[test]
fn fake_or_symlinked_proc_cannot_defeat_the_setup_cve_2019_16884() {
    if !require_root() {
        return;
    }
    // /proc a symlink out of the rootfs: the proc mount is refused, nothing lands outside.
    let b = Bundle::new("sec-proclink");
    let outside = TempDir::new("sec-proclink-outside");
    std::fs::remove_dir(b.rootfs().join("proc")).unwrap();
    std::os::unix::fs::symlink(outside.path(), b.rootfs().join("proc")).unwrap();
    let out = b.run_spec("link", &b.config(&["true"]));
    assert_ne!(out.status.code(), Some(0));
    assert!(text(&out.stderr).contains("must be mounted on ordinary directory"), "{}", text(&out.stderr));
    assert!(common::mounts_under(outside.path()).is_empty());
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);

    // No proc mount and a fake /proc/sys in the image: the sysctl write is refused.
    let b = Bundle::new("sec-fakeproc");
    std::fs::create_dir_all(b.rootfs().join("proc/sys/kernel")).unwrap();
    std::fs::write(b.rootfs().join("proc/sys/kernel/shmmax"), "fake").unwrap();
    let mut spec = b.config(&["true"]);
    spec["mounts"].as_array_mut().unwrap().retain(|m| m["destination"] != "/proc");
    spec["linux"]["maskedPaths"] = json!([]);
    spec["linux"]["readonlyPaths"] = json!([]);
    spec["linux"]["sysctl"] = json!({"kernel.shmmax": "12345"});
    let out = b.run_spec("fake", &spec);
    assert_ne!(out.status.code(), Some(0));
    assert!(text(&out.stderr).contains("is not on procfs"), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_to_string(b.rootfs().join("proc/sys/kernel/shmmax")).unwrap(), "fake");

    // And masking needs a real /proc to work through.
    spec["linux"]["sysctl"] = json!({});
    spec["linux"]["maskedPaths"] = json!(["/etc/passwd"]);
    let out = b.run_spec("fake-mask", &spec);
    assert!(text(&out.stderr).contains("not a procfs"), "{}", text(&out.stderr));
}

#[test]
fn mount_directories_never_land_on_the_host_cve_2024_45310() {
    if !require_root() {
        return;
    }
    let b = Bundle::new("sec-mkdir");
    let outside = TempDir::new("sec-mkdir-outside");
    let mut spec = b.config(&["true"]);
    spec["mounts"].as_array_mut().unwrap().push(json!({"destination": "/a/b/c", "type": "tmpfs", "source": "tmpfs"}));
    spec["mounts"].as_array_mut().unwrap().push(json!({"destination": "/l/x/y", "type": "tmpfs", "source": "tmpfs"}));
    b.write(&spec);
    // `l` is a symlink to the host directory; `a` flips between a directory and that link.
    std::os::unix::fs::symlink(outside.path(), b.rootfs().join("l")).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let swapper = {
        let (stop, a, target) = (stop.clone(), b.rootfs().join("a"), outside.path().to_path_buf());
        std::thread::spawn(move || {
            let tmp_link = a.with_extension("link");
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = std::fs::remove_dir_all(&a);
                let _ = std::fs::remove_file(&a);
                let _ = std::fs::create_dir(&a);
                let _ = std::os::unix::fs::symlink(&target, &tmp_link);
                let _ = std::fs::rename(&tmp_link, &a);
            }
        })
    };
    let mut results = Vec::new();
    for i in 0..15 {
        let out = b.runc().args(["run", "--bundle", b.bundle().to_str().unwrap(), &format!("m{i}")]).stdin(Stdio::null()).output().unwrap();
        results.push(format!("{:?} {}", out.status.code(), text(&out.stderr)));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    swapper.join().unwrap();
    // Under load the swapper may win every round; once it stops, a run must succeed.
    let a = b.rootfs().join("a");
    let _ = std::fs::remove_file(&a);
    let _ = std::fs::remove_dir_all(&a);
    std::fs::create_dir(&a).unwrap();
    let out = b.runc().args(["run", "--bundle", b.bundle().to_str().unwrap(), "m-final"]).stdin(Stdio::null()).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let leaked: Vec<_> = std::fs::read_dir(outside.path()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(leaked.is_empty(), "directories created on the host: {leaked:?}");
    // Through the fixed link the mount went inside the rootfs.
    assert!(b.rootfs().join(outside.path().strip_prefix("/").unwrap()).join("x/y").is_dir(), "{results:?}");
}

#[test]
fn cwd_through_a_leaked_descriptor_is_refused_cve_2024_21626() {
    if !require_root() {
        return;
    }
    let b = Bundle::new("sec-cwd");
    let host_dir = TempDir::new("sec-cwd-host");
    let mut spec = b.config(&["sh", "-c", "pwd; ls -l /proc/self/fd"]);
    spec["process"]["cwd"] = json!("/proc/self/fd/7");
    b.write(&spec);
    let fd_dir = std::fs::File::open(host_dir.path()).unwrap();
    let raw = std::os::fd::AsRawFd::as_raw_fd(&fd_dir);
    let run = |id: &str| {
        let mut cmd = b.runc();
        cmd.args(["run", "--bundle", b.bundle().to_str().unwrap(), id]).stdin(Stdio::null());
        // SAFETY: between fork and exec only dup2 and fcntl run, both async-signal-safe.
        unsafe {
            cmd.pre_exec(move || {
                // A host directory left open without close-on-exec by a careless caller.
                libc::dup2(raw, 7);
                libc::fcntl(7, libc::F_SETFD, 0);
                Ok(())
            })
        };
        cmd.output().unwrap()
    };
    let out = run("cwd");
    assert_ne!(out.status.code(), Some(0), "stdout: {}", text(&out.stdout));
    assert!(text(&out.stdout).is_empty());
    // Nothing of the host fd reaches a normal container either.
    spec["process"]["cwd"] = json!("/");
    spec["process"]["args"] = json!(["ls", "/proc/self/fd"]);
    b.write(&spec);
    let out = run("fds");
    let fds: Vec<String> = text(&out.stdout).split_whitespace().map(String::from).collect();
    assert_eq!(fds, vec!["0", "1", "2", "3"], "{}", text(&out.stderr));
}

#[test]
fn masking_uses_only_the_real_dev_null() {
    if !require_root() {
        return;
    }
    // /dev bound from the bundle, where "null" is a plain file with a secret: masking must
    // refuse it rather than bind it over /proc/timer_list.
    let b = Bundle::new("sec-devnull");
    let fake_dev = b.bundle().join("fakedev");
    std::fs::create_dir_all(&fake_dev).unwrap();
    std::fs::write(fake_dev.join("null"), "not-null").unwrap();
    let mut spec = b.config(&["cat", "/proc/timer_list"]);
    let mounts = spec["mounts"].as_array_mut().unwrap();
    mounts.retain(|m| !m["destination"].as_str().unwrap().starts_with("/dev"));
    mounts.push(json!({"destination": "/dev", "type": "bind", "source": fake_dev, "options": ["rbind"]}));
    spec["linux"]["maskedPaths"] = json!(["/proc/timer_list"]);
    let out = b.run_spec("fake-null", &spec);
    assert!(!text(&out.stdout).contains("not-null"));
    assert!(text(&out.stderr).contains("is not the null device"), "{}", text(&out.stderr));
}

#[test]
fn masked_and_readonly_proc_paths_stay_so() {
    if !require_root() {
        return;
    }
    let b = Bundle::new("sec-masked");
    let script = "echo h > /proc/sys/kernel/hostname && echo sys-writable; echo b > /proc/sysrq-trigger && echo sysrq-writable; \
                  wc -c < /proc/timer_list; ls /sys/firmware | wc -l; echo 1 > /proc/sys/vm/drop_caches && echo dropped; \
                  mount -o remount,rw /proc/sys && echo remounted; echo done";
    let mut spec = b.config(&["sh", "-c", script]);
    spec["linux"]["maskedPaths"] = json!(["/proc/timer_list", "/sys/firmware", "/proc/keys"]);
    spec["linux"]["seccomp"] = dockbox::daemon::seccomp_profile::default_profile(DOCKER_CAPS);
    spec["process"]["capabilities"] = json!({"bounding": DOCKER_CAPS, "effective": DOCKER_CAPS, "permitted": DOCKER_CAPS});
    let out = b.run_spec("masked", &spec);
    let stdout = text(&out.stdout);
    assert!(stdout.ends_with("done\n"), "{stdout} {}", text(&out.stderr));
    for bad in ["sys-writable", "sysrq-writable", "dropped", "remounted"] {
        assert!(!stdout.contains(bad), "{bad}: {stdout}");
    }
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0].trim(), "0", "timer_list is masked: {stdout}");
    assert_eq!(lines[1].trim(), "0", "/sys/firmware is empty: {stdout}");
}

// ---------------------------------------------------------------- through dockerd

#[test]
fn docker_run_gets_the_default_seccomp_profile() {
    let Some(d) = common::Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    let o = d.docker(&["run", "--rm", &image, "sh", "-c", "unshare -U true; echo unshare=$?; unshare -m true; echo unsharem=$?; mount -t tmpfs x /mnt; echo mount=$?; echo hi; ls / | grep -c etc; grep Seccomp: /proc/self/status"]);
    let out = common::stdout(&o);
    assert!(out.contains("unshare=1"), "{out} {}", common::stderr(&o));
    assert!(out.contains("unsharem=1"), "{out}");
    assert!(!out.contains("mount=0"), "{out}");
    assert!(out.contains("hi\n1\n"), "{out}");
    assert!(out.contains("Seccomp:\t2"), "{out}");
    assert!(common::stderr(&o).contains("Operation not permitted"), "{}", common::stderr(&o));

    // Docker's opt-out keeps working, through the real CLI.
    let o = d.real_docker("/usr/local/bin/docker", &["run", "--rm", "--security-opt", "seccomp=unconfined", &image, "grep", "Seccomp:", "/proc/self/status"]);
    assert_eq!(common::stdout(&o), "Seccomp:\t0\n", "{}", common::stderr(&o));
}

#[test]
fn file_mounts_follow_dangling_links_inside_the_rootfs() {
    if !require_root() {
        return;
    }
    // /etc/resolv.conf a dangling absolute link, as in systemd images: the bind lands on its
    // target inside the rootfs, never on the host's /run.
    let b = Bundle::new("sec-dangling");
    std::os::unix::fs::symlink("/run/dbx-test-resolve/stub-resolv.conf", b.rootfs().join("etc/resolv.conf")).unwrap();
    std::fs::write(b.bundle().join("resolv.conf"), "nameserver 127.0.0.9\n").unwrap();
    let mut spec = b.config(&["cat", "/etc/resolv.conf"]);
    spec["mounts"].as_array_mut().unwrap().push(json!({"destination": "/etc/resolv.conf", "type": "bind", "source": b.bundle().join("resolv.conf"), "options": ["rbind", "ro"]}));
    let out = b.run_spec("dangling", &spec);
    assert_eq!(text(&out.stdout), "nameserver 127.0.0.9\n", "{}", text(&out.stderr));
    assert!(b.rootfs().join("run/dbx-test-resolve/stub-resolv.conf").exists());
    assert!(!std::path::Path::new("/run/dbx-test-resolve").exists());
}

/// Forks a child that installs `profile` and runs `body`; returns its wait status.
#[cfg(target_arch = "x86_64")]
fn in_filtered_child(profile: &Value, body: fn() -> i32) -> nix::sys::wait::WaitStatus {
    let filter = Seccomp::from_value(profile).unwrap().compile().unwrap();
    // SAFETY: the child only makes raw syscalls (prctl, seccomp, the body's) and _exits.
    match unsafe { nix::unistd::fork() }.unwrap() {
        nix::unistd::ForkResult::Child => unsafe {
            // SAFETY: as above; prctl takes integers, install passes a live program.
            libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
            if dockbox::seccomp::install(&filter).is_err() {
                libc::_exit(100);
            }
            libc::_exit(body())
        },
        nix::unistd::ForkResult::Parent { child } => nix::sys::wait::waitpid(child, None).unwrap(),
    }
}

/// A 32-bit syscall through `int 0x80`, which the kernel reports as AUDIT_ARCH_I386.
#[cfg(target_arch = "x86_64")]
fn int80(nr: u32, a: u32, b: u32) -> i32 {
    let ret: i32;
    // SAFETY: int 0x80 runs one i386 syscall; the only memory it may touch is what the
    // (deliberately invalid) pointer arguments name, which the kernel checks.
    // rbx belongs to LLVM: swap the first argument in and out around the call.
    unsafe {
        std::arch::asm!("xchg {a}, rbx", "int 0x80", "xchg {a}, rbx", a = inout(reg) a as u64 => _, inlateout("eax") nr as i32 => ret, in("ecx") b, options(nostack))
    };
    ret
}

#[cfg(target_arch = "x86_64")]
#[test]
fn i386_and_x32_calls_meet_their_own_rules_on_this_host() {
    let profile = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 33}],
    });
    // i386 mkdir is 39, which on x86_64 is getpid: EDOM proves the i386 table was used.
    let status = in_filtered_child(&profile, || {
        let r = int80(39, 16, 0);
        if r == -33 { 0 } else { 1 }
    });
    assert_eq!(status, nix::sys::wait::WaitStatus::Exited(status.pid().unwrap(), 0), "i386 mkdir");
    // x32 mkdir is 83 with bit 30: refused by the x32 rules before the kernel dispatches it.
    let status = in_filtered_child(&profile, || {
        // SAFETY: the filter refuses the call before the pointer would be read.
        let r = unsafe { libc::syscall((83 | X32_SYSCALL_BIT) as libc::c_long, 16usize, 0) };
        let e = std::io::Error::last_os_error().raw_os_error();
        if r == -1 && e == Some(33) { 0 } else { 2 }
    });
    assert_eq!(status, nix::sys::wait::WaitStatus::Exited(status.pid().unwrap(), 0), "x32 mkdir");
    // The x86_64 getpid (39) is untouched, and an i386 call without the i386 arch is killed.
    let only_64 = json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"], "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 33}]});
    let status = in_filtered_child(&only_64, || {
        // SAFETY: getpid has no arguments.
        if unsafe { libc::syscall(39) } > 0 { 0 } else { 3 }
    });
    assert!(matches!(status, nix::sys::wait::WaitStatus::Exited(_, 0)), "{status:?}");
    let status = in_filtered_child(&only_64, || {
        int80(20, 0, 0);
        4
    });
    assert!(matches!(status, nix::sys::wait::WaitStatus::Signaled(_, nix::sys::signal::Signal::SIGSYS, _)), "{status:?}");
}
