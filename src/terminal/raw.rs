//! Raw mode, and the process-wide registry of terminals that are in it.
//!
//! Every terminal put into raw mode is recorded here with the exact termios
//! it had before, so that any thread (the signal thread, a panic hook, the
//! gate's shutdown path) can put it back with [`restore_all`]. A [`RawGuard`]
//! holds a registration; dropping it restores and unregisters.
//!
//! Each registration owns a duplicate of the terminal's file descriptor (so
//! a restore never touches a closed or reused descriptor number) and a wake
//! pipe, which the prompting thread polls to learn that its terminal was
//! restored for good ([`restore_all`]) or put back into raw mode after the
//! process was stopped and continued ([`resume_all`]).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Mutex, MutexGuard};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::termios::{
    self, FlushArg, InputFlags, LocalFlags, SetArg, SpecialCharacterIndices, Termios,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// In raw mode; `saved` is due back.
    Raw,
    /// Restored while the process is stopped; raw again on resume.
    Suspended,
    /// Restored for good by `restore_all`.
    Released,
}

struct Slot {
    id: u64,
    /// Duplicate of the terminal descriptor (same open file description).
    fd: OwnedFd,
    saved: Termios,
    state: State,
    /// Set by `resume_all`, taken by the prompting thread.
    resumed: bool,
    wake: OwnedFd,
}

struct Registry {
    next_id: u64,
    slots: Vec<Slot>,
    suspended: bool,
    closed: bool,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    next_id: 0,
    slots: Vec::new(),
    suspended: false,
    closed: false,
});

fn registry() -> MutexGuard<'static, Registry> {
    // A panic while holding the lock cannot leave the registry inconsistent
    // in a way that matters more than restoring terminals does.
    REGISTRY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The raw-mode settings derived from `saved`: no echo, no line editing by
/// the kernel, no signals from keys, CR and LF delivered as typed, all eight
/// bits kept, one byte at a time. Output and control (baud, parity) settings
/// are left alone, so a serial line keeps working as configured.
pub(crate) fn raw_from(saved: &Termios) -> Termios {
    let mut t = saved.clone();
    t.local_flags.remove(
        LocalFlags::ECHO
            | LocalFlags::ECHONL
            | LocalFlags::ICANON
            | LocalFlags::ISIG
            | LocalFlags::IEXTEN,
    );
    t.input_flags
        .remove(InputFlags::ICRNL | InputFlags::INLCR | InputFlags::IGNCR | InputFlags::ISTRIP);
    #[cfg(any(
        target_os = "linux",
        target_os = "android",
        target_os = "illumos",
        target_os = "solaris"
    ))]
    t.input_flags.remove(InputFlags::IUCLC);
    t.control_chars[SpecialCharacterIndices::VMIN as usize] = 1;
    t.control_chars[SpecialCharacterIndices::VTIME as usize] = 0;
    t
}

fn set(fd: BorrowedFd<'_>, t: &Termios) -> nix::Result<()> {
    // TCSANOW, not TCSAFLUSH/TCSADRAIN: waiting for output to drain could
    // block forever on a serial line stopped by flow control.
    loop {
        match termios::tcsetattr(fd, SetArg::TCSANOW, t) {
            Err(Errno::EINTR) => continue,
            other => return other,
        }
    }
}

/// Why the prompting thread was woken through its wake pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wake {
    /// Nothing (spurious, or already handled).
    Nothing,
    /// The terminal is raw again after a stop: wipe the entry, re-prompt.
    Resumed,
    /// The terminal was restored for good: stop prompting.
    Released,
}

/// Registration of one terminal in raw mode; restores it when dropped.
pub(crate) struct RawGuard {
    id: u64,
    wake: OwnedFd,
    done: bool,
}

/// What `RawGuard::enter` found.
pub(crate) enum Enter {
    Raw(RawGuard),
    /// `restore_all` has run: the process is going away, prompt no more.
    Closed,
    /// This terminal is already registered (prompting in another thread).
    Busy,
}

