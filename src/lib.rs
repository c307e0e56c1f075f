//! keygate: a boot gate for encrypted ZFS datasets.
//!
//! The binary in `main.rs` only parses the command line and maps errors to exit
//! codes; everything else lives here so integration tests can reach it.

pub mod app;
pub mod bind;
pub mod check;
pub mod cli;
pub mod config;
pub mod control;
pub mod duration;
pub mod gate;
pub mod host;
pub mod json;
pub mod keyring;
pub mod keystore;
pub mod luks;
pub mod plan;
pub mod render;
pub mod report;
pub mod runner;
pub mod secret;
pub mod service;
pub mod settings;
pub mod signals;
pub mod sources;
pub mod terminal;
pub mod text;
pub mod unlock;
pub mod zfs;
