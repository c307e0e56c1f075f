//! keygate: a boot gate for encrypted ZFS datasets.
//!
//! The binary in `main.rs` only parses the command line and maps errors to exit
//! codes; everything else lives here so integration tests can reach it.

pub mod cli;
pub mod duration;
pub mod render;
pub mod secret;
pub mod terminal;
