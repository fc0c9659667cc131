//! The OCI `linux.seccomp` object compiled to a classic BPF seccomp filter (with libseccomp's
//! meaning: per-arch syscall numbers, 64-bit argument comparisons, x32 split from x86_64),
//! and its installation.

pub mod bpf;
pub mod tables;
#[cfg(test)]
mod arch_tests;

use bpf::{Assembler, Insn, Target};
use serde::Deserialize;
use std::collections::BTreeMap;

/// `linux.seccomp` of the runtime spec.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Seccomp {
    pub default_action: String,
    #[serde(default)]
    pub default_errno_ret: Option<u32>,
    #[serde(default)]
    pub architectures: Vec<String>,
    #[serde(default)]
    pub flags: Vec<String>,
    #[serde(default)]
    pub listener_path: Option<String>,
    /// Passed to the seccomp agent as is (`metadata` of the process state runc sends).
    #[serde(default)]
    pub listener_metadata: Option<String>,
    #[serde(default)]
    pub syscalls: Vec<SyscallRule>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SyscallRule {
    pub names: Vec<String>,
    pub action: String,
    #[serde(default)]
    pub errno_ret: Option<u32>,
    #[serde(default)]
    pub args: Vec<ArgRule>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ArgRule {
    pub index: u32,
    pub value: u64,
    #[serde(default)]
    pub value_two: u64,
    pub op: String,
}

/// The architectures this compiler knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Arch {
    X86_64,
    X32,
    X86,
    Aarch64,
    Arm,
}

/// Set on every x32 syscall number.
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// 32-bit ARM's private calls (breakpoint, cacheflush, set_tls, ...) are numbered from here
/// (`__ARM_NR_BASE`), far above the ordinary table: they never count as "newer than the
/// profile" for the ENOSYS stub.
pub const ARM_PRIVATE_BASE: u32 = 0x000f_0000;

impl Arch {
    /// The AUDIT_ARCH_* value the kernel puts in `seccomp_data.arch`.
    pub fn audit(self) -> u32 {
        match self {
            Arch::X86_64 | Arch::X32 => 0xC000_003E,
            Arch::X86 => 0x4000_0003,
            Arch::Aarch64 => 0xC000_00B7,
            Arch::Arm => 0x4000_0028,
        }
    }
    fn column(self) -> tables::Column {
        match self {
            Arch::X86_64 => tables::Column::X86_64,
            Arch::X32 => tables::Column::X32,
            Arch::X86 => tables::Column::I386,
            Arch::Aarch64 => tables::Column::Aarch64,
            Arch::Arm => tables::Column::Arm,
        }
    }
    /// Whether syscall arguments are 64 bits wide (32-bit arches compare the low word only).
    fn wide(self) -> bool {
        matches!(self, Arch::X86_64 | Arch::X32 | Arch::Aarch64)
    }
    /// The syscall number of `name` as it appears in `seccomp_data.nr`.
    pub fn syscall(self, name: &str) -> Option<u32> {
        let n = tables::number(name, self.column())?;
        Some(if self == Arch::X32 { n | X32_SYSCALL_BIT } else { n })
    }
    /// The SCMP_ARCH_* name; None for arches we cannot filter.
    pub fn from_spec(name: &str) -> Option<Arch> {
        Some(match name {
            "SCMP_ARCH_X86_64" => Arch::X86_64,
            "SCMP_ARCH_X32" => Arch::X32,
            "SCMP_ARCH_X86" => Arch::X86,
            "SCMP_ARCH_AARCH64" => Arch::Aarch64,
            "SCMP_ARCH_ARM" => Arch::Arm,
            _ => return None,
        })
    }
    /// The arch this binary runs as.
    pub fn native() -> Arch {
        if cfg!(target_arch = "x86_64") {
            Arch::X86_64
        } else if cfg!(target_arch = "aarch64") {
            Arch::Aarch64
        } else if cfg!(target_arch = "arm") {
            Arch::Arm
        } else {
            Arch::X86
        }
    }
}

/// SECCOMP_RET_* values.
pub const RET_KILL_PROCESS: u32 = 0x8000_0000;
pub const RET_KILL_THREAD: u32 = 0;
pub const RET_TRAP: u32 = 0x0003_0000;
pub const RET_ERRNO: u32 = 0x0005_0000;
pub const RET_TRACE: u32 = 0x7ff0_0000;
pub const RET_LOG: u32 = 0x7ffc_0000;
pub const RET_ALLOW: u32 = 0x7fff_0000;

