//! What a `[[provider]]` entry says: a leaf that `config/`, the gate and
//! `keygate bind` share.

use std::path::PathBuf;
use std::time::Duration;

/// How long a provider may take when its entry gives no `timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The most a provider may print: anything longer cannot be a passphrase.
pub const MAX_OUTPUT: usize = 4096;

/// One key provider: a program that prints a passphrase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderSettings {
    /// How messages and `keygate status` name it.
    pub name: String,
    /// The program and its arguments (no shell).
    pub command: Vec<String>,
    /// A file fed to its stdin (a Clevis JWE), if any.
    pub input: Option<PathBuf>,
    /// The roots it serves; `None`: every locked root.
    pub roots: Option<Vec<String>>,
    /// How long it may run before its process group is killed.
    pub timeout: Duration,
    /// A path that must exist before it runs (`/dev/tpmrm0`), waited for
    /// up to the timeout.
    pub wait_for: Option<PathBuf>,
    /// The file and line of its `[[provider]]` table, for messages.
    pub origin: PathBuf,
    pub line: usize,
}

impl ProviderSettings {
    /// Whether it serves `root` (a root of a pool, or a `luks:NAME`).
    pub fn serves(&self, root: &str) -> bool {
        match &self.roots {
            None => true,
            Some(roots) => roots.iter().any(|r| r == root),
        }
    }
}
