//! `keygate gate --mode prompt` on real pseudo-terminals: one passphrase for
//! every root, re-prompts only for roots that rejected it, several consoles
//! at once, line editing, and the terminal left exactly as it was.

mod common;
mod kit;
mod memscan;

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::sys::termios::LocalFlags;

use common::{Sim, TIMEOUT};
use kit::{NotifySocket, Pty, eventually, finish, signal, spawn_prompt, stderr_of, termios_fields};

const PASS: &[u8] = b"hunter2hunter2";

#[test]
fn right_passphrase_unlocks_and_is_ready() {
    let sim = Sim::locked_root_with_child(PASS);
    let tty = Pty::new();
    let before = termios_fields(&tty.termios());
    let notify = NotifySocket::new();
    let child = kit::spawn_gate(
        &sim,
        Some(&notify),
        &["--mode", "prompt", "--console", &tty.path],
    );
    tty.expect("Enter passphrase for nest/a: ");
    assert!(!tty.echo_on(), "echo must be off while prompting");
    assert!(!tty.termios().local_flags.contains(LocalFlags::ICANON));
    tty.type_bytes(b"hunter2hunter2\n");
    let out = finish(child, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert_eq!(sim.keystatus("nest/a"), "available");
    assert!(tty.output().contains("unlocked nest/a"), "{}", tty.output());
    assert!(
        !tty.output().contains("hunter2"),
        "the passphrase was echoed"
    );
    assert!(!stderr_of(&out).contains("hunter2"));
    assert_eq!(
        termios_fields(&tty.termios()),
        before,
        "termios restored exactly"
    );
    assert!(notify.messages().join("").contains("READY=1"));
    // The passphrase went only to stdin: never into zfs's argv.
    for call in sim.calls() {
        assert!(!call.join(" ").contains("hunter2"), "{call:?}");
        if call[0] == "load-key" {
            assert_eq!(call, ["load-key", "-L", "prompt", "nest/a"]);
        }
    }
}

#[test]
fn wrong_then_right() {
    let sim = Sim::locked_root_with_child(PASS);
    let tty = Pty::new();
    let child = spawn_prompt(&sim, &[&tty], &[]);
    tty.expect("Enter passphrase for nest/a: ");
    tty.type_bytes(b"not-the-passphrase\r");
    tty.expect("wrong passphrase for nest/a");
    tty.expect_n("Enter passphrase for nest/a: ", 2, Duration::from_secs(20));
    tty.type_bytes(b"hunter2hunter2\r");
    let out = finish(child, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert_eq!(sim.keystatus("nest/a"), "available");
}

/// The pause after a wrong passphrase runs from the Enter: when the attempt
/// itself took longer than the pause (a slow key derivation), the next prompt
/// follows the message at once instead of a second later.
#[test]
fn a_slow_rejection_is_not_paused_on_top() {
    let sim = Sim::locked_root_with_child(PASS);
    sim.load_key_cost(Duration::from_millis(1200));
    let tty = Pty::new();
    let child = spawn_prompt(&sim, &[&tty], &[]);
    tty.expect("Enter passphrase for nest/a: ");
    tty.type_bytes(b"not-the-passphrase\r");
    tty.expect_n("wrong passphrase for nest/a", 1, Duration::from_secs(60));
    let told = Instant::now();
    tty.expect_n("Enter passphrase for nest/a: ", 2, Duration::from_secs(20));
    let paused = told.elapsed();
    assert!(
        paused < Duration::from_millis(500),
        "next prompt after {paused:?}"
    );
    tty.type_bytes(b"hunter2hunter2\r");
    let out = finish(child, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
}

#[test]
fn one_passphrase_for_two_roots_is_asked_once() {
    let sim = Sim::locked_root_with_child(PASS);
    sim.encrypted_root("nest/c", PASS);
    let tty = Pty::new();
    let child = spawn_prompt(&sim, &[&tty], &[]);
    tty.expect("Enter passphrase for nest (2 encryption roots): ");
    tty.type_bytes(b"hunter2hunter2\r");
    let out = finish(child, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert_eq!(sim.keystatus("nest/a"), "available");
    assert_eq!(sim.keystatus("nest/c"), "available");
    assert_eq!(tty.output().matches("Enter passphrase").count(), 1);
    assert_eq!(sim.count_calls("load-key"), 2, "one load-key per root");
}

#[test]
fn second_prompt_names_the_root_that_rejected_it() {
    let sim = Sim::locked_root_with_child(PASS);
    sim.encrypted_root("nest/c", b"a-different-one");
    let tty = Pty::new();
    let child = spawn_prompt(&sim, &[&tty], &[]);
    tty.expect("Enter passphrase for nest (2 encryption roots): ");
    tty.type_bytes(b"hunter2hunter2\r");
    tty.expect("unlocked nest/a.");
    tty.expect("Enter passphrase for nest/c: ");
    assert_eq!(sim.keystatus("nest/a"), "available");
    tty.type_bytes(b"a-different-one\r");
    let out = finish(child, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert_eq!(sim.keystatus("nest/c"), "available");
    // The second passphrase was tried only on the root still locked.
    let loads = loaded_roots(&sim);
    assert_eq!(loads.len(), 3, "{loads:?}");
    assert_eq!(loads[2], "nest/c");
}

#[test]
fn two_consoles_the_second_answers() {
    let sim = Sim::locked_root_with_child(PASS);
    let vga = Pty::new();
    let lom = Pty::new();
    let child = spawn_prompt(&sim, &[&vga, &lom], &[]);
    vga.expect("Enter passphrase for nest/a: ");
    lom.expect("Enter passphrase for nest/a: ");
    let vga_before = termios_fields(&vga.termios());
    assert!(!vga.echo_on() && !lom.echo_on());
    lom.type_bytes(b"hunter2hunter2\r");
    let out = finish(child, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    vga.expect(&format!(
        "keys loaded from {}; no passphrase needed here.",
        lom.path
    ));
    assert!(vga.echo_on() && lom.echo_on());
    assert_ne!(
        termios_fields(&vga.termios()),
        vga_before,
        "raw while prompting"
    );
}

#[test]
fn a_console_that_hangs_up_is_dropped_while_the_other_answers() {
    let sim = Sim::locked_root_with_child(PASS);
    let dead = Pty::new();
    let live = Pty::new();
    let child = spawn_prompt(&sim, &[&dead, &live], &[]);
    dead.expect("Enter passphrase");
    live.expect("Enter passphrase");
    let Pty { master, slave, .. } = dead;
    drop(master);
    drop(slave);
    std::thread::sleep(Duration::from_millis(300));
    live.type_bytes(b"hunter2hunter2\r");
    let out = finish(child, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert!(stderr_of(&out).contains("hung up"), "{}", stderr_of(&out));
}

#[test]
fn every_console_gone_falls_back_to_waiting() {
    let sim = Sim::locked_root_with_child(PASS);
    let tty = Pty::new();
    let child = spawn_prompt(&sim, &[&tty], &["--tries", "1"]);
    tty.expect("Enter passphrase for nest/a: ");
    tty.type_bytes(b"wrong-passphrase\r");
    tty.expect("no longer prompting here");
    assert!(eventually(Duration::from_secs(10), || tty.echo_on()));
    sim.load("nest/a");
    let out = finish(child, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains("waiting for the keys to be loaded another way"),
        "{err}"
    );
    assert!(
        err.contains("Load them from another shell with 'zfs load-key -r nest/a'"),
        "{err}"
    );
}

#[test]
fn line_editing_keys() {
    let sim = Sim::locked_root_with_child(PASS);
    let tty = Pty::new();
    let child = spawn_prompt(&sim, &[&tty], &[]);
    tty.expect("Enter passphrase for nest/a: ");
    // Ctrl-C abandons the entry and prompts again.
    tty.type_bytes(b"garbage\x03");
    tty.expect_n("Enter passphrase for nest/a: ", 2, Duration::from_secs(20));
    // Ctrl-U erases the line; Backspace and DEL erase one character each.
    tty.type_bytes(b"junk\x15hunter2hunter2XY\x08\x7f\r");
    let out = finish(child, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert_eq!(sim.keystatus("nest/a"), "available");
    assert_eq!(
        sim.count_calls("load-key"),
        1,
        "Ctrl-C'd entry was never tried"
    );
}

#[test]
fn lengths_are_checked_before_any_zfs_call() {
    let sim = Sim::new();
    sim.pool("nest");
    let exactly_512 = vec![b'p'; 512];
    sim.encrypted_root("nest/a", &exactly_512);
    let tty = Pty::new();
    let child = spawn_prompt(&sim, &[&tty], &[]);
    tty.expect("Enter passphrase for nest/a: ");
    tty.type_bytes(b"\r");
    tty.expect("Empty passphrase");
    tty.type_bytes(b"1234567\r");
    tty.expect("too short (7 bytes)");
    let mut long = vec![b'p'; 513];
    long.push(b'\r');
    tty.type_bytes(&long);
    tty.expect("too long (513 bytes)");
    assert_eq!(sim.count_calls("load-key"), 0);
    // Exactly 8 bytes is tried (and wrong here); exactly 512 opens it.
    tty.type_bytes(b"12345678\r");
    tty.expect("wrong passphrase for nest/a");
    tty.expect_n("Enter passphrase for nest/a: ", 5, Duration::from_secs(20));
    let mut right = exactly_512.clone();
    right.push(b'\r');
    tty.type_bytes(&right);
    let out = finish(child, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert_eq!(sim.count_calls("load-key"), 2);
}

#[test]
fn non_utf8_passphrase_passes_through_unchanged() {
    let sim = Sim::new();
    sim.pool("nest");
    let pass = b"\xff\xfe\xe9t\xe9-caf\xc3\xa9\x1b[A";
    sim.encrypted_root("nest/a", pass);
    let tty = Pty::new();
    let child = spawn_prompt(&sim, &[&tty], &[]);
    tty.expect("Enter passphrase for nest/a: ");
    let mut typed = pass.to_vec();
    typed.push(b'\r');
    tty.type_bytes(&typed);
    let out = finish(child, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
}

#[test]
fn terminating_signals_mid_prompt_restore_the_terminal() {
    for sig in [
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGINT,
        Signal::SIGQUIT,
    ] {
        let sim = Sim::locked_root_with_child(PASS);
        let tty = Pty::new();
        let before = termios_fields(&tty.termios());
        let child = spawn_prompt(&sim, &[&tty], &[]);
        tty.expect("Enter passphrase for nest/a: ");
        tty.type_bytes(b"half-typ");
        assert!(eventually(Duration::from_secs(5), || !tty.echo_on()));
        signal(&child, sig);
        let out = finish(child, TIMEOUT);
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            out.status.signal(),
            Some(sig as i32),
            "{sig}: {}",
            common::show(&out)
        );
        let after = tty.termios();
        assert!(after.local_flags.contains(LocalFlags::ECHO), "{sig}");
        assert!(after.local_flags.contains(LocalFlags::ICANON), "{sig}");
        assert_eq!(termios_fields(&after), before, "{sig}: restored exactly");
        assert_eq!(sim.keystatus("nest/a"), "unavailable");
    }
}

#[test]
fn out_of_band_load_withdraws_the_prompt() {
    let sim = Sim::locked_root_with_child(PASS);
    let tty = Pty::new();
    let child = spawn_prompt(&sim, &[&tty], &[]);
    tty.expect("Enter passphrase for nest/a: ");
    sim.load("nest/a");
    let out = finish(child, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    tty.expect("keys loaded; no passphrase needed here.");
    assert!(tty.echo_on());
}

#[test]
fn key_files_load_first_and_a_broken_one_joins_the_prompt() {
    let sim = Sim::locked_root_with_child(PASS);
    let keys = tempfile::tempdir().unwrap();
    let good = keys.path().join("good.key");
    std::fs::write(&good, b"filepass123\n").unwrap();
    sim.file_root("nest/f", &good, b"filepass123");
    let gone = keys.path().join("gone.key");
    std::fs::write(&gone, b"otherpass99\n").unwrap();
    sim.file_root("nest/g", &gone, b"hunter2hunter2");
    std::fs::remove_file(&gone).unwrap();
    let tty = Pty::new();
    let child = spawn_prompt(&sim, &[&tty], &[]);
    tty.expect("Enter passphrase for nest (2 encryption roots): ");
    assert_eq!(
        sim.keystatus("nest/f"),
        "available",
        "loaded from its file first"
    );
    tty.type_bytes(b"hunter2hunter2\r");
    let out = finish(child, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains("loaded the key of nest/f from its keylocation"),
        "{err}"
    );
    assert!(
        err.contains("cannot load the key of nest/g from its keylocation: Key load error: Failed to open key material file: No such file or directory"),
        "{err}"
    );
    assert_eq!(sim.keystatus("nest/g"), "available");
}

#[test]
fn no_passphrase_left_in_memory_while_waiting_for_the_next() {
    let sim = Sim::locked_root_with_child(PASS);
    sim.encrypted_root("nest/c", b"second-passphrase");
    let tty = Pty::new();
    let child = spawn_prompt(&sim, &[&tty], &[]);
    tty.expect("Enter passphrase for nest (2 encryption roots): ");
    let wrong = b"wrong-guess-7f3a9c";
    let mut typed = wrong.to_vec();
    typed.push(b'\r');
    tty.type_bytes(&typed);
    tty.expect("wrong passphrase for nest/a, nest/c");
    tty.expect_n(
        "Enter passphrase for nest (2 encryption roots): ",
        2,
        Duration::from_secs(20),
    );
    tty.type_bytes(b"hunter2hunter2\r");
    tty.expect("Enter passphrase for nest/c: ");
    std::thread::sleep(Duration::from_millis(200));
    let pid = child.id() as i32;
    for needle in [&wrong[..], PASS] {
        let hits = memscan::find_in_process_memory(pid, needle).unwrap();
        assert!(
            hits.is_empty(),
            "{:?} found at {hits:?}",
            String::from_utf8_lossy(needle)
        );
    }
    signal(&child, Signal::SIGTERM);
    let _ = finish(child, TIMEOUT);
}

/// How many roots keygate tries a typed passphrase on first: one per CPU
/// this process may use, at least two (as the gate computes it).
fn wave_width() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .max(2)
}

#[test]
fn a_wrong_passphrase_is_answered_after_one_wave_and_the_rest_tried_behind() {
    // nest/a1.. (one per CPU) share PASS; nest/z takes another passphrase.
    // Typing nest/z's: the first wave rejects it and the person is asked
    // again at once; nest/z, tried behind the new prompt, opens; then PASS
    // opens the rest.
    let width = wave_width();
    let sim = Sim::new();
    sim.pool("nest");
    let wave: Vec<String> = (1..=width).map(|i| format!("nest/a{i}")).collect();
    for name in &wave {
        sim.encrypted_root(name, PASS);
    }
    sim.encrypted_root("nest/z", b"the-other-one");
    sim.load_key_cost(Duration::from_millis(1500));
    let tty = Pty::new();
    let child = spawn_prompt(&sim, &[&tty], &[]);
    let first = format!(
        "Enter passphrase for nest ({} encryption roots): ",
        width + 1
    );
    tty.expect(&first);
    tty.type_bytes(b"the-other-one\r");
    let rejected = format!("keygate: wrong passphrase for {}.", wave.join(", "));
    tty.expect_n(&rejected, 1, Duration::from_secs(60));
    tty.expect_n(&first, 2, Duration::from_secs(20));
    let still = format!("keygate: nest/z unlocked from {}; still locked:", tty.path);
    tty.expect_n(&still, 1, Duration::from_secs(60));
    let shown = tty.output();
    let asked_again = shown.match_indices(&first).nth(1).map(|(i, _)| i);
    let opened_at = shown.find(&still);
    assert!(
        asked_again < opened_at,
        "asked again only after nest/z was tried:\n{shown}"
    );
    assert_eq!(sim.keystatus("nest/z"), "available");
    tty.type_bytes(b"hunter2hunter2\r");
    let out = finish(child, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    for name in &wave {
        assert_eq!(sim.keystatus(name), "available", "{name}");
    }
    let err = stderr_of(&out);
    assert!(
        err.contains(&format!(
            "unlocked nest/z with the passphrase from {}",
            tty.path
        )),
        "{err}"
    );
    // nest/z was tried once (behind the prompt), each of the others twice.
    let loads = loaded_roots(&sim);
    assert_eq!(
        loads.iter().filter(|r| *r == "nest/z").count(),
        1,
        "{loads:?}"
    );
    assert_eq!(loads.len(), 2 * width + 1, "{loads:?}");
}

#[test]
fn a_rejected_passphrase_is_answered_without_reading_the_key_state_again() {
    // A try that opened nothing changed nothing: the person is answered
    // without another `zfs get` (polls are an hour apart here).
    let sim = Sim::locked_root_with_child(PASS);
    let tty = Pty::new();
    let args = [
        "--mode",
        "prompt",
        "--poll-interval",
        "1h",
        "--console",
        &tty.path,
    ];
    let child = kit::spawn_gate(&sim, None, &args);
    tty.expect("Enter passphrase for nest/a: ");
    let reads_before = sim.count_calls("get");
    tty.type_bytes(b"not-the-passphrase\r");
    tty.expect("wrong passphrase for nest/a.");
    tty.expect_n("Enter passphrase for nest/a: ", 2, Duration::from_secs(20));
    assert_eq!(sim.count_calls("get"), reads_before, "{:?}", sim.calls());
    tty.type_bytes(b"hunter2hunter2\r");
    let out = finish(child, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert_eq!(sim.keystatus("nest/a"), "available");
}

/// The root of each `zfs load-key` call, in order.
fn loaded_roots(sim: &Sim) -> Vec<String> {
    sim.calls()
        .into_iter()
        .filter(|c| c[0] == "load-key")
        .map(|c| c[3].clone())
        .collect()
}
