//! The passphrase type.
