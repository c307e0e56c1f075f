//! Key providers (`[[provider]]`) raced with a person at a prompt, with
//! real parts: a real Tang server (tangd behind socat on 127.0.0.1), a real
//! software TPM (swtpm), real `clevis encrypt`/`clevis decrypt`, real ptys,
//! and the zfs simulator holding the roots. And `keygate bind`/`unbind`.

mod common;
mod kit;
mod provider_kit;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{ChildGuard, Sim, TIMEOUT};
use kit::{Pty, assert_not_leaked, eventually, finish, host_root, stderr_of};
use provider_kit::{Swtpm, TANG_TOOLS, TPM_TOOLS, Tang, have};

const PASS: &[u8] = b"hunter2hunter2";
const PROMPT: &str = "Enter passphrase for nest/a: ";

/// Write the gate's configuration (at the default path under the test's
/// host root) and return its path.
fn configure(sim: &Sim, text: &str) -> PathBuf {
    let path = host_root(sim).join("etc/keygate/keygate.toml");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

/// A file in the test's temporary directory.
fn file(sim: &Sim, name: &str, bytes: &[u8]) -> PathBuf {
    let path = sim.root().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// One `[[provider]]` table.
fn provider(name: &str, command: &[&str], input: Option<&Path>, extra: &str) -> String {
    let words: Vec<String> = command.iter().map(|w| format!("{w:?}")).collect();
    let mut t = format!(
        "[[provider]]\nname = \"{name}\"\ncommand = [{}]\n",
        words.join(", ")
    );
    if let Some(i) = input {
        t.push_str(&format!("input = \"{}\"\n", i.display()));
    }
    t.push_str(extra);
    t
}

/// Where [`gate`] writes the gate's stderr, to be read while it runs.
fn log_path(sim: &Sim) -> PathBuf {
    sim.root().join("gate.log")
}

/// What the gate logged so far.
fn log(sim: &Sim) -> String {
    std::fs::read_to_string(log_path(sim)).unwrap_or_default()
}

/// Wait until the gate's log holds `needle`.
fn expect_log(sim: &Sim, needle: &str) {
    assert!(
        eventually(TIMEOUT, || log(sim).contains(needle)),
        "waited for {needle:?} in the log:\n{}",
        log(sim)
    );
}

/// A prompting gate on `tty`, with `envs` added to its environment; its
/// stderr goes to [`log_path`] (a fresh file).
fn gate(sim: &Sim, tty: &Pty, envs: &[(&str, String)]) -> ChildGuard {
    use std::os::unix::process::CommandExt;
    let mut cmd = kit::keygate(
        sim,
        &[
            "gate",
            "--mode",
            "prompt",
            "--poll-interval",
            "1h",
            "--console",
            &tty.path,
        ],
    );
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let log = std::fs::File::create(log_path(sim)).unwrap();
    cmd.stdout(std::process::Stdio::piped())
        .stderr(log)
        .process_group(0);
    common::SpawnGuarded::spawn_guarded(&mut cmd)
}

/// The gate's output, its stderr taken from the log.
fn ended(sim: &Sim, child: ChildGuard) -> std::process::Output {
    let mut out = finish(child, TIMEOUT);
    out.stderr = log(sim).into_bytes();
    out
}

/// The person types the passphrase; the gate ends unlocked.
fn person_unlocks(sim: &Sim, tty: &Pty, child: ChildGuard) -> std::process::Output {
    tty.expect(PROMPT);
    tty.type_bytes(b"hunter2hunter2\r");
    let out = ended(sim, child);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert_eq!(sim.keystatus("nest/a"), "available");
    assert!(
        stderr_of(&out).contains(&format!(
            "unlocked nest/a with the passphrase from {}",
            tty.path
        )),
        "{}",
        common::show(&out)
    );
    out
}

fn load_key_calls(sim: &Sim) -> usize {
    sim.calls().iter().filter(|c| c[0] == "load-key").count()
}

/// Whether any process of group `pgid` is left.
fn group_alive(pgid: i32) -> bool {
    nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid), None).is_ok()
}

