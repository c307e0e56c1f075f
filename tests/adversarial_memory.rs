//! Adversarial suite, memory: the gate's own memory is scanned (through
//! /proc/PID/mem, as root can) for passphrases it handled and let go of.
//! One test per case; the `case:`/`outcome:` comments feed
//! docs/robustness.md.

mod common;
mod kit;
mod memscan;

use std::time::Duration;

use nix::sys::signal::Signal;

use common::{Sim, TIMEOUT};
use kit::{
    Pty, assert_not_leaked, control_exchange, default_socket, eventually, finish, locked_by_status,
    signal, spawn_prompt, spawn_wait, unlock_request,
};

/// Waits until no copy of `needle` is left in process `pid` (the thread that
/// held it may need a moment to finish); fails with where copies remain.
fn assert_gone_from_memory(pid: u32, needle: &[u8]) {
    let mut hits = Vec::new();
    let gone = eventually(Duration::from_secs(10), || {
        hits = memscan::find_in_process_memory(pid as i32, needle).unwrap();
        hits.is_empty()
    });
    assert!(
        gone,
        "{:?} still in the gate's memory at {hits:?}",
        String::from_utf8_lossy(needle)
    );
}

/// case: Memory / after a rejected passphrase
/// outcome: no copy of the rejected passphrase (nor of the one that opened the first root) is left anywhere in the gate's memory while it prompts for the next
#[test]
fn after_a_rejected_passphrase() {
    let sim = Sim::new();
    sim.pool("nest");
    sim.encrypted_root("nest/a", b"first-passphrase-31c");
    sim.encrypted_root("nest/b", b"second-passphrase-8d2");
    let tty = Pty::new();
    let gate = spawn_prompt(&sim, &[&tty], &[]);
    tty.expect("Enter passphrase for nest (2 encryption roots): ");
    tty.type_bytes(b"rejected-guess-4e7b\r");
    tty.expect("wrong passphrase for nest/a, nest/b");
    tty.expect_n(
        "Enter passphrase for nest (2 encryption roots): ",
        2,
        TIMEOUT,
    );
    tty.type_bytes(b"first-passphrase-31c\r");
    tty.expect("Enter passphrase for nest/b: ");
    assert_gone_from_memory(gate.id(), b"rejected-guess-4e7b");
    assert_gone_from_memory(gate.id(), b"first-passphrase-31c");
    signal(&gate, Signal::SIGTERM);
    let out = finish(gate, TIMEOUT);
    assert_not_leaked(&sim, &out, &[&tty.output()], b"rejected-guess-4e7b");
}

/// case: Memory / after a partial entry abandoned with Ctrl-C
/// outcome: the abandoned bytes are wiped at once: no copy in the gate's memory while it prompts again; never tried
#[test]
fn after_a_partial_entry_abandoned_with_ctrl_c() {
    let sim = Sim::new();
    sim.pool("nest");
    sim.encrypted_root("nest/a", b"hunter2hunter2");
    let tty = Pty::new();
    let gate = spawn_prompt(&sim, &[&tty], &[]);
    tty.expect("Enter passphrase for nest/a: ");
    tty.type_bytes(b"abandoned-9f2c71");
    std::thread::sleep(Duration::from_millis(300));
    tty.type_bytes(b"\x03");
    tty.expect_n("Enter passphrase for nest/a: ", 2, TIMEOUT);
    assert_gone_from_memory(gate.id(), b"abandoned-9f2c71");
    assert_eq!(sim.count_calls("load-key"), 0);
    signal(&gate, Signal::SIGTERM);
    let out = finish(gate, TIMEOUT);
    assert_not_leaked(&sim, &out, &[&tty.output()], b"abandoned-9f2c71");
}

/// case: Memory / after an unlock over the control socket
/// outcome: with one of two roots opened over the socket, the gate goes on waiting for the other and keeps no copy of the passphrase it received
#[test]
fn after_a_socket_unlock() {
    let sim = Sim::new();
    sim.pool("nest");
    sim.encrypted_root("nest/a", b"socket-pass-6a4e1f");
    sim.encrypted_root("nest/b", b"other-pass-0b93d2");
    let gate = spawn_wait(&sim, &[]);
    let answer = control_exchange(
        &default_socket(&sim),
        &unlock_request(b"socket-pass-6a4e1f"),
    );
    assert!(
        answer.starts_with("KEYGATE/1 OK\nopened\tnest/a\nrejected\tnest/b\n"),
        "{answer}"
    );
    assert_eq!(locked_by_status(&sim), ["nest/b"]);
    // The scan does see the gate's memory: the name it still waits for is there.
    let seen = memscan::find_in_process_memory(gate.id() as i32, b"nest/b").unwrap();
    assert!(!seen.is_empty(), "the memory scan found nothing at all");
    assert_gone_from_memory(gate.id(), b"socket-pass-6a4e1f");
    signal(&gate, Signal::SIGTERM);
    let out = finish(gate, TIMEOUT);
    assert_not_leaked(&sim, &out, &[], b"socket-pass-6a4e1f");
}
