//! The control socket: a root-only AF_UNIX stream socket on which a waiting
//! gate answers `status` and accepts a passphrase (`keygate unlock` over SSH).
//! The wire format is in `protocol.rs` and docs/control-protocol.md.

pub mod client;
pub mod protocol;
pub mod server;
pub mod status;

/// Where the socket lives unless `--socket` says otherwise.
pub const DEFAULT_SOCKET: &str = "/run/keygate/control.sock";