#[test]
fn a_tang_provider_unlocks_before_any_keystroke() {
    if !have(TANG_TOOLS) {
        return;
    }
    let tang = Tang::start();
    let sim = Sim::locked_root_with_child(PASS);
    let jwe = file(
        &sim,
        "a.jwe",
        &provider_kit::encrypt("tang", &tang.config(), PASS, &[]),
    );
    configure(
        &sim,
        &provider("tang", &["clevis", "decrypt"], Some(&jwe), ""),
    );
    let tty = Pty::new();
    let child = gate(&sim, &tty, &[]);
    let out = ended(&sim, child);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert_eq!(sim.keystatus("nest/a"), "available");
    let err = stderr_of(&out);
    assert!(
        err.contains("unlocked nest/a with the passphrase from provider tang"),
        "{err}"
    );
    // Nobody typed; whatever prompt was up was closed with a notice naming it.
    let screen = tty.output();
    if screen.contains(PROMPT) {
        assert!(
            screen.contains("keys loaded from provider tang"),
            "{screen}"
        );
    }
    assert_not_leaked(&sim, &out, &[&screen], PASS);
}

#[test]
fn with_tang_down_the_prompt_is_up_at_once_and_the_person_unlocks() {
    if !have(TANG_TOOLS) {
        return;
    }
    let mut tang = Tang::start();
    let sim = Sim::locked_root_with_child(PASS);
    let jwe = file(
        &sim,
        "a.jwe",
        &provider_kit::encrypt("tang", &tang.config(), PASS, &[]),
    );
    tang.stop();
    configure(
        &sim,
        &provider("tang", &["clevis", "decrypt"], Some(&jwe), ""),
    );
    let tty = Pty::new();
    let start = Instant::now();
    let child = gate(&sim, &tty, &[]);
    tty.expect(PROMPT);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "the prompt took {:?}",
        start.elapsed()
    );
    expect_log(&sim, "provider tang gave no key: ");
    let out = person_unlocks(&sim, &tty, child);
    let err = stderr_of(&out);
    assert_eq!(
        err.matches("provider tang gave no key: ").count(),
        1,
        "reported once: {err}"
    );
    assert!(err.contains("Error communicating with server"), "{err}");
    assert!(err.contains("the other sources carry on"), "{err}");
}

/// A Tang server that accepts the connection and never answers: the
/// person's prompt does not wait for it, and once the person has unlocked,
/// nothing of the provider is left running.
#[test]
fn a_silent_tang_server_does_not_hold_the_prompt() {
    if !have(TANG_TOOLS) {
        return;
    }
    let mut tang = Tang::start();
    let sim = Sim::locked_root_with_child(PASS);
    let jwe = file(
        &sim,
        "a.jwe",
        &provider_kit::encrypt("tang", &tang.config(), PASS, &[]),
    );
    let port = tang.port;
    tang.stop();
    // The JWE names this port: the request is accepted and never answered.
    let _silent = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let pidfile = sim.root().join("provider.pid");
    let script = format!("echo $$ > '{}'; exec clevis decrypt", pidfile.display());
    configure(
        &sim,
        &provider(
            "slow",
            &["/bin/sh", "-c", &script],
            Some(&jwe),
            "timeout = \"1h\"\n",
        ),
    );
    let tty = Pty::new();
    let start = Instant::now();
    let child = gate(&sim, &tty, &[]);
    tty.expect(PROMPT);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert!(eventually(TIMEOUT, || pidfile.exists()));
    let pgid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(group_alive(pgid), "the provider should still be asking");
    person_unlocks(&sim, &tty, child);
    assert!(
        eventually(Duration::from_secs(5), || !group_alive(pgid)),
        "the provider's process group outlived the gate"
    );
}

