//! The systemd ask-password protocol: requests published for the agents,
//! replies as datagrams (`+passphrase`, `-`), and the real
//! `systemd-tty-ask-password-agent` answering through a pty.

mod common;
mod kit;

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use nix::sys::signal::Signal;

use common::{Sim, SpawnGuarded, TIMEOUT};
use kit::{
    NotifySocket, Pty, eventually, finish, host_root, on_terminal, signal, spawn_gate, stderr_of,
};

const PASS: &[u8] = b"hunter2hunter2";

fn ask_dir(sim: &Sim) -> PathBuf {
    host_root(sim).join("run/systemd/ask-password")
}

/// The published ask files (name, contents).
fn asks(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("ask.") {
                out.push((name, std::fs::read_to_string(e.path()).unwrap_or_default()));
            }
        }
    }
    out
}

fn field<'a>(ask: &'a str, key: &str) -> &'a str {
    ask.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or("")
}

fn wait_for_ask(dir: &Path, not_named: Option<&str>) -> (String, String) {
    let mut found = None;
    assert!(
        eventually(Duration::from_secs(10), || {
            found = asks(dir)
                .into_iter()
                .find(|(n, _)| Some(n.as_str()) != not_named);
            found.is_some()
        }),
        "no ask file appeared in {}",
        dir.display()
    );
    found.unwrap()
}

fn reply(ask: &str, bytes: &[u8]) {
    let sock = UnixDatagram::unbound().unwrap();
    sock.send_to(bytes, field(ask, "Socket")).unwrap();
}

