//! Interface to `mount -t zfs [-o zfsutil] DATASET DIR` and `umount DIR`.
//!
//! `zfs mount` can only mount a dataset at its own `mountpoint`, so a
//! keystore opened somewhere else (`mountpoint = "private"` or a path in its
//! `[[keystore]]` entry) is mounted with mount(8) and the OpenZFS mount
//! helper. A dataset whose `mountpoint` is not `legacy` needs the helper's
//! `zfsutil` option (without it mount.zfs refuses: "filesystem cannot be
//! mounted using 'mount'"); a `legacy` one must not have it. Linux only:
//! illumos and FreeBSD spell this differently.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::runner::{Runner, first_line};

/// The mount(8) and umount(8) programs and where private mountpoints go.
/// Every path can be pointed elsewhere by tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tools {
    pub mount: PathBuf,
    pub umount: PathBuf,
    /// Private mountpoints are made under here (mode 0700).
    pub private_dir: PathBuf,
    /// A mount or umount call that takes longer is killed.
    pub timeout: Duration,
}

impl Default for Tools {
    fn default() -> Self {
        Tools {
            mount: PathBuf::from("mount"),
            umount: PathBuf::from("umount"),
            private_dir: PathBuf::from("/run/keygate/keystores"),
            timeout: Duration::from_secs(60),
        }
    }
}

impl Tools {
    /// The defaults, with `/run` resolved under the host's root.
    pub fn for_host(host: &crate::host::Host) -> Tools {
        Tools {
            private_dir: host.path("/run/keygate/keystores"),
            ..Tools::default()
        }
    }

    /// The private mountpoint of `dataset` (`/` becomes `_`, so each
    /// dataset gets one directory).
    pub fn private_path(&self, dataset: &str) -> PathBuf {
        self.private_dir
            .join(dataset.replace('_', "__").replace('/', "_"))
    }
}

/// The argument list of the mount call.
pub fn mount_args(dataset: &str, dir: &Path, legacy: bool) -> Vec<String> {
    let mut a = vec!["-t".to_string(), "zfs".to_string()];
    if !legacy {
        a.push("-o".into());
        a.push("zfsutil".into());
    }
    a.push(dataset.to_string());
    a.push(dir.display().to_string());
    a
}

/// Mount `dataset` at `dir`; Err carries what mount(8) said.
pub fn mount(tools: &Tools, dataset: &str, dir: &Path, legacy: bool) -> Result<(), String> {
    run(tools, &tools.mount, &mount_args(dataset, dir, legacy))
}

/// Unmount whatever is mounted at `dir`; Err carries what umount(8) said.
pub fn umount(tools: &Tools, dir: &Path) -> Result<(), String> {
    run(tools, &tools.umount, &[dir.display().to_string()])
}

/// Run `program ARGS` on the runner zfs calls use: the same hard timeout
/// and process-group kill.
fn run(tools: &Tools, program: &Path, args: &[String]) -> Result<(), String> {
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let runner = Runner::new(program, tools.timeout);
    let shown = runner.describe(&argv);
    let out = runner.run(&argv, None).map_err(|e| e.to_string())?;
    if out.code() == Some(0) {
        return Ok(());
    }
    Err(format!(
        "'{shown}' failed: {}",
        first_line(&out.stderr, "it", out.code())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments() {
        assert_eq!(
            mount_args("nest/keys", Path::new("/run/k"), false),
            ["-t", "zfs", "-o", "zfsutil", "nest/keys", "/run/k"]
        );
        assert_eq!(
            mount_args("nest/keys", Path::new("/k"), true),
            ["-t", "zfs", "nest/keys", "/k"]
        );
    }

    #[test]
    fn private_paths_are_distinct() {
        let t = Tools::default();
        assert_eq!(
            t.private_path("nest/keys"),
            PathBuf::from("/run/keygate/keystores/nest_keys")
        );
        assert_ne!(t.private_path("a_b/c"), t.private_path("a/b_c"));
    }

    #[test]
    fn failure_carries_stderr() {
        let t = Tools::default();
        let e = run(
            &t,
            Path::new("sh"),
            &["-c".into(), "echo nope >&2; exit 32".into()],
        )
        .unwrap_err();
        assert!(e.contains("failed: nope"), "{e}");
        let e = run(&t, Path::new("/nonexistent/mount"), &[]).unwrap_err();
        assert!(e.contains("'/nonexistent/mount' was not found"), "{e}");
    }
}
