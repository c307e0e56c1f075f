//! A one-shot, cloneable cancellation handle that `poll(2)` can wait on.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use nix::fcntl::OFlag;

/// Stops prompting from another thread.
///
/// Clones share one state, so one `Cancel` can be handed to every console
/// thread: [`Cancel::cancel`] wakes every `read_passphrase` waiting on it
/// (each restores its terminal and returns `Entry::Cancelled`, within
/// milliseconds). Cancellation is permanent: once cancelled, every later
/// `read_passphrase` with this handle returns `Entry::Cancelled` at once. Make
/// a new `Cancel` for a new round of prompts.
///
/// Backed by a pipe: cancelling writes one byte that is never read, so the
/// read end stays readable for every poller.
#[derive(Clone, Debug)]
pub struct Cancel {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    cancelled: AtomicBool,
    message: Mutex<Option<String>>,
    read: OwnedFd,
    write: OwnedFd,
}

impl Cancel {
    /// A new, not yet cancelled handle.
    ///
    /// Fails only if no pipe can be created (out of file descriptors).
    pub fn new() -> std::io::Result<Cancel> {
        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
        Ok(Cancel {
            inner: Arc::new(Inner {
                cancelled: AtomicBool::new(false),
                message: Mutex::new(None),
                read,
                write,
            }),
        })
    }

    /// Cancels every prompt using this handle (or a clone).
    pub fn cancel(&self) {
        if !self.inner.cancelled.swap(true, Ordering::SeqCst) {
            // The pipe is empty and non-blocking, so this cannot block; if it
            // failed, the pipe would be unusable anyway and the flag is set.
            let _ = nix::unistd::write(&self.inner.write, &[1u8]);
        }
    }

    /// Cancels like [`Cancel::cancel`], and has every console that was
    /// prompting print `message` on a line of its own after restoring its
    /// settings (e.g. "keygate: keys loaded from /dev/ttyS1; no passphrase
    /// needed here"). Only the first message given is kept.
    pub fn cancel_with_message(&self, message: impl Into<String>) {
        {
            let mut slot = self
                .inner
                .message
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if slot.is_none() && !self.is_cancelled() {
                *slot = Some(message.into());
            }
        }
        self.cancel();
    }

    /// Whether [`Cancel::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::SeqCst)
    }

    pub(crate) fn message(&self) -> Option<String> {
        self.inner
            .message
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.inner.read.as_fd()
    }
}
