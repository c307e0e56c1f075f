//! Errors of console handling; each says which console and what failed.

use std::io;
use std::path::PathBuf;

/// What went wrong on a console.
#[derive(Debug, thiserror::Error)]
pub enum TermError {
    /// The console device could not be opened.
    #[error("cannot open console {}: {source}", path.display())]
    Open {
        /// The device path.
        path: PathBuf,
        /// Why `open(2)` failed.
        source: io::Error,
    },
    /// The file is not a terminal (for example `/dev/null`), so there is no
    /// way to turn echo off.
    #[error("cannot prompt on {0}: it is not a terminal")]
    NotATerminal(String),
    /// The console went away (carrier lost, pty master closed, device
    /// removed). Its settings could not be restored because it is gone.
    #[error("console {0} hung up")]
    HangUp(String),
    /// `read_passphrase` was called on a console that is already prompting.
    #[error("console {0} is already prompting for a passphrase")]
    Busy(String),
    /// Another operation on the console failed.
    #[error("console {name}: cannot {what}: {source}")]
    Io {
        /// The console.
        name: String,
        /// What could not be done, e.g. "turn off echo".
        what: &'static str,
        /// The system error.
        source: io::Error,
    },
}

impl TermError {
    pub(crate) fn io(name: &str, what: &'static str, source: impl Into<io::Error>) -> TermError {
        TermError::Io {
            name: name.to_owned(),
            what,
            source: source.into(),
        }
    }
}
