//! Running an external program (zfs, mount, umount, ...): an argument list
//! (never a shell), a hard timeout after which the call's whole process group
//! is killed, its output captured, its stdin fed only by the caller (the one
//! way a secret reaches a program), and its stderr carried in the errors.

use std::io::{self, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use zeroize::Zeroize;

use crate::secret::Secret;
use crate::text::printable;

/// Environment variables a child must not inherit from a gate running
/// under a service manager.
const SCRUBBED_ENV: &[&str] = &["NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID"];

/// Writes a call's stdin (a key, for `load-key`); stdin closes when it
/// returns. It runs on a thread of its own while the call's deadline runs.
pub type Feeder<'a> = &'a (dyn Fn(&mut ChildStdin) -> io::Result<()> + Sync);

/// A program and how long one call of it may take.
#[derive(Debug, Clone)]
pub struct Runner {
    program: PathBuf,
    timeout: Duration,
}

/// What a finished call left behind.
#[derive(Debug)]
pub struct CallOutput {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl CallOutput {
    /// The exit code, or None when the call died by a signal.
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
}

/// Why a call did not run to its end. A non-zero exit is not one of them:
/// callers decide what it means.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("the program '{program}' was not found")]
    NotFound { program: String },
    #[error("cannot run '{program}': {source}")]
    Spawn { program: String, source: io::Error },
    #[error("'{call}' timed out after {timeout:?} and was killed")]
    TimedOut { call: String, timeout: Duration },
}

/// The first non-empty line of a program's stderr, or what its exit status
/// says when it printed nothing; `what` names the program.
pub fn first_line(stderr: &str, what: &str, code: Option<i32>) -> String {
    match stderr.lines().map(str::trim).find(|l| !l.is_empty()) {
        Some(l) => l.to_string(),
        None => match code {
            Some(c) => format!("{what} exited with status {c}"),
            None => format!("{what} was killed by a signal"),
        },
    }
}

impl Runner {
    pub fn new(program: impl Into<PathBuf>, timeout: Duration) -> Runner {
        Runner {
            program: program.into(),
            timeout,
        }
    }

    pub fn program(&self) -> &Path {
        &self.program
    }

    /// How long one call may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// How a call is named in messages: the program with the arguments,
    /// abbreviated when a long dataset list would drown the message.
    pub fn describe(&self, args: &[&str]) -> String {
        let mut words = vec![self.program.display().to_string()];
        for (i, a) in args.iter().enumerate() {
            if i >= 12 {
                words.push(format!("... ({} more)", args.len() - i));
                break;
            }
            words.push(printable(a).into_owned());
        }
        words.join(" ")
    }

    /// Run `PROGRAM ARGS`, feeding stdin with `feed` (stdin is /dev/null when no
    /// feeder is given). Returns whatever the call printed and its status;
    /// a non-zero exit is not an error here, callers decide what it means.
    pub fn run(&self, args: &[&str], feed: Option<Feeder<'_>>) -> Result<CallOutput, RunError> {
        let (status, stdout, stderr) =
            self.call(args, feed, None, |s| spawn_reader(s, 64 << 20))?;
        Ok(CallOutput {
            status,
            stdout,
            stderr,
        })
    }

    /// Like [`Runner::run`] for a program that prints a secret (a key
    /// provider): its stdout goes straight from the pipe into a [`Secret`]
    /// of `limit` bytes at most (the rest is drained and only counted), and
    /// `group` lets another thread kill the call's process group while it
    /// runs.
    pub fn run_secret(
        &self,
        args: &[&str],
        feed: Option<Feeder<'_>>,
        limit: usize,
        group: &Group,
    ) -> Result<SecretOutput, RunError> {
        let (status, (stdout, total), stderr) = self.call(args, feed, Some(group), move |s| {
            spawn_secret_reader(s, limit)
        })?;
        Ok(SecretOutput {
            status,
            stdout,
            total,
            stderr,
        })
    }

    fn call<T: Send + Default + 'static>(
        &self,
        args: &[&str],
        feed: Option<Feeder<'_>>,
        group: Option<&Group>,
        read_stdout: impl FnOnce(ChildStdout) -> thread::JoinHandle<T>,
    ) -> Result<(ExitStatus, T, String), RunError> {
        let call = self.describe(args);
        let mut cmd = Command::new(&self.program);
        cmd.args(args)
            .stdin(if feed.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("LC_ALL", "C")
            // Its own process group, so a timeout can kill every process
            // the call started (a wrapper script and its children alike).
            .process_group(0);
        for var in SCRUBBED_ENV {
            cmd.env_remove(var);
        }
        let mut child = cmd.spawn().map_err(|source| {
            if source.kind() == io::ErrorKind::NotFound {
                RunError::NotFound {
                    program: self.program.display().to_string(),
                }
            } else {
                RunError::Spawn {
                    program: self.program.display().to_string(),
                    source,
                }
            }
        })?;
        let _registered = group.map(|g| g.register(&child));

        let stdout = child.stdout.take().map(read_stdout);
        let stderr = child.stderr.take().map(|s| spawn_reader(s, 1 << 20));
        let stdin = child.stdin.take();
        let pid = child.id();
        let (waited, fed) = thread::scope(|s| {
            // stdin is written on a thread of its own while the deadline
            // runs: a program that never reads it cannot hold the call past
            // its timeout (the kill ends the write with EPIPE).
            let feeding = match (feed, stdin) {
                (Some(feed), Some(mut stdin)) => Some(s.spawn(move || {
                    let fed = feed(&mut stdin);
                    drop(stdin);
                    // A child that exits without reading gives EPIPE: not our
                    // error, its exit status says what went wrong. Any other
                    // failure ends the call.
                    match fed {
                        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
                            if let Ok(pid) = i32::try_from(pid) {
                                let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
                            }
                            Err(e)
                        }
                        _ => Ok(()),
                    }
                })),
                _ => None,
            };
            let waited = wait_with_deadline(&mut child, self.timeout);
            // The call is over (or given up): anything of its group still
            // holding stdin must not keep the writer waiting.
            kill_group(&child);
            let fed = feeding.map(|h| h.join().unwrap_or(Ok(())));
            (waited, fed)
        });
        if let Some(Err(source)) = fed {
            let _ = child.wait();
            return Err(RunError::Spawn {
                program: self.program.display().to_string(),
                source,
            });
        }
        let status = match waited {
            Ok(Some(status)) => status,
            Ok(None) => {
                let _ = child.wait();
                return Err(RunError::TimedOut {
                    call,
                    timeout: self.timeout,
                });
            }
            Err(source) => {
                let _ = child.wait();
                return Err(RunError::Spawn {
                    program: self.program.display().to_string(),
                    source,
                });
            }
        };
        let stdout = stdout.map(join_reader).unwrap_or_default();
        let stderr = stderr.map(join_reader).unwrap_or_default();
        Ok((
            status,
            stdout,
            String::from_utf8_lossy(&stderr).into_owned(),
        ))
    }
}

