//! The tests' child guard: a gate, or any child with children of its own,
//! is gone once the test that started it has failed, so nothing a failing
//! test started outlives it.

mod common;
mod kit;

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Sim, SpawnGuarded};

/// Whether `pid` still exists as a live process (not a zombie).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !(s.contains(") Z ") || s.contains(") X ")),
        Err(_) => false,
    }
}

#[test]
fn a_panicking_test_leaves_no_gate_running() {
    let sim = Sim::locked_root(b"hunter2hunter2");
    let (tx, rx) = std::sync::mpsc::channel();
    let failed = std::thread::spawn(move || {
        let gate = kit::spawn_wait(&sim, &[]);
        tx.send((gate.id(), sim)).unwrap();
        panic!("a failing assertion while the gate runs");
    })
    .join();
    assert!(failed.is_err());
    let (pid, _sim) = rx.recv().unwrap();
    assert!(
        kit::eventually(Duration::from_secs(10), || !alive(pid)),
        "gate {pid} still runs after its test failed"
    );
}

#[test]
fn a_dropped_guard_kills_the_whole_process_group() {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "sleep 3600 & echo $!; wait"])
        .stdout(Stdio::piped())
        .process_group(0);
    let (tx, rx) = std::sync::mpsc::channel();
    let failed = std::thread::spawn(move || {
        let mut child = cmd.spawn_guarded();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        tx.send((child.id(), line.trim().parse::<u32>().unwrap()))
            .unwrap();
        panic!("a failing assertion while the child runs");
    })
    .join();
    assert!(failed.is_err());
    let (shell, sleeper) = rx.recv().unwrap();
    assert!(!alive(shell), "the child {shell} still runs");
    assert!(
        kit::eventually(Duration::from_secs(10), || !alive(sleeper)),
        "its own child {sleeper} still runs"
    );
}

/// A gate's zfs call runs in a process group of its own (so that a timeout
/// kills the whole call): when the gate's test fails while that call hangs,
/// the call goes too, and is not left behind as an orphan.
#[test]
fn a_hanging_zfs_call_of_a_failed_test_is_killed_too() {
    let sim = Sim::locked_root(b"hunter2hunter2");
    sim.fault_times("load-key", common::Fault::Hang, 1);
    let (tx, rx) = std::sync::mpsc::channel();
    let failed = std::thread::spawn(move || {
        let gate = kit::spawn_wait(&sim, &[]);
        let socket = kit::default_socket(&sim);
        // The unlock hangs in `zfs load-key`; the client is left waiting.
        std::thread::spawn(move || {
            let _ = kit::control_exchange(&socket, &kit::unlock_request(b"hunter2hunter2"));
        });
        let mut zfs = None;
        kit::eventually(Duration::from_secs(20), || {
            zfs = kit::children_of(gate.id()).into_iter().find(|c| {
                std::fs::read(format!("/proc/{c}/cmdline"))
                    .map(|b| kit::contains_bytes(&b, b"load-key"))
                    .unwrap_or(false)
            });
            zfs.is_some()
        });
        tx.send((gate.id(), zfs, sim)).unwrap();
        panic!("a failing assertion while zfs load-key hangs");
    })
    .join();
    assert!(failed.is_err());
    let (gate, zfs, _sim) = rx.recv().unwrap();
    let zfs = zfs.expect("no hanging zfs load-key child appeared");
    assert!(
        kit::eventually(Duration::from_secs(10), || !alive(gate)),
        "gate {gate} still runs"
    );
    assert!(
        kit::eventually(Duration::from_secs(10), || !alive(zfs)),
        "its zfs load-key {zfs} still runs, orphaned"
    );
}
