//! `systemd-analyze verify` on the shipped unit, enabled the way
//! `systemctl enable keygate.service` enables it, among stand-ins for the
//! OpenZFS units (zfs-import-cache/scan, zfs-import.target, zfs-load-key,
//! zfs-mount, a mount unit like zfs-mount-generator writes). Verifying
//! local-fs.target builds the boot transaction, so an ordering cycle through
//! the gate fails the test.
//!
//! The stand-ins live in a temporary directory put first on
//! SYSTEMD_UNIT_PATH (the trailing `:` keeps the system's own unit
//! directories, which hold local-fs.target and friends). They carry only the
//! lines that matter for ordering, as OpenZFS writes them.
//!
//! Skipped, with a note, where systemd-analyze is missing; under `CI=true`
//! that fails instead (CI installs systemd: Debian's `systemd` package
//! provides systemd-analyze).

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;

const STUBS: &[(&str, &str)] = &[
    (
        "zfs-import.target",
        "[Unit]\nDescription=stand-in: ZFS pool import target\n",
    ),
    (
        "zfs-import-cache.service",
        "[Unit]\nDescription=stand-in: import ZFS pools by cache file\n\
         DefaultDependencies=no\nAfter=systemd-udev-settle.service cryptsetup.target\n\
         After=systemd-remount-fs.service\nBefore=zfs-import.target\n\
         [Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n",
    ),
    (
        "zfs-import-scan.service",
        "[Unit]\nDescription=stand-in: import ZFS pools by scanning\n\
         DefaultDependencies=no\nAfter=systemd-udev-settle.service cryptsetup.target\n\
         Before=zfs-import.target\n\
         [Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n",
    ),
    (
        "zfs-load-key.service",
        "[Unit]\nDescription=stand-in: load ZFS keys from files\n\
         DefaultDependencies=no\nAfter=zfs-import.target\nBefore=zfs-mount.service\n\
         [Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n",
    ),
    (
        "zfs-mount.service",
        "[Unit]\nDescription=stand-in: mount ZFS file systems\n\
         DefaultDependencies=no\nAfter=systemd-udev-settle.service zfs-import.target\n\
         After=systemd-remount-fs.service\nBefore=local-fs.target\n\
         [Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n",
    ),
    (
        "srv-nest.mount",
        "[Unit]\nDescription=stand-in: a dataset mount as zfs-mount-generator writes it\n\
         Wants=zfs-import.target\nAfter=zfs-import.target\n\
         [Mount]\nWhat=nest/srv\nWhere=/srv/nest\nType=zfs\nOptions=zfsutil\n",
    ),
];

fn have_systemd_analyze() -> bool {
    Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Lays out the unit directory: the stand-ins, the unit under test, and the
/// symlinks `systemctl enable` would make for it and for the OpenZFS units.
fn unit_dir(dir: &Path, unit: &str) {
    for (name, text) in STUBS {
        fs::write(dir.join(name), text).unwrap();
    }
    fs::write(dir.join("keygate.service"), unit).unwrap();
    for (wants, name) in [
        ("local-fs.target.requires", "keygate.service"),
        ("zfs-import.target.wants", "zfs-import-cache.service"),
        ("zfs-import.target.wants", "zfs-import-scan.service"),
        ("local-fs.target.wants", "zfs-mount.service"),
        ("local-fs.target.wants", "zfs-load-key.service"),
        ("local-fs.target.wants", "srv-nest.mount"),
    ] {
        fs::create_dir_all(dir.join(wants)).unwrap();
        symlink(format!("../{name}"), dir.join(wants).join(name)).unwrap();
    }
}

/// Runs verify and returns (success, everything it printed).
fn verify(dir: &Path, units: &[&str]) -> (bool, String) {
    // --man=no: keygate(8) is not installed where the tests run.
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg("--man=no")
        .args(units)
        .env("SYSTEMD_UNIT_PATH", format!("{}:", dir.display()))
        .env("SYSTEMD_LOG_LEVEL", "notice")
        .current_dir(dir)
        .output()
        .expect("systemd-analyze runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The shipped unit with ExecStart pointed at a program that exists here
/// (verify checks that the binary is executable); every other byte is the
/// shipped file's.
fn shipped_unit_runnable_here() -> String {
    let shipped =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("units/keygate.service"))
            .unwrap();
    assert_eq!(shipped.matches("ExecStart=/usr/sbin/keygate ").count(), 1);
    shipped.replace(
        "ExecStart=/usr/sbin/keygate ",
        &format!("ExecStart={} ", env!("CARGO_BIN_EXE_keygate")),
    )
}

#[test]
fn shipped_unit_verifies_in_the_boot_transaction() {
    if !have_systemd_analyze() {
        return common::skip("systemd-analyze not found (apt-get install systemd)");
    }
    let dir = tempfile::tempdir().unwrap();
    unit_dir(dir.path(), &shipped_unit_runnable_here());
    let (ok, text) = verify(
        dir.path(),
        &["keygate.service", "local-fs.target", "zfs-mount.service"],
    );
    let about_us: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("keygate") || l.contains("cycl"))
        .collect();
    assert!(
        ok && about_us.is_empty(),
        "systemd-analyze verify complained:\n{text}"
    );
}

/// Adds one ordering line to the shipped unit and tells whether verify then
/// finds a cycle. A cycle means the opposite ordering is already in force.
fn cycle_with(extra: &str, start: &str) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let unit =
        shipped_unit_runnable_here().replace("\n[Service]\n", &format!("\n{extra}\n\n[Service]\n"));
    unit_dir(dir.path(), &unit);
    let (_, text) = verify(dir.path(), &["keygate.service", start]);
    text.contains("ordering cycle")
}

