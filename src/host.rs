//! Host paths (`/dev/console`, `/sys/class/tty/console/active`, ...), all
//! resolved under one root that tests point elsewhere with `KEYGATE_ROOT`.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Host {
    root: PathBuf,
}

impl Default for Host {
    fn default() -> Self {
        Host {
            root: PathBuf::from("/"),
        }
    }
}

impl Host {
    pub fn new(root: impl Into<PathBuf>) -> Host {
        Host { root: root.into() }
    }

    /// `KEYGATE_ROOT` when set and non-empty, else `/`.
    pub fn from_process() -> Host {
        match std::env::var_os("KEYGATE_ROOT") {
            Some(r) if !r.is_empty() => Host::new(r),
            _ => Host::default(),
        }
    }

    /// An absolute host path, under the configured root.
    pub fn path(&self, absolute: &str) -> PathBuf {
        self.root.join(absolute.trim_start_matches('/'))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_live_under_the_root() {
        assert_eq!(
            Host::default().path("/dev/console"),
            PathBuf::from("/dev/console")
        );
        assert_eq!(
            Host::new("/tmp/t").path("/dev/console"),
            PathBuf::from("/tmp/t/dev/console")
        );
    }
}
