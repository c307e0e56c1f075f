//! The systemd ask-password directory as an agent sees it: the ask files
//! a gate publishes there, their `KEY=value` fields, and replies sent as
//! datagrams to the socket an ask file names.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::{ChildGuard, Sim, SpawnGuarded};

use super::{Pty, eventually, host_root, on_terminal};

/// The real agent, from Debian's systemd package.
pub const TTY_AGENT: &str = "/usr/bin/systemd-tty-ask-password-agent";

/// This test's `/run/systemd/ask-password`.
pub fn ask_dir(sim: &Sim) -> PathBuf {
    host_root(sim).join("run/systemd/ask-password")
}

/// The published ask files (name, contents).
pub fn asks(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("ask.") {
            out.push((name, std::fs::read_to_string(e.path()).unwrap_or_default()));
        }
    }
    out
}

/// The value of `key` in an ask file, empty when it has none.
pub fn field<'a>(ask: &'a str, key: &str) -> &'a str {
    ask.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or("")
}

/// The first ask file to appear that is not named `not_named`.
pub fn wait_for_ask(dir: &Path, not_named: Option<&str>) -> (String, String) {
    wait_for(dir, "no ask file appeared in", |name, _| {
        Some(name) != not_named
    })
}

/// The next ask file not named `not_named` that carries a `Message=`.
pub fn next_ask(dir: &Path, not_named: Option<&str>) -> (String, String) {
    wait_for(dir, "no new ask file in", |name, contents| {
        Some(name) != not_named && contents.contains("\nMessage=")
    })
}

fn wait_for(dir: &Path, missing: &str, wanted: impl Fn(&str, &str) -> bool) -> (String, String) {
    let mut found = None;
    assert!(
        eventually(Duration::from_secs(10), || {
            found = asks(dir).into_iter().find(|(n, c)| wanted(n, c));
            found.is_some()
        }),
        "{missing} {}",
        dir.display()
    );
    found.unwrap()
}

/// Why [`spawn_tty_agent`] cannot run here, if it cannot: it needs root,
/// [`TTY_AGENT`] and a mount namespace of its own.
pub fn tty_agent_unavailable() -> Option<String> {
    if !Path::new(TTY_AGENT).exists() || !nix::unistd::Uid::effective().is_root() {
        return Some(format!("needs root and {TTY_AGENT}"));
    }
    let probe = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "true"])
        .status();
    if !matches!(probe, Ok(s) if s.success()) {
        return Some("cannot create a mount namespace here".to_owned());
    }
    None
}

/// [`TTY_AGENT`] with `mode` (`--watch`, `--query`) on `tty`, in a private
/// mount namespace where /run/systemd/ask-password is `dir`.
pub fn spawn_tty_agent(dir: &Path, tty: &Pty, mode: &str) -> ChildGuard {
    let script = format!(
        "mkdir -p /run/systemd/ask-password && mount --bind '{}' /run/systemd/ask-password && exec {TTY_AGENT} {mode}",
        dir.display()
    );
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c", &script]);
    on_terminal(cmd, tty).spawn_guarded()
}

/// Sends `bytes` (`+passphrase` or `-`) to the socket `ask` names.
pub fn reply(ask: &str, bytes: &[u8]) {
    let sock = UnixDatagram::unbound().unwrap();
    sock.send_to(bytes, field(ask, "Socket")).unwrap();
}
