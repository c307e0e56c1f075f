//! systemd's password agents as a source: an `ask.XXXXXX` file in
//! /run/systemd/ask-password names a datagram socket, and any agent
//! (plymouth, the console and wall agents, `systemd-tty-ask-password-agent`
//! over SSH, network unlockers) answers on it with `+PASSPHRASE` or `-`.
//!
//! One request is published per round of the shared board: when roots open
//! elsewhere, or a passphrase is rejected, the request is withdrawn and a
//! new one asks for what is still locked. The ask file and the socket are
//! removed when the request is answered or withdrawn and when the gate exits.
//! Replies are accepted only from uid 0 (SCM_CREDENTIALS).

use std::fs;
use std::io::{self, IoSliceMut, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Sender};
use std::thread::{self, JoinHandle};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg, setsockopt, sockopt};

use super::board::{Board, prompt_text};
use super::{Event, Reply, SourceHandle, SourceId};
use crate::secret::{Secret, passphrase_problem};

/// Largest reply accepted (several NUL-separated cached passphrases fit).
const MAX_REPLY: usize = 4096;

/// Start answering ask-password requests in `dir`. `not_after_usec` is the
/// CLOCK_MONOTONIC time (µs) after which agents should stop asking (0: never).
pub fn spawn(
    dir: &Path,
    board: Board,
    events: Sender<Event>,
    not_after_usec: u64,
) -> io::Result<SourceHandle> {
    if !dir.exists() {
        fs::create_dir_all(dir)?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755))?;
    }
    let tag = random_tag();
    let socket_path = dir.join(format!("sck.{tag}"));
    let _ = fs::remove_file(&socket_path);
    let socket = UnixDatagram::bind(&socket_path)?;
    setsockopt(&socket, sockopt::PassCred, &true).map_err(io::Error::from)?;
    let request = Request {
        dir: dir.to_path_buf(),
        socket_path,
        ask_path: None,
        serial: 0,
        tag,
        not_after_usec,
    };
    let handle: JoinHandle<()> = thread::Builder::new()
        .name("ask-password".into())
        .spawn(move || serve(socket, request, board, events))?;
    Ok(SourceHandle {
        id: SourceId::AskPassword,
        handle,
    })
}

/// The files of the published request; removed on drop, on every path.
struct Request {
    dir: PathBuf,
    socket_path: PathBuf,
    ask_path: Option<PathBuf>,
    serial: u32,
    tag: String,
    not_after_usec: u64,
}

impl Request {
    fn publish(&mut self, roots: &[String], initial: usize, accept_cached: bool) -> io::Result<()> {
        self.withdraw();
        self.serial += 1;
        let name = format!("ask.{}{:02}", self.tag, self.serial % 100);
        let tmp = self.dir.join(format!(".tmp.{name}"));
        let message = prompt_text(roots, initial);
        let contents = ask_file(
            std::process::id(),
            &self.socket_path,
            accept_cached,
            self.not_after_usec,
            roots,
            message.trim_end().trim_end_matches(':'),
        );
        {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(contents.as_bytes())?;
            f.sync_all()?;
        }
        let path = self.dir.join(name);
        fs::rename(&tmp, &path)?;
        self.ask_path = Some(path);
        Ok(())
    }

    fn withdraw(&mut self) {
        if let Some(p) = self.ask_path.take() {
            let _ = fs::remove_file(p);
        }
    }
}

impl Drop for Request {
    fn drop(&mut self) {
        self.withdraw();
        let _ = fs::remove_file(&self.socket_path);
    }
}

/// The ask file, in the format of systemd's password agent protocol.
pub fn ask_file(
    pid: u32,
    socket: &Path,
    accept_cached: bool,
    not_after_usec: u64,
    roots: &[String],
    message: &str,
) -> String {
    format!(
        "[Ask]\nPID={pid}\nSocket={}\nAcceptCached={}\nEcho=0\nNotAfter={not_after_usec}\nId=zfs:{}\nMessage={}\nIcon=drive-harddisk\n",
        socket.display(),
        u8::from(accept_cached),
        roots.join(","),
        message.replace('\n', " "),
    )
}

enum Answer {
    Passphrases(Vec<Secret>),
    Cancelled,
    Ignored,
}

