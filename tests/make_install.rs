//! `make install` installs what `make` built and builds nothing itself: run
//! before `make`, it stops with one line saying to run `make` first and
//! installs nothing. Runs the real Makefile with DESTDIR and
//! CARGO_TARGET_DIR in directories of the test's own.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::{TIMEOUT, run_with_timeout};

fn make_install(target: &Path, destdir: &Path) -> std::process::Output {
    let mut cmd = Command::new("make");
    cmd.arg("-s")
        .arg("-C")
        .arg(env!("CARGO_MANIFEST_DIR"))
        .arg("install")
        .arg(format!("DESTDIR={}", destdir.display()))
        .arg(format!("CARGO_TARGET_DIR={}", target.display()))
        .arg("INIT=systemd smf openrc")
        .env_remove("MAKEFLAGS")
        .env_remove("MAKELEVEL")
        .env_remove("MFLAGS");
    run_with_timeout(cmd, TIMEOUT)
}

fn have_make() -> bool {
    Command::new("make").arg("--version").output().is_ok()
}

#[test]
fn install_before_make_stops_with_one_line_and_installs_nothing() {
    if !have_make() {
        return common::skip("make not found (apt-get install make)");
    }
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("target");
    let destdir = tmp.path().join("root");
    let out = make_install(&target, &destdir);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{}", common::show(&out));
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected:\n{err}");
    assert!(
        lines[0].contains(&format!("{}/release/keygate is missing", target.display()))
            && lines[0].contains("run `make` first"),
        "{err}"
    );
    assert!(!destdir.exists(), "something was installed before stopping");
    assert!(!target.exists(), "make install built something");
}

#[test]
fn install_after_make_puts_the_built_files_in_place() {
    if !have_make() {
        return common::skip("make not found (apt-get install make)");
    }
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("target");
    let destdir = tmp.path().join("root");
    // Stand-ins for what `make` builds: the install step only copies them.
    let files = [
        "release/keygate",
        "docs/man/keygate.8",
        "docs/man/keygate-gate.8",
        "docs/completions/keygate.bash",
        "docs/completions/_keygate",
        "docs/completions/keygate.fish",
    ];
    for f in files {
        let p = target.join(f);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, format!("stand-in for {f}\n")).unwrap();
    }
    let out = make_install(&target, &destdir);
    assert!(out.status.success(), "{}", common::show(&out));
    let bin = destdir.join("usr/sbin/keygate");
    assert_eq!(
        fs::read_to_string(&bin).unwrap(),
        "stand-in for release/keygate\n"
    );
    assert_eq!(
        fs::metadata(&bin).unwrap().permissions().mode() & 0o7777,
        0o755
    );
    for installed in [
        "usr/share/man/man8/keygate.8",
        "usr/share/man/man8/keygate-gate.8",
        "usr/share/bash-completion/completions/keygate",
        "usr/share/zsh/site-functions/_keygate",
        "usr/share/fish/vendor_completions.d/keygate.fish",
        "lib/systemd/system/keygate.service",
        "lib/svc/manifest/system/filesystem/keygate.xml",
        "etc/init.d/keygate",
        "etc/conf.d/keygate",
    ] {
        assert!(
            destdir.join(installed).is_file(),
            "{installed} not installed"
        );
    }
    // Root on ZFS: the initramfs files of both generators, runnable where
    // they are run, naming the installed binary.
    for (installed, mode, shipped) in [
        (
            "usr/share/initramfs-tools/hooks/keygate",
            0o755,
            "initramfs/initramfs-tools/hook",
        ),
        (
            "etc/zfs/initramfs-tools-load-key.d/keygate",
            0o644,
            "initramfs/initramfs-tools/load-key",
        ),
        (
            "usr/lib/dracut/modules.d/91keygate/module-setup.sh",
            0o755,
            "initramfs/dracut/91keygate/module-setup.sh",
        ),
        (
            "usr/lib/dracut/modules.d/91keygate/keygate-pre-mount.sh",
            0o755,
            "initramfs/dracut/91keygate/keygate-pre-mount.sh",
        ),
        (
            "usr/lib/dracut/modules.d/91keygate/keygate-initrd.service",
            0o644,
            "initramfs/dracut/91keygate/keygate-initrd.service",
        ),
    ] {
        let path = destdir.join(installed);
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{installed}: {e}"));
        let source =
            fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(shipped)).unwrap();
        assert_eq!(text, source, "{installed} differs from {shipped}");
        assert!(
            text.contains("/usr/sbin/keygate"),
            "{installed} names no binary"
        );
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o7777,
            mode,
            "mode of {installed}"
        );
    }
}

#[test]
fn initramfs_files_name_the_binary_installed_elsewhere() {
    if !have_make() {
        return common::skip("make not found (apt-get install make)");
    }
    let tmp = tempfile::tempdir().unwrap();
    let destdir = tmp.path().join("root");
    let mut cmd = Command::new("make");
    cmd.arg("-s")
        .arg("-C")
        .arg(env!("CARGO_MANIFEST_DIR"))
        .arg("install-initramfs-tools")
        .arg("install-dracut")
        .arg(format!("DESTDIR={}", destdir.display()))
        .arg("SBINDIR=/usr/local/sbin")
        .env_remove("MAKEFLAGS")
        .env_remove("MAKELEVEL")
        .env_remove("MFLAGS");
    let out = run_with_timeout(cmd, TIMEOUT);
    assert!(out.status.success(), "{}", common::show(&out));
    for installed in [
        "usr/share/initramfs-tools/hooks/keygate",
        "etc/zfs/initramfs-tools-load-key.d/keygate",
        "usr/lib/dracut/modules.d/91keygate/module-setup.sh",
        "usr/lib/dracut/modules.d/91keygate/keygate-pre-mount.sh",
        "usr/lib/dracut/modules.d/91keygate/keygate-initrd.service",
    ] {
        let text = fs::read_to_string(destdir.join(installed)).unwrap();
        assert!(
            text.contains("/usr/local/sbin/keygate") && !text.contains("/usr/sbin/keygate"),
            "{installed} does not name /usr/local/sbin/keygate"
        );
    }
}
