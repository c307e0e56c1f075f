//! Adversarial suite, ZFS: a `zfs` that is missing, hangs, crashes, talks
//! nonsense, and pools and keys that change under a waiting gate. One test
//! per case; the `case:`/`outcome:` comments feed docs/robustness.md.

mod common;
mod kit;

use std::time::Duration;

use common::{Fault, Sim, TIMEOUT};
use kit::{
    control_exchange, default_socket, finish, keygate, locked_by_status, signal, spawn, spawn_wait,
    stderr_of, unlock_request,
};
use nix::sys::signal::Signal;

const PASS: &[u8] = b"hunter2hunter2";

/// Runs a gate in wait mode to the end.
fn gate_wait(sim: &Sim, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["gate", "--mode", "wait", "--timeout", "30s"];
    args.extend_from_slice(extra);
    finish(spawn(sim, &args), TIMEOUT)
}

/// The error lines of a run (without the hint lines of wait mode).
fn errors(out: &std::process::Output) -> Vec<String> {
    stderr_of(out)
        .lines()
        .filter(|l| l.contains("error:"))
        .map(str::to_owned)
        .collect()
}

/// case: ZFS / the zfs program is missing
/// outcome: one line "the zfs program '...' was not found (use --zfs PATH to name it)"; exit 2 (96 under SMF); nothing else runs
#[test]
fn zfs_missing() {
    let sim = Sim::locked_root_with_child(PASS);
    let out = gate_wait(&sim, &["--zfs", "/nonexistent/sbin/zfs"]);
    assert_eq!(out.status.code(), Some(2), "{}", common::show(&out));
    assert_eq!(
        errors(&out),
        [
            "keygate: error: the zfs program '/nonexistent/sbin/zfs' was not found (use --zfs PATH to name it)"
        ]
    );
    let mut smf = keygate(&sim, &["gate", "--zfs", "/nonexistent/sbin/zfs"]);
    smf.env("SMF_FMRI", "svc:/system/filesystem/keygate:default");
    let out = common::run_with_timeout(smf, TIMEOUT);
    assert_eq!(out.status.code(), Some(96), "{}", common::show(&out));
}

/// case: ZFS / zfs hangs
/// outcome: the call is killed (its whole process group) after --zfs-timeout; one error line naming the call and the timeout; exit 1
#[test]
fn zfs_hangs() {
    let sim = Sim::locked_root_with_child(PASS);
    sim.fault("get", Fault::Hang);
    let out = gate_wait(&sim, &["--zfs-timeout", "1s"]);
    assert_eq!(out.status.code(), Some(1), "{}", common::show(&out));
    let e = errors(&out);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].contains("'zfs get -H -p"), "{e:?}");
    assert!(e[0].contains("timed out after 1s and was killed"), "{e:?}");
}

/// case: ZFS / zfs crashes by a signal
/// outcome: one error line "'zfs get ...' was killed by signal 11"; exit 1
#[test]
fn zfs_crashes() {
    let sim = Sim::locked_root_with_child(PASS);
    sim.fault("get", Fault::Crash("SEGV"));
    let out = gate_wait(&sim, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", common::show(&out));
    let e = errors(&out);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].contains("'zfs get -H -p"), "{e:?}");
    assert!(e[0].contains("was killed by signal 11"), "{e:?}");
}

/// case: ZFS / zfs prints garbage (exit status 0)
/// outcome: one error line "cannot understand the output of 'zfs get ...': line 1: ..."; no key is tried; exit 1
#[test]
fn zfs_garbage() {
    let sim = Sim::locked_root_with_child(PASS);
    sim.fault("get", Fault::Garbage { rc: 0 });
    let out = gate_wait(&sim, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", common::show(&out));
    let e = errors(&out);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].contains("cannot understand the output of 'zfs get"),
        "{e:?}"
    );
    assert_eq!(sim.count_calls("load-key"), 0);
}

/// case: ZFS / zfs error text holding terminal escape sequences and line breaks
/// outcome: one error line naming the call and zfs's first lines joined with " / ", every control character in them shown as an escape (\u{1b}), none written raw; exit 1
#[test]
fn zfs_error_text_with_escapes() {
    let sim = Sim::locked_root_with_child(PASS);
    sim.fault(
        "get",
        Fault::Fail {
            rc: 1,
            stderr:
                "cannot open 'nest': \u{1b}[2J\u{1b}[31mI/O error\r\n\u{1b}]0;x\u{7}second line\n"
                    .into(),
        },
    );
    let out = gate_wait(&sim, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", common::show(&out));
    let err = stderr_of(&out);
    let e = errors(&out);
    assert_eq!(e.len(), 1, "{err:?}");
    assert!(e[0].contains("'zfs get -H -p"), "{e:?}");
    assert!(
        e[0].ends_with(
            "exited with status 1: cannot open 'nest': \\u{1b}[2J\\u{1b}[31mI/O error / \\u{1b}]0;x\\u{7}second line"
        ),
        "{e:?}"
    );
    assert!(!err.replace('\n', "").contains(char::is_control), "{err:?}");
    assert_eq!(sim.count_calls("load-key"), 0);
}

/// case: ZFS / partial output, then EOF with status 0
/// outcome: a cut line or a dataset with properties missing is a parse error, never a partial plan: one error line naming the call; exit 1
#[test]
fn zfs_partial_output() {
    for bytes in [50, 200] {
        let sim = Sim::locked_root_with_child(PASS);
        sim.fault(
            "get",
            Fault::Partial {
                bytes: Some(bytes),
                rc: Some(0),
            },
        );
        let out = gate_wait(&sim, &[]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{bytes}: {}",
            common::show(&out)
        );
        let e = errors(&out);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].contains("cannot understand the output of 'zfs get"),
            "{e:?}"
        );
    }
}

