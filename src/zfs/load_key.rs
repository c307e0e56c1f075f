//! Interface to `zfs load-key [-L prompt] ROOT`, the key on stdin.
//!
//! A passphrase reaches zfs only through the pipe on its stdin; it is never
//! put in argv, the environment or a message.

use crate::secret::Secret;

use super::{Zfs, ZfsError};
use crate::text::printable;

/// What one load attempt on one root came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadOutcome {
    /// The key is now loaded.
    Loaded,
    /// zfs says the key was already loaded (by someone else meanwhile).
    AlreadyLoaded,
    /// The passphrase or key file content is wrong.
    Incorrect,
    /// Any other failure, with zfs's words.
    Failed(String),
}

/// Classify zfs's answer to a load-key call (exit code, stderr).
pub fn classify(code: Option<i32>, stderr: &str) -> LoadOutcome {
    if code == Some(0) {
        return LoadOutcome::Loaded;
    }
    if stderr.contains("Key already loaded for") {
        return LoadOutcome::AlreadyLoaded;
    }
    if stderr.contains("Incorrect key provided for") {
        return LoadOutcome::Incorrect;
    }
    let text = stderr.trim();
    LoadOutcome::Failed(if text.is_empty() {
        match code {
            Some(c) => format!("zfs load-key exited with status {c}"),
            None => "zfs load-key was killed by a signal".to_string(),
        }
    } else {
        printable(text.lines().next().unwrap_or(text)).into_owned()
    })
}

/// Try `passphrase` on `root` (`zfs load-key -L prompt ROOT`, passphrase and a
/// newline on stdin).
pub fn with_passphrase(
    zfs: &Zfs,
    root: &str,
    passphrase: &Secret,
) -> Result<LoadOutcome, ZfsError> {
    let argv = ["load-key", "-L", "prompt", root];
    let feed = |stdin: &mut std::process::ChildStdin| {
        crate::secret::write_secret_line(&*stdin, passphrase)
    };
    let out = zfs.run(&argv, Some(&feed))?;
    Ok(outcome(zfs, &argv, &out))
}

/// [`classify`], naming the call and the signal when zfs was killed
/// without a word (an OOM kill, someone's `kill -9`).
fn outcome(zfs: &Zfs, argv: &[&str], out: &super::CallOutput) -> LoadOutcome {
    use std::os::unix::process::ExitStatusExt;
    match out.status.signal() {
        Some(sig) if out.stderr.trim().is_empty() => LoadOutcome::Failed(format!(
            "'{}' was killed by signal {sig}",
            zfs.describe(argv)
        )),
        _ => classify(out.code(), &out.stderr),
    }
}

/// Check `passphrase` against `root` without loading it: `zfs load-key -n
/// -L prompt ROOT` (a dry run, which works whether or not the key is
/// loaded). `Loaded` means it is right.
pub fn verify_passphrase(
    zfs: &Zfs,
    root: &str,
    passphrase: &Secret,
) -> Result<LoadOutcome, ZfsError> {
    let argv = ["load-key", "-n", "-L", "prompt", root];
    let feed = |stdin: &mut std::process::ChildStdin| {
        crate::secret::write_secret_line(&*stdin, passphrase)
    };
    let out = zfs.run(&argv, Some(&feed))?;
    Ok(outcome(zfs, &argv, &out))
}

/// Load `root`'s key from its own keylocation (a file or URL): `zfs load-key ROOT`.
pub fn from_location(zfs: &Zfs, root: &str) -> Result<LoadOutcome, ZfsError> {
    let argv = ["load-key", root];
    let out = zfs.run(&argv, None)?;
    Ok(outcome(zfs, &argv, &out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_real_texts() {
        assert_eq!(classify(Some(0), ""), LoadOutcome::Loaded);
        assert_eq!(
            classify(
                Some(255),
                "Key load error: Incorrect key provided for 'nest/a'.\n"
            ),
            LoadOutcome::Incorrect
        );
        assert_eq!(
            classify(
                Some(255),
                "Key load error: Key already loaded for 'nest/a'.\n"
            ),
            LoadOutcome::AlreadyLoaded
        );
        assert_eq!(
            classify(
                Some(255),
                "Key load error: Failed to open key material file: No such file or directory\n"
            ),
            LoadOutcome::Failed(
                "Key load error: Failed to open key material file: No such file or directory"
                    .into()
            )
        );
        assert_eq!(
            classify(None, ""),
            LoadOutcome::Failed("zfs load-key was killed by a signal".into())
        );
    }
}
