//! Trying keys: one `zfs load-key` per root, several roots at once.
//!
//! A typed passphrase goes to a first wave of roots, one per CPU: each try
//! is a key derivation bound by the CPU, so more at once would only slow
//! each. If every root of the wave rejects it, the person is answered at
//! once, one derivation's time after the Enter, and the other roots are
//! tried behind the next prompt ([`FirstWave::rest`]).

use std::thread;

use crate::plan::Root;
use crate::secret::Secret;
use crate::zfs::Zfs;
use crate::zfs::load_key::{self, LoadOutcome};

/// What one passphrase (or one round of key-file loads) achieved.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// Roots whose key is now loaded (by this attempt, or meanwhile by
    /// someone else: zfs said it was already loaded).
    pub opened: Vec<String>,
    /// Roots that rejected the key as incorrect.
    pub rejected: Vec<String>,
    /// Roots where the attempt failed for another reason, with zfs's words.
    pub failed: Vec<(String, String)>,
}

impl Attempt {
    /// Add what a later attempt of the same passphrase achieved.
    pub fn extend(&mut self, more: Attempt) {
        self.opened.extend(more.opened);
        self.rejected.extend(more.rejected);
        self.failed.extend(more.failed);
    }

    fn record(&mut self, root: &str, outcome: Result<LoadOutcome, String>) {
        match outcome {
            Ok(LoadOutcome::Loaded | LoadOutcome::AlreadyLoaded) => self.opened.push(root.into()),
            Ok(LoadOutcome::Incorrect) => self.rejected.push(root.into()),
            Ok(LoadOutcome::Failed(why)) | Err(why) => self.failed.push((root.into(), why)),
        }
    }
}

/// What the first wave of a passphrase achieved, and the roots it still has
/// to be tried on (only when every root of the wave rejected it).
#[derive(Debug, Default)]
pub struct FirstWave {
    pub attempt: Attempt,
    pub rest: Vec<String>,
}

/// How many roots a typed passphrase is tried on first: one per CPU this
/// process may use, and at least two.
pub fn wave_width() -> usize {
    thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .max(2)
}

/// Try `passphrase` on the first `width` roots; on the others too, at
/// once, unless every root of that wave rejected it or failed.
pub fn passphrase_first(
    zfs: &Zfs,
    roots: &[String],
    passphrase: &Secret,
    width: usize,
) -> FirstWave {
    let (first, rest) = roots.split_at(width.max(1).min(roots.len()));
    let mut attempt = self::passphrase(zfs, first, passphrase);
    if rest.is_empty() || attempt.opened.is_empty() {
        return FirstWave {
            attempt,
            rest: rest.to_vec(),
        };
    }
    attempt.extend(self::passphrase(zfs, rest, passphrase));
    FirstWave {
        attempt,
        rest: Vec::new(),
    }
}

/// Try `passphrase` on every root in `roots`, in parallel.
pub fn passphrase(zfs: &Zfs, roots: &[String], passphrase: &Secret) -> Attempt {
    run_all(roots, |root| {
        load_key::with_passphrase(zfs, root, passphrase).map_err(|e| e.to_string())
    })
}

/// Load each root's key from its own keylocation (file or URL), in parallel.
pub fn from_locations(zfs: &Zfs, roots: &[&Root]) -> Attempt {
    let names: Vec<String> = roots.iter().map(|r| r.name.clone()).collect();
    run_all(&names, |root| {
        load_key::from_location(zfs, root).map_err(|e| e.to_string())
    })
}

fn run_all<F>(roots: &[String], load: F) -> Attempt
where
    F: Fn(&str) -> Result<LoadOutcome, String> + Sync,
{
    let outcomes: Vec<Result<LoadOutcome, String>> = thread::scope(|s| {
        let handles: Vec<_> = roots.iter().map(|r| s.spawn(|| load(r))).collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("the load attempt crashed".to_string()))
            })
            .collect()
    });
    let mut attempt = Attempt::default();
    for (root, outcome) in roots.iter().zip(outcomes) {
        attempt.record(root, outcome);
    }
    attempt
}