fn serve(socket: UnixDatagram, mut request: Request, board: Board, events: Sender<Event>) {
    let mut accept_cached = true;
    loop {
        let round = board.round();
        if round.done || round.roots.is_empty() {
            return;
        }
        if let Err(e) = request.publish(&round.roots, round.initial, accept_cached) {
            let _ = events.send(Event::SourceEnded {
                source: SourceId::AskPassword,
                reason: format!("cannot publish the request: {e}"),
            });
            return;
        }
        let answer = loop {
            let mut fds = [
                PollFd::new(socket.as_fd(), PollFlags::POLLIN),
                PollFd::new(round.cancel.fd(), PollFlags::POLLIN),
            ];
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(_) => return,
            }
            if round.cancel.is_cancelled() {
                break None;
            }
            match receive(&socket) {
                Answer::Ignored => continue,
                other => break Some(other),
            }
        };
        request.withdraw();
        match answer {
            None => continue,
            Some(Answer::Cancelled) => {
                let _ = events.send(Event::SourceEnded {
                    source: SourceId::AskPassword,
                    reason: "the request was cancelled at the agent".into(),
                });
                return;
            }
            Some(Answer::Ignored) => continue,
            Some(Answer::Passphrases(candidates)) => {
                accept_cached = false;
                for secret in candidates {
                    if passphrase_problem(&secret).is_some() {
                        continue;
                    }
                    let (tx, rx) = mpsc::channel::<Reply>();
                    let sent = events.send(Event::Passphrase {
                        source: SourceId::AskPassword,
                        secret,
                        reply: tx,
                    });
                    if sent.is_err() {
                        return;
                    }
                    match rx.recv() {
                        Ok(reply) if reply.remaining.is_empty() => return,
                        Ok(_) => {}
                        Err(_) => return,
                    }
                }
            }
        }
    }
}

/// Read one datagram; only root's replies count.
fn receive(socket: &UnixDatagram) -> Answer {
    let mut raw = Secret::with_capacity(MAX_REPLY);
    let mut uid = None;
    let got = raw.append_with(|buf| {
        let mut iov = [IoSliceMut::new(buf)];
        let mut cmsg = nix::cmsg_space!(nix::sys::socket::UnixCredentials);
        let msg = recvmsg::<()>(
            std::os::fd::AsRawFd::as_raw_fd(socket),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_TRUNC,
        )?;
        if let Ok(cmsgs) = msg.cmsgs() {
            for c in cmsgs {
                if let ControlMessageOwned::ScmCredentials(cred) = c {
                    uid = Some(cred.uid());
                }
            }
        }
        Ok::<usize, nix::errno::Errno>(msg.bytes)
    });
    let Ok(n) = got else {
        return Answer::Ignored;
    };
    if uid != Some(0) || n > MAX_REPLY {
        return Answer::Ignored;
    }
    parse_reply(raw.expose())
}

/// `+pass[\0pass...]` → the passphrases; `-` → cancelled.
fn parse_reply(bytes: &[u8]) -> Answer {
    match bytes.split_first() {
        Some((b'+', rest)) => Answer::Passphrases(
            rest.split(|b| *b == 0)
                .filter(|p| !p.is_empty())
                .map(Secret::from_slice)
                .collect(),
        ),
        Some((b'-', _)) => Answer::Cancelled,
        _ => Answer::Ignored,
    }
}

/// For fuzzing only (`fuzz/src/checks.rs`): what `parse_reply` makes of a
/// datagram, without the `Secret`s. `Ok`: the passphrases' bytes;
/// `Err("cancelled")` or `Err("ignored")` otherwise.
#[doc(hidden)]
pub fn parse_reply_for_fuzzing(bytes: &[u8]) -> Result<Vec<Vec<u8>>, &'static str> {
    match parse_reply(bytes) {
        Answer::Passphrases(p) => Ok(p.iter().map(|s| s.expose().to_vec()).collect()),
        Answer::Cancelled => Err("cancelled"),
        Answer::Ignored => Err("ignored"),
    }
}

fn random_tag() -> String {
    let mut bytes = [0u8; 4];
    let ok = fs::File::open("/dev/urandom")
        .and_then(|mut f| io::Read::read_exact(&mut f, &mut bytes))
        .is_ok();
    if !ok {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        bytes = (t ^ std::process::id()).to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ask_file_format() {
        let text = ask_file(
            42,
            Path::new("/run/systemd/ask-password/sck.1"),
            true,
            0,
            &["nest/a".into()],
            "Enter passphrase for nest/a",
        );
        assert_eq!(
            text,
            "[Ask]\nPID=42\nSocket=/run/systemd/ask-password/sck.1\nAcceptCached=1\nEcho=0\nNotAfter=0\nId=zfs:nest/a\nMessage=Enter passphrase for nest/a\nIcon=drive-harddisk\n"
        );
    }

    #[test]
    fn replies() {
        match parse_reply(b"+pass1\0pass2") {
            Answer::Passphrases(p) => {
                let got: Vec<&[u8]> = p.iter().map(|s| s.expose()).collect();
                assert_eq!(got, vec![&b"pass1"[..], b"pass2"]);
            }
            _ => panic!("expected passphrases"),
        }
        assert!(matches!(parse_reply(b"-"), Answer::Cancelled));
        assert!(matches!(parse_reply(b""), Answer::Ignored));
        assert!(matches!(parse_reply(b"xyz"), Answer::Ignored));
    }
}
