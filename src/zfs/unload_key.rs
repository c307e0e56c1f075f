//! Interface to `zfs unload-key ROOT`.

use super::{Zfs, ZfsError};
use crate::runner::first_line;

/// What one `zfs unload-key ROOT` came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnloadOutcome {
    Unloaded,
    /// The key was not loaded (someone unloaded it meanwhile).
    AlreadyUnloaded,
    /// A dataset of this root is still mounted.
    Busy(String),
    /// Any other failure, with zfs's words.
    Failed(String),
}

/// Classify zfs's answer (exit code, stderr).
pub fn classify(code: Option<i32>, stderr: &str) -> UnloadOutcome {
    if code == Some(0) {
        return UnloadOutcome::Unloaded;
    }
    if stderr.contains("Key already unloaded for") {
        return UnloadOutcome::AlreadyUnloaded;
    }
    let line = first_line(stderr, "zfs unload-key", code);
    if stderr.contains("' is busy.") {
        return UnloadOutcome::Busy(line);
    }
    UnloadOutcome::Failed(line)
}

/// `zfs unload-key ROOT`.
pub fn unload(zfs: &Zfs, root: &str) -> Result<UnloadOutcome, ZfsError> {
    let out = zfs.run(&["unload-key", root], None)?;
    Ok(classify(out.code(), &out.stderr))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Texts from tests/fixtures/zfs-reference/real-zfs-2.3.2-probe.txt, boot 1.
    #[test]
    fn classifies_real_texts() {
        assert_eq!(classify(Some(0), ""), UnloadOutcome::Unloaded);
        assert_eq!(
            classify(Some(255), "Key unload error: 'nest/a' is busy.\n"),
            UnloadOutcome::Busy("Key unload error: 'nest/a' is busy.".into())
        );
        assert_eq!(
            classify(
                Some(255),
                "Key unload error: Key already unloaded for 'nest/a'.\n"
            ),
            UnloadOutcome::AlreadyUnloaded
        );
        assert_eq!(
            classify(
                Some(255),
                "Key unload error: Keys must be unloaded for encryption root of 'nest/a/b' (nest/a).\n"
            ),
            UnloadOutcome::Failed(
                "Key unload error: Keys must be unloaded for encryption root of 'nest/a/b' (nest/a)."
                    .into()
            )
        );
        assert_eq!(
            classify(Some(1), "cannot open 'nope': dataset does not exist\n"),
            UnloadOutcome::Failed("cannot open 'nope': dataset does not exist".into())
        );
    }
}
