//! One opened console: open, write lines, read a passphrase.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag};
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::stat::Mode;
use nix::sys::termios::{self, FlushArg};

use super::editor::LineEditor;
use super::raw::{Enter, RawGuard, Wake};
use super::{Cancel, Entry, TermError};
use crate::secret::Secret;

/// How long a write may stay blocked (serial flow control, a stuck line)
/// before it is reported as an error.
const WRITE_STALL: Duration = Duration::from_secs(30);

/// Size of the locked buffer each `read(2)` goes into: input is read one
/// byte at a time (see `prompt_loop`).
const READ_CHUNK: usize = 1;

/// One opened terminal (a VGA console, a serial line, a pty).
///
/// The descriptor is non-blocking; every wait is a `poll(2)`. A `Console` is
/// `Send + Sync`; the intended use is one thread per console, with
/// [`Console::read_passphrase`] called in a loop and a shared [`Cancel`].
#[derive(Debug)]
pub struct Console {
    fd: OwnedFd,
    name: String,
    /// Raw mode kept between prompts (see [`Console::hold`]).
    held: Mutex<Held>,
}

/// The state of a [`Console::hold`].
#[derive(Debug, Default)]
struct Held {
    guard: Option<RawGuard>,
    /// Whether input queued when the next prompt starts is its entry (the
    /// last prompt ended with Enter or Ctrl-C) rather than stale.
    keep_queued: bool,
    /// Whether a prompt has been shown during this hold.
    prompted: bool,
    /// Whether the last entry ended with CR: an LF right after it belongs
    /// to the same Enter (CR LF) and is skipped, not an empty entry.
    after_cr: bool,
}

/// What the next prompt says when it discarded input queued since the last
/// entry (see [`Console::hold`]).
pub const DISCARDED: &str = "keygate: input typed since the last entry was discarded.";

/// What a prompt does with input queued when it starts.
#[derive(Clone, Copy)]
enum Queued {
    /// It is the entry (typed ahead while held).
    Keep,
    /// Stale: discard it.
    Discard,
    /// Stale: discard it and print [`DISCARDED`] if there was any.
    DiscardAndSay,
}

/// Result of a write that a `Cancel` may cut short.
enum Written {
    All,
    Cancelled,
}

/// How the prompt loop ended.
enum Outcome {
    Entry(Entry),
    /// The caller's `Cancel` fired: announce its message.
    Cancelled,
    /// `restore_all` ran: the process is going away, say nothing.
    Released,
}

impl Console {
    /// Opens `path` read-write with `O_NOCTTY` (it never becomes the
    /// controlling terminal), `O_CLOEXEC`, and `O_NONBLOCK` (so the open does
    /// not wait for carrier on a serial line without `CLOCAL`).
    pub fn open(path: &Path) -> Result<Console, TermError> {
        let flags = OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK;
        let fd = nix::fcntl::open(path, flags, Mode::empty()).map_err(|e| TermError::Open {
            path: path.to_owned(),
            source: e.into(),
        })?;
        Console::from_fd(fd, path.display().to_string())
    }

    /// Wraps an already open terminal (tests pass a pty slave); `name` is
    /// used in messages. Fails with [`TermError::NotATerminal`] if `fd` is
    /// not a terminal. Makes the descriptor non-blocking.
    pub fn from_fd(fd: OwnedFd, name: String) -> Result<Console, TermError> {
        match nix::unistd::isatty(&fd) {
            Ok(true) => {}
            Ok(false) | Err(Errno::ENOTTY) | Err(Errno::EINVAL) => {
                return Err(TermError::NotATerminal(name));
            }
            Err(e) => return Err(TermError::io(&name, "check that it is a terminal", e)),
        }
        let flags = nix::fcntl::fcntl(&fd, FcntlArg::F_GETFL)
            .map_err(|e| TermError::io(&name, "read its file status flags", e))?;
        let flags = OFlag::from_bits_retain(flags) | OFlag::O_NONBLOCK;
        nix::fcntl::fcntl(&fd, FcntlArg::F_SETFL(flags))
            .map_err(|e| TermError::io(&name, "make it non-blocking", e))?;
        Ok(Console {
            fd,
            name,
            held: Mutex::new(Held::default()),
        })
    }

