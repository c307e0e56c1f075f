//! The gate's side of the control socket: a source of passphrases (UNLOCK)
//! and the answer to `keygate status` (STATUS).
//!
//! Only peers whose SO_PEERCRED uid is 0 are served; others are refused and
//! logged. The socket's directory is created 0700 and the socket is 0600. A
//! stale socket left by an earlier run is replaced; a live one (another gate
//! answering) or anything that is not a socket is left alone. The socket is
//! removed when the server is dropped, if it is still ours.

use std::fs;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Sender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{getsockopt, sockopt};

use super::protocol::{self, MAX_HEADER, Request};
use super::status::SharedStatus;
use crate::report::Reporter;
use crate::secret::{Secret, passphrase_problem};
use crate::service::Manager;
use crate::sources::{Event, Reply, SourceId};
use crate::terminal::Cancel;

/// How long a client may take to send its request (slow clients are cut off).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a client may wait for the gate's verdict on a passphrase.
const VERDICT_TIMEOUT: Duration = Duration::from_secs(600);
/// Connections served at once; more are refused at once.
const MAX_CLIENTS: usize = 64;

pub struct Server {
    path: PathBuf,
    identity: (u64, u64),
    stop: Cancel,
    thread: Option<JoinHandle<()>>,
    /// Clients being served right now.
    clients: Arc<AtomicUsize>,
}

/// How long a finishing gate waits for clients to receive their answers.
const ANSWER_GRACE: Duration = Duration::from_secs(2);

impl Server {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Bind the socket and serve it on a thread. Errors say why the socket could
/// not be served; the gate goes on without it.
pub fn start(
    path: &Path,
    events: Sender<Event>,
    status: SharedStatus,
    manager: Manager,
) -> Result<Server, String> {
    let shown = path.display();
    prepare_directory(path)?;
    clear_stale(path)?;
    let listener = UnixListener::bind(path)
        .map_err(|e| format!("cannot create control socket {shown}: {e}"))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("cannot restrict control socket {shown} to root: {e}"))?;
    let meta = fs::symlink_metadata(path).map_err(|e| format!("{shown}: {e}"))?;
    let stop = Cancel::new().map_err(|e| format!("cannot serve {shown}: {e}"))?;
    let stop_in_thread = stop.clone();
    let clients = Arc::new(AtomicUsize::new(0));
    let clients_in_thread = clients.clone();
    let thread = thread::Builder::new()
        .name("control-socket".into())
        .spawn(move || {
            accept_loop(
                listener,
                stop_in_thread,
                clients_in_thread,
                events,
                status,
                manager,
            )
        })
        .map_err(|e| format!("cannot serve {shown}: {e}"))?;
    Ok(Server {
        path: path.to_path_buf(),
        identity: (meta.dev(), meta.ino()),
        stop,
        thread: Some(thread),
        clients,
    })
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        // Let clients whose passphrase was just tried read their answer.
        let deadline = Instant::now() + ANSWER_GRACE;
        while self.clients.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        // Remove the socket only if it is still the one this server made.
        if let Ok(meta) = fs::symlink_metadata(&self.path)
            && (meta.dev(), meta.ino()) == self.identity
        {
            let _ = fs::remove_file(&self.path);
        }
    }
}

fn prepare_directory(path: &Path) -> Result<(), String> {
    let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return Ok(());
    };
    if !dir.exists() {
        fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| format!("cannot restrict {} to root: {e}", dir.display()))?;
    }
    Ok(())
}

fn clear_stale(path: &Path) -> Result<(), String> {
    let shown = path.display();
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("cannot look at {shown}: {e}")),
    };
    if !meta.file_type().is_socket() {
        return Err(format!(
            "{shown} exists and is not a socket; leaving it alone (no control socket)"
        ));
    }
    match UnixStream::connect(path) {
        Ok(_) => Err(format!(
            "another keygate is already answering on {shown} (no second control socket)"
        )),
        Err(_) => fs::remove_file(path)
            .map_err(|e| format!("cannot remove the stale socket {shown}: {e}")),
    }
}

