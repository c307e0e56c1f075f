//! Interface to the kernel keyring entry where systemd-cryptsetup caches the
//! passphrases typed at its prompts: a `user` key named `cryptsetup` in
//! root's user keyring (`@u`), holding the passphrases separated by NUL
//! bytes (no trailing NUL), with a timeout of 150 s.
//!
//! The initramfs's gate hands the passphrase that worked there over to the
//! real root's gate the same way, in a key of keygate's own
//! ([`HANDOVER_KEY`], [`HANDOVER_TIMEOUT`]): root's user keyring outlives
//! the switch to the real root. Only keygate writes that key, and only the
//! real root's gate removes it ([`CachedKey::remove`]); the `cryptsetup`
//! key is never removed.
//!
//! The key's permissions (possessor: everything; owner: view only) let a
//! process read or change it only when it *possesses* it, that is when the
//! key is reachable from its thread, process or session keyring. Under
//! `KeyringMode=shared` the session keyring links `@u` and `request_key`
//! finds it directly. Otherwise (`KeyringMode=private`), a search of `@u`
//! that links the key into this process's own keyring gives possession;
//! the link ends with the process and never extends the key's life.
//!
//! Every byte read from or written to the key passes through [`Secret`]s:
//! locked memory, zeroed on every path, never logged.

use std::ffi::CStr;
use std::path::Path;
use std::time::Duration;

use crate::secret::Secret;

/// The key systemd-cryptsetup caches its passphrases in.
pub const CRYPTSETUP_KEY: &str = "cryptsetup";

/// How long systemd keeps a cached passphrase (`KEYRING_TIMEOUT_USEC`).
pub const CACHE_TIMEOUT: Duration = Duration::from_secs(150);

/// The key the initramfs's gate hands the passphrase over in.
pub const HANDOVER_KEY: &str = "keygate:handover";

/// How long the hand-over key lives when no gate in the real root removes
/// it: long enough for a slow boot to reach the real root's gate, short
/// enough that a machine without one does not keep the passphrase.
pub const HANDOVER_TIMEOUT: Duration = Duration::from_secs(300);

/// Largest payload read: far above any list of passphrases, and the kernel's
/// own limit for a `user` key is 32767 bytes.
const MAX_PAYLOAD: usize = 32 * 1024;

const KEY_TYPE: &CStr = c"user";

/// Why the cache could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    /// The key exists but this process may not read or change it.
    #[error(
        "the kernel keyring key '{name}' exists but cannot be used ({errno}); is the unit missing KeyringMode=shared?"
    )]
    Denied {
        name: String,
        errno: nix::errno::Errno,
    },
    /// Any other failure of a keyring call.
    #[error("kernel keyring: {call} of '{name}' failed: {errno}")]
    Call {
        call: &'static str,
        name: String,
        errno: nix::errno::Errno,
    },
    /// The description holds a NUL byte.
    #[error("kernel keyring: '{0}' is not a valid key name")]
    BadName(String),
}

/// What [`share`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shared {
    /// The passphrase was added to the cached list (a new key, or merged).
    Added,
    /// It was already in the list: nothing changed (systemd does the same,
    /// without refreshing the timeout).
    AlreadyCached,
}

/// One `user` key in root's user keyring, by its description.
#[derive(Debug, Clone)]
pub struct CachedKey {
    name: std::ffi::CString,
    shown: String,
}

impl CachedKey {
    pub fn new(name: &str) -> Result<CachedKey, KeyringError> {
        Ok(CachedKey {
            name: std::ffi::CString::new(name)
                .map_err(|_| KeyringError::BadName(crate::text::printable(name).into_owned()))?,
            shown: crate::text::printable(name).into_owned(),
        })
    }

    /// The description, as messages show it.
    pub fn name(&self) -> &str {
        &self.shown
    }

    /// Every cached passphrase, in the order cached. An absent, expired or
    /// revoked key, or a kernel without keyrings, gives an empty list.
    pub fn read(&self) -> Result<Vec<Secret>, KeyringError> {
        let Some(serial) = self.possess()? else {
            return Ok(Vec::new());
        };
        match self.payload(serial)? {
            Some(payload) => Ok(split(&payload)),
            None => Ok(Vec::new()),
        }
    }

    /// Add `secret` to the cached list as systemd does: merged after the
    /// entries already there (unless it is one of them), the timeout set to
    /// [`CACHE_TIMEOUT`]. Touching the ask-password directory is the
    /// caller's part ([`touch_ask_password`]).
    pub fn share(&self, secret: &Secret) -> Result<Shared, KeyringError> {
        self.share_for(secret, CACHE_TIMEOUT)
    }

