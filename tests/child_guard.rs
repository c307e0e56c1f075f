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