fn accept_loop(
    listener: UnixListener,
    stop: Cancel,
    clients: Arc<AtomicUsize>,
    events: Sender<Event>,
    status: SharedStatus,
    manager: Manager,
) {
    let reporter = Reporter::new(manager.clone(), Vec::new());
    loop {
        let mut fds = [
            PollFd::new(listener.as_fd(), PollFlags::POLLIN),
            PollFd::new(stop.fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                reporter.warn(&format!("control socket stopped: {e}"));
                return;
            }
        }
        if stop.is_cancelled() {
            return;
        }
        let Ok((stream, _)) = listener.accept() else {
            continue;
        };
        if clients.load(Ordering::SeqCst) >= MAX_CLIENTS {
            let _ = stream.set_write_timeout(Some(REQUEST_TIMEOUT));
            let _ =
                (&stream).write_all(protocol::error_answer("busy: too many clients").as_bytes());
            continue;
        }
        clients.fetch_add(1, Ordering::SeqCst);
        let (events, status, manager, clients_t) = (
            events.clone(),
            status.clone(),
            manager.clone(),
            clients.clone(),
        );
        let spawned = thread::Builder::new()
            .name("control-client".into())
            .spawn(move || {
                serve(
                    stream,
                    &events,
                    &status,
                    &Reporter::new(manager, Vec::new()),
                );
                clients_t.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            clients.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

fn serve(
    mut stream: UnixStream,
    events: &Sender<Event>,
    status: &SharedStatus,
    reporter: &Reporter,
) {
    let answer = match handle(&mut stream, events, status, reporter) {
        Ok(answer) => answer,
        Err(message) => protocol::error_answer(&message),
    };
    let _ = stream.set_write_timeout(Some(REQUEST_TIMEOUT));
    let _ = stream.write_all(answer.as_bytes());
    // Closing with unread bytes would reset the connection before the
    // client reads the answer: end our side, then drain a little.
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let mut sink = [0u8; 4096];
    for _ in 0..16 {
        match stream.read(&mut sink) {
            Ok(n) if n > 0 => continue,
            _ => break,
        }
    }
    zeroize::Zeroize::zeroize(&mut sink);
}

fn handle(
    stream: &mut UnixStream,
    events: &Sender<Event>,
    status: &SharedStatus,
    reporter: &Reporter,
) -> Result<String, String> {
    let cred = getsockopt(&*stream, sockopt::PeerCredentials)
        .map_err(|e| format!("cannot check who is connecting: {e}"))?;
    if cred.uid() != 0 {
        reporter.warn(&format!(
            "refused a control-socket client with uid {} (pid {}): only root may unlock",
            cred.uid(),
            cred.pid()
        ));
        return Err("permission denied: only root may use the keygate control socket".into());
    }
    // The whole request must arrive within REQUEST_TIMEOUT: a client that
    // trickles a byte now and then (slow loris) is cut off all the same.
    let deadline = Instant::now() + REQUEST_TIMEOUT;
    let header = read_header(stream, deadline)?;
    match protocol::parse_header(&header).map_err(|e| e.to_string())? {
        Request::Status => Ok(protocol::status_answer(&status.get())),
        Request::Unlock { len } => {
            let secret = read_passphrase(stream, len, deadline)?;
            // Refused before any zfs call, like a console does.
            if let Some(problem) = passphrase_problem(&secret) {
                return Err(problem);
            }
            let (tx, rx) = mpsc::channel::<Reply>();
            events
                .send(Event::Passphrase {
                    source: SourceId::ControlSocket { pid: cred.pid() },
                    secret,
                    reply: tx,
                })
                .map_err(|_| "the gate is shutting down".to_string())?;
            let reply = rx
                .recv_timeout(VERDICT_TIMEOUT)
                .map_err(|_| "the gate did not answer".to_string())?;
            Ok(protocol::reply_answer(&reply))
        }
    }
}

/// Read up to the first newline, at most MAX_HEADER bytes.
fn read_header(stream: &mut UnixStream, deadline: Instant) -> Result<Vec<u8>, String> {
    let mut line = Vec::with_capacity(MAX_HEADER);
    let mut byte = [0u8; 1];
    loop {
        set_remaining(stream, deadline)?;
        match stream.read(&mut byte) {
            Ok(0) => return Err("truncated request (no newline)".into()),
            Ok(_) if byte[0] == b'\n' => return Ok(line),
            Ok(_) => {
                line.push(byte[0]);
                if line.len() >= MAX_HEADER {
                    return Err(format!("request line longer than {MAX_HEADER} bytes"));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if is_timeout(&e) => return Err("request too slow".into()),
            Err(e) => return Err(format!("cannot read the request: {e}")),
        }
    }
}

/// Read exactly `len` passphrase bytes straight into locked memory.
fn read_passphrase(
    stream: &mut UnixStream,
    len: usize,
    deadline: Instant,
) -> Result<Secret, String> {
    let mut secret = Secret::with_capacity(len);
    while secret.len() < len {
        set_remaining(stream, deadline)?;
        let want = len - secret.len();
        match secret.append_with(|buf| stream.read(&mut buf[..want])) {
            Ok(0) => {
                return Err(format!(
                    "truncated request: {} of {len} passphrase bytes",
                    secret.len()
                ));
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if is_timeout(&e) => return Err("request too slow".into()),
            Err(e) => return Err(format!("cannot read the request: {e}")),
        }
    }
    Ok(secret)
}

/// Let the next read wait only for what is left of the request's time.
fn set_remaining(stream: &UnixStream, deadline: Instant) -> Result<(), String> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err("request too slow".into());
    }
    stream
        .set_read_timeout(Some(left))
        .map_err(|e| format!("cannot read the request: {e}"))
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}
