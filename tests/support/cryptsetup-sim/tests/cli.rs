//! The simulators as programs: what they say when a call is malformed or
//! their state directory is not set. (Their behaviour against recorded
//! cryptsetup output is tested by the product's `tests/cryptsetup_sim_*.rs`
//! and `tests/gate_luks.rs`, which run these same executables; this test
//! also makes `cargo test` at the top build them.)

use std::process::{Command, Output};

fn run(bin: &str, dir: Option<&std::path::Path>, args: &[&str]) -> Output {
    let mut cmd = Command::new(bin);
    cmd.args(args).env_remove("CRYPTSETUP_SIM_DIR");
    if let Some(dir) = dir {
        cmd.env("CRYPTSETUP_SIM_DIR", dir);
    }
    cmd.output().expect("running the simulator")
}

#[test]
fn without_a_state_directory_both_refuse_with_99() {
    for bin in [
        env!("CARGO_BIN_EXE_cryptsetup-sim"),
        env!("CARGO_BIN_EXE_zpool-sim"),
    ] {
        let out = run(bin, None, &["status", "x"]);
        assert_eq!(out.status.code(), Some(99), "{bin}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("CRYPTSETUP_SIM_DIR is not set"),
            "{bin}: {err}"
        );
    }
}

#[test]
fn cryptsetup_without_an_action_refuses_with_99() {
    let dir = std::env::temp_dir().join(format!("cryptsetup-sim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = run(env!("CARGO_BIN_EXE_cryptsetup-sim"), Some(&dir), &[]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(99));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no action"));
}
