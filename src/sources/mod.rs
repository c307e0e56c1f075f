//! Where passphrases come from. Each source runs on its own thread and sends
//! [`Event::Passphrase`] into the gate's one channel; the gate answers
//! each with a [`Reply`] and keeps the shared [`board::Board`] current so
//! every source asks only for what is still locked.
//!
//! A new kind of source gets a [`SourceId`] variant (how it is named in
//! messages and in `keygate status`) and, when it runs on a thread of its
//! own, hands the gate a [`SourceHandle`].

pub mod ask_password;
pub mod board;
pub mod console;
pub mod provider;

use std::fmt;
use std::sync::mpsc::Sender;
use std::thread::JoinHandle;

use crate::secret::Secret;

/// Something the gate must react to besides the passage of time.
#[derive(Debug)]
pub enum Event {
    /// Re-read the key state now (SIGUSR1).
    Recheck,
    /// Stop and exit (SIGTERM, SIGINT, ...): the signal number.
    Terminate(i32),
    /// A passphrase from a source (a console, ...); the answer goes to `reply`.
    Passphrase {
        source: SourceId,
        secret: Secret,
        reply: Sender<Reply>,
    },
    /// A source stopped (hung up, Ctrl-D, out of tries).
    SourceEnded { source: SourceId, reason: String },
    /// The gate's own later try of a passphrase from `source` on the roots
    /// its first wave did not reach; `secret` comes back to be shared or
    /// wiped.
    Tried {
        source: SourceId,
        secret: Secret,
        attempt: crate::gate::Attempt,
    },
}

/// The gate's answer to one passphrase.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reply {
    /// Roots the passphrase opened (or that were found open meanwhile).
    pub opened: Vec<String>,
    /// Roots that rejected it.
    pub rejected: Vec<String>,
    /// Roots where trying failed for another reason, with zfs's words.
    pub failed: Vec<(String, String)>,
    /// Roots a typed passphrase could still open after this attempt.
    pub remaining: Vec<String>,
}

/// Which source a passphrase (or the end of a source) came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceId {
    /// A console, by its name (`/dev/ttyS1`).
    Console(String),
    /// systemd's password agents, which all answer one request.
    AskPassword,
    /// A client of the control socket, by its process id.
    ControlSocket { pid: i32 },
    /// systemd-cryptsetup's passphrase cache in the kernel keyring, read
    /// once at start.
    Keyring,
    /// A key provider (`[[provider]]`), by its name.
    Provider(String),
    /// The passphrase the initramfs's gate handed over in the kernel
    /// keyring, read once at start.
    Handover,
}

impl SourceId {
    /// How `keygate status` lists the source while it asks, for the sources
    /// the gate starts and stops itself.
    pub fn status_label(&self) -> Option<String> {
        match self {
            SourceId::Console(name) => Some(format!("console {name}")),
            SourceId::AskPassword => Some("systemd password agents".into()),
            SourceId::Provider(name) => Some(format!("provider {name}")),
            SourceId::ControlSocket { .. } | SourceId::Keyring | SourceId::Handover => None,
        }
    }
}

/// How messages name the source ("unlocked nest/a with the passphrase from
/// ...").
impl fmt::Display for SourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceId::Console(name) => f.write_str(name),
            SourceId::AskPassword => f.write_str("a systemd password agent"),
            SourceId::ControlSocket { pid } => write!(f, "the control socket (pid {pid})"),
            SourceId::Keyring => f.write_str("systemd-cryptsetup's cache in the kernel keyring"),
            SourceId::Provider(name) => write!(f, "provider {name}"),
            SourceId::Handover => f.write_str("the initramfs (kernel keyring)"),
        }
    }
}

/// A source running on its own thread, as the gate keeps it.
pub struct SourceHandle {
    pub id: SourceId,
    pub handle: JoinHandle<()>,
}
