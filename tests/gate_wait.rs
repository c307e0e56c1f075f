//! `keygate gate --mode hint|wait`: the hint for each service manager, the
//! wait loop (polls, SIGUSR1, timeout policy, SIGTERM/SIGINT), and sd_notify
//! messages seen on a real datagram socket.

mod common;
mod kit;

use std::fs;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use common::{ChildGuard, Fault, Sim, TIMEOUT, run_with_timeout};
use kit::{NotifySocket, cpu_ticks, eventually, finish, keygate, signal, stderr_of};

const PASS: &[u8] = b"hunter2hunter2";

/// A file standing in for the console, so the test can read what it got.
fn console_file(dir: &tempfile::TempDir) -> String {
    let p = dir.path().join("console");
    fs::write(&p, "").unwrap();
    p.display().to_string()
}

#[test]
fn hint_under_smf_is_the_original_method_and_exits_95() {
    // The whole pool is one encryption root, as in the original nest setup.
    let sim = Sim::new();
    sim.encrypted_root("nest", b"hunter2hunter2");
    sim.child("nest/home");
    let dir = tempfile::tempdir().unwrap();
    let console = console_file(&dir);
    let mut cmd = keygate(
        &sim,
        &["gate", "--mode", "hint", "--console", &console, "nest"],
    );
    cmd.env("SMF_FMRI", "svc:/system/filesystem/nest:default");
    let out = run_with_timeout(cmd, TIMEOUT);
    assert_eq!(out.status.code(), Some(95), "{}", common::show(&out));
    let hint = "Run 'zfs load-key -r nest && svcadm clear svc:/system/filesystem/nest:default'";
    assert!(stderr_of(&out).contains(hint), "{}", stderr_of(&out));
    assert!(fs::read_to_string(&console).unwrap().contains(hint));
}

#[test]
fn hint_under_smf_uses_msglog_when_it_exists() {
    let sim = Sim::locked_root_with_child(PASS);
    let root = tempfile::tempdir().unwrap();
    fs::create_dir_all(root.path().join("dev")).unwrap();
    fs::write(root.path().join("dev/msglog"), "").unwrap();
    fs::write(root.path().join("dev/console"), "").unwrap();
    let mut cmd = keygate(&sim, &["gate", "--mode", "hint"]);
    cmd.env("SMF_FMRI", "svc:/system/filesystem/nest:default")
        .env("KEYGATE_ROOT", root.path());
    let out = run_with_timeout(cmd, TIMEOUT);
    assert_eq!(out.status.code(), Some(95));
    let msglog = fs::read_to_string(root.path().join("dev/msglog")).unwrap();
    assert!(
        msglog
            .contains("zfs load-key -r nest/a && svcadm clear svc:/system/filesystem/nest:default"),
        "{msglog}"
    );
    assert_eq!(
        fs::read_to_string(root.path().join("dev/console")).unwrap(),
        ""
    );
}

#[test]
fn hint_lists_each_locked_root_and_exits_1_outside_smf() {
    let sim = Sim::locked_root_with_child(PASS);
    sim.encrypted_root("nest/z", b"another-pass");
    sim.encrypted_root("nest/ok", b"open-already");
    sim.load("nest/ok");
    let root = tempfile::tempdir().unwrap();
    fs::create_dir_all(root.path().join("dev")).unwrap();
    fs::write(root.path().join("dev/console"), "").unwrap();
    let mut cmd = keygate(&sim, &["gate", "--mode", "hint"]);
    cmd.env("KEYGATE_ROOT", root.path());
    let out = run_with_timeout(cmd, TIMEOUT);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(err.contains("Run 'zfs load-key -r nest/a nest/z'"), "{err}");
    assert!(!err.contains("nest/ok"), "{err}");
    let console = fs::read_to_string(root.path().join("dev/console")).unwrap();
    assert!(
        console.contains("Run 'zfs load-key -r nest/a nest/z'"),
        "{console}"
    );
}