/// A compiled filter: the program and the flags for seccomp(2).
#[derive(Debug, Clone)]
pub struct Filter {
    pub program: Vec<Insn>,
    pub flags: u32,
}

impl Filter {
    /// Some rule hands calls to a seccomp agent (SCMP_ACT_NOTIFY).
    pub fn notifies(&self) -> bool {
        self.flags & NEW_LISTENER != 0
    }

    /// The filter as bytes for [`Filter::from_bytes`] in a later process of the same
    /// executable: a header naming the executable's version and the flags, then the program.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("{}{} {}\n", CACHE_MAGIC, crate::version::DOCKBOX, self.flags).into_bytes();
        for i in &self.program {
            out.extend_from_slice(&i.code.to_ne_bytes());
            out.extend_from_slice(&[i.jt, i.jf]);
            out.extend_from_slice(&i.k.to_ne_bytes());
        }
        out
    }

    /// A filter [`Filter::to_bytes`] wrote, if these bytes are whole and came from this
    /// version (another version may compile the same profile differently).
    pub fn from_bytes(b: &[u8]) -> Option<Filter> {
        let end = b.iter().position(|&c| c == b'\n')?;
        let header = std::str::from_utf8(&b[..end]).ok()?.strip_prefix(CACHE_MAGIC)?;
        let (version, flags) = header.rsplit_once(' ')?;
        let body = &b[end + 1..];
        if version != crate::version::DOCKBOX || body.is_empty() || body.len() % 8 != 0 || body.len() / 8 > MAX_INSNS {
            return None;
        }
        let program = body
            .chunks_exact(8)
            .map(|c| Insn { code: u16::from_ne_bytes([c[0], c[1]]), jt: c[2], jf: c[3], k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]) })
            .collect();
        Some(Filter { program, flags: flags.parse().ok()? })
    }
}

const CACHE_MAGIC: &str = "dockbox-seccomp ";
/// SECCOMP_FILTER_FLAG_NEW_LISTENER as the u32 the filter's flags are kept in.
// A c_ulong: u64 on 64-bit targets, already u32 on 32-bit ARM.
#[allow(clippy::unnecessary_cast)]
const NEW_LISTENER: u32 = libc::SECCOMP_FILTER_FLAG_NEW_LISTENER as u32;
/// The kernel's BPF_MAXINSNS.
const MAX_INSNS: usize = 4096;

/// The filter's return value for an action name (`errno` is used by ERRNO and TRACE).
pub fn action_value(action: &str, errno: Option<u32>) -> Result<u32, String> {
    Ok(match action {
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => RET_KILL_THREAD,
        "SCMP_ACT_KILL_PROCESS" => RET_KILL_PROCESS,
        "SCMP_ACT_TRAP" => RET_TRAP,
        "SCMP_ACT_ERRNO" => RET_ERRNO | (errno.unwrap_or(libc::EPERM as u32) & 0xffff),
        "SCMP_ACT_TRACE" => RET_TRACE | (errno.unwrap_or(libc::EPERM as u32) & 0xffff),
        "SCMP_ACT_LOG" => RET_LOG,
        "SCMP_ACT_ALLOW" => RET_ALLOW,
        "SCMP_ACT_NOTIFY" => libc::SECCOMP_RET_USER_NOTIF,
        other => return Err(format!("seccomp: invalid action {other:?}")),
    })
}

