//! Console behaviour on real pseudo-terminals (`openpty`): the test plays the
//! person at the keyboard on the master side while `read_passphrase` runs on
//! the slave side in a thread.

mod common;

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::assert_same_termios;
use keygate::terminal::{Cancel, Console, Entry, TermError};
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::termios::{self, InputFlags, LocalFlags, SetArg, Termios};

const WAIT: Duration = Duration::from_secs(10);

struct Rig {
    master: Option<Arc<OwnedFd>>,
    slave: OwnedFd,
    console: Arc<Console>,
    out: Arc<Mutex<Vec<u8>>>,
    stop: Arc<AtomicBool>,
    drain: Option<JoinHandle<()>>,
}

impl Rig {
    fn new() -> Rig {
        let pty = nix::pty::openpty(None, None).expect("openpty");
        let console_fd = nix::unistd::dup(&pty.slave).expect("dup slave");
        let console = Console::from_fd(console_fd, "pty-under-test".into()).expect("console");
        let master = Arc::new(pty.master);
        let out = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let drain = {
            let (master, out, stop) = (master.clone(), out.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while !stop.load(Ordering::SeqCst) {
                    let mut fds = [PollFd::new(master.as_fd(), PollFlags::POLLIN)];
                    match nix::poll::poll(&mut fds, PollTimeout::from(20u8)) {
                        Ok(0) => continue,
                        Ok(_) => {}
                        Err(_) => break,
                    }
                    match nix::unistd::read(&*master, &mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => out.lock().unwrap().extend_from_slice(&buf[..n]),
                    }
                }
            })
        };
        Rig {
            master: Some(master),
            slave: pty.slave,
            console: Arc::new(console),
            out,
            stop,
            drain: Some(drain),
        }
    }

    fn termios(&self) -> Termios {
        termios::tcgetattr(&self.slave).expect("tcgetattr on slave")
    }

    fn prompt(&self, prompt: &str, cancel: &Cancel) -> JoinHandle<Result<Entry, TermError>> {
        let (console, cancel, prompt) = (self.console.clone(), cancel.clone(), prompt.to_owned());
        std::thread::spawn(move || console.read_passphrase(&prompt, &cancel))
    }

    /// Waits until `needle` has appeared `count` times in the output.
    fn wait_output(&self, needle: &[u8], count: usize) {
        let deadline = Instant::now() + WAIT;
        loop {
            let seen = count_of(&self.out.lock().unwrap(), needle);
            if seen >= count {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {:?} x{count}; output so far: {:?}",
                String::from_utf8_lossy(needle),
                String::from_utf8_lossy(&self.out.lock().unwrap())
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn output(&self) -> Vec<u8> {
        self.out.lock().unwrap().clone()
    }

    fn type_bytes(&self, bytes: &[u8]) {
        let master = self.master.as_ref().expect("master open");
        let mut file = File::from(nix::unistd::dup(&**master).expect("dup master"));
        file.write_all(bytes).expect("write to master");
    }

    /// Closes every descriptor of the master side: the slave hangs up.
    fn close_master(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(drain) = self.drain.take() {
            drain.join().unwrap();
        }
        let master = self.master.take().expect("master open");
        drop(Arc::into_inner(master).expect("last master reference"));
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn count_of(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

fn finish(handle: JoinHandle<Result<Entry, TermError>>) -> Result<Entry, TermError> {
    let deadline = Instant::now() + WAIT;
    while !handle.is_finished() {
        assert!(Instant::now() < deadline, "read_passphrase did not return");
        std::thread::sleep(Duration::from_millis(2));
    }
    handle.join().expect("prompt thread panicked")
}

fn passphrase(entry: Result<Entry, TermError>) -> Vec<u8> {
    match entry {
        Ok(Entry::Passphrase(secret)) => secret.expose().to_vec(),
        other => panic!("expected a passphrase, got {other:?}"),
    }
}

/// Runs one prompt: waits for it, types `keys`, returns the entry, and
/// checks the settings came back exactly.
fn entry_for(keys: &[u8]) -> Result<Entry, TermError> {
    let rig = Rig::new();
    let before = rig.termios();
    let cancel = Cancel::new().unwrap();
    let handle = rig.prompt("Passphrase: ", &cancel);
    rig.wait_output(b"Passphrase: ", 1);
    rig.type_bytes(keys);
    let entry = finish(handle);
    assert_same_termios(&before, &rig.termios());
    entry
}

#[test]
fn enter_is_lf_or_cr_alone() {
    assert_eq!(passphrase(entry_for(b"correct horse\n")), b"correct horse");
    assert_eq!(
        passphrase(entry_for(b"battery staple\r")),
        b"battery staple"
    );
}

#[test]
fn backspace_and_del_erase_one_character() {
    assert_eq!(passphrase(entry_for(b"abcdX\x08Y\x7fe\r")), b"abcde");
    assert_eq!(
        passphrase(entry_for("päX\x7f\x7fass\n".as_bytes())),
        b"pass"
    );
}

#[test]
fn ctrl_u_erases_the_line() {
    assert_eq!(passphrase(entry_for(b"wrong start\x15right\r")), b"right");
}

#[test]
fn ctrl_c_abandons_and_a_new_entry_follows() {
    let rig = Rig::new();
    let before = rig.termios();
    let cancel = Cancel::new().unwrap();
    let first = rig.prompt("First: ", &cancel);
    rig.wait_output(b"First: ", 1);
    rig.type_bytes(b"half typed\x03");
    assert!(matches!(finish(first), Ok(Entry::Interrupted)));
    assert_same_termios(&before, &rig.termios());
    let second = rig.prompt("Again: ", &cancel);
    rig.wait_output(b"Again: ", 1);
    rig.type_bytes(b"complete\r");
    assert_eq!(passphrase(finish(second)), b"complete");
    assert_same_termios(&before, &rig.termios());
}

#[test]
fn ctrl_d_finishes_only_on_an_empty_line() {
    assert!(matches!(entry_for(b"\x04"), Ok(Entry::Finished)));
    assert_eq!(passphrase(entry_for(b"ab\x04cd\n")), b"abcd");
    assert!(matches!(entry_for(b"ab\x15\x04"), Ok(Entry::Finished)));
}

#[test]
fn pending_input_is_discarded() {
    let rig = Rig::new();
    let before = rig.termios();
    // Typed before the prompt: wait until the line discipline holds it.
    rig.type_bytes(b"typed-ahead\n");
    let mut fds = [PollFd::new(rig.slave.as_fd(), PollFlags::POLLIN)];
    let ready = nix::poll::poll(&mut fds, PollTimeout::from(5000u16)).unwrap();
    assert_eq!(ready, 1, "typed-ahead line never reached the slave");
    let cancel = Cancel::new().unwrap();
    let handle = rig.prompt("Passphrase: ", &cancel);
    rig.wait_output(b"Passphrase: ", 1);
    rig.type_bytes(b"fresh\r");
    assert_eq!(passphrase(finish(handle)), b"fresh");
    assert_same_termios(&before, &rig.termios());
}

#[test]
fn echo_is_off_while_prompting_and_unusual_settings_come_back_exactly() {
    let rig = Rig::new();
    // An original with settings raw mode must change and then put back:
    // IGNCR (would swallow a serial terminal's Enter), ISTRIP (would cut
    // 8-bit input), IXANY, no ECHOCTL, and a different erase character.
    let mut original = rig.termios();
    original.input_flags |= InputFlags::IGNCR | InputFlags::ISTRIP | InputFlags::IXANY;
    original.local_flags.remove(LocalFlags::ECHOCTL);
    original.control_chars[termios::SpecialCharacterIndices::VERASE as usize] = 0x08;
    termios::tcsetattr(&rig.slave, SetArg::TCSANOW, &original).unwrap();
    let before = rig.termios();

    let cancel = Cancel::new().unwrap();
    let handle = rig.prompt("Passphrase: ", &cancel);
    rig.wait_output(b"Passphrase: ", 1);
    let during = rig.termios();
    assert!(
        !during.local_flags.contains(LocalFlags::ECHO),
        "echo is on while prompting"
    );
    assert!(!during.local_flags.contains(LocalFlags::ICANON));
    assert!(!during.local_flags.contains(LocalFlags::ISIG));
    assert_eq!(
        during.control_flags, before.control_flags,
        "line settings untouched"
    );
    assert_eq!(
        during.output_flags, before.output_flags,
        "output settings untouched"
    );

    rig.type_bytes(b"invisible\xe9");
    std::thread::sleep(Duration::from_millis(100));
    let shown = rig.output();
    assert_eq!(
        count_of(&shown, b"invisible"),
        0,
        "typed text was echoed: {shown:?}"
    );
    rig.type_bytes(b"\r");
    assert_eq!(passphrase(finish(handle)), b"invisible\xe9");
    assert_same_termios(&before, &rig.termios());
}

#[test]
fn non_utf8_and_escape_sequences_pass_through() {
    let keys: &[u8] = b"\x1b[A\x1b[1;5D\x1bOP\xff\xfe\xc3\x28\x80\x00\x01\x1b~";
    assert_eq!(passphrase(entry_for(&[keys, b"\r"].concat())), keys);
}

#[test]
fn one_megabyte_without_newline_is_too_long() {
    let rig = Rig::new();
    let before = rig.termios();
    let cancel = Cancel::new().unwrap();
    let handle = rig.prompt("Passphrase: ", &cancel);
    rig.wait_output(b"Passphrase: ", 1);
    let chunk = vec![b'q'; 64 * 1024];
    for _ in 0..16 {
        rig.type_bytes(&chunk);
    }
    rig.type_bytes(b"\n");
    assert!(matches!(finish(handle), Ok(Entry::TooLong)));
    assert_same_termios(&before, &rig.termios());
}

#[test]
fn entries_of_8_512_and_513_bytes_come_back_intact() {
    for len in [8usize, 512, 513] {
        let keys: Vec<u8> = (0..len).map(|i| b'!' + (i % 90) as u8).collect();
        let keys: Vec<u8> = keys
            .into_iter()
            .map(|b| if b == 0x7f { b'.' } else { b })
            .collect();
        assert_eq!(
            passphrase(entry_for(&[&keys[..], b"\r"].concat())),
            keys,
            "{len} bytes"
        );
    }
}

#[test]
fn master_closed_mid_prompt_is_a_hang_up() {
    let mut rig = Rig::new();
    let cancel = Cancel::new().unwrap();
    let handle = rig.prompt("Passphrase: ", &cancel);
    rig.wait_output(b"Passphrase: ", 1);
    rig.type_bytes(b"half");
    std::thread::sleep(Duration::from_millis(50));
    rig.close_master();
    match finish(handle) {
        Err(TermError::HangUp(name)) => assert_eq!(name, "pty-under-test"),
        other => panic!("expected HangUp, got {other:?}"),
    }
    // The tty is gone (every slave descriptor is hung up), so there is
    // nothing left to compare; the prompt must simply not be stuck, and the
    // console must not be left registered as prompting.
    let again = rig.console.read_passphrase("x", &cancel);
    assert!(
        matches!(again, Err(TermError::HangUp(_))),
        "second prompt on a hung-up console: {again:?}"
    );
}

#[test]
fn cancel_from_another_thread_stops_promptly_and_restores() {
    let rig = Rig::new();
    let before = rig.termios();
    let cancel = Cancel::new().unwrap();
    let handle = rig.prompt("Passphrase: ", &cancel);
    rig.wait_output(b"Passphrase: ", 1);
    rig.type_bytes(b"partial");
    std::thread::sleep(Duration::from_millis(20));
    let started = Instant::now();
    cancel.cancel_with_message("keygate: keys loaded from /dev/ttyS1; no passphrase needed here");
    while !handle.is_finished() {
        assert!(
            started.elapsed() < Duration::from_millis(100),
            "cancel took too long"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(matches!(handle.join().unwrap(), Ok(Entry::Cancelled)));
    assert_same_termios(&before, &rig.termios());
    // On a line of its own (the pty has ONLCR on, so CR LF shows as CR CR LF).
    rig.wait_output(b"Passphrase: \r", 1);
    rig.wait_output(
        b"\nkeygate: keys loaded from /dev/ttyS1; no passphrase needed here\r",
        1,
    );
    // A cancelled handle stays cancelled.
    assert!(cancel.is_cancelled());
    assert!(matches!(
        rig.console.read_passphrase("again: ", &cancel),
        Ok(Entry::Cancelled)
    ));
}

#[test]
fn one_cancel_stops_every_console() {
    let rigs = [Rig::new(), Rig::new(), Rig::new()];
    let cancel = Cancel::new().unwrap();
    let handles: Vec<_> = rigs
        .iter()
        .map(|r| r.prompt("Passphrase: ", &cancel))
        .collect();
    for rig in &rigs {
        rig.wait_output(b"Passphrase: ", 1);
    }
    cancel.cancel();
    for handle in handles {
        assert!(matches!(finish(handle), Ok(Entry::Cancelled)));
    }
}

#[test]
fn a_second_prompt_on_the_same_console_is_refused() {
    let rig = Rig::new();
    let cancel = Cancel::new().unwrap();
    let handle = rig.prompt("Passphrase: ", &cancel);
    rig.wait_output(b"Passphrase: ", 1);
    match rig.console.read_passphrase("twice: ", &cancel) {
        Err(e @ TermError::Busy(_)) => {
            assert_eq!(
                e.to_string(),
                "console pty-under-test is already prompting for a passphrase"
            )
        }
        other => panic!("expected Busy, got {other:?}"),
    }
    rig.type_bytes(b"once\r");
    assert_eq!(passphrase(finish(handle)), b"once");
}

#[test]
fn say_ends_lines_with_crlf() {
    let rig = Rig::new();
    // OPOST off, as on some serial lines: our CR LF must still be there.
    let mut t = rig.termios();
    t.output_flags.remove(termios::OutputFlags::OPOST);
    termios::tcsetattr(&rig.slave, SetArg::TCSANOW, &t).unwrap();
    rig.console.say("first\nsecond").unwrap();
    rig.wait_output(b"first\r\nsecond\r\n", 1);
}

#[test]
fn open_by_path_and_clear_errors() {
    let rig = Rig::new();
    let path = nix::unistd::ttyname(&rig.slave).unwrap();
    let console = Console::open(&path).expect("open pty slave by path");
    assert_eq!(console.name(), path.display().to_string());

    match Console::open(Path::new("/dev/null")) {
        Err(e @ TermError::NotATerminal(_)) => {
            assert_eq!(
                e.to_string(),
                "cannot prompt on /dev/null: it is not a terminal"
            )
        }
        other => panic!("expected NotATerminal, got {other:?}"),
    }
    match Console::open(Path::new("/nonexistent/ttyS9")) {
        Err(e @ TermError::Open { .. }) => {
            let text = e.to_string();
            assert!(
                text.starts_with("cannot open console /nonexistent/ttyS9: "),
                "{text}"
            );
        }
        other => panic!("expected Open error, got {other:?}"),
    }
}
