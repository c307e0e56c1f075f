//! Text that came from outside the process (a configuration file, zfs's
//! output, a socket client) made safe to put in a message.
//!
//! Messages go to consoles and serial lines at boot. A raw escape sequence
//! there can clear the screen, move the cursor over a prompt or change what
//! the next keystroke does, and a raw newline splits one error over two
//! lines. So every control character is shown as an escape (`\u{1b}`,
//! `\n`, `\t`); everything else, non-ASCII letters included, is kept.

use std::borrow::Cow;

/// `s` with its control characters escaped; borrowed when there are none.
pub fn printable(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        let s = "nest/home: Incorrect key — übrigens";
        assert!(matches!(printable(s), std::borrow::Cow::Borrowed(x) if x == s));
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(printable("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(printable("one\ntwo\r"), "one\\ntwo\\r");
        assert_eq!(printable("\t\u{7f}\u{85}"), "\\t\\u{7f}\\u{85}");
    }

    #[test]
    fn result_has_no_control_character() {
        let all: String = (0u32..0x200).filter_map(char::from_u32).collect();
        assert!(!printable(&all).chars().any(char::is_control));
    }
}
