//! The dracut module's unit and the initramfs shell scripts, checked with
//! the real tools: `systemd-analyze verify` builds the systemd initramfs's
//! boot transaction (initrd.target) with keygate-initrd.service wanted by
//! it, among stand-ins for the OpenZFS and dracut units it is ordered
//! against (their names are those of zfs-dracut 2.3 and dracut 059); and
//! every script passes `sh -n` (dash), `bash -n` and, where installed,
//! shellcheck.
//!
//! Skipped, with a note, where a tool is missing; under `CI=true` that
//! fails instead.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

const MODULE: &str = "initramfs/dracut/91keygate";

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn have(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Stand-ins carrying only their kind: the ordering is the unit's.
const STUBS: &[&str] = &[
    "zfs-import.target",
    "zfs-env-bootfs.service",
    "zfs-snapshot-bootfs.service",
    "zfs-rollback-bootfs.service",
    "zfs-nonroot-necessities.service",
    "dracut-pre-mount.service",
    "sysroot.mount",
];

fn stub(name: &str) -> String {
    if name.ends_with(".target") {
        return "[Unit]\nDescription=stand-in\n".into();
    }
    if name == "sysroot.mount" {
        return "[Unit]\nDescription=stand-in: the root, as zfs's generator makes it\n\
                DefaultDependencies=no\nAfter=zfs-import.target\nBefore=initrd-root-fs.target\n\
                [Mount]\nWhat=rpool/ROOT/debian\nWhere=/sysroot\nType=zfs\nOptions=zfsutil\n"
            .into();
    }
    "[Unit]\nDescription=stand-in\nDefaultDependencies=no\n\
     [Service]\nType=oneshot\nExecStart=/bin/true\n"
        .into()
}

/// The shipped unit (ExecStart pointed at a program that exists here, as
/// verify checks it), with `extra` lines added to [Unit]; what verify said.
fn verify_with(extra: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    for name in STUBS {
        fs::write(dir.path().join(name), stub(name)).unwrap();
    }
    let shipped = fs::read_to_string(repo(&format!("{MODULE}/keygate-initrd.service"))).unwrap();
    assert_eq!(shipped.matches("ExecStart=/usr/sbin/keygate ").count(), 1);
    let unit = shipped
        .replace("ExecStart=/usr/sbin/keygate ", "ExecStart=/bin/true ")
        .replace("[Unit]\n", &format!("[Unit]\n{extra}"));
    fs::write(dir.path().join("keygate-initrd.service"), unit).unwrap();
    // As module-setup.sh does: `systemctl add-wants initrd.target`.
    fs::create_dir(dir.path().join("initrd.target.wants")).unwrap();
    symlink(
        "../keygate-initrd.service",
        dir.path()
            .join("initrd.target.wants/keygate-initrd.service"),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .args([
            "verify",
            "--man=no",
            "initrd.target",
            "keygate-initrd.service",
        ])
        .env("SYSTEMD_UNIT_PATH", format!("{}:", dir.path().display()))
        .env("SYSTEMD_LOG_LEVEL", "notice")
        .current_dir(dir.path())
        .output()
        .expect("systemd-analyze runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success() && text.trim().is_empty(), text)
}

#[test]
fn the_initrd_unit_verifies_in_the_initramfs_boot_transaction() {
    if !have("systemd-analyze") {
        return common::skip("systemd-analyze not found (apt-get install systemd)");
    }
    let (ok, text) = verify_with("");
    assert!(ok, "systemd-analyze verify:\n{text}");
    // The check can fail: an ordering that closes a cycle is reported.
    let (ok, text) = verify_with("After=initrd-root-fs.target\n");
    assert!(!ok && text.contains("ordering cycle"), "{text}");
}

#[test]
fn the_initrd_unit_runs_after_the_import_and_before_zfs_asks_or_mounts() {
    let unit = fs::read_to_string(repo(&format!("{MODULE}/keygate-initrd.service"))).unwrap();
    let words = |key: &str| -> Vec<String> {
        unit.lines()
            .filter_map(|l| l.strip_prefix(&format!("{key}=")))
            .flat_map(|v| v.split_whitespace().map(str::to_string))
            .collect()
    };
    let after = words("After");
    let before = words("Before");
    for unit in ["zfs-import.target", "zfs-env-bootfs.service"] {
        assert!(after.iter().any(|u| u == unit), "not After={unit}");
    }
    for unit in [
        "dracut-pre-mount.service",
        "sysroot.mount",
        "initrd-root-fs.target",
        "zfs-snapshot-bootfs.service",
        "zfs-rollback-bootfs.service",
        "zfs-nonroot-necessities.service",
    ] {
        assert!(before.iter().any(|u| u == unit), "not Before={unit}");
    }
}

/// The shell scripts, with the shell that runs them.
const SCRIPTS: &[(&str, &str)] = &[
    ("initramfs/initramfs-tools/hook", "sh"),
    ("initramfs/initramfs-tools/load-key", "sh"),
    ("initramfs/dracut/91keygate/keygate-pre-mount.sh", "sh"),
    ("initramfs/dracut/91keygate/module-setup.sh", "bash"),
];

#[test]
fn the_scripts_parse_in_their_shells() {
    for (script, shell) in SCRIPTS {
        let program = if *shell == "sh" { "dash" } else { "bash" };
        let out = Command::new(program)
            .arg("-n")
            .arg(repo(script))
            .output()
            .expect("the shell runs");
        assert!(
            out.status.success(),
            "{program} -n {script}: {}",
            common::show(&out)
        );
    }
}

#[test]
fn the_scripts_pass_shellcheck() {
    if !have("shellcheck") {
        return common::skip("shellcheck not found (apt-get install shellcheck)");
    }
    for (script, shell) in SCRIPTS {
        let out = Command::new("shellcheck")
            .args(["-s", shell])
            .arg(repo(script))
            .output()
            .expect("shellcheck runs");
        assert!(
            out.status.success(),
            "shellcheck {script}:\n{}",
            common::show(&out)
        );
    }
}
