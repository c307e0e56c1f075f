//! Running children so that none outlives its test: [`ChildGuard`] kills
//! and reaps a spawned child (its whole process group when it leads one)
//! when dropped, on every path, panics included; [`run_timed`] runs a
//! command to its end under a timeout in a process group of its own.

use std::io::{Read, Write};
use std::ops::{Deref, DerefMut};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::{Pid, getpgid};

/// A spawned child that is killed and reaped when the guard is dropped,
/// unless it has been waited for already. When the child leads a process
/// group (spawned with `process_group(0)`, or it called `setsid`), the
/// whole group is killed, so its own children (zfs, an agent) go too.
/// Derefs to the [`Child`].
pub struct ChildGuard {
    child: Option<Child>,
    leads_group: bool,
}

impl ChildGuard {
    pub fn new(child: Child) -> ChildGuard {
        let pid = Pid::from_raw(child.id() as i32);
        // spawn() returned, so the child has exec'd with its final group.
        let leads_group = getpgid(Some(pid)) == Ok(pid);
        ChildGuard {
            child: Some(child),
            leads_group,
        }
    }

    /// Waits for the child, killing it (its group) after `timeout`, and
    /// returns its output; what is left of its group is killed after.
    pub fn finish(mut self, timeout: Duration) -> Output {
        let child = self.child.take().expect("a guarded child");
        let pid = Pid::from_raw(child.id() as i32);
        let leads_group = self.leads_group;
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
            kill_all(pid, leads_group);
        });
        let out = child.wait_with_output().expect("waiting for a child");
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = killer.join();
        if leads_group {
            let _ = killpg(pid, Signal::SIGKILL);
        }
        out
    }
}

/// Kills the child (its group when it leads one) and every process below
/// it, each descendant that leads a group of its own (a zfs call the runner
/// put in its own group) with that group: they are found while the child
/// still lives, since an orphan is the init process's, no longer its.
fn kill_all(pid: Pid, leads_group: bool) {
    let below = descendants(pid.as_raw() as u32);
    if leads_group {
        let _ = killpg(pid, Signal::SIGKILL);
    } else {
        let _ = kill(pid, Signal::SIGKILL);
    }
    for d in below {
        let d = Pid::from_raw(d as i32);
        if getpgid(Some(d)) == Ok(d) {
            let _ = killpg(d, Signal::SIGKILL);
        } else {
            let _ = kill(d, Signal::SIGKILL);
        }
    }
}

/// Every process below `pid` (children of each of its threads, recursively).
fn descendants(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for t in tasks.flatten() {
            let text = std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
            for c in text
                .split_whitespace()
                .filter_map(|c| c.parse::<u32>().ok())
            {
                if !found.contains(&c) {
                    found.push(c);
                    todo.push(c);
                }
            }
        }
    }
    found
}

/// Whether `pid` is a child of this process that has not been reaped yet.
fn unreaped_child(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // After the parenthesised command name: state, then the parent's pid.
    let ppid = stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().nth(1))
        .and_then(|p| p.parse::<u32>().ok());
    ppid == Some(std::process::id())
}

impl Deref for ChildGuard {
    type Target = Child;
    fn deref(&self) -> &Child {
        self.child.as_ref().expect("a guarded child")
    }
}

impl DerefMut for ChildGuard {
    fn deref_mut(&mut self) -> &mut Child {
        self.child.as_mut().expect("a guarded child")
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // Reaped already (the test waited for it by pid): the pid is no
        // longer this child's, so nothing is sent to it.
        if !unreaped_child(child.id()) {
            return;
        }
        // Not reaped yet (a zombie at most), so the pid and the group id
        // still belong to this child.
        kill_all(Pid::from_raw(child.id() as i32), self.leads_group);
        let _ = child.wait();
    }
}

/// `Command::spawn` returning a [`ChildGuard`].
pub trait SpawnGuarded {
    fn spawn_guarded(&mut self) -> ChildGuard;
}

impl SpawnGuarded for Command {
    #[track_caller]
    fn spawn_guarded(&mut self) -> ChildGuard {
        let child = self
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {self:?}: {e}"));
        ChildGuard::new(child)
    }
}

/// This test binary run again for its `#[ignore]`d test `name` alone: a
/// child entry point that the test re-runs as a process of its own, its
/// output not captured, on one thread.
pub fn rerun_ignored(name: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("current_exe"));
    cmd.args([
        "--ignored",
        "--exact",
        name,
        "--nocapture",
        "--test-threads=1",
    ]);
    cmd
}

/// The result of [`run_timed`].
pub struct Timed {
    pub output: Output,
    pub timed_out: bool,
    pub elapsed: Duration,
}

/// Runs `cmd` with stdin from /dev/null, killing its whole process group
/// after `timeout`. Returns its output (killed: by SIGKILL).
pub fn run_with_timeout(mut cmd: Command, timeout: Duration) -> Output {
    cmd.stdin(Stdio::null());
    run_timed(cmd, None, timeout).output
}

/// Like [`run_with_timeout`], with `input` written to the child's stdin
/// (then closed).
pub fn run_with_input(cmd: Command, input: &[u8], timeout: Duration) -> Output {
    run_timed(cmd, Some(input), timeout).output
}

/// Runs `cmd` in a new process group; stdout and stderr are captured.
/// With `input`, stdin is a pipe fed with it; otherwise stdin is whatever
/// `cmd` says. After `timeout`, or once the child has exited, the rest of
/// its process group is killed so leftover grandchildren cannot hold the
/// pipes open.
pub fn run_timed(mut cmd: Command, input: Option<&[u8]>, timeout: Duration) -> Timed {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    if input.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let start = Instant::now();
    let mut child: Child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {cmd:?}: {e}"));
    let pgid = Pid::from_raw(child.id() as i32);
    let writer = input.map(|data| {
        let data = data.to_vec();
        let mut stdin = child.stdin.take().expect("piped stdin");
        thread::spawn(move || {
            let _ = stdin.write_all(&data);
        })
    });
    let reader = |r: Option<Box<dyn Read + Send>>| {
        thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out_t = reader(
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let err_t = reader(
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() >= timeout => {
                timed_out = true;
                let _ = killpg(pgid, Signal::SIGKILL);
                break child.wait().expect("waiting for the killed child");
            }
            Ok(None) => thread::sleep(Duration::from_millis(5)),
            Err(e) => panic!("waiting for {cmd:?}: {e}"),
        }
    };
    let elapsed = start.elapsed();
    let _ = killpg(pgid, Signal::SIGKILL);
    if let Some(w) = writer {
        let _ = w.join();
    }
    let stdout = out_t.join().unwrap_or_default();
    let stderr = err_t.join().unwrap_or_default();
    Timed {
        output: Output {
            status,
            stdout,
            stderr,
        },
        timed_out,
        elapsed,
    }
}
