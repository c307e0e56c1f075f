//! The initramfs-tools drop-in (`initramfs/initramfs-tools/load-key`, which
//! zfs's initramfs script sources before it asks for a root's key), run for
//! real by `/bin/sh` against the zfs simulator, with real ptys as the
//! kernel's consoles, and the hand-over of the passphrase to the real root's
//! gate through the real kernel keyring (a key name of each test's own).

mod common;
mod keyring_kit;
mod kit;

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Sim, SpawnGuarded, TIMEOUT, keygate_bin, run_with_timeout};
use keyring_kit::TestKey;
use kit::{Pty, finish, host_root, keygate, stderr_of};

const PASS: &[u8] = b"correct horse battery";

/// A root pool as a root-on-ZFS install makes it: the root under an
/// encrypted `rpool/ROOT`, and a data root with the same passphrase.
fn rpool() -> Sim {
    assert!(
        keyring_kit::available(),
        "the kernel keyring does not work here (these tests need root)"
    );
    let sim = Sim::new();
    sim.pool("rpool");
    sim.encrypted_root("rpool/ROOT", PASS);
    sim.child("rpool/ROOT/debian");
    sim.encrypted_root("rpool/data", PASS);
    sim
}

/// The shipped drop-in as `make install` writes it, naming the binary
/// under test instead of /usr/sbin/keygate.
fn installed_dropin(sim: &Sim) -> PathBuf {
    let shipped = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("initramfs/initramfs-tools/load-key"),
    )
    .unwrap();
    assert!(shipped.contains("/usr/sbin/keygate"));
    let path = sim.root().join("initramfs-tools-load-key.d-keygate");
    fs::write(
        &path,
        shipped.replace("/usr/sbin/keygate", keygate_bin().to_str().unwrap()),
    )
    .unwrap();
    path
}

/// `pty` as the kernel's only console (`/sys/class/tty/console/active`
/// under the test's host root).
fn kernel_console(sim: &Sim, pty: &Pty) {
    let root = host_root(sim);
    fs::create_dir_all(root.join("sys/class/tty/console")).unwrap();
    fs::create_dir_all(root.join("dev")).unwrap();
    fs::write(root.join("sys/class/tty/console/active"), "ttyS0\n").unwrap();
    std::os::unix::fs::symlink(&pty.path, root.join("dev/ttyS0")).unwrap();
}

/// What zfs's initramfs script does for each dataset it mounts (its
/// `decrypt_fs`), in a few lines: a root whose key is not loaded gets the
/// drop-ins, sourced in a subshell with $ENCRYPTIONROOT, $KEYLOCATION and
/// $ZFS set; afterwards the key status is read again.
const CALLER: &str = r#"
dropin=$1; shift
for fs in "$@"; do
	ENCRYPTIONROOT=$("$ZFS" get -H -o value encryptionroot "$fs")
	KEYLOCATION=$("$ZFS" get -H -o value keylocation "$ENCRYPTIONROOT")
	KEYSTATUS=$("$ZFS" get -H -o value keystatus "$ENCRYPTIONROOT")
	[ "$KEYSTATUS" = unavailable ] || { echo "caller: $fs: key available"; continue; }
	(. "$dropin")
	echo "caller: drop-in for $ENCRYPTIONROOT returned $?, key $("$ZFS" get -H -o value keystatus "$ENCRYPTIONROOT")"
done
"#;

/// `/bin/sh` running [`CALLER`] (or `script`) with the environment the
/// initramfs gives: no service manager, $ZFS the simulator; host paths
/// under the test's root and the hand-over in `handover`.
fn initramfs_sh(sim: &Sim, handover: &TestKey, script: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(script)
        .arg("sh")
        .args(args)
        .envs(sim.envs())
        .env("ZFS", sim.zfs_path())
        .env("KEYGATE_ROOT", host_root(sim))
        .env("KEYGATE_KEYRING_KEY", "keygate-test-no-such-key")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    for var in ["NOTIFY_SOCKET", "SMF_FMRI", "RC_SVCNAME"] {
        cmd.env_remove(var);
    }
    handover.apply_handover(&mut cmd);
    cmd
}

