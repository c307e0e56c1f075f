//! Trying keys: one `zfs load-key` per root, several roots at once.
//!
//! A typed passphrase goes to a first wave of roots, one per CPU: each try
//! is a key derivation bound by the CPU, so more at once would only slow
//! each. If every root of the wave rejects it, the person is answered at
//! once, one derivation's time after the Enter, and the other roots are
//! tried behind the next prompt ([`FirstWave::rest`]).
//!
//! However many roots a passphrase is tried on, at most one `zfs load-key`
//! per CPU runs at a time ([`wave_width`]): a worker takes the next root as
//! soon as its last one ends, so no CPU idles while roots are left, and no
//! derivation is slowed by others competing for the same CPU. Keys from
//! their keylocation all load at once: a key at a URL waits on the network,
//! not on a CPU.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
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

/// How many roots a typed passphrase is tried on first, and how many
/// `zfs load-key` run at once: one per CPU this process may use, and at
/// least two.
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

/// Try `passphrase` on every root in `roots`, one per CPU at a time.
pub fn passphrase(zfs: &Zfs, roots: &[String], passphrase: &Secret) -> Attempt {
    run_all(roots, wave_width(), |root| {
        load_key::with_passphrase(zfs, root, passphrase).map_err(|e| e.to_string())
    })
}

/// Load each root's key from its own keylocation (file or URL), all at
/// once.
pub fn from_locations(zfs: &Zfs, roots: &[&Root]) -> Attempt {
    let names: Vec<String> = roots.iter().map(|r| r.name.clone()).collect();
    run_all(&names, names.len(), |root| {
        load_key::from_location(zfs, root).map_err(|e| e.to_string())
    })
}

fn run_all<F>(roots: &[String], width: usize, load: F) -> Attempt
where
    F: Fn(&str) -> Result<LoadOutcome, String> + Sync,
{
    let outcomes = bounded(roots, width, &load);
    let mut attempt = Attempt::default();
    for (root, outcome) in roots.iter().zip(outcomes) {
        attempt.record(root, outcome);
    }
    attempt
}

/// `load` of every root, by at most `width` workers at once; the outcomes
/// in the order of `roots`. A worker that panics leaves its root (and only
/// its root) "crashed": the other workers take the roots still waiting.
fn bounded<F>(roots: &[String], width: usize, load: &F) -> Vec<Result<LoadOutcome, String>>
where
    F: Fn(&str) -> Result<LoadOutcome, String> + Sync,
{
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<Result<LoadOutcome, String>>>> =
        roots.iter().map(|_| Mutex::new(None)).collect();
    thread::scope(|s| {
        let workers: Vec<_> = (0..width.max(1).min(roots.len()))
            .map(|_| {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(root) = roots.get(i) else { break };
                        let outcome = load(root);
                        *slots[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(outcome);
                    }
                })
            })
            .collect();
        for w in workers {
            // A panicked worker's root stays empty: reported below.
            let _ = w.join();
        }
    });
    slots
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .unwrap_or_else(|| Err("the load attempt crashed".to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("nest/r{i}")).collect()
    }

    #[test]
    fn never_more_than_width_at_once_and_every_root_once_in_order() {
        let running = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let roots = names(7);
        let out = bounded(&roots, 2, &|root: &str| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            // Until a second load runs beside this one (however slow the
            // machine is to start the second worker), then a little more.
            let give_up = std::time::Instant::now() + Duration::from_secs(10);
            while peak.load(Ordering::SeqCst) < 2 && std::time::Instant::now() < give_up {
                thread::sleep(Duration::from_millis(1));
            }
            thread::sleep(Duration::from_millis(5));
            running.fetch_sub(1, Ordering::SeqCst);
            Err(root.to_string())
        });
        assert_eq!(
            peak.load(Ordering::SeqCst),
            2,
            "two loads at once, never more"
        );
        let got: Vec<String> = out.into_iter().map(|r| r.unwrap_err()).collect();
        assert_eq!(got, roots);
    }

    #[test]
    fn a_panicking_load_crashes_its_root_only() {
        let roots = names(5);
        let out = bounded(&roots, 2, &|root: &str| {
            if root == "nest/r1" {
                panic!("boom");
            }
            Ok(LoadOutcome::Loaded)
        });
        assert_eq!(out[1], Err("the load attempt crashed".to_string()));
        for (i, o) in out.iter().enumerate() {
            if i != 1 {
                assert_eq!(o, &Ok(LoadOutcome::Loaded), "root {i}");
            }
        }
    }

    #[test]
    fn no_roots_no_workers() {
        assert!(bounded(&[], 2, &|_: &str| Ok(LoadOutcome::Loaded)).is_empty());
    }
}
