//! Helpers for tests that run the keygate binary: a command builder with a
//! clean service-manager environment, a real sd_notify socket, and process
//! inspection. Used together with `common` (the simulator fixture).
#![allow(dead_code)]

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::common::{ChildGuard, Sim, SpawnGuarded, keygate_bin};

pub mod ask;

/// `keygate ARGS` against `sim`, with no service manager in its environment
/// (the test's own may have one) and host paths (/run/keygate, /dev/console,
/// /sys/...) under [`host_root`], so parallel tests never share them.
pub fn keygate(sim: &Sim, args: &[&str]) -> Command {
    keygate_at(&keygate_bin(), sim, args)
}

/// Like [`keygate`], with the binary at `bin` (a copy of the one under test).
pub fn keygate_at(bin: &Path, sim: &Sim, args: &[&str]) -> Command {
    let mut c = Command::new(bin);
    c.args(args).envs(sim.envs()).stdin(Stdio::null());
    for var in ["NOTIFY_SOCKET", "SMF_FMRI", "RC_SVCNAME"] {
        c.env_remove(var);
    }
    c.env("KEYGATE_ROOT", host_root(sim));
    // The kernel keyring is the host's: unless a test points keygate at a
    // key of its own (tests/keyring_kit), it reads one that nobody adds, so
    // a passphrase cached on the machine never takes part in a test.
    c.env("KEYGATE_KEYRING_KEY", "keygate-test-no-such-key");
    // Nor a hand-over key of the machine's, which a gate would remove.
    c.env("KEYGATE_HANDOVER_KEY", "keygate-test-no-handover-key");
    c
}

/// This test's stand-in for `/`.
pub fn host_root(sim: &Sim) -> PathBuf {
    let root = sim.root().join("host");
    std::fs::create_dir_all(&root).unwrap();
    root
}

/// Where the gate's control socket is by default in this test.
pub fn default_socket(sim: &Sim) -> PathBuf {
    host_root(sim).join("run/keygate/control.sock")
}

/// A real AF_UNIX datagram socket to hand to keygate as NOTIFY_SOCKET.
pub struct NotifySocket {
    _dir: tempfile::TempDir,
    path: PathBuf,
    sock: UnixDatagram,
}

