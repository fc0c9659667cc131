//! dockbox: Docker's client, daemon, containerd, shim and OCI runtime in one static executable.
//!
//! Roles (one module each, entered through [`applets`]):
//! [`client`] (`docker`), [`daemon`] (`dockerd`), [`containerd`] (`docker-containerd`, `ctr`),
//! [`shim`] (`docker-containerd-shim`), [`runc`] (`docker-runc`), [`docker_init`] (`docker-init`),
//! [`docker_proxy`] (`docker-proxy`).
//!
//! Shared modules, one job each: [`oci`] (runtime spec types), [`http`] (HTTP/1.1 over unix and
//! tcp sockets), [`rpc`] (the JSON-lines protocol between our own roles), [`reference`] (image
//! names), [`registry`] (Registry HTTP API V2 client), [`archive`] (safe layer extraction),
//! [`image`] (content-addressed image and layer store), [`snapshot`] (overlay2/vfs container
//! filesystems), [`mounts`], [`stdcopy`] (Docker's multiplexed stream), [`logger`] (container log
//! drivers), [`jsonlog`] (json-file
//! logs), [`sys`] (small syscall helpers), [`durable`] (the stores' durable write steps and the
//! power-cut fault hook), [`ids`] (ids and names), [`units`] (sizes and
//! durations in words), [`auth`] (registry credentials), [`base64`], [`cgroups`] (cgroup v1 and v2),
//! [`detach_keys`] (Docker's detach key notation and the watch for it), [`template`] (Go's
//! text/template, for `--format` and log tags).

#![recursion_limit = "256"]

pub mod applets;
pub mod archive;
pub mod auth;
pub mod base64;
pub mod build;
pub mod cgroups;
pub mod client;
pub mod containerd;
pub mod daemon;
pub mod docker_init;
pub mod dockerfile;
pub mod docker_proxy;
pub mod durable;
pub mod fs64;
pub mod detach_keys;
pub mod http;
pub mod ids;
pub mod image;
pub mod jsonlog;
pub mod kernel_check;
pub mod log;
pub mod logger;
pub mod mounts;
pub mod network;
pub mod oci;
pub mod reference;
pub mod regexp;
pub mod registry;
pub mod rootfs_access;
pub mod rpc;
pub mod runc;
pub mod seccomp;
pub mod shim;
pub mod signals;
pub mod snapshot;
pub mod sortorder;
pub mod stdcopy;
pub mod sys;
pub mod template;
pub mod time64;
pub mod timestamp;
pub mod units;
pub mod version;
pub mod volume;
pub mod writeback;
