//! Spawning `zfs` with a timeout, capturing its output, feeding its stdin.

use std::io::{self, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::text::printable;

/// Environment variables a zfs child must not inherit from a gate running
/// under a service manager.
const SCRUBBED_ENV: &[&str] = &["NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID"];

/// Writes a call's stdin (a key, for `load-key`); stdin closes when it returns.
pub type Feeder<'a> = &'a dyn Fn(&mut ChildStdin) -> io::Result<()>;

/// How the zfs program is found and how long one call may take.
#[derive(Debug, Clone)]
pub struct Zfs {
    program: PathBuf,
    timeout: Duration,
}

/// What a finished zfs call left behind.
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

/// Errors a caller may branch on.
#[derive(Debug, thiserror::Error)]
pub enum ZfsError {
    #[error("the zfs program '{program}' was not found (use --zfs PATH to name it)")]
    NotFound { program: String },
    #[error("cannot run '{program}': {source}")]
    Spawn { program: String, source: io::Error },
    #[error(
        "'{call}' timed out after {timeout:?} and was killed (raise --zfs-timeout if zfs is just slow)"
    )]
    TimedOut { call: String, timeout: Duration },
    #[error("'{call}' {how}{detail}")]
    Failed {
        call: String,
        how: String,
        detail: String,
    },
    #[error("dataset does not exist: {}", names.join(", "))]
    DatasetMissing { names: Vec<String> },
    #[error("cannot understand the output of '{call}': line {line}: {reason}")]
    Parse {
        call: String,
        line: usize,
        reason: String,
    },
}

impl ZfsError {
    /// Errors that come from what the user asked for (a missing program or
    /// dataset), as opposed to zfs misbehaving at run time.
    pub fn is_configuration(&self) -> bool {
        matches!(
            self,
            ZfsError::NotFound { .. } | ZfsError::DatasetMissing { .. }
        )
    }

    pub(crate) fn failed(call: &str, out: &CallOutput) -> ZfsError {
        let how = match (out.status.code(), out.status.signal()) {
            (Some(code), _) => format!("exited with status {code}"),
            (None, Some(sig)) => format!("was killed by signal {sig}"),
            (None, None) => "failed".to_string(),
        };
        let stderr = out.stderr.trim();
        let detail = if stderr.is_empty() {
            String::new()
        } else {
            format!(": {}", first_lines(stderr, 3))
        };
        ZfsError::Failed {
            call: call.to_string(),
            how,
            detail,
        }
    }
}

fn first_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().take(n).collect();
    let more = text.lines().count() > n;
    let mut s = printable(&lines.join(" / ")).into_owned();
    if more {
        s.push_str(" ...");
    }
    s
}

impl Zfs {
    pub fn new(program: impl Into<PathBuf>, timeout: Duration) -> Zfs {
        Zfs {
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

    /// How a call is named in messages: `zfs get ...` with the arguments,
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

    /// Run `zfs ARGS`, feeding stdin with `feed` (stdin is /dev/null when no
    /// feeder is given). Returns whatever the call printed and its status;
    /// a non-zero exit is not an error here, callers decide what it means.
    pub fn run(&self, args: &[&str], feed: Option<Feeder<'_>>) -> Result<CallOutput, ZfsError> {
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
                ZfsError::NotFound {
                    program: self.program.display().to_string(),
                }
            } else {
                ZfsError::Spawn {
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
                    return Err(ZfsError::Spawn {
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
                return Err(ZfsError::TimedOut {
                    call,
                    timeout: self.timeout,
                });
            }
            Err(source) => {
                kill_group(&child);
                let _ = child.wait();
                return Err(ZfsError::Spawn {
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

/// Wait for the child, at most `timeout`. The wait blocks on a helper
/// thread, so the exit is seen the moment it happens: a poll would add up to
/// its interval (it grew to 50 ms) to every call, `keygate check` included.
/// At the deadline the child's group is killed, which ends the helper's wait.
fn wait_with_deadline(child: &mut Child, timeout: Duration) -> io::Result<Option<ExitStatus>> {
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    thread::scope(|s| {
        thread::Builder::new()
            .name("zfs wait".into())
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

fn join_reader(r: Reader) -> Vec<u8> {
    r.join().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// A call's end is seen when the process exits, not at a later poll:
    /// a poll doubling from 1 ms to 50 ms would see a 120 ms call at about
    /// 163 ms. The best of five runs keeps a busy machine from failing it.
    #[test]
    fn a_call_ends_when_the_process_exits() {
        let zfs = Zfs::new("sleep", Duration::from_secs(10));
        let best = (0..5)
            .map(|_| {
                let t = Instant::now();
                let out = zfs.run(&["0.12"], None).expect("sleep runs");
                assert_eq!(out.code(), Some(0));
                t.elapsed()
            })
            .min()
            .unwrap();
        assert!(best < Duration::from_millis(145), "took {best:?}");
    }

    #[test]
    fn a_call_past_its_timeout_is_killed() {
        let zfs = Zfs::new("sleep", Duration::from_millis(200));
        let t = Instant::now();
        let err = zfs.run(&["30"], None).expect_err("times out");
        assert!(matches!(err, ZfsError::TimedOut { .. }), "{err}");
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    }
}
