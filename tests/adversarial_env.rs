//! Adversarial suite, environment: a broken service-manager socket, no
//! console, a read-only /run, no terminal, a dead stderr. One test per case;
//! the `case:`/`outcome:` comments feed docs/robustness.md.

mod common;
mod kit;

use std::os::unix::process::CommandExt;
use std::process::Stdio;

use common::{Sim, SpawnGuarded, TIMEOUT};
use kit::{
    Pty, control_exchange, default_socket, eventually, finish, host_root, keygate, stderr_of,
    unlock_request,
};

const PASS: &[u8] = b"hunter2hunter2";

/// case: Environment / NOTIFY_SOCKET pointing nowhere
/// outcome: a warning "cannot notify systemd" per message that could not be sent, no crash; the gate works as under systemd and exits as it would (0 once the key is loaded)
#[test]
fn notify_socket_pointing_nowhere() {
    let sim = Sim::locked_root(PASS);
    let mut cmd = keygate(
        &sim,
        &["gate", "--mode", "wait", "--poll-interval", "100ms"],
    );
    cmd.env("NOTIFY_SOCKET", "/nonexistent/notify.sock")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let gate = cmd.spawn_guarded();
    assert!(eventually(TIMEOUT, || default_socket(&sim).exists()));
    sim.load("nest/a");
    let out = finish(gate, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert!(
        stderr_of(&out).contains("cannot notify systemd"),
        "{}",
        stderr_of(&out)
    );
}

/// case: Environment / /dev/console cannot be opened (a directory in its place)
/// outcome: hint mode: the hint still goes to stderr, plus a warning "cannot write to console"; exit 1 as documented
#[test]
fn dev_console_unopenable() {
    let sim = Sim::locked_root(PASS);
    std::fs::create_dir_all(host_root(&sim).join("dev/console")).unwrap();
    let out = finish(kit::spawn(&sim, &["gate", "--mode", "hint"]), TIMEOUT);
    assert_eq!(out.status.code(), Some(1), "{}", common::show(&out));
    let err = stderr_of(&out);
    assert!(err.contains("Run 'zfs load-key -r nest/a'"), "{err}");
    assert!(err.contains("cannot write to console"), "{err}");
}

/// case: Environment / no console at all in auto mode (no dev/console)
/// outcome: "not prompting there", the gate waits instead (hint on stderr) and continues when the key arrives over the control socket, exit 0
#[test]
fn no_console_in_auto_mode() {
    let sim = Sim::locked_root(PASS);
    let gate = kit::spawn(&sim, &["gate", "--poll-interval", "1h"]);
    assert!(eventually(TIMEOUT, || default_socket(&sim).exists()));
    let answer = control_exchange(&default_socket(&sim), &unlock_request(PASS));
    let out = finish(gate, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert!(answer.contains("opened\tnest/a"), "{answer}");
    let err = stderr_of(&out);
    assert!(err.contains("not prompting there"), "{err}");
    assert!(err.contains("zfs load-key -r nest/a"), "{err}");
}

/// case: Environment / /run read-only
/// outcome: the control socket cannot be created: one warning naming the path; consoles and polls still work and a typed passphrase unlocks, exit 0 (needs root for the read-only mount; skipped otherwise)
#[test]
fn run_read_only() {
    if !nix::unistd::Uid::effective().is_root() {
        return common::skip("needs root to mount a read-only /run");
    }
    let sim = Sim::locked_root(PASS);
    let run = host_root(&sim).join("run");
    std::fs::create_dir_all(&run).unwrap();
    let tty = Pty::new();
    let mut cmd = keygate(&sim, &["gate", "--mode", "prompt", "--console", &tty.path]);
    let target = std::ffi::CString::new(run.to_str().unwrap()).unwrap();
    // SAFETY: only unshare and mount (async-signal-safe system calls) run
    // between fork and exec; the mount lives in the child's own namespace.
    unsafe {
        cmd.pre_exec(move || {
            if libc::unshare(libc::CLONE_NEWNS) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            let root = c"/";
            let none = c"none";
            let tmpfs = c"tmpfs";
            let flags = libc::MS_REC | libc::MS_PRIVATE;
            if libc::mount(
                none.as_ptr(),
                root.as_ptr(),
                std::ptr::null(),
                flags,
                std::ptr::null(),
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            if libc::mount(
                tmpfs.as_ptr(),
                target.as_ptr(),
                tmpfs.as_ptr(),
                libc::MS_RDONLY,
                std::ptr::null(),
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let gate = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn_guarded();
    tty.expect("Enter passphrase for nest/a: ");
    tty.type_bytes(b"hunter2hunter2\r");
    let out = finish(gate, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    let err = stderr_of(&out);
    assert_eq!(err.matches("warning: cannot create ").count(), 1, "{err}");
    assert!(err.contains("run/keygate: Read-only file system"), "{err}");
}

/// case: Environment / no controlling terminal for `keygate unlock`
/// outcome: one line "cannot prompt for the passphrase: no usable terminal (/dev/tty)"; exit 2; nothing sent, nothing tried
#[test]
fn unlock_without_a_terminal() {
    let sim = Sim::locked_root(PASS);
    let mut cmd = keygate(&sim, &["unlock"]);
    // SAFETY: setsid is async-signal-safe; a new session has no terminal.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid()
                .map(|_| ())
                .map_err(std::io::Error::from)
        });
    }
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn_guarded();
    let out = finish(child, TIMEOUT);
    assert_eq!(out.status.code(), Some(2), "{}", common::show(&out));
    assert!(
        stderr_of(&out).contains("cannot prompt for the passphrase: no usable terminal (/dev/tty)"),
        "{}",
        stderr_of(&out)
    );
    assert_eq!(sim.count_calls("load-key"), 0);
}

/// case: Environment / stderr is a pipe nobody reads any more (logger gone)
/// outcome: messages that cannot be written are dropped, never a panic: the gate still prompts and unlocks, exit 0
#[test]
fn stderr_is_a_broken_pipe() {
    let sim = Sim::locked_root(PASS);
    let tty = Pty::new();
    let (r, w) = nix::unistd::pipe().unwrap();
    drop(r);
    let mut cmd = keygate(&sim, &["gate", "--mode", "prompt", "--console", &tty.path]);
    cmd.stdout(Stdio::null()).stderr(Stdio::from(w));
    let gate = cmd.spawn_guarded();
    tty.expect("Enter passphrase for nest/a: ");
    tty.type_bytes(b"hunter2hunter2\r");
    let out = finish(gate, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(sim.keystatus("nest/a"), "available");
}

/// case: Environment / a configuration file holding terminal escape sequences and other control characters
/// outcome: one error line "FILE:LINE: ..." with every control character shown as an escape (\u{1b}), none written raw to the console or log; exit 2; no zfs call
#[test]
fn config_file_with_escape_sequences() {
    let sim = Sim::locked_root(PASS);
    let file = sim.root().join("keygate.toml");
    for (text, shown) in [
        (
            "mode = \"wait\"\n\u{1b}[2J\u{1b}[H = 1\n",
            "2: expected a setting name, found '\\u{1b}'",
        ),
        (
            "zfs = 7\u{7}\u{1b}]0;owned\u{7}\n",
            "1: zfs: cannot read the value 7\\u{7}\\u{1b}: write text",
        ),
        (
            "mode = \"wa\\u001b[8mit\"\n",
            "1: mode: expected one of auto, prompt, wait, hint, found \"wa\\u{1b}[8mit\"",
        ),
    ] {
        std::fs::write(&file, text).unwrap();
        let config = file.to_str().unwrap();
        let out = common::run_with_timeout(keygate(&sim, &["--config", config, "gate"]), TIMEOUT);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{text:?}: {}",
            common::show(&out)
        );
        let err = stderr_of(&out);
        assert_eq!(err.lines().count(), 1, "{text:?}: {err:?}");
        assert!(
            err.starts_with(&format!("keygate: error: {config}:{shown}")),
            "{text:?}: {err:?}"
        );
        assert!(
            !err.trim_end_matches('\n').contains(char::is_control),
            "{err:?}"
        );
        assert_eq!(sim.count_calls("get"), 0);
    }
}
