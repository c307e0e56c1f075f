//! Interface to `cryptsetup open --key-file=- ... DEVICE NAME`, `cryptsetup
//! close NAME`, `cryptsetup status NAME` and `cryptsetup isLuks DEVICE`
//! (cryptsetup 2.x: exit codes 0 success, 1 wrong parameters, 2 no
//! permission or bad passphrase, 3 out of memory, 4 wrong device, 5 device
//! already exists or busy).
//!
//! A passphrase reaches cryptsetup only on its stdin, without a newline
//! (with `--key-file=-` every byte read is part of the key); never in argv,
//! the environment or a message.

use std::path::{Path, PathBuf};

use crate::runner::{CallOutput, RunError, Runner};
use crate::secret::Secret;
use crate::text::printable;

use super::settings::{LuksKey, LuksSettings};

/// cryptsetup's exit code for "no key available with this passphrase".
pub const EXIT_NO_KEY: i32 = 2;
/// cryptsetup's exit code for an inactive device (`status`) or a wrong or
/// missing device.
pub const EXIT_WRONG_DEVICE: i32 = 4;

/// The cryptsetup program and its per-call bound.
#[derive(Debug, Clone)]
pub struct Cryptsetup {
    runner: Runner,
}

/// What one `cryptsetup open` came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenOutcome {
    Opened,
    /// No key slot matched the key (exit 2).
    WrongKey,
    /// Any other failure, with cryptsetup's words.
    Failed(String),
}

/// What `cryptsetup status NAME` says about a mapper name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Not active.
    Inactive,
    /// Active, on this backing device (when cryptsetup names one).
    Active { device: Option<PathBuf> },
}

/// Why cryptsetup could not be asked at all.
#[derive(Debug, thiserror::Error)]
pub enum CryptsetupError {
    #[error(
        "the cryptsetup program '{program}' was not found (set cryptsetup = \"PATH\" in the configuration)"
    )]
    NotFound { program: String },
    #[error("cannot run '{program}': {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("'{call}' timed out after {timeout:?} and was killed")]
    TimedOut {
        call: String,
        timeout: std::time::Duration,
    },
    #[error("'{call}' failed: {why}")]
    Failed { call: String, why: String },
}

impl From<RunError> for CryptsetupError {
    fn from(e: RunError) -> Self {
        match e {
            RunError::NotFound { program } => CryptsetupError::NotFound { program },
            RunError::Spawn { program, source } => CryptsetupError::Spawn { program, source },
            RunError::TimedOut { call, timeout } => CryptsetupError::TimedOut { call, timeout },
        }
    }
}

impl Cryptsetup {
    pub fn new(runner: Runner) -> Cryptsetup {
        Cryptsetup { runner }
    }

    /// The arguments of `cryptsetup open` for `entry` on `device`.
    pub fn open_args(entry: &LuksSettings, device: &Path) -> Vec<String> {
        let mut args = vec!["open".to_string(), "--type".into(), "luks".into()];
        match &entry.key {
            LuksKey::Passphrase => args.push("--key-file=-".into()),
            LuksKey::File(path) => args.push(format!("--key-file={}", path.display())),
        }
        if entry.discard {
            args.push("--allow-discards".into());
        }
        if entry.readonly {
            args.push("--readonly".into());
        }
        if let Some(h) = &entry.header {
            args.push(format!("--header={}", h.display()));
        }
        args.push(device.display().to_string());
        args.push(entry.name.clone());
        args
    }

    /// Open `entry` on `device` (a resolved path); `passphrase` is fed on
    /// stdin for a passphrase entry.
    pub fn open(
        &self,
        entry: &LuksSettings,
        device: &Path,
        passphrase: Option<&Secret>,
    ) -> Result<OpenOutcome, CryptsetupError> {
        let args = Cryptsetup::open_args(entry, device);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = match passphrase {
            Some(secret) => {
                let feed = |stdin: &mut std::process::ChildStdin| {
                    use std::io::Write;
                    stdin.write_all(secret.expose())
                };
                self.runner.run(&argv, Some(&feed))?
            }
            None => self.runner.run(&argv, None)?,
        };
        Ok(match out.code() {
            Some(0) => OpenOutcome::Opened,
            Some(EXIT_NO_KEY) => OpenOutcome::WrongKey,
            _ => OpenOutcome::Failed(self.why(&argv, &out)),
        })
    }

