//! LUKS devices under the pools (`[[luks]]`): opened by keygate itself when
//! systemd-cryptsetup does not (OpenRC, a shell initramfs, or by choice),
//! all from the one typed passphrase, then the pools on them imported.
//!
//! The order: devices that take the passphrase (key devices first), then
//! devices whose key is a file or device (`/dev/mapper/keyfile`) once it is
//! there, then key devices closed again, then `zpool import -N` of the pools
//! not yet imported. A device that was open before keygate looked is never
//! closed by keygate.

pub mod cryptsetup;
pub mod settings;
pub mod zpool;

use std::path::{Path, PathBuf};
use std::thread;

use crate::host::Host;
use crate::secret::Secret;

pub use cryptsetup::{Cryptsetup, CryptsetupError, OpenOutcome, Status};
pub use settings::{LuksDevice, LuksKey, LuksSettings, SharePassphrase};
pub use zpool::Zpool;

/// How the gate names a LUKS device among the things a passphrase opens.
pub fn label(name: &str) -> String {
    format!("luks:{name}")
}

/// Where a configured device stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Open before keygate looked: keygate never closes it.
    OpenBefore,
    /// Opened by keygate.
    Opened,
    /// Not open yet.
    Closed,
    /// A key device keygate opened, used and closed again.
    ClosedAfterUse,
}

/// What `keygate check` shows for a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    Open,
    Closed,
    Missing,
    /// The mapper name is taken by another device.
    NameInUse(PathBuf),
    NotLuks,
    /// cryptsetup could not tell.
    Unknown(String),
}

impl Seen {
    pub fn word(&self) -> &'static str {
        match self {
            Seen::Open => "open",
            Seen::Closed => "closed",
            Seen::Missing => "missing",
            Seen::NameInUse(_) => "name-in-use",
            Seen::NotLuks => "not-luks",
            Seen::Unknown(_) => "unknown",
        }
    }
}

/// Bad input or a failing tool found before or while opening.
#[derive(Debug, thiserror::Error)]
pub enum LuksError {
    #[error("LUKS device {name}: {device} does not exist")]
    Missing { name: String, device: String },
    #[error("LUKS device {name}: {device} is not a LUKS device")]
    NotLuks { name: String, device: String },
    #[error("LUKS device {name}: its key {key} does not exist")]
    MissingKey { name: String, key: String },
    #[error("LUKS device {name}: /dev/mapper/{name} is already in use by {other}")]
    NameInUse { name: String, other: String },
    #[error("LUKS device {name}: {source}")]
    Tool {
        name: String,
        source: CryptsetupError,
    },
    #[error("cannot import pool {pool}: {why}")]
    Import { pool: String, why: String },
}

impl LuksError {
    /// Errors in what the user asked for (as opposed to a tool failing at
    /// run time).
    pub fn is_configuration(&self) -> bool {
        matches!(
            self,
            LuksError::Missing { .. }
                | LuksError::NotLuks { .. }
                | LuksError::MissingKey { .. }
                | LuksError::NameInUse { .. }
                | LuksError::Tool {
                    source: CryptsetupError::NotFound { .. },
                    ..
                }
        )
    }
}

/// The programs and the host the stage works with.
#[derive(Debug, Clone)]
pub struct Tools {
    pub cryptsetup: Cryptsetup,
    pub zpool: Zpool,
    pub host: Host,
}

struct Entry {
    settings: LuksSettings,
    /// The device path under the host root.
    device: PathBuf,
    state: State,
    /// Whether other entries take their key from this one.
    is_key_device: bool,
}

/// What one passphrase did to the LUKS devices.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LuksAttempt {
    /// Labels of the devices it opened.
    pub opened: Vec<String>,
    /// Labels of the devices that rejected it.
    pub rejected: Vec<String>,
    /// Labels with cryptsetup's words.
    pub failed: Vec<(String, String)>,
}

/// A line for the log, and whether it is a warning.
pub type Note = (bool, String);

