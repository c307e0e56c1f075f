//! The client side of the control socket (`keygate unlock`, `keygate status`).

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use super::protocol::{self, MAX_ANSWER, ProtoError};
use super::status::Status;
use crate::secret::Secret;
use crate::sources::Reply;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens there: no gate is waiting.
    #[error("no keygate gate is waiting (nothing answers on {0})")]
    NoGate(String),
    #[error("cannot talk to the gate on {path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("{0}")]
    Protocol(#[from] ProtoError),
}

fn connect(path: &Path) -> Result<UnixStream, ClientError> {
    match UnixStream::connect(path) {
        Ok(s) => Ok(s),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
            ) =>
        {
            Err(ClientError::NoGate(path.display().to_string()))
        }
        Err(source) => Err(ClientError::Io {
            path: path.display().to_string(),
            source,
        }),
    }
}

fn exchange(path: &Path, parts: &[&[u8]], wait: Duration) -> Result<String, ClientError> {
    let io_err = |source| ClientError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut stream = connect(path)?;
    stream.set_read_timeout(Some(wait)).map_err(io_err)?;
    for p in parts {
        match stream.write_all(p) {
            Ok(()) => {}
            // The gate may refuse before reading (a non-root client): its
            // answer is still there to read.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
                ) =>
            {
                break;
            }
            Err(e) => return Err(io_err(e)),
        }
    }
    let mut answer = Vec::new();
    match stream.take(MAX_ANSWER as u64).read_to_end(&mut answer) {
        Ok(_) => {}
        // A gate that refused without reading our request resets the
        // connection after its answer; the answer is what counts.
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset && !answer.is_empty() => {}
        Err(e) => return Err(io_err(e)),
    }
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

/// Whether a gate answers on `path`, and what it is waiting for.
pub fn status(path: &Path) -> Result<Status, ClientError> {
    let answer = exchange(
        path,
        &[protocol::status_request().as_bytes()],
        Duration::from_secs(10),
    )?;
    Ok(protocol::parse_status(&answer)?)
}

/// Hand `passphrase` to the gate; returns its per-root verdict.
pub fn unlock(path: &Path, passphrase: &Secret) -> Result<Reply, ClientError> {
    let header = protocol::unlock_header(passphrase.len());
    let answer = exchange(
        path,
        &[header.as_bytes(), passphrase.expose()],
        Duration::from_secs(900),
    )?;
    Ok(protocol::parse_reply(&answer)?)
}
