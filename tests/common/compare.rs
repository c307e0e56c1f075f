//! Comparisons whose failure message shows what differs: files as a unified
//! diff, terminal settings field by field.

use std::path::Path;
use std::process::Command;

use nix::sys::termios::{self, Termios};

/// `diff -u` from the file `shipped` to the text `expected`, the latter
/// labelled `label` (what produced it).
pub fn unified_diff(shipped: &Path, expected: &str, label: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let generated = dir.path().join("generated");
    std::fs::write(&generated, expected).unwrap();
    let out = Command::new("diff")
        .arg("-u")
        .arg("--label")
        .arg(shipped.display().to_string())
        .arg("--label")
        .arg(label)
        .arg(shipped)
        .arg(&generated)
        .output()
        .expect("diff (diffutils) runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Field-by-field equality of two termios, with a useful message.
#[track_caller]
pub fn assert_same_termios(before: &Termios, after: &Termios) {
    assert_eq!(before.input_flags, after.input_flags, "c_iflag");
    assert_eq!(before.output_flags, after.output_flags, "c_oflag");
    assert_eq!(before.local_flags, after.local_flags, "c_lflag");
    assert_eq!(before.control_flags, after.control_flags, "c_cflag");
    assert_eq!(before.control_chars, after.control_chars, "c_cc");
    assert_eq!(
        termios::cfgetispeed(before),
        termios::cfgetispeed(after),
        "ispeed"
    );
    assert_eq!(
        termios::cfgetospeed(before),
        termios::cfgetospeed(after),
        "ospeed"
    );
    assert!(before == after, "whole termios");
}
