//! A console as a source of passphrases: one thread per console prompts,
//! checks the length, hands the passphrase to the gate and tells the person
//! what it opened.

use std::sync::mpsc::{self, Sender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::secret::Secret;
use crate::terminal::{Console, Entry, TermError};

use super::Reply;
use super::board::{Board, name_list, prompt_text};
use crate::gate::Event;

/// Passphrase lengths OpenZFS accepts when a key is created: anything
/// outside can never be right, so it is refused before any zfs call.
pub const MIN_LEN: usize = 8;
pub const MAX_LEN: usize = 512;

/// The least time between a rejected passphrase's Enter and the next prompt.
/// It runs from the Enter, so it overlaps the attempt: a slow key derivation
/// (PBKDF2 at its default cost takes longer) adds no pause on top.
const REJECT_PAUSE: Duration = Duration::from_secs(1);

pub struct ConsoleSource {
    pub name: String,
    pub handle: JoinHandle<()>,
}

/// Start prompting on `console`. `tries` is the number of wrong passphrases
/// allowed (0: unlimited).
pub fn spawn(
    console: Console,
    board: Board,
    events: Sender<Event>,
    tries: u32,
) -> std::io::Result<ConsoleSource> {
    let name = console.name().to_string();
    let handle = thread::Builder::new()
        .name(format!("console {name}"))
        .spawn(move || prompt_loop(console, board, events, tries))?;
    Ok(ConsoleSource { name, handle })
}

fn prompt_loop(console: Console, board: Board, events: Sender<Event>, tries: u32) {
    let name = console.name().to_string();
    let mut wrong = 0u32;
    let ended = |reason: String| {
        let _ = events.send(Event::SourceEnded {
            source: name.clone(),
            reason,
        });
    };
    loop {
        let round = board.round();
        if round.done || round.roots.is_empty() {
            return;
        }
        let prompt = prompt_text(&round.roots, round.initial);
        let entry = match console.read_passphrase(&prompt, &round.cancel) {
            Ok(entry) => entry,
            Err(TermError::HangUp(_)) => return ended("the line hung up".into()),
            Err(e) => return ended(e.to_string()),
        };
        let secret = match entry {
            Entry::Passphrase(secret) => secret,
            Entry::TooLong => {
                let _ = console.say(&format!(
                    "That passphrase is too long: ZFS passphrases are at most {MAX_LEN} bytes."
                ));
                continue;
            }
            Entry::Interrupted => {
                let _ = console.say("^C");
                continue;
            }
            Entry::Finished => {
                let _ = console.say("keygate: no longer prompting on this console.");
                return ended("Ctrl-D: prompting stopped there".into());
            }
            Entry::Cancelled => continue,
        };
        if let Some(problem) = passphrase_problem(&secret) {
            drop(secret);
            let _ = console.say(&problem);
            continue;
        }
        let (reply_tx, reply_rx) = mpsc::channel();
        let entered = Instant::now();
        let sent = events.send(Event::Passphrase {
            source: name.clone(),
            secret,
            reply: reply_tx,
        });
        if sent.is_err() {
            return;
        }
        let Ok(reply) = reply_rx.recv() else {
            return;
        };
        for line in describe(&reply) {
            let _ = console.say(&line);
        }
        if reply.remaining.is_empty() {
            return;
        }
        if reply.opened.is_empty() && !reply.rejected.is_empty() {
            wrong += 1;
            if tries != 0 && wrong >= tries {
                let _ = console.say(&format!(
                    "keygate: {wrong} wrong passphrases; no longer prompting here. Load the keys with 'zfs load-key' to continue the boot."
                ));
                return ended(format!("{wrong} wrong passphrases"));
            }
            thread::sleep(REJECT_PAUSE.saturating_sub(entered.elapsed()));
        }
    }
}

/// Why a passphrase can never be right, if it cannot: its length is outside
/// what OpenZFS accepts when a key is created, or it holds a newline.
/// OpenZFS reads only the first line of a passphrase (up to the first
/// `\n`), so a passphrase with a newline in it would be cut there and could
/// open a root whose passphrase is only its first line: it is refused before
/// any zfs call. (A newline can only arrive over the control socket or from
/// a password agent; at a console it ends the entry.)
pub fn passphrase_problem(secret: &Secret) -> Option<String> {
    let n = secret.len();
    if let Some(at) = secret.expose().iter().position(|&b| b == b'\n') {
        return Some(format!(
            "That passphrase contains a newline (after byte {at}): ZFS reads only the first line of a passphrase, so it cannot be tried."
        ));
    }
    if n == 0 {
        Some("Empty passphrase; type the passphrase and press Enter.".into())
    } else if n < MIN_LEN {
        Some(format!(
            "That passphrase is too short ({n} bytes): ZFS passphrases are at least {MIN_LEN} bytes."
        ))
    } else if n > MAX_LEN {
        Some(format!(
            "That passphrase is too long ({n} bytes): ZFS passphrases are at most {MAX_LEN} bytes."
        ))
    } else {
        None
    }
}

/// What the person at the console is told after an attempt.
pub fn describe(reply: &Reply) -> Vec<String> {
    let mut lines = Vec::new();
    if !reply.opened.is_empty() {
        lines.push(format!("keygate: unlocked {}.", name_list(&reply.opened)));
    }
    if !reply.rejected.is_empty() {
        lines.push(format!(
            "keygate: wrong passphrase for {}.",
            name_list(&reply.rejected)
        ));
    }
    for (root, why) in &reply.failed {
        lines.push(format!("keygate: {root}: {why}"));
    }
    if reply.opened.is_empty() && reply.rejected.is_empty() && reply.failed.is_empty() {
        lines.push("keygate: nothing left to unlock.".into());
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newline_rule() {
        for bad in [
            &b"hunter2hunter2\njunk"[..],
            b"hunter2hunter2\r\n",
            b"\nhunter2hunter2",
        ] {
            assert!(
                passphrase_problem(&Secret::from_slice(bad))
                    .unwrap()
                    .contains("contains a newline"),
                "{bad:?}"
            );
        }
        assert!(passphrase_problem(&Secret::from_slice(b"hunter2hunter2\r")).is_none());
        assert!(passphrase_problem(&Secret::from_slice(b"hunter2\0hunter2")).is_none());
    }

    #[test]
    fn length_rules() {
        assert!(
            passphrase_problem(&Secret::from_slice(b""))
                .unwrap()
                .contains("Empty")
        );
        assert!(
            passphrase_problem(&Secret::from_slice(b"1234567"))
                .unwrap()
                .contains("too short (7 bytes)")
        );
        assert!(passphrase_problem(&Secret::from_slice(b"12345678")).is_none());
        assert!(passphrase_problem(&Secret::from_slice(&[b'x'; 512])).is_none());
        assert!(
            passphrase_problem(&Secret::from_slice(&[b'x'; 513]))
                .unwrap()
                .contains("too long (513 bytes)")
        );
        assert!(passphrase_problem(&Secret::from_slice(&[0xff, 0xfe, 0, 1, 2, 3, 4, 5])).is_none());
    }

    #[test]
    fn replies_in_words() {
        let r = Reply {
            opened: vec!["nest/a".into()],
            rejected: vec!["nest/b".into()],
            failed: vec![],
            remaining: vec!["nest/b".into()],
        };
        assert_eq!(
            describe(&r),
            vec![
                "keygate: unlocked nest/a.",
                "keygate: wrong passphrase for nest/b."
            ]
        );
    }
}