#[test]
fn a_wrong_key_from_a_provider_is_reported_once_and_the_person_unlocks() {
    if !have(TANG_TOOLS) {
        return;
    }
    let tang = Tang::start();
    let sim = Sim::locked_root_with_child(PASS);
    let jwe = file(
        &sim,
        "a.jwe",
        &provider_kit::encrypt("tang", &tang.config(), b"not-the-passphrase", &[]),
    );
    configure(
        &sim,
        &provider("tang", &["clevis", "decrypt"], Some(&jwe), ""),
    );
    let tty = Pty::new();
    let child = gate(&sim, &tty, &[]);
    // The provider's key is tried once before the person types.
    expect_log(&sim, "wrong key from provider tang");
    let out = person_unlocks(&sim, &tty, child);
    let err = stderr_of(&out);
    assert_eq!(
        err.matches("wrong key from provider tang for nest/a; it is not tried again")
            .count(),
        1,
        "{err}"
    );
    assert_eq!(
        load_key_calls(&sim),
        2,
        "the provider's key was tried again"
    );
    assert_not_leaked(&sim, &out, &[&tty.output()], b"not-the-passphrase");
}

#[test]
fn a_hanging_provider_is_killed_at_its_timeout_with_its_process_group() {
    let sim = Sim::locked_root_with_child(PASS);
    let pidfile = sim.root().join("provider.pid");
    // A provider that starts a child of its own and never prints.
    let script = format!("echo $$ > '{}'; sleep 600 & sleep 600", pidfile.display());
    configure(
        &sim,
        &provider(
            "hang",
            &["/bin/sh", "-c", &script],
            None,
            "timeout = \"1s\"\n",
        ),
    );
    let tty = Pty::new();
    let child = gate(&sim, &tty, &[]);
    tty.expect(PROMPT);
    assert!(eventually(TIMEOUT, || pidfile.exists()));
    let pgid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let started = Instant::now();
    assert!(group_alive(pgid), "the provider should be running");
    assert!(
        eventually(Duration::from_secs(10), || !group_alive(pgid)),
        "the hanging provider's group is still running"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "killed only after {:?}",
        started.elapsed()
    );
    expect_log(&sim, "provider hang gave no key");
    let out = person_unlocks(&sim, &tty, child);
    let err = stderr_of(&out);
    assert_eq!(
        err.matches(
            "provider hang gave no key: gave nothing within its timeout of 1s and was killed"
        )
        .count(),
        1,
        "{err}"
    );
}

#[test]
fn a_provider_that_prints_a_megabyte_is_refused() {
    let sim = Sim::locked_root_with_child(PASS);
    configure(
        &sim,
        &provider(
            "loud",
            &["/bin/sh", "-c", "head -c 1048576 /dev/zero | tr '\\0' x"],
            None,
            "",
        ),
    );
    let tty = Pty::new();
    let child = gate(&sim, &tty, &[]);
    expect_log(&sim, "provider loud gave no key");
    let out = person_unlocks(&sim, &tty, child);
    let err = stderr_of(&out);
    assert!(
        err.contains(
            "provider loud gave no key: printed 1048576 bytes, more than a passphrase can be (4096 at most)"
        ),
        "{err}"
    );
    assert_eq!(load_key_calls(&sim), 1, "nothing of it was tried");
}

#[test]
fn corrupt_and_truncated_jwes_are_reported_and_the_person_unlocks() {
    if !have(TANG_TOOLS) {
        return;
    }
    let tang = Tang::start();
    let sim = Sim::locked_root_with_child(PASS);
    let good = provider_kit::encrypt("tang", &tang.config(), PASS, &[]);
    let truncated = file(&sim, "truncated.jwe", &good[..good.len() / 2]);
    let mut flipped = good.clone();
    let at = flipped.len() - 20;
    flipped[at] = if flipped[at] == b'A' { b'B' } else { b'A' };
    let corrupt = file(&sim, "corrupt.jwe", &flipped);
    let junk = file(&sim, "junk.jwe", b"\x1b[2Jthis is not a JWE\n");
    let mut config = String::new();
    for (name, path) in [
        ("truncated", &truncated),
        ("corrupt", &corrupt),
        ("junk", &junk),
    ] {
        config.push_str(&provider(name, &["clevis", "decrypt"], Some(path), ""));
    }
    configure(&sim, &config);
    let tty = Pty::new();
    let child = gate(&sim, &tty, &[]);
    for name in ["truncated", "corrupt", "junk"] {
        expect_log(&sim, &format!("provider {name} gave no key"));
    }
    let out = person_unlocks(&sim, &tty, child);
    let err = stderr_of(&out);
    for name in ["truncated", "corrupt", "junk"] {
        assert_eq!(
            err.matches(&format!("provider {name} gave no key: "))
                .count(),
            1,
            "{name}: {err}"
        );
    }
    assert!(!err.contains('\u{1b}'), "an escape reached the log: {err}");
    assert_eq!(
        load_key_calls(&sim),
        1,
        "only the person's passphrase was tried"
    );
}

