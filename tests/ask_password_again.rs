//! A failed ask-password reply is reported where the person answered: the
//! request published after it says why (`Message=`), so plymouth, systemd's
//! console agent and `systemd-tty-ask-password-agent` show it. Also: an
//! explicit `--ask-password` is honoured in wait mode.

mod common;
mod kit;

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::signal::Signal;

use common::{ChildGuard, SpawnGuarded};
use common::{Sim, TIMEOUT};
use kit::{NotifySocket, Pty, eventually, finish, host_root, keygate, on_terminal, signal, stop};

const PASS: &[u8] = b"rightpass1";

fn ask_dir(sim: &Sim) -> PathBuf {
    host_root(sim).join("run/systemd/ask-password")
}

/// The published ask files (name, contents).
fn asks(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("ask.") {
            out.push((name, std::fs::read_to_string(e.path()).unwrap_or_default()));
        }
    }
    out
}

fn field<'a>(ask: &'a str, key: &str) -> &'a str {
    ask.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or("")
}

/// The next ask file not named `not_named`.
fn next_ask(dir: &Path, not_named: Option<&str>) -> (String, String) {
    let mut found = None;
    assert!(
        eventually(Duration::from_secs(10), || {
            found = asks(dir)
                .into_iter()
                .find(|(n, c)| Some(n.as_str()) != not_named && c.contains("\nMessage="));
            found.is_some()
        }),
        "no new ask file in {}",
        dir.display()
    );
    found.unwrap()
}

fn reply(ask: &str, bytes: &[u8]) {
    let sock = UnixDatagram::unbound().unwrap();
    sock.send_to(bytes, field(ask, "Socket")).unwrap();
}

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
    let agent = "/usr/bin/systemd-tty-ask-password-agent";
    if !Path::new(agent).exists() || !nix::unistd::Uid::effective().is_root() {
        eprintln!("skipped: needs root and {agent}");
        return;
    }
    let probe = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "true"])
        .status();
    if !matches!(probe, Ok(s) if s.success()) {
        eprintln!("skipped: cannot create a mount namespace here");
        return;
    }
    let sim = Sim::locked_root(PASS);
    let notify = NotifySocket::new();
    let gate = spawn_gate(&sim, &notify, &[]);
    let dir = ask_dir(&sim);
    next_ask(&dir, None);
    let tty = Pty::new();
    let script = format!(
        "mkdir -p /run/systemd/ask-password && mount --bind '{}' /run/systemd/ask-password && exec {agent} --watch",
        dir.display()
    );
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c", &script]);
    let agent_child = on_terminal(cmd, &tty).spawn_guarded();
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
