//! What every prompting console is asking for right now, shared between the
//! gate and its console threads.
//!
//! The gate changes it when roots open (from any source) or when everything
//! is done; each change cancels the prompts on screen, with a one-line
//! message, so every console re-prompts for exactly what is still locked.

use std::sync::{Arc, Mutex};

use crate::terminal::Cancel;

#[derive(Clone)]
pub struct Board {
    inner: Arc<Mutex<State>>,
}

struct State {
    /// Locked roots a typed passphrase can open.
    roots: Vec<String>,
    /// How many roots were asked for at first (to word the prompt).
    initial: usize,
    /// Set once nothing is left to ask for.
    done: bool,
    /// The cancel handle of the current round of prompts.
    cancel: Cancel,
}

/// One console's view of the board at the start of a prompt.
pub struct Round {
    pub roots: Vec<String>,
    pub initial: usize,
    pub done: bool,
    pub cancel: Cancel,
}

impl Board {
    pub fn new(roots: Vec<String>) -> std::io::Result<Board> {
        Ok(Board {
            inner: Arc::new(Mutex::new(State {
                initial: roots.len(),
                roots,
                done: false,
                cancel: Cancel::new()?,
            })),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn round(&self) -> Round {
        let s = self.lock();
        Round {
            roots: s.roots.clone(),
            initial: s.initial,
            done: s.done,
            cancel: s.cancel.clone(),
        }
    }

    pub fn roots(&self) -> Vec<String> {
        self.lock().roots.clone()
    }

    /// The set of roots still locked changed: prompts on screen are
    /// withdrawn with `message` and asked again.
    pub fn update(&self, roots: Vec<String>, message: &str) {
        let mut s = self.lock();
        if s.done || s.roots == roots {
            return;
        }
        s.roots = roots;
        if let Ok(next) = Cancel::new() {
            let old = std::mem::replace(&mut s.cancel, next);
            old.cancel_with_message(message);
        }
    }

    /// Nothing left to ask for: every prompt ends with `message`.
    pub fn finish(&self, message: &str) {
        let mut s = self.lock();
        s.done = true;
        s.roots.clear();
        s.cancel.cancel_with_message(message);
    }
}

/// `Enter passphrase for nest (3 encryption roots): `, or the roots by name
/// once only some of them are left.
pub fn prompt_text(roots: &[String], initial: usize) -> String {
    if roots.len() == 1 {
        return format!("Enter passphrase for {}: ", roots[0]);
    }
    if roots.len() == initial {
        let mut pools: Vec<&str> = roots
            .iter()
            .map(|r| r.split('/').next().unwrap_or(r))
            .collect();
        pools.dedup();
        // LUKS devices (`luks:NAME`, see crate::luks::label) are counted
        // apart from encryption roots.
        let devices = roots.iter().filter(|r| r.starts_with("luks:")).count();
        let what = match (devices, roots.len() - devices) {
            (0, n) => format!("{n} encryption roots"),
            (d, 0) => format!("{d} LUKS devices"),
            (d, n) => format!(
                "{d} LUKS device{} and {n} encryption root{}",
                if d == 1 { "" } else { "s" },
                if n == 1 { "" } else { "s" }
            ),
        };
        return format!("Enter passphrase for {} ({what}): ", pools.join(", "));
    }
    format!("Enter passphrase for {}: ", name_list(roots))
}

/// Names joined with ", ", shortened after five.
pub fn name_list(roots: &[String]) -> String {
    const SHOWN: usize = 5;
    if roots.len() <= SHOWN {
        roots.join(", ")
    } else {
        format!(
            "{} and {} more",
            roots[..SHOWN - 1].join(", "),
            roots.len() - (SHOWN - 1)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn prompt_wording() {
        assert_eq!(
            prompt_text(&v(&["nest/a"]), 1),
            "Enter passphrase for nest/a: "
        );
        assert_eq!(
            prompt_text(&v(&["nest/a", "nest/b", "nest/c"]), 3),
            "Enter passphrase for nest (3 encryption roots): "
        );
        assert_eq!(
            prompt_text(&v(&["nest/b", "nest/c"]), 3),
            "Enter passphrase for nest/b, nest/c: "
        );
        assert_eq!(
            prompt_text(&v(&["nest/a", "tank/b"]), 2),
            "Enter passphrase for nest, tank (2 encryption roots): "
        );
        assert_eq!(
            prompt_text(&v(&["luks:crypt0", "luks:crypt1"]), 2),
            "Enter passphrase for luks:crypt0, luks:crypt1 (2 LUKS devices): "
        );
        assert_eq!(
            prompt_text(&v(&["luks:keyfile", "nest/a"]), 2),
            "Enter passphrase for luks:keyfile, nest (1 LUKS device and 1 encryption root): "
        );
    }

    #[test]
    fn update_cancels_the_round_on_screen() {
        let board = Board::new(v(&["a/x", "a/y"])).unwrap();
        let first = board.round();
        board.update(v(&["a/y"]), "a/x was unlocked");
        assert!(first.cancel.is_cancelled());
        let second = board.round();
        assert!(!second.cancel.is_cancelled());
        assert_eq!(second.roots, v(&["a/y"]));
        board.finish("done");
        assert!(second.cancel.is_cancelled());
        assert!(board.round().done);
    }
}