    /// [`share`](Self::share) with a timeout of `timeout`.
    pub fn share_for(&self, secret: &Secret, timeout: Duration) -> Result<Shared, KeyringError> {
        let existing = match self.possess()? {
            Some(serial) => self.payload(serial)?,
            None => None,
        };
        let mut payload =
            Secret::with_capacity(existing.as_ref().map_or(0, |p| p.len()) + 1 + secret.len());
        if let Some(old) = &existing {
            if split(old).iter().any(|e| e.expose() == secret.expose()) {
                return Ok(Shared::AlreadyCached);
            }
            if !old.is_empty() {
                // Cannot fail: the capacity was computed to fit.
                let _ = payload.try_extend(old.expose());
                let _ = payload.try_extend(b"\0");
            }
        }
        let _ = payload.try_extend(secret.expose());
        drop(existing);
        // SAFETY: both strings are NUL-terminated; the payload pointer and
        // length describe memory owned by `payload` for the whole call.
        let serial = unsafe {
            libc::syscall(
                libc::SYS_add_key,
                KEY_TYPE.as_ptr(),
                self.name.as_ptr(),
                payload.expose().as_ptr(),
                payload.len(),
                libc::KEY_SPEC_USER_KEYRING,
            )
        };
        drop(payload);
        if serial < 0 {
            return Err(self.error("add_key", nix::errno::Errno::last()));
        }
        let serial = serial as i32;
        // Possession is needed to set the timeout of a key that was just
        // created; without a timeout the key must not stay.
        let timed = self
            .possess()
            .and_then(|_| self.set_timeout(serial, timeout));
        if let Err(e) = timed {
            // SAFETY: plain keyctl call with integer arguments.
            unsafe {
                libc::syscall(
                    libc::SYS_keyctl,
                    libc::KEYCTL_UNLINK,
                    serial,
                    libc::KEY_SPEC_USER_KEYRING,
                )
            };
            return Err(e);
        }
        Ok(Shared::Added)
    }

    /// Remove the key (its payload is destroyed at once, for every keyring
    /// holding it). True when there was a key to remove; an absent or
    /// expired one is not an error.
    pub fn remove(&self) -> Result<bool, KeyringError> {
        let Some(serial) = self.possess()? else {
            return Ok(false);
        };
        // SAFETY: plain keyctl call with integer arguments.
        let r = unsafe { libc::syscall(libc::SYS_keyctl, libc::KEYCTL_INVALIDATE, serial) };
        if r < 0 {
            return match nix::errno::Errno::last() {
                nix::errno::Errno::EKEYEXPIRED
                | nix::errno::Errno::EKEYREVOKED
                | nix::errno::Errno::ENOKEY => Ok(false),
                e => Err(self.error("keyctl invalidate", e)),
            };
        }
        Ok(true)
    }

    /// The key's serial, possessed by this process, or None when there is
    /// no usable key.
    fn possess(&self) -> Result<Option<i32>, KeyringError> {
        // SAFETY: NUL-terminated strings; no callout (NULL), no destination.
        let found = unsafe {
            libc::syscall(
                libc::SYS_request_key,
                KEY_TYPE.as_ptr(),
                self.name.as_ptr(),
                std::ptr::null::<libc::c_char>(),
                0,
            )
        };
        if found >= 0 {
            return Ok(Some(found as i32));
        }
        match nix::errno::Errno::last() {
            // Not reachable from our keyrings: search root's user keyring,
            // linking what is found into the process keyring.
            nix::errno::Errno::ENOKEY
            | nix::errno::Errno::EKEYEXPIRED
            | nix::errno::Errno::EKEYREVOKED => {}
            e if unsupported(e) => return Ok(None),
            e => return Err(self.error("request_key", e)),
        }
        // SAFETY: NUL-terminated strings; integer keyring ids.
        let found = unsafe {
            libc::syscall(
                libc::SYS_keyctl,
                libc::KEYCTL_SEARCH,
                libc::KEY_SPEC_USER_KEYRING,
                KEY_TYPE.as_ptr(),
                self.name.as_ptr(),
                libc::KEY_SPEC_PROCESS_KEYRING,
            )
        };
        if found >= 0 {
            return Ok(Some(found as i32));
        }
        match nix::errno::Errno::last() {
            nix::errno::Errno::ENOKEY
            | nix::errno::Errno::EKEYEXPIRED
            | nix::errno::Errno::EKEYREVOKED => Ok(None),
            e if unsupported(e) => Ok(None),
            e => Err(self.error("keyctl search", e)),
        }
    }

