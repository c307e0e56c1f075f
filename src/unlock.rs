//! `keygate unlock` and `keygate status`: the shell side of the gate.
//!
//! With a gate waiting, the passphrase goes to it over the control socket;
//! without one, keygate loads the keys itself, the same way the gate does.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use zeroize::Zeroize;

use crate::cli::{StatusArgs, UnlockArgs};
use crate::control::DEFAULT_SOCKET;
use crate::control::client::{self, ClientError};
use crate::control::status::Status;
use crate::gate::{Context, attempt, read_plan};
use crate::json;
use crate::secret::{Secret, passphrase_problem};
use crate::sources::Reply;
use crate::sources::board::name_list;

fn socket_path(ctx: &Context, given: &Option<PathBuf>) -> PathBuf {
    given
        .clone()
        .unwrap_or_else(|| ctx.host.path(DEFAULT_SOCKET))
}

pub fn unlock(ctx: &Context, args: &UnlockArgs) -> i32 {
    // This process will hold a passphrase: no core dumps of it.
    for warning in crate::secret::harden_process() {
        crate::errln!("keygate: warning: {warning}");
    }
    let socket = socket_path(ctx, &args.socket);
    match client::status(&socket) {
        Ok(status) => unlock_through_gate(&socket, &status),
        Err(ClientError::NoGate(_)) => unlock_here(ctx, &args.targets),
        Err(e) => {
            crate::errln!("keygate: error: {e}");
            1
        }
    }
}

fn unlock_through_gate(socket: &std::path::Path, status: &Status) -> i32 {
    if status.locked.is_empty() {
        crate::outln!("The waiting gate has every key it needs.");
        return 0;
    }
    crate::outln!(
        "A keygate gate (pid {}) is waiting for {}.",
        status.pid,
        name_list(&status.locked)
    );
    let secret = match prompt(&format!(
        "Enter passphrase for {}: ",
        name_list(&status.locked)
    )) {
        Ok(s) => s,
        Err(code) => return code,
    };
    if let Some(problem) = passphrase_problem(&secret) {
        crate::errln!("keygate: {problem}");
        return 1;
    }
    match client::unlock(socket, &secret) {
        Ok(reply) => {
            drop(secret);
            print_reply(&reply);
            if reply.remaining.is_empty() && reply.failed.is_empty() {
                crate::outln!("Every key is loaded; the boot continues.");
                0
            } else {
                1
            }
        }
        Err(e) => {
            crate::errln!("keygate: error: {e}");
            1
        }
    }
}

fn unlock_here(ctx: &Context, targets: &[String]) -> i32 {
    let mut plan = match read_plan(&ctx.zfs, targets) {
        Ok(p) => p,
        Err(e) => {
            crate::errln!("keygate: error: {e}");
            return 2;
        }
    };
    if plan.all_available() {
        crate::outln!("Every key is already loaded.");
        return 0;
    }
    let from_files: Vec<_> = plan.locked().filter(|r| r.loads_from_location()).collect();
    if !from_files.is_empty() {
        let result = attempt::from_locations(&ctx.zfs, &from_files);
        for r in &result.opened {
            crate::outln!("{r}: loaded from its keylocation");
        }
        for (r, why) in &result.failed {
            crate::outln!("{r}: cannot load from its keylocation: {why}");
        }
        if let Ok(p) = read_plan(&ctx.zfs, targets) {
            plan = p;
        }
    }
    let typed: Vec<String> = plan
        .locked()
        .filter(|r| r.takes_passphrase())
        .map(|r| r.name.clone())
        .collect();
    if !typed.is_empty() {
        let secret = match prompt(&format!("Enter passphrase for {}: ", name_list(&typed))) {
            Ok(s) => s,
            Err(code) => return code,
        };
        if let Some(problem) = passphrase_problem(&secret) {
            crate::errln!("keygate: {problem}");
            return 1;
        }
        let result = attempt::passphrase(&ctx.zfs, &typed, &secret);
        drop(secret);
        // zfs said every locked root is loaded: no need to read it back.
        let opened_all = plan.locked().all(|r| result.opened.contains(&r.name));
        print_reply(&Reply {
            opened: result.opened,
            rejected: result.rejected,
            failed: result.failed,
            remaining: Vec::new(),
        });
        if opened_all {
            crate::outln!("Every key is loaded.");
            return 0;
        }
    }
    match read_plan(&ctx.zfs, targets) {
        Ok(p) if p.all_available() => {
            crate::outln!("Every key is loaded.");
            0
        }
        Ok(p) => {
            crate::outln!("Still locked: {}", p.locked_names().join(", "));
            1
        }
        Err(e) => {
            crate::errln!("keygate: error: {e}");
            1
        }
    }
}

fn print_reply(reply: &Reply) {
    for r in &reply.opened {
        crate::outln!("{r}: unlocked");
    }
    for r in &reply.rejected {
        crate::outln!("{r}: wrong passphrase");
    }
    for (r, why) in &reply.failed {
        crate::outln!("{r}: failed: {why}");
    }
}

/// Ask once on the controlling terminal (echo off).
pub(crate) fn prompt(text: &str) -> Result<Secret, i32> {
    match rpassword::prompt_password(text) {
        Ok(mut typed) => {
            let secret = Secret::from_slice(typed.as_bytes());
            typed.zeroize();
            Ok(secret)
        }
        Err(e) => {
            crate::errln!(
                "keygate: error: cannot prompt for the passphrase: no usable terminal (/dev/tty): {e}"
            );
            Err(2)
        }
    }
}

pub fn status(ctx: &Context, args: &StatusArgs) -> i32 {
    let socket = socket_path(ctx, &args.socket);
    let status = match client::status(&socket) {
        Ok(s) => s,
        Err(e @ ClientError::NoGate(_)) => {
            if args.json {
                crate::outln!("{{\"waiting\":false}}");
            } else {
                crate::outln!("{e}.");
            }
            return 1;
        }
        Err(e) => {
            crate::errln!("keygate: error: {e}");
            return 1;
        }
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(status.since);
    let waited = now.saturating_sub(status.since);
    if args.json {
        crate::outln!(
            "{{\"waiting\":true,\"pid\":{},\"mode\":{},\"since\":{},\"waiting_seconds\":{},\"locked\":{},\"sources\":{}}}",
            status.pid,
            json::string(&status.mode),
            status.since,
            waited,
            json::strings(status.locked.iter().map(String::as_str)),
            json::strings(status.sources.iter().map(String::as_str)),
        );
    } else {
        crate::outln!(
            "keygate gate (pid {}, mode {}) waiting since {} ({})",
            status.pid,
            status.mode,
            utc(status.since),
            elapsed(waited)
        );
        crate::outln!(
            "locked: {}",
            if status.locked.is_empty() {
                "nothing".to_string()
            } else {
                status.locked.join(", ")
            }
        );
        crate::outln!("asking through: {}", status.sources.join(", "));
    }
    0
}

fn elapsed(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m {}s", s / 60, s % 60),
        s => format!("{}h {}m", s / 3600, (s % 3600) / 60),
    }
}

/// `YYYY-MM-DD HH:MM:SS UTC` from Unix seconds (proleptic Gregorian).
pub fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_795_633_323), "2026-11-25 19:02:03 UTC");
    }

    #[test]
    fn elapsed_words() {
        assert_eq!(elapsed(5), "5s");
        assert_eq!(elapsed(125), "2m 5s");
        assert_eq!(elapsed(7_380), "2h 3m");
    }
}