fn load_key_calls(sim: &Sim) -> Vec<Vec<String>> {
    sim.calls()
        .into_iter()
        .filter(|c| c.first().is_some_and(|a| a == "load-key"))
        .collect()
}

#[test]
fn one_prompt_opens_both_roots_of_the_pool_and_the_later_root_asks_nothing() {
    let sim = rpool();
    let handover = TestKey::new();
    let pty = Pty::new();
    kernel_console(&sim, &pty);
    let dropin = installed_dropin(&sim);
    let boot = initramfs_sh(
        &sim,
        &handover,
        CALLER,
        &[dropin.to_str().unwrap(), "rpool/ROOT/debian", "rpool/data"],
    )
    .spawn_guarded();
    pty.expect("Enter passphrase for rpool/ROOT: ");
    pty.type_bytes(PASS);
    pty.type_bytes(b"\r");
    let out = finish(boot, TIMEOUT);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", common::show(&out));
    assert_eq!(sim.keystatus("rpool/ROOT"), "available");
    assert_eq!(sim.keystatus("rpool/data"), "available");
    assert!(
        stdout.contains("caller: drop-in for rpool/ROOT returned 0, key available"),
        "{stdout}"
    );
    // The data root was opened with the same passphrase, so zfs's script
    // finds its key loaded and never runs the drop-in for it.
    assert!(
        stdout.contains("caller: rpool/data: key available"),
        "{stdout}"
    );
    assert_eq!(
        pty.output().matches("Enter passphrase").count(),
        1,
        "{}",
        pty.output()
    );
    assert!(
        stderr_of(&out).contains("loaded the key of rpool/data with the same passphrase"),
        "{}",
        stderr_of(&out)
    );
    assert!(pty.echo_on(), "the console was left without echo");
    // Kept for the real root's gate, in the kernel keyring, with a timeout.
    assert_eq!(handover.payload().as_deref(), Some(PASS));
    let left = handover
        .seconds_left()
        .expect("the hand-over key has a timeout");
    // /proc/keys shows whole minutes above 60 s: 299 s left reads "4m".
    assert!((240..=300).contains(&left), "{left} s left");
    assert!(!kit::contains_bytes(&out.stderr, PASS) && !kit::contains_bytes(&out.stdout, PASS));
}

#[test]
fn a_call_for_a_root_already_open_does_nothing() {
    let sim = rpool();
    sim.load("rpool/data");
    let handover = TestKey::new();
    let dropin = installed_dropin(&sim);
    let calls_before = sim.calls().len();
    let out = run_with_timeout(
        initramfs_sh(
            &sim,
            &handover,
            "ENCRYPTIONROOT=rpool/data KEYLOCATION=prompt; . \"$1\"; echo \"returned $?\"",
            &[dropin.to_str().unwrap()],
        ),
        TIMEOUT,
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "returned 0\n");
    assert_eq!(stderr_of(&out), "", "keygate ran");
    // One `zfs get keystatus`, and no key was loaded or asked for.
    let calls = &sim.calls()[calls_before..];
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0][0], "get");
    assert_eq!(sim.keystatus("rpool/ROOT"), "unavailable");
    assert!(handover.payload().is_none());
}

#[test]
fn a_wrong_passphrase_is_asked_again_naming_the_root() {
    let sim = rpool();
    let handover = TestKey::new();
    let pty = Pty::new();
    kernel_console(&sim, &pty);
    let dropin = installed_dropin(&sim);
    let boot = initramfs_sh(
        &sim,
        &handover,
        CALLER,
        &[dropin.to_str().unwrap(), "rpool/ROOT/debian"],
    )
    .spawn_guarded();
    pty.expect("Enter passphrase for rpool/ROOT: ");
    pty.type_bytes(b"not the passphrase\r");
    pty.expect("wrong passphrase for rpool/ROOT");
    pty.expect_n(
        "Enter passphrase for rpool/ROOT: ",
        2,
        Duration::from_secs(20),
    );
    assert!(!pty.echo_on(), "echo came back between the prompts");
    pty.type_bytes(PASS);
    pty.type_bytes(b"\r");
    let out = finish(boot, TIMEOUT);
    assert!(out.status.success(), "{}", common::show(&out));
    assert_eq!(sim.keystatus("rpool/ROOT"), "available");
    assert!(pty.echo_on(), "the console was left without echo");
    // Only what opened something is handed over.
    assert_eq!(handover.payload().as_deref(), Some(PASS));
    assert!(!pty.output().contains("not the passphrase"));
}

