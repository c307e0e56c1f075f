//! One opened console: open, write lines, read a passphrase.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
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

/// Size of the locked buffer each `read(2)` goes into.
const READ_CHUNK: usize = 256;

/// One opened terminal (a VGA console, a serial line, a pty).
///
/// The descriptor is non-blocking; every wait is a `poll(2)`. A `Console` is
/// `Send + Sync`; the intended use is one thread per console, with
/// [`Console::read_passphrase`] called in a loop and a shared [`Cancel`].
#[derive(Debug)]
pub struct Console {
    fd: OwnedFd,
    name: String,
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
        Ok(Console { fd, name })
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

    /// Prompts for one passphrase.
    ///
    /// Saves the terminal settings, switches to raw mode without echo,
    /// discards input that was already pending, writes `prompt` (as is: no
    /// newline is added), and edits a line (see [`Entry`] for the keys). The
    /// saved settings are put back exactly before it returns, on every path.
    ///
    /// Returns [`Entry::Cancelled`] when `cancel` fires (after printing its
    /// message, if any, on a line of its own) and when
    /// [`super::restore_all`] has run. A hang-up is
    /// `Err(TermError::HangUp)`.
    pub fn read_passphrase(&self, prompt: &str, cancel: &Cancel) -> Result<Entry, TermError> {
        if cancel.is_cancelled() {
            return Ok(Entry::Cancelled);
        }
        let guard = match RawGuard::enter(self.fd.as_fd()) {
            Ok(Enter::Raw(guard)) => guard,
            Ok(Enter::Closed) => return Ok(Entry::Cancelled),
            Ok(Enter::Busy) => return Err(TermError::Busy(self.name.clone())),
            Err(e) => return Err(self.fail("turn off echo", e)),
        };
        let outcome = self.prompt_loop(prompt, cancel, &guard);
        let restored = guard.release();
        let outcome = match (outcome, restored) {
            (Err(e), _) => return Err(e),
            (Ok(_), Err(e)) => return Err(self.fail("restore the terminal settings", e)),
            (Ok(outcome), Ok(())) => outcome,
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
    ) -> Result<Outcome, TermError> {
        // Discard what was typed before the prompt shows, not after: on a
        // slow line the prompt may take a while to appear.
        self.flush_input()?;
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
            chunk.clear();
            match chunk.append_with(|buf| nix::unistd::read(&self.fd, buf)) {
                Ok(0) | Err(Errno::EIO) => return Err(TermError::HangUp(self.name.clone())),
                Ok(_) => {
                    let mut end = None;
                    for &byte in chunk.expose() {
                        end = editor.feed(byte);
                        if end.is_some() {
                            break;
                        }
                    }
                    chunk.clear();
                    if let Some(end) = end {
                        // Move to a new line; the entry counts even if this fails.
                        let _ = self.write_all(b"\r\n", Some(cancel));
                        return Ok(Outcome::Entry(editor.finish(end)));
                    }
                }
                Err(Errno::EAGAIN) | Err(Errno::EINTR) => {
                    if tty.intersects(PollFlags::POLLHUP | PollFlags::POLLERR) {
                        return Err(TermError::HangUp(self.name.clone()));
                    }
                }
                Err(e) => return Err(self.fail("read from the console", e)),
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