    /// The name given at open (the device path).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Writes `line` and ends it with CR LF (any `\n` inside also becomes
    /// CR LF), so it looks right whether or not the terminal translates
    /// newlines. Gives up after 30 s of blocked output.
    pub fn say(&self, line: &str) -> Result<(), TermError> {
        let mut bytes = crlf(line);
        bytes.extend_from_slice(b"\r\n");
        self.write_all(&bytes, None).map(|_| ())
    }

    /// Puts the console into raw mode without echo now and keeps it there,
    /// across prompts and the time between them, until [`Console::release`]
    /// (or drop, or [`super::restore_all`]). Nothing typed while held is
    /// echoed, whether or not a prompt is showing.
    ///
    /// While held, what is typed between prompts (while the last entry is
    /// checked, during a pause after it) stays queued, unseen, and is the
    /// entry of the next prompt, as if typed there. Input queued when the
    /// first prompt appears, or when a prompt follows one that did not end
    /// with Enter or Ctrl-C (it was cancelled, the process was stopped), is
    /// discarded instead, and from the second prompt on the prompt says so
    /// first with [`DISCARDED`].
    ///
    /// Holding an already held console does nothing. After
    /// [`super::restore_all`] it does nothing either: the process is going
    /// away, and prompts return [`Entry::Cancelled`].
    pub fn hold(&self) -> Result<(), TermError> {
        let mut held = self.held();
        if held.guard.is_some() {
            return Ok(());
        }
        match RawGuard::enter(self.fd.as_fd()) {
            Ok(Enter::Raw(guard)) => {
                *held = Held {
                    guard: Some(guard),
                    ..Held::default()
                };
                Ok(())
            }
            Ok(Enter::Closed) => Ok(()),
            Ok(Enter::Busy) => Err(TermError::Busy(self.name.clone())),
            Err(e) => Err(self.fail("turn off echo", e)),
        }
    }

    /// Ends a [`Console::hold`]: discards input still queued (it was never
    /// echoed and is never used) and puts back the exact settings saved when
    /// the hold began. Returns whether any input was discarded, so the
    /// caller can say so. Without a hold it does nothing.
    pub fn release(&self) -> Result<bool, TermError> {
        let (guard, after_cr) = {
            let mut held = self.held();
            (held.guard.take(), held.after_cr)
        };
        let Some(guard) = guard else {
            return Ok(false);
        };
        let mut discarded = self.input_queued();
        if discarded && after_cr {
            // The LF of the last entry's CR LF is not input of its own.
            let mut byte = Secret::with_capacity(READ_CHUNK);
            let read = byte.append_with(|buf| nix::unistd::read(&self.fd, &mut buf[..1]));
            discarded = !matches!(read, Ok(1)) || byte.expose() != b"\n" || self.input_queued();
        }
        let flushed = self.flush_input();
        let restored = guard.release();
        flushed?;
        restored.map_err(|e| self.fail("restore the terminal settings", e))?;
        Ok(discarded)
    }

