//! Host paths (`/dev/console`, `/sys/class/tty/console/active`, ...), all
//! resolved under one root that tests point elsewhere with `KEYGATE_ROOT`;
//! and the kernel keyring key of systemd-cryptsetup's passphrase cache,
//! which tests rename with `KEYGATE_KEYRING_KEY` (root's user keyring is
//! shared by every process of the machine), and the initramfs's hand-over
//! key, renamed with `KEYGATE_HANDOVER_KEY`.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Host {
    root: PathBuf,
    keyring_key: String,
    handover_key: String,
}

impl Default for Host {
    fn default() -> Self {
        Host {
            root: PathBuf::from("/"),
            keyring_key: crate::keyring::CRYPTSETUP_KEY.to_string(),
            handover_key: crate::keyring::HANDOVER_KEY.to_string(),
        }
    }
}

impl Host {
    pub fn new(root: impl Into<PathBuf>) -> Host {
        Host {
            root: root.into(),
            ..Host::default()
        }
    }

    /// `KEYGATE_ROOT` when set and non-empty, else `/`; the keyring key
    /// from `KEYGATE_KEYRING_KEY` when set and non-empty, else `cryptsetup`.
    pub fn from_process() -> Host {
        let mut host = match std::env::var_os("KEYGATE_ROOT") {
            Some(r) if !r.is_empty() => Host::new(r),
            _ => Host::default(),
        };
        if let Ok(k) = std::env::var("KEYGATE_KEYRING_KEY")
            && !k.is_empty()
        {
            host.keyring_key = k;
        }
        if let Ok(k) = std::env::var("KEYGATE_HANDOVER_KEY")
            && !k.is_empty()
        {
            host.handover_key = k;
        }
        host
    }

    /// The description of the `user` key systemd-cryptsetup caches its
    /// passphrases in.
    pub fn keyring_key(&self) -> &str {
        &self.keyring_key
    }

    /// The description of the `user` key the initramfs's gate hands the
    /// passphrase over in.
    pub fn handover_key(&self) -> &str {
        &self.handover_key
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