#[test]
fn hint_words_per_service_manager() {
    let sim = Sim::locked_root_with_child(PASS);
    let dir = tempfile::tempdir().unwrap();
    let console = console_file(&dir);
    let cases = [
        (
            "systemd",
            "Run 'zfs load-key -r nest/a && systemctl default'",
            1,
        ),
        (
            "openrc",
            "Run 'zfs load-key -r nest/a && rc-service keygate start'",
            1,
        ),
        ("none", "Run 'zfs load-key -r nest/a'", 1),
        (
            "smf",
            "Run 'zfs load-key -r nest/a && svcadm clear svc:/system/filesystem/keygate:default'",
            95,
        ),
    ];
    for (manager, hint, code) in cases {
        let out = run_with_timeout(
            keygate(
                &sim,
                &[
                    "--service-manager",
                    manager,
                    "gate",
                    "--mode",
                    "hint",
                    "--console",
                    &console,
                ],
            ),
            TIMEOUT,
        );
        assert_eq!(out.status.code(), Some(code), "{manager}");
        assert!(
            stderr_of(&out).contains(hint),
            "{manager}: {}",
            stderr_of(&out)
        );
    }
}

#[test]
fn openrc_messages_in_openrc_style() {
    let sim = Sim::locked_root_with_child(PASS);
    let dir = tempfile::tempdir().unwrap();
    let console = console_file(&dir);
    let mut cmd = keygate(&sim, &["gate", "--mode", "hint", "--console", &console]);
    cmd.env("RC_SVCNAME", "keygate");
    let out = run_with_timeout(cmd, TIMEOUT);
    assert_eq!(out.status.code(), Some(1));
    for line in stderr_of(&out).lines() {
        assert!(line.starts_with(" * "), "{line}");
    }
}