#[test]
fn a_gate_that_fails_leaves_the_person_in_the_emergency_shell_with_the_way_on() {
    let sim = rpool();
    let handover = TestKey::new();
    let dropin = installed_dropin(&sim);
    // keygate exits 1 when it cannot read the pool: here its batched
    // `zfs get -H -p` fails, while the caller's and the drop-in's own
    // `zfs get -H -o value` work.
    let zfs = sim.root().join("zfs-failing-batched-get");
    fs::write(
        &zfs,
        format!(
            "#!/bin/sh\ncase \" $* \" in *\" -p \"*) echo \"cannot open 'rpool': I/O error\" >&2; exit 1 ;; esac\nexec {} \"$@\"\n",
            sim.zfs_path().display()
        ),
    )
    .unwrap();
    fs::set_permissions(&zfs, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    // Debian's panic(): a shell; leaving it goes on with the boot.
    let script = format!("panic() {{ echo \"panic: $*\"; }}\n{CALLER}");
    let mut cmd = initramfs_sh(
        &sim,
        &handover,
        &script,
        &[dropin.to_str().unwrap(), "rpool/ROOT"],
    );
    cmd.env("ZFS", &zfs);
    let out = run_with_timeout(cmd, TIMEOUT);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("panic: keygate: the key of rpool/ROOT is not loaded. Load it with 'zfs load-key rpool/ROOT' (or 'keygate unlock'), then type 'exit' to continue the boot."),
        "{}",
        common::show(&out)
    );
    assert!(load_key_calls(&sim).is_empty());
}

/// The real root's gate: the handed-over passphrase opens the data root
/// before anyone is asked, and the key is removed once the gate is done;
/// systemd-cryptsetup's key is read but never removed.
#[test]
fn the_real_roots_gate_uses_the_handed_over_passphrase_and_removes_it() {
    let sim = rpool();
    sim.load("rpool/ROOT");
    let handover = TestKey::new();
    handover.add(PASS, Duration::from_secs(300));
    let cryptsetup = TestKey::new();
    cryptsetup.add(b"a LUKS passphrase", Duration::from_secs(150));
    let pty = Pty::new();
    let mut cmd = keygate(&sim, &["gate", "--mode", "prompt", "--console", &pty.path]);
    cryptsetup.apply(&mut cmd);
    handover.apply_handover(&mut cmd);
    let out = run_with_timeout(cmd, TIMEOUT);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert_eq!(sim.keystatus("rpool/data"), "available");
    assert!(
        err.contains("trying the passphrase handed over by the initramfs"),
        "{err}"
    );
    assert!(
        err.contains("removed the passphrase the initramfs handed over"),
        "{err}"
    );
    assert!(
        !pty.output().contains("Enter passphrase"),
        "{}",
        pty.output()
    );
    assert!(
        handover.payload().is_none(),
        "the hand-over key is still there"
    );
    assert_eq!(
        cryptsetup.payload().as_deref(),
        Some(&b"a LUKS passphrase"[..])
    );
}

