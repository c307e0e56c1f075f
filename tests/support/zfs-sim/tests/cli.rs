//! The simulator as a program: what it does with no command and with an
//! unknown one. (Its behaviour against recorded OpenZFS output is tested by
//! the product's `tests/sim_*.rs`, which run this same executable.)

use std::process::Command;

fn sim(state: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_zfs-sim"))
        .args(args)
        .env("ZFS_SIM_DIR", state)
        .output()
        .expect("running zfs-sim")
}

#[test]
fn no_command_prints_usage_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = sim(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("zfs-sim: no command given"), "{err}");
}

#[test]
fn unknown_command_names_what_is_simulated() {
    let dir = tempfile::tempdir().unwrap();
    let out = sim(dir.path(), &["snapshot", "nest@now"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unrecognized command 'snapshot'"), "{err}");
    assert!(err.contains("only get, list, load-key"), "{err}");
}
