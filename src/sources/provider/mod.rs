//! Key providers (`[[provider]]`): programs that print a passphrase without
//! anyone typing it (`clevis decrypt` of a JWE sealed to the TPM or a Tang
//! server, or any command). Each runs once, on its own thread, beside the
//! prompts: at most one [`Event::Passphrase`] or one [`Event::SourceEnded`]
//! saying why it gave none.
//!
//! The program runs through the [`Runner`] (argument list, its own process
//! group, killed at its timeout); its stdout goes from the pipe straight
//! into a [`Secret`]; its stderr goes to the log, escaped.

pub mod settings;

use std::io::Write;
use std::path::Path;
use std::sync::mpsc::{self, Sender};
use std::time::{Duration, Instant};

use crate::report::Reporter;
use crate::runner::{Group, RunError, Runner, first_line};
use crate::secret::Secret;
use crate::service::Manager;
use crate::text::printable;

use self::settings::{MAX_OUTPUT, ProviderSettings};
use super::{Event, SourceHandle, SourceId};

/// How often a provider looks for the path it waits for.
const WAIT_STEP: Duration = Duration::from_millis(100);

/// A started provider: its thread, and the process group of its program
/// for the gate to kill when it is done before the provider is.
pub struct Running {
    pub source: SourceHandle,
    pub group: Group,
}

/// Start `provider` on a thread of its own. `wait_for` is its `wait_for`
/// path resolved under the host root.
pub fn spawn(
    provider: ProviderSettings,
    wait_for: Option<std::path::PathBuf>,
    events: Sender<Event>,
    manager: Manager,
) -> std::io::Result<Running> {
    let id = SourceId::Provider(provider.name.clone());
    let group = Group::default();
    let thread_group = group.clone();
    let thread_id = id.clone();
    let handle = std::thread::Builder::new()
        .name(format!("provider {}", provider.name))
        .spawn(move || {
            let log = Reporter::new(manager, Vec::new());
            let event = match obtain(&provider, wait_for.as_deref(), &thread_group, &log) {
                Ok(secret) => {
                    let (reply, answer) = mpsc::channel();
                    let sent = events.send(Event::Passphrase {
                        source: thread_id,
                        secret,
                        reply,
                    });
                    if sent.is_ok() {
                        let _ = answer.recv();
                    }
                    return;
                }
                Err(reason) => Event::SourceEnded {
                    source: thread_id,
                    reason,
                },
            };
            let _ = events.send(event);
        })?;
    Ok(Running {
        source: SourceHandle { id, handle },
        group,
    })
}

/// Run the provider and take its passphrase, or say why there is none.
fn obtain(
    p: &ProviderSettings,
    wait_for: Option<&Path>,
    group: &Group,
    log: &Reporter,
) -> Result<Secret, String> {
    let start = Instant::now();
    if let Some(path) = wait_for {
        while !path.exists() {
            if start.elapsed() >= p.timeout {
                return Err(format!(
                    "{} did not appear within {}",
                    path.display(),
                    crate::settings::show(p.timeout)
                ));
            }
            std::thread::sleep(WAIT_STEP);
        }
    }
    let input = match &p.input {
        Some(path) => Some(
            std::fs::read(path)
                .map_err(|e| format!("cannot read its input {}: {e}", path.display()))?,
        ),
        None => None,
    };
    let left = p.timeout.saturating_sub(start.elapsed()).max(WAIT_STEP);
    let runner = Runner::new(&p.command[0], left);
    let args: Vec<&str> = p.command[1..].iter().map(String::as_str).collect();
    let feed = |stdin: &mut std::process::ChildStdin| match &input {
        Some(bytes) => stdin.write_all(bytes),
        None => Ok(()),
    };
    let out = runner
        .run_secret(
            &args,
            input.as_ref().map(|_| &feed as crate::runner::Feeder<'_>),
            MAX_OUTPUT,
            group,
        )
        .map_err(|e| match e {
            RunError::TimedOut { .. } => format!(
                "gave nothing within its timeout of {} and was killed",
                crate::settings::show(p.timeout)
            ),
            other => other.to_string(),
        })?;
    for line in out.stderr.lines().filter(|l| !l.trim().is_empty()).take(20) {
        log.info(&format!("provider {}: {}", p.name, printable(line)));
    }
    if out.status.code() != Some(0) {
        let why = first_line(&out.stderr, &p.command[0], out.status.code());
        return Err(printable(&why).into_owned());
    }
    let mut secret = out.stdout;
    if let Some(problem) = junk(&mut secret, out.total) {
        return Err(problem);
    }
    Ok(secret)
}

/// Strip one trailing newline; say why the rest cannot be a passphrase, if
/// it cannot.
fn junk(secret: &mut Secret, total: usize) -> Option<String> {
    if total > MAX_OUTPUT {
        return Some(format!(
            "printed {total} bytes, more than a passphrase can be ({MAX_OUTPUT} at most)"
        ));
    }
    if secret.expose().last() == Some(&b'\n') {
        secret.truncate(secret.len() - 1);
    }
    let bytes = secret.expose();
    if bytes.is_empty() {
        return Some("printed no passphrase".into());
    }
    if bytes.contains(&0) {
        return Some("printed a NUL byte, which no passphrase holds".into());
    }
    if bytes.contains(&b'\n') {
        return Some("printed more than one line".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(bytes: &[u8]) -> Result<Vec<u8>, String> {
        let mut s = Secret::from_slice(bytes);
        match junk(&mut s, bytes.len()) {
            Some(p) => Err(p),
            None => Ok(s.expose().to_vec()),
        }
    }

    #[test]
    fn one_trailing_newline_is_stripped() {
        assert_eq!(check(b"hunter2hunter2\n").unwrap(), b"hunter2hunter2");
        assert_eq!(check(b"hunter2hunter2").unwrap(), b"hunter2hunter2");
    }

    #[test]
    fn junk_is_named() {
        assert_eq!(check(b"\n").unwrap_err(), "printed no passphrase");
        assert_eq!(check(b"").unwrap_err(), "printed no passphrase");
        assert!(check(b"a\0b").unwrap_err().contains("NUL"));
        assert!(check(b"a\nb\n").unwrap_err().contains("more than one line"));
        let mut s = Secret::from_slice(b"x");
        assert!(
            junk(&mut s, 1 << 20)
                .unwrap()
                .starts_with("printed 1048576 bytes")
        );
    }
}
