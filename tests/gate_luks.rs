//! `[[luks]]`: keygate opens the LUKS devices under a pool from the one
//! typed passphrase (key devices first), imports the pool and loads the ZFS
//! keys; bad input gives one line and the documented exit code. The
//! cryptsetup and zpool simulators stand in for the real programs.

mod common;
mod keyring_kit;
mod kit;
mod luks_kit;

use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{ChildGuard, Sim, SpawnGuarded, TIMEOUT, run_with_timeout};
use kit::{Pty, finish, keygate, stderr_of};
use luks_kit::Luks;

const PASS: &[u8] = b"hunter2hunter2";
const KEYFILE: &[u8] = b"0123456789abcdef-random-key-bytes";

/// Pool `nest` (not yet imported) on two LUKS devices, with the encryption
/// root nest/a under the same passphrase.
fn mirror() -> (Sim, Luks) {
    let (sim, luks) = luks_kit::nest(PASS);
    luks.device("/dev/vdb", &[PASS], b"");
    luks.device("/dev/vdc", &[PASS], b"");
    luks.pool("nest", &["crypt0", "crypt1"]);
    (sim, luks)
}

const SHARED: &str = "luks_pools = [\"nest\"]\n\
    [[luks]]\nname = \"crypt0\"\ndevice = \"/dev/vdb\"\n\
    [[luks]]\nname = \"crypt1\"\ndevice = \"/dev/vdc\"\ndiscard = true\n";

fn gate(sim: &Sim, luks: &Luks, config: &str, args: &[&str]) -> Command {
    let mut cmd = keygate(sim, args);
    luks.apply(&mut cmd, &luks.config(config));
    cmd
}

