//! Interface to `zpool list -H -o name` (the imported pools), `zpool import`
//! (the scan of importable pools) and `zpool import -N POOL` (import without
//! mounting anything: the gate still holds the mounts).

use crate::runner::{RunError, Runner, first_line};
use crate::text::printable;

/// The zpool program and its per-call bound.
#[derive(Debug, Clone)]
pub struct Zpool {
    runner: Runner,
}

impl Zpool {
    pub fn new(runner: Runner) -> Zpool {
        Zpool { runner }
    }

    /// The names of the imported pools.
    pub fn imported(&self) -> Result<Vec<String>, String> {
        let argv = ["list", "-H", "-o", "name"];
        let out = self.run(&argv)?;
        if out.code() != Some(0) {
            return Err(self.failed(&argv, &out));
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect())
    }

    /// The pools `zpool import` finds (its `pool: NAME` lines). No pool to
    /// import is not an error.
    pub fn importable(&self) -> Result<Vec<String>, String> {
        let argv = ["import"];
        let out = self.run(&argv)?;
        let text = String::from_utf8_lossy(&out.stdout);
        let pools = parse_scan(&text);
        if out.code() != Some(0) && pools.is_empty() && !out.stderr.contains("no pools available") {
            return Err(self.failed(&argv, &out));
        }
        Ok(pools)
    }

    /// `zpool import -N POOL`.
    pub fn import(&self, pool: &str) -> Result<(), String> {
        let argv = ["import", "-N", pool];
        let out = self.run(&argv)?;
        if out.code() == Some(0) {
            return Ok(());
        }
        Err(self.failed(&argv, &out))
    }

    fn run(&self, argv: &[&str]) -> Result<crate::runner::CallOutput, String> {
        self.runner.run(argv, None).map_err(|e| match e {
            RunError::NotFound { program } => format!(
                "the zpool program '{program}' was not found (set zpool = \"PATH\" in the configuration)"
            ),
            other => other.to_string(),
        })
    }

    fn failed(&self, argv: &[&str], out: &crate::runner::CallOutput) -> String {
        let call = self.runner.describe(argv);
        format!(
            "'{call}' failed: {}",
            printable(&first_line(&out.stderr, "zpool", out.code()))
        )
    }
}

/// Pool names from `zpool import` scan output (`   pool: NAME`).
pub fn parse_scan(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim_start().strip_prefix("pool:"))
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_output() {
        let text = "   pool: nest\n     id: 1234\n  state: ONLINE\n action: The pool can be imported using its name or numeric identifier.\n config:\n\n\tnest        ONLINE\n\t  mirror-0  ONLINE\n\n   pool: tank\n     id: 5\n";
        assert_eq!(parse_scan(text), ["nest", "tank"]);
        assert!(parse_scan("").is_empty());
    }
}