/// The configured LUKS devices and the pools on them.
pub struct Stage {
    entries: Vec<Entry>,
    pools: Vec<String>,
    tools: Option<Tools>,
    imported: bool,
    /// A pool that did not import: the gate cannot go on.
    failure: Option<LuksError>,
}

impl Stage {
    /// No LUKS devices: always done.
    pub fn none() -> Stage {
        Stage {
            entries: Vec::new(),
            pools: Vec::new(),
            tools: None,
            imported: true,
            failure: None,
        }
    }

    /// Look at every configured device. Bad input (a missing device or key,
    /// a device that is not LUKS, a mapper name taken by another device) is
    /// an error before anything is opened.
    pub fn survey(
        settings: &[LuksSettings],
        pools: &[String],
        tools: Tools,
    ) -> Result<Stage, LuksError> {
        if settings.is_empty() {
            return Ok(Stage::none());
        }
        let keys: Vec<PathBuf> = settings
            .iter()
            .filter_map(|s| match &s.key {
                LuksKey::File(p) => Some(p.clone()),
                LuksKey::Passphrase => None,
            })
            .collect();
        let mut entries = Vec::new();
        for s in settings {
            let device = tools.host.path(&s.device.path().to_string_lossy());
            let state = match look(&tools, s, &device) {
                Seen::Open => State::OpenBefore,
                Seen::Closed => State::Closed,
                Seen::Missing => {
                    return Err(LuksError::Missing {
                        name: s.name.clone(),
                        device: s.device.shown(),
                    });
                }
                Seen::NotLuks => {
                    return Err(LuksError::NotLuks {
                        name: s.name.clone(),
                        device: s.device.shown(),
                    });
                }
                Seen::NameInUse(other) => {
                    return Err(LuksError::NameInUse {
                        name: s.name.clone(),
                        other: other.display().to_string(),
                    });
                }
                Seen::Unknown(_) => {
                    // Ask once more to get the error itself.
                    let source = match tools.cryptsetup.status(&s.name) {
                        Err(e) => e,
                        Ok(_) => match tools.cryptsetup.is_luks(&device, s.header.as_deref()) {
                            Err(e) => e,
                            Ok(_) => CryptsetupError::Failed {
                                call: "cryptsetup".into(),
                                why: "gave changing answers".into(),
                            },
                        },
                    };
                    return Err(LuksError::Tool {
                        name: s.name.clone(),
                        source,
                    });
                }
            };
            let is_key_device = keys.contains(&s.mapper_path());
            entries.push(Entry {
                settings: s.clone(),
                device,
                state,
                is_key_device,
            });
        }
        for e in &entries {
            if let LuksKey::File(key) = &e.settings.key {
                let provided = entries.iter().any(|o| o.settings.mapper_path() == *key);
                if e.state == State::Closed
                    && !provided
                    && !tools.host.path(&key.to_string_lossy()).exists()
                {
                    return Err(LuksError::MissingKey {
                        name: e.settings.name.clone(),
                        key: key.display().to_string(),
                    });
                }
            }
        }
        // Key devices first: everything else may need them.
        entries.sort_by_key(|e| !e.is_key_device);
        Ok(Stage {
            entries,
            pools: pools.to_vec(),
            tools: Some(tools),
            imported: false,
            failure: None,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every device is open (or closed again after use) and the pools are
    /// imported.
    pub fn is_done(&self) -> bool {
        self.imported
    }

    /// Labels of the closed devices the typed passphrase opens.
    pub fn typed(&self) -> Vec<String> {
        self.entries
            .iter()
            .filter(|e| e.state == State::Closed && e.settings.key == LuksKey::Passphrase)
            .map(|e| label(&e.settings.name))
            .collect()
    }

    /// Labels of the devices still closed.
    pub fn closed(&self) -> Vec<String> {
        self.entries
            .iter()
            .filter(|e| e.state == State::Closed)
            .map(|e| label(&e.settings.name))
            .collect()
    }

    /// Try `secret` on every closed passphrase device, key devices first
    /// (all of a kind at once), then [`Stage::advance`].
    pub fn try_passphrase(&mut self, secret: &Secret, notes: &mut Vec<Note>) -> LuksAttempt {
        let mut attempt = LuksAttempt::default();
        let Some(tools) = self.tools.clone() else {
            return attempt;
        };
        for key_devices in [true, false] {
            let todo: Vec<usize> = (0..self.entries.len())
                .filter(|&i| {
                    let e = &self.entries[i];
                    e.state == State::Closed
                        && e.settings.key == LuksKey::Passphrase
                        && e.is_key_device == key_devices
                })
                .collect();
            let outcomes: Vec<Result<OpenOutcome, CryptsetupError>> = thread::scope(|s| {
                let handles: Vec<_> = todo
                    .iter()
                    .map(|&i| {
                        let e = &self.entries[i];
                        let tools = &tools;
                        s.spawn(move || tools.cryptsetup.open(&e.settings, &e.device, Some(secret)))
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join().unwrap_or_else(|_| {
                            Err(CryptsetupError::Failed {
                                call: "cryptsetup open".into(),
                                why: "the attempt crashed".into(),
                            })
                        })
                    })
                    .collect()
            });
            for (i, outcome) in todo.into_iter().zip(outcomes) {
                let e = &mut self.entries[i];
                let l = label(&e.settings.name);
                match outcome {
                    Ok(OpenOutcome::Opened) => {
                        e.state = State::Opened;
                        attempt.opened.push(l);
                    }
                    Ok(OpenOutcome::WrongKey) => attempt.rejected.push(l),
                    Ok(OpenOutcome::Failed(why)) => attempt.failed.push((l, why)),
                    Err(err) => attempt.failed.push((l, err.to_string())),
                }
            }
        }
        if !attempt.opened.is_empty() {
            self.advance(notes);
        }
        attempt
    }

    /// Open what a key file or device now allows, close key devices no
    /// longer needed, and import the pools once every device is open. A
    /// pool that does not import is kept for [`Stage::take_failure`].
    pub fn advance(&mut self, notes: &mut Vec<Note>) {
        let Some(tools) = self.tools.clone() else {
            return;
        };
        self.open_from_files(&tools, notes);
        self.close_key_devices(&tools, notes);
        if self.imported
            || self.failure.is_some()
            || self.entries.iter().any(|e| e.state == State::Closed)
        {
            return;
        }
        match self.import(&tools, notes) {
            Ok(()) => self.imported = true,
            Err(e) => self.failure = Some(e),
        }
    }

    /// The error that ends the gate, once.
    pub fn take_failure(&mut self) -> Option<LuksError> {
        self.failure.take()
    }

    /// Notice devices opened by someone else meanwhile (`cryptsetup
    /// status`), then [`Stage::advance`].
    pub fn refresh(&mut self, notes: &mut Vec<Note>) {
        let Some(tools) = self.tools.clone() else {
            return;
        };
        if self.imported {
            return;
        }
        for e in &mut self.entries {
            if e.state == State::Closed
                && let Ok(Status::Active { .. }) = tools.cryptsetup.status(&e.settings.name)
            {
                notes.push((
                    false,
                    format!("{} was opened by someone else", label(&e.settings.name)),
                ));
                e.state = State::OpenBefore;
            }
        }
        self.advance(notes)
    }

    fn open_from_files(&mut self, tools: &Tools, notes: &mut Vec<Note>) {
        for i in 0..self.entries.len() {
            let LuksKey::File(key) = self.entries[i].settings.key.clone() else {
                continue;
            };
            if self.entries[i].state != State::Closed {
                continue;
            }
            let provider_closed = self.entries.iter().any(|o| {
                o.settings.mapper_path() == key
                    && o.state != State::Opened
                    && o.state != State::OpenBefore
            });
            if provider_closed || !tools.host.path(&key.to_string_lossy()).exists() {
                continue;
            }
            let e = &mut self.entries[i];
            let l = label(&e.settings.name);
            let mut settings = e.settings.clone();
            settings.key = LuksKey::File(tools.host.path(&key.to_string_lossy()));
            match tools.cryptsetup.open(&settings, &e.device, None) {
                Ok(OpenOutcome::Opened) => {
                    e.state = State::Opened;
                    notes.push((false, format!("opened {l} with its key {}", key.display())));
                }
                Ok(OpenOutcome::WrongKey) => notes.push((
                    true,
                    format!(
                        "{l}: {} is not its key (no key slot matched)",
                        key.display()
                    ),
                )),
                Ok(OpenOutcome::Failed(why)) => notes.push((true, format!("{l}: {why}"))),
                Err(err) => notes.push((true, format!("{l}: {err}"))),
            }
        }
    }

    fn close_key_devices(&mut self, tools: &Tools, notes: &mut Vec<Note>) {
        for i in 0..self.entries.len() {
            let e = &self.entries[i];
            if e.state != State::Opened || !e.is_key_device {
                continue;
            }
            if !e.settings.close_after_boot.unwrap_or(true) {
                continue;
            }
            let path = e.settings.mapper_path();
            let waiting = self
                .entries
                .iter()
                .any(|o| o.settings.key == LuksKey::File(path.clone()) && o.state == State::Closed);
            if waiting {
                continue;
            }
            let name = e.settings.name.clone();
            match tools.cryptsetup.close(&name) {
                Ok(()) => {
                    self.entries[i].state = State::ClosedAfterUse;
                    notes.push((false, format!("closed key device {}", label(&name))));
                }
                Err(err) => notes.push((
                    true,
                    format!("cannot close key device {}: {err}", label(&name)),
                )),
            }
        }
    }

    fn import(&self, tools: &Tools, notes: &mut Vec<Note>) -> Result<(), LuksError> {
        let fail = |pool: &str, why: String| LuksError::Import {
            pool: pool.to_string(),
            why,
        };
        let pools = if self.pools.is_empty() {
            tools
                .zpool
                .importable()
                .map_err(|why| fail("(scan)", why))?
        } else {
            self.pools.clone()
        };
        if pools.is_empty() {
            return Ok(());
        }
        let imported = tools.zpool.imported().map_err(|why| fail(&pools[0], why))?;
        for pool in pools.iter().filter(|p| !imported.contains(p)) {
            tools.zpool.import(pool).map_err(|why| fail(pool, why))?;
            notes.push((false, format!("imported pool {pool}")));
        }
        Ok(())
    }
}

/// What a device looks like now (for the survey and for `keygate check`).
pub fn look(tools: &Tools, s: &LuksSettings, device: &Path) -> Seen {
    match tools.cryptsetup.status(&s.name) {
        Ok(Status::Active { device: Some(d) }) => {
            if same_device(&tools.host, &d, device) {
                Seen::Open
            } else {
                Seen::NameInUse(d)
            }
        }
        Ok(Status::Active { device: None }) => Seen::Open,
        Ok(Status::Inactive) => {
            if !device.exists() {
                return Seen::Missing;
            }
            match tools.cryptsetup.is_luks(device, s.header.as_deref()) {
                Ok(true) => Seen::Closed,
                Ok(false) => Seen::NotLuks,
                Err(e) => Seen::Unknown(e.to_string()),
            }
        }
        Err(e) => Seen::Unknown(e.to_string()),
    }
}

/// Whether cryptsetup's `device:` names our device (after symlinks such as
/// `/dev/disk/by-uuid/...`).
fn same_device(host: &Host, reported: &Path, ours: &Path) -> bool {
    let theirs = if reported.starts_with(host.root()) {
        reported.to_path_buf()
    } else {
        host.path(&reported.to_string_lossy())
    };
    match (theirs.canonicalize(), ours.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => theirs == ours,
    }
}
