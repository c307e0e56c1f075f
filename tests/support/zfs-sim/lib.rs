//! zfs-sim: a test stand-in for the OpenZFS 2.x `zfs` command.
//!
//! It implements the subcommands keygate uses — `get`, `list`, `load-key`,
//! `unload-key`, `mount`, `unmount`/`umount` — with the texts, output order
//! and exit codes of real OpenZFS 2.3.2, as recorded in
//! `tests/fixtures/zfs-reference/real-zfs-2.3.2-probe.txt`
//! (`tests/sim_reference.rs` replays that record against this program).
//! Link or copy it as `zfs` on a test's `PATH`.
//!
//! # State
//!
//! Everything lives in the directory named by `ZFS_SIM_DIR` (required):
//! - `datasets`: the datasets, one per line, `NAME KEY=VALUE...` with
//!   `%XX` escapes (format in `state.rs`), e.g.
//!   `nest/a keyformat=passphrase key=hunter2hunter2 keylocation=prompt`.
//!   Children of an encryption root inherit its encryption.
//! - `config` (optional): `load-key-cost-ms N` and `fault` lines (below).
//! - `calls.log`: one line per invocation, its arguments (without argv[0],
//!   never stdin) `%XX`-escaped and joined by single spaces.
//! - `lock`: every read-modify-write holds `flock(LOCK_EX)` on it.
//! - `data/<name with / as %2F>/`: a dataset's files. With
//!   `ZFS_SIM_MOUNT_ROOT` set, `zfs mount` symlinks
//!   `$ZFS_SIM_MOUNT_ROOT/<mountpoint>` to it (see `mount.rs`).
//!
//! `load-key` burns `load-key-cost-ms` of CPU time per key attempt, outside
//! the lock, like PBKDF2 does, so parallel calls really overlap.
//!
//! # Faults
//!
//! `fault COMMAND KIND [ARGS] [times=N]` in `config`; COMMAND is a subcommand
//! name (`umount` counts as `unmount`) or `*`; `times=N` limits the fault to
//! the first N matching calls. Faults run in file order, after the call is
//! logged:
//! - `hang`: sleep forever.
//! - `delay-ms N`: sleep N ms, then go on (to the next fault or the command).
//! - `garbage [rc=N]`: print junk on stdout and exit N (default 0).
//! - `crash [SEGV|KILL|ABRT|...]`: die by that signal (default SEGV), no core.
//! - `partial [bytes=N] [rc=N]`: run the command (state changes included)
//!   but print only its first N bytes of stdout (default half) and exit N
//!   (default: the real exit code).
//! - `fail [rc=N] [stderr=TEXT]`: print TEXT (`%XX`-escaped) on stderr and
//!   exit N (default 1) without doing anything.
//!
//! # Not simulated
//!
//! JSON output (`-j`), sorting by other than name, properties other than
//! those in `props.rs` (they are reported as invalid), snapshots and
//! volumes, `mount -l/-R`, and the three tries of an interactive prompt.
//! Simulator errors (bad state file, unset `ZFS_SIM_DIR`) print
//! `zfs-sim: ...` and exit 1.

mod config;
pub mod escape;
mod faults;
mod get;
mod key_material;
mod keys;
mod list;
mod load_key;
mod mount;
mod opts;
mod out;
mod props;
mod select;
pub mod state;
mod store;
mod unload_key;
mod usage;

use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use anyhow::Result;

use crate::config::Config;
use crate::out::Out;
use crate::store::Store;

/// The program: runs one `zfs` subcommand on the state in `ZFS_SIM_DIR`.
pub fn main() -> ExitCode {
    match run() {
        Ok(rc) => ExitCode::from((rc & 0xff) as u8),
        Err(e) => {
            eprintln!("zfs-sim: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run() -> Result<i32> {
    let raw: Vec<Vec<u8>> = std::env::args_os()
        .skip(1)
        .map(|a| a.as_bytes().to_vec())
        .collect();
    let store = Store::from_env()?;
    store.log_call(&raw)?;
    let config = Config::load(&store)?;
    let args: Vec<String> = raw
        .iter()
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let Some((command, rest)) = args.split_first() else {
        eprintln!("usage: zfs command args ...\nzfs-sim: no command given");
        return Ok(2);
    };
    let command = if command == "umount" {
        "unmount"
    } else {
        command.as_str()
    };
    let pending = faults::apply(&store, &config, command)?;

    let mut out = Out::default();
    let rc = match command {
        "get" => get::run(&store.lock()?.state, rest, &mut out),
        "list" => list::run(&store.lock()?.state, rest, &mut out),
        "load-key" => load_key::run(&store, &config, rest, &mut out)?,
        "unload-key" => unload_key::run(&store, rest, &mut out)?,
        "mount" => mount::mount(&store, rest, &mut out)?,
        "unmount" => mount::unmount(&store, rest, &mut out)?,
        other => {
            out.err(&format!("unrecognized command '{other}'\n"));
            out.err(
                "zfs-sim: only get, list, load-key, unload-key, mount and unmount are simulated\n",
            );
            2
        }
    };
    let rc = match pending.partial {
        Some((bytes, rc_override)) => {
            let keep = bytes.unwrap_or(out.stdout.len() / 2).min(out.stdout.len());
            out.stdout.truncate(keep);
            rc_override.unwrap_or(rc)
        }
        None => rc,
    };
    out.flush();
    Ok(rc)
}