#[test]
fn a_missing_clevis_is_reported_and_the_person_unlocks() {
    let sim = Sim::locked_root_with_child(PASS);
    let jwe = file(&sim, "a.jwe", b"eyJhbGciOiJkaXIifQ..x.y.z\n");
    configure(
        &sim,
        &provider("tpm", &["/nonexistent/clevis", "decrypt"], Some(&jwe), ""),
    );
    let tty = Pty::new();
    let child = gate(&sim, &tty, &[]);
    expect_log(&sim, "provider tpm gave no key");
    let out = person_unlocks(&sim, &tty, child);
    let err = stderr_of(&out);
    assert!(
        err.contains("provider tpm gave no key: the program '/nonexistent/clevis' was not found"),
        "{err}"
    );
}

#[test]
fn a_tpm_provider_unlocks_and_a_jwe_of_another_tpm_does_not() {
    if !have(TPM_TOOLS) {
        return;
    }
    let tpm = Swtpm::start();
    let other = Swtpm::start();
    let sim = Sim::locked_root_with_child(PASS);
    let tcti = |t: &Swtpm| vec![("TPM2TOOLS_TCTI", t.tcti())];
    let jwe = file(
        &sim,
        "a.jwe",
        &provider_kit::encrypt("tpm2", r#"{"pcr_ids":"7"}"#, PASS, &tcti(&tpm)),
    );
    configure(
        &sim,
        &provider("tpm2", &["clevis", "decrypt"], Some(&jwe), ""),
    );

    // Sealed to another machine's TPM: reported, and the person unlocks.
    let tty = Pty::new();
    let child = gate(&sim, &tty, &tcti(&other));
    expect_log(&sim, "provider tpm2 gave no key");
    let out = person_unlocks(&sim, &tty, child);
    let err = stderr_of(&out);
    assert_eq!(
        err.matches("provider tpm2 gave no key: ").count(),
        1,
        "{err}"
    );
    assert!(err.contains("integrity check failed"), "{err}");

    // The TPM it was sealed to unlocks it with nobody typing.
    sim.unload("nest/a");
    let tty = Pty::new();
    let child = gate(&sim, &tty, &tcti(&tpm));
    let out = ended(&sim, child);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert_eq!(sim.keystatus("nest/a"), "available");
    assert!(
        stderr_of(&out).contains("unlocked nest/a with the passphrase from provider tpm2"),
        "{}",
        common::show(&out)
    );
}

#[test]
fn a_provider_is_listed_by_status_while_it_asks() {
    let sim = Sim::locked_root_with_child(PASS);
    configure(
        &sim,
        &provider(
            "slow",
            &["/bin/sh", "-c", "sleep 600"],
            None,
            "timeout = \"1h\"\n",
        ),
    );
    let tty = Pty::new();
    let child = gate(&sim, &tty, &[]);
    tty.expect(PROMPT);
    let status = common::run_with_timeout(kit::keygate(&sim, &["status"]), TIMEOUT);
    let text = kit::stdout_of(&status);
    assert!(text.contains("provider slow"), "{text}");
    assert!(text.contains(&tty.path), "{text}");
    person_unlocks(&sim, &tty, child);
}

#[test]
fn check_lists_each_roots_providers() {
    let sim = Sim::locked_root_with_child(PASS);
    sim.encrypted_root("nest/b", PASS);
    let jwe = Path::new("/etc/keygate/providers/nest+a.jwe");
    configure(
        &sim,
        &format!(
            "{}{}",
            provider(
                "tpm2:nest/a",
                &["clevis", "decrypt"],
                Some(jwe),
                "roots = [\"nest/a\"]\n"
            ),
            provider("vault", &["/usr/local/bin/get-key"], None, "")
        ),
    );
    let out = common::run_with_timeout(kit::keygate(&sim, &["check"]), TIMEOUT);
    let text = kit::stdout_of(&out);
    assert!(
        text.contains(
            "providers of nest/a: tpm2:nest/a (clevis decrypt < /etc/keygate/providers/nest+a.jwe), vault (/usr/local/bin/get-key)\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("providers of nest/b: vault (/usr/local/bin/get-key)\n"),
        "{text}"
    );
    let out = common::run_with_timeout(kit::keygate(&sim, &["check", "--json"]), TIMEOUT);
    let text = kit::stdout_of(&out);
    assert!(
        text.starts_with(
            "{\"providers\":[{\"name\":\"tpm2:nest/a\",\"command\":[\"clevis\",\"decrypt\"],\"input\":\"/etc/keygate/providers/nest+a.jwe\",\"roots\":[\"nest/a\"]},\
             {\"name\":\"vault\",\"command\":[\"/usr/local/bin/get-key\"],\"input\":null,\"roots\":null}],\"roots\":["
        ),
        "{text}"
    );
}

/// Every file and directory under `dir` with its mode.
fn tree(dir: &Path) -> Vec<(PathBuf, u32)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let m = e.metadata().unwrap();
            if m.is_dir() {
                todo.push(e.path());
            }
            out.push((e.path(), m.permissions().mode() & 0o7777));
        }
    }
    out.sort();
    out
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

