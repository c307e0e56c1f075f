//! Keys in root's real user keyring for tests: each under a name of its own
//! (keygate is pointed at it with `KEYGATE_KEYRING_KEY`), removed on drop
//! together with anything keygate added under that name.
#![allow(dead_code)]

use std::ffi::CString;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A `user` key name no other test or process uses.
pub struct TestKey {
    pub name: String,
    c_name: CString,
    /// Serials this test added (an expired key can no longer be searched).
    added: std::cell::RefCell<Vec<i64>>,
}

impl TestKey {
    pub fn new() -> TestKey {
        let name = format!(
            "keygate-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        TestKey {
            c_name: CString::new(name.clone()).unwrap(),
            name,
            added: Default::default(),
        }
    }

    /// Point keygate at this key.
    pub fn apply(&self, cmd: &mut Command) {
        cmd.env("KEYGATE_KEYRING_KEY", &self.name);
    }

    /// Point keygate's initramfs hand-over at this key.
    pub fn apply_handover(&self, cmd: &mut Command) {
        cmd.env("KEYGATE_HANDOVER_KEY", &self.name);
    }

    /// Store `payload` as systemd-cryptsetup does: in `@u`, with `timeout`.
    pub fn add(&self, payload: &[u8], timeout: Duration) {
        // SAFETY: NUL-terminated strings and a payload slice that lives
        // through the call.
        let serial = unsafe {
            libc::syscall(
                libc::SYS_add_key,
                c"user".as_ptr(),
                self.c_name.as_ptr(),
                payload.as_ptr(),
                payload.len(),
                libc::KEY_SPEC_USER_KEYRING,
            )
        };
        assert!(serial > 0, "add_key: {}", std::io::Error::last_os_error());
        self.added.borrow_mut().push(serial);
        let serial = self.possess().expect("the key just added");
        // SAFETY: integer arguments only.
        let r = unsafe {
            libc::syscall(
                libc::SYS_keyctl,
                libc::KEYCTL_SET_TIMEOUT,
                serial,
                timeout.as_secs() as libc::c_uint,
            )
        };
        assert_eq!(r, 0, "set_timeout: {}", std::io::Error::last_os_error());
    }

    /// The serial, linked into this process's keyring (possession).
    fn possess(&self) -> Option<i32> {
        // SAFETY: NUL-terminated strings; integer keyring ids.
        let s = unsafe {
            libc::syscall(
                libc::SYS_keyctl,
                libc::KEYCTL_SEARCH,
                libc::KEY_SPEC_USER_KEYRING,
                c"user".as_ptr(),
                self.c_name.as_ptr(),
                libc::KEY_SPEC_PROCESS_KEYRING,
            )
        };
        (s > 0).then_some(s as i32)
    }

    /// The payload now, or None without a (live) key.
    pub fn payload(&self) -> Option<Vec<u8>> {
        let serial = self.possess()?;
        let mut buf = vec![0u8; 65536];
        // SAFETY: `buf` is writable for its whole length.
        let n = unsafe {
            libc::syscall(
                libc::SYS_keyctl,
                libc::KEYCTL_READ,
                serial,
                buf.as_mut_ptr(),
                buf.len(),
            )
        };
        if n < 0 {
            return None;
        }
        buf.truncate(n as usize);
        Some(buf)
    }

    /// Seconds left before the key expires (None: no key, or no timeout),
    /// from `/proc/keys`.
    pub fn seconds_left(&self) -> Option<u64> {
        parse_timeout(&self.proc_keys_field(3)?)
    }

    /// The key's permission mask, from `/proc/keys`.
    pub fn perm(&self) -> Option<String> {
        self.proc_keys_field(4)
    }

    /// Field `n` (from 0) of the key's line in `/proc/keys`.
    fn proc_keys_field(&self, n: usize) -> Option<String> {
        let serial = self.possess()?;
        let keys = std::fs::read_to_string("/proc/keys").ok()?;
        let line = keys.lines().find(|l| {
            u32::from_str_radix(l.split_whitespace().next().unwrap_or(""), 16).ok()
                == Some(serial as u32)
        })?;
        line.split_whitespace().nth(n).map(str::to_string)
    }
}

/// `/proc/keys` timeouts: `perm`, `expd`, `59s`, `2m`, `1h`, ...
fn parse_timeout(t: &str) -> Option<u64> {
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = num.parse().ok()?;
    Some(match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86400,
        "w" => n * 7 * 86400,
        _ => return None,
    })
}

impl Drop for TestKey {
    fn drop(&mut self) {
        // Everything under this name: what the test added and what keygate
        // added or merged.
        let found = std::iter::from_fn(|| self.possess().map(i64::from));
        let serials: Vec<i64> = self.added.borrow().clone();
        for serial in serials.into_iter().chain(found.take(100)) {
            // SAFETY: integer arguments only.
            unsafe {
                libc::syscall(
                    libc::SYS_keyctl,
                    libc::KEYCTL_UNLINK,
                    serial,
                    libc::KEY_SPEC_USER_KEYRING,
                );
                libc::syscall(libc::SYS_keyctl, libc::KEYCTL_INVALIDATE, serial);
            }
        }
    }
}

/// Run the child in a session keyring of its own that does not link `@u`,
/// as systemd's default `KeyringMode=private` does: the cached key is then
/// not possessed, only reachable by a search of `@u`.
pub fn private_session(cmd: &mut Command) {
    // SAFETY: the closure makes one raw syscall (async-signal-safe) and
    // touches no memory shared with the parent.
    unsafe {
        cmd.pre_exec(|| {
            let r = libc::syscall(
                libc::SYS_keyctl,
                libc::KEYCTL_JOIN_SESSION_KEYRING,
                std::ptr::null::<libc::c_char>(),
            );
            if r < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Whether the kernel keyring works here (root, keyrings compiled in).
pub fn available() -> bool {
    let k = TestKey::new();
    // SAFETY: NUL-terminated strings, a 1-byte payload.
    let serial = unsafe {
        libc::syscall(
            libc::SYS_add_key,
            c"user".as_ptr(),
            k.c_name.as_ptr(),
            b"x".as_ptr(),
            1usize,
            libc::KEY_SPEC_USER_KEYRING,
        )
    };
    if serial > 0 {
        k.added.borrow_mut().push(serial);
    }
    serial > 0
}
