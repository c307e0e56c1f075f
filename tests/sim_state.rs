//! The simulator's state file, call log, environment and mounts.

mod common;

use std::fs;

use common::{Sim, TIMEOUT};

#[test]
fn hand_written_state_with_escapes() {
    let sim = Sim::new();
    sim.write_state(
        "# a comment\n\
         tank mountpoint=/srv\n\
         tank/secret keyformat=passphrase key=p%E4ss%20word%0D keylocation=prompt pbkdf2iters=1000\n\
         tank/secret/x com.example:tag=hello%20world\n",
    );
    let out = common::run_with_timeout(
        sim.command(&[
            "get",
            "-H",
            "-o",
            "name,value,source",
            "mountpoint,com.example:tag",
            "-r",
            "tank",
        ]),
        TIMEOUT,
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "tank\t/srv\tlocal\ntank\t-\t-\n\
         tank/secret\t/srv/secret\tinherited from tank\ntank/secret\t-\t-\n\
         tank/secret/x\t/srv/secret/x\tinherited from tank\ntank/secret/x\thello world\tlocal\n"
    );
    // Non-UTF-8 bytes, a space and a kept \r, byte for byte.
    let out = common::run_with_input(
        sim.command(&["load-key", "tank/secret"]),
        b"p\xe4ss word\r\n",
        TIMEOUT,
    );
    assert!(out.status.success(), "{}", common::show(&out));
    assert_eq!(sim.keystatus("tank/secret/x"), "available");
    // The simulator writes the state back in the same format.
    let text = fs::read_to_string(sim.state_dir().join("datasets")).unwrap();
    assert!(text.contains("key=p%E4ss%20word%0D"), "{text}");
    assert!(text.contains("keystatus=available"), "{text}");
}

#[test]
fn bad_state_is_a_clear_error() {
    let sim = Sim::new();
    sim.write_state("nest/a\n");
    let out = common::run_with_timeout(sim.command(&["list"]), TIMEOUT);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("zfs-sim: state file "), "{err}");
    assert!(err.contains("line 1: parent 'nest' of 'nest/a'"), "{err}");

    sim.write_state("nest\nnest/a keyformat=passphrase key=short\n");
    let out = common::run_with_timeout(sim.command(&["list"]), TIMEOUT);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("8..=512"));
}

#[test]
fn missing_zfs_sim_dir_is_a_clear_error() {
    let mut cmd = std::process::Command::new(common::zfs_sim_bin());
    cmd.args(["list"]).env_remove("ZFS_SIM_DIR");
    let out = common::run_with_timeout(cmd, TIMEOUT);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("zfs-sim: ZFS_SIM_DIR is not set"));
}

#[test]
fn call_log_records_argv_but_never_stdin() {
    let sim = Sim::new();
    sim.pool("nest");
    sim.encrypted_root("nest/a", b"hunter2hunter2");
    common::run_with_timeout(
        sim.command(&["get", "-H", "-o", "value", "keystatus", "nest/a"]),
        TIMEOUT,
    );
    common::run_with_input(
        sim.command(&["load-key", "nest/a"]),
        b"hunter2hunter2\n",
        TIMEOUT,
    );
    common::run_with_timeout(sim.command(&["list", "with space", "%odd"]), TIMEOUT);
    assert_eq!(
        sim.calls(),
        vec![
            vec!["get", "-H", "-o", "value", "keystatus", "nest/a"],
            vec!["load-key", "nest/a"],
            vec!["list", "with space", "%odd"],
        ]
    );
    let log = fs::read_to_string(sim.state_dir().join("calls.log")).unwrap();
    assert!(!log.contains("hunter2"), "{log}");
    assert_eq!(sim.count_calls("load-key"), 1);
}

#[test]
fn zfs_on_path_through_envs() {
    let sim = Sim::new();
    sim.pool("nest");
    let mut cmd = std::process::Command::new("sh");
    cmd.args(["-c", "zfs list -H -o name"]).envs(sim.envs());
    let out = common::run_with_timeout(cmd, TIMEOUT);
    assert_eq!(out.stdout, b"nest\n", "{}", common::show(&out));
    assert_eq!(sim.calls(), vec![vec!["list", "-H", "-o", "name"]]);
}

#[test]
fn mount_makes_files_visible_and_needs_the_key() {
    let sim = Sim::new();
    sim.pool("nest");
    sim.encrypted_root("nest/a", b"hunter2hunter2");
    sim.child("nest/a/b");
    fs::write(sim.data_dir("nest/a").join("hello.txt"), "secret data").unwrap();

    let out = common::run_with_timeout(sim.command(&["mount", "nest/a"]), TIMEOUT);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        out.stderr,
        b"cannot mount 'nest/a': encryption key not loaded\n"
    );
    assert!(!sim.mount_path("/nest/a/hello.txt").exists());

    sim.load("nest/a");
    let out = common::run_with_timeout(sim.command(&["mount", "-a"]), TIMEOUT);
    assert!(out.status.success(), "{}", common::show(&out));
    assert!(sim.is_mounted("nest") && sim.is_mounted("nest/a") && sim.is_mounted("nest/a/b"));
    assert_eq!(
        fs::read_to_string(sim.mount_path("/nest/a/hello.txt")).unwrap(),
        "secret data"
    );
    fs::write(sim.mount_path("/nest/a/b/new.txt"), "x").unwrap();
    assert!(sim.data_dir("nest/a/b").join("new.txt").exists());

    let out = common::run_with_timeout(sim.command(&["unload-key", "nest/a"]), TIMEOUT);
    assert_eq!(out.stderr, b"Key unload error: 'nest/a' is busy.\n");

    let out = common::run_with_timeout(sim.command(&["unmount", "nest/a"]), TIMEOUT);
    assert!(out.status.success(), "{}", common::show(&out));
    assert!(!sim.is_mounted("nest/a") && !sim.is_mounted("nest/a/b"));
    assert!(sim.is_mounted("nest"));
    assert!(!sim.mount_path("/nest/a/hello.txt").exists());
    assert!(
        sim.mount_path("/nest/a").is_dir(),
        "the mountpoint directory stays"
    );

    let out = common::run_with_timeout(sim.command(&["umount", "-a"]), TIMEOUT);
    assert!(out.status.success());
    assert!(!sim.is_mounted("nest"));
}

#[test]
fn helper_refuses_impossible_passphrases() {
    let sim = Sim::new();
    sim.pool("nest");
    let short = std::panic::catch_unwind(|| sim.encrypted_root("nest/a", b"1234567"));
    assert!(short.is_err());
    let long = std::panic::catch_unwind(|| sim.encrypted_root("nest/b", &[b'x'; 513]));
    assert!(long.is_err());
    sim.encrypted_root("nest/c", &[b'x'; 512]);
    sim.encrypted_root("nest/d", b"12345678");
}
