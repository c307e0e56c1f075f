//! cryptsetup-sim and zpool-sim: test stand-ins for cryptsetup 2.6 and for
//! the three `zpool` calls keygate makes.
//!
//! `cryptsetup-sim` implements `isLuks`, `status`, `open` (`--type luks`,
//! `--key-file=-|PATH`, `--allow-discards`, `--readonly`, `--header=PATH`)
//! and `close`, with the messages and exit codes of real cryptsetup 2.6.1
//! as recorded in `tests/fixtures/cryptsetup-reference/`
//! (`tests/cryptsetup_sim_reference.rs` replays that record against it).
//! `zpool-sim` implements `list -H -o name`, `import` (scan) and
//! `import -N POOL`.
//!
//! # State
//!
//! Everything lives in the directory named by `CRYPTSETUP_SIM_DIR`:
//! - `devices`: one LUKS device per line, `PATH key=HEX [key=HEX...]
//!   [data=HEX]`: the keys of its key slots (a passphrase, or a key file's
//!   whole content), and the bytes the opened device holds (what a key
//!   device gives as a key file). A path that exists but is not listed is
//!   not LUKS; a path that does not exist is missing.
//! - `active`: one open mapping per line, `NAME PATH [ro] [discards]`.
//! - `pools`: one pool per line, `NAME imported|exported MAPPER...`: a pool
//!   imports only while every one of its mapper names is active.
//! - `mapper/`: the open mappings as files (`mapper/NAME` holds the
//!   device's `data`), so a key device can be read as a key file. Tests
//!   point keygate's host root at a directory whose `dev/mapper` links here.
//! - `calls.log`: one line per invocation, `PROGRAM ARGS...` (never stdin).
//! - `config` (optional): `hang SUBCOMMAND` lines: that subcommand sleeps
//!   for an hour (for timeouts); `busy NAME`: `close NAME` fails as for a
//!   device still held open; `open-cost-ms N`: each key slot check takes
//!   that long.
//! - `lock`: every read-modify-write holds `flock(LOCK_EX)` on it.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

/// One LUKS device of the state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Device {
    pub path: PathBuf,
    pub keys: Vec<Vec<u8>>,
    pub data: Vec<u8>,
}

/// One open mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub name: String,
    pub device: PathBuf,
    pub readonly: bool,
    pub discards: bool,
}

/// One pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    pub name: String,
    pub imported: bool,
    pub mappers: Vec<String>,
}

/// The whole state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    pub devices: Vec<Device>,
    pub active: Vec<Mapping>,
    pub pools: Vec<Pool>,
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

impl State {
    pub fn read(dir: &Path) -> State {
        let text = |f: &str| fs::read_to_string(dir.join(f)).unwrap_or_default();
        let mut s = State::default();
        for line in text("devices").lines() {
            let mut words = line.split_whitespace();
            let Some(path) = words.next() else { continue };
            let mut d = Device {
                path: PathBuf::from(path),
                ..Device::default()
            };
            for w in words {
                if let Some(k) = w.strip_prefix("key=").and_then(unhex) {
                    d.keys.push(k);
                } else if let Some(v) = w.strip_prefix("data=").and_then(unhex) {
                    d.data = v;
                }
            }
            s.devices.push(d);
        }
        for line in text("active").lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            if words.len() < 2 {
                continue;
            }
            s.active.push(Mapping {
                name: words[0].into(),
                device: PathBuf::from(words[1]),
                readonly: words[2..].contains(&"ro"),
                discards: words[2..].contains(&"discards"),
            });
        }
        for line in text("pools").lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            if words.len() < 2 {
                continue;
            }
            s.pools.push(Pool {
                name: words[0].into(),
                imported: words[1] == "imported",
                mappers: words[2..].iter().map(|w| w.to_string()).collect(),
            });
        }
        s
    }

    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        let mut devices = String::new();
        for d in &self.devices {
            devices.push_str(&d.path.display().to_string());
            for k in &d.keys {
                devices.push_str(&format!(" key={}", hex(k)));
            }
            if !d.data.is_empty() {
                devices.push_str(&format!(" data={}", hex(&d.data)));
            }
            devices.push('\n');
        }
        let mut active = String::new();
        for m in &self.active {
            active.push_str(&format!("{} {}", m.name, m.device.display()));
            if m.readonly {
                active.push_str(" ro");
            }
            if m.discards {
                active.push_str(" discards");
            }
            active.push('\n');
        }
        let mut pools = String::new();
        for p in &self.pools {
            pools.push_str(&format!(
                "{} {}",
                p.name,
                if p.imported { "imported" } else { "exported" }
            ));
            for m in &p.mappers {
                pools.push_str(&format!(" {m}"));
            }
            pools.push('\n');
        }
        fs::write(dir.join("devices"), devices)?;
        fs::write(dir.join("active"), active)?;
        fs::write(dir.join("pools"), pools)?;
        fs::create_dir_all(dir.join("mapper"))?;
        Ok(())
    }

    pub fn device(&self, path: &Path) -> Option<&Device> {
        self.devices.iter().find(|d| d.path == path)
    }

    pub fn mapping(&self, name: &str) -> Option<&Mapping> {
        self.active.iter().find(|m| m.name == name)
    }
}

/// Holds the state lock while alive.
pub struct Locked {
    _lock: Flock<File>,
}

pub fn lock(dir: &Path) -> Locked {
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("lock"))
        .unwrap_or_else(|e| die(&format!("cannot open the state lock: {e}")));
    Locked {
        _lock: Flock::lock(f, FlockArg::LockExclusive)
            .map_err(|(_, e)| e)
            .unwrap_or_else(|e| die(&format!("cannot lock the state: {e}"))),
    }
}

/// The state directory from the environment.
pub fn state_dir() -> PathBuf {
    match std::env::var_os("CRYPTSETUP_SIM_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => die("CRYPTSETUP_SIM_DIR is not set"),
    }
}

/// Append one line to `calls.log`.
pub fn log_call(dir: &Path, program: &str, args: &[String]) {
    if let Ok(mut f) = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("calls.log"))
    {
        // One `write` on an O_APPEND file, so parallel calls never
        // interleave (`writeln!` may write the line in pieces).
        let line = format!("{program} {}\n", args.join(" "));
        let _ = f.write_all(line.as_bytes());
    }
}

/// Lines of `config`.
pub fn config(dir: &Path) -> Vec<String> {
    fs::read_to_string(dir.join("config"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Sleep for an hour if `config` says `hang WHAT`.
pub fn maybe_hang(dir: &Path, what: &str) {
    if config(dir)
        .iter()
        .any(|l| l.trim() == format!("hang {what}"))
    {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}

pub fn die(msg: &str) -> ! {
    eprintln!("simulator: {msg}");
    std::process::exit(99);
}
