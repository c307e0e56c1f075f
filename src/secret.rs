//! The passphrase type, and process hardening for holding one.
//!
//! A [`Secret`] owns one private anonymous memory mapping, allocated once and
//! never grown, so no reallocation can leave a stray copy behind. The mapping
//! is locked in memory with `mlock` (a failure is reported once on stderr and
//! is never fatal), excluded from core dumps where the platform allows it, and
//! overwritten with zeros by [`zeroize`] when bytes are erased and when the
//! `Secret` is dropped. `Secret` has no `Clone` and no `Display`; its `Debug`
//! prints only `Secret(<redacted>, N bytes)`.
//!
//! [`harden_process`] turns off core dumps for the whole process; it returns
//! warnings instead of failing. It deliberately does not call
//! `mlockall(MCL_FUTURE)`, which would pin every thread stack and heap page.
//!
//! [`write_secret_line`] hands a passphrase to `zfs load-key` on a pipe: the
//! secret and its `"\n"` go out with one `writev`, without building an
//! intermediate (non-zeroized) copy.

use std::fmt;
use std::io;
use std::io::IoSlice;
use std::num::NonZeroUsize;
use std::os::fd::AsFd;
use std::ptr::NonNull;
use std::sync::Once;

use nix::errno::Errno;
use nix::sys::mman::{self, MapFlags, ProtFlags};
use zeroize::Zeroize;

/// Bytes of a passphrase, in locked memory that is zeroed on every path.
pub struct Secret {
    /// Start of the private mapping owned by this value (page aligned).
    ptr: NonNull<u8>,
    /// Length of the mapping (whole pages, at least `cap`).
    map_len: usize,
    /// Usable capacity; never changes.
    cap: usize,
    /// Bytes in use: `ptr[..len]`.
    len: usize,
    /// Whether `mlock` succeeded (so `munlock` is due on drop).
    locked: bool,
}

// SAFETY: a `Secret` exclusively owns its mapping, like a `Box<[u8]>`; the raw
// pointer is never shared, so moving it to another thread is sound.
unsafe impl Send for Secret {}
// SAFETY: shared access only hands out `&[u8]` (see `expose`); all mutation
// goes through `&mut self`, exactly as for `Box<[u8]>`.
unsafe impl Sync for Secret {}

/// The bytes did not fit in the fixed capacity of a [`Secret`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("secret does not fit in its fixed capacity of {capacity} bytes")]
pub struct CapacityError {
    /// The capacity that was exceeded.
    pub capacity: usize,
}

static MLOCK_WARNING: Once = Once::new();

fn page_size() -> usize {
    match nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE) {
        Ok(Some(n)) if n > 0 => usize::try_from(n).unwrap_or(4096),
        _ => 4096,
    }
}

impl Secret {
    /// Capacity of the secrets made by [`Secret::new`]: enough for every
    /// passphrase OpenZFS accepts (8..=512 bytes) with room to tell "too long".
    pub const CAPACITY: usize = 1024;

    /// An empty secret with [`Secret::CAPACITY`] bytes of room.
    pub fn new() -> Secret {
        Secret::with_capacity(Secret::CAPACITY)
    }

