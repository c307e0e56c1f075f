//! Interface to `zfs unmount DATASET`.

use super::{Zfs, ZfsError};
use crate::runner::first_line;

/// What one `zfs unmount DATASET` came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnmountOutcome {
    Unmounted,
    /// It was not mounted (someone unmounted it meanwhile).
    NotMounted,
    /// Something still uses it (an open file, a mount below it).
    Busy(String),
    /// Any other failure, with zfs's words.
    Failed(String),
}

/// Classify zfs's answer (exit code, stderr).
pub fn classify(code: Option<i32>, stderr: &str) -> UnmountOutcome {
    if code == Some(0) {
        return UnmountOutcome::Unmounted;
    }
    if stderr.contains(": not currently mounted") {
        return UnmountOutcome::NotMounted;
    }
    let line = first_line(stderr, "zfs unmount", code);
    // EBUSY through zfs_standard_error(): "pool or dataset is busy".
    if stderr.contains("is busy") || stderr.contains("Device or resource busy") {
        return UnmountOutcome::Busy(line);
    }
    UnmountOutcome::Failed(line)
}

/// `zfs unmount DATASET`.
pub fn unmount(zfs: &Zfs, dataset: &str) -> Result<UnmountOutcome, ZfsError> {
    let out = zfs.run(&["unmount", dataset], None)?;
    Ok(classify(out.code(), &out.stderr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_real_texts() {
        assert_eq!(classify(Some(0), ""), UnmountOutcome::Unmounted);
        assert_eq!(
            classify(Some(1), "cannot unmount 'nest/a': not currently mounted\n"),
            UnmountOutcome::NotMounted
        );
        assert_eq!(
            classify(
                Some(1),
                "cannot unmount '/nest/keys': pool or dataset is busy\n"
            ),
            UnmountOutcome::Busy("cannot unmount '/nest/keys': pool or dataset is busy".into())
        );
        assert_eq!(
            classify(Some(1), "cannot open 'nope': dataset does not exist\n"),
            UnmountOutcome::Failed("cannot open 'nope': dataset does not exist".into())
        );
        assert_eq!(
            classify(Some(2), ""),
            UnmountOutcome::Failed("zfs unmount exited with status 2".into())
        );
    }
}
