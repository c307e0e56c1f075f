//! A failed ask-password reply is reported where the person answered: the
//! request published after it says why (`Message=`), so plymouth, systemd's
//! console agent and `systemd-tty-ask-password-agent` show it. Also: an
//! explicit `--ask-password` is honoured in wait mode.

mod common;
mod kit;

use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::Signal;

use common::{ChildGuard, SpawnGuarded};
use common::{Sim, TIMEOUT};
use kit::ask::{ask_dir, asks, field, next_ask, reply, spawn_tty_agent, tty_agent_unavailable};
use kit::{NotifySocket, Pty, eventually, finish, keygate, signal, stop};

const PASS: &[u8] = b"rightpass1";

/// A gate under systemd (NOTIFY_SOCKET set): ask-password on, no console
/// prompted directly.
fn spawn_gate(sim: &Sim, notify: &NotifySocket, extra: &[&str]) -> ChildGuard {
    let mut args = vec!["gate", "--poll-interval", "1h"];
    args.extend_from_slice(extra);
    let mut cmd = keygate(sim, &args);
    cmd.env("NOTIFY_SOCKET", notify.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.spawn_guarded()
}

#[test]
fn each_failed_reply_is_named_in_the_next_request() {
    let sim = Sim::locked_root(PASS);
    let notify = NotifySocket::new();
    let gate = spawn_gate(&sim, &notify, &[]);
    let dir = ask_dir(&sim);
    let (name, ask) = next_ask(&dir, None);
    assert_eq!(field(&ask, "Message"), "Enter passphrase for nest/a");
    let mut last = name;
    for (answer, message) in [
        (
            &b"+wrongpass1"[..],
            "Wrong passphrase for nest/a; enter it again",
        ),
        (
            b"+short",
            "That passphrase is too short (5 bytes): ZFS passphrases are at least 8 bytes; enter the passphrase for nest/a again",
        ),
        (
            b"+two\nlines-of-it",
            "That passphrase contains a newline (after byte 3): ZFS reads only the first line of a passphrase, so it cannot be tried; enter the passphrase for nest/a again",
        ),
        (
            b"+",
            "Empty passphrase; enter the passphrase for nest/a again",
        ),
    ] {
        let (_, ask) = asks(&dir)
            .into_iter()
            .find(|(n, _)| *n == last)
            .expect("the request in force");
        reply(&ask, answer);
        let (name, ask) = next_ask(&dir, Some(&last));
        assert_eq!(field(&ask, "Message"), message);
        last = name;
    }
    // The journal says it too (stderr here).
    let (_, ask) = next_ask(&dir, None);
    reply(&ask, b"+rightpass1");
    let out = finish(gate, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert_eq!(sim.count_calls("load-key"), 2, "refused replies ran no zfs");
    assert!(
        kit::stderr_of(&out).contains("wrong passphrase from a systemd password agent for nest/a"),
        "{}",
        common::show(&out)
    );
}

/// The real agent from Debian's systemd package, in a private mount
/// namespace where /run/systemd/ask-password is this test's directory:
/// after a wrong reply, its next question says the passphrase was wrong.
#[test]
fn real_tty_agent_shows_the_wrong_passphrase() {
    if let Some(why) = tty_agent_unavailable() {
        return common::skip(&why);
    }
    let sim = Sim::locked_root(PASS);
    let notify = NotifySocket::new();
    let gate = spawn_gate(&sim, &notify, &[]);
    let dir = ask_dir(&sim);
    next_ask(&dir, None);
    let tty = Pty::new();
    let agent_child = spawn_tty_agent(&dir, &tty, "--watch");
    tty.expect("Enter passphrase for nest/a");
    tty.type_bytes(b"wrongpass1\r");
    tty.expect("Wrong passphrase for nest/a; enter it again");
    tty.type_bytes(b"tiny\r");
    tty.expect("That passphrase is too short (4 bytes)");
    tty.type_bytes(b"rightpass1\r");
    let out = finish(gate, TIMEOUT);
    signal(&agent_child, Signal::SIGTERM);
    let _ = finish(agent_child, TIMEOUT);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\nagent tty:\n{}",
        common::show(&out),
        tty.output()
    );
    assert_eq!(sim.keystatus("nest/a"), "available");
    let screen = tty.output();
    assert!(!screen.contains("wrongpass1"), "{screen}");
    assert!(!screen.contains("rightpass1"), "{screen}");
}

#[test]
fn wait_mode_publishes_a_request_when_asked_to() {
    let sim = Sim::locked_root(PASS);
    // No service manager: only the explicit flag turns the agents on.
    let gate = keygate(
        &sim,
        &[
            "gate",
            "--mode",
            "wait",
            "--ask-password",
            "--poll-interval",
            "1h",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn_guarded();
    let dir = ask_dir(&sim);
    let (_, ask) = next_ask(&dir, None);
    assert_eq!(field(&ask, "Message"), "Enter passphrase for nest/a");
    reply(&ask, b"+rightpass1");
    let out = finish(gate, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert_eq!(sim.keystatus("nest/a"), "available");
    let err = kit::stderr_of(&out);
    assert!(
        err.contains("zfs load-key"),
        "the wait hint is shown: {err}"
    );
}

#[test]
fn wait_mode_publishes_nothing_by_default() {
    let sim = Sim::locked_root(PASS);
    let notify = NotifySocket::new();
    let gate = spawn_gate(&sim, &notify, &["--mode", "wait"]);
    let socket = kit::default_socket(&sim);
    assert!(eventually(TIMEOUT, || socket.exists()));
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        asks(&ask_dir(&sim)).is_empty(),
        "wait mode asked the agents"
    );
    let _ = stop(gate);
}
