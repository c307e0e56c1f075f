//! Which datasets a command visits, like `zfs_for_each`: each target is
//! opened (failures reported, exit code 1), optionally with descendants to
//! a depth; the result is sorted by name and de-duplicated.

use std::collections::BTreeSet;

use crate::out::Out;
use crate::state::State;

pub struct Walk {
    /// Sorted, de-duplicated.
    pub names: Vec<String>,
    /// Some target could not be opened.
    pub open_failed: bool,
}

/// `targets` empty means every dataset (recursively, from the pools).
pub fn walk(
    state: &State,
    targets: &[String],
    recurse: bool,
    depth: Option<usize>,
    out: &mut Out,
) -> Walk {
    let mut names = BTreeSet::new();
    let mut open_failed = false;
    let (targets, recurse) = if targets.is_empty() {
        (state.pools(), true)
    } else {
        (targets.to_vec(), recurse)
    };
    for t in &targets {
        if !state.exists(t) {
            out.cannot_open(t);
            open_failed = true;
            continue;
        }
        names.insert(t.clone());
        if recurse {
            let base = t.matches('/').count();
            let prefix = format!("{t}/");
            for n in state.datasets.keys().filter(|n| n.starts_with(&prefix)) {
                let d = n.matches('/').count() - base;
                if depth.is_none_or(|max| d <= max) {
                    names.insert(n.clone());
                }
            }
        }
    }
    Walk {
        names: names.into_iter().collect(),
        open_failed,
    }
}

/// Parses `-d N` like `parse_depth`: an error message for usage, or N.
pub fn parse_depth(s: &str) -> Result<usize, String> {
    match s.trim().parse::<i64>() {
        Ok(n) if n < 0 => Err("Depth can not be negative.".to_owned()),
        Ok(n) => Ok(n as usize),
        Err(_) => Err(format!("{s} is not an integer")),
    }
}
