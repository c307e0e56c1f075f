//! Adversarial suite, terminal input: what a console line can throw at a
//! prompting gate. One test per case; the `case:`/`outcome:` comments feed
//! docs/robustness.md (see tests/robustness_doc.rs).

mod common;
mod kit;

use std::time::Duration;

use common::{Sim, TIMEOUT};
use kit::{
    Pty, assert_not_leaked, control_exchange, default_socket, eventually, finish, peak_rss_kib,
    spawn_prompt, stderr_of, termios_fields,
};

const PASS: &[u8] = b"hunter2hunter2";

/// Types `pass` and Enter (CR, as a serial terminal sends it).
fn enter(tty: &Pty, pass: &[u8]) {
    let mut line = pass.to_vec();
    line.push(b'\r');
    tty.type_bytes(&line);
}

/// case: Terminal input / control characters (Ctrl-Z, Ctrl-\, Ctrl-A, BEL, TAB) and Ctrl-C
/// outcome: raw mode has ISIG off, so Ctrl-Z and Ctrl-\ neither stop nor kill the gate: like every control byte but the editing keys they are passphrase bytes; Ctrl-C abandons the entry and prompts again; the key loads, exit 0, terminal restored exactly
#[test]
fn control_characters() {
    let pass = b"hun\x01ter\x1a2\x1c\x07\t!";
    let sim = Sim::locked_root(pass);
    let tty = Pty::new();
    let before = termios_fields(&tty.termios());
    let gate = spawn_prompt(&sim, &[&tty], &[]);
    tty.expect("Enter passphrase for nest/a: ");
    tty.type_bytes(b"abandoned\x03");
    tty.expect_n("Enter passphrase for nest/a: ", 2, Duration::from_secs(20));
    enter(&tty, pass);
    let out = finish(gate, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert_eq!(sim.keystatus("nest/a"), "available");
    assert_eq!(
        sim.count_calls("load-key"),
        1,
        "the Ctrl-C'd entry was never tried"
    );
    assert_eq!(termios_fields(&tty.termios()), before);
}

/// case: Terminal input / escape sequences (arrow and function keys)
/// outcome: not interpreted: their bytes are part of the passphrase unchanged and nothing is echoed; a passphrase set with them unlocks, exit 0
#[test]
fn escape_sequences() {
    let pass = b"\x1b[AZq7\x1b[D\x1bOPvX9\x1b[3~";
    let sim = Sim::locked_root(pass);
    let tty = Pty::new();
    let gate = spawn_prompt(&sim, &[&tty], &[]);
    tty.expect("Enter passphrase for nest/a: ");
    enter(&tty, pass);
    let out = finish(gate, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert!(!tty.output().contains("Zq7"), "echoed: {}", tty.output());
    assert_not_leaked(&sim, &out, &[&tty.output()], b"Zq7\x1b[D\x1bOPvX9");
}

/// case: Terminal input / 1 MB typed without a newline
/// outcome: memory stays bounded (the entry is wiped once it passes 1024 bytes and the rest only counted); Enter gives "too long", no zfs call; the next prompt works, exit 0
#[test]
fn one_megabyte_without_newline() {
    let sim = Sim::locked_root(PASS);
    let tty = Pty::new();
    let gate = spawn_prompt(&sim, &[&tty], &[]);
    tty.expect("Enter passphrase for nest/a: ");
    tty.type_bytes(&vec![b'a'; 1 << 20]);
    tty.type_bytes(b"\r");
    tty.expect("That passphrase is too long");
    assert_eq!(sim.count_calls("load-key"), 0);
    let peak = peak_rss_kib(gate.id());
    assert!(peak < 64 * 1024, "peak RSS {peak} KiB after 1 MB of input");
    tty.expect_n("Enter passphrase for nest/a: ", 2, Duration::from_secs(20));
    enter(&tty, PASS);
    let out = finish(gate, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert_eq!(sim.count_calls("load-key"), 1);
}

/// case: Terminal input / bytes arriving one at a time with pauses (slow serial line)
/// outcome: the entry is assembled across reads, no timeout per byte; the key loads, exit 0
#[test]
fn bytes_one_at_a_time_with_pauses() {
    let sim = Sim::locked_root(PASS);
    let tty = Pty::new();
    let gate = spawn_prompt(&sim, &[&tty], &[]);
    tty.expect("Enter passphrase for nest/a: ");
    for &b in PASS.iter().chain(b"\r") {
        tty.type_bytes(&[b]);
        std::thread::sleep(Duration::from_millis(150));
    }
    let out = finish(gate, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert_eq!(sim.count_calls("load-key"), 1);
}

/// case: Terminal input / BREAK on a serial line (read as a NUL byte: IGNBRK and BRKINT off)
/// outcome: the NUL is a byte of the entry like any other and zfs ends the passphrase there: a BREAK before the passphrase makes a wrong passphrase and a new prompt; one after it still unlocks, exit 0
#[test]
fn serial_break() {
    let sim = Sim::locked_root(PASS);
    let tty = Pty::new();
    let gate = spawn_prompt(&sim, &[&tty], &[]);
    tty.expect("Enter passphrase for nest/a: ");
    tty.type_bytes(b"\0");
    enter(&tty, PASS);
    tty.expect("wrong passphrase for nest/a");
    tty.expect_n("Enter passphrase for nest/a: ", 2, Duration::from_secs(20));
    tty.type_bytes(PASS);
    tty.type_bytes(b"\0\r");
    let out = finish(gate, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert_eq!(sim.count_calls("load-key"), 2);
}

/// case: Terminal input / hang-up of the only console (carrier lost, line closed)
/// outcome: "the line hung up" warning, the console leaves `keygate status`, the gate falls back to waiting (hint with the load-key command) and continues once the key is loaded another way, exit 0
#[test]
fn hang_up_of_the_only_console() {
    let sim = Sim::locked_root(PASS);
    let tty = Pty::new();
    let gate = spawn_prompt(&sim, &[&tty], &[]);
    tty.expect("Enter passphrase for nest/a: ");
    tty.type_bytes(b"half-typ");
    let source = format!("source\tconsole {}", tty.path);
    let status = || control_exchange(&default_socket(&sim), b"KEYGATE/1 STATUS\n");
    assert!(status().contains(&source));
    let Pty { master, slave, .. } = tty;
    drop(master);
    drop(slave);
    assert!(
        eventually(TIMEOUT, || !status().contains(&source)),
        "the console is still listed as a source"
    );
    sim.load("nest/a");
    let out = finish(gate, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    let err = stderr_of(&out);
    assert!(err.contains("hung up"), "{err}");
    assert!(
        err.contains("waiting for the keys to be loaded another way"),
        "{err}"
    );
    assert_eq!(sim.count_calls("load-key"), 0);
}

/// case: Terminal input / bytes that are not UTF-8
/// outcome: passed to zfs unchanged; a passphrase set with them unlocks, exit 0
#[test]
fn non_utf8_bytes() {
    let pass = b"\xff\xfe\xe9t\xe9-caf\xc3\xa9\x80";
    let sim = Sim::locked_root(pass);
    let tty = Pty::new();
    let gate = spawn_prompt(&sim, &[&tty], &[]);
    tty.expect("Enter passphrase for nest/a: ");
    enter(&tty, pass);
    let out = finish(gate, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert_eq!(sim.keystatus("nest/a"), "available");
}

/// case: Terminal input / Ctrl-D on an empty line
/// outcome: prompting stops on that console ("no longer prompting"), terminal restored; the gate waits for the key another way and continues once it is loaded, exit 0
#[test]
fn ctrl_d_on_an_empty_line() {
    let sim = Sim::locked_root(PASS);
    let tty = Pty::new();
    let before = termios_fields(&tty.termios());
    let gate = spawn_prompt(&sim, &[&tty], &[]);
    tty.expect("Enter passphrase for nest/a: ");
    tty.type_bytes(b"\x04");
    tty.expect("no longer prompting on this console");
    assert!(eventually(Duration::from_secs(10), || {
        termios_fields(&tty.termios()) == before
    }));
    let source = format!("source\tconsole {}", tty.path);
    assert!(eventually(TIMEOUT, || {
        !control_exchange(&default_socket(&sim), b"KEYGATE/1 STATUS\n").contains(&source)
    }));
    sim.load("nest/a");
    let out = finish(gate, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert!(stderr_of(&out).contains("Ctrl-D"), "{}", stderr_of(&out));
}