    /// The key's payload in locked memory; None when it expired or was
    /// revoked meanwhile.
    fn payload(&self, serial: i32) -> Result<Option<Secret>, KeyringError> {
        let mut buf = Secret::with_capacity(MAX_PAYLOAD);
        let read = buf.append_with(|room| {
            // SAFETY: `room` is writable memory of `room.len()` bytes owned
            // by `buf`; the kernel writes at most that many.
            let n = unsafe {
                libc::syscall(
                    libc::SYS_keyctl,
                    libc::KEYCTL_READ,
                    serial,
                    room.as_mut_ptr(),
                    room.len(),
                )
            };
            if n < 0 {
                Err(nix::errno::Errno::last())
            } else {
                Ok(n as usize)
            }
        });
        match read {
            Ok(n) if n > MAX_PAYLOAD => Err(self.error("keyctl read", nix::errno::Errno::EMSGSIZE)),
            Ok(_) => Ok(Some(buf)),
            Err(nix::errno::Errno::EKEYEXPIRED | nix::errno::Errno::EKEYREVOKED) => Ok(None),
            Err(nix::errno::Errno::ENOKEY) => Ok(None),
            Err(e @ nix::errno::Errno::EACCES) => Err(KeyringError::Denied {
                name: self.shown.clone(),
                errno: e,
            }),
            Err(e) => Err(self.error("keyctl read", e)),
        }
    }

    fn set_timeout(&self, serial: i32, timeout: Duration) -> Result<(), KeyringError> {
        let secs = libc::c_uint::try_from(timeout.as_secs()).unwrap_or(libc::c_uint::MAX);
        // SAFETY: plain keyctl call with integer arguments.
        let r = unsafe { libc::syscall(libc::SYS_keyctl, libc::KEYCTL_SET_TIMEOUT, serial, secs) };
        if r < 0 {
            return Err(self.error("keyctl set_timeout", nix::errno::Errno::last()));
        }
        Ok(())
    }

    fn error(&self, call: &'static str, errno: nix::errno::Errno) -> KeyringError {
        if errno == nix::errno::Errno::EACCES {
            return KeyringError::Denied {
                name: self.shown.clone(),
                errno,
            };
        }
        KeyringError::Call {
            call,
            name: self.shown.clone(),
            errno,
        }
    }
}

/// A kernel built without keyrings, or a sandbox that forbids them: there is
/// no cache to read.
fn unsupported(e: nix::errno::Errno) -> bool {
    matches!(e, nix::errno::Errno::ENOSYS | nix::errno::Errno::EOPNOTSUPP)
}

/// The entries of a NUL-separated list, each in its own [`Secret`]. Empty
/// entries (a trailing NUL, two NULs in a row) are skipped.
pub fn split(payload: &Secret) -> Vec<Secret> {
    payload
        .expose()
        .split(|&b| b == 0)
        .filter(|e| !e.is_empty())
        .map(Secret::from_slice)
        .collect()
}

/// Tell waiting systemd-cryptsetup prompts to look at the keyring again:
/// they watch the mtime of `/run/systemd/ask-password` (systemd 240 and
/// later). A missing directory means nobody is waiting.
pub fn touch_ask_password(dir: &Path) -> std::io::Result<()> {
    match nix::sys::stat::utimensat(
        nix::fcntl::AT_FDCWD,
        dir,
        &nix::sys::time::TimeSpec::UTIME_NOW,
        &nix::sys::time::TimeSpec::UTIME_NOW,
        nix::sys::stat::UtimensatFlags::FollowSymlink,
    ) {
        Ok(()) => Ok(()),
        Err(nix::errno::Errno::ENOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Whether a systemd-cryptsetup request waits in the ask-password
/// directory: an `ask.*` file whose `Id=` starts with `cryptsetup:`.
pub fn cryptsetup_is_asking(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        e.file_name().to_string_lossy().starts_with("ask.")
            && std::fs::read_to_string(e.path())
                .map(|text| {
                    text.lines()
                        .any(|l| l.trim_start().starts_with("Id=cryptsetup:"))
                })
                .unwrap_or(false)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_skips_empty_entries() {
        let list = split(&Secret::from_slice(b"one\0two\0\0three\0"));
        let got: Vec<&[u8]> = list.iter().map(|s| s.expose()).collect();
        assert_eq!(got, vec![&b"one"[..], b"two", b"three"]);
        assert!(split(&Secret::from_slice(b"")).is_empty());
    }

    #[test]
    fn a_name_with_nul_is_refused() {
        assert!(matches!(
            CachedKey::new("a\0b"),
            Err(KeyringError::BadName(_))
        ));
    }

    #[test]
    fn asking_needs_a_cryptsetup_id() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!cryptsetup_is_asking(dir.path()));
        std::fs::write(dir.path().join("ask.1"), "[Ask]\nId=zfs:nest\n").unwrap();
        assert!(!cryptsetup_is_asking(dir.path()));
        std::fs::write(dir.path().join("sck.2"), "[Ask]\nId=cryptsetup:/dev/sda\n").unwrap();
        assert!(!cryptsetup_is_asking(dir.path()));
        std::fs::write(
            dir.path().join("ask.3"),
            "[Ask]\nPID=1\nId=cryptsetup:/dev/disk/by-uuid/x\n",
        )
        .unwrap();
        assert!(cryptsetup_is_asking(dir.path()));
        assert!(!cryptsetup_is_asking(&dir.path().join("missing")));
    }
}