    fn held(&self) -> MutexGuard<'_, Held> {
        // The state stays consistent if a holder panicked.
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether input is waiting to be read.
    fn input_queued(&self) -> bool {
        let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
        matches!(nix::poll::poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
            && fds[0]
                .revents()
                .is_some_and(|r| r.contains(PollFlags::POLLIN))
    }

    /// Prompts for one passphrase.
    ///
    /// Saves the terminal settings, switches to raw mode without echo,
    /// discards input that was already pending, writes `prompt` (as is: no
    /// newline is added), and edits a line (see [`Entry`] for the keys). The
    /// saved settings are put back exactly before it returns, on every path.
    /// On a held console (see [`Console::hold`]) raw mode stays on when it
    /// returns, and input typed ahead is the entry.
    ///
    /// Returns [`Entry::Cancelled`] when `cancel` fires (after printing its
    /// message, if any, on a line of its own) and when
    /// [`super::restore_all`] has run. A hang-up is
    /// `Err(TermError::HangUp)`.
    pub fn read_passphrase(&self, prompt: &str, cancel: &Cancel) -> Result<Entry, TermError> {
        if cancel.is_cancelled() {
            return Ok(Entry::Cancelled);
        }
        let mut lock = self.held();
        let held = &mut *lock;
        let outcome = if let Some(guard) = &held.guard {
            if guard.is_released() {
                return Ok(Entry::Cancelled);
            }
            let queued = if held.keep_queued {
                Queued::Keep
            } else if held.prompted {
                Queued::DiscardAndSay
            } else {
                Queued::Discard
            };
            held.prompted = true;
            let outcome = self.prompt_loop(prompt, cancel, guard, queued, &mut held.after_cr);
            held.keep_queued = matches!(
                outcome,
                Ok(Outcome::Entry(
                    Entry::Passphrase(_) | Entry::TooLong | Entry::Interrupted
                ))
            );
            outcome?
        } else {
            drop(lock);
            let guard = match RawGuard::enter(self.fd.as_fd()) {
                Ok(Enter::Raw(guard)) => guard,
                Ok(Enter::Closed) => return Ok(Entry::Cancelled),
                Ok(Enter::Busy) => return Err(TermError::Busy(self.name.clone())),
                Err(e) => return Err(self.fail("turn off echo", e)),
            };
            let outcome = self.prompt_loop(prompt, cancel, &guard, Queued::Discard, &mut false);
            let restored = guard.release();
            match (outcome, restored) {
                (Err(e), _) => return Err(e),
                (Ok(_), Err(e)) => return Err(self.fail("restore the terminal settings", e)),
                (Ok(outcome), Ok(())) => outcome,
            }
        };
        match outcome {
            Outcome::Entry(entry) => Ok(entry),
            Outcome::Released => Ok(Entry::Cancelled),
            Outcome::Cancelled => {
                if let Some(message) = cancel.message() {
                    // Best effort: the prompt is over either way, and a
                    // console that fails here reports it on its next use.
                    let _ = self.write_all(b"\r\n", None);
                    let _ = self.say(&message);
                }
                Ok(Entry::Cancelled)
            }
        }
    }

    fn prompt_loop(
        &self,
        prompt: &str,
        cancel: &Cancel,
        guard: &RawGuard,
        queued: Queued,
        after_cr: &mut bool,
    ) -> Result<Outcome, TermError> {
        // A leading LF is the rest of the last entry's CR LF only when it
        // was typed ahead; anything discarded takes it along.
        let mut skip_lf = matches!(queued, Queued::Keep) && *after_cr;
        *after_cr = false;
        // Discard what was typed before the prompt shows, not after: on a
        // slow line the prompt may take a while to appear.
        match queued {
            Queued::Keep => {}
            Queued::Discard => self.flush_input()?,
            Queued::DiscardAndSay => {
                let discarded = self.input_queued();
                self.flush_input()?;
                if discarded {
                    self.say(DISCARDED)?;
                }
            }
        }
        let prompt = crlf(prompt);
        if let Written::Cancelled = self.write_all(&prompt, Some(cancel))? {
            return Ok(Outcome::Cancelled);
        }
        let mut editor = LineEditor::new();
        let mut chunk = Secret::with_capacity(READ_CHUNK);
        loop {
            let mut fds = [
                PollFd::new(self.fd.as_fd(), PollFlags::POLLIN),
                PollFd::new(cancel.fd(), PollFlags::POLLIN),
                PollFd::new(guard.wake_fd(), PollFlags::POLLIN),
            ];
            match nix::poll::poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {}
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(self.fail("wait for input", e)),
            }
            let tty = fds[0].revents().unwrap_or(PollFlags::empty());
            let cancelled = fds[1].revents().is_some_and(|r| !r.is_empty());
            let woken = fds[2].revents().is_some_and(|r| !r.is_empty());
            if cancelled || cancel.is_cancelled() {
                return Ok(Outcome::Cancelled);
            }
            if woken {
                match guard.take_wake() {
                    Wake::Released => return Ok(Outcome::Released),
                    Wake::Resumed => {
                        editor.reset();
                        let mut again = b"\r\n".to_vec();
                        again.extend_from_slice(&prompt);
                        if let Written::Cancelled = self.write_all(&again, Some(cancel))? {
                            return Ok(Outcome::Cancelled);
                        }
                    }
                    Wake::Nothing => {}
                }
                continue;
            }
            if tty.contains(PollFlags::POLLNVAL) {
                return Err(self.fail("wait for input", Errno::EBADF));
            }
            if tty.is_empty() {
                continue;
            }
            // Read even on POLLHUP: data typed before the hang-up comes first.
            // One byte at a time, so that what follows Enter stays queued in
            // the terminal for the next prompt (or to be discarded there).
            loop {
                chunk.clear();
                match chunk.append_with(|buf| nix::unistd::read(&self.fd, &mut buf[..1])) {
                    Ok(0) | Err(Errno::EIO) => return Err(TermError::HangUp(self.name.clone())),
                    Ok(_) => {
                        let byte = chunk.expose().first().copied();
                        chunk.clear();
                        if std::mem::take(&mut skip_lf) && byte == Some(b'\n') {
                            continue;
                        }
                        let end = byte.and_then(|b| editor.feed(b));
                        if let Some(end) = end {
                            *after_cr = byte == Some(b'\r');
                            // Move to a new line; the entry counts even if this fails.
                            let _ = self.write_all(b"\r\n", Some(cancel));
                            return Ok(Outcome::Entry(editor.finish(end)));
                        }
                    }
                    Err(Errno::EAGAIN) | Err(Errno::EINTR) => {
                        if tty.intersects(PollFlags::POLLHUP | PollFlags::POLLERR) {
                            return Err(TermError::HangUp(self.name.clone()));
                        }
                        break;
                    }
                    Err(e) => return Err(self.fail("read from the console", e)),
                }
            }
        }
    }

