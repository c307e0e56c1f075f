//! Where passphrases come from. Each source runs on its own thread and sends
//! `gate::Event::Passphrase` into the gate's one channel; the gate answers
//! each with a [`Reply`] and keeps the shared [`board::Board`] current so
//! every source asks only for what is still locked.

pub mod ask_password;
pub mod board;
pub mod console;

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