/// case: ZFS / dataset names with spaces and unusual characters
/// outcome: shown as they are, quoted for the shell in the hint ('zfs load-key -r 'nest/my data:2.x-1_y''), passed to zfs as one argument; unlocks, exit 0
#[test]
fn unusual_dataset_names() {
    let sim = Sim::new();
    sim.pool("nest");
    let name = "nest/my data:2.x-1_y";
    sim.encrypted_root(name, PASS);
    let gate = spawn_wait(&sim, &[]);
    let answer = control_exchange(&default_socket(&sim), &unlock_request(PASS));
    let out = finish(gate, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert!(answer.contains(&format!("opened\t{name}\n")), "{answer}");
    assert!(
        stderr_of(&out).contains(&format!("zfs load-key -r '{name}'")),
        "{}",
        stderr_of(&out)
    );
    let loads: Vec<_> = sim
        .calls()
        .into_iter()
        .filter(|c| c[0] == "load-key")
        .collect();
    assert_eq!(loads, [["load-key", "-L", "prompt", name]]);
}

/// case: ZFS / the pool is exported while the gate waits (no targets given)
/// outcome: the vanished root is not taken for unlocked: "dataset does not exist: nest/a; still waiting", reported once; when the pool is back and its key loaded, the gate continues, exit 0
#[test]
fn pool_exported_while_waiting() {
    let sim = Sim::locked_root_with_child(PASS);
    let gate = spawn_wait(&sim, &["--poll-interval", "100ms"]);
    let imported = sim.state();
    sim.update(|s| {
        s.datasets
            .retain(|n, _| n != "nest" && !n.starts_with("nest/"))
    });
    std::thread::sleep(Duration::from_secs(2));
    assert!(!kit::exited(&gate), "the gate gave up on an exported pool");
    assert_eq!(locked_by_status(&sim), ["nest/a"]);
    sim.update(|s| *s = imported.clone());
    sim.load("nest/a");
    let out = finish(gate, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    let err = stderr_of(&out);
    assert_eq!(
        err.matches("dataset does not exist: nest/a; still waiting")
            .count(),
        1,
        "{err}"
    );
}

/// case: ZFS / the pool of an explicit target is exported while the gate waits
/// outcome: the poll fails "dataset does not exist: nest/a; still waiting", reported once; the gate continues once the pool is back with its key loaded, exit 0
#[test]
fn target_pool_exported_while_waiting() {
    let sim = Sim::locked_root_with_child(PASS);
    let gate = spawn_wait(&sim, &["--poll-interval", "100ms", "nest/a"]);
    let imported = sim.state();
    sim.update(|s| s.datasets.clear());
    std::thread::sleep(Duration::from_secs(2));
    assert!(!kit::exited(&gate));
    sim.update(|s| *s = imported.clone());
    sim.load("nest/a");
    let out = finish(gate, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert_eq!(
        stderr_of(&out)
            .matches("dataset does not exist: nest/a; still waiting")
            .count(),
        1
    );
}

/// case: ZFS / a key loaded and unloaded again by hand while the gate waits
/// outcome: the gate only trusts what a poll sees: after the unload it keeps waiting (no READY on a state it never saw) and continues once a poll finds the key loaded, exit 0; it never unloads a key itself
#[test]
fn key_loaded_and_unloaded_by_hand() {
    let sim = Sim::locked_root_with_child(PASS);
    let gate = spawn_wait(&sim, &[]);
    sim.load("nest/a");
    sim.unload("nest/a");
    signal(&gate, Signal::SIGUSR1);
    std::thread::sleep(Duration::from_secs(1));
    assert!(!kit::exited(&gate), "continued on a key that is not loaded");
    assert_eq!(locked_by_status(&sim), ["nest/a"]);
    sim.load("nest/a");
    signal(&gate, Signal::SIGUSR1);
    let out = finish(gate, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert_eq!(sim.keystatus("nest/a"), "available");
    assert_eq!(sim.count_calls("unload-key"), 0);
}
