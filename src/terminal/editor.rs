//! The line editor: turns raw input bytes into an [`Entry`].
//!
//! Pure (no I/O), fed one byte at a time. It edits directly in a [`Secret`],
//! so erased, abandoned and over-long input is overwritten with zeros.
//!
//! Keys: CR or LF ends the entry; Backspace (0x08) or DEL (0x7f) erases one
//! character (a whole UTF-8 sequence when the bytes before form one, else one
//! byte); Ctrl-U (0x15) erases the line; Ctrl-C (0x03) abandons the entry;
//! Ctrl-D (0x04) on an empty line means "stop prompting here" and is ignored
//! otherwise. Every other byte, including escape sequences and bytes that are
//! not UTF-8, becomes part of the passphrase unchanged.
//!
//! The line is bounded by the fixed capacity of its `Secret`
//! ([`Secret::CAPACITY`], well above the 512 bytes OpenZFS accepts). Once an
//! entry grows past it, the kept bytes are wiped and the rest of the line is
//! only counted as "too long" until Enter, so endless input never grows memory.

use super::Entry;
use crate::secret::Secret;

const CR: u8 = b'\r';
const LF: u8 = b'\n';
const BS: u8 = 0x08;
const DEL: u8 = 0x7f;
const CTRL_C: u8 = 0x03;
const CTRL_D: u8 = 0x04;
const CTRL_U: u8 = 0x15;

/// How a line ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// CR or LF.
    Enter,
    /// Ctrl-C.
    Interrupt,
    /// Ctrl-D on an empty line.
    Finish,
}

pub(crate) struct LineEditor {
    line: Secret,
    too_long: bool,
}

impl LineEditor {
    pub(crate) fn new() -> LineEditor {
        LineEditor {
            line: Secret::new(),
            too_long: false,
        }
    }

    /// Processes one byte; returns how the line ended, if it did.
    pub(crate) fn feed(&mut self, byte: u8) -> Option<End> {
        match byte {
            CR | LF => return Some(End::Enter),
            CTRL_C => return Some(End::Interrupt),
            CTRL_D if self.line.is_empty() && !self.too_long => return Some(End::Finish),
            CTRL_D => {}
            CTRL_U => self.reset(),
            BS | DEL if !self.too_long => self.erase_char(),
            BS | DEL => {}
            _ if self.too_long => {}
            _ => {
                if !self.line.push(byte) {
                    self.line.clear();
                    self.too_long = true;
                }
            }
        }
        None
    }

    /// Wipes the line and starts afresh (Ctrl-U, or a prompt re-printed
    /// after the process was stopped and continued).
    pub(crate) fn reset(&mut self) {
        self.line.clear();
        self.too_long = false;
    }

    /// The entry for a line that ended with `end`.
    pub(crate) fn finish(self, end: End) -> Entry {
        match end {
            End::Enter if self.too_long => Entry::TooLong,
            End::Enter => Entry::Passphrase(self.line),
            End::Interrupt => Entry::Interrupted,
            End::Finish => Entry::Finished,
        }
    }

    fn erase_char(&mut self) {
        let bytes = self.line.expose();
        let len = bytes.len();
        if len == 0 {
            return;
        }
        // Walk back over up to three UTF-8 continuation bytes; erase the
        // whole sequence only if its lead byte announces exactly that length.
        let mut start = len - 1;
        while start > 0 && len - start < 4 && bytes[start] & 0xC0 == 0x80 {
            start -= 1;
        }
        let seq_len = match bytes[start] {
            b if b & 0xE0 == 0xC0 => 2,
            b if b & 0xF0 == 0xE0 => 3,
            b if b & 0xF8 == 0xF0 => 4,
            _ => 1,
        };
        let new_len = if seq_len == len - start && seq_len > 1 {
            start
        } else {
            len - 1
        };
        self.line.truncate(new_len);
    }

    #[cfg(test)]
    fn stored(&self) -> usize {
        self.line.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &[u8]) -> (Option<End>, LineEditor) {
        let mut ed = LineEditor::new();
        for &b in input {
            if let Some(end) = ed.feed(b) {
                return (Some(end), ed);
            }
        }
        (None, ed)
    }

    fn passphrase(input: &[u8]) -> Vec<u8> {
        let (end, ed) = run(input);
        match ed.finish(end.expect("line ended")) {
            Entry::Passphrase(s) => s.expose().to_vec(),
            other => panic!("expected a passphrase, got {other:?}"),
        }
    }

    #[test]
    fn enter_is_cr_or_lf() {
        assert_eq!(passphrase(b"abc\n"), b"abc");
        assert_eq!(passphrase(b"abc\r"), b"abc");
        assert_eq!(passphrase(b"\r"), b"");
    }

    #[test]
    fn erasing() {
        assert_eq!(passphrase(b"abcd\x08\x7fx\n"), b"abx");
        assert_eq!(passphrase(b"\x08\x7fab\n"), b"ab");
        assert_eq!(passphrase(b"garbage\x15good\n"), b"good");
        // One character of UTF-8 goes as a whole; stray bytes go one by one.
        assert_eq!(passphrase("aé\x7f\n".as_bytes()), b"a");
        assert_eq!(passphrase("a€\x7f\n".as_bytes()), b"a");
        assert_eq!(passphrase(b"a\x80\x80\x7f\n"), b"a\x80");
        assert_eq!(passphrase(b"a\xff\x7f\n"), b"a");
    }

    #[test]
    fn control_keys() {
        assert_eq!(run(b"abc\x03").0, Some(End::Interrupt));
        assert_eq!(run(b"\x04").0, Some(End::Finish));
        assert_eq!(passphrase(b"ab\x04c\n"), b"abc");
        assert_eq!(run(b"ab\x15\x04").0, Some(End::Finish));
    }

    #[test]
    fn other_bytes_pass_through() {
        let keys = b"\x1b[A\x1bOP\xff\xfe\x00\x01\x1b~\xc3\xa9";
        assert_eq!(passphrase(&[&keys[..], b"\r"].concat()), keys);
    }

    #[test]
    fn long_input_is_bounded_and_reported() {
        let mut ed = LineEditor::new();
        for _ in 0..1_000_000 {
            assert_eq!(ed.feed(b'a'), None);
            assert!(ed.stored() <= Secret::CAPACITY);
        }
        assert_eq!(ed.line.capacity(), Secret::CAPACITY);
        assert!(matches!(ed.finish(End::Enter), Entry::TooLong));
        // Exactly the capacity still fits; one more is too long.
        let full = vec![b'z'; Secret::CAPACITY];
        assert_eq!(passphrase(&[&full[..], b"\n"].concat()), full);
        let (end, ed) = run(&[&full[..], b"z\n"].concat());
        assert!(matches!(ed.finish(end.unwrap()), Entry::TooLong));
        // Ctrl-U recovers from "too long".
        assert_eq!(passphrase(&[&full[..], b"zz\x15ok\n"].concat()), b"ok");
    }
}
