//! Adversarial suite, signals: each of the nine signals OpenBSD's
//! readpassphrase(3) handles, sent to a gate in the middle of a prompt, and
//! SIGKILL of a zfs child. One test per case; the `case:`/`outcome:`
//! comments feed docs/robustness.md.

mod common;
mod kit;

use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use common::{Fault, Sim, TIMEOUT};
use kit::{
    Pty, children_of, control_exchange, default_socket, died_by, eventually, finish, process_state,
    signal, spawn_prompt, spawn_wait, stderr_of, termios_fields, unlock_request,
};

const PASS: &[u8] = b"hunter2hunter2";

/// Sends `sig` to a gate prompting on a pty with a half-typed entry and
/// checks it died by that signal with everything put back.
fn dies_by(sig: Signal) {
    let sim = Sim::locked_root(PASS);
    let tty = Pty::new();
    let before = termios_fields(&tty.termios());
    let gate = spawn_prompt(&sim, &[&tty], &[]);
    tty.expect("Enter passphrase for nest/a: ");
    tty.type_bytes(b"hunter2hu");
    assert!(eventually(Duration::from_secs(10), || default_socket(&sim).exists()));
    assert!(!tty.echo_on());
    signal(&gate, sig);
    let out = finish(gate, TIMEOUT);
    assert_eq!(
        died_by(&out),
        Some(sig as i32),
        "{sig}: {}",
        common::show(&out)
    );
    assert_eq!(
        termios_fields(&tty.termios()),
        before,
        "{sig}: terminal restored exactly"
    );
    assert!(!default_socket(&sim).exists(), "{sig}: socket left behind");
    let err = stderr_of(&out);
    assert!(
        err.contains(&format!(
            "stopped by {} while waiting for the keys of nest/a",
            sig.as_str()
        )),
        "{err}"
    );
    assert_eq!(sim.keystatus("nest/a"), "unavailable");
    assert_eq!(
        sim.count_calls("load-key"),
        0,
        "{sig}: the half entry was tried"
    );
    assert_eq!(sim.count_calls("unload-key"), 0);
}

