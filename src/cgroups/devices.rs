//! Device rules: written to v1's devices.allow/devices.deny in the spec's order, or compiled
//! into a BPF_PROG_TYPE_CGROUP_DEVICE program attached to a v2 cgroup (raw bpf(2) calls).
//!
//! The spec's rules apply in order, a later one overriding an earlier one, over a start of
//! "everything allowed" (what a new cgroup inherits). The program tests the rules from the
//! last to the first and returns the verdict of the first that matches; a request no rule
//! matches is allowed.

use super::{write, Result};
use crate::oci::DeviceRule;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

/// A rule as v1 spells it: `c 1:3 rwm`, `a *:* rwm`.
pub fn v1_rule(r: &DeviceRule) -> String {
    let kind = r.kind.as_deref().filter(|k| !k.is_empty()).unwrap_or("a");
    let num = |n: Option<i64>| n.filter(|n| *n >= 0).map(|n| n.to_string()).unwrap_or_else(|| "*".into());
    let access = r.access.as_deref().filter(|a| !a.is_empty()).unwrap_or("rwm");
    format!("{kind} {}:{} {access}", num(r.major), num(r.minor))
}

/// The rules runc (and Docker, in the spec) add after the spec's own: mknod of any
/// device, and the standard character devices every container gets.
pub fn default_allowed() -> Vec<DeviceRule> {
    let rule = |kind: &str, major: Option<i64>, minor: Option<i64>, access: &str| DeviceRule { allow: true, kind: Some(kind.into()), major, minor, access: Some(access.into()) };
    vec![
        rule("c", None, None, "m"),
        rule("b", None, None, "m"),
        rule("c", Some(1), Some(3), "rwm"),   // null
        rule("c", Some(1), Some(8), "rwm"),   // random
        rule("c", Some(1), Some(7), "rwm"),   // full
        rule("c", Some(5), Some(0), "rwm"),   // tty
        rule("c", Some(1), Some(5), "rwm"),   // zero
        rule("c", Some(1), Some(9), "rwm"),   // urandom
        rule("c", Some(5), Some(1), "rwm"),   // console
        rule("c", Some(136), None, "rwm"),    // pts/*
        rule("c", Some(5), Some(2), "rwm"),   // ptmx
        rule("c", Some(10), Some(200), "rwm"), // net/tun
    ]
}

/// Brings v1's device list to what `rules` make of it with runc's minimal transition
/// (`Emulator::transition`): from the list as the kernel shows it to the rules' result,
/// dropped permissions first and new ones after, and a disruptive "all" rule only where the
/// default changes (or the list is a black-list, whose denials the kernel does not show),
/// so no moment allows a device that is denied before and after. The result is checked.
pub fn apply_v1(dir: &Path, rules: &[DeviceRule]) -> Result<()> {
    let current = Emulator::from_list(&super::read(dir, "devices.list").unwrap_or_else(|| "a *:* rwm".into()))?;
    let target = Emulator::from_rules(rules)?;
    for (allow, rule) in current.transition(&target) {
        write(dir, if allow { "devices.allow" } else { "devices.deny" }, &rule)?;
    }
    let after = Emulator::from_list(&super::read(dir, "devices.list").unwrap_or_default())?;
    if !target.default_allow && after != target {
        return Err("resulting devices cgroup doesn't precisely match target".into());
    } else if target.default_allow != after.default_allow {
        return Err("resulting devices cgroup doesn't match target mode".into());
    }
    Ok(())
}

/// (type, major, minor) with -1 as `*`; type b'a' is every device.
type DeviceMeta = (u8, i64, i64);

/// runc's model of a v1 device cgroup: a default and the exceptions to it, each with its
/// access bits (m, r, w as `access_bits`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Emulator {
    pub default_allow: bool,
    pub rules: std::collections::BTreeMap<DeviceMeta, i32>,
}

fn access_text(bits: i32) -> String {
    [(ACC_READ, 'r'), (ACC_WRITE, 'w'), (ACC_MKNOD, 'm')].iter().filter(|(b, _)| bits & b != 0).map(|(_, c)| *c).collect()
}

