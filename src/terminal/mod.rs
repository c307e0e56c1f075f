//! Terminal handling: no-echo passphrase entry on consoles, and putting every
//! terminal back exactly as it was, on every exit.
//!
//! # Use
//!
//! ```no_run
//! use keygate::terminal::{Cancel, Console, Entry};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let console = Console::open(std::path::Path::new("/dev/ttyS0"))?;
//! let cancel = Cancel::new()?; // one clone per console thread
//! loop {
//!     match console.read_passphrase("Passphrase for nest: ", &cancel)? {
//!         Entry::Passphrase(secret) => { /* try it; maybe prompt again */ break }
//!         Entry::TooLong => console.say("keygate: too long")?,
//!         Entry::Interrupted => continue,
//!         Entry::Finished | Entry::Cancelled => break,
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! # Keys
//!
//! Enter is CR or LF (serial terminals send CR). Backspace (0x08) and DEL
//! (0x7f) erase one character; Ctrl-U erases the line; Ctrl-C abandons the
//! entry ([`Entry::Interrupted`]); Ctrl-D on an empty line stops prompting on
//! this console ([`Entry::Finished`]) and is ignored otherwise. Every other
//! byte (escape sequences, bytes that are not UTF-8) is part of the
//! passphrase unchanged. Input pending when the prompt appears is discarded,
//! except on a held console ([`Console::hold`]), where what was typed after
//! the last entry is the next one.
//! An entry longer than [`crate::secret::Secret::CAPACITY`] bytes is
//! [`Entry::TooLong`]; its bytes are wiped as soon as it overflows and the
//! rest of the line is only counted, so memory stays bounded. Length rules
//! of OpenZFS (8..=512) are the caller's business.
//!
//! # Raw mode and restoring
//!
//! Raw mode clears `ECHO ECHONL ICANON ISIG IEXTEN` and `ICRNL INLCR IGNCR
//! ISTRIP` (and `IUCLC`), sets `VMIN` 1 / `VTIME` 0, and leaves output and
//! line (baud, parity, flow control) settings alone. The complete termios it
//! replaced is kept in a process-wide registry and set back, exactly, when
//! `read_passphrase` returns for any reason (on a held console: when
//! [`Console::release`] runs or the console is dropped), when [`restore_all`] runs (from
//! any thread; final: prompting stops for good), and around stop/continue
//! signals (see [`crate::signals`]). After a hang-up the terminal is gone and
//! nothing can be restored; that is reported as [`TermError::HangUp`].

mod cancel;
mod console;
mod editor;
mod error;
mod raw;

pub use cancel::Cancel;
pub use console::{Console, DISCARDED};
pub use error::TermError;
pub use raw::restore_all;
pub(crate) use raw::{resume_all, suspend_all};

use crate::secret::Secret;

/// How one prompt ended.
#[derive(Debug)]
pub enum Entry {
    /// Enter was pressed; the bytes typed (possibly empty).
    Passphrase(Secret),
    /// Enter was pressed after more than [`Secret::CAPACITY`] bytes; nothing
    /// was kept.
    TooLong,
    /// Ctrl-C: the entry was abandoned; prompt again if appropriate.
    Interrupted,
    /// Ctrl-D on an empty line: stop prompting on this console.
    Finished,
    /// The [`Cancel`] fired (or [`restore_all`] ran): stop prompting.
    Cancelled,
}

/// Fuzzing and regression-test entry (`fuzz/`, `tests/fuzz_regressions.rs`):
/// feeds `input` to the line editor one byte at a time, with a fresh editor
/// after each finished line as each prompt makes, and returns how each line
/// ended. A line still open at the end of the input is dropped. Not part of
/// the API.
#[doc(hidden)]
pub fn edit_for_fuzzing(input: &[u8]) -> Vec<Entry> {
    let mut entries = Vec::new();
    let mut line = editor::LineEditor::new();
    for &byte in input {
        if let Some(end) = line.feed(byte) {
            let done = std::mem::replace(&mut line, editor::LineEditor::new());
            entries.push(done.finish(end));
        }
    }
    entries
}
