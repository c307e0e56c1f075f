//! Adversarial suite, passphrase content: bytes and lengths at the edges of
//! what OpenZFS accepts, from a console and over the control socket. One
//! test per case; the `case:`/`outcome:` comments feed docs/robustness.md.

mod common;
mod kit;

use std::time::Duration;

use common::{Sim, TIMEOUT};
use kit::{
    Pty, assert_not_leaked, control_exchange, default_socket, finish, locked_by_status,
    spawn_prompt, spawn_wait, stop, unlock_request,
};

const PASS: &[u8] = b"hunter2hunter2";

/// Sends `pass` over the control socket of a waiting gate; returns the answer.
fn over_socket(sim: &Sim, pass: &[u8]) -> String {
    control_exchange(&default_socket(sim), &unlock_request(pass))
}

/// case: Passphrase content / embedded NUL (over the control socket)
/// outcome: passed to zfs unchanged; zfs ends a passphrase at its first NUL, so "hunter2hunter2\0junk" opens a root whose passphrase is "hunter2hunter2" (OpenZFS 2.3.2 does the same, see the reference record)
#[test]
fn embedded_nul() {
    let sim = Sim::locked_root(PASS);
    let gate = spawn_wait(&sim, &[]);
    let answer = over_socket(&sim, b"hunter2hunter2\0junk");
    let out = finish(gate, TIMEOUT);
    assert!(
        answer.starts_with("KEYGATE/1 OK\nopened\tnest/a\n"),
        "{answer}"
    );
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert_eq!(sim.count_calls("load-key"), 1);
}

/// case: Passphrase content / newline in the middle (over the control socket)
/// outcome: refused before any zfs call ("contains a newline": zfs would use only the first line); the gate keeps waiting
#[test]
fn newline_in_the_middle() {
    let sim = Sim::locked_root(PASS);
    let gate = spawn_wait(&sim, &[]);
    let answer = over_socket(&sim, b"hunter2hunter2\nsecond line");
    assert!(
        answer.starts_with("KEYGATE/1 ERROR That passphrase contains a newline (after byte 14)"),
        "{answer}"
    );
    assert_eq!(sim.count_calls("load-key"), 0);
    assert_eq!(locked_by_status(&sim), ["nest/a"]);
    let out = stop(gate);
    assert_eq!(out.status.code(), Some(1));
    assert_not_leaked(&sim, &out, &[&answer], b"second line");
}

/// case: Passphrase content / CR LF line ending typed at a console
/// outcome: CR ends the entry and the LF right after it belongs to the same Enter: no empty second entry, nothing reported as discarded; the passphrase unlocks, exit 0
#[test]
fn cr_lf_at_a_console() {
    let sim = Sim::locked_root(PASS);
    let tty = Pty::new();
    let gate = spawn_prompt(&sim, &[&tty], &[]);
    tty.expect("Enter passphrase for nest/a: ");
    tty.type_bytes(b"wrong-passphrase\r\n");
    tty.expect("wrong passphrase for nest/a");
    tty.expect_n("Enter passphrase for nest/a: ", 2, Duration::from_secs(20));
    tty.type_bytes(b"hunter2hunter2\r\n");
    let out = finish(gate, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert!(
        !tty.output().contains("Empty passphrase"),
        "{}",
        tty.output()
    );
    assert!(!tty.output().contains("discarded"), "{}", tty.output());
    assert_eq!(sim.count_calls("load-key"), 2);
}

/// case: Passphrase content / CR LF at the end (over the control socket)
/// outcome: refused before any zfs call like any passphrase holding a newline (the protocol adds and expects none); the gate keeps waiting
#[test]
fn cr_lf_over_the_socket() {
    let sim = Sim::locked_root(PASS);
    let gate = spawn_wait(&sim, &[]);
    let answer = over_socket(&sim, b"hunter2hunter2\r\n");
    assert!(answer.contains("contains a newline"), "{answer}");
    assert_eq!(sim.count_calls("load-key"), 0);
    let answer = over_socket(&sim, PASS);
    assert!(answer.contains("opened\tnest/a"), "{answer}");
    let out = finish(gate, TIMEOUT);
    assert_eq!(out.status.code(), Some(0));
}

/// case: Passphrase content / exactly 8 bytes (the shortest ZFS accepts)
/// outcome: tried (one load-key); the right one unlocks, exit 0
#[test]
fn exactly_8_bytes() {
    let sim = Sim::locked_root(b"12345678");
    let tty = Pty::new();
    let gate = spawn_prompt(&sim, &[&tty], &[]);
    tty.expect("Enter passphrase for nest/a: ");
    tty.type_bytes(b"12345678\r");
    let out = finish(gate, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert_eq!(sim.count_calls("load-key"), 1);
}

/// case: Passphrase content / exactly 512 bytes (the longest ZFS accepts)
/// outcome: tried (one load-key); the right one unlocks, exit 0
#[test]
fn exactly_512_bytes() {
    let pass = vec![b'p'; 512];
    let sim = Sim::locked_root(&pass);
    let tty = Pty::new();
    let gate = spawn_prompt(&sim, &[&tty], &[]);
    tty.expect("Enter passphrase for nest/a: ");
    tty.type_bytes(&[&pass[..], b"\r"].concat());
    let out = finish(gate, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert_eq!(sim.count_calls("load-key"), 1);
}

/// case: Passphrase content / 513 bytes typed at a console
/// outcome: "too long (513 bytes)" before any zfs call; prompted again
#[test]
fn bytes_513_at_a_console() {
    let sim = Sim::locked_root(PASS);
    let tty = Pty::new();
    let gate = spawn_prompt(&sim, &[&tty], &[]);
    tty.expect("Enter passphrase for nest/a: ");
    tty.type_bytes(&[&vec![b'p'; 513][..], b"\r"].concat());
    tty.expect("too long (513 bytes)");
    tty.expect_n("Enter passphrase for nest/a: ", 2, Duration::from_secs(20));
    assert_eq!(sim.count_calls("load-key"), 0);
    tty.type_bytes(b"hunter2hunter2\r");
    let out = finish(gate, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
}

/// case: Passphrase content / 513 bytes (and 7 bytes) over the control socket
/// outcome: answered "KEYGATE/1 ERROR ... too long (513 bytes)" / "too short (7 bytes)" before any zfs call; the gate keeps waiting
#[test]
fn bytes_513_over_the_socket() {
    let sim = Sim::locked_root(PASS);
    let gate = spawn_wait(&sim, &[]);
    let answer = over_socket(&sim, &vec![b'p'; 513]);
    assert!(answer.starts_with("KEYGATE/1 ERROR "), "{answer}");
    assert!(answer.contains("too long (513 bytes)"), "{answer}");
    let answer = over_socket(&sim, b"1234567");
    assert!(answer.contains("too short (7 bytes)"), "{answer}");
    assert_eq!(sim.count_calls("load-key"), 0);
    assert_eq!(locked_by_status(&sim), ["nest/a"]);
    let out = stop(gate);
    assert_eq!(out.status.code(), Some(1));
}