impl RawGuard {
    /// Saves the settings of `fd` and puts it into raw mode (or, while the
    /// process is being stopped, registers it to be made raw on resume).
    pub(crate) fn enter(fd: BorrowedFd<'_>) -> nix::Result<Enter> {
        let mut reg = registry();
        if reg.closed {
            return Ok(Enter::Closed);
        }
        let dup = nix::unistd::dup(fd)?;
        let rdev = nix::sys::stat::fstat(&dup)?.st_rdev;
        for slot in &reg.slots {
            if nix::sys::stat::fstat(&slot.fd).is_ok_and(|st| st.st_rdev == rdev) {
                return Ok(Enter::Busy);
            }
        }
        let saved = termios::tcgetattr(&dup)?;
        let (wake_rx, wake_tx) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
        let state = if reg.suspended {
            State::Suspended
        } else {
            set(dup.as_fd(), &raw_from(&saved))?;
            State::Raw
        };
        let id = reg.next_id;
        reg.next_id += 1;
        reg.slots.push(Slot {
            id,
            fd: dup,
            saved,
            state,
            resumed: false,
            wake: wake_tx,
        });
        Ok(Enter::Raw(RawGuard {
            id,
            wake: wake_rx,
            done: false,
        }))
    }

    /// The descriptor to poll (readable) for [`RawGuard::take_wake`].
    pub(crate) fn wake_fd(&self) -> BorrowedFd<'_> {
        self.wake.as_fd()
    }

    /// Empties the wake pipe and says why it was written to.
    pub(crate) fn take_wake(&self) -> Wake {
        let mut buf = [0u8; 16];
        while let Ok(n) = nix::unistd::read(&self.wake, &mut buf) {
            if n == 0 {
                break;
            }
        }
        let mut reg = registry();
        match reg.slots.iter_mut().find(|s| s.id == self.id) {
            Some(slot) if slot.state == State::Released => Wake::Released,
            Some(slot) if slot.resumed => {
                slot.resumed = false;
                Wake::Resumed
            }
            Some(_) => Wake::Nothing,
            None => Wake::Released,
        }
    }

    /// Restores the saved settings (if still raw) and unregisters.
    pub(crate) fn release(mut self) -> nix::Result<()> {
        self.done = true;
        release(self.id)
    }
}

fn release(id: u64) -> nix::Result<()> {
    let mut reg = registry();
    let Some(pos) = reg.slots.iter().position(|s| s.id == id) else {
        return Ok(());
    };
    let slot = reg.slots.swap_remove(pos);
    drop(reg);
    if slot.state == State::Raw {
        set(slot.fd.as_fd(), &slot.saved)
    } else {
        Ok(())
    }
}

impl Drop for RawGuard {
    fn drop(&mut self) {
        if !self.done {
            // Nothing more can be done from a destructor; the explicit
            // `release` path reports failures.
            let _ = release(self.id);
        }
    }
}

fn wake(slot: &Slot) {
    // Non-blocking; a full pipe already means "wake up".
    let _ = nix::unistd::write(&slot.wake, &[1u8]);
}

/// Restores every terminal that keygate put into raw mode to the exact
/// settings it had, from any thread, and stops all prompting for the rest of
/// the life of the process: prompts in progress return `Entry::Cancelled`,
/// later ones return it at once. Call it on the way out (the signal thread
/// and [`crate::signals::terminate_by`] do). Errors (e.g. a terminal that
/// hung up) are ignored: there is nothing better to do on the way out.
pub fn restore_all() {
    let mut reg = registry();
    reg.closed = true;
    for slot in &mut reg.slots {
        put_back(slot);
        slot.state = State::Released;
        wake(slot);
    }
}

/// Restores every raw terminal before the process stops (SIGTSTP, SIGTTIN,
/// SIGTTOU); [`resume_all`] undoes it. Prompts keep waiting meanwhile.
pub(crate) fn suspend_all() {
    let mut reg = registry();
    reg.suspended = true;
    for slot in &mut reg.slots {
        if put_back(slot) {
            slot.state = State::Suspended;
        }
    }
}

/// Give a terminal in raw mode back its saved settings (errors ignored, as
/// on the way out); whether it was in raw mode.
fn put_back(slot: &Slot) -> bool {
    if slot.state != State::Raw {
        return false;
    }
    let _ = set(slot.fd.as_fd(), &slot.saved);
    true
}

/// After the process continues: reads each suspended terminal's settings
/// again (whoever had the terminal meanwhile may have changed them), puts it
/// back into raw mode, discards what was typed while stopped, and wakes its
/// prompting thread to wipe the partial entry and print the prompt again.
pub(crate) fn resume_all() {
    let mut reg = registry();
    if !reg.suspended {
        return;
    }
    reg.suspended = false;
    for slot in &mut reg.slots {
        if slot.state != State::Suspended {
            continue;
        }
        if let Ok(now) = termios::tcgetattr(&slot.fd) {
            slot.saved = now;
        }
        let _ = set(slot.fd.as_fd(), &raw_from(&slot.saved));
        let _ = termios::tcflush(&slot.fd, FlushArg::TCIFLUSH);
        slot.state = State::Raw;
        slot.resumed = true;
        wake(slot);
    }
}