/// `keygate bind ARGS` on a terminal where the person types `typed`.
fn bind(
    sim: &Sim,
    args: &[&str],
    typed: &[u8],
    envs: &[(&str, String)],
) -> (std::process::Output, String) {
    let tty = Pty::new();
    let mut argv = vec!["bind"];
    argv.extend_from_slice(args);
    let mut cmd = kit::keygate(sim, &argv);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let child = common::SpawnGuarded::spawn_guarded(&mut kit::on_terminal(cmd, &tty));
    tty.expect("Enter passphrase for ");
    tty.type_bytes(typed);
    let out = finish(child, TIMEOUT);
    (out, tty.output())
}

#[test]
fn bind_and_unbind_a_tpm2_root_round_trip() {
    if !have(TPM_TOOLS) {
        return;
    }
    let tpm = Swtpm::start();
    let envs = vec![("TPM2TOOLS_TCTI", tpm.tcti())];
    let sim = Sim::locked_root_with_child(PASS);
    let host = host_root(&sim);
    std::fs::create_dir_all(host.join("etc/keygate")).unwrap();
    let before = tree(&host);

    // A wrong passphrase binds nothing.
    let (out, screen) = bind(
        &sim,
        &["nest/a", "tpm2", r#"{"pcr_ids":"7"}"#],
        b"wrong-passphrase\r",
        &envs,
    );
    exits(&out, &screen, 1);
    assert!(
        screen.contains("wrong passphrase for nest/a; nothing was bound"),
        "{screen}"
    );
    assert_eq!(tree(&host), before);

    let (out, screen) = bind(
        &sim,
        &["nest/a", "tpm2", r#"{"pcr_ids":"7"}"#],
        b"hunter2hunter2\r",
        &envs,
    );
    exits(&out, &screen, 0);
    assert!(
        !screen.contains("hunter2"),
        "the passphrase was echoed: {screen}"
    );
    let verify: Vec<_> = sim
        .calls()
        .into_iter()
        .filter(|c| c[0] == "load-key")
        .collect();
    assert_eq!(
        verify.last().unwrap(),
        &["load-key", "-n", "-L", "prompt", "nest/a"]
    );
    assert_eq!(
        sim.keystatus("nest/a"),
        "unavailable",
        "bind only checks the key"
    );
    let dir = host.join("etc/keygate/providers");
    let jwe = dir.join("nest+a.jwe");
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&jwe), 0o600);
    let dropin = host.join("etc/keygate/keygate.d/provider-nest+a.toml");
    let text = std::fs::read_to_string(&dropin).unwrap();
    assert!(text.contains("name = \"tpm2:nest/a\"\n"), "{text}");
    assert!(
        text.contains("command = [\"clevis\", \"decrypt\"]\n"),
        "{text}"
    );
    assert!(
        text.contains(&format!("input = \"{}\"\n", jwe.display())),
        "{text}"
    );
    assert!(text.contains("roots = [\"nest/a\"]\n"), "{text}");
    assert!(text.contains("wait_for = \"/dev/tpmrm0\"\n"), "{text}");
    assert!(
        !host.join("etc/systemd").exists(),
        "a TPM binding needs no network"
    );
    let sealed = std::fs::read(&jwe).unwrap();
    assert!(!kit::contains_bytes(&sealed, PASS));
    assert_eq!(provider_kit::decrypt(&sealed, &envs).as_deref(), Some(PASS));

    // Binding again is refused and changes nothing.
    let again = common::run_with_timeout(
        kit::keygate(&sim, &["bind", "nest/a", "tpm2", r#"{"pcr_ids":"7"}"#]),
        TIMEOUT,
    );
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr_of(&again).contains("nest/a is already bound"),
        "{}",
        common::show(&again)
    );

    // keygate check lists it; the gate runs it once the TPM device is there.
    let check = common::run_with_timeout(kit::keygate(&sim, &["check"]), TIMEOUT);
    assert!(kit::stdout_of(&check).contains("providers of nest/a: tpm2:nest/a (clevis decrypt < "));
    let tty = Pty::new();
    let child = gate(&sim, &tty, &envs);
    tty.expect(PROMPT);
    std::fs::create_dir_all(host.join("dev")).unwrap();
    std::fs::write(host.join("dev/tpmrm0"), b"").unwrap();
    let out = ended(&sim, child);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert_eq!(sim.keystatus("nest/a"), "available");
    assert!(
        stderr_of(&out).contains("from provider tpm2:nest/a"),
        "{}",
        common::show(&out)
    );
    assert!(
        tty.output()
            .contains("keys loaded from provider tpm2:nest/a"),
        "{}",
        tty.output()
    );
    std::fs::remove_file(host.join("dev/tpmrm0")).unwrap();
    std::fs::remove_dir(host.join("dev")).unwrap();

    let out = common::run_with_timeout(kit::keygate(&sim, &["unbind", "nest/a"]), TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    let now: Vec<_> = tree(&host)
        .into_iter()
        .filter(|(p, _)| !p.starts_with(host.join("run")))
        .collect();
    assert_eq!(now, before, "unbind left something of bind's");
    let out = common::run_with_timeout(kit::keygate(&sim, &["unbind", "nest/a"]), TIMEOUT);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).contains("nest/a is not bound"),
        "{}",
        common::show(&out)
    );
}

