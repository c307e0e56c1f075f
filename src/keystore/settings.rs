//! How each keystore is opened and closed, as the configuration file and
//! the flags say. Plain values that import nothing else of keygate, so the
//! configuration parser, the settings and the keystores all use them without
//! importing each other.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// What happens to a keystore once the keys inside it are loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClosePolicy {
    /// Unmount it and unload its key (only a key the gate loaded itself).
    #[default]
    Unload,
    /// Unmount it; its key stays loaded.
    Unmount,
    /// Leave it mounted and its key loaded.
    Keep,
}

impl ClosePolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            ClosePolicy::Unload => "unload",
            ClosePolicy::Unmount => "unmount",
            ClosePolicy::Keep => "keep",
        }
    }
}

impl fmt::Display for ClosePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ClosePolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "unload" => Ok(ClosePolicy::Unload),
            "unmount" => Ok(ClosePolicy::Unmount),
            "keep" => Ok(ClosePolicy::Keep),
            other => Err(format!(
                "expected one of unload, unmount, keep, found {other:?}"
            )),
        }
    }
}

/// Where a keystore is mounted while the keys inside it are read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum KeystoreMount {
    /// At its own `mountpoint` property, with `zfs mount`.
    #[default]
    Own,
    /// At a fresh directory under `/run/keygate/keystores/` that only root
    /// can enter, with mount(8); the key files are read from there.
    Private,
    /// At this directory, with mount(8) (for `mountpoint=legacy` keystores,
    /// or to keep it away from its usual place); roots whose key file lies
    /// under this path depend on it.
    Path(PathBuf),
}

/// One `[[keystore]]` entry: a dataset that holds other roots' key files.
/// Keystores are found without configuration; an entry only changes how one
/// is opened and closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeystoreSettings {
    pub dataset: String,
    /// None: the global `keystore_close` (default `unload`).
    pub close: Option<ClosePolicy>,
    pub mount: KeystoreMount,
}