#[test]
fn hint_mode_all_available_is_ready_under_systemd() {
    let sim = Sim::locked_root_with_child(PASS);
    sim.load("nest/a");
    let notify = NotifySocket::new();
    let mut cmd = keygate(&sim, &["gate", "--mode", "hint"]);
    cmd.env("NOTIFY_SOCKET", notify.path());
    let out = run_with_timeout(cmd, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    let msgs = notify.messages().join("");
    assert!(msgs.contains("READY=1\n"), "{msgs}");
    assert!(
        msgs.contains("STATUS=the key of 1 encryption root is loaded"),
        "{msgs}"
    );
}

/// A boot that needs nobody: every key is in a file. The gate reads the key
/// state once, loads the files, and is ready on zfs's word: no second read
/// on the boot's critical path.
#[test]
fn key_files_only_take_one_read() {
    let sim = Sim::new();
    sim.pool("nest");
    let keys = tempfile::tempdir().unwrap();
    for (root, pass) in [
        ("nest/f", &b"filepass123"[..]),
        ("nest/g", &b"otherpass99"[..]),
    ] {
        let file = keys.path().join(root.replace('/', "_"));
        fs::write(&file, [pass, b"\n"].concat()).unwrap();
        sim.file_root(root, &file, pass);
    }
    let notify = NotifySocket::new();
    let mut cmd = keygate(&sim, &["gate", "--mode", "wait"]);
    cmd.env("NOTIFY_SOCKET", notify.path());
    let out = run_with_timeout(cmd, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert_eq!(sim.keystatus("nest/f"), "available");
    assert_eq!(sim.keystatus("nest/g"), "available");
    assert!(notify.messages().join("").contains("READY=1\n"));
    assert_eq!(sim.count_calls("load-key"), 2, "{:?}", sim.calls());
    assert_eq!(sim.count_calls("get"), 1, "{:?}", sim.calls());
}

#[test]
fn hint_mode_smf_config_error_is_96() {
    let sim = Sim::locked_root_with_child(PASS);
    let mut cmd = keygate(&sim, &["gate", "--mode", "hint", "nope"]);
    cmd.env("SMF_FMRI", "svc:/system/filesystem/nest:default");
    let out = run_with_timeout(cmd, TIMEOUT);
    assert_eq!(out.status.code(), Some(96));
    assert!(stderr_of(&out).contains("dataset does not exist: nope"));
    let cmd = keygate(&sim, &["gate", "--mode", "hint", "nope"]);
    assert_eq!(run_with_timeout(cmd, TIMEOUT).status.code(), Some(2));
}

fn spawn_wait(sim: &Sim, extra: &[&str], notify: Option<&NotifySocket>) -> ChildGuard {
    let dir = tempfile::tempdir().unwrap();
    let console = console_file(&dir);
    std::mem::forget(dir);
    let mut args = vec!["--mode", "wait", "--console", &console];
    args.extend_from_slice(extra);
    kit::spawn_gate(sim, notify, &args)
}

#[test]
fn wait_mode_continues_once_the_key_is_loaded_elsewhere() {
    let sim = Sim::locked_root_with_child(PASS);
    let notify = NotifySocket::new();
    let child = spawn_wait(&sim, &["--poll-interval", "100ms"], Some(&notify));
    assert!(eventually(Duration::from_secs(10), || notify
        .messages()
        .iter()
        .any(|m| m.contains("STATUS=Waiting for keys: nest/a"))));
    sim.load("nest/a");
    let out = finish(child, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains("Load them from another shell with 'zfs load-key -r nest/a'; the boot continues by itself"),
        "{err}"
    );
    let msgs = notify.messages().join("");
    assert!(msgs.contains("READY=1"), "{msgs}");
}

#[test]
fn wait_mode_sends_keepalives_under_systemd() {
    let sim = Sim::locked_root_with_child(PASS);
    let notify = NotifySocket::new();
    let child = spawn_wait(&sim, &["--poll-interval", "1h"], Some(&notify));
    let mut seen = Vec::new();
    assert!(eventually(Duration::from_secs(10), || {
        seen.extend(notify.messages());
        seen.iter().any(|m| m.contains("EXTEND_TIMEOUT_USEC="))
    }));
    signal(&child, Signal::SIGTERM);
    let out = finish(child, TIMEOUT);
    assert_eq!(out.status.code(), Some(1));
    let usec: u64 = seen
        .iter()
        .flat_map(|m| m.lines())
        .find_map(|l| l.strip_prefix("EXTEND_TIMEOUT_USEC="))
        .unwrap()
        .parse()
        .unwrap();
    assert!(usec >= 30_000_000, "extends by at least 30 s: {usec}");
}

#[test]
fn sigusr1_forces_an_immediate_recheck() {
    let sim = Sim::locked_root_with_child(PASS);
    let child = spawn_wait(&sim, &["--poll-interval", "1h"], None);
    assert!(eventually(Duration::from_secs(10), || sim
        .count_calls("get")
        >= 1));
    // Let the gate reach its wait before the key is loaded.
    std::thread::sleep(Duration::from_millis(300));
    sim.load("nest/a");
    let before = Instant::now();
    signal(&child, Signal::SIGUSR1);
    let out = finish(child, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert!(before.elapsed() < Duration::from_secs(5));
    assert_eq!(
        sim.count_calls("get"),
        2,
        "one read at start, one on SIGUSR1"
    );
}

#[test]
fn sigterm_and_sigint_end_the_wait_with_a_message_and_exit_1() {
    for sig in [Signal::SIGTERM, Signal::SIGINT] {
        let sim = Sim::locked_root_with_child(PASS);
        let child = spawn_wait(&sim, &["--poll-interval", "1h"], None);
        assert!(eventually(Duration::from_secs(10), || sim
            .count_calls("get")
            >= 1));
        std::thread::sleep(Duration::from_millis(300));
        signal(&child, sig);
        let out = finish(child, TIMEOUT);
        assert_eq!(out.status.code(), Some(1), "{sig}: {}", common::show(&out));
        assert!(
            stderr_of(&out).contains(&format!(
                "stopped by {} while waiting for the keys of nest/a",
                sig.as_str()
            )),
            "{}",
            stderr_of(&out)
        );
    }
}

#[test]
fn timeout_fail_and_continue() {
    let sim = Sim::locked_root_with_child(PASS);
    let child = spawn_wait(&sim, &["--timeout", "300ms", "--on-timeout", "fail"], None);
    let out = finish(child, TIMEOUT);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).contains("gave up after 300ms: the keys of nest/a are still not loaded")
    );

    let notify = NotifySocket::new();
    let child = spawn_wait(
        &sim,
        &["--timeout", "300ms", "--on-timeout", "continue"],
        Some(&notify),
    );
    let out = finish(child, TIMEOUT);
    assert_eq!(out.status.code(), Some(0));
    assert!(stderr_of(&out).contains("continuing the boot without nest/a"));
    assert!(notify.messages().join("").contains("READY=1"));
    assert_eq!(sim.keystatus("nest/a"), "unavailable");
}

#[test]
fn on_timeout_needs_timeout() {
    let sim = Sim::locked_root_with_child(PASS);
    let out = run_with_timeout(
        keygate(&sim, &["gate", "--on-timeout", "continue"]),
        TIMEOUT,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("--timeout"), "{}", stderr_of(&out));
}

#[test]
fn waiting_uses_no_cpu_between_polls() {
    let sim = Sim::locked_root_with_child(PASS);
    let child = spawn_wait(&sim, &["--poll-interval", "1h"], None);
    assert!(eventually(Duration::from_secs(10), || sim
        .count_calls("get")
        >= 1));
    std::thread::sleep(Duration::from_millis(300));
    let before = cpu_ticks(child.id());
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_ticks(child.id()) - before;
    signal(&child, Signal::SIGTERM);
    let _ = finish(child, TIMEOUT);
    assert!(used <= 1, "{used} ticks of CPU in 2 s of waiting");
}

#[test]
fn a_failing_poll_is_reported_once_and_waited_out() {
    let sim = Sim::locked_root_with_child(PASS);
    let child = spawn_wait(&sim, &["--poll-interval", "50ms"], None);
    assert!(eventually(Duration::from_secs(10), || sim
        .count_calls("get")
        >= 1));
    sim.fault("get", Fault::Garbage { rc: 1 });
    assert!(eventually(Duration::from_secs(10), || sim
        .count_calls("get")
        >= 6));
    sim.clear_faults();
    sim.load("nest/a");
    let out = finish(child, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    let warnings = stderr_of(&out).matches("still waiting").count();
    assert_eq!(warnings, 1, "{}", stderr_of(&out));
}

#[test]
fn hint_on_the_console_stderr_is_written_once() {
    // A gate started from a console (stderr is that terminal) and told to
    // write hints there too shows each line once, not twice.
    let sim = Sim::locked_root(PASS);
    let tty = kit::Pty::new();
    let stderr = fs::OpenOptions::new().write(true).open(&tty.path).unwrap();
    let mut cmd = keygate(&sim, &["gate", "--mode", "hint", "--console", &tty.path]);
    cmd.stdout(std::process::Stdio::null()).stderr(stderr);
    let out = common::SpawnGuarded::spawn_guarded(&mut cmd).finish(TIMEOUT);
    assert_eq!(out.status.code(), Some(1));
    tty.expect("Run 'zfs load-key -r nest/a'");
    let shown = tty.output();
    assert_eq!(
        shown.matches("Run 'zfs load-key -r nest/a'").count(),
        1,
        "{shown}"
    );
}

#[test]
fn hint_under_openrc_goes_to_stderr_not_again_to_dev_console() {
    // OpenRC gives a service the console as stderr at boot: keygate does not
    // write its hint to /dev/console a second time unless --console says so.
    let sim = Sim::locked_root(PASS);
    let dev = kit::host_root(&sim).join("dev");
    fs::create_dir_all(&dev).unwrap();
    let console = dev.join("console");
    for (manager, copies) in [("openrc", 0), ("systemd", 1)] {
        fs::write(&console, "").unwrap();
        let out = run_with_timeout(
            keygate(
                &sim,
                &["--service-manager", manager, "gate", "--mode", "hint"],
            ),
            TIMEOUT,
        );
        assert_eq!(out.status.code(), Some(1), "{manager}");
        assert!(
            stderr_of(&out).contains("Run 'zfs load-key -r nest/a"),
            "{manager}"
        );
        let written = fs::read_to_string(&console).unwrap();
        assert_eq!(
            written.matches("Run 'zfs load-key").count(),
            copies,
            "{manager}: {written}"
        );
    }
}
