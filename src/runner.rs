//! Running an external program (zfs, mount, umount, ...): an argument list
//! (never a shell), a hard timeout after which the call's whole process group
//! is killed, its output captured, its stdin fed only by the caller (the one
//! way a secret reaches a program), and its stderr carried in the errors.

use std::io::{self, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::text::printable;

/// Environment variables a child must not inherit from a gate running
/// under a service manager.
const SCRUBBED_ENV: &[&str] = &["NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID"];

/// Writes a call's stdin (a key, for `load-key`); stdin closes when it returns.
pub type Feeder<'a> = &'a dyn Fn(&mut ChildStdin) -> io::Result<()>;

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

        let stdout = child.stdout.take().map(|s| spawn_reader(s, 64 << 20));
        let stderr = child.stderr.take().map(|s| spawn_reader(s, 1 << 20));
        if let (Some(feed), Some(mut stdin)) = (feed, child.stdin.take()) {
            // A child that exits without reading gives EPIPE: not our error,
            // its exit status says what went wrong.
            match feed(&mut stdin) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
                Err(e) => {
                    kill_group(&child);
                    let _ = child.wait();
                    return Err(RunError::Spawn {
                        program: self.program.display().to_string(),
                        source: e,
                    });
                }
            }
            drop(stdin);
        }

        let status = match wait_with_deadline(&mut child, self.timeout) {
            Ok(Some(status)) => status,
            Ok(None) => {
                kill_group(&child);
                let _ = child.wait();
                return Err(RunError::TimedOut {
                    call,
                    timeout: self.timeout,
                });
            }
            Err(source) => {
                kill_group(&child);
                let _ = child.wait();
                return Err(RunError::Spawn {
                    program: self.program.display().to_string(),
                    source,
                });
            }
        };
        // The call is over; anything its descendants still hold open must
        // not keep us waiting for EOF.
        kill_group(&child);
        let stdout = stdout.map(join_reader).unwrap_or_default();
        let stderr = stderr.map(join_reader).unwrap_or_default();
        Ok(CallOutput {
            status,
            stdout,
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        })
    }
}

fn kill_group(child: &Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

/// Wait for the child, polling with a growing interval (a call usually
/// ends within milliseconds; the poll never exceeds 50 ms).
fn wait_with_deadline(child: &mut Child, timeout: Duration) -> io::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(50));
    }
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

fn join_reader(r: Reader) -> Vec<u8> {
    r.join().unwrap_or_default()
}