impl NotifySocket {
    pub fn new() -> NotifySocket {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let sock = UnixDatagram::bind(&path).unwrap();
        sock.set_nonblocking(true).unwrap();
        NotifySocket {
            _dir: dir,
            path,
            sock,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every message received so far, one per datagram.
    pub fn messages(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 65536];
        while let Ok(n) = self.sock.recv(&mut buf) {
            out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        out
    }
}

/// Wait for a spawned child, killing it (its process group) after
/// `timeout`. Returns its output.
pub fn finish(child: ChildGuard, timeout: Duration) -> std::process::Output {
    child.finish(timeout)
}

/// Poll `cond` every 10 ms until it holds or `timeout` passes.
pub fn eventually(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() > timeout {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// CPU time (user + system) a process has used, in clock ticks.
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may contain spaces) in parens.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

pub fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Send a signal to a child.
pub fn signal(child: &Child, sig: Signal) {
    kill(Pid::from_raw(child.id() as i32), sig).unwrap();
}

/// A real pseudo-terminal standing in for a console: keygate opens the
/// slave by its path; the test types on the master and reads what keygate
/// printed there.
pub struct Pty {
    pub master: std::os::fd::OwnedFd,
    /// Kept open so the line stays up and its settings can be read.
    pub slave: std::os::fd::OwnedFd,
    pub path: String,
    seen: std::cell::RefCell<Vec<u8>>,
}

impl Pty {
    /// Both ends are opened close-on-exec, so no other test's child can
    /// inherit them (an inherited master would keep a "hung up" line alive).
    pub fn new() -> Pty {
        use nix::fcntl::OFlag;
        let master =
            nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC).unwrap();
        nix::pty::grantpt(&master).unwrap();
        nix::pty::unlockpt(&master).unwrap();
        let path = nix::pty::ptsname_r(&master).unwrap();
        let slave = nix::fcntl::open(
            path.as_str(),
            OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .unwrap();
        let flags = nix::fcntl::fcntl(&master, nix::fcntl::FcntlArg::F_GETFL).unwrap();
        let flags = OFlag::from_bits_retain(flags) | OFlag::O_NONBLOCK;
        nix::fcntl::fcntl(&master, nix::fcntl::FcntlArg::F_SETFL(flags)).unwrap();
        // SAFETY: posix_openpt returned a fresh descriptor that nothing else owns.
        let master = unsafe {
            <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(
                std::os::fd::IntoRawFd::into_raw_fd(master),
            )
        };
        Pty {
            master,
            slave,
            path,
            seen: Default::default(),
        }
    }

    /// Type bytes on the line.
    pub fn type_bytes(&self, bytes: &[u8]) {
        let mut done = 0;
        while done < bytes.len() {
            match nix::unistd::write(&self.master, &bytes[done..]) {
                Ok(n) => done += n,
                Err(nix::errno::Errno::EAGAIN) => thread::sleep(Duration::from_millis(2)),
                Err(e) => panic!("typing on {}: {e}", self.path),
            }
        }
    }

    fn pump(&self) {
        let mut buf = [0u8; 4096];
        loop {
            match nix::unistd::read(&self.master, &mut buf) {
                Ok(0) => break,
                Ok(n) => self.seen.borrow_mut().extend_from_slice(&buf[..n]),
                Err(_) => break,
            }
        }
    }

    /// Everything keygate wrote on the line so far.
    pub fn output(&self) -> String {
        self.pump();
        String::from_utf8_lossy(&self.seen.borrow()).into_owned()
    }

    /// Wait until the output contains `needle` `times` times in all.
    pub fn expect_n(&self, needle: &str, times: usize, timeout: Duration) {
        let ok = eventually(timeout, || self.output().matches(needle).count() >= times);
        assert!(
            ok,
            "waited for {times}x {needle:?} on {}; got:\n{}",
            self.path,
            self.output()
        );
    }

    pub fn expect(&self, needle: &str) {
        self.expect_n(needle, 1, Duration::from_secs(20));
    }

    pub fn termios(&self) -> nix::sys::termios::Termios {
        nix::sys::termios::tcgetattr(&self.slave).unwrap()
    }

    /// Whether the line echoes right now.
    pub fn echo_on(&self) -> bool {
        self.termios()
            .local_flags
            .contains(nix::sys::termios::LocalFlags::ECHO)
    }
}

/// The termios fields that matter for "restored exactly".
pub fn termios_fields(t: &nix::sys::termios::Termios) -> (u64, u64, u64, u64, Vec<u8>) {
    (
        t.input_flags.bits() as u64,
        t.output_flags.bits() as u64,
        t.control_flags.bits() as u64,
        t.local_flags.bits() as u64,
        t.control_chars.to_vec(),
    )
}

/// Send raw bytes to a control socket and read the whole answer.
pub fn control_exchange(socket: &Path, request: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let _ = s.write_all(request);
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

/// A command whose controlling terminal is `pty` (stdin, stdout and stderr
/// too), as when a person runs it in a terminal.
pub fn on_terminal(mut cmd: Command, pty: &Pty) -> Command {
    use std::os::unix::process::CommandExt;
    let slave = pty.path.clone();
    // SAFETY: only async-signal-safe calls (setsid, open, ioctl, dup2) run
    // between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            let fd = nix::fcntl::open(
                slave.as_str(),
                nix::fcntl::OFlag::O_RDWR,
                nix::sys::stat::Mode::empty(),
            )
            .map_err(std::io::Error::from)?;
            use std::os::fd::AsRawFd;
            if libc::ioctl(fd.as_raw_fd(), libc::TIOCSCTTY, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            for target in 0..3 {
                if libc::dup2(fd.as_raw_fd(), target) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    cmd
}

// ----- helpers for the adversarial suite (tests/adversarial_*.rs) -----

/// `keygate ARGS` spawned with stdout and stderr piped, in a process
/// group of its own that is killed when the guard is dropped.
pub fn spawn(sim: &Sim, args: &[&str]) -> ChildGuard {
    spawn_command(keygate(sim, args))
}

fn spawn_command(mut cmd: Command) -> ChildGuard {
    use std::os::unix::process::CommandExt;
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn_guarded()
}

/// `keygate gate ARGS` spawned like [`spawn`]; with `notify`, as under
/// systemd (`NOTIFY_SOCKET` set, so ask-password is on by default).
pub fn spawn_gate(sim: &Sim, notify: Option<&NotifySocket>, args: &[&str]) -> ChildGuard {
    let mut argv = vec!["gate"];
    argv.extend_from_slice(args);
    let mut cmd = keygate(sim, &argv);
    if let Some(n) = notify {
        cmd.env("NOTIFY_SOCKET", n.path());
    }
    spawn_command(cmd)
}

/// A prompting gate on `consoles` (poll every 200 ms), plus `extra` args.
pub fn spawn_prompt(sim: &Sim, consoles: &[&Pty], extra: &[&str]) -> ChildGuard {
    let mut args: Vec<&str> = vec!["--mode", "prompt", "--poll-interval", "200ms"];
    for c in consoles {
        args.push("--console");
        args.push(&c.path);
    }
    args.extend_from_slice(extra);
    spawn_gate(sim, None, &args)
}

/// A waiting gate (no polls unless `extra` asks for them) whose control
/// socket is up when this returns.
pub fn spawn_wait(sim: &Sim, extra: &[&str]) -> ChildGuard {
    let mut args = vec!["--mode", "wait"];
    if !extra.contains(&"--poll-interval") {
        args.extend_from_slice(&["--poll-interval", "1h"]);
    }
    args.extend_from_slice(extra);
    let child = spawn_gate(sim, None, &args);
    let socket = default_socket(sim);
    // Up means answering: the file exists from bind() on, before listen().
    assert!(
        eventually(Duration::from_secs(20), || {
            std::os::unix::net::UnixStream::connect(&socket).is_ok()
        }),
        "the gate never answered on its socket"
    );
    child
}

/// The bytes of `KEYGATE/1 UNLOCK N\n` followed by the passphrase.
pub fn unlock_request(pass: &[u8]) -> Vec<u8> {
    let mut r = format!("KEYGATE/1 UNLOCK {}\n", pass.len()).into_bytes();
    r.extend_from_slice(pass);
    r
}

/// The roots the gate still reports as locked, asked over its socket.
pub fn locked_by_status(sim: &Sim) -> Vec<String> {
    let answer = control_exchange(&default_socket(sim), b"KEYGATE/1 STATUS\n");
    assert!(answer.starts_with("KEYGATE/1 OK\n"), "{answer}");
    answer
        .lines()
        .filter_map(|l| l.strip_prefix("locked\t"))
        .map(str::to_owned)
        .collect()
}

/// Whether the process has exited (gone or a zombie).
pub fn exited(child: &Child) -> bool {
    match std::fs::read_to_string(format!("/proc/{}/stat", child.id())) {
        Ok(s) => s.contains(") Z ") || s.contains(") X "),
        Err(_) => true,
    }
}

/// The one-letter state of a process (`S`, `T`, `Z`, ...).
pub fn process_state(pid: u32) -> char {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rfind(')')
        .and_then(|i| stat[i + 1..].trim_start().chars().next())
        .unwrap_or('?')
}

/// Direct children of a process (any of its threads).
pub fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            let text = std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
            out.extend(
                text.split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
    }
    out
}

/// How many descriptors a process holds open.
pub fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// How many threads a process runs.
pub fn thread_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Peak resident memory of a process, in KiB.
pub fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Whether `needle` occurs in `hay`.
pub fn contains_bytes(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// The secret appears nowhere the gate could have left it: its stdout and
/// stderr, `screens` (what consoles showed), the simulator's call log (zfs
/// argv) and every file under the test's host root (sockets, ask files).
/// The simulator's own state file, which holds the keys, is not looked at.
pub fn assert_not_leaked(sim: &Sim, out: &std::process::Output, screens: &[&str], secret: &[u8]) {
    let shown = String::from_utf8_lossy(secret).into_owned();
    assert!(!contains_bytes(&out.stdout, secret), "{shown:?} on stdout");
    assert!(!contains_bytes(&out.stderr, secret), "{shown:?} on stderr");
    for s in screens {
        assert!(
            !contains_bytes(s.as_bytes(), secret),
            "{shown:?} on a console"
        );
    }
    let mut files = vec![sim.state_dir().join("calls.log")];
    let mut dirs = vec![host_root(sim)];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => dirs.push(p),
                Ok(t) if t.is_file() => files.push(p),
                _ => {}
            }
        }
    }
    for f in files {
        let bytes = std::fs::read(&f).unwrap_or_default();
        assert!(
            !contains_bytes(&bytes, secret),
            "{shown:?} in {}",
            f.display()
        );
    }
}

/// The signal a finished child died by, if any.
pub fn died_by(out: &std::process::Output) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt;
    out.status.signal()
}

/// Ends a gate that is still waiting (SIGTERM) and returns its output.
pub fn stop(gate: ChildGuard) -> std::process::Output {
    signal(&gate, Signal::SIGTERM);
    finish(gate, crate::common::TIMEOUT)
}