fn prompting(sim: &Sim, luks: &Luks, config: &str, pty: &Pty) -> ChildGuard {
    gate(
        sim,
        luks,
        config,
        &["gate", "--mode", "prompt", "--console", &pty.path],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .process_group(0)
    .spawn_guarded()
}

/// The prompting gate: once the pty shows `prompt`, the right passphrase
/// is typed; returns keygate's output.
fn typed(sim: &Sim, luks: &Luks, config: &str, prompt: &str) -> Output {
    let pty = Pty::new();
    let child = prompting(sim, luks, config, &pty);
    pty.expect(prompt);
    pty.type_bytes(b"hunter2hunter2\r");
    finish(child, TIMEOUT)
}

#[test]
fn one_typed_passphrase_opens_both_devices_imports_and_loads_the_key() {
    let (sim, luks) = mirror();
    let pty = Pty::new();
    let child = prompting(&sim, &luks, SHARED, &pty);
    pty.expect("Enter passphrase for luks:crypt0, luks:crypt1");
    assert!(
        luks.active().is_empty(),
        "nothing opened before the passphrase"
    );
    pty.type_bytes(b"hunter2hunter2\r");
    let out = finish(child, TIMEOUT);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert_eq!(luks.active(), ["crypt0", "crypt1"]);
    assert_eq!(luks.imported(), ["nest"]);
    assert_eq!(sim.keystatus("nest/a"), "available");
    assert!(err.contains("imported pool nest"), "{err}");
    assert!(
        err.contains(
            "unlocked luks:crypt0, luks:crypt1, nest/a with the passphrase from /dev/pts/"
        ),
        "{err}"
    );
    // One prompt only; the passphrase went on stdin, never in argv.
    assert_eq!(
        pty.output().matches("Enter passphrase").count(),
        1,
        "{}",
        pty.output()
    );
    let calls = luks.calls();
    assert!(calls.iter().all(|c| !c.contains("hunter2")), "{calls:?}");
    let opens: Vec<&String> = calls.iter().filter(|c| c.contains(" open ")).collect();
    assert_eq!(opens.len(), 2, "{calls:?}");
    assert!(
        opens.iter().any(|c| c.ends_with(&format!(
            "open --type luks --key-file=- --allow-discards {} crypt1",
            luks.path("/dev/vdc").display()
        ))),
        "{calls:?}"
    );
    let import = calls
        .iter()
        .position(|c| c == "zpool import -N nest")
        .expect("an import");
    assert!(calls.iter().rposition(|c| c.contains(" open ")).unwrap() < import);
}

#[test]
fn without_pool_names_the_scan_finds_the_pool() {
    let (sim, luks) = mirror();
    let config = SHARED.replace("luks_pools = [\"nest\"]\n", "");
    let out = typed(&sim, &luks, &config, "Enter passphrase for ");
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert_eq!(luks.imported(), ["nest"]);
    assert!(luks.calls().contains(&"zpool import".to_string()));
}

#[test]
fn a_wrong_passphrase_names_the_devices_and_opens_nothing() {
    let (sim, luks) = mirror();
    let pty = Pty::new();
    let child = prompting(&sim, &luks, SHARED, &pty);
    pty.expect("Enter passphrase for ");
    pty.type_bytes(b"not-the-passphrase\r");
    pty.expect("keygate: wrong passphrase for luks:crypt0, luks:crypt1, nest/a.");
    assert!(luks.active().is_empty());
    assert!(luks.imported().is_empty());
    pty.expect_n("Enter passphrase for ", 2, TIMEOUT);
    pty.type_bytes(b"hunter2hunter2\r");
    let out = finish(child, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert_eq!(luks.active(), ["crypt0", "crypt1"]);
    assert_eq!(sim.keystatus("nest/a"), "available");
}

const KEYFILE_LAYOUT: &str = "luks_pools = [\"nest\"]\n\
    [[luks]]\nname = \"keyfile\"\ndevice = \"/dev/md1\"\n\
    [[luks]]\nname = \"crypt0\"\ndevice = \"/dev/vdb\"\nkey = \"/dev/mapper/keyfile\"\n\
    [[luks]]\nname = \"crypt1\"\ndevice = \"/dev/vdc\"\nkey = \"/dev/mapper/keyfile\"\n";

fn keyfile_layout() -> (Sim, Luks) {
    let (sim, luks) = luks_kit::nest(PASS);
    luks.device("/dev/md1", &[PASS], KEYFILE);
    luks.device("/dev/vdb", &[KEYFILE], b"");
    luks.device("/dev/vdc", &[KEYFILE], b"");
    luks.pool("nest", &["crypt0", "crypt1"]);
    (sim, luks)
}

#[test]
fn a_key_device_opens_the_others_and_is_closed_after() {
    let (sim, luks) = keyfile_layout();
    // Only the key device takes the passphrase (the simulated pool shows
    // its root before the import).
    let out = typed(
        &sim,
        &luks,
        KEYFILE_LAYOUT,
        "Enter passphrase for luks:keyfile, nest (1 LUKS device and 1 encryption root): ",
    );
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert_eq!(
        luks.active(),
        ["crypt0", "crypt1"],
        "the key device is closed"
    );
    assert_eq!(luks.imported(), ["nest"]);
    assert_eq!(sim.keystatus("nest/a"), "available");
    assert!(
        err.contains("opened luks:crypt0 with its key /dev/mapper/keyfile"),
        "{err}"
    );
    assert!(err.contains("closed key device luks:keyfile"), "{err}");
    let calls = luks.calls();
    let first = calls.iter().position(|c| c.contains(" open ")).unwrap();
    assert!(
        calls[first].ends_with(" keyfile"),
        "key device first: {calls:?}"
    );
}

#[test]
fn a_key_device_that_does_not_close_is_reported_and_the_boot_goes_on() {
    let (sim, luks) = keyfile_layout();
    luks.config_line("busy keyfile");
    let out = typed(&sim, &luks, KEYFILE_LAYOUT, "Enter passphrase for ");
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert!(
        err.contains("keygate: warning: cannot close key device luks:keyfile: '")
            && err.contains(" close keyfile' failed: Device keyfile is still in use."),
        "{err}"
    );
    assert_eq!(luks.active(), ["crypt0", "crypt1", "keyfile"]);
    assert_eq!(sim.keystatus("nest/a"), "available");
}

#[test]
fn close_after_boot_false_keeps_the_key_device_open() {
    let (sim, luks) = keyfile_layout();
    let config = KEYFILE_LAYOUT.replace(
        "device = \"/dev/md1\"\n",
        "device = \"/dev/md1\"\nclose_after_boot = false\n",
    );
    let out = typed(&sim, &luks, &config, "Enter passphrase for ");
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert_eq!(luks.active(), ["crypt0", "crypt1", "keyfile"]);
}

#[test]
fn devices_open_before_are_left_alone_and_never_closed() {
    let (sim, luks) = keyfile_layout();
    // Someone opened the key device and one pool device already.
    luks.open_before("/dev/md1", "keyfile");
    luks.open_before("/dev/vdb", "crypt0");
    let out = run_with_timeout(
        gate(
            &sim,
            &luks,
            KEYFILE_LAYOUT,
            &["gate", "--mode", "wait", "--timeout", "3s"],
        ),
        TIMEOUT,
    );
    let err = stderr_of(&out);
    // crypt1 opened from the key device; the key device stays open.
    assert_eq!(luks.active(), ["crypt0", "crypt1", "keyfile"], "{err}");
    assert_eq!(luks.imported(), ["nest"]);
    let calls = luks.calls();
    assert!(!calls.iter().any(|c| c.contains("close")), "{calls:?}");
    assert!(
        !calls
            .iter()
            .any(|c| c.ends_with(" crypt0") && c.contains(" open ")),
        "{calls:?}"
    );
    // nest/a still needs its passphrase: wait mode gives up.
    assert_eq!(out.status.code(), Some(1), "{}", common::show(&out));
}

#[test]
fn the_cached_passphrase_opens_the_devices_with_nobody_typing() {
    let (sim, luks) = mirror();
    assert!(
        keyring_kit::available(),
        "the kernel keyring does not work here"
    );
    let key = keyring_kit::TestKey::new();
    key.add(b"something-else\0hunter2hunter2", Duration::from_secs(150));
    let mut cmd = gate(
        &sim,
        &luks,
        SHARED,
        &["gate", "--mode", "wait", "--timeout", "5s"],
    );
    key.apply(&mut cmd);
    let out = run_with_timeout(cmd, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert_eq!(luks.active(), ["crypt0", "crypt1"]);
    assert_eq!(sim.keystatus("nest/a"), "available");
}

/// Bad input: one line naming what is wrong, the exit code, and nothing
/// closed that keygate did not open.
fn refused(sim: &Sim, luks: &Luks, config: &str, extra: &[&str]) -> (Option<i32>, String) {
    let mut args = vec!["gate", "--mode", "wait", "--timeout", "5s"];
    args.extend_from_slice(extra);
    let out = run_with_timeout(gate(sim, luks, config, &args), TIMEOUT);
    let err = stderr_of(&out);
    assert!(
        !luks.calls().iter().any(|c| c.contains(" close ")),
        "{:?}",
        luks.calls()
    );
    (out.status.code(), err)
}

#[test]
fn a_missing_device_is_named() {
    let (sim, luks) = mirror();
    let config = SHARED.replace("/dev/vdc", "/dev/vdx");
    let (code, err) = refused(&sim, &luks, &config, &[]);
    assert_eq!(code, Some(2));
    assert_eq!(
        err,
        "keygate: error: LUKS device crypt1: /dev/vdx does not exist\n"
    );
}

#[test]
fn a_device_that_is_not_luks_is_named() {
    let (sim, luks) = mirror();
    luks.plain("/dev/sdz");
    let config = SHARED.replace("/dev/vdc", "/dev/sdz");
    let (code, err) = refused(&sim, &luks, &config, &[]);
    assert_eq!(code, Some(2));
    assert_eq!(
        err,
        "keygate: error: LUKS device crypt1: /dev/sdz is not a LUKS device\n"
    );
}

#[test]
fn a_missing_key_device_is_named() {
    let (sim, luks) = mirror();
    let config = SHARED.replace(
        "device = \"/dev/vdc\"\n",
        "device = \"/dev/vdc\"\nkey = \"/dev/mapper/nothere\"\n",
    );
    let (code, err) = refused(&sim, &luks, &config, &[]);
    assert_eq!(code, Some(2));
    assert_eq!(
        err,
        "keygate: error: LUKS device crypt1: its key /dev/mapper/nothere does not exist\n"
    );
}

#[test]
fn a_mapper_name_taken_by_another_device_is_refused_and_left_open() {
    let (sim, luks) = mirror();
    luks.device("/dev/vdz", &[PASS], b"");
    luks.open_before("/dev/vdz", "crypt1");
    let (code, err) = refused(&sim, &luks, SHARED, &[]);
    assert_eq!(code, Some(2));
    let other = luks.path("/dev/vdz").canonicalize().unwrap();
    assert_eq!(
        err,
        format!(
            "keygate: error: LUKS device crypt1: /dev/mapper/crypt1 is already in use by {}\n",
            other.display()
        )
    );
    assert_eq!(luks.active(), ["crypt1"]);
}

#[test]
fn cryptsetup_missing_is_a_configuration_error() {
    let (sim, luks) = mirror();
    let mut cmd = keygate(&sim, &["gate", "--mode", "wait", "--timeout", "5s"]);
    luks.apply(&mut cmd, &luks.config(SHARED));
    let config = luks.dir.join("keygate.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text.replace(
        &luks_kit::cryptsetup_sim_bin().display().to_string(),
        "/nonexistent/cryptsetup",
    );
    std::fs::write(&config, text).unwrap();
    let out = run_with_timeout(cmd, TIMEOUT);
    assert_eq!(out.status.code(), Some(2), "{}", common::show(&out));
    assert_eq!(
        stderr_of(&out),
        "keygate: error: LUKS device crypt0: the cryptsetup program '/nonexistent/cryptsetup' was not found (set cryptsetup = \"PATH\" in the configuration)\n"
    );
}

#[test]
fn a_hanging_cryptsetup_is_killed_at_the_bound() {
    let (sim, luks) = mirror();
    luks.config_line("hang status");
    let started = std::time::Instant::now();
    let (code, err) = refused(&sim, &luks, SHARED, &["--zfs-timeout", "1s"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(
        err.starts_with("keygate: error: LUKS device crypt0: '"),
        "{err}"
    );
    assert!(
        err.ends_with(" status crypt0' timed out after 1s and was killed\n"),
        "{err}"
    );
}

#[test]
fn a_pool_that_does_not_import_ends_the_gate() {
    let (sim, luks) = mirror();
    let config = SHARED.replace("luks_pools = [\"nest\"]", "luks_pools = [\"tank\"]");
    let out = typed(&sim, &luks, &config, "Enter passphrase for ");
    assert_eq!(out.status.code(), Some(1), "{}", common::show(&out));
    assert!(
        stderr_of(&out).contains("keygate: error: cannot import pool tank: 'zpool-sim import -N tank' failed: cannot import 'tank': no such pool available\n")
            || stderr_of(&out).contains("cannot import pool tank: '"),
        "{}",
        stderr_of(&out)
    );
    assert!(stderr_of(&out).contains("no such pool available"));
}