#[test]
fn request_is_published_and_a_reply_unlocks() {
    let sim = Sim::two_locked_roots(PASS);
    let notify = NotifySocket::new();
    let gate = spawn_gate(
        &sim,
        Some(&notify),
        &["--poll-interval", "1h", "--timeout", "1h"],
    );
    let dir = ask_dir(&sim);
    let (_, ask) = wait_for_ask(&dir, None);
    assert!(ask.starts_with("[Ask]\n"), "{ask}");
    assert_eq!(field(&ask, "PID"), gate.id().to_string());
    assert_eq!(field(&ask, "Id"), "zfs:nest/a,nest/b");
    assert_eq!(
        field(&ask, "Message"),
        "Enter passphrase for nest (2 encryption roots)"
    );
    assert_eq!(field(&ask, "AcceptCached"), "1");
    assert_eq!(field(&ask, "Echo"), "0");
    assert!(
        field(&ask, "NotAfter").parse::<u64>().unwrap() > 0,
        "a --timeout sets NotAfter"
    );
    let socket = PathBuf::from(field(&ask, "Socket"));
    assert!(socket.starts_with(&dir));
    reply(&ask, b"+hunter2hunter2");
    let out = finish(gate, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert_eq!(sim.keystatus("nest/a"), "available");
    assert_eq!(sim.keystatus("nest/b"), "available");
    assert!(asks(&dir).is_empty(), "ask file left behind");
    assert!(!socket.exists(), "reply socket left behind");
    assert!(notify.messages().join("").contains("READY=1"));
}

#[test]
fn wrong_reply_is_asked_again_without_cache() {
    let sim = Sim::two_locked_roots(PASS);
    let notify = NotifySocket::new();
    let gate = spawn_gate(&sim, Some(&notify), &["--poll-interval", "1h"]);
    let dir = ask_dir(&sim);
    let (first_name, first) = wait_for_ask(&dir, None);
    assert_eq!(field(&first, "NotAfter"), "0");
    reply(&first, b"+wrong-passphrase");
    let (_, second) = wait_for_ask(&dir, Some(&first_name));
    assert_eq!(field(&second, "AcceptCached"), "0");
    assert!(!dir.join(&first_name).exists());
    reply(&second, b"+hunter2hunter2");
    let out = finish(gate, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert!(
        stderr_of(&out)
            .contains("wrong passphrase from a systemd password agent for nest/a, nest/b")
    );
}

#[test]
fn cancel_reply_falls_back_to_waiting() {
    let sim = Sim::two_locked_roots(PASS);
    let notify = NotifySocket::new();
    let gate = spawn_gate(&sim, Some(&notify), &["--poll-interval", "1h"]);
    let dir = ask_dir(&sim);
    let (_, ask) = wait_for_ask(&dir, None);
    reply(&ask, b"-");
    assert!(eventually(Duration::from_secs(10), || asks(&dir).is_empty()));
    sim.load("nest/a");
    sim.load("nest/b");
    signal(&gate, Signal::SIGUSR1);
    let out = finish(gate, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains("the request was cancelled at the agent"),
        "{err}"
    );
    assert!(
        err.contains("waiting for the keys to be loaded another way"),
        "{err}"
    );
}

#[test]
fn files_are_removed_on_sigterm_and_consoles_are_left_to_systemd() {
    let sim = Sim::two_locked_roots(PASS);
    // An active console the kernel lists: under systemd keygate must leave
    // it to systemd's own console agent.
    let tty = Pty::new();
    let root = host_root(&sim);
    std::fs::create_dir_all(root.join("sys/class/tty/console")).unwrap();
    std::fs::create_dir_all(root.join("dev")).unwrap();
    std::fs::write(root.join("sys/class/tty/console/active"), "ttyS9\n").unwrap();
    std::os::unix::fs::symlink(&tty.path, root.join("dev/ttyS9")).unwrap();
    let notify = NotifySocket::new();
    let gate = spawn_gate(&sim, Some(&notify), &["--poll-interval", "1h"]);
    let dir = ask_dir(&sim);
    let (_, ask) = wait_for_ask(&dir, None);
    let socket = PathBuf::from(field(&ask, "Socket"));
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !tty.output().contains("Enter passphrase"),
        "prompted on a console systemd owns"
    );
    signal(&gate, Signal::SIGTERM);
    let _ = finish(gate, TIMEOUT);
    assert!(asks(&dir).is_empty(), "ask file left after SIGTERM");
    assert!(!socket.exists(), "socket left after SIGTERM");
    assert!(!std::path::Path::new(&kit::default_socket(&sim)).exists());
}

#[test]
fn explicit_console_and_agent_race_the_console_wins() {
    let sim = Sim::two_locked_roots(PASS);
    let tty = Pty::new();
    let notify = NotifySocket::new();
    let gate = spawn_gate(
        &sim,
        Some(&notify),
        &["--poll-interval", "1h", "--console", &tty.path],
    );
    let dir = ask_dir(&sim);
    wait_for_ask(&dir, None);
    tty.expect("Enter passphrase for nest (2 encryption roots): ");
    tty.type_bytes(b"hunter2hunter2\r");
    let out = finish(gate, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert!(
        asks(&dir).is_empty(),
        "request withdrawn once the console answered"
    );
}

#[test]
fn no_ask_password_turns_it_off() {
    let sim = Sim::two_locked_roots(PASS);
    let notify = NotifySocket::new();
    let gate = spawn_gate(
        &sim,
        Some(&notify),
        &[
            "--poll-interval",
            "1h",
            "--no-ask-password",
            "--timeout",
            "700ms",
        ],
    );
    let out = finish(gate, TIMEOUT);
    assert!(asks(&ask_dir(&sim)).is_empty());
    assert!(!ask_dir(&sim).exists());
    assert!(
        stderr_of(&out).contains("gave up after 700ms"),
        "{}",
        stderr_of(&out)
    );
}

/// The real agent from Debian's systemd package, in a private mount
/// namespace where /run/systemd/ask-password is this test's directory.
#[test]
fn real_tty_agent_answers() {
    let agent = "/usr/bin/systemd-tty-ask-password-agent";
    if !Path::new(agent).exists() || !nix::unistd::Uid::effective().is_root() {
        return common::skip(&format!("needs root and {agent}"));
    }
    let probe = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "true"])
        .status();
    if !matches!(probe, Ok(s) if s.success()) {
        return common::skip("cannot create a mount namespace here");
    }
    let sim = Sim::two_locked_roots(PASS);
    let notify = NotifySocket::new();
    let gate = spawn_gate(&sim, Some(&notify), &["--poll-interval", "1h"]);
    let dir = ask_dir(&sim);
    wait_for_ask(&dir, None);
    let tty = Pty::new();
    let script = format!(
        "mkdir -p /run/systemd/ask-password && mount --bind '{}' /run/systemd/ask-password && exec {agent} --query",
        dir.display()
    );
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c", &script]);
    let agent_child = on_terminal(cmd, &tty).spawn_guarded();
    tty.expect("Enter passphrase for nest (2 encryption roots)");
    tty.type_bytes(b"hunter2hunter2\r");
    let out = finish(gate, TIMEOUT);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\nagent tty:\n{}",
        common::show(&out),
        tty.output()
    );
    let _ = finish(agent_child, TIMEOUT);
    assert_eq!(sim.keystatus("nest/a"), "available");
    assert!(stderr_of(&out).contains("with the passphrase from a systemd password agent"));
}

#[test]
fn an_explicit_console_the_agent_owns_is_left_to_it() {
    let sim = Sim::two_locked_roots(PASS);
    let owned = Pty::new();
    let free = Pty::new();
    let root = host_root(&sim);
    std::fs::create_dir_all(root.join("sys/class/tty/console")).unwrap();
    std::fs::create_dir_all(root.join("dev")).unwrap();
    std::fs::write(root.join("sys/class/tty/console/active"), "ttyS0\n").unwrap();
    let owned_path = root.join("dev/ttyS0");
    let free_path = root.join("dev/ttyS1");
    std::os::unix::fs::symlink(&owned.path, &owned_path).unwrap();
    std::os::unix::fs::symlink(&free.path, &free_path).unwrap();
    let notify = NotifySocket::new();
    let gate = spawn_gate(
        &sim,
        Some(&notify),
        &[
            "--poll-interval",
            "1h",
            "--console",
            owned_path.to_str().unwrap(),
            "--console",
            free_path.to_str().unwrap(),
        ],
    );
    free.expect("Enter passphrase for nest (2 encryption roots): ");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !owned.output().contains("Enter passphrase"),
        "{}",
        owned.output()
    );
    free.type_bytes(b"hunter2hunter2\r");
    let out = finish(gate, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert!(
        stderr_of(&out).contains("systemd's console agent asks there"),
        "{}",
        stderr_of(&out)
    );
}
