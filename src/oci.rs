//! The OCI runtime spec (config.json and the state document) as Rust types.
