//! dracut's shell initramfs (no systemd): the pre-mount hook
//! `initramfs/dracut/91keygate/keygate-pre-mount.sh` sourced by `/bin/sh`
//! as dracut's init sources it, with stand-ins for the functions dracut and
//! zfs's `zfs-lib.sh` give it (decode_root_args sets `root` as zfs's does:
//! `zfs:AUTO`, or the dataset of `root=zfs:pool/ds`), a recording `zpool`
//! on PATH, the zfs simulator, and a real pty as the kernel's console.

mod common;
mod keyring_kit;
mod kit;

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{Sim, SpawnGuarded, TIMEOUT, keygate_bin};
use keyring_kit::TestKey;
use kit::{Pty, finish, host_root};

const PASS: &[u8] = b"correct horse battery";

/// A `zpool` that knows one pool, `rpool` (bootfs rpool/ROOT/debian),
/// imported once `zpool import` is run; every call is logged.
const ZPOOL: &str = r#"#!/bin/sh
dir=$(dirname "$0")
echo "$*" >> "$dir/zpool.log"
case "$*" in
"get -Ho value bootfs") [ -e "$dir/imported" ] && echo rpool/ROOT/debian; exit 0 ;;
"get -Ho value name rpool") [ -e "$dir/imported" ] && echo rpool && exit 0; exit 1 ;;
"import -N -a" | "import -N rpool") touch "$dir/imported"; exit 0 ;;
esac
echo "zpool stand-in: unexpected: $*" >&2
exit 2
"#;

/// What dracut's init and zfs's library give a hook, as stand-ins.
const STANDINS: &str = r#"
decode_root_args() { root=$TEST_ROOT; rootfstype=zfs; }
warn() { echo "warn: $*"; }
info() { :; }
emergency_shell() { echo "emergency_shell: $*"; }
modprobe() { :; }
udevadm() { :; }
"#;

fn rpool() -> (Sim, PathBuf) {
    assert!(
        keyring_kit::available(),
        "the kernel keyring does not work here"
    );
    let sim = Sim::new();
    sim.pool("rpool");
    sim.encrypted_root("rpool/ROOT", PASS);
    sim.child("rpool/ROOT/debian");
    sim.encrypted_root("rpool/data", PASS);
    let bin = sim.root().join("dracut-bin");
    fs::create_dir_all(&bin).unwrap();
    fs::write(bin.join("zpool"), ZPOOL).unwrap();
    fs::set_permissions(
        bin.join("zpool"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    (sim, bin)
}

fn hook(sim: &Sim) -> PathBuf {
    let shipped = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("initramfs/dracut/91keygate/keygate-pre-mount.sh"),
    )
    .unwrap();
    let path = sim.root().join("95-keygate-pre-mount.sh");
    fs::write(
        &path,
        shipped.replace("/usr/sbin/keygate", keygate_bin().to_str().unwrap()),
    )
    .unwrap();
    path
}

/// Boot with `root` as decode_root_args leaves it; type the passphrase
/// once at the console; return what the hook printed and zpool's calls.
fn boot(root: &str) -> (Sim, String, String) {
    let (sim, bin) = rpool();
    let handover = TestKey::new();
    let pty = Pty::new();
    let host = host_root(&sim);
    fs::create_dir_all(host.join("sys/class/tty/console")).unwrap();
    fs::create_dir_all(host.join("dev")).unwrap();
    fs::write(host.join("sys/class/tty/console/active"), "ttyS0\n").unwrap();
    std::os::unix::fs::symlink(&pty.path, host.join("dev/ttyS0")).unwrap();
    let script = format!("{STANDINS}\n. \"$1\"\necho \"hook returned $?\"\n");
    let mut path = bin.clone().into_os_string();
    path.push(":");
    // Then the simulator's directory, as sim.envs() has it.
    let sim_path = sim.envs().into_iter().find(|(k, _)| k == "PATH").unwrap().1;
    path.push(sim_path);
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(script)
        .arg("sh")
        .arg(hook(&sim))
        .envs(sim.envs())
        .env("PATH", path)
        .env("TEST_ROOT", root)
        .env("KEYGATE_ROOT", &host)
        .env("KEYGATE_KEYRING_KEY", "keygate-test-no-such-key")
        .env_remove("NOTIFY_SOCKET")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    handover.apply_handover(&mut cmd);
    let child = cmd.spawn_guarded();
    pty.expect("Enter passphrase for rpool/ROOT: ");
    pty.type_bytes(PASS);
    pty.type_bytes(b"\r");
    let out = finish(child, TIMEOUT);
    assert!(out.status.success(), "{}", common::show(&out));
    assert_eq!(pty.output().matches("Enter passphrase").count(), 1);
    assert!(pty.echo_on());
    let log = fs::read_to_string(bin.join("zpool.log")).unwrap_or_default();
    (sim, String::from_utf8_lossy(&out.stdout).into_owned(), log)
}

#[test]
fn root_zfs_auto_imports_every_pool_and_unlocks_the_bootfs_pool() {
    let (sim, stdout, zpool) = boot("zfs:AUTO");
    assert_eq!(stdout, "hook returned 0\n");
    assert_eq!(
        zpool,
        "get -Ho value bootfs\nimport -N -a\nget -Ho value bootfs\nget -Ho value name rpool\n"
    );
    assert_eq!(sim.keystatus("rpool/ROOT"), "available");
    assert_eq!(sim.keystatus("rpool/data"), "available");
}

#[test]
fn root_zfs_dataset_imports_its_pool_only() {
    let (sim, stdout, zpool) = boot("rpool/ROOT/debian");
    assert_eq!(stdout, "hook returned 0\n");
    assert_eq!(zpool, "get -Ho value name rpool\nimport -N rpool\n");
    assert_eq!(sim.keystatus("rpool/ROOT"), "available");
}