#[test]
fn bind_tang_orders_the_gate_after_the_network_until_unbound() {
    if !have(TANG_TOOLS) {
        return;
    }
    let tang = Tang::start();
    let sim = Sim::locked_root_with_child(PASS);
    let host = host_root(&sim);
    std::fs::create_dir_all(host.join("etc/keygate")).unwrap();
    std::fs::create_dir_all(host.join("etc/systemd/system")).unwrap();
    let before = tree(&host);

    // Without the server's thumbprint clevis would ask on the terminal.
    let out = common::run_with_timeout(
        kit::keygate(
            &sim,
            &[
                "bind",
                "nest/a",
                "tang",
                &format!("{{\"url\":\"{}\"}}", tang.url()),
            ],
        ),
        TIMEOUT,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).contains("thumbprint of its signing key"),
        "{}",
        common::show(&out)
    );
    assert_eq!(tree(&host), before);

    let (out, screen) = bind(
        &sim,
        &["nest/a", "tang", &tang.config()],
        b"hunter2hunter2\r",
        &[],
    );
    exits(&out, &screen, 0);
    let unit = host.join("etc/systemd/system/keygate.service.d/provider-nest+a.conf");
    let text = std::fs::read_to_string(&unit).unwrap();
    assert!(
        text.contains("\nWants=network-online.target\nAfter=network-online.target\n"),
        "{text}"
    );
    let dropin =
        std::fs::read_to_string(host.join("etc/keygate/keygate.d/provider-nest+a.toml")).unwrap();
    assert!(!dropin.contains("wait_for"), "{dropin}");
    let sealed = std::fs::read(host.join("etc/keygate/providers/nest+a.jwe")).unwrap();
    assert_eq!(provider_kit::decrypt(&sealed, &[]).as_deref(), Some(PASS));

    let out = common::run_with_timeout(kit::keygate(&sim, &["unbind", "nest/a"]), TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert_eq!(tree(&host), before, "unbind left something of bind's");
}