impl Emulator {
    /// devices.list: `a *:* rwm` is allow-all; otherwise each line is an allowed exception.
    pub fn from_list(text: &str) -> Result<Emulator> {
        let mut e = Emulator::default();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let f: Vec<&str> = line.split([' ', ':']).filter(|x| !x.is_empty()).collect();
            let [kind, major, minor, access] = f[..] else { return Err(format!("malformed devices.list rule {line}")) };
            let num = |v: &str| if v == "*" { Ok(-1) } else { v.parse::<i64>().map_err(|_| format!("malformed devices.list rule {line}")) };
            e.apply(true, (kind.as_bytes()[0], num(major)?, num(minor)?), access_bits(access))?;
        }
        Ok(e)
    }

    /// The rules applied in order over a cgroup that allows everything.
    pub fn from_rules(rules: &[DeviceRule]) -> Result<Emulator> {
        let mut e = Emulator { default_allow: true, rules: Default::default() };
        for r in rules {
            let kind = r.kind.as_deref().filter(|k| !k.is_empty()).unwrap_or("a").as_bytes()[0];
            let num = |n: Option<i64>| n.filter(|n| *n >= 0).unwrap_or(-1);
            e.apply(r.allow, (kind, num(r.major), num(r.minor)), access_bits(r.access.as_deref().filter(|a| !a.is_empty()).unwrap_or("rwm")))?;
        }
        Ok(e)
    }

    fn apply(&mut self, allow: bool, meta: DeviceMeta, bits: i32) -> Result<()> {
        if meta.0 == b'a' {
            *self = Emulator { default_allow: allow, rules: Default::default() };
            return Ok(());
        }
        if allow != self.default_allow {
            // An exception to the default: more bits on it.
            *self.rules.entry(meta).or_insert(0) |= bits;
            return Ok(());
        }
        // Back toward the default: bits off an exception, never a hole in a wildcard one.
        for partial in [(meta.0, -1, meta.2), (meta.0, meta.1, -1), (meta.0, -1, -1)] {
            if partial != meta && self.rules.get(&partial).is_some_and(|p| p & bits != 0) {
                return Err(format!("requested rule {meta:?} {} not supported by devices cgroupv1 (cannot punch hole in existing wildcard rule {partial:?})", access_text(bits)));
            }
        }
        if let Some(p) = self.rules.get_mut(&meta) {
            *p &= !bits;
            if *p == 0 {
                self.rules.remove(&meta);
            }
        }
        Ok(())
    }

    /// The writes (allow?, rule text) that take a cgroup from `self` to `target`.
    pub fn transition(&self, target: &Emulator) -> Vec<(bool, String)> {
        let text = |m: &DeviceMeta, bits: i32| {
            let n = |v: i64| if v < 0 { "*".to_string() } else { v.to_string() };
            format!("{} {}:{} {}", m.0 as char, n(m.1), n(m.2), access_text(bits))
        };
        let mut out = Vec::new();
        let mut old = &self.rules;
        let empty = Default::default();
        if self.default_allow || self.default_allow != target.default_allow {
            out.push((target.default_allow, "a *:* rwm".to_string()));
            old = &empty;
        }
        let ordered = |r: &std::collections::BTreeMap<DeviceMeta, i32>| {
            let mut v: Vec<(DeviceMeta, i32)> = r.iter().map(|(m, b)| (*m, *b)).collect();
            v.sort_by_key(|(m, _)| (m.1, m.2, m.0));
            v
        };
        for (meta, bits) in ordered(old) {
            let dropped = bits & !target.rules.get(&meta).copied().unwrap_or(0);
            if dropped != 0 {
                out.push((target.default_allow, text(&meta, dropped)));
            }
        }
        for (meta, bits) in ordered(&target.rules) {
            let gained = bits & !old.get(&meta).copied().unwrap_or(0);
            if gained != 0 {
                out.push((!target.default_allow, text(&meta, gained)));
            }
        }
        out
    }
}

// The bpf_cgroup_dev_ctx the kernel passes: access_type (access << 16 | type), major, minor.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;
const ACC_MKNOD: i32 = 1;
const ACC_READ: i32 = 2;
const ACC_WRITE: i32 = 4;

