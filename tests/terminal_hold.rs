//! A held console (`Console::hold` .. `Console::release`) on a real pty:
//! no echo between prompts, type-ahead is the next entry, stale input after
//! a withdrawn prompt is discarded with a line saying so, and release puts
//! the exact settings back and says whether it threw input away.

mod common;
mod kit;

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use keygate::terminal::{Cancel, Console, DISCARDED, Entry};
use kit::{Pty, eventually, termios_fields};

const WAIT: Duration = Duration::from_secs(10);

fn console(tty: &Pty) -> Arc<Console> {
    Arc::new(Console::open(std::path::Path::new(&tty.path)).unwrap())
}

/// [`console`], held.
fn held(tty: &Pty) -> Arc<Console> {
    let c = console(tty);
    c.hold().unwrap();
    c
}

/// `read_passphrase` at `prompt` on a thread of its own; `cancel` withdraws it.
fn reading(c: &Arc<Console>, prompt: &'static str, cancel: &Cancel) -> thread::JoinHandle<Entry> {
    let c = c.clone();
    let cancel = cancel.clone();
    thread::spawn(move || c.read_passphrase(prompt, &cancel).unwrap())
}

fn passphrase(entry: Entry) -> Vec<u8> {
    match entry {
        Entry::Passphrase(s) => s.expose().to_vec(),
        other => panic!("expected a passphrase, got {other:?}"),
    }
}

/// `read_passphrase` on a thread, given up (cancelled, then a failure)
/// after `WAIT`, so a prompt that never gets its entry fails the test
/// instead of hanging it.
fn read_within(c: &Arc<Console>, prompt: &'static str) -> Entry {
    let cancel = Cancel::new().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let worker = {
        let c = c.clone();
        let cancel = cancel.clone();
        thread::spawn(move || {
            let _ = tx.send(c.read_passphrase(prompt, &cancel).unwrap());
        })
    };
    match rx.recv_timeout(WAIT) {
        Ok(entry) => entry,
        Err(_) => {
            cancel.cancel();
            let _ = worker.join();
            panic!("no entry at {prompt:?} within {WAIT:?}");
        }
    }
}

/// Waits until the slave has input queued (the line discipline holds it).
fn queued(tty: &Pty) {
    use nix::poll::{PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let mut fds = [PollFd::new(tty.slave.as_fd(), PollFlags::POLLIN)];
    let n = nix::poll::poll(&mut fds, PollTimeout::from(5000u16)).unwrap();
    assert_eq!(n, 1, "typed bytes never reached the slave");
}

#[test]
fn between_prompts_nothing_echoes_and_type_ahead_is_the_next_entry() {
    let tty = Pty::new();
    let before = termios_fields(&tty.termios());
    let c = held(&tty);
    let cancel = Cancel::new().unwrap();
    assert!(!tty.echo_on(), "held, before any prompt");
    let worker = reading(&c, "One: ", &cancel);
    tty.expect("One: ");
    // Two lines at once: the second is typed ahead of the next prompt.
    tty.type_bytes(b"first-entry\rsecond-entry\r");
    assert_eq!(passphrase(worker.join().unwrap()), b"first-entry");
    assert!(!tty.echo_on(), "echo back on between prompts");
    assert_eq!(passphrase(read_within(&c, "Two: ")), b"second-entry");
    tty.type_bytes(b"left-over");
    queued(&tty);
    assert!(c.release().unwrap(), "release says it discarded input");
    assert_eq!(termios_fields(&tty.termios()), before);
    assert!(!tty.output().contains("entry"), "echoed: {}", tty.output());
    assert!(!c.release().unwrap(), "a second release does nothing");
}

#[test]
fn after_a_withdrawn_prompt_stale_input_is_discarded_and_said() {
    let tty = Pty::new();
    let before = termios_fields(&tty.termios());
    let c = held(&tty);
    let first = Cancel::new().unwrap();
    let worker = reading(&c, "One: ", &first);
    tty.expect("One: ");
    tty.type_bytes(b"half");
    first.cancel_with_message("withdrawn");
    assert!(matches!(worker.join().unwrap(), Entry::Cancelled));
    tty.type_bytes(b"stale-bytes\r");
    queued(&tty);
    let second = Cancel::new().unwrap();
    let worker = reading(&c, "Two: ", &second);
    tty.expect("Two: ");
    assert!(tty.output().contains(DISCARDED), "{}", tty.output());
    tty.type_bytes(b"fresh-entry\r");
    assert_eq!(passphrase(worker.join().unwrap()), b"fresh-entry");
    assert!(!c.release().unwrap(), "nothing left over");
    assert_eq!(termios_fields(&tty.termios()), before);
    assert!(!tty.output().contains("stale"), "{}", tty.output());
}

#[test]
fn dropping_a_held_console_restores_it() {
    let tty = Pty::new();
    let before = termios_fields(&tty.termios());
    let c = held(&tty);
    assert!(!tty.echo_on());
    drop(c);
    assert!(eventually(WAIT, || termios_fields(&tty.termios()) == before));
}
