//! Adversarial suite, type-ahead: what a person types on a console while
//! the last entry is checked, refused or paused after. Nothing of it is
//! ever echoed; typed ahead of a prompt it is that prompt's entry; left over
//! when the console is let go it is discarded, said so, and wiped. The
//! `case:`/`outcome:` comments feed docs/robustness.md (see
//! tests/robustness_doc.rs).

mod common;
mod kit;
mod memscan;

use std::time::Duration;

use common::{Fault, Sim, TIMEOUT};
use kit::{Pty, eventually, finish, spawn_prompt, stop, termios_fields};

const RIGHT: &[u8] = b"rightpass1";
const WRONG: &[u8] = b"wrongpass1";
const PROMPT: &str = "Enter passphrase for nest/a: ";
const CHECKING: &str = "keygate: checking the passphrase...";
const DISCARDED: &str = "keygate: input typed since the last entry was discarded.";

/// One locked root whose every `load-key` takes `check` (at least 1 s: the
/// order of a real PBKDF2 check).
fn slow_root(check: Duration) -> Sim {
    let sim = Sim::locked_root(RIGHT);
    sim.fault("load-key", Fault::Delay(check));
    sim
}

/// The console's settings, as [`termios_fields`] gives them.
type Settings = (u64, u64, u64, u64, Vec<u8>);

/// A gate with `extra` arguments prompting on one console, over
/// [`slow_root`]: the start of every case, up to the first prompt shown.
/// Also the console's settings from before the gate started.
fn prompted(check: Duration, extra: &[&str]) -> (Sim, Pty, Settings, common::ChildGuard) {
    let sim = slow_root(check);
    let tty = Pty::new();
    let before = termios_fields(&tty.termios());
    let gate = spawn_prompt(&sim, &[&tty], extra);
    tty.expect(PROMPT);
    (sim, tty, before, gate)
}

/// Enters `pass` and waits until the gate says it is checking it.
fn enter_and_check(tty: &Pty, pass: &[u8]) {
    tty.type_bytes(&line(pass));
    tty.expect(CHECKING);
}

