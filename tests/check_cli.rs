//! `keygate check` and the global options, run as a user would, against the
//! ZFS simulator: output, exit codes, and one zfs execution per read.

mod common;
mod kit;

use std::time::Duration;

use common::{Fault, Sim, SpawnGuarded, TIMEOUT, run_with_timeout};
use kit::{keygate, stderr_of, stdout_of};

const PASS: &[u8] = b"hunter2hunter2";

#[test]
fn table_lists_roots_and_exit_1_when_locked() {
    let sim = Sim::locked_and_plain(PASS);
    let out = run_with_timeout(keygate(&sim, &["check"]), TIMEOUT);
    assert_eq!(out.status.code(), Some(1), "{}", common::show(&out));
    assert_eq!(
        stdout_of(&out),
        "ROOT    KEYSTATUS    KEYFORMAT   KEYLOCATION  DATASETS\n\
         nest/a  unavailable  passphrase  prompt       nest/a,nest/a/b\n"
    );
}

#[test]
fn exit_0_when_every_key_is_available() {
    let sim = Sim::locked_and_plain(PASS);
    sim.load("nest/a");
    let out = run_with_timeout(keygate(&sim, &["check", "nest"]), TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert!(stdout_of(&out).contains("nest/a  available"));
}

#[test]
fn unencrypted_pool_has_nothing_to_unlock() {
    let sim = Sim::new();
    sim.pool("tank");
    sim.child("tank/data");
    let out = run_with_timeout(keygate(&sim, &["check"]), TIMEOUT);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout_of(&out), "no encryption roots found\n");
}

#[test]
fn json_output() {
    let sim = Sim::locked_and_plain(PASS);
    let out = run_with_timeout(keygate(&sim, &["check", "--json", "nest"]), TIMEOUT);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout_of(&out),
        "{\"roots\":[{\"name\":\"nest/a\",\"keystatus\":\"unavailable\",\"keyformat\":\"passphrase\",\"keylocation\":\"prompt\",\"datasets\":[\"nest/a\",\"nest/a/b\"]}],\"locked\":[\"nest/a\"]}\n"
    );
}

#[test]
fn one_zfs_execution_for_many_targets() {
    let sim = Sim::locked_and_plain(PASS);
    sim.pool("tank");
    sim.encrypted_root("tank/x", b"passphrase-x");
    sim.encrypted_root("tank/y", b"passphrase-y");
    let out = run_with_timeout(
        keygate(&sim, &["check", "nest", "tank/x", "tank/y", "nest/a/b"]),
        TIMEOUT,
    );
    assert_eq!(out.status.code(), Some(1), "{}", common::show(&out));
    let calls = sim.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0][0], "get");
    assert!(calls[0].contains(&"-H".to_string()) && calls[0].contains(&"-p".to_string()));
    let text = stdout_of(&out);
    for root in ["nest/a", "tank/x", "tank/y"] {
        assert!(text.contains(root), "{text}");
    }
}

#[test]
fn target_below_a_root_names_the_root() {
    let sim = Sim::locked_and_plain(PASS);
    let out = run_with_timeout(keygate(&sim, &["check", "nest/a/b"]), TIMEOUT);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout_of(&out).contains("nest/a  unavailable"),
        "{}",
        stdout_of(&out)
    );
}

#[test]
fn missing_target_is_named_and_exit_2() {
    let sim = Sim::locked_and_plain(PASS);
    let out = run_with_timeout(keygate(&sim, &["check", "nest", "nope/x"]), TIMEOUT);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr_of(&out),
        "keygate: error: dataset does not exist: nope/x\n"
    );
}

#[test]
fn zfs_program_missing() {
    let sim = Sim::locked_and_plain(PASS);
    let out = run_with_timeout(
        keygate(&sim, &["--zfs", "/nonexistent/zfs", "check"]),
        TIMEOUT,
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr_of(&out),
        "keygate: error: the zfs program '/nonexistent/zfs' was not found (use --zfs PATH to name it)\n"
    );
}

