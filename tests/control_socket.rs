//! The control socket: `keygate unlock` and `keygate status` against a
//! waiting gate, root-only access, hostile clients, and cleanup.

mod common;
mod kit;

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::Signal;

use common::{ChildGuard, Sim, SpawnGuarded, TIMEOUT, run_with_timeout, unprivileged};
use kit::{
    Pty, control_exchange, default_socket, eventually, finish, keygate, on_terminal, signal,
    spawn_wait, stderr_of, stdout_of, unlock_request,
};

const PASS: &[u8] = b"hunter2hunter2";

#[test]
fn socket_is_root_only_and_removed_on_sigterm() {
    let sim = Sim::two_locked_roots(PASS);
    let child = spawn_wait(&sim, &[]);
    let socket = default_socket(&sim);
    let meta = std::fs::metadata(&socket).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let dir = std::fs::metadata(socket.parent().unwrap()).unwrap();
    assert_eq!(dir.permissions().mode() & 0o777, 0o700);
    signal(&child, Signal::SIGTERM);
    let out = finish(child, TIMEOUT);
    assert_eq!(out.status.code(), Some(1));
    assert!(!socket.exists(), "socket left behind");
}

#[test]
fn status_shows_what_the_gate_waits_for() {
    let sim = Sim::two_locked_roots(PASS);
    let child = spawn_wait(&sim, &[]);
    let out = run_with_timeout(keygate(&sim, &["status"]), TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    let text = stdout_of(&out);
    assert!(
        text.contains(&format!(
            "keygate gate (pid {}, mode wait) waiting since ",
            child.id()
        )),
        "{text}"
    );
    assert!(text.contains("locked: nest/a, nest/b"), "{text}");
    assert!(text.contains("control socket"), "{text}");
    let out = run_with_timeout(keygate(&sim, &["status", "--json"]), TIMEOUT);
    let json = stdout_of(&out);
    assert!(
        json.starts_with(&format!(
            "{{\"waiting\":true,\"pid\":{},\"mode\":\"wait\",",
            child.id()
        )),
        "{json}"
    );
    assert!(
        json.contains("\"locked\":[\"nest/a\",\"nest/b\"]"),
        "{json}"
    );
    signal(&child, Signal::SIGTERM);
    let _ = finish(child, TIMEOUT);
    let out = run_with_timeout(keygate(&sim, &["status"]), TIMEOUT);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout_of(&out).contains("no keygate gate is waiting"),
        "{}",
        stdout_of(&out)
    );
}

