//! The control protocol, version 1. Pure encoding and decoding.
//!
//! One request per connection. The client sends a header line, for UNLOCK
//! followed by exactly N passphrase bytes; the gate answers and closes.
//!
//! ```text
//! request:  KEYGATE/1 STATUS\n
//!           KEYGATE/1 UNLOCK <N>\n<N bytes>          (1 <= N <= 1024)
//! answer:   KEYGATE/1 OK\n<field>\t<value>[\t<value>]\n...
//!           KEYGATE/1 ERROR <message>\n
//! ```
//!
//! Fields of a STATUS answer: `pid`, `mode`, `since` (Unix seconds),
//! `locked` (one line per root), `source` (one per active source). Fields of
//! an UNLOCK answer: `opened`, `rejected`, `remaining` (one line per root)
//! and `failed` (root, then zfs's words). Dataset names never contain tabs
//! or newlines; reasons have them replaced by spaces.

use crate::sources::Reply;

use super::status::Status;

pub const MAGIC: &str = "KEYGATE/1";
/// Longest header line accepted, newline included.
pub const MAX_HEADER: usize = 64;
/// Most passphrase bytes an UNLOCK may carry (more than ZFS ever accepts).
pub const MAX_PASSPHRASE: usize = 1024;
/// Longest answer a client reads.
pub const MAX_ANSWER: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    Status,
    Unlock { len: usize },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    #[error("not a keygate request (expected '{MAGIC} STATUS' or '{MAGIC} UNLOCK N')")]
    NotKeygate,
    #[error("unknown request '{0}'")]
    UnknownRequest(String),
    #[error("bad passphrase length '{0}' (1 to {MAX_PASSPHRASE} bytes)")]
    BadLength(String),
    #[error("request line longer than {MAX_HEADER} bytes")]
    HeaderTooLong,
    #[error("the gate answered something that is not the keygate protocol")]
    BadAnswer,
    #[error("the gate refused: {0}")]
    Refused(String),
}

/// Parse a header line (without its newline).
pub fn parse_header(line: &[u8]) -> Result<Request, ProtoError> {
    if line.len() >= MAX_HEADER {
        return Err(ProtoError::HeaderTooLong);
    }
    let text = std::str::from_utf8(line).map_err(|_| ProtoError::NotKeygate)?;
    let mut words = text.split(' ');
    if words.next() != Some(MAGIC) {
        return Err(ProtoError::NotKeygate);
    }
    let verb = words.next().unwrap_or("");
    let arg = words.next();
    let extra = words.next();
    match (verb, arg, extra) {
        ("STATUS", None, None) => Ok(Request::Status),
        ("UNLOCK", Some(n), None) => {
            let len: usize = n
                .parse()
                .ok()
                .filter(|_| n.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| ProtoError::BadLength(printable(n)))?;
            if len == 0 || len > MAX_PASSPHRASE {
                return Err(ProtoError::BadLength(n.to_string()));
            }
            Ok(Request::Unlock { len })
        }
        _ => Err(ProtoError::UnknownRequest(printable(text))),
    }
}

/// The header for an UNLOCK of `len` bytes.
pub fn unlock_header(len: usize) -> String {
    format!("{MAGIC} UNLOCK {len}\n")
}

pub fn status_request() -> String {
    format!("{MAGIC} STATUS\n")
}

pub fn error_answer(message: &str) -> String {
    format!("{MAGIC} ERROR {}\n", one_line(message))
}

pub fn reply_answer(reply: &Reply) -> String {
    let mut out = format!("{MAGIC} OK\n");
    for r in &reply.opened {
        out.push_str(&format!("opened\t{r}\n"));
    }
    for r in &reply.rejected {
        out.push_str(&format!("rejected\t{r}\n"));
    }
    for (r, why) in &reply.failed {
        out.push_str(&format!("failed\t{r}\t{}\n", one_line(why)));
    }
    for r in &reply.remaining {
        out.push_str(&format!("remaining\t{r}\n"));
    }
    out
}

pub fn status_answer(status: &Status) -> String {
    let mut out = format!("{MAGIC} OK\n");
    out.push_str(&format!("pid\t{}\n", status.pid));
    out.push_str(&format!("mode\t{}\n", one_line(&status.mode)));
    out.push_str(&format!("since\t{}\n", status.since));
    for r in &status.locked {
        out.push_str(&format!("locked\t{r}\n"));
    }
    for s in &status.sources {
        out.push_str(&format!("source\t{}\n", one_line(s)));
    }
    out
}

