//! How runc makes its children (the container's init, `exec`'s first child): like fork, with
//! new namespaces when asked, and started inside the container's cgroup2 directory by
//! clone3's CLONE_INTO_CGROUP (Linux 5.7). That clone takes the kernel's threadgroup lock
//! only for reading; moving a process in afterwards through `cgroup.procs` takes it for
//! writing, which waits for an RCU grace period (milliseconds). Where clone3 cannot (an
//! older kernel, a seccomp filter answering ENOSYS), the child is made the old way and the
//! caller joins it to the cgroup2 directory by `cgroup.procs`.

use nix::sched::CloneFlags;
use nix::unistd::Pid;
use std::convert::Infallible;
use std::os::fd::{AsRawFd, BorrowedFd};

type Result<T> = std::result::Result<T, String>;

/// clone3's flag: the child starts in the cgroup2 directory `clone_args.cgroup` names.
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Makes a child with new namespaces `flags` (none, or user and pid) that runs `child`,
/// inside the cgroup2 directory `cgroup` when the kernel can. `child` learns whether it
/// started there; the parent gets the pid and the same answer. runc must be
/// single-threaded: the child goes on with a copy of just this thread.
pub fn spawn(flags: CloneFlags, cgroup: Option<BorrowedFd>, child: impl FnOnce(bool) -> Infallible) -> Result<(Pid, bool)> {
    if let Some(dir) = cgroup {
        // Any failure (ENOSYS, E2BIG or EINVAL before 5.7, EPERM from a filter, EBUSY for
        // a threaded or populated inner cgroup) falls back to the old way, which reports
        // real errors such as EAGAIN itself.
        match clone3_into(flags, dir) {
            Ok(Some(pid)) => return Ok((pid, true)),
            Ok(None) => run_child(child, true),
            Err(_) => {}
        }
    }
    if flags.is_empty() {
        // SAFETY: runc is single-threaded here, so the child may run arbitrary code after fork.
        let forked = unsafe { nix::unistd::fork() }.map_err(|e| format!("fork: {}", e.desc()))?;
        let nix::unistd::ForkResult::Parent { child: pid } = forked else { run_child(child, false) };
        Ok((pid, false))
    } else {
        clone_on_own_stack(flags, || child(false)).map(|pid| (pid, false))
    }
}

/// The child's side: `child` never returns (it execs or exits).
fn run_child(child: impl FnOnce(bool) -> Infallible, in_cgroup: bool) -> ! {
    match child(in_cgroup) {}
}

/// The kernel's `struct clone_args` (linux/sched.h), version 2 (with `cgroup`, 88 bytes).
/// Every field is a 64-bit `__aligned_u64` on every CPU, so it is laid out here rather than
/// taken from libc, which has it only for 64-bit targets.
#[repr(C, align(8))]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}
// CLONE_ARGS_SIZE_VER2 on every CPU; where libc has the struct, ours matches it.
const _: () = assert!(std::mem::size_of::<CloneArgs>() == 88);
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<CloneArgs>() == std::mem::size_of::<libc::clone_args>());

/// clone3 with fork's semantics (no new stack: the child goes on from here on a copy of
/// ours) into the cgroup2 directory `dir`: None in the child, its pid in the parent.
fn clone3_into(flags: CloneFlags, dir: BorrowedFd) -> nix::Result<Option<Pid>> {
    // All-zero (Default) is the kernel's "nothing asked" for every other field.
    let args = CloneArgs {
        flags: u64::from(flags.bits() as u32) | CLONE_INTO_CGROUP,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: dir.as_raw_fd() as u64,
        ..CloneArgs::default()
    };
    // SAFETY: clone3 reads `size` bytes of the args we pass. Without CLONE_VM and with no
    // stack given, the child runs on a copy of our memory like after fork, which is sound
    // because runc is single-threaded here. Unlike fork(3), libc's record of the thread id
    // is not updated (as after clone(2)); glibc asks the kernel where it matters (raise).
    let rc = unsafe { libc::syscall(libc::SYS_clone3, &args as *const CloneArgs, std::mem::size_of::<CloneArgs>()) };
    match rc {
        -1 => Err(nix::errno::Errno::last()),
        0 => Ok(None),
        pid => Ok(Some(Pid::from_raw(pid as libc::pid_t))),
    }
}

/// clone(2) of a child running `child` on a stack of its own, with new namespaces `flags`.
fn clone_on_own_stack(flags: CloneFlags, child: impl FnOnce() -> Infallible) -> Result<Pid> {
    let mut child = Some(child);
    let mut stack = vec![0u8; 1 << 20];
    let cb: nix::sched::CloneCb = Box::new(move || {
        let f = child.take().expect("the child runs once");
        match f() {}
    });
    // SAFETY: runc is single-threaded, and without CLONE_VM the child works on a copy of our
    // memory (its stack included), like after fork.
    unsafe { nix::sched::clone(cb, &mut stack, flags, Some(libc::SIGCHLD)) }.map_err(|e| format!("clone: {}", e.desc()))
}