    /// An empty secret with room for exactly `capacity` bytes (at least 1).
    ///
    /// The memory is a private mapping of whole pages, so locking and
    /// unlocking it never affects other data. If the mapping cannot be made
    /// this behaves like any failed allocation (the process aborts).
    pub fn with_capacity(capacity: usize) -> Secret {
        let cap = capacity.max(1);
        let page = page_size();
        let map_len = cap.div_ceil(page).saturating_mul(page);
        let layout = std::alloc::Layout::from_size_align(map_len, page)
            .unwrap_or(std::alloc::Layout::new::<[u8; 4096]>());
        let Some(length) = NonZeroUsize::new(map_len) else {
            std::alloc::handle_alloc_error(layout);
        };
        // SAFETY: a fresh private anonymous mapping at an address the kernel
        // chooses cannot alias any existing Rust object.
        let mapped = unsafe {
            mman::mmap_anonymous(
                None,
                length,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_PRIVATE,
            )
        };
        let ptr = match mapped {
            Ok(p) => p.cast::<u8>(),
            Err(_) => std::alloc::handle_alloc_error(layout),
        };
        // SAFETY: `ptr..ptr+map_len` is the mapping just created and owned here.
        let locked = match unsafe { mman::mlock(ptr.cast(), map_len) } {
            Ok(()) => true,
            Err(e) => {
                MLOCK_WARNING.call_once(|| {
                    crate::report::stderr_line(&format!(
                        "keygate: warning: cannot lock passphrase memory (mlock: {e}); \
                         it could be written to swap"
                    ));
                });
                false
            }
        };
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            // Best effort: keep the page out of core dumps even if
            // `harden_process` was not called. Failure changes nothing else.
            // SAFETY: advising on our own whole mapping; MADV_DONTDUMP does not
            // change its contents or validity.
            let _ = unsafe { mman::madvise(ptr.cast(), map_len, mman::MmapAdvise::MADV_DONTDUMP) };
        }
        Secret {
            ptr,
            map_len,
            cap,
            len: 0,
            locked,
        }
    }

    /// A secret holding a copy of `bytes` (capacity [`Secret::CAPACITY`] or
    /// `bytes.len()`, whichever is larger). The caller stays responsible for
    /// wiping its own copy.
    pub fn from_slice(bytes: &[u8]) -> Secret {
        let mut s = Secret::with_capacity(bytes.len().max(Secret::CAPACITY));
        // Cannot fail: the capacity was chosen to fit.
        let _ = s.try_extend(bytes);
        s
    }

    /// The secret bytes. Keep the borrow short and never copy them into
    /// memory that is not wiped.
    pub fn expose(&self) -> &[u8] {
        &self.full()[..self.len]
    }

    /// Number of bytes held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no byte is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Fixed capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Appends one byte; returns false (and changes nothing) when full.
    pub fn push(&mut self, byte: u8) -> bool {
        if self.len == self.cap {
            return false;
        }
        let len = self.len;
        self.full_mut()[len] = byte;
        self.len += 1;
        true
    }

    /// Appends `bytes`, or changes nothing if they do not fit.
    pub fn try_extend(&mut self, bytes: &[u8]) -> Result<(), CapacityError> {
        let end = self
            .len
            .checked_add(bytes.len())
            .filter(|&end| end <= self.cap)
            .ok_or(CapacityError { capacity: self.cap })?;
        let start = self.len;
        self.full_mut()[start..end].copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }

    /// Lets `fill` write straight into the unused part of the buffer (for
    /// example `|buf| nix::unistd::read(fd, buf)`) and keeps the `n` bytes it
    /// reports. Nothing is kept if `fill` fails; bytes it wrote are wiped.
    pub fn append_with<E>(
        &mut self,
        fill: impl FnOnce(&mut [u8]) -> Result<usize, E>,
    ) -> Result<usize, E> {
        let start = self.len;
        let result = fill(&mut self.full_mut()[start..]);
        match result {
            Ok(n) => {
                self.len = start + n.min(self.cap - start);
                Ok(n)
            }
            Err(e) => {
                self.full_mut()[start..].zeroize();
                Err(e)
            }
        }
    }

    /// Keeps the first `len` bytes and overwrites the rest with zeros.
    pub fn truncate(&mut self, len: usize) {
        if len < self.len {
            let old = self.len;
            self.full_mut()[len..old].zeroize();
            self.len = len;
        }
    }

    /// Overwrites every byte with zeros and empties the secret.
    pub fn clear(&mut self) {
        self.full_mut().zeroize();
        self.len = 0;
    }

    fn full(&self) -> &[u8] {
        // SAFETY: the mapping is `map_len >= cap` bytes, readable, owned by
        // self and alive until drop; it is initialised (anonymous pages are
        // zero-filled).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.cap) }
    }

    fn full_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `full`, and `&mut self` guarantees exclusive access.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.cap) }
    }
}

