//! systemd-cryptsetup's passphrase cache in the real kernel keyring: keygate
//! tries every cached entry before asking anyone, and shares a typed
//! passphrase back as `--share-passphrase` says. Each test uses a key name
//! of its own in root's user keyring and removes it at the end.

mod common;
mod keyring_kit;
mod kit;

use std::fs;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{ChildGuard, Sim, SpawnGuarded, TIMEOUT, run_with_timeout};
use keyring_kit::{TestKey, private_session};
use kit::{Pty, finish, keygate, stderr_of};

const PASS: &[u8] = b"hunter2hunter2";

fn nest() -> Sim {
    assert!(
        keyring_kit::available(),
        "the kernel keyring does not work here (these tests need root)"
    );
    let sim = Sim::new();
    sim.pool("nest");
    sim.encrypted_root("nest/a", PASS);
    sim.child("nest/a/b");
    sim
}

/// `keygate ARGS` reading and sharing the cache under `key`'s name.
fn keygate_with(sim: &Sim, key: &TestKey, args: &[&str]) -> Command {
    let mut cmd = keygate(sim, args);
    key.apply(&mut cmd);
    cmd
}

/// A gate that only waits: it exits 0 only if the cache opened everything.
fn waiting_gate(sim: &Sim, key: &TestKey) -> Command {
    keygate_with(
        sim,
        key,
        &[
            "gate",
            "--mode",
            "wait",
            "--timeout",
            "2s",
            "--poll-interval",
            "1h",
        ],
    )
}

