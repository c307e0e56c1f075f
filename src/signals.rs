//! Signal handling: terminals are restored before any signal can end or stop
//! the process.
//!
//! [`spawn`] starts one dedicated thread (`keygate-signals`, using
//! signal-hook's iterator, so no keygate code runs inside a signal handler)
//! for the signals OpenBSD's `readpassphrase(3)` handles, plus `SIGUSR1`:
//!
//! | signal | what the signal thread does |
//! | --- | --- |
//! | `SIGINT SIGTERM SIGHUP SIGQUIT SIGALRM` | [`crate::terminal::restore_all`] (prompts in progress end with `Entry::Cancelled`, none start again), then sends [`SignalEvent::Terminate`]`(sig)`. The receiver does its cleanup and calls [`terminate_by`]`(sig)`, so the process still dies *by that signal*. If the receiver is gone, or the same kind of signal comes a second time, the thread calls `terminate_by` itself. |
//! | `SIGPIPE` | Sent by the kernel for a write to a pipe or socket without reader (recognised by the sender pid being our own): nothing happens, the write fails with `EPIPE`. Sent by someone else with `kill`: treated like `SIGTERM`. |
//! | `SIGTSTP SIGTTIN SIGTTOU` | Restores every raw terminal, stops the process (with `SIGSTOP`, since the signal's own default action is replaced by the handler), and when continued reads each terminal's settings again, puts it back into raw mode, discards input typed meanwhile, wipes the partial entry and prints the prompt again. |
//! | `SIGUSR1` | Sends [`SignalEvent::Recheck`]. |
//!
//! Signals are only caught once `spawn` has run; call it early. Before that,
//! Rust's runtime already ignores `SIGPIPE`.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;

use nix::sys::signal::{self, SigHandler, SigSet, SigmaskHow, Signal};
use signal_hook::iterator::SignalsInfo;
use signal_hook::iterator::exfiltrator::WithRawSiginfo;

use crate::terminal;

/// What the signal thread tells the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalEvent {
    /// `SIGUSR1`: look at the key status again now.
    Recheck,
    /// A terminating signal arrived; terminals are already restored. Clean
    /// up, then call [`terminate_by`] with it.
    Terminate(Signal),
}

/// Signals that end the process (after restoring terminals).
pub const TERMINATING: [Signal; 6] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGALRM,
    Signal::SIGPIPE,
];

/// Signals that stop the process (after restoring terminals).
pub const STOPPING: [Signal; 3] = [Signal::SIGTSTP, Signal::SIGTTIN, Signal::SIGTTOU];

static STARTED: AtomicBool = AtomicBool::new(false);

/// Starts the signal thread; events go to `events`. Call once, early, before
/// any prompt. A second call fails with `AlreadyExists`.
pub fn spawn(events: Sender<SignalEvent>) -> io::Result<()> {
    if STARTED.swap(true, Ordering::SeqCst) {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "the keygate signal thread is already running",
        ));
    }
    let wanted: Vec<i32> = TERMINATING
        .iter()
        .chain(STOPPING.iter())
        .chain([Signal::SIGUSR1].iter())
        .map(|&s| s as i32)
        .collect();
    let signals = match SignalsInfo::<WithRawSiginfo>::new(&wanted) {
        Ok(signals) => signals,
        Err(e) => {
            STARTED.store(false, Ordering::SeqCst);
            return Err(e);
        }
    };
    std::thread::Builder::new()
        .name("keygate-signals".into())
        .stack_size(128 * 1024)
        .spawn(move || run(signals, events))?;
    Ok(())
}

fn run(mut signals: SignalsInfo<WithRawSiginfo>, events: Sender<SignalEvent>) {
    let mut forwarded = false;
    let own_pid = nix::unistd::getpid().as_raw();
    for info in signals.forever() {
        let Ok(sig) = Signal::try_from(info.si_signo) else {
            continue;
        };
        match sig {
            Signal::SIGUSR1 => {
                let _ = events.send(SignalEvent::Recheck);
            }
            Signal::SIGTSTP | Signal::SIGTTIN | Signal::SIGTTOU => {
                terminal::suspend_all();
                // Stops every thread; returns once the process is continued.
                let _ = signal::raise(Signal::SIGSTOP);
                terminal::resume_all();
            }
            Signal::SIGPIPE if sent_by_us(&info, own_pid) => {}
            _ => {
                if forwarded {
                    terminate_by(sig);
                }
                terminal::restore_all();
                forwarded = true;
                if events.send(SignalEvent::Terminate(sig)).is_err() {
                    terminate_by(sig);
                }
            }
        }
    }
}

/// Whether a `SIGPIPE` came from the kernel for one of our own writes: the
/// kernel fills in the writing process as the sender.
fn sent_by_us(info: &libc::siginfo_t, own_pid: i32) -> bool {
    #[cfg(any(
        target_os = "linux",
        target_os = "android",
        target_os = "illumos",
        target_os = "solaris"
    ))]
    {
        // A positive si_code means the kernel generated it (not kill or
        // sigqueue from another process).
        if info.si_code > 0 {
            return true;
        }
        // SAFETY: si_code <= 0 (SI_USER, SI_QUEUE, SI_TKILL...) means the
        // siginfo carries the sender's pid, so reading that field is defined.
        let pid = unsafe { info.si_pid() };
        pid == own_pid
    }
    #[cfg(not(any(
        target_os = "linux",
        target_os = "android",
        target_os = "illumos",
        target_os = "solaris"
    )))]
    {
        let _ = (info, own_pid);
        true
    }
}

/// Restores every terminal, then ends the process by `signal`: its
/// disposition is reset to the default, it is unblocked and raised, so the
/// parent sees death by that signal (`WIFSIGNALED`, `WTERMSIG`). Call it
/// after the gate's own cleanup on [`SignalEvent::Terminate`]. If the
/// default action of `signal` does not end the process (a stop or ignored
/// signal), exits with status 128 + signal number instead.
pub fn terminate_by(signal: Signal) -> ! {
    terminal::restore_all();
    // SAFETY: installing SIG_DFL runs no code of ours in signal context; the
    // handler being replaced belongs to signal-hook, which tolerates it.
    let _ = unsafe { signal::signal(signal, SigHandler::SigDfl) };
    let mut set = SigSet::empty();
    set.add(signal);
    let _ = signal::pthread_sigmask(SigmaskHow::SIG_UNBLOCK, Some(&set), None);
    let _ = signal::raise(signal);
    std::process::exit(128 + signal as i32)
}