/// One eBPF instruction (struct bpf_insn).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct Insn {
    pub code: u8,
    /// dst_reg in the low nibble, src_reg in the high one.
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

const LDX_MEM_W: u8 = 0x61; // dst = *(u32 *)(src + off)
const ALU32_AND_K: u8 = 0x54;
const ALU32_RSH_K: u8 = 0x74;
const ALU32_MOV_K: u8 = 0xb4;
const ALU32_MOV_X: u8 = 0xbc;
const JMP_JNE_K: u8 = 0x55;
const JMP_JNE_X: u8 = 0x5d;
const JMP_JEQ_K: u8 = 0x15;
const JMP_EXIT: u8 = 0x95;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn { code, regs: dst | (src << 4), off, imm }
}

fn access_bits(access: &str) -> i32 {
    access.chars().fold(0, |acc, c| {
        acc | match c {
            'm' => ACC_MKNOD,
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            _ => 0,
        }
    })
}

/// The program for `rules`. Registers: r2 type, r3 access, r4 major, r5 minor.
pub fn program(rules: &[DeviceRule]) -> Result<Vec<Insn>> {
    let mut p = vec![
        insn(LDX_MEM_W, 2, 1, 0, 0),
        insn(ALU32_AND_K, 2, 0, 0, 0xffff),
        insn(LDX_MEM_W, 3, 1, 0, 0),
        insn(ALU32_RSH_K, 3, 0, 0, 16),
        insn(LDX_MEM_W, 4, 1, 4, 0),
        insn(LDX_MEM_W, 5, 1, 8, 0),
    ];
    for r in rules.iter().rev() {
        let mut checks: Vec<Vec<Insn>> = Vec::new();
        match r.kind.as_deref().unwrap_or("a") {
            "a" | "" => {}
            "c" => checks.push(vec![insn(JMP_JNE_K, 2, 0, 0, DEV_CHAR)]),
            "b" => checks.push(vec![insn(JMP_JNE_K, 2, 0, 0, DEV_BLOCK)]),
            other => return Err(format!("invalid device type {other:?}")),
        }
        let access = access_bits(r.access.as_deref().filter(|a| !a.is_empty()).unwrap_or("rwm"));
        if access != ACC_MKNOD | ACC_READ | ACC_WRITE {
            if r.allow {
                // An allow rule matches when every requested access bit is one it names.
                checks.push(vec![insn(ALU32_MOV_X, 1, 3, 0, 0), insn(ALU32_AND_K, 1, 0, 0, access), insn(JMP_JNE_X, 1, 3, 0, 0)]);
            } else {
                // A deny rule matches when any requested bit is one it takes away.
                checks.push(vec![insn(ALU32_MOV_X, 1, 3, 0, 0), insn(ALU32_AND_K, 1, 0, 0, access), insn(JMP_JEQ_K, 1, 0, 0, 0)]);
            }
        }
        if let Some(m) = r.major.filter(|m| *m >= 0) {
            checks.push(vec![insn(JMP_JNE_K, 4, 0, 0, m as i32)]);
        }
        if let Some(m) = r.minor.filter(|m| *m >= 0) {
            checks.push(vec![insn(JMP_JNE_K, 5, 0, 0, m as i32)]);
        }
        let unconditional = checks.is_empty();
        let mut block: Vec<Insn> = checks.into_iter().flatten().collect();
        block.push(insn(ALU32_MOV_K, 0, 0, 0, r.allow as i32));
        block.push(insn(JMP_EXIT, 0, 0, 0, 0));
        // Every failed check skips to the end of this rule's block.
        let len = block.len();
        for (i, ins) in block.iter_mut().enumerate() {
            if matches!(ins.code, JMP_JNE_K | JMP_JNE_X | JMP_JEQ_K) {
                ins.off = (len - i - 1) as i16;
            }
        }
        p.extend(block);
        if unconditional {
            // Earlier rules can never be reached, and the verifier refuses dead code.
            return Ok(p);
        }
    }
    p.push(insn(ALU32_MOV_K, 0, 0, 0, 1));
    p.push(insn(JMP_EXIT, 0, 0, 0, 0));
    Ok(p)
}