/// Sends `sig` mid-prompt: the gate stops with the terminal restored, and
/// after SIGCONT prompts again in raw mode, the half entry wiped.
fn stops_and_resumes(sig: Signal) {
    let sim = Sim::locked_root(PASS);
    let tty = Pty::new();
    let before = termios_fields(&tty.termios());
    let gate = spawn_prompt(&sim, &[&tty], &[]);
    tty.expect("Enter passphrase for nest/a: ");
    tty.type_bytes(b"half-typed");
    assert!(eventually(Duration::from_secs(10), || !tty.echo_on()));
    signal(&gate, sig);
    assert!(
        eventually(Duration::from_secs(20), || process_state(gate.id()) == 'T'),
        "{sig}: the gate did not stop"
    );
    assert_eq!(
        termios_fields(&tty.termios()),
        before,
        "{sig}: restored while stopped"
    );
    signal(&gate, Signal::SIGCONT);
    tty.expect_n("Enter passphrase for nest/a: ", 2, Duration::from_secs(20));
    assert!(!tty.echo_on(), "{sig}: raw again after SIGCONT");
    tty.type_bytes(b"hunter2hunter2\r");
    let out = finish(gate, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{sig}: {}", common::show(&out));
    assert_eq!(
        sim.count_calls("load-key"),
        1,
        "{sig}: the half entry was tried"
    );
    assert_eq!(termios_fields(&tty.termios()), before);
}

/// case: Signals / SIGINT mid-prompt
/// outcome: "stopped by SIGINT" on stderr; the terminal is restored exactly, the socket removed, nothing tried; the gate dies by SIGINT
#[test]
fn sigint_mid_prompt() {
    dies_by(Signal::SIGINT);
}

/// case: Signals / SIGTERM mid-prompt
/// outcome: "stopped by SIGTERM" on stderr; the terminal is restored exactly, the socket removed, nothing tried; the gate dies by SIGTERM
#[test]
fn sigterm_mid_prompt() {
    dies_by(Signal::SIGTERM);
}

/// case: Signals / SIGHUP mid-prompt
/// outcome: "stopped by SIGHUP" on stderr; the terminal is restored exactly, the socket removed, nothing tried; the gate dies by SIGHUP
#[test]
fn sighup_mid_prompt() {
    dies_by(Signal::SIGHUP);
}

/// case: Signals / SIGQUIT mid-prompt
/// outcome: "stopped by SIGQUIT" on stderr; the terminal is restored exactly, the socket removed, nothing tried; the gate dies by SIGQUIT (no core: dumps are off)
#[test]
fn sigquit_mid_prompt() {
    dies_by(Signal::SIGQUIT);
}

/// case: Signals / SIGALRM mid-prompt
/// outcome: "stopped by SIGALRM" on stderr; the terminal is restored exactly, the socket removed, nothing tried; the gate dies by SIGALRM
#[test]
fn sigalrm_mid_prompt() {
    dies_by(Signal::SIGALRM);
}

/// case: Signals / SIGPIPE sent by another process mid-prompt
/// outcome: treated like SIGTERM: "stopped by SIGPIPE", terminal restored exactly, socket removed; the gate dies by SIGPIPE (a SIGPIPE from its own write to a closed pipe is only an EPIPE error)
#[test]
fn sigpipe_mid_prompt() {
    dies_by(Signal::SIGPIPE);
}

/// case: Signals / SIGTSTP mid-prompt
/// outcome: the terminal is restored exactly while the gate is stopped; after SIGCONT it is raw again, the half-typed entry wiped and the prompt printed again; the passphrase then unlocks, exit 0
#[test]
fn sigtstp_mid_prompt() {
    stops_and_resumes(Signal::SIGTSTP);
}

/// case: Signals / SIGTTIN mid-prompt
/// outcome: as SIGTSTP: stopped with the terminal restored, raw again with a fresh prompt after SIGCONT; unlocks, exit 0
#[test]
fn sigttin_mid_prompt() {
    stops_and_resumes(Signal::SIGTTIN);
}

/// case: Signals / SIGTTOU mid-prompt
/// outcome: as SIGTSTP: stopped with the terminal restored, raw again with a fresh prompt after SIGCONT; unlocks, exit 0
#[test]
fn sigttou_mid_prompt() {
    stops_and_resumes(Signal::SIGTTOU);
}

/// case: Signals / SIGKILL of a zfs load-key child
/// outcome: that attempt fails with "'zfs load-key -L prompt nest/a' was killed by signal 9" (answer field failed, and a warning); the gate keeps waiting and the next passphrase unlocks, exit 0
#[test]
fn sigkill_of_a_zfs_child() {
    let sim = Sim::locked_root(PASS);
    sim.fault_times("load-key", Fault::Hang, 1);
    let gate = spawn_wait(&sim, &[]);
    let socket = default_socket(&sim);
    let s = socket.clone();
    let first = std::thread::spawn(move || control_exchange(&s, &unlock_request(PASS)));
    let mut zfs = None;
    assert!(
        eventually(Duration::from_secs(20), || {
            zfs = children_of(gate.id()).into_iter().find(|c| {
                std::fs::read(format!("/proc/{c}/cmdline"))
                    .map(|b| kit::contains_bytes(&b, b"load-key"))
                    .unwrap_or(false)
            });
            zfs.is_some()
        }),
        "no zfs load-key child appeared"
    );
    kill(Pid::from_raw(zfs.unwrap() as i32), Signal::SIGKILL).unwrap();
    let answer = first.join().unwrap();
    assert!(
        answer.contains("failed\tnest/a\t'zfs load-key -L prompt nest/a' was killed by signal 9"),
        "{answer}"
    );
    assert!(answer.contains("remaining\tnest/a"), "{answer}");
    let answer = control_exchange(&socket, &unlock_request(PASS));
    assert!(answer.contains("opened\tnest/a"), "{answer}");
    let out = finish(gate, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert!(
        stderr_of(&out).contains("nest/a: 'zfs load-key -L prompt nest/a' was killed by signal 9"),
        "{}",
        stderr_of(&out)
    );
}
