//! Version numbers every role reports.

/// dockbox's own release.
pub const DOCKBOX: &str = env!("CARGO_PKG_VERSION");
/// The Engine API version dockerd advertises.
pub const API_VERSION: &str = "1.44";
/// The oldest Engine API version dockerd accepts in a versioned path.
pub const MIN_API_VERSION: &str = "1.24";
/// The version of our internal protocol between dockerd, containerd and the shim (see ARCHITECTURE.md).
pub const RPC_VERSION: u32 = 1;
/// The OCI runtime spec version the runtime implements.
pub const OCI_SPEC: &str = "1.2.0";
/// Git commit, when the build script was given one.
pub const GIT_COMMIT: &str = match option_env!("DOCKBOX_GIT_COMMIT") {
    Some(c) => c,
    None => "unknown",
};
