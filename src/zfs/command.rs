//! The `zfs` program on the generic [`Runner`]: its errors in zfs's terms.

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::runner::{CallOutput, Feeder, RunError, Runner};
use crate::text::printable;

/// How the zfs program is found and how long one call may take.
#[derive(Debug, Clone)]
pub struct Zfs {
    runner: Runner,
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

impl From<RunError> for ZfsError {
    fn from(e: RunError) -> ZfsError {
        match e {
            RunError::NotFound { program } => ZfsError::NotFound { program },
            RunError::Spawn { program, source } => ZfsError::Spawn { program, source },
            RunError::TimedOut { call, timeout } => ZfsError::TimedOut { call, timeout },
        }
    }
}

impl Zfs {
    pub fn new(program: impl Into<PathBuf>, timeout: Duration) -> Zfs {
        Zfs {
            runner: Runner::new(program, timeout),
        }
    }

    pub fn program(&self) -> &Path {
        self.runner.program()
    }

    /// How long one call may take.
    pub fn timeout(&self) -> Duration {
        self.runner.timeout()
    }

    /// How a call is named in messages: `zfs get ...` with the arguments,
    /// abbreviated when a long dataset list would drown the message.
    pub fn describe(&self, args: &[&str]) -> String {
        self.runner.describe(args)
    }

    /// Run `zfs ARGS`, feeding stdin with `feed` (stdin is /dev/null when no
    /// feeder is given). Returns whatever the call printed and its status;
    /// a non-zero exit is not an error here, callers decide what it means.
    pub fn run(&self, args: &[&str], feed: Option<Feeder<'_>>) -> Result<CallOutput, ZfsError> {
        Ok(self.runner.run(args, feed)?)
    }
}
