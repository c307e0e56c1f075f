//! Interface to `zfs mount DATASET`.
//!
//! Mounts one dataset at its `mountpoint` property. OpenZFS has no way to
//! mount a non-legacy dataset elsewhere with `zfs mount` (`-o` takes only the
//! temporary mount properties of zfsprops(7): atime, devices, exec, readonly,
//! setuid, xattr, ...; `mountpoint` is not one of them), so a keystore with a
//! private mountpoint is mounted with mount(8) instead (`crate::keystore`).

use super::{Zfs, ZfsError};
use crate::runner::first_line;

/// What one `zfs mount DATASET` came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountOutcome {
    /// Mounted now.
    Mounted,
    /// It was mounted already (by someone else): not ours to unmount.
    AlreadyMounted,
    /// Not mounted, with zfs's words (e.g. `encryption key not loaded`).
    Failed(String),
}

/// Classify zfs's answer (exit code, stderr).
pub fn classify(code: Option<i32>, stderr: &str) -> MountOutcome {
    if code == Some(0) {
        return MountOutcome::Mounted;
    }
    if stderr.contains(": filesystem already mounted") {
        return MountOutcome::AlreadyMounted;
    }
    MountOutcome::Failed(first_line(stderr, "zfs mount", code))
}

/// `zfs mount DATASET`.
pub fn mount(zfs: &Zfs, dataset: &str) -> Result<MountOutcome, ZfsError> {
    let out = zfs.run(&["mount", dataset], None)?;
    Ok(classify(out.code(), &out.stderr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_real_texts() {
        assert_eq!(classify(Some(0), ""), MountOutcome::Mounted);
        // tests/fixtures/zfs-reference/real-zfs-2.3.2-probe.txt, boot 1 #62
        assert_eq!(
            classify(
                Some(1),
                "cannot mount 'nest/a': encryption key not loaded\n"
            ),
            MountOutcome::Failed("cannot mount 'nest/a': encryption key not loaded".into())
        );
        // share_mount_one() in zfs_main.c for an explicit dataset
        assert_eq!(
            classify(
                Some(1),
                "cannot mount 'nest/a': filesystem already mounted\n"
            ),
            MountOutcome::AlreadyMounted
        );
        assert_eq!(
            classify(
                Some(1),
                "cannot mount 'nest/k': legacy mountpoint\nuse mount(8) to mount this filesystem\n"
            ),
            MountOutcome::Failed("cannot mount 'nest/k': legacy mountpoint".into())
        );
        assert_eq!(
            classify(None, ""),
            MountOutcome::Failed("zfs mount was killed by a signal".into())
        );
    }
}
