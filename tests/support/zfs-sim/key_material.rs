//! Reading key material the way libzfs does: from stdin for `prompt`, from a
//! file for `file://`, with the texts of its failures.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::state::KeyFormat;

/// Why no key material was read: `Some(aux)` text, or `None` for the bare
/// `encryption failure`.
pub type Failure = Option<String>;

/// stdin, shared by every root of one invocation (one line per root).
pub struct Stdin {
    reader: std::io::StdinLock<'static>,
}

impl Stdin {
    pub fn new() -> Stdin {
        Stdin {
            reader: std::io::stdin().lock(),
        }
    }
}

/// Returns the key material for `ds` from `location`.
pub fn read(
    location: &str,
    format: KeyFormat,
    ds: &str,
    stdin: &mut Stdin,
) -> Result<Vec<u8>, Failure> {
    if location == "prompt" {
        if std::io::stdin().is_terminal() {
            return prompt(format, ds, stdin);
        }
        let raw = read_raw(&mut stdin.reader, format).map_err(|_| None)?;
        // At EOF libzfs reports the errno left over from its isatty() check.
        if raw.is_empty() {
            return Err(None);
        }
        return Ok(trim(raw, format));
    }
    let Some(scheme) = uri_scheme(location) else {
        return Err(Some("Invalid keylocation".to_owned()));
    };
    match scheme {
        "file" => {
            if location.len() < 7 {
                return Err(None);
            }
            // fopen(uri + 7), whatever the bytes there are.
            let path = Path::new(OsStr::from_bytes(&location.as_bytes()[7..]));
            let file = File::open(path).map_err(|e| {
                let errno = nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO));
                Some(format!(
                    "Failed to open key material file: {}",
                    errno.desc()
                ))
            })?;
            let raw = read_raw(&mut BufReader::new(file), format).map_err(|_| None)?;
            Ok(trim(raw, format))
        }
        // The recorded machine had no libcurl; the simulator has none either.
        "http" | "https" => Err(Some(
            "Couldn't load libcurl.so.4: libcurl.so.4: cannot open shared object file: \
             No such file or directory"
                .to_owned(),
        )),
        _ => Err(Some("URI scheme is not supported".to_owned())),
    }
}

/// `^[A-Za-z][A-Za-z0-9+.-]*:` as libzfs matches it.
fn uri_scheme(location: &str) -> Option<&str> {
    let (scheme, _) = location.split_once(':')?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic() && chars.all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c)))
        .then_some(scheme)
}

/// One line (passphrase, hex) or up to 33 bytes (raw).
fn read_raw(r: &mut dyn BufRead, format: KeyFormat) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    if format == KeyFormat::Raw {
        r.take(33).read_to_end(&mut buf)?;
    } else {
        r.read_until(b'\n', &mut buf)?;
    }
    Ok(buf)
}

/// One trailing `\n` removed, then cut at the first NUL (a C string).
fn trim(mut raw: Vec<u8>, format: KeyFormat) -> Vec<u8> {
    if format != KeyFormat::Raw {
        if raw.last() == Some(&b'\n') {
            raw.pop();
        }
        if let Some(nul) = raw.iter().position(|&b| b == 0) {
            raw.truncate(nul);
        }
    }
    raw
}

/// Asks on the terminal with echo off, like `get_key_interactive`.
fn prompt(format: KeyFormat, ds: &str, stdin: &mut Stdin) -> Result<Vec<u8>, Failure> {
    use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};
    let what = match format {
        KeyFormat::Passphrase => "passphrase",
        KeyFormat::Hex => "hex key",
        KeyFormat::Raw => "raw key",
    };
    let mut so = std::io::stdout();
    let _ = write!(so, "Enter {what} for '{ds}': ");
    let _ = so.flush();
    let fd = std::io::stdin();
    let saved = tcgetattr(&fd).ok();
    if let Some(t) = &saved {
        let mut quiet = t.clone();
        quiet.local_flags.remove(LocalFlags::ECHO);
        let _ = tcsetattr(&fd, SetArg::TCSAFLUSH, &quiet);
    }
    let result = read_raw(&mut stdin.reader, format);
    if let Some(t) = &saved {
        let _ = tcsetattr(&fd, SetArg::TCSAFLUSH, t);
    }
    let _ = writeln!(so);
    match result {
        Ok(raw) if !raw.is_empty() => Ok(trim(raw, format)),
        _ => Err(None),
    }
}