/// A gate prompting on `pty` (with `extra` arguments), started.
fn prompting(sim: &Sim, key: &TestKey, pty: &Pty, extra: &[&str]) -> ChildGuard {
    let mut args = vec!["gate", "--mode", "prompt", "--console", &pty.path];
    args.extend_from_slice(extra);
    keygate_with(sim, key, &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn_guarded()
}

#[test]
fn a_wrong_then_the_right_cached_passphrase_opens_with_nobody_typing() {
    let sim = nest();
    let key = TestKey::new();
    key.add(b"not-this-one\0hunter2hunter2", Duration::from_secs(150));
    let pty = Pty::new();
    let out = run_with_timeout(
        keygate_with(
            &sim,
            &key,
            &["gate", "--mode", "prompt", "--console", &pty.path],
        ),
        TIMEOUT,
    );
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert_eq!(sim.keystatus("nest/a"), "available");
    assert!(
        err.contains("trying 2 passphrases systemd-cryptsetup cached in the kernel keyring"),
        "{err}"
    );
    assert!(
        err.contains(
            "wrong passphrase from systemd-cryptsetup's cache in the kernel keyring for nest/a"
        ),
        "{err}"
    );
    assert!(
        !err.contains("hunter2") && !err.contains("not-this-one"),
        "{err}"
    );
    assert!(
        !pty.output().contains("Enter passphrase"),
        "{}",
        pty.output()
    );
    // Reading never changes the cache.
    assert_eq!(key.payload().unwrap(), b"not-this-one\0hunter2hunter2");
}

#[test]
fn one_cached_entry_is_enough() {
    let sim = nest();
    let key = TestKey::new();
    key.add(PASS, Duration::from_secs(150));
    let out = run_with_timeout(waiting_gate(&sim, &key), TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert_eq!(sim.keystatus("nest/a"), "available");
    assert!(stderr_of(&out).contains("trying 1 passphrase systemd-cryptsetup cached"));
}

#[test]
fn the_cache_is_read_without_keyring_mode_shared() {
    // A private session keyring (systemd's default for services) does not
    // possess the key; keygate searches root's user keyring instead.
    let sim = nest();
    let key = TestKey::new();
    key.add(PASS, Duration::from_secs(150));
    let mut cmd = waiting_gate(&sim, &key);
    private_session(&mut cmd);
    let out = run_with_timeout(cmd, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert_eq!(sim.keystatus("nest/a"), "available");
}

#[test]
fn an_expired_or_missing_cache_is_quiet_and_changes_nothing() {
    let sim = nest();
    let expired = TestKey::new();
    expired.add(PASS, Duration::from_secs(1));
    std::thread::sleep(Duration::from_millis(1500));
    let missing = TestKey::new();
    for key in [&expired, &missing] {
        let out = run_with_timeout(waiting_gate(&sim, key), TIMEOUT);
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(1), "{}", common::show(&out));
        assert_eq!(sim.keystatus("nest/a"), "unavailable");
        assert!(!err.contains("cached"), "{err}");
        assert!(!err.contains("keyring"), "{err}");
    }
}

#[test]
fn a_cache_of_wrong_passphrases_leaves_the_prompt() {
    let sim = nest();
    let key = TestKey::new();
    key.add(b"wrong-one-1\0wrong-one-2", Duration::from_secs(150));
    let pty = Pty::new();
    let child = prompting(&sim, &key, &pty, &[]);
    pty.expect("Enter passphrase for nest/a: ");
    pty.type_bytes(b"hunter2hunter2\r");
    let out = finish(child, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert_eq!(sim.keystatus("nest/a"), "available");
}

/// A prompting gate where `typed` is typed once; returns its output.
fn typed_at_console(
    sim: &Sim,
    key: &TestKey,
    extra: &[&str],
    typed: &[u8],
) -> std::process::Output {
    let pty = Pty::new();
    let child = prompting(sim, key, &pty, extra);
    pty.expect("Enter passphrase for nest/a: ");
    pty.type_bytes(typed);
    pty.type_bytes(b"\r");
    finish(child, TIMEOUT)
}

fn ask_dir(sim: &Sim) -> std::path::PathBuf {
    let d = kit::host_root(sim).join("run/systemd/ask-password");
    fs::create_dir_all(&d).unwrap();
    d
}

/// A systemd-cryptsetup request waiting in the ask-password directory.
fn cryptsetup_asking(sim: &Sim) {
    fs::write(
        ask_dir(sim).join("ask.kgtest"),
        "[Ask]\nPID=1\nSocket=/nonexistent\nAcceptCached=1\nEcho=0\nNotAfter=0\nId=cryptsetup:/dev/vdb\nMessage=Please enter passphrase for disk crypt1:\n",
    )
    .unwrap();
}

#[test]
fn a_typed_passphrase_is_shared_always_with_systemds_timeout() {
    let sim = nest();
    let key = TestKey::new();
    let dir = ask_dir(&sim);
    let old = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    fs::File::open(&dir).unwrap().set_modified(old).unwrap();
    let out = typed_at_console(
        &sim,
        &key,
        &["--share-passphrase", "always", "--no-ask-password"],
        PASS,
    );
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert_eq!(key.payload().as_deref(), Some(PASS));
    let left = key.seconds_left().expect("the shared key has a timeout");
    assert!((120..=150).contains(&left), "{left} s left");
    assert_eq!(key.perm().as_deref(), Some("3f010000"));
    assert!(
        fs::metadata(&dir).unwrap().modified().unwrap() > old,
        "the directory was not touched"
    );
    assert!(
        stderr_of(&out).contains("shared the passphrase from /dev/pts/"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn pending_shares_only_while_systemd_cryptsetup_asks_and_merges() {
    let sim = nest();
    // Nobody asks: nothing is shared (the default is pending).
    let key = TestKey::new();
    let out = typed_at_console(&sim, &key, &["--no-ask-password"], PASS);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert_eq!(key.payload(), None);

    // systemd-cryptsetup asks, and has cached another passphrase already.
    sim.unload("nest/a");
    cryptsetup_asking(&sim);
    key.add(b"for-the-swap", Duration::from_secs(150));
    let out = typed_at_console(&sim, &key, &["--no-ask-password"], PASS);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert_eq!(key.payload().unwrap(), b"for-the-swap\0hunter2hunter2");
}

#[test]
fn never_shares_and_a_cached_passphrase_is_not_added_twice() {
    let sim = nest();
    cryptsetup_asking(&sim);
    let key = TestKey::new();
    let out = typed_at_console(
        &sim,
        &key,
        &["--share-passphrase", "never", "--no-ask-password"],
        PASS,
    );
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert_eq!(key.payload(), None);

    // Already in the list: left as it is.
    sim.unload("nest/a");
    key.add(b"one-other\0hunter2hunter2", Duration::from_secs(150));
    let out = run_with_timeout(
        keygate_with(
            &sim,
            &key,
            &[
                "gate",
                "--mode",
                "wait",
                "--timeout",
                "2s",
                "--share-passphrase",
                "always",
            ],
        ),
        TIMEOUT,
    );
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert_eq!(key.payload().unwrap(), b"one-other\0hunter2hunter2");
}

#[test]
fn a_wrong_typed_passphrase_is_never_shared() {
    let sim = nest();
    cryptsetup_asking(&sim);
    let key = TestKey::new();
    let pty = Pty::new();
    let child = prompting(
        &sim,
        &key,
        &pty,
        &["--share-passphrase", "always", "--no-ask-password"],
    );
    pty.expect("Enter passphrase for nest/a: ");
    pty.type_bytes(b"wrong-passphrase\r");
    pty.expect("wrong passphrase for nest/a");
    assert_eq!(key.payload(), None);
    pty.expect_n("Enter passphrase for nest/a: ", 2, TIMEOUT);
    pty.type_bytes(b"hunter2hunter2\r");
    let out = finish(child, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert_eq!(key.payload().as_deref(), Some(PASS));
}

#[test]
fn a_cached_entry_zfs_cannot_take_is_not_tried_on_the_roots() {
    // "hunter2hunter2\nx" would open nest/a if it reached zfs load-key,
    // which reads only the first line.
    let sim = nest();
    let key = TestKey::new();
    key.add(b"hunter2hunter2\nx", Duration::from_secs(150));
    let out = run_with_timeout(waiting_gate(&sim, &key), TIMEOUT);
    assert_eq!(out.status.code(), Some(1), "{}", common::show(&out));
    assert_eq!(sim.keystatus("nest/a"), "unavailable");
    assert_eq!(sim.count_calls("load-key"), 0);
}