/// The field lines of an answer, or the gate's refusal.
fn fields(answer: &str) -> Result<Vec<Vec<&str>>, ProtoError> {
    let mut lines = answer.lines();
    let head = lines.next().ok_or(ProtoError::BadAnswer)?;
    if let Some(msg) = head.strip_prefix(&format!("{MAGIC} ERROR ")) {
        return Err(ProtoError::Refused(msg.to_string()));
    }
    if head != format!("{MAGIC} OK") {
        return Err(ProtoError::BadAnswer);
    }
    Ok(lines
        .filter(|l| !l.is_empty())
        .map(|l| l.split('\t').collect())
        .collect())
}

pub fn parse_reply(answer: &str) -> Result<Reply, ProtoError> {
    let mut reply = Reply::default();
    for f in fields(answer)? {
        match f[..] {
            ["opened", r] => reply.opened.push(r.into()),
            ["rejected", r] => reply.rejected.push(r.into()),
            ["remaining", r] => reply.remaining.push(r.into()),
            ["failed", r, why] => reply.failed.push((r.into(), why.into())),
            _ => return Err(ProtoError::BadAnswer),
        }
    }
    Ok(reply)
}

pub fn parse_status(answer: &str) -> Result<Status, ProtoError> {
    let mut status = Status::default();
    for f in fields(answer)? {
        match f[..] {
            ["pid", p] => status.pid = p.parse().map_err(|_| ProtoError::BadAnswer)?,
            ["mode", m] => status.mode = m.into(),
            ["since", s] => status.since = s.parse().map_err(|_| ProtoError::BadAnswer)?,
            ["locked", r] => status.locked.push(r.into()),
            ["source", s] => status.sources.push(s.into()),
            _ => return Err(ProtoError::BadAnswer),
        }
    }
    Ok(status)
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r', '\t'], " ")
}

/// Untrusted text for a message: control characters shown as escapes, and
/// bounded in length.
fn printable(s: &str) -> String {
    s.chars().take(40).flat_map(char::escape_default).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        assert_eq!(parse_header(b"KEYGATE/1 STATUS"), Ok(Request::Status));
        assert_eq!(
            parse_header(b"KEYGATE/1 UNLOCK 14"),
            Ok(Request::Unlock { len: 14 })
        );
        assert_eq!(parse_header(b"GET / HTTP/1.0"), Err(ProtoError::NotKeygate));
        assert_eq!(
            parse_header(b"KEYGATE/1 UNLOCK 0"),
            Err(ProtoError::BadLength("0".into()))
        );
        assert_eq!(
            parse_header(b"KEYGATE/1 UNLOCK 1025"),
            Err(ProtoError::BadLength("1025".into()))
        );
        assert_eq!(
            parse_header(b"KEYGATE/1 UNLOCK +5"),
            Err(ProtoError::BadLength("+5".into()))
        );
        assert!(matches!(
            parse_header(b"KEYGATE/1 REBOOT"),
            Err(ProtoError::UnknownRequest(_))
        ));
        assert!(matches!(
            parse_header(b"KEYGATE/1 STATUS x"),
            Err(ProtoError::UnknownRequest(_))
        ));
        assert_eq!(parse_header(&[b'K'; 64]), Err(ProtoError::HeaderTooLong));
        assert_eq!(parse_header(b"\xff\xfe"), Err(ProtoError::NotKeygate));
    }

    #[test]
    fn reply_round_trip() {
        let reply = Reply {
            opened: vec!["nest/a".into()],
            rejected: vec!["nest/my data".into()],
            failed: vec![("nest/f".into(), "Key load error:\tbroken\nline".into())],
            remaining: vec!["nest/my data".into()],
        };
        let back = parse_reply(&reply_answer(&reply)).unwrap();
        assert_eq!(back.opened, reply.opened);
        assert_eq!(back.rejected, reply.rejected);
        assert_eq!(
            back.failed,
            vec![("nest/f".into(), "Key load error: broken line".into())]
        );
        assert_eq!(back.remaining, reply.remaining);
    }

    #[test]
    fn status_round_trip_and_refusal() {
        let s = Status {
            pid: 42,
            mode: "prompt".into(),
            since: 1_700_000_000,
            locked: vec!["nest/a".into()],
            sources: vec!["console /dev/ttyS1".into()],
        };
        assert_eq!(parse_status(&status_answer(&s)).unwrap(), s);
        assert_eq!(
            parse_status(&error_answer("permission denied")),
            Err(ProtoError::Refused("permission denied".into()))
        );
        assert_eq!(
            parse_status("HTTP/1.1 200 OK\n"),
            Err(ProtoError::BadAnswer)
        );
    }
}
