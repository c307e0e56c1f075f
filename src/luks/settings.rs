//! The settings of LUKS devices and of passphrase sharing, as the
//! configuration file and the flags give them. A leaf module: it imports
//! nothing else of keygate.

use std::path::PathBuf;

/// When a passphrase typed at keygate is added to systemd-cryptsetup's
/// cache in the kernel keyring (`--share-passphrase`, `share_passphrase`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SharePassphrase {
    /// Never.
    Never,
    /// Only while a systemd-cryptsetup request waits for an answer.
    #[default]
    Pending,
    /// Whenever it opened something.
    Always,
}

/// Where a LUKS device is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LuksDevice {
    /// A device path (`/dev/sda4`).
    Path(PathBuf),
    /// `UUID=...`: the LUKS header's UUID, found under `/dev/disk/by-uuid/`.
    Uuid(String),
}

impl LuksDevice {
    /// The path that names the device (`/dev/disk/by-uuid/UUID` for a UUID).
    pub fn path(&self) -> PathBuf {
        match self {
            LuksDevice::Path(p) => p.clone(),
            LuksDevice::Uuid(u) => PathBuf::from("/dev/disk/by-uuid").join(u),
        }
    }

    /// As the configuration wrote it.
    pub fn shown(&self) -> String {
        match self {
            LuksDevice::Path(p) => p.display().to_string(),
            LuksDevice::Uuid(u) => format!("UUID={u}"),
        }
    }
}

/// What opens a LUKS device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LuksKey {
    /// The one typed passphrase.
    Passphrase,
    /// The whole content of this file or device (`/dev/mapper/keyfile`).
    File(PathBuf),
}

/// One `[[luks]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LuksSettings {
    /// The mapper name (`/dev/mapper/NAME`).
    pub name: String,
    pub device: LuksDevice,
    pub key: LuksKey,
    /// `None`: closed after boot when other devices take their key from it.
    pub close_after_boot: Option<bool>,
    /// `cryptsetup open --allow-discards`.
    pub discard: bool,
    /// `cryptsetup open --readonly`.
    pub readonly: bool,
    /// A detached header (`cryptsetup open --header PATH`).
    pub header: Option<PathBuf>,
    /// The line of the entry in the configuration file (0: not from a file).
    pub line: usize,
}

impl LuksSettings {
    /// The path the opened device appears at.
    pub fn mapper_path(&self) -> PathBuf {
        PathBuf::from("/dev/mapper").join(&self.name)
    }
}
