//! The honesty test: replays every command of the recorded real OpenZFS
//! 2.3.2 session (`tests/fixtures/zfs-reference/real-zfs-2.3.2-probe.txt`)
//! against the simulator, set up as the record's header describes, and
//! requires identical exit codes, stdout and stderr.
//!
//! The record ran with key files under `/root`; here they live in a
//! temporary `$KEYDIR`, so `/root` in the record is replaced by that path,
//! and human-readable table columns holding it are widened to match (zfs
//! sizes a column to its longest value).

mod common;

use std::path::Path;
use std::process::Command;

use common::Sim;
use common::record::{Record, difference, parse as parse_probe};

const PROBE: &[u8] = include_bytes!("fixtures/zfs-reference/real-zfs-2.3.2-probe.txt");

/// Commands not replayed, with the reason. Keep this short.
const SKIPPED: &[(&str, &str, &str)] = &[];

/// The setup of the record's header, on a fresh simulated host.
fn setup(sim: &Sim, keydir: &Path) {
    sim.pool("nest");
    sim.encrypted_root("nest/a", b"hunter2hunter2");
    sim.set_pbkdf2iters("nest/a", 100_000);
    sim.child("nest/a/b");
    sim.child("nest/c");
    sim.file_root("nest/f", &keydir.join("f.key"), b"filepass123");
    sim.set_pbkdf2iters("nest/f", 100_000);
}

/// Replaces `from` by `to` in a zfs table, widening the columns that grow
/// (cells are left-aligned and padded to the column width plus two spaces,
/// the last column unpadded).
fn relayout(table: &str, from: &str, to: &str) -> String {
    let lines: Vec<&str> = table.lines().collect();
    let Some(header) = lines.first() else {
        return table.to_owned();
    };
    let bytes = header.as_bytes();
    let starts: Vec<usize> = (0..bytes.len())
        .filter(|&i| bytes[i] != b' ' && (i == 0 || bytes[i - 1] == b' '))
        .collect();
    let cell = |line: &str, i: usize| -> String {
        let a = starts[i].min(line.len());
        let b = starts.get(i + 1).map_or(line.len(), |&b| b.min(line.len()));
        line[a..b].to_owned()
    };
    let ncols = starts.len();
    let mut widths = Vec::new();
    let mut grown = Vec::new();
    for i in 0..ncols.saturating_sub(1) {
        let old = starts[i + 1] - starts[i] - 2;
        let new = lines
            .iter()
            .map(|l| cell(l, i).trim().replace(from, to).len())
            .fold(old, usize::max);
        widths.push(new);
        grown.push(new != old);
    }
    let mut out = String::new();
    for l in &lines {
        for i in 0..ncols {
            let c = cell(l, i);
            if i + 1 == ncols {
                out.push_str(&c.replace(from, to));
            } else if grown[i] {
                out.push_str(&format!(
                    "{:<w$}  ",
                    c.trim().replace(from, to),
                    w = widths[i]
                ));
            } else {
                out.push_str(&c);
            }
        }
        out.push('\n');
    }
    out
}

fn expected(bytes: &[u8], keydir: &str) -> Vec<u8> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return bytes.to_vec();
    };
    if !text.contains("/root") {
        return bytes.to_vec();
    }
    if text.starts_with("NAME ") {
        relayout(text, "/root", keydir).into_bytes()
    } else {
        text.replace("/root", keydir).into_bytes()
    }
}

#[test]
fn relayout_widens_only_growing_columns() {
    let t = "NAME  LOC     X\nab    /root/  1\n";
    assert_eq!(
        relayout(t, "/root", "/tmp/xyz"),
        "NAME  LOC        X\nab    /tmp/xyz/  1\n"
    );
}

#[test]
fn probe_record_is_complete() {
    let records = parse_probe(PROBE);
    assert_eq!(records.len(), 134, "the README promises 134 commands");
    assert_eq!(records.iter().filter(|r| r.boot == 1).count(), 73);
    assert_eq!(records.iter().filter(|r| r.boot == 2).count(), 61);
}

/// Run `records` in order against a fresh simulated host set up by
/// `setup`; returns how many were compared and a description of each
/// difference from real zfs.
fn replay(records: &[&Record], setup: impl Fn(&Sim, &Path)) -> (usize, Vec<String>) {
    let sim = Sim::new();
    let keydir = sim.root().join("keys");
    std::fs::create_dir_all(&keydir).expect("creating KEYDIR");
    setup(&sim, &keydir);
    let keydir_s = keydir.to_str().expect("UTF-8 temp path").to_owned();
    let mut failures = Vec::new();
    for r in records {
        let mut cmd = Command::new("bash");
        cmd.arg("-c")
            .arg(&r.command)
            .envs(sim.envs())
            .env("KEYDIR", &keydir)
            .current_dir(&keydir);
        let out = common::run_with_timeout(cmd, common::TIMEOUT);
        let want_out = expected(&r.stdout, &keydir_s);
        let want_err = expected(&r.stderr, &keydir_s);
        let label = format!("boot {} #{} $ {}", r.boot, r.number, r.command);
        failures.extend(difference(&label, r, &out, &want_out, &want_err));
    }
    (records.len(), failures)
}

#[test]
fn simulator_matches_real_zfs() {
    let records = parse_probe(PROBE);
    let mut failures = Vec::new();
    let mut compared = 0;
    let mut skipped = Vec::new();
    for boot in [1, 2] {
        let mut these = Vec::new();
        for r in records.iter().filter(|r| r.boot == boot) {
            if let Some((_, _, why)) = SKIPPED
                .iter()
                .find(|(b, n, _)| *b == format!("{boot}") && *n == r.number)
            {
                skipped.push(format!("boot {boot} #{}: {} ({why})", r.number, r.command));
                continue;
            }
            these.push(r);
        }
        let (n, f) = replay(&these, setup);
        compared += n;
        failures.extend(f);
    }
    eprintln!(
        "compared {compared} commands; skipped {}: {skipped:#?}",
        skipped.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {compared} commands differ from real zfs:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    assert_eq!(compared + skipped.len(), 134);
}

/// What the VM tier recorded from real OpenZFS with `tests/vm/run probe`
/// (commands in tests/vm/probe-commands.txt): the `get` forms keygate uses
/// and `load-key` as keygate calls it. Re-recording it after a change of
/// OpenZFS keeps the simulator honest.
const VM_PROBE: &[u8] = include_bytes!("fixtures/zfs-probe/real-zfs-2.3.2-probe.txt");

/// The setup tests/vm/probe-commands.txt describes.
/// The guest's pool has its mountpoint set at creation
/// (`zpool create -O mountpoint=/nest`),
/// so it is `local` on the pool and inherited below.
fn vm_probe_setup(sim: &Sim, keydir: &Path) {
    setup(sim, keydir);
    sim.set_mountpoint("nest", "/nest");
    sim.encrypted_root("nest/d", b"hunter2hunter2");
    sim.set_pbkdf2iters("nest/d", 100_000);
}

#[test]
fn simulator_matches_the_vm_recorded_probe() {
    let records = parse_probe(VM_PROBE);
    assert!(records.len() >= 30, "{} records", records.len());
    let all: Vec<&Record> = records.iter().collect();
    let (compared, failures) = replay(&all, vm_probe_setup);
    assert!(
        failures.is_empty(),
        "{} of {compared} commands differ from real zfs:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