/// Runs `prog` on one request the way the kernel would: true = allowed. Covers exactly the
/// instructions [`program`] emits, so its logic can be checked without a cgroup2 host.
pub fn evaluate(prog: &[Insn], kind: char, major: u32, minor: u32, access: &str) -> bool {
    let t = match kind {
        'b' => DEV_BLOCK,
        _ => DEV_CHAR,
    } as u32;
    let ctx = [(access_bits(access) as u32) << 16 | t, major, minor];
    let mut r = [0u64; 11];
    let mut pc = 0usize;
    while pc < prog.len() {
        let i = prog[pc];
        let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
        pc += 1;
        match i.code {
            LDX_MEM_W => r[dst] = ctx[i.off as usize / 4] as u64,
            ALU32_AND_K => r[dst] = (r[dst] as u32 & i.imm as u32) as u64,
            ALU32_RSH_K => r[dst] = ((r[dst] as u32) >> i.imm) as u64,
            ALU32_MOV_K => r[dst] = i.imm as u32 as u64,
            ALU32_MOV_X => r[dst] = r[src] as u32 as u64,
            JMP_JNE_K if r[dst] != i.imm as i64 as u64 => pc += i.off as usize,
            JMP_JNE_X if r[dst] != r[src] => pc += i.off as usize,
            JMP_JEQ_K if r[dst] == i.imm as i64 as u64 => pc += i.off as usize,
            JMP_JNE_K | JMP_JNE_X | JMP_JEQ_K => {}
            JMP_EXIT => return r[0] != 0,
            other => panic!("instruction {other:#x} is not one the generator emits"),
        }
    }
    false
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;

/// The BPF_PROG_LOAD part of union bpf_attr, zero-padded to the size the kernel accepts.
#[repr(C)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    rest: [u8; 80],
}

/// The BPF_PROG_ATTACH part of union bpf_attr.
#[repr(C)]
struct ProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    rest: [u8; 112],
}

/// Loads `prog` into the kernel; the error carries the verifier's log.
pub fn load(prog: &[Insn]) -> Result<OwnedFd> {
    let license = c"Apache-2.0";
    let mut log = vec![0u8; 64 * 1024];
    let attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: prog.len() as u32,
        insns: prog.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 1,
        log_size: log.len() as u32,
        log_buf: log.as_mut_ptr() as u64,
        kern_version: 0,
        prog_flags: 0,
        rest: [0; 80],
    };
    // SAFETY: attr points at a bpf_attr-sized, initialized struct whose pointers (program,
    // license, log buffer) stay alive for the call.
    let fd = unsafe { libc::syscall(libc::SYS_bpf, BPF_PROG_LOAD, &attr as *const ProgLoadAttr, std::mem::size_of::<ProgLoadAttr>() as u32) };
    if fd < 0 {
        let err = std::io::Error::last_os_error();
        let text = String::from_utf8_lossy(&log[..log.iter().position(|b| *b == 0).unwrap_or(0)]).into_owned();
        return Err(format!("load device cgroup program: {err} {text}"));
    }
    // SAFETY: bpf returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Compiles the rules and attaches the program to the cgroup2 directory `dir`, replacing
