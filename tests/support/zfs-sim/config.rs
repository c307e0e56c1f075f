//! The optional file `$ZFS_SIM_DIR/config`: load-key cost and faults.
//!
//! ```text
//! load-key-cost-ms 250
//! fault get hang
//! fault load-key delay-ms 500 times=2
//! fault list garbage rc=1
//! fault * crash KILL
//! fault get partial bytes=10 rc=0
//! fault unload-key fail rc=1 stderr=boom%0A
//! ```

use std::fs;

use anyhow::{Context, Result, anyhow};

use crate::escape;
use crate::store::Store;

/// What a fault does to a matching invocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// Sleep forever before doing anything.
    Hang,
    /// Sleep this long, then run normally.
    DelayMs(u64),
    /// Print junk on stdout, exit with `rc`.
    Garbage { rc: i32 },
    /// Kill the process with this signal (SEGV, KILL, ABRT...).
    Crash(nix::sys::signal::Signal),
    /// Run normally (state changes included), print only the first `bytes`
    /// of stdout (default: half) and exit with `rc` (default: the real one).
    Partial {
        bytes: Option<usize>,
        rc: Option<i32>,
    },
    /// Print `stderr` and exit with `rc`, doing nothing else.
    Fail { rc: i32, stderr: Vec<u8> },
}

/// One `fault` line.
#[derive(Clone, Debug)]
pub struct Fault {
    /// Index of the line among the fault lines (for the `times=` counter).
    pub index: usize,
    /// Subcommand name, or `*` for every subcommand.
    pub command: String,
    pub kind: FaultKind,
    /// Apply only to the first N matching invocations.
    pub times: Option<u64>,
}

#[derive(Clone, Debug, Default)]
pub struct Config {
    pub load_key_cost_ms: u64,
    pub faults: Vec<Fault>,
}

impl Config {
    pub fn load(store: &Store) -> Result<Config> {
        let path = store.dir().join("config");
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        Config::parse(&text).map_err(|e| anyhow!("config file {}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Config, String> {
        let mut cfg = Config::default();
        for (idx, line) in text.lines().enumerate() {
            let lineno = idx + 1;
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                [] => {}
                [w, ..] if w.starts_with('#') => {}
                ["load-key-cost-ms", n] => {
                    cfg.load_key_cost_ms = n
                        .parse()
                        .map_err(|_| format!("line {lineno}: bad number '{n}'"))?;
                }
                ["fault", command, kind, rest @ ..] => {
                    let index = cfg.faults.len();
                    let fault = parse_fault(index, command, kind, rest)
                        .map_err(|e| format!("line {lineno}: {e}"))?;
                    cfg.faults.push(fault);
                }
                _ => return Err(format!("line {lineno}: cannot parse '{line}'")),
            }
        }
        Ok(cfg)
    }
}

fn parse_fault(index: usize, command: &str, kind: &str, rest: &[&str]) -> Result<Fault, String> {
    let mut positional = Vec::new();
    let mut keyed = std::collections::BTreeMap::new();
    for w in rest {
        match w.split_once('=') {
            Some((k, v)) => {
                keyed.insert(k, v);
            }
            None => positional.push(*w),
        }
    }
    let num = |v: &str| v.parse::<i64>().map_err(|_| format!("bad number '{v}'"));
    let times = keyed
        .remove("times")
        .map(|v| num(v).map(|n| n.max(0) as u64))
        .transpose()?;
    let rc = keyed
        .remove("rc")
        .map(|v| num(v).map(|n| n as i32))
        .transpose()?;
    let kind = match (kind, positional.as_slice()) {
        ("hang", []) => FaultKind::Hang,
        ("delay-ms", [ms]) => FaultKind::DelayMs(num(ms)?.max(0) as u64),
        ("garbage", []) => FaultKind::Garbage {
            rc: rc.unwrap_or(0),
        },
        ("crash", sig) => {
            let name = sig.first().copied().unwrap_or("SEGV");
            let full = if name.starts_with("SIG") {
                name.to_owned()
            } else {
                format!("SIG{name}")
            };
            let signal = full
                .parse::<nix::sys::signal::Signal>()
                .map_err(|_| format!("unknown signal '{name}'"))?;
            FaultKind::Crash(signal)
        }
        ("partial", []) => FaultKind::Partial {
            bytes: keyed
                .remove("bytes")
                .map(|v| num(v).map(|n| n.max(0) as usize))
                .transpose()?,
            rc,
        },
        ("fail", []) => FaultKind::Fail {
            rc: rc.unwrap_or(1),
            stderr: keyed
                .remove("stderr")
                .map(escape::decode)
                .transpose()?
                .unwrap_or_default(),
        },
        _ => return Err(format!("unknown fault '{kind} {}'", positional.join(" "))),
    };
    if let Some(k) = keyed.keys().next() {
        return Err(format!("unknown option '{k}=' for fault '{kind:?}'"));
    }
    Ok(Fault {
        index,
        command: command.to_owned(),
        kind,
        times,
    })
}