impl Default for Secret {
    fn default() -> Self {
        Secret::new()
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.clear();
        if self.locked {
            // SAFETY: unlocking our own mapping, which is still mapped.
            let _ = unsafe { mman::munlock(self.ptr.cast(), self.map_len) };
        }
        // SAFETY: the mapping was created in `with_capacity`, is owned only by
        // self, and no reference into it outlives `&mut self` here.
        let _ = unsafe { mman::munmap(self.ptr.cast(), self.map_len) };
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<redacted>, {} bytes)", self.len)
    }
}

/// Turns off core dumps for this process: `PR_SET_DUMPABLE` 0 (Linux) and
/// `RLIMIT_CORE` 0. Never fails; returns one line per step that did not work.
///
/// Note: a non-dumpable process also cannot be inspected through
/// `/proc/PID/mem` by other unprivileged processes, which is the point.
pub fn harden_process() -> Vec<String> {
    let mut warnings = Vec::new();
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Err(e) = nix::sys::prctl::set_dumpable(false) {
        warnings.push(format!(
            "cannot turn off core dumps (prctl PR_SET_DUMPABLE 0): {e}"
        ));
    }
    if let Err(e) = nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_CORE, 0, 0) {
        warnings.push(format!(
            "cannot set the core size limit to 0 (setrlimit RLIMIT_CORE): {e}"
        ));
    }
    warnings
}

/// Writes the secret followed by `"\n"` to `fd` (the stdin pipe of
/// `zfs load-key`), with `writev` so no joined copy is built. Handles short
/// writes and `EINTR`; a reader that went away gives an `EPIPE` error (the
/// process does not die of `SIGPIPE`: Rust ignores it by default, and
/// [`crate::signals`] catches it and knows it came from a write).
pub fn write_secret_line<Fd: AsFd>(fd: Fd, secret: &Secret) -> io::Result<()> {
    let parts: [&[u8]; 2] = [secret.expose(), b"\n"];
    let mut done = 0usize;
    let total = parts[0].len() + 1;
    while done < total {
        let (first, second) = if done < parts[0].len() {
            (&parts[0][done..], parts[1])
        } else {
            (&parts[1][done - parts[0].len()..], &[][..])
        };
        let iov = [IoSlice::new(first), IoSlice::new(second)];
        match nix::sys::uio::writev(fd.as_fd(), &iov) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
            Ok(n) => done += n,
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(io::Error::from(e)),
        }
    }
    Ok(())
}

/// Passphrase lengths OpenZFS accepts when a key is created: anything
/// outside can never be right, so it is refused before any zfs call.
pub const MIN_LEN: usize = 8;
pub const MAX_LEN: usize = 512;