#[test]
fn gate_runs_after_the_imports_and_before_every_mount() {
    // systemd breaks a cycle by deleting a job and verify still exits 0, so
    // the test reads what it printed. Each probe orders the gate the wrong way
    // round; a reported cycle proves the right order holds at boot.
    if !have_systemd_analyze() {
        return common::skip("systemd-analyze not found (apt-get install systemd)");
    }
    for (probe, start) in [
        ("After=srv-nest.mount", "local-fs.target"),
        ("After=zfs-mount.service", "local-fs.target"),
        ("After=local-fs.target", "local-fs.target"),
        ("Before=zfs-import-cache.service", "local-fs.target"),
        ("Before=zfs-import-scan.service", "local-fs.target"),
        ("Before=zfs-load-key.service", "local-fs.target"),
    ] {
        assert!(
            cycle_with(probe, start),
            "keygate.service with {probe} makes no cycle, so the shipped unit does not \
             order it the other way"
        );
    }
    // And a harmless extra line makes none, so the probes mean something.
    assert!(!cycle_with(
        "After=systemd-udev-settle.service",
        "local-fs.target"
    ));
}

#[test]
fn gate_runs_after_the_luks_devices_of_crypttab() {
    // A stand-in for what systemd-cryptsetup-generator writes for a crypttab
    // line: ordered before cryptsetup.target. A gate ordered before it must
    // make a cycle, since the shipped unit runs after cryptsetup.target
    // (OpenZFS's imports do too, but the gate does not rely on that).
    if !have_systemd_analyze() {
        return common::skip("systemd-analyze not found (apt-get install systemd)");
    }
    let crypt = "[Unit]\nDescription=stand-in: Cryptography Setup for crypt0\n\
                 DefaultDependencies=no\nBefore=cryptsetup.target\n\
                 [Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n";
    let cycle = |extra: &str| {
        let dir = tempfile::tempdir().unwrap();
        let unit = shipped_unit_runnable_here()
            .replace("\n[Service]\n", &format!("\n{extra}\n\n[Service]\n"));
        unit_dir(dir.path(), &unit);
        fs::write(dir.path().join("systemd-cryptsetup@crypt0.service"), crypt).unwrap();
        // The gate's own line, not OpenZFS's: the import stand-ins lose
        // their ordering after cryptsetup.target here.
        for (name, text) in STUBS.iter().filter(|(n, _)| n.starts_with("zfs-import-")) {
            fs::write(
                dir.path().join(name),
                text.replace(" cryptsetup.target", ""),
            )
            .unwrap();
        }
        let (_, text) = verify(dir.path(), &["keygate.service", "local-fs.target"]);
        text.contains("ordering cycle")
    };
    let wants = "Wants=systemd-cryptsetup@crypt0.service cryptsetup.target";
    assert!(
        cycle(&format!(
            "{wants}\nBefore=systemd-cryptsetup@crypt0.service"
        )),
        "keygate.service ordered before a crypttab device makes no cycle: the \
         shipped unit does not run after cryptsetup.target"
    );
    assert!(
        !cycle(wants),
        "pulling the device in alone must make no cycle"
    );
    // systemd-cryptsetup's passphrase cache is readable only with the user
    // keyring linked into the session.
    assert!(shipped_unit_runnable_here().contains("\nKeyringMode=shared\n"));
}

/// The unit with the drop-in `keygate bind ROOT tang ...` writes, beside a
/// network stack (`net`: unit name and text, plus what pulls it in) that
/// brings network-online.target up; whether verify then finds a cycle.
fn tang_cycle(net: &[(&str, &str)]) -> bool {
    let dir = tempfile::tempdir().unwrap();
    unit_dir(dir.path(), &shipped_unit_runnable_here());
    let dropin = dir.path().join("keygate.service.d");
    fs::create_dir(&dropin).unwrap();
    fs::write(
        dropin.join("provider-nest+a.conf"),
        keygate::bind::files::unit_dropin_text("nest/a"),
    )
    .unwrap();
    let wants = dir.path().join("network-online.target.wants");
    fs::create_dir(&wants).unwrap();
    for (name, text) in net {
        fs::write(dir.path().join(name), text).unwrap();
        symlink(format!("../{name}"), wants.join(name)).unwrap();
    }
    let (_, text) = verify(dir.path(), &["keygate.service", "local-fs.target"]);
    text.contains("ordering cycle")
}

/// A Tang binding's network ordering works with a network stack that comes
/// up before local file systems (systemd-networkd: DefaultDependencies=no),
/// and makes an ordering cycle with one that starts after them (ifupdown's
/// networking.service is ordered After=local-fs.target), which is why the
/// README offers the initramfs with networking as the other choice.
#[test]
fn a_tang_bindings_network_ordering_needs_an_early_network() {
    if !have_systemd_analyze() {
        return common::skip("systemd-analyze not found (apt-get install systemd)");
    }
    let early = "[Unit]\nDescription=stand-in: wait for systemd-networkd\n\
                 DefaultDependencies=no\nBefore=network-online.target\n\
                 [Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n";
    assert!(
        !tang_cycle(&[("net-wait-online.service", early)]),
        "an early network stack must make no cycle"
    );
    let late = "[Unit]\nDescription=stand-in: ifupdown's networking.service\n\
                DefaultDependencies=no\nAfter=local-fs.target\nBefore=network-online.target\n\
                [Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n";
    assert!(
        tang_cycle(&[("net-late.service", late)]),
        "a network that starts after local file systems must make a cycle, \
         so the drop-in really orders the gate after network-online.target"
    );
}