#[test]
fn the_real_roots_gate_removes_the_hand_over_even_with_nothing_locked() {
    let sim = rpool();
    sim.load("rpool/ROOT");
    sim.load("rpool/data");
    let handover = TestKey::new();
    handover.add(PASS, Duration::from_secs(300));
    let mut cmd = keygate(&sim, &["gate", "--mode", "wait"]);
    handover.apply_handover(&mut cmd);
    let out = run_with_timeout(cmd, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert!(
        handover.payload().is_none(),
        "the hand-over key is still there"
    );
}

#[test]
fn the_initramfs_gate_keeps_the_hand_over_for_the_real_root() {
    let sim = rpool();
    sim.load("rpool/ROOT");
    let handover = TestKey::new();
    handover.add(PASS, Duration::from_secs(300));
    let mut cmd = keygate(
        &sim,
        &[
            "--service-manager",
            "none",
            "gate",
            "--initramfs",
            "rpool/ROOT",
        ],
    );
    handover.apply_handover(&mut cmd);
    let out = run_with_timeout(cmd, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    // The data root opened with it, and it stays for the real root.
    assert_eq!(sim.keystatus("rpool/data"), "available");
    assert_eq!(handover.payload().as_deref(), Some(PASS));
}

#[test]
fn the_initramfs_gate_prompts_on_the_kernel_console_and_the_lom_line_at_once() {
    let sim = rpool();
    let handover = TestKey::new();
    let console = Pty::new();
    let lom = Pty::new();
    kernel_console(&sim, &console);
    let mut cmd = keygate(
        &sim,
        &[
            "--service-manager",
            "none",
            "gate",
            "--initramfs",
            "--console",
            &lom.path,
            "rpool/ROOT",
        ],
    );
    handover.apply_handover(&mut cmd);
    let gate = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn_guarded();
    console.expect("Enter passphrase for rpool/ROOT: ");
    lom.expect("Enter passphrase for rpool/ROOT: ");
    lom.type_bytes(PASS);
    lom.type_bytes(b"\r");
    let out = finish(gate, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert_eq!(sim.keystatus("rpool/ROOT"), "available");
    assert!(console.echo_on() && lom.echo_on());
}

/// `keygate unlock` from a shell in the initramfs (as over
/// dropbear-initramfs) answers the gate the drop-in runs: the console
/// prompt goes away, the boot continues, and the passphrase is handed over.
#[test]
fn keygate_unlock_from_a_shell_in_the_initramfs_answers_the_drop_ins_gate() {
    let sim = rpool();
    let handover = TestKey::new();
    let console = Pty::new();
    kernel_console(&sim, &console);
    let dropin = installed_dropin(&sim);
    let boot = initramfs_sh(
        &sim,
        &handover,
        CALLER,
        &[dropin.to_str().unwrap(), "rpool/ROOT/debian", "rpool/data"],
    )
    .spawn_guarded();
    console.expect("Enter passphrase for rpool/ROOT: ");
    let ssh = Pty::new();
    let unlock = kit::on_terminal(keygate(&sim, &["unlock"]), &ssh).spawn_guarded();
    ssh.expect("Enter passphrase for rpool/ROOT: ");
    ssh.type_bytes(PASS);
    ssh.type_bytes(b"\n");
    let out = finish(unlock, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", ssh.output());
    assert!(
        ssh.output().contains("rpool/ROOT: unlocked"),
        "{}",
        ssh.output()
    );
    let out = finish(boot, TIMEOUT);
    assert!(out.status.success(), "{}", common::show(&out));
    assert_eq!(sim.keystatus("rpool/data"), "available");
    assert_eq!(console.output().matches("Enter passphrase").count(), 1);
    assert!(console.echo_on(), "the console was left without echo");
    assert_eq!(handover.payload().as_deref(), Some(PASS));
}

/// Under systemd's default `KeyringMode=private` the real root's gate does
/// not possess the hand-over key at first; it still reads and removes it.
#[test]
fn the_real_roots_gate_in_a_private_session_keyring_still_takes_the_hand_over() {
    let sim = rpool();
    sim.load("rpool/ROOT");
    let handover = TestKey::new();
    handover.add(PASS, Duration::from_secs(300));
    let mut cmd = keygate(&sim, &["gate", "--mode", "wait", "--timeout", "5s"]);
    handover.apply_handover(&mut cmd);
    keyring_kit::private_session(&mut cmd);
    let out = run_with_timeout(cmd, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert_eq!(sim.keystatus("rpool/data"), "available");
    assert!(
        handover.payload().is_none(),
        "the hand-over key is still there"
    );
}
