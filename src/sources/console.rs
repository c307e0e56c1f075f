//! A console as a source of passphrases: one thread per console prompts,
//! checks the length, hands the passphrase to the gate and tells the person
//! what it opened.

use std::sync::mpsc::{self, Sender};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::secret::{MAX_LEN, passphrase_problem};
use crate::terminal::{Console, Entry, TermError};

use super::board::{Board, name_list, prompt_text};
use super::{Event, Reply, SourceHandle, SourceId};

/// Pause after a rejected passphrase.
const REJECT_PAUSE: Duration = Duration::from_secs(1);

/// Start prompting on `console`. `tries` is the number of wrong passphrases
/// allowed (0: unlimited).
pub fn spawn(
    console: Console,
    board: Board,
    events: Sender<Event>,
    tries: u32,
) -> std::io::Result<SourceHandle> {
    let name = console.name().to_string();
    let handle: JoinHandle<()> = thread::Builder::new()
        .name(format!("console {name}"))
        .spawn(move || prompt_loop(console, board, events, tries))?;
    Ok(SourceHandle {
        id: SourceId::Console(name),
        handle,
    })
}

fn prompt_loop(console: Console, board: Board, events: Sender<Event>, tries: u32) {
    let id = SourceId::Console(console.name().to_string());
    let mut wrong = 0u32;
    let ended = |reason: String| {
        let _ = events.send(Event::SourceEnded {
            source: id.clone(),
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
        let sent = events.send(Event::Passphrase {
            source: id.clone(),
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
            thread::sleep(REJECT_PAUSE);
        }
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
