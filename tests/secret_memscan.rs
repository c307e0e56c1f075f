//! Passphrases typed on a console are found in the prompting process's
//! memory while held, and nowhere once dropped; erased, abandoned and
//! over-long entries are never left behind.
//!
//! The prompting process is this test binary re-executed with
//! `KEYGATE_TEST_MEMSCAN_CHILD=<pty slave path>`, running only the ignored
//! test `memscan_child`, which follows the script in `child_script`. Without
//! that variable `memscan_child` does nothing. The passphrases are made up by
//! the parent and reach the child only through the pty, so any copy found in
//! the child was made by keygate's code.

mod common;
mod memscan;

use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::process::{ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use common::{ChildGuard, SpawnGuarded};
use keygate::terminal::{Cancel, Console, Entry};
use memscan::find_in_process_memory;
use nix::poll::{PollFd, PollFlags, PollTimeout};

const CHILD_ENV: &str = "KEYGATE_TEST_MEMSCAN_CHILD";
const WAIT: Duration = Duration::from_secs(10);

/// Entry point of the prompting child (see the module docs): ignored,
/// the parent runs it by name with `--ignored --exact`.
#[test]
#[ignore = "the child of another test, run by it"]
fn memscan_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let console = Console::open(std::path::Path::new(&path)).expect("open console");
    let cancel = Cancel::new().expect("cancel");
    let mut control = BufReader::new(std::io::stdin());
    let mut step = |word: &str| {
        println!("@@ {word}");
        std::io::stdout().flush().unwrap();
        let mut line = String::new();
        control.read_line(&mut line).unwrap();
    };
    // 1. Hold a passphrase, then drop it.
    let held = console.read_passphrase("One: ", &cancel).unwrap();
    assert!(matches!(held, Entry::Passphrase(_)));
    step("HOLDING");
    drop(held);
    step("DROPPED");
    // 2. Erased (Ctrl-U), abandoned (Ctrl-C) and too long, then a short one.
    let mut results = Vec::new();
    loop {
        let entry = console.read_passphrase("Two: ", &cancel).unwrap();
        let done = matches!(entry, Entry::Passphrase(_));
        results.push(format!("{entry:?}"));
        if done {
            step(&format!("HOLDING-SHORT {}", results.join(" ")));
            drop(entry);
            break;
        }
    }
    step("END");
    std::process::exit(0);
}

struct Scripted {
    child: ChildGuard,
    master: OwnedFd,
    to_child: ChildStdin,
    from_child: BufReader<ChildStdout>,
    seen: Vec<u8>,
}