#[test]
fn bind_sss_with_a_tang_share_seals_and_orders_after_the_network() {
    if !have(TANG_TOOLS) {
        return;
    }
    let tang = Tang::start();
    let sim = Sim::locked_root_with_child(PASS);
    let host = host_root(&sim);
    std::fs::create_dir_all(host.join("etc/keygate")).unwrap();
    std::fs::create_dir_all(host.join("etc/systemd/system")).unwrap();
    let before = tree(&host);
    let config = format!("{{\"t\":1,\"pins\":{{\"tang\":[{}]}}}}", tang.config());
    let (out, screen) = bind(&sim, &["nest/a", "sss", &config], b"hunter2hunter2\r", &[]);
    exits(&out, &screen, 0);
    let sealed = std::fs::read(host.join("etc/keygate/providers/nest+a.jwe")).unwrap();
    assert_eq!(provider_kit::decrypt(&sealed, &[]).as_deref(), Some(PASS));
    // A Tang share needs the network at boot, as a Tang binding does.
    let unit = host.join("etc/systemd/system/keygate.service.d/provider-nest+a.conf");
    let text = std::fs::read_to_string(&unit).unwrap();
    assert!(text.contains("After=network-online.target"), "{text}");
    let out = common::run_with_timeout(kit::keygate(&sim, &["unbind", "nest/a"]), TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert_eq!(tree(&host), before, "unbind left something of bind's");
}

#[test]
fn a_providers_stderr_is_logged_escaped_and_its_failure_named() {
    let sim = Sim::locked_root_with_child(PASS);
    configure(
        &sim,
        &provider(
            "noisy",
            &[
                "/bin/sh",
                "-c",
                "printf '\\033[2Jno key here\\n' >&2; exit 3",
            ],
            None,
            "",
        ),
    );
    let tty = Pty::new();
    let child = gate(&sim, &tty, &[]);
    expect_log(&sim, "provider noisy gave no key");
    let out = person_unlocks(&sim, &tty, child);
    let err = stderr_of(&out);
    assert!(
        err.contains("provider noisy: \\u{1b}[2Jno key here\n"),
        "{err}"
    );
    assert!(
        err.contains(
            "provider noisy gave no key: \\u{1b}[2Jno key here; the other sources carry on"
        ),
        "{err}"
    );
    assert!(!err.contains('\u{1b}'), "an escape reached the log: {err}");
    assert!(
        !tty.output().contains("\u{1b}[2J"),
        "an escape reached the console"
    );
}

/// `out` exited with `code`; otherwise show its output and the screen.
fn exits(out: &std::process::Output, screen: &str, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}\n{screen}",
        common::show(out)
    );
}
