//! Signals arriving while a separate process prompts on a pty: the terminal
//! comes back exactly, and the process still dies by the signal (or stops,
//! and prompts again in raw mode when continued).
//!
//! The prompting process is this test binary itself, re-executed with
//! `KEYGATE_TEST_SIGNAL_CHILD=<pty slave path>` to run only the ignored test
//! `signal_child`, which then behaves like a minimal gate: signal thread,
//! one console thread, and `terminate_by` on `SignalEvent::Terminate`.
//! Without that variable `signal_child` does nothing.

mod common;

use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{ChildGuard, SpawnGuarded};
use keygate::signals::{self, SignalEvent};
use keygate::terminal::{Cancel, Console, Entry};
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{Signal, kill};
use nix::sys::termios::{self, LocalFlags, Termios};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

const CHILD_ENV: &str = "KEYGATE_TEST_SIGNAL_CHILD";
const EPIPE_ENV: &str = "KEYGATE_TEST_SIGNAL_CHILD_EPIPE";
const WAIT: Duration = Duration::from_secs(10);

/// Entry point of the prompting child (see the module docs): ignored,
/// the parent runs it by name with `--ignored --exact`.
#[test]
#[ignore = "the child of another test, run by it"]
fn signal_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (tx, rx) = mpsc::channel();
    signals::spawn(tx).expect("signal thread");
    for warning in keygate::secret::harden_process() {
        eprintln!("child: {warning}");
    }
    if std::env::var_os(EPIPE_ENV).is_some() {
        // A write into a pipe nobody reads: must fail with EPIPE, not kill us.
        let (r, w) = nix::unistd::pipe().expect("pipe");
        drop(r);
        let secret = keygate::secret::Secret::from_slice(b"doomed");
        let err = keygate::secret::write_secret_line(&w, &secret).expect_err("EPIPE");
        assert_eq!(err.raw_os_error(), Some(libc::EPIPE));
        println!("EPIPE seen");
    }
    let console = Console::open(std::path::Path::new(&path)).expect("open console");
    let cancel = Cancel::new().expect("cancel");
    std::thread::spawn(move || {
        loop {
            match console.read_passphrase("Child prompt: ", &cancel) {
                Ok(Entry::Passphrase(secret)) => {
                    let _ = console.say(&format!("got {} bytes", secret.len()));
                }
                Ok(Entry::Interrupted | Entry::TooLong) => {}
                Ok(Entry::Finished | Entry::Cancelled) | Err(_) => return,
            }
        }
    });
    for event in rx {
        match event {
            SignalEvent::Terminate(sig) => signals::terminate_by(sig),
            SignalEvent::Recheck => println!("recheck"),
        }
    }
    std::process::exit(3);
}

struct Prompting {
    child: ChildGuard,
    master: OwnedFd,
    slave: OwnedFd,
    before: Termios,
    seen: Vec<u8>,
}