fn flag_value(flag: &str) -> Result<u32, String> {
    Ok(match flag {
        "SECCOMP_FILTER_FLAG_TSYNC" => 1,
        "SECCOMP_FILTER_FLAG_LOG" => 2,
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => 4,
        other => return Err(format!("seccomp: flag {other:?} is not supported")),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Ne,
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
    MaskedEq,
}

fn op(name: &str) -> Result<Op, String> {
    Ok(match name {
        "SCMP_CMP_NE" => Op::Ne,
        "SCMP_CMP_LT" => Op::Lt,
        "SCMP_CMP_LE" => Op::Le,
        "SCMP_CMP_EQ" => Op::Eq,
        "SCMP_CMP_GE" => Op::Ge,
        "SCMP_CMP_GT" => Op::Gt,
        "SCMP_CMP_MASKED_EQ" => Op::MaskedEq,
        other => return Err(format!("seccomp: invalid comparison operator {other:?}")),
    })
}

/// One checked rule: syscall arguments to compare (all must hold) and the result.
#[derive(Debug, Clone)]
struct Rule {
    args: Vec<(u32, Op, u64, u64)>,
    ret: u32,
}

impl Seccomp {
    /// Parses the spec's `linux.seccomp` value.
    pub fn from_value(v: &serde_json::Value) -> Result<Seccomp, String> {
        Seccomp::deserialize(v).map_err(|e| format!("seccomp: {e}"))
    }

    /// The arches the filter covers: those the spec lists that we know, and always the
    /// native one (as libseccomp does).
    pub fn arches(&self) -> Vec<Arch> {
        let mut arches: Vec<Arch> = self.architectures.iter().filter_map(|a| Arch::from_spec(a)).collect();
        arches.push(Arch::native());
        arches.sort();
        arches.dedup();
        arches
    }

    /// Compiles the filter for the arches of [`Seccomp::arches`]. Syscall names an arch does
    /// not have are skipped for that arch (runc ignores unknown names too); rules whose result
    /// equals the default are dropped, since they change nothing.
    pub fn compile(&self) -> Result<Filter, String> {
        let default = action_value(&self.default_action, self.default_errno_ret)?;
        // The process that loads the filter hands its listener to runc with write(2): a
        // notified write would wait for an agent that never gets the listener (as runc).
        if default == libc::SECCOMP_RET_USER_NOTIF {
            return Err("SCMP_ACT_NOTIFY cannot be used as default action".into());
        }
        let mut flags = 0;
        for f in &self.flags {
            flags |= flag_value(f)?;
        }
        let mut rules: Vec<(Vec<String>, Rule)> = Vec::new();
        for s in &self.syscalls {
            let ret = action_value(&s.action, s.errno_ret)?;
            if ret == libc::SECCOMP_RET_USER_NOTIF {
                if s.names.iter().any(|n| n == "write") {
                    return Err("SCMP_ACT_NOTIFY cannot be used for the write syscall".into());
                }
                flags |= NEW_LISTENER;
            }
            let mut args = Vec::new();
            for a in &s.args {
                if a.index > 5 {
                    return Err(format!("seccomp: argument index {} out of range", a.index));
                }
                args.push((a.index, op(&a.op)?, a.value, a.value_two));
            }
            if ret != default {
                rules.push((s.names.clone(), Rule { args, ret }));
            }
        }
        let arches = self.arches();
        let enosys = self.enosys_above(default)?;
        let mut asm = Assembler::default();
        let bad_arch = asm.label();
        asm.load(bpf::OFF_ARCH);
        // Arch dispatch: a short test then a long jump to that arch's section.
        let mut audits: Vec<u32> = arches.iter().map(|a| a.audit()).collect();
        audits.dedup();
        let sections: Vec<(u32, usize)> = audits.iter().map(|&a| (a, asm.label())).collect();
        for &(audit, label) in &sections {
            let skip = asm.label();
            asm.jump(bpf::JEQ_K, audit, Target::Next, Target::Label(skip));
            asm.goto(label);
            asm.place(skip);
        }
        asm.ret(RET_KILL_THREAD); // an arch outside the filter, as libseccomp's default
        for &(audit, label) in &sections {
            asm.place(label);
            if audit == Arch::X86_64.audit() {
                let x32 = asm.label();
                asm.load(bpf::OFF_NR);
                let native = asm.label();
                asm.jump(bpf::JSET_K, X32_SYSCALL_BIT, Target::Next, Target::Label(native));
                asm.goto(x32);
                asm.place(native);
                if arches.contains(&Arch::X86_64) {
                    emit_arch(&mut asm, Arch::X86_64, &rules, default, enosys.get(&Arch::X86_64).copied())?;
                } else {
                    asm.goto(bad_arch);
                }
                asm.place(x32);
                if arches.contains(&Arch::X32) {
                    emit_arch(&mut asm, Arch::X32, &rules, default, enosys.get(&Arch::X32).copied())?;
                } else {
                    asm.goto(bad_arch);
                }
            } else {
                let arch = *arches.iter().find(|a| a.audit() == audit).expect("audit values come from arches");
                emit_arch(&mut asm, arch, &rules, default, enosys.get(&arch).copied())?;
            }
        }
        asm.place(bad_arch);
        asm.ret(RET_KILL_THREAD);
        Ok(Filter { program: asm.finish()?, flags })
    }
}

impl Seccomp {
    /// runc's -ENOSYS stub: for each arch the profile lists, the largest syscall number its
    /// rules name (whatever their action); a call above it is newer than the profile, and
    /// gets ENOSYS instead of the default so that libc falls back to an older call. None of
    /// it when the default lets calls through (allow, log, trace), as runc.
    fn enosys_above(&self, default: u32) -> Result<BTreeMap<Arch, u32>, String> {
        let mut out = BTreeMap::new();
        if matches!(self.default_action.as_str(), "SCMP_ACT_ALLOW" | "SCMP_ACT_LOG" | "SCMP_ACT_TRACE") || default == RET_ERRNO | libc::ENOSYS as u32 {
            return Ok(out);
        }
        for name in &self.architectures {
            let arch = if name == "SCMP_ARCH_NATIVE" { Some(Arch::native()) } else { Arch::from_spec(name) };
            let Some(arch) = arch else { continue };
            let largest = self
                .syscalls
                .iter()
                .flat_map(|s| s.names.iter())
                .filter_map(|n| arch.syscall(n))
                .filter(|&nr| arch != Arch::Arm || nr < ARM_PRIVATE_BASE)
                .max();
            if let Some(max) = largest.filter(|m| *m & !X32_SYSCALL_BIT != 0) {
                out.insert(arch, max);
            }
        }
        Ok(out)
    }
}

/// Unconditional rules sharing one result are grouped: a run of range tests into one `ret`
/// (at most this many, so that every test reaches the `ret` with an 8-bit jump).
const GROUP: usize = 100;

fn emit_arch(asm: &mut Assembler, arch: Arch, rules: &[(Vec<String>, Rule)], default: u32, enosys_above: Option<u32>) -> Result<(), String> {
    if let Some(max) = enosys_above {
        let known = asm.label();
        asm.load(bpf::OFF_NR);
        asm.jump(bpf::JGT_K, max, Target::Next, Target::Label(known));
        if arch == Arch::Arm {
            asm.jump(bpf::JGE_K, ARM_PRIVATE_BASE, Target::Label(known), Target::Next);
        }
        asm.ret(RET_ERRNO | libc::ENOSYS as u32);
        asm.place(known);
    }
    // Per syscall number: the first unconditional rule wins; else its conditional rules.
    let mut plain: BTreeMap<u32, u32> = BTreeMap::new();
    let mut checked: BTreeMap<u32, Vec<&Rule>> = BTreeMap::new();
    for (names, rule) in rules {
        for name in names {
            let Some(nr) = arch.syscall(name) else { continue };
            if rule.args.is_empty() {
                plain.entry(nr).or_insert(rule.ret);
            } else {
                checked.entry(nr).or_default().push(rule);
            }
        }
    }
    // Consecutive numbers with one result make one range: an allow list of ~300 calls is ~30
    // ranges on x86_64, so the kernel has a third of the instructions to check and compile,
    // and a call walks fewer tests.
    let mut by_ret: BTreeMap<u32, Vec<(u32, u32)>> = BTreeMap::new();
    for (&nr, &ret) in &plain {
        let ranges = by_ret.entry(ret).or_default();
        match ranges.last_mut() {
            Some((_, hi)) if *hi + 1 == nr => *hi = nr,
            _ => ranges.push((nr, nr)),
        }
    }
    // A number is either plain or checked, so the order is free: the plain ranges (sorted by
    // number, so the common low-numbered calls come early) go first, for speed.
    for (ret, ranges) in by_ret {
        for chunk in ranges.chunks(GROUP) {
            let hit = asm.label();
            let after = asm.label();
            asm.load(bpf::OFF_NR);
            for &(lo, hi) in chunk {
                if lo == hi {
                    asm.jump(bpf::JEQ_K, lo, Target::Label(hit), Target::Next);
                } else {
                    let next = asm.label();
                    asm.jump(bpf::JGE_K, lo, Target::Next, Target::Label(next));
                    asm.jump(bpf::JGT_K, hi, Target::Label(next), Target::Label(hit));
                    asm.place(next);
                }
            }
            asm.goto(after);
            asm.place(hit);
            asm.ret(ret);
            asm.place(after);
        }
    }
    for (nr, list) in &checked {
        if plain.contains_key(nr) {
            continue;
        }
        for rule in list {
            emit_checked(asm, arch, *nr, rule);
        }
    }
    asm.ret(default);
    Ok(())
}

/// `if nr == NR && every argument test holds { return ret }`, falling through otherwise.
fn emit_checked(asm: &mut Assembler, arch: Arch, nr: u32, rule: &Rule) {
    let fail = asm.label();
    asm.load(bpf::OFF_NR);
    asm.jump(bpf::JEQ_K, nr, Target::Next, Target::Label(fail));
    for &(index, op, value, value_two) in &rule.args {
        emit_compare(asm, arch.wide(), index, op, value, value_two, fail);
    }
    asm.ret(rule.ret);
    asm.place(fail);
}

/// A 64-bit unsigned comparison made of 32-bit ones, high word first (as libseccomp);
/// on 32-bit arches only the low word, with the value truncated.
fn emit_compare(asm: &mut Assembler, wide: bool, index: u32, op: Op, value: u64, value_two: u64, fail: usize) {
    let (hi, lo) = ((value >> 32) as u32, value as u32);
    let (hi2, lo2) = ((value_two >> 32) as u32, value_two as u32);
    let f = Target::Label(fail);
    let pass = asm.label();
    let p = Target::Label(pass);
    let n = Target::Next;
    let load_hi = |asm: &mut Assembler| asm.load(bpf::off_arg_hi(index));
    let load_lo = |asm: &mut Assembler| asm.load(bpf::off_arg_lo(index));
    match op {
        Op::Eq => {
            if wide {
                load_hi(asm);
                asm.jump(bpf::JEQ_K, hi, n, f);
            }
            load_lo(asm);
            asm.jump(bpf::JEQ_K, lo, n, f);
        }
        Op::Ne => {
            if wide {
                load_hi(asm);
                asm.jump(bpf::JEQ_K, hi, n, p);
            }
            load_lo(asm);
            asm.jump(bpf::JEQ_K, lo, f, n);
        }
        Op::MaskedEq => {
            // value is the mask, valueTwo what the masked argument must equal.
            if wide {
                load_hi(asm);
                asm.and(hi);
                asm.jump(bpf::JEQ_K, hi2, n, f);
            }
            load_lo(asm);
            asm.and(lo);
            asm.jump(bpf::JEQ_K, lo2, n, f);
        }
        Op::Gt | Op::Ge => {
            if wide {
                load_hi(asm);
                asm.jump(bpf::JGT_K, hi, p, n);
                asm.jump(bpf::JEQ_K, hi, n, f);
            }
            load_lo(asm);
            let code = if op == Op::Gt { bpf::JGT_K } else { bpf::JGE_K };
            asm.jump(code, lo, n, f);
        }
        Op::Lt | Op::Le => {
            if wide {
                load_hi(asm);
                asm.jump(bpf::JGT_K, hi, f, n);
                asm.jump(bpf::JEQ_K, hi, n, p);
            }
            load_lo(asm);
            // arg < v  ⇔ !(arg >= v);  arg <= v ⇔ !(arg > v)
            let code = if op == Op::Lt { bpf::JGE_K } else { bpf::JGT_K };
            asm.jump(code, lo, f, n);
        }
    }
    asm.place(pass);
}

/// Installs `filter` on the calling thread (all threads with TSYNC). The caller must have
/// set no_new_privs or hold CAP_SYS_ADMIN. A filter with SCMP_ACT_NOTIFY rules gives back
/// its listener (close-on-exec), which a seccomp agent reads the notified calls from.
pub fn install(filter: &Filter) -> Result<Option<std::os::fd::OwnedFd>, String> {
    let prog = libc::sock_fprog { len: filter.program.len() as u16, filter: filter.program.as_ptr() as *mut libc::sock_filter };
    // SAFETY: Insn has the layout of sock_filter (repr(C), same fields); the kernel copies
    // the program during the call, while `filter` is alive.
    let rc = unsafe { libc::syscall(libc::SYS_seccomp, 1 /* SECCOMP_SET_MODE_FILTER */, filter.flags as libc::c_ulong, &prog as *const libc::sock_fprog) };
    if rc < 0 {
        return Err(format!("load seccomp filter: {}", std::io::Error::last_os_error()));
    }
    if filter.notifies() {
        // SAFETY: with NEW_LISTENER the call's result is a new descriptor that nothing else owns.
        return Ok(Some(unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(rc as i32) }));
    }
    Ok(None)
}