/// Waits for the gate to end, which must be with exit 0.
fn exits_0(gate: common::ChildGuard) {
    let out = finish(gate, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
}

/// None of `secrets` ever reached the screen, and the console's settings
/// are those it had before the gate.
fn assert_clean(tty: &Pty, before: &Settings, secrets: &[&[u8]]) {
    assert_never_shown(tty, secrets);
    assert_eq!(&termios_fields(&tty.termios()), before);
}

fn line(pass: &[u8]) -> Vec<u8> {
    let mut l = pass.to_vec();
    l.push(b'\r');
    l
}

/// Types `bytes` while the terminal is checked to have echo off before and
/// after (the pty would echo them back to the master at once otherwise).
fn type_unechoed(tty: &Pty, bytes: &[u8]) {
    assert!(!tty.echo_on(), "echo on before typing ahead");
    tty.type_bytes(bytes);
    assert!(!tty.echo_on(), "echo on after typing ahead");
}

fn assert_never_shown(tty: &Pty, secrets: &[&[u8]]) {
    let screen = tty.output();
    for s in secrets {
        assert!(
            !kit::contains_bytes(screen.as_bytes(), s),
            "{:?} shown on the console:\n{screen}",
            String::from_utf8_lossy(s)
        );
    }
}

/// case: Terminal input / the next attempt typed while a wrong passphrase is checked (1.5 s check)
/// outcome: echo stays off through the check ("checking the passphrase..." is shown), the result and the pause; the typed-ahead line is the entry of the next prompt: the key loads with it, exit 0, nothing typed ever reaches the screen, terminal restored exactly
#[test]
fn next_attempt_typed_during_a_slow_check() {
    let (sim, tty, before, gate) = prompted(Duration::from_millis(1500), &[]);
    enter_and_check(&tty, WRONG);
    std::thread::sleep(Duration::from_millis(200));
    type_unechoed(&tty, &line(RIGHT));
    // Still checking the first one: echo must be off now as well.
    assert_eq!(sim.keystatus("nest/a"), "unavailable");
    assert!(!tty.echo_on(), "echo on during the check");
    exits_0(gate);
    assert_eq!(sim.keystatus("nest/a"), "available");
    assert_eq!(sim.count_calls("load-key"), 2, "both lines were tried");
    let screen = tty.output();
    assert!(
        screen.contains("keygate: wrong passphrase for nest/a."),
        "{screen}"
    );
    assert!(screen.contains("keygate: unlocked nest/a."), "{screen}");
    assert!(!screen.contains(DISCARDED), "{screen}");
    assert_clean(&tty, &before, &[RIGHT, WRONG]);
}

/// case: Terminal input / the next attempt typed right after a too-short entry, in the same burst
/// outcome: the short entry is refused before any zfs call ("too short (5 bytes)"); the bytes after its Enter are the next prompt's entry and unlock, exit 0; nothing echoed, terminal restored exactly
#[test]
fn next_attempt_after_a_too_short_entry() {
    let (sim, tty, before, gate) = prompted(Duration::from_millis(1000), &[]);
    let mut burst = line(b"qz7x5");
    burst.extend_from_slice(&line(RIGHT));
    type_unechoed(&tty, &burst);
    exits_0(gate);
    assert!(
        tty.output().contains("too short (5 bytes)"),
        "{}",
        tty.output()
    );
    assert_eq!(sim.count_calls("load-key"), 1);
    assert_clean(&tty, &before, &[RIGHT, b"qz7x5"]);
}

/// case: Terminal input / the next attempt typed right after a too-long entry (600 bytes), in the same burst, CR LF line endings
/// outcome: the long entry is refused before any zfs call ("too long (600 bytes)"); the LF of a CR LF is neither an empty entry nor discarded input; the next line unlocks, exit 0; nothing echoed, terminal restored exactly
#[test]
fn next_attempt_after_a_too_long_entry() {
    let (sim, tty, before, gate) = prompted(Duration::from_millis(1000), &[]);
    let mut burst = vec![b'L'; 600];
    burst.extend_from_slice(b"\r\n");
    burst.extend_from_slice(RIGHT);
    burst.extend_from_slice(b"\r\n");
    type_unechoed(&tty, &burst);
    exits_0(gate);
    let screen = tty.output();
    assert!(screen.contains("too long (600 bytes)"), "{screen}");
    assert!(!screen.contains("Empty passphrase"), "{screen}");
    assert!(
        !screen.contains(DISCARDED),
        "the last LF is no input: {screen}"
    );
    assert_eq!(sim.count_calls("load-key"), 1);
    assert_clean(&tty, &before, &[RIGHT, &[b'L'; 16]]);
}

/// case: Terminal input / typing on while the right passphrase is checked (1 s check)
/// outcome: nothing echoed; the key loads, and the console is let go saying "input typed since the last entry was discarded." (never silently); the input is thrown away unread, exit 0, terminal restored exactly
#[test]
fn typing_on_while_the_right_passphrase_is_checked() {
    let (sim, tty, before, gate) = prompted(Duration::from_millis(1000), &[]);
    enter_and_check(&tty, RIGHT);
    type_unechoed(&tty, b"leftover-typing\r");
    exits_0(gate);
    assert_eq!(sim.count_calls("load-key"), 1);
    tty.expect(DISCARDED);
    assert_clean(&tty, &before, &[RIGHT, b"leftover"]);
}

/// case: Memory / entries typed ahead: one refused as too long, one tried and wrong, one left over when the console runs out of tries (1 s checks)
/// outcome: none is echoed; the left-over one is discarded with "input typed since the last entry was discarded."; a scan of the still-waiting gate's memory finds none of the four entries (wrong, too long, tried, discarded)
#[test]
fn typed_ahead_entries_leave_no_copy_in_memory() {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("skipped: scanning another process's memory needs root here");
        return;
    }
    let (sim, tty, before, gate) = prompted(Duration::from_millis(1000), &["--tries", "2"]);
    enter_and_check(&tty, WRONG);
    let too_long: Vec<u8> = b"LONGMARK-".iter().copied().cycle().take(600).collect();
    let mut ahead = line(&too_long);
    ahead.extend_from_slice(&line(b"tried-ahead-7"));
    ahead.extend_from_slice(&line(b"discarded-ahead-9"));
    type_unechoed(&tty, &ahead);
    tty.expect("2 wrong passphrases; no longer prompting here");
    tty.expect(DISCARDED);
    assert!(tty.output().contains("too long (600 bytes)"));
    assert!(
        eventually(TIMEOUT, || termios_fields(&tty.termios()) == before),
        "terminal not restored when the console was let go"
    );
    assert_eq!(sim.count_calls("load-key"), 2);
    let pid = gate.id() as i32;
    for secret in [
        WRONG,
        b"LONGMARK-LONGMARK-",
        b"tried-ahead-7",
        b"discarded-ahead-9",
    ] {
        let hits = memscan::find_in_process_memory(pid, secret).expect("scan the gate's memory");
        assert!(
            hits.is_empty(),
            "{:?} still in the gate's memory at {hits:x?}",
            String::from_utf8_lossy(secret)
        );
    }
    assert_never_shown(
        &tty,
        &[WRONG, b"LONGMARK", b"tried-ahead", b"discarded-ahead"],
    );
    let out = stop(gate);
    kit::assert_not_leaked(&sim, &out, &[&tty.output()], b"discarded-ahead-9");
}

/// case: Signals / SIGTERM while a passphrase is checked (1.5 s check) with the next attempt typed ahead
/// outcome: the terminal is restored exactly and its queued type-ahead flushed (nothing reading the line later receives it); the gate dies by SIGTERM; nothing typed was ever echoed
#[test]
fn sigterm_during_a_check_with_type_ahead() {
    use std::os::fd::AsFd;
    let (sim, tty, before, gate) = prompted(Duration::from_millis(1500), &[]);
    enter_and_check(&tty, WRONG);
    type_unechoed(&tty, &line(RIGHT));
    assert_eq!(sim.keystatus("nest/a"), "unavailable", "still checking");
    let out = stop(gate);
    assert_eq!(
        kit::died_by(&out),
        Some(nix::sys::signal::Signal::SIGTERM as i32),
        "{}",
        common::show(&out)
    );
    assert_eq!(termios_fields(&tty.termios()), before);
    // What is queued on the line now would go to its next reader.
    let flags = nix::fcntl::fcntl(tty.slave.as_fd(), nix::fcntl::FcntlArg::F_GETFL).unwrap();
    let flags = nix::fcntl::OFlag::from_bits_retain(flags) | nix::fcntl::OFlag::O_NONBLOCK;
    nix::fcntl::fcntl(tty.slave.as_fd(), nix::fcntl::FcntlArg::F_SETFL(flags)).unwrap();
    let mut buf = [0u8; 64];
    let queued = nix::unistd::read(&tty.slave, &mut buf);
    assert_eq!(
        queued,
        Err(nix::errno::Errno::EAGAIN),
        "type-ahead left on the line: {:?}",
        queued.map(|n| String::from_utf8_lossy(&buf[..n]).into_owned())
    );
    assert_never_shown(&tty, &[RIGHT, WRONG]);
}