#[test]
fn unlock_over_ssh_continues_the_boot() {
    let sim = Sim::two_locked_roots(PASS);
    let gate = spawn_wait(&sim, &[]);
    let tty = Pty::new();
    let unlock = on_terminal(keygate(&sim, &["unlock"]), &tty).spawn_guarded();
    tty.expect("Enter passphrase for nest/a, nest/b: ");
    tty.type_bytes(b"hunter2hunter2\n");
    let out = finish(unlock, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", tty.output());
    let screen = tty.output();
    assert!(screen.contains("nest/a: unlocked"), "{screen}");
    assert!(screen.contains("nest/b: unlocked"), "{screen}");
    assert!(!screen.contains("hunter2"), "echoed: {screen}");
    let out = finish(gate, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert!(stderr_of(&out).contains("with the passphrase from the control socket"));
}

#[test]
fn unlock_with_a_wrong_passphrase_says_so_and_the_gate_keeps_waiting() {
    let sim = Sim::two_locked_roots(PASS);
    let gate = spawn_wait(&sim, &[]);
    let tty = Pty::new();
    let unlock = on_terminal(keygate(&sim, &["unlock"]), &tty).spawn_guarded();
    tty.expect("Enter passphrase");
    tty.type_bytes(b"wrong-passphrase\n");
    let out = finish(unlock, TIMEOUT);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        tty.output().contains("nest/a: wrong passphrase"),
        "{}",
        tty.output()
    );
    assert!(!gate_exited(&gate));
    let answer = control_exchange(&default_socket(&sim), &unlock_request(PASS));
    let out = finish(gate, TIMEOUT);
    assert!(
        answer.starts_with("KEYGATE/1 OK\nopened\tnest/a\nopened\tnest/b\n"),
        "{answer}\n{}",
        common::show(&out)
    );
    assert_eq!(out.status.code(), Some(0));
}

fn gate_exited(child: &ChildGuard) -> bool {
    std::fs::metadata(format!("/proc/{}", child.id())).is_err()
        || std::fs::read_to_string(format!("/proc/{}/stat", child.id()))
            .map(|s| s.contains(") Z "))
            .unwrap_or(true)
}

#[test]
fn unlock_without_a_gate_loads_the_keys_itself() {
    let sim = Sim::two_locked_roots(PASS);
    sim.encrypted_root("nest/c", b"other-passphrase");
    let tty = Pty::new();
    let unlock = on_terminal(keygate(&sim, &["unlock", "nest"]), &tty).spawn_guarded();
    tty.expect("Enter passphrase for nest/a, nest/b, nest/c: ");
    tty.type_bytes(b"hunter2hunter2\n");
    let out = finish(unlock, TIMEOUT);
    assert_eq!(out.status.code(), Some(1), "nest/c stays locked");
    let screen = tty.output();
    assert!(
        screen.contains("nest/a: unlocked") && screen.contains("nest/b: unlocked"),
        "{screen}"
    );
    assert!(screen.contains("nest/c: wrong passphrase"), "{screen}");
    assert!(screen.contains("Still locked: nest/c"), "{screen}");
    assert_eq!(sim.keystatus("nest/a"), "available");
}

#[test]
fn unlock_without_a_gate_trusts_zfs_when_every_key_loaded() {
    // zfs said each key is loaded: the state is read once, before asking.
    let sim = Sim::two_locked_roots(PASS);
    let tty = Pty::new();
    let unlock = on_terminal(keygate(&sim, &["unlock", "nest"]), &tty).spawn_guarded();
    tty.expect("Enter passphrase for nest/a, nest/b: ");
    tty.type_bytes(b"hunter2hunter2\n");
    let out = finish(unlock, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    let screen = tty.output();
    assert!(screen.contains("Every key is loaded."), "{screen}");
    assert_eq!(sim.keystatus("nest/b"), "available");
    assert_eq!(sim.count_calls("get"), 1, "{:?}", sim.calls());
}

#[test]
fn socket_unlock_while_a_console_prompts() {
    let sim = Sim::two_locked_roots(PASS);
    let tty = Pty::new();
    let gate = keygate(&sim, &["gate", "--mode", "prompt", "--console", &tty.path])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn_guarded();
    tty.expect("Enter passphrase for nest (2 encryption roots): ");
    let answer = control_exchange(&default_socket(&sim), &unlock_request(PASS));
    assert!(answer.starts_with("KEYGATE/1 OK\n"), "{answer}");
    let out = finish(gate, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    tty.expect("keys loaded from the control socket");
    assert!(tty.echo_on());
}

#[test]
fn hostile_clients_get_errors_and_the_gate_carries_on() {
    let sim = Sim::two_locked_roots(PASS);
    let gate = spawn_wait(&sim, &[]);
    let socket = default_socket(&sim);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"GET / HTTP/1.0\r\n\r\n".to_vec(), "not a keygate request"),
        (
            b"KEYGATE/1 UNLOCK 14\nhunter2".to_vec(),
            "truncated request: 7 of 14",
        ),
        (
            b"KEYGATE/1 STATUS".to_vec(),
            "truncated request (no newline)",
        ),
        (vec![b'A'; 1 << 20], "request line longer than 64 bytes"),
        (
            b"KEYGATE/1 UNLOCK 99999\n".to_vec(),
            "bad passphrase length",
        ),
        (b"\x00\xff\x00\n".to_vec(), "not a keygate request"),
    ];
    for (request, expected) in cases {
        let answer = control_exchange(&socket, &request);
        assert!(answer.starts_with("KEYGATE/1 ERROR "), "{answer}");
        assert!(answer.contains(expected), "{expected}: {answer}");
    }
    // A client that disconnects mid-request.
    {
        use std::io::Write;
        let mut s = std::os::unix::net::UnixStream::connect(&socket).unwrap();
        s.write_all(b"KEYGATE/1 UNL").unwrap();
    }
    let answer = control_exchange(&socket, b"KEYGATE/1 STATUS\n");
    assert!(answer.starts_with("KEYGATE/1 OK\n"), "{answer}");
    signal(&gate, Signal::SIGTERM);
    let _ = finish(gate, TIMEOUT);
}

#[test]
fn a_slow_client_is_cut_off_without_holding_up_others() {
    let sim = Sim::two_locked_roots(PASS);
    let gate = spawn_wait(&sim, &[]);
    let socket = default_socket(&sim);
    use std::io::{Read, Write};
    let mut slow = std::os::unix::net::UnixStream::connect(&socket).unwrap();
    slow.write_all(b"KEYGATE/1 ST").unwrap();
    let answer = control_exchange(&socket, b"KEYGATE/1 STATUS\n");
    assert!(answer.starts_with("KEYGATE/1 OK\n"), "{answer}");
    let mut rest = String::new();
    slow.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let _ = slow.read_to_string(&mut rest);
    assert!(rest.contains("request too slow"), "{rest}");
    signal(&gate, Signal::SIGTERM);
    let _ = finish(gate, TIMEOUT);
}

#[test]
fn fifty_clients_at_once() {
    let sim = Sim::two_locked_roots(PASS);
    let gate = spawn_wait(&sim, &[]);
    let socket = default_socket(&sim);
    let handles: Vec<_> = (0..50)
        .map(|_| {
            let s = socket.clone();
            std::thread::spawn(move || control_exchange(&s, b"KEYGATE/1 STATUS\n"))
        })
        .collect();
    for h in handles {
        let answer = h.join().unwrap();
        assert!(answer.starts_with("KEYGATE/1 OK\n"), "{answer}");
    }
    signal(&gate, Signal::SIGTERM);
    let _ = finish(gate, TIMEOUT);
}

#[test]
fn a_stale_socket_is_replaced_and_a_live_one_left_alone() {
    let sim = Sim::two_locked_roots(PASS);
    let socket = default_socket(&sim);
    std::fs::create_dir_all(socket.parent().unwrap()).unwrap();
    // A stale socket: bound, never listening, as a crashed gate leaves it.
    // (A listener closed here could live on for a moment in a child another
    // test thread is forking, and answer as if a gate were there.)
    {
        use nix::sys::socket::{self as sock, AddressFamily, SockFlag, SockType, UnixAddr};
        let fd = sock::socket(
            AddressFamily::Unix,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .unwrap();
        sock::bind(
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            &UnixAddr::new(&socket).unwrap(),
        )
        .unwrap();
    }
    assert!(socket.exists(), "stale socket file stays behind");
    let first = spawn_wait(&sim, &[]);
    assert!(eventually(Duration::from_secs(10), || {
        std::os::unix::net::UnixStream::connect(&socket).is_ok()
    }));
    // A second gate does not steal the live socket.
    let second = keygate(&sim, &["gate", "--mode", "wait", "--timeout", "500ms"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn_guarded();
    let out = finish(second, TIMEOUT);
    if !stderr_of(&out).contains("another keygate is already answering") {
        // Say what became of the first gate too.
        let alive = !gate_exited(&first);
        signal(&first, Signal::SIGTERM);
        let first_out = finish(first, TIMEOUT);
        panic!(
            "the second gate did not leave the live socket alone:\n{}\nthe first gate (alive: {alive}):\n{}",
            stderr_of(&out),
            common::show(&first_out)
        );
    }
    assert!(
        control_exchange(&socket, b"KEYGATE/1 STATUS\n").contains(&format!("pid\t{}", first.id()))
    );
    signal(&first, Signal::SIGTERM);
    let _ = finish(first, TIMEOUT);
    assert!(!socket.exists());
}

#[test]
fn non_root_clients_are_refused_even_if_permissions_are_loosened() {
    if !nix::unistd::Uid::effective().is_root() {
        return common::skip("needs root to run a client as another uid");
    }
    let sim = Sim::two_locked_roots(PASS);
    let gate = spawn_wait(&sim, &[]);
    let socket = default_socket(&sim);
    // Misconfigure on purpose, inside the test's own tree only: only the
    // peer-credential check stands. The client runs a copy of the binary
    // that uid 65534 can reach wherever the checkout is.
    let bin = unprivileged::keygate_for_nobody(&sim);
    unprivileged::open_up_to(socket.parent().unwrap(), sim.root());
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let mut cmd = kit::keygate_at(
        &bin,
        &sim,
        &["status", "--socket", socket.to_str().unwrap()],
    );
    use std::os::unix::process::CommandExt;
    cmd.uid(unprivileged::NOBODY).gid(unprivileged::NOBODY);
    let out = run_with_timeout(cmd, TIMEOUT);
    assert_eq!(out.status.code(), Some(1), "{}", common::show(&out));
    assert!(
        stderr_of(&out).contains(
            "the gate refused: permission denied: only root may use the keygate control socket"
        ),
        "{}",
        common::show(&out)
    );
    signal(&gate, Signal::SIGTERM);
    let out = finish(gate, TIMEOUT);
    assert!(
        stderr_of(&out).contains("refused a control-socket client with uid 65534"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn passphrases_arriving_together_each_get_their_turn() {
    let sim = Sim::two_locked_roots(PASS);
    sim.load_key_cost(Duration::from_millis(200));
    let gate = spawn_wait(&sim, &[]);
    let socket = default_socket(&sim);
    let guesses: Vec<&[u8]> = vec![
        b"wrong-one-1",
        b"wrong-two-2",
        PASS,
        b"wrong-three-3",
        b"wrong-four-4",
    ];
    let handles: Vec<_> = guesses
        .into_iter()
        .map(|g| {
            let s = socket.clone();
            let req = unlock_request(g);
            std::thread::spawn(move || control_exchange(&s, &req))
        })
        .collect();
    let answers: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    for a in &answers {
        assert!(
            a.starts_with("KEYGATE/1 OK\n"),
            "every passphrase gets an answer: {a}"
        );
    }
    let openers = answers
        .iter()
        .filter(|a| a.contains("opened\tnest/a"))
        .count();
    assert_eq!(openers, 1, "{answers:?}");
    let out = finish(gate, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    // Nothing is tried on a root that is already open.
    let loads = sim.count_calls("load-key");
    assert!(loads <= 2 * 5, "{loads}");
    let after_open = answers
        .iter()
        .filter(|a| !a.contains("opened") && !a.contains("rejected"))
        .count();
    assert_eq!(loads, 2 * (5 - after_open), "{answers:?}");
}