/// Why a passphrase can never be right, if it cannot: its length is outside
/// what OpenZFS accepts when a key is created, or it holds a newline.
/// OpenZFS reads only the first line of a passphrase (up to the first
/// `\n`), so a passphrase with a newline in it would be cut there and could
/// open a root whose passphrase is only its first line: it is refused before
/// any zfs call. (A newline can only arrive over the control socket or from
/// a password agent; at a console it ends the entry.)
pub fn passphrase_problem(secret: &Secret) -> Option<String> {
    let n = secret.len();
    if let Some(at) = secret.expose().iter().position(|&b| b == b'\n') {
        return Some(format!(
            "That passphrase contains a newline (after byte {at}): ZFS reads only the first line of a passphrase, so it cannot be tried."
        ));
    }
    if n == 0 {
        Some("Empty passphrase; type the passphrase and press Enter.".into())
    } else if n < MIN_LEN {
        Some(format!(
            "That passphrase is too short ({n} bytes): ZFS passphrases are at least {MIN_LEN} bytes."
        ))
    } else if n > MAX_LEN {
        Some(format!(
            "That passphrase is too long ({n} bytes): ZFS passphrases are at most {MAX_LEN} bytes."
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_truncate_clear_zero_the_buffer() {
        let mut s = Secret::with_capacity(16);
        assert_eq!(s.capacity(), 16);
        s.try_extend(b"hunter2!").unwrap();
        assert_eq!(s.expose(), b"hunter2!");
        s.truncate(3);
        assert_eq!(s.expose(), b"hun");
        assert!(s.full()[3..].iter().all(|&b| b == 0));
        assert!(s.try_extend(&[b'x'; 14]).is_err());
        assert_eq!(s.expose(), b"hun");
        s.try_extend(&[b'x'; 13]).unwrap();
        assert!(!s.push(b'y'));
        s.clear();
        assert!(s.is_empty());
        assert!(s.full().iter().all(|&b| b == 0));
    }

    #[test]
    fn debug_is_redacted() {
        let s = Secret::from_slice(b"correct horse");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>, 13 bytes)");
    }

    #[test]
    fn append_with_reads_in_place() {
        let mut s = Secret::with_capacity(8);
        let n = s
            .append_with(|buf| {
                buf[..3].copy_from_slice(b"abc");
                Ok::<usize, ()>(3)
            })
            .unwrap();
        assert_eq!(n, 3);
        assert_eq!(s.expose(), b"abc");
        assert!(
            s.append_with(|buf| {
                buf[0] = b'z';
                Err::<usize, ()>(())
            })
            .is_err()
        );
        assert_eq!(s.expose(), b"abc");
        assert_eq!(s.full()[3], 0);
    }

    #[test]
    fn write_secret_line_appends_newline() {
        let (r, w) = nix::unistd::pipe().unwrap();
        let s = Secret::from_slice(b"pass phrase");
        write_secret_line(&w, &s).unwrap();
        drop(w);
        let mut out = Vec::new();
        let mut f = std::fs::File::from(r);
        std::io::Read::read_to_end(&mut f, &mut out).unwrap();
        assert_eq!(out, b"pass phrase\n");
    }

    #[test]
    fn harden_process_reports_instead_of_failing() {
        // Leaves this test process non-dumpable, which the other unit tests
        // do not mind.
        let warnings = harden_process();
        for w in &warnings {
            assert!(!w.is_empty());
        }
    }

    #[test]
    fn newline_rule() {
        for bad in [
            &b"hunter2hunter2\njunk"[..],
            b"hunter2hunter2\r\n",
            b"\nhunter2hunter2",
        ] {
            assert!(
                passphrase_problem(&Secret::from_slice(bad))
                    .unwrap()
                    .contains("contains a newline"),
                "{bad:?}"
            );
        }
        assert!(passphrase_problem(&Secret::from_slice(b"hunter2hunter2\r")).is_none());
        assert!(passphrase_problem(&Secret::from_slice(b"hunter2\0hunter2")).is_none());
    }

    #[test]
    fn length_rules() {
        assert!(
            passphrase_problem(&Secret::from_slice(b""))
                .unwrap()
                .contains("Empty")
        );
        assert!(
            passphrase_problem(&Secret::from_slice(b"1234567"))
                .unwrap()
                .contains("too short (7 bytes)")
        );
        assert!(passphrase_problem(&Secret::from_slice(b"12345678")).is_none());
        assert!(passphrase_problem(&Secret::from_slice(&[b'x'; 512])).is_none());
        assert!(
            passphrase_problem(&Secret::from_slice(&[b'x'; 513]))
                .unwrap()
                .contains("too long (513 bytes)")
        );
        assert!(passphrase_problem(&Secret::from_slice(&[0xff, 0xfe, 0, 1, 2, 3, 4, 5])).is_none());
    }
}