impl Scripted {
    fn start() -> Scripted {
        let pty = nix::pty::openpty(None, None).expect("openpty");
        let path = nix::unistd::ttyname(&pty.slave).expect("ttyname");
        let mut child = Command::new(std::env::current_exe().expect("current_exe"))
            .args([
                "--ignored",
                "--exact",
                "memscan_child",
                "--nocapture",
                "--test-threads=1",
                "-q",
            ])
            .env(CHILD_ENV, &path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn_guarded();
        let to_child = child.stdin.take().expect("stdin");
        let from_child = BufReader::new(child.stdout.take().expect("stdout"));
        drop(pty.slave);
        Scripted {
            child,
            master: pty.master,
            to_child,
            from_child,
            seen: Vec::new(),
        }
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn wait_prompt(&mut self, prompt: &[u8], count: usize) {
        let deadline = Instant::now() + WAIT;
        let mut buf = [0u8; 1024];
        while self
            .seen
            .windows(prompt.len())
            .filter(|w| *w == prompt)
            .count()
            < count
        {
            assert!(Instant::now() < deadline, "no prompt {prompt:?}");
            let mut fds = [PollFd::new(self.master.as_fd(), PollFlags::POLLIN)];
            if nix::poll::poll(&mut fds, PollTimeout::from(50u8)).unwrap_or(0) > 0 {
                if let Ok(n) = nix::unistd::read(&self.master, &mut buf) {
                    self.seen.extend_from_slice(&buf[..n]);
                }
            }
        }
    }

    fn type_bytes(&self, bytes: &[u8]) {
        let mut rest = bytes;
        while !rest.is_empty() {
            let n = nix::unistd::write(&self.master, rest).expect("write master");
            rest = &rest[n..];
        }
    }

    /// Reads the child's next report line (it then waits for `next`),
    /// skipping what the test harness prints.
    fn report(&mut self) -> String {
        loop {
            let mut line = String::new();
            let n = self.from_child.read_line(&mut line).expect("child report");
            assert!(n > 0, "child stdout closed");
            if let Some(report) = line.trim().strip_prefix("@@ ") {
                return report.to_owned();
            }
        }
    }

    fn next(&mut self) {
        self.to_child.write_all(b"next\n").expect("tell child");
    }
}

impl Drop for Scripted {
    fn drop(&mut self) {
        // Never leave the child behind when an assertion fails.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A made-up passphrase: printable, no editing keys, different every run.
fn pattern(tag: &str) -> Vec<u8> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("kg-{tag}-{:x}-{:x}-zz", nanos, std::process::id()).into_bytes()
}

#[test]
fn memscan_finds_a_held_passphrase_and_not_a_dropped_one() {
    let held = pattern("held");
    // Longer than what replaces it, so a tail would survive a mere truncate.
    let erased: Vec<u8> = pattern("erased").repeat(3);
    let backspaced = pattern("backspaced");
    let abandoned = pattern("abandoned");
    let too_long: Vec<u8> = pattern("toolong").into_iter().cycle().take(3000).collect();
    let short = pattern("short");

    let mut s = Scripted::start();
    s.wait_prompt(b"One: ", 1);
    s.type_bytes(&held);
    s.type_bytes(b"\r");
    assert_eq!(s.report(), "HOLDING");
    let hits = find_in_process_memory(s.pid(), &held).expect("scan");
    assert!(!hits.is_empty(), "held passphrase not found in the child");
    assert!(
        hits.iter().all(|(_, mapping)| mapping.is_empty()),
        "copies outside keygate's private mappings: {hits:?}"
    );
    s.next();

    assert_eq!(s.report(), "DROPPED");
    let hits = find_in_process_memory(s.pid(), &held).expect("scan");
    assert!(
        hits.is_empty(),
        "dropped passphrase still in memory at {hits:?}"
    );
    s.next();

    s.wait_prompt(b"Two: ", 1);
    s.type_bytes(&abandoned);
    s.type_bytes(b"\x03");
    s.wait_prompt(b"Two: ", 2);
    s.type_bytes(&too_long);
    s.type_bytes(b"\r");
    s.wait_prompt(b"Two: ", 3);
    // The entry that is finally held went through Ctrl-U and Backspace in
    // the same buffer: what was erased must be zeros behind the kept bytes.
    s.type_bytes(&erased);
    s.type_bytes(b"\x15");
    s.type_bytes(&short);
    s.type_bytes(&backspaced);
    s.type_bytes(&vec![0x7f; backspaced.len()]);
    s.type_bytes(b"\r");
    let want = format!(
        "HOLDING-SHORT Interrupted TooLong Passphrase(Secret(<redacted>, {} bytes))",
        short.len()
    );
    assert_eq!(s.report(), want);
    for (what, needle) in [
        ("erased (Ctrl-U)", &erased[erased.len() - 24..]),
        ("erased (Backspace)", &backspaced[..]),
        ("abandoned (Ctrl-C)", &abandoned[..]),
        ("too long", &too_long[..64]),
    ] {
        let hits = find_in_process_memory(s.pid(), needle).expect("scan");
        assert!(hits.is_empty(), "{what} input left in memory at {hits:?}");
    }
    assert!(!find_in_process_memory(s.pid(), &short).unwrap().is_empty());
    s.next();
    assert_eq!(s.report(), "END");
    s.next();
    let status = s.child.wait().expect("wait");
    drop(s);
    assert!(status.success(), "child: {status}");
}
