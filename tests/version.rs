//! `keygate --version` shows the version Cargo.toml gives the package (as
//! cargo resolves it), the one the Debian package and the man pages carry
//! (tests/package/check compares those three on the built package).

use std::process::Command;

#[test]
fn version_is_cargo_toml_s() {
    let out = Command::new(env!("CARGO_BIN_EXE_keygate"))
        .arg("--version")
        .output()
        .expect("run keygate --version");
    assert!(out.status.success(), "keygate --version failed: {out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("keygate {}\n", env!("CARGO_PKG_VERSION"))
    );
}