#[test]
fn zfs_garbage_with_failure_status() {
    let sim = Sim::locked_and_plain(PASS);
    sim.fault("get", Fault::Garbage { rc: 1 });
    let out = run_with_timeout(keygate(&sim, &["check"]), TIMEOUT);
    assert_eq!(out.status.code(), Some(2), "{}", common::show(&out));
    let err = stderr_of(&out);
    assert!(err.contains("exited with status 1"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn zfs_garbage_with_success_status_is_a_parse_error() {
    let sim = Sim::locked_and_plain(PASS);
    sim.fault("get", Fault::Garbage { rc: 0 });
    let out = run_with_timeout(keygate(&sim, &["check"]), TIMEOUT);
    assert_eq!(out.status.code(), Some(2), "{}", common::show(&out));
    let err = stderr_of(&out);
    assert!(err.contains("cannot understand the output of"), "{err}");
    assert!(err.contains("line 1"), "{err}");
}

#[test]
fn zfs_killed_by_a_signal() {
    let sim = Sim::locked_and_plain(PASS);
    sim.fault("get", Fault::Crash("SEGV"));
    let out = run_with_timeout(keygate(&sim, &["check"]), TIMEOUT);
    assert_eq!(out.status.code(), Some(2), "{}", common::show(&out));
    assert!(
        stderr_of(&out).contains("was killed by signal 11"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn zfs_partial_output_then_failure() {
    let sim = Sim::locked_and_plain(PASS);
    sim.fault(
        "get",
        Fault::Partial {
            bytes: Some(50),
            rc: Some(0),
        },
    );
    let out = run_with_timeout(keygate(&sim, &["check"]), TIMEOUT);
    assert_eq!(out.status.code(), Some(2), "{}", common::show(&out));
    assert!(
        stderr_of(&out).contains("cannot understand the output"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn zfs_hang_is_killed_after_the_timeout() {
    let sim = Sim::locked_and_plain(PASS);
    sim.fault("get", Fault::Hang);
    let timed = common::run_timed(
        keygate(&sim, &["--zfs-timeout", "500ms", "check"]),
        None,
        Duration::from_secs(20),
    );
    assert!(!timed.timed_out, "keygate itself hung");
    assert_eq!(timed.output.status.code(), Some(2));
    let err = stderr_of(&timed.output);
    assert!(
        err.contains("timed out after 500ms and was killed"),
        "{err}"
    );
    assert!(
        err.contains(" get -H -p "),
        "the message names the call: {err}"
    );
    assert!(
        timed.elapsed < Duration::from_secs(10),
        "{:?}",
        timed.elapsed
    );
}

#[test]
fn usage_errors_exit_2_with_one_clear_line() {
    let sim = Sim::locked_and_plain(PASS);
    for (args, needle) in [
        (
            &["--zfs-timeout", "5x", "check"][..],
            "'5x' has unknown unit",
        ),
        (
            &["gate", "--mode", "sometimes"][..],
            "invalid value 'sometimes' for '--mode",
        ),
        (
            &["--service-manager", "upstart", "check"][..],
            "invalid value 'upstart'",
        ),
        (
            &["gate", "--poll-interval", "soon"][..],
            "'soon' does not start with a number",
        ),
        (&["frobnicate"][..], "unrecognized subcommand 'frobnicate'"),
        (
            &["--zfs-timeout", "0s", "check"][..],
            "invalid value '0s' for '--zfs-timeout <DURATION>': must be longer than 0s",
        ),
        (
            &["gate", "--poll-interval", "0ms"][..],
            "invalid value '0ms' for '--poll-interval <DURATION>': must be longer than 0s",
        ),
        (
            &["gate", "--console", "/dev/ttyS1", "--console", "ttyS0"][..],
            "invalid value 'ttyS0' for '--console <PATH>': expected an absolute path such as /dev/ttyS1",
        ),
        (
            &["render", "systemd", "--console", "dev/ttyS1"][..],
            "invalid value 'dev/ttyS1' for '--console <PATH>'",
        ),
        (
            &["gate", "--socket", "control.sock"][..],
            "invalid value 'control.sock' for '--socket <PATH>': expected an absolute path such as /run/keygate/control.sock",
        ),
        (
            &["unlock", "--socket", "./control.sock"][..],
            "invalid value './control.sock' for '--socket <PATH>'",
        ),
        (
            &["status", "--socket", ""][..],
            "invalid value '' for '--socket <PATH>'",
        ),
    ] {
        let out = run_with_timeout(keygate(&sim, args), TIMEOUT);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            common::show(&out)
        );
        let err = stderr_of(&out);
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    assert_eq!(
        sim.calls(),
        Vec::<Vec<String>>::new(),
        "a usage error ran zfs"
    );
}

#[test]
fn help_and_version() {
    let sim = Sim::new();
    for sub in [
        &["--help"][..],
        &["check", "--help"],
        &["gate", "--help"],
        &["render", "--help"],
    ] {
        let out = run_with_timeout(keygate(&sim, sub), TIMEOUT);
        assert_eq!(out.status.code(), Some(0), "{sub:?}");
        assert!(stdout_of(&out).contains("Usage: keygate"), "{sub:?}");
    }
    let gate_help = stdout_of(&run_with_timeout(
        keygate(&sim, &["gate", "--help"]),
        TIMEOUT,
    ));
    assert!(gate_help.contains("--on-timeout"), "{gate_help}");
    let out = run_with_timeout(keygate(&sim, &["--version"]), TIMEOUT);
    assert_eq!(
        stdout_of(&out),
        format!("keygate {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn a_closed_stdout_is_not_a_crash() {
    let sim = Sim::locked_and_plain(PASS);
    let mut cmd = keygate(&sim, &["check"]);
    let (reader, writer) = nix::unistd::pipe().unwrap();
    drop(reader);
    cmd.stdout(std::process::Stdio::from(writer))
        .stderr(std::process::Stdio::piped());
    let out = kit::finish(cmd.spawn_guarded(), TIMEOUT);
    assert_eq!(out.status.code(), Some(1), "{}", common::show(&out));
    assert!(!stderr_of(&out).contains("panicked"), "{}", stderr_of(&out));
}