/// the one attached before (the cgroup keeps the program alive).
pub fn apply_v2(dir: &Path, rules: &[DeviceRule]) -> Result<()> {
    let prog = load(&program(rules)?)?;
    let cgroup = std::fs::File::open(dir).map_err(|e| format!("open {}: {e}", dir.display()))?;
    let attr = ProgAttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: 0,
        rest: [0; 112],
    };
    // SAFETY: attr is an initialized bpf_attr-sized struct naming two open descriptors.
    let rc = unsafe { libc::syscall(libc::SYS_bpf, BPF_PROG_ATTACH, &attr as *const ProgAttachAttr, std::mem::size_of::<ProgAttachAttr>() as u32) };
    if rc != 0 {
        return Err(format!("attach device cgroup program to {}: {}", dir.display(), std::io::Error::last_os_error()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(allow: bool, kind: &str, major: Option<i64>, minor: Option<i64>, access: &str) -> DeviceRule {
        DeviceRule { allow, kind: Some(kind.into()), major, minor, access: Some(access.into()) }
    }

    #[test]
    fn device_transitions_are_runc_minimal_ones() {
        let w = |allow: bool, r: &str| (allow, r.to_string());
        // A fresh cgroup (allow-all) to a white-list: deny everything, then the allowed.
        let target = Emulator::from_rules(&[rule(false, "a", None, None, "rwm"), rule(true, "c", Some(1), Some(3), "rwm"), rule(true, "c", Some(136), None, "rw")]).unwrap();
        let fresh = Emulator::from_list("a *:* rwm\n").unwrap();
        assert_eq!(fresh.transition(&target), vec![w(false, "a *:* rwm"), w(true, "c 1:3 rwm"), w(true, "c 136:* rw")]);
        // White-list to white-list: no deny-all moment; dropped bits denied before new ones are
        // allowed, unchanged ones untouched.
        let current = Emulator::from_list("c 1:3 rwm\nc 1:5 rwm\nc 136:* rwm\n").unwrap();
        assert_eq!(current.transition(&target), vec![w(false, "c 1:5 rwm"), w(false, "c 136:* m")]);
        // The same rules again: nothing to write.
        assert!(target.transition(&target).is_empty());
        // White-list to black-list: allow-all first (as runc), then the denials.
        let black = Emulator::from_rules(&[rule(false, "c", Some(1), Some(3), "w")]).unwrap();
        assert_eq!(current.transition(&black), vec![w(true, "a *:* rwm"), w(false, "c 1:3 w")]);
        // Later rules take bits back; a hole in a wildcard exception is refused, as runc.
        let e = Emulator::from_rules(&[rule(false, "a", None, None, "rwm"), rule(true, "c", Some(1), Some(3), "rwm"), rule(false, "c", Some(1), Some(3), "w")]).unwrap();
        assert_eq!(e.rules.get(&(b'c', 1, 3)), Some(&(ACC_READ | ACC_MKNOD)));
        assert!(Emulator::from_rules(&[rule(false, "a", None, None, "rwm"), rule(true, "c", None, None, "rwm"), rule(false, "c", Some(1), Some(3), "w")]).unwrap_err().contains("punch hole"));
    }

    #[test]
    fn v1_rules_are_spelled_as_the_kernel_wants() {
        assert_eq!(v1_rule(&DeviceRule { allow: false, access: Some("rwm".into()), ..Default::default() }), "a *:* rwm");
        assert_eq!(v1_rule(&rule(true, "c", Some(1), Some(3), "rwm")), "c 1:3 rwm");
        assert_eq!(v1_rule(&rule(true, "c", Some(136), None, "rw")), "c 136:* rw");
    }

    #[test]
    fn program_follows_the_rules_last_match_wins() {
        let rules = vec![
            DeviceRule { allow: false, access: Some("rwm".into()), ..Default::default() },
            rule(true, "c", Some(1), Some(3), "rwm"),
            rule(true, "c", Some(136), None, "rw"),
            rule(true, "c", None, None, "m"),
            rule(false, "c", Some(1), Some(3), "w"),
        ];
        let p = program(&rules).unwrap();
        assert!(evaluate(&p, 'c', 1, 3, "r"), "null readable");
        assert!(!evaluate(&p, 'c', 1, 3, "w"), "a later deny wins");
        assert!(!evaluate(&p, 'c', 1, 3, "rw"));
        assert!(evaluate(&p, 'c', 136, 7, "rw"), "pts wildcard minor");
        assert!(!evaluate(&p, 'b', 136, 7, "m"), "mknod is allowed for char devices only");
        assert!(evaluate(&p, 'c', 8, 0, "m"), "mknod of any char device");
        assert!(!evaluate(&p, 'c', 1, 5, "r"), "zero is not listed");
        assert!(!evaluate(&p, 'b', 8, 0, "r"), "block devices denied");
        assert!(evaluate(&program(&[]).unwrap(), 'b', 8, 0, "rw"), "no rules: everything allowed");
    }
}
