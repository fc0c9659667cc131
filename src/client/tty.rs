//! The local terminal while attached to a container (or an exec) with a tty, and the pieces
//! every attaching command shares:
//! - [`RawMode`]: stdin in raw mode until dropped (restored on every exit path; call
//!   [`RawMode::restore`] early to print normally before the drop).
//! - [`detach_keys`]: the keys from `--detach-keys` or config.json's `detachKeys`.
//! - [`block_resize_signal`] then [`watch_resize`]: SIGWINCH → a callback (send the size).
//! - [`size`]: the terminal's rows and columns; [`require_input_terminal`].
//! - [`copy_input`]: stdin → the hijacked connection, watching for the detach keys.

use crate::detach_keys::CopyEnd;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg, Termios};
use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex};

/// Puts stdin in raw mode until dropped, so keystrokes reach the container unprocessed.
/// Clones share one saved state: whichever restores first restores for all.
#[derive(Clone)]
pub struct RawMode(Arc<Mutex<Option<Termios>>>);

impl RawMode {
    /// Raw mode on stdin when it is a terminal; otherwise a no-op guard.
    pub fn enter() -> RawMode {
        let stdin = io::stdin();
        let Ok(saved) = tcgetattr(&stdin) else { return RawMode(Arc::default()) };
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        if tcsetattr(&stdin, SetArg::TCSANOW, &raw).is_err() {
            return RawMode(Arc::default());
        }
        RawMode(Arc::new(Mutex::new(Some(saved))))
    }

    /// Gives the terminal back its saved settings (once).
    pub fn restore(&self) {
        if let Some(saved) = self.0.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = tcsetattr(io::stdin(), SetArg::TCSANOW, &saved);
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        self.restore();
    }
}

/// Docker's refusal of a session with a terminal and our input when that input is no terminal.
pub fn require_input_terminal(tty: bool, stdin: bool) -> Result<(), super::Failure> {
    if tty && stdin && !super::is_terminal(0) {
        return Err(super::Failure::new("the input device is not a TTY", 1));
    }
    Ok(())
}

/// Rows and columns of the terminal on `fd`.
pub fn size(fd: i32) -> Option<(u16, u16)> {
    let mut ws = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ writes one winsize into the struct we pass.
    let rc = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) };
    (rc == 0 && ws.ws_row > 0).then_some((ws.ws_row, ws.ws_col))
}

/// The detach keys to use: the flag's, else `detachKeys` of the client's config.json, else
/// none (the default, ctrl-p ctrl-q, applies). Returns the notation (for the `detachKeys`
/// query, empty for the default) and its bytes; an invalid notation is Docker's error.
pub fn detach_keys(flag: Option<&str>) -> Result<(String, Vec<u8>), String> {
    let keys = detach_keys_notation(flag);
    match crate::detach_keys::parse_or_default(&keys) {
        Ok(bytes) => Ok((keys, bytes)),
        Err(e) => Err(format!("invalid detach keys ({keys}): {e}")),
    }
}

/// The notation [`detach_keys`] reads, unchecked (an exec sends it for dockerd to check).
pub fn detach_keys_notation(flag: Option<&str>) -> String {
    match flag.filter(|k| !k.is_empty()) {
        Some(k) => k.to_string(),
        None => config_detach_keys().unwrap_or_default(),
    }
}

/// `detachKeys` of `$DOCKER_CONFIG/config.json` (or `~/.docker/config.json`).
fn config_detach_keys() -> Option<String> {
    let text = std::fs::read(crate::auth::config_file()).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&text).ok()?;
    v.get("detachKeys")?.as_str().map(str::to_string)
}

/// Blocks SIGWINCH in the calling thread, and so in every thread it starts afterwards: call
/// before starting any thread, so the one [`watch_resize`] starts is the only taker.
pub fn block_resize_signal() {
    let mut set = SigSet::empty();
    set.add(Signal::SIGWINCH);
    let _ = set.thread_block();
}

/// Calls `on_resize` on a thread of its own at each SIGWINCH (the terminal was resized).
/// Needs [`block_resize_signal`] first. The thread lives as long as the process.
pub fn watch_resize(on_resize: impl Fn() + Send + 'static) {
    let mut set = SigSet::empty();
    set.add(Signal::SIGWINCH);
    let _ = std::thread::Builder::new().name("sigwinch".into()).spawn(move || loop {
        match set.wait() {
            Ok(_) => on_resize(),
            Err(_) => return,
        }
    });
}

/// Copies `input` (our stdin) to `conn`, watching for `keys` (pass an empty slice when there
/// is no terminal: Docker detaches only with one). At the end of input the write side is shut
/// down, so the daemon sees it.
pub fn copy_input(input: impl Read, conn: &mut crate::http::Conn, keys: &[u8]) -> CopyEnd {
    let end = crate::detach_keys::copy(input, keys, |data| conn.write_all(data).and_then(|()| conn.flush()).is_ok());
    if end == CopyEnd::Eof {
        let _ = conn.shutdown(std::net::Shutdown::Write);
    }
    end
}