    fn flush_input(&self) -> Result<(), TermError> {
        match termios::tcflush(&self.fd, FlushArg::TCIFLUSH) {
            Ok(()) => Ok(()),
            Err(e) => Err(self.fail("discard pending input", e)),
        }
    }

    /// Writes all of `bytes`, waiting with `poll` when the terminal is not
    /// ready; stops early if `cancel` fires.
    fn write_all(&self, bytes: &[u8], cancel: Option<&Cancel>) -> Result<Written, TermError> {
        let mut rest = bytes;
        while !rest.is_empty() {
            match nix::unistd::write(&self.fd, rest) {
                Ok(n) => rest = &rest[n..],
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => {
                    if let Written::Cancelled = self.wait_writable(cancel)? {
                        return Ok(Written::Cancelled);
                    }
                }
                Err(e) => return Err(self.fail("write to the console", e)),
            }
        }
        Ok(Written::All)
    }

    fn wait_writable(&self, cancel: Option<&Cancel>) -> Result<Written, TermError> {
        let timeout = PollTimeout::try_from(WRITE_STALL).unwrap_or(PollTimeout::MAX);
        let mut fds = vec![PollFd::new(self.fd.as_fd(), PollFlags::POLLOUT)];
        if let Some(cancel) = cancel {
            fds.push(PollFd::new(cancel.fd(), PollFlags::POLLIN));
        }
        match nix::poll::poll(&mut fds, timeout) {
            Ok(0) => Err(TermError::io(
                &self.name,
                "write to the console (output blocked for 30 s)",
                std::io::Error::from(std::io::ErrorKind::TimedOut),
            )),
            Ok(_) => {
                if fds
                    .get(1)
                    .and_then(|f| f.revents())
                    .is_some_and(|r| !r.is_empty())
                {
                    return Ok(Written::Cancelled);
                }
                let out = fds[0].revents().unwrap_or(PollFlags::empty());
                if out.intersects(PollFlags::POLLHUP | PollFlags::POLLERR) {
                    return Err(TermError::HangUp(self.name.clone()));
                }
                Ok(Written::All)
            }
            Err(Errno::EINTR) => Ok(Written::All),
            Err(e) => Err(self.fail("wait until the console accepts output", e)),
        }
    }

    /// Maps an errno to an error about `what`; `EIO` is a hang-up.
    fn fail(&self, what: &'static str, e: Errno) -> TermError {
        match e {
            Errno::EIO => TermError::HangUp(self.name.clone()),
            Errno::ENOTTY => TermError::NotATerminal(self.name.clone()),
            e => TermError::io(&self.name, what, e),
        }
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        // Errors cannot be reported from here; `release` reports them.
        let _ = self.release();
    }
}

/// `text` with every line ending as CR LF.
fn crlf(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 2);
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(line.strip_suffix('\r').unwrap_or(line).as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::crlf;

    #[test]
    fn crlf_line_endings() {
        assert_eq!(crlf("a\nb\r\nc"), b"a\r\nb\r\nc");
        assert_eq!(crlf("Passphrase: "), b"Passphrase: ");
    }
}
