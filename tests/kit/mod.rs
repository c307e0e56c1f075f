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

use crate::common::{Sim, keygate_bin};

/// `keygate ARGS` against `sim`, with no service manager in its environment
/// (the test's own may have one) and host paths under `root`.
pub fn keygate(sim: &Sim, args: &[&str]) -> Command {
    let mut c = Command::new(keygate_bin());
    c.args(args).envs(sim.envs()).stdin(Stdio::null());
    for var in ["NOTIFY_SOCKET", "SMF_FMRI", "RC_SVCNAME", "KEYGATE_ROOT"] {
        c.env_remove(var);
    }
    c
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

/// Wait for a spawned child, killing it after `timeout`. Returns its output.
pub fn finish(child: Child, timeout: Duration) -> std::process::Output {
    let pid = Pid::from_raw(child.id() as i32);
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = done.clone();
    let killer = thread::spawn(move || {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if flag.load(std::sync::atomic::Ordering::SeqCst) {
                return;
            }
            thread::sleep(Duration::from_millis(10));
        }
        let _ = kill(pid, Signal::SIGKILL);
    });
    let out = child.wait_with_output().unwrap();
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = killer.join();
    out
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
