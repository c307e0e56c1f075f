//! Where the gate's messages go: stderr always (in the service manager's
//! style), and the consoles for what the person at the machine must read.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use crate::service::{Level, Manager};

pub struct Reporter {
    manager: Manager,
    consoles: Vec<PathBuf>,
}

impl Reporter {
    pub fn new(manager: Manager, consoles: Vec<PathBuf>) -> Reporter {
        Reporter { manager, consoles }
    }

    pub fn manager(&self) -> &Manager {
        &self.manager
    }

    pub fn info(&self, text: &str) {
        stderr_line(&self.manager.format_message(Level::Info, text));
    }

    pub fn warn(&self, text: &str) {
        stderr_line(&self.manager.format_message(Level::Warning, text));
    }

    pub fn error(&self, text: &str) {
        stderr_line(&self.manager.format_message(Level::Error, text));
    }

    /// Write lines to stderr and to every console, at the manager's
    /// announcement level.
    pub fn announce(&self, lines: &[String]) {
        let level = self.manager.announce_level();
        let lines: Vec<String> = lines
            .iter()
            .map(|l| self.manager.format_message(level, l))
            .collect();
        for l in &lines {
            stderr_line(l);
        }
        for path in &self.consoles {
            if is_stderr(path) {
                continue;
            }
            if let Err(e) = write_console(path, &lines) {
                self.warn(&format!("cannot write to console {}: {e}", path.display()));
            }
        }
    }
}

/// Write text to stdout; a stdout that fails loses it instead of panicking.
pub fn stdout_text(text: &str) {
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

/// `println!` that never panics: a closed stdout (`keygate check | head -1`)
/// loses the output instead.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::report::stdout_text(&format!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprintln!` that never panics (see [`stderr_line`]).
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::report::stderr_line(&format!($($arg)*))
    };
}

/// Write one line to stderr. Unlike `eprintln!`, a stderr that fails (a
/// pipe whose reader is gone, a full disk behind a redirection) loses the
/// line instead of panicking: a boot gate must not die of its own logging.
pub fn stderr_line(text: &str) {
    let mut line = String::with_capacity(text.len() + 1);
    line.push_str(text);
    line.push('\n');
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// Whether `path` is the terminal stderr writes to already (a gate started
/// from that console): writing there too would show every line twice.
fn is_stderr(path: &PathBuf) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let Ok(console) = std::fs::metadata(path) else {
        return false;
    };
    let Ok(stderr) = nix::sys::stat::fstat(std::io::stderr()) else {
        return false;
    };
    console.file_type().is_char_device()
        && stderr.st_mode & libc::S_IFMT == libc::S_IFCHR
        && console.rdev() == stderr.st_rdev
}

/// Write to a console without ever blocking the gate: opened non-blocking,
/// and a console that stalls (flow control, no carrier) loses the message
/// rather than holding the boot.
fn write_console(path: &PathBuf, lines: &[String]) -> std::io::Result<()> {
    let mut f = OpenOptions::new()
        .append(true)
        .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
        .open(path)?;
    let mut text = String::new();
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    f.write_all(text.as_bytes())
}