/// What a finished call of a program that prints a secret left behind.
#[derive(Debug)]
pub struct SecretOutput {
    pub status: ExitStatus,
    /// Its stdout, up to the limit.
    pub stdout: Secret,
    /// How many bytes it printed on stdout in all.
    pub total: usize,
    pub stderr: String,
}

/// The process group of a call that is running, for another thread to kill
/// (a gate that is done kills its providers still at work). Killing first
/// and running later kills the call as soon as it starts.
#[derive(Debug, Clone, Default)]
pub struct Group(Arc<Mutex<GroupState>>);

#[derive(Debug, Default)]
struct GroupState {
    running: Option<i32>,
    killed: bool,
}

/// Unregisters the call from its [`Group`] when the call returns.
struct Registered<'a>(&'a Group);

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.0.lock().running = None;
    }
}

impl Group {
    fn lock(&self) -> std::sync::MutexGuard<'_, GroupState> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn register(&self, child: &Child) -> Registered<'_> {
        let mut state = self.lock();
        let pid = i32::try_from(child.id()).ok();
        state.running = pid;
        if state.killed
            && let Some(pid) = pid
        {
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        }
        Registered(self)
    }

    /// Kill the running call's whole process group, and any call made
    /// from now on as soon as it starts.
    pub fn kill(&self) {
        let mut state = self.lock();
        state.killed = true;
        if let Some(pid) = state.running {
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

fn kill_group(child: &Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

/// Wait for the child, at most `timeout`. The wait blocks on a helper
/// thread, so the exit is seen the moment it happens: a poll would add up to
/// its interval to every call, `keygate check` included. At the deadline the
/// child's group is killed, which ends the helper's wait.
fn wait_with_deadline(child: &mut Child, timeout: Duration) -> io::Result<Option<ExitStatus>> {
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    thread::scope(|s| {
        thread::Builder::new()
            .name("child wait".into())
            .spawn_scoped(s, move || {
                let _ = tx.send(child.wait());
            })?;
        match rx.recv_timeout(timeout) {
            Ok(waited) => waited.map(Some),
            Err(_) => {
                if let Ok(pid) = i32::try_from(pid) {
                    let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
                }
                let _ = rx.recv();
                Ok(None)
            }
        }
    })
}

type Reader = thread::JoinHandle<Vec<u8>>;

/// Read a pipe to the end on its own thread, keeping at most `limit` bytes
/// (the rest is drained so the child never blocks on a full pipe).
fn spawn_reader(mut src: impl Read + Send + 'static, limit: usize) -> Reader {
    thread::spawn(move || {
        let mut kept = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        loop {
            match src.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    let room = limit.saturating_sub(kept.len());
                    kept.extend_from_slice(&buf[..n.min(room)]);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        kept
    })
}

fn join_reader<T: Default>(r: thread::JoinHandle<T>) -> T {
    r.join().unwrap_or_default()
}

/// Read a pipe to the end into a [`Secret`] of `limit` bytes (read in
/// place, never through another buffer); what does not fit is drained into
/// a scratch buffer that is wiped, and counted. Returns the secret and the
/// number of bytes read in all.
fn spawn_secret_reader(
    mut src: impl Read + Send + 'static,
    limit: usize,
) -> thread::JoinHandle<(Secret, usize)> {
    thread::spawn(move || {
        let mut secret = Secret::with_capacity(limit);
        let mut total = 0usize;
        loop {
            let read = if secret.len() < limit {
                secret.append_with(|buf| src.read(buf))
            } else {
                let mut scratch = [0u8; 4096];
                let n = src.read(&mut scratch);
                scratch.zeroize();
                n
            };
            match read {
                Ok(0) => break,
                Ok(n) => total = total.saturating_add(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        (secret, total)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_call_that_never_reads_its_stdin_is_killed_at_its_timeout() {
        let runner = Runner::new("sleep", Duration::from_millis(300));
        let big = vec![b'x'; 4 << 20];
        let feed = |stdin: &mut ChildStdin| std::io::Write::write_all(stdin, &big);
        let t = Instant::now();
        let err = runner.run(&["30"], Some(&feed)).expect_err("times out");
        assert!(matches!(err, RunError::TimedOut { .. }), "{err}");
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    }

    #[test]
    fn a_secret_is_read_up_to_its_limit_and_the_rest_counted() {
        let runner = Runner::new("head", Duration::from_secs(10));
        let out = runner
            .run_secret(
                &["-c", "100000", "/dev/zero"],
                None,
                4096,
                &Group::default(),
            )
            .unwrap();
        assert_eq!(out.total, 100_000);
        assert_eq!(out.stdout.len(), 4096);
    }

    #[test]
    fn a_call_past_its_timeout_is_killed() {
        let runner = Runner::new("sleep", Duration::from_millis(200));
        let t = Instant::now();
        let err = runner.run(&["30"], None).expect_err("times out");
        assert!(matches!(err, RunError::TimedOut { .. }), "{err}");
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    }
}
