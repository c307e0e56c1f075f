//! Applying the configured faults to one invocation.

use std::fs;
use std::io::Write;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::config::{Config, Fault, FaultKind};
use crate::store::Store;

/// What is left for `main` to do after the faults that act up front.
#[derive(Default)]
pub struct Pending {
    /// Truncate stdout: (bytes or half, exit code override).
    pub partial: Option<(Option<usize>, Option<i32>)>,
}

/// Runs the faults that apply to `command`, in file order. Returns `Err` only
/// for simulator errors; a fault that ends the process never returns.
pub fn apply(store: &Store, config: &Config, command: &str) -> Result<Pending> {
    let mut pending = Pending::default();
    for fault in config
        .faults
        .iter()
        .filter(|f| f.command == "*" || f.command == command)
    {
        if !claim(store, fault)? {
            continue;
        }
        match &fault.kind {
            FaultKind::Hang => loop {
                std::thread::sleep(Duration::from_secs(3600));
            },
            FaultKind::DelayMs(ms) => std::thread::sleep(Duration::from_millis(*ms)),
            FaultKind::Garbage { rc } => {
                let mut out = std::io::stdout().lock();
                let _ =
                    out.write_all(b"\x1b[31m??? zfs-sim garbage \xff\xfe\tnot\ta\ttable\n#@!\n");
                let _ = out.flush();
                std::process::exit(*rc);
            }
            FaultKind::Crash(signal) => crash(*signal),
            FaultKind::Partial { bytes, rc } => pending.partial = Some((*bytes, *rc)),
            FaultKind::Fail { rc, stderr } => {
                let _ = std::io::stderr().write_all(stderr);
                std::process::exit(*rc);
            }
        }
    }
    Ok(pending)
}

/// Counts one use of a fault limited by `times=`; false once used up.
fn claim(store: &Store, fault: &Fault) -> Result<bool> {
    let Some(limit) = fault.times else {
        return Ok(true);
    };
    let _lock = store.lock_file()?;
    let path = store.dir().join(format!("fault-{}.count", fault.index));
    let used: u64 = match fs::read_to_string(&path) {
        Ok(s) => s.trim().parse().unwrap_or(0),
        Err(_) => 0,
    };
    if used >= limit {
        return Ok(false);
    }
    fs::write(&path, format!("{}\n", used + 1))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(true)
}

/// Dies by `signal` without leaving a core file.
fn crash(signal: nix::sys::signal::Signal) -> ! {
    use nix::sys::resource::{Resource, setrlimit};
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, raise, sigaction};
    let _ = setrlimit(Resource::RLIMIT_CORE, 0, 0);
    let dfl = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    // SAFETY: installing SIG_DFL runs no handler code of ours, so none of the
    // async-signal-safety rules for handlers apply; it only undoes the
    // handler the Rust runtime installs for stack-overflow detection.
    let _ = unsafe { sigaction(signal, &dfl) };
    let _ = raise(signal);
    // Signals that can be ignored or blocked may not end us; make sure.
    let _ = raise(nix::sys::signal::Signal::SIGKILL);
    std::process::exit(137)
}