    /// `cryptsetup close NAME`.
    pub fn close(&self, name: &str) -> Result<(), CryptsetupError> {
        let argv = ["close", name];
        let out = self.runner.run(&argv, None)?;
        if out.code() == Some(0) {
            return Ok(());
        }
        Err(CryptsetupError::Failed {
            call: self.runner.describe(&argv),
            why: self.why(&argv, &out),
        })
    }

    /// `cryptsetup status NAME`: exit 0 active (with a `device:` line), 4
    /// inactive.
    pub fn status(&self, name: &str) -> Result<Status, CryptsetupError> {
        let argv = ["status", name];
        let out = self.runner.run(&argv, None)?;
        match out.code() {
            Some(0) => Ok(parse_status(&String::from_utf8_lossy(&out.stdout))),
            Some(EXIT_WRONG_DEVICE) => Ok(Status::Inactive),
            _ => Err(CryptsetupError::Failed {
                call: self.runner.describe(&argv),
                why: self.why(&argv, &out),
            }),
        }
    }

    /// `cryptsetup isLuks DEVICE` (with `--header` for a detached header):
    /// Ok(false) when cryptsetup says it is not LUKS.
    pub fn is_luks(&self, device: &Path, header: Option<&Path>) -> Result<bool, CryptsetupError> {
        let dev = device.display().to_string();
        let hdr = header.map(|h| format!("--header={}", h.display()));
        let mut argv = vec!["isLuks"];
        if let Some(h) = &hdr {
            argv.push(h);
        }
        argv.push(&dev);
        let out = self.runner.run(&argv, None)?;
        match out.code() {
            Some(0) => Ok(true),
            Some(1) => Ok(false),
            _ => Err(CryptsetupError::Failed {
                call: self.runner.describe(&argv),
                why: self.why(&argv, &out),
            }),
        }
    }

    fn why(&self, argv: &[&str], out: &CallOutput) -> String {
        let what = self.runner.describe(argv);
        printable(&crate::runner::first_line(&out.stderr, &what, out.code())).into_owned()
    }
}

/// The backing device of an active mapping, from `cryptsetup status`
/// output (`  device:  /dev/vdb`).
pub fn parse_status(stdout: &str) -> Status {
    let device = stdout.lines().find_map(|l| {
        let rest = l.trim_start().strip_prefix("device:")?;
        let d = rest.trim();
        (!d.is_empty()).then(|| PathBuf::from(d))
    });
    Status::Active { device }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::luks::settings::LuksDevice;

    fn entry(key: LuksKey) -> LuksSettings {
        LuksSettings {
            name: "crypt0".into(),
            device: LuksDevice::Path("/dev/vdb".into()),
            key,
            close_after_boot: None,
            discard: false,
            readonly: false,
            header: None,
            line: 0,
        }
    }

    #[test]
    fn open_arguments() {
        let e = entry(LuksKey::Passphrase);
        assert_eq!(
            Cryptsetup::open_args(&e, Path::new("/dev/vdb")),
            [
                "open",
                "--type",
                "luks",
                "--key-file=-",
                "/dev/vdb",
                "crypt0"
            ]
        );
        let mut e = entry(LuksKey::File("/dev/mapper/keyfile".into()));
        e.discard = true;
        e.readonly = true;
        e.header = Some("/boot/h.img".into());
        assert_eq!(
            Cryptsetup::open_args(&e, Path::new("/dev/vdb")),
            [
                "open",
                "--type",
                "luks",
                "--key-file=/dev/mapper/keyfile",
                "--allow-discards",
                "--readonly",
                "--header=/boot/h.img",
                "/dev/vdb",
                "crypt0"
            ]
        );
    }

    #[test]
    fn status_names_the_device() {
        let out = "/dev/mapper/crypt0 is active.\n  type:    LUKS2\n  cipher:  aes-xts-plain64\n  device:  /dev/vdb\n  sector size:  512\n";
        assert_eq!(
            parse_status(out),
            Status::Active {
                device: Some("/dev/vdb".into())
            }
        );
        assert_eq!(
            parse_status("/dev/mapper/x is active.\n"),
            Status::Active { device: None }
        );
    }
}