impl Prompting {
    fn start(epipe: bool) -> Prompting {
        let pty = nix::pty::openpty(None, None).expect("openpty");
        let before = termios::tcgetattr(&pty.slave).expect("tcgetattr");
        let path = nix::unistd::ttyname(&pty.slave).expect("ttyname");
        let mut cmd = Command::new(std::env::current_exe().expect("current_exe"));
        cmd.args([
            "--ignored",
            "--exact",
            "signal_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        if epipe {
            cmd.env(EPIPE_ENV, "1");
        }
        let child = cmd.spawn_guarded();
        let mut p = Prompting {
            child,
            master: pty.master,
            slave: pty.slave,
            before,
            seen: Vec::new(),
        };
        p.wait_output(b"Child prompt: ", 1);
        assert!(!p.termios().local_flags.contains(LocalFlags::ECHO));
        p
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    fn termios(&self) -> Termios {
        termios::tcgetattr(&self.slave).expect("tcgetattr on slave")
    }

    fn type_bytes(&self, bytes: &[u8]) {
        let mut rest = bytes;
        while !rest.is_empty() {
            let n = nix::unistd::write(&self.master, rest).expect("write master");
            rest = &rest[n..];
        }
    }

    fn wait_output(&mut self, needle: &[u8], count: usize) {
        let deadline = Instant::now() + WAIT;
        let mut buf = [0u8; 1024];
        while self
            .seen
            .windows(needle.len())
            .filter(|w| *w == needle)
            .count()
            < count
        {
            if Instant::now() >= deadline {
                let stderr = self.stderr_if_dead();
                panic!(
                    "timed out waiting for {:?}; seen {:?}; child stderr: {stderr}",
                    String::from_utf8_lossy(needle),
                    String::from_utf8_lossy(&self.seen),
                );
            }
            let mut fds = [PollFd::new(self.master.as_fd(), PollFlags::POLLIN)];
            if nix::poll::poll(&mut fds, PollTimeout::from(50u8)).unwrap_or(0) > 0 {
                if let Ok(n) = nix::unistd::read(&self.master, &mut buf) {
                    self.seen.extend_from_slice(&buf[..n]);
                }
            }
        }
    }

    fn stderr_if_dead(&mut self) -> String {
        match self.child.try_wait() {
            Ok(Some(status)) => {
                let mut err = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                format!("(exited: {status}) {err}")
            }
            _ => "(still running)".into(),
        }
    }

    fn wait_raw(&self, raw: bool) {
        let deadline = Instant::now() + WAIT;
        while self.termios().local_flags.contains(LocalFlags::ECHO) == raw {
            assert!(Instant::now() < deadline, "terminal never became raw={raw}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn expect_death_by(mut self, sig: Signal) {
        let status = waitpid(self.pid(), None).expect("waitpid");
        match status {
            WaitStatus::Signaled(_, got, _) => assert_eq!(got, sig, "died by the wrong signal"),
            other => panic!(
                "child did not die by {sig:?}: {other:?}; stderr: {}",
                self.stderr_if_dead()
            ),
        }
        assert_restored(&self.before, &self.termios());
    }
}

/// The terminal came back exactly, echoing and line-editing again.
fn assert_restored(before: &Termios, after: &Termios) {
    common::assert_same_termios(before, after);
    assert!(
        after
            .local_flags
            .contains(LocalFlags::ECHO | LocalFlags::ICANON)
    );
}

#[test]
fn terminating_signals_restore_the_terminal_and_still_kill() {
    for sig in [
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGINT,
        Signal::SIGQUIT,
        Signal::SIGALRM,
        Signal::SIGPIPE,
    ] {
        let p = Prompting::start(false);
        p.type_bytes(b"half a pass");
        std::thread::sleep(Duration::from_millis(20));
        kill(p.pid(), sig).expect("kill");
        p.expect_death_by(sig);
    }
}

#[test]
fn a_write_into_a_closed_pipe_does_not_kill() {
    let mut p = Prompting::start(true);
    let mut out = String::new();
    let mut stdout = p.child.stdout.take().expect("stdout");
    let mut buf = [0u8; 64];
    let deadline = Instant::now() + WAIT;
    while !out.contains("EPIPE seen") {
        assert!(
            Instant::now() < deadline,
            "child never reported EPIPE: {out:?}"
        );
        let n = stdout.read(&mut buf).expect("read child stdout");
        assert!(n > 0, "child stdout closed: {out:?}");
        out.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    // Give a misrouted SIGPIPE time to do damage, then check nothing happened.
    std::thread::sleep(Duration::from_millis(200));
    assert!(matches!(p.child.try_wait(), Ok(None)), "child died");
    assert!(
        !p.termios().local_flags.contains(LocalFlags::ECHO),
        "prompt ended"
    );
    p.type_bytes(b"still here\r");
    p.wait_output(b"got 10 bytes", 1);
    kill(p.pid(), Signal::SIGTERM).expect("kill");
    p.expect_death_by(Signal::SIGTERM);
}

#[test]
fn stop_restores_and_continue_prompts_again_in_raw_mode() {
    for stop in [Signal::SIGTSTP, Signal::SIGTTIN, Signal::SIGTTOU] {
        let mut p = Prompting::start(false);
        p.type_bytes(b"typed before the stop");
        std::thread::sleep(Duration::from_millis(20));
        kill(p.pid(), stop).expect("kill");
        match waitpid(p.pid(), Some(WaitPidFlag::WUNTRACED)).expect("waitpid") {
            WaitStatus::Stopped(_, _) => {}
            other => panic!("expected a stop after {stop:?}, got {other:?}"),
        }
        assert_restored(&p.before, &p.termios());

        kill(p.pid(), Signal::SIGCONT).expect("SIGCONT");
        p.wait_raw(true);
        p.wait_output(b"Child prompt: ", 2);
        let during = p.termios();
        assert!(!during.local_flags.contains(LocalFlags::ICANON));
        // The entry typed before the stop was wiped: only the new one counts.
        p.type_bytes(b"after\r");
        p.wait_output(b"got 5 bytes", 1);

        kill(p.pid(), Signal::SIGTERM).expect("kill");
        p.expect_death_by(Signal::SIGTERM);
    }
}
