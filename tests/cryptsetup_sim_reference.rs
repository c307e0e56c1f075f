//! The cryptsetup simulator's honesty test: replays every command of the
//! record taken from real cryptsetup in the VM tier
//! (`tests/fixtures/cryptsetup-reference/`, made by `tests/vm/run
//! luks_probe` from `tests/vm/luks-probe-commands.txt`) against
//! cryptsetup-sim, set up as the record's header describes, and requires
//! identical exit codes, stdout and stderr, byte for byte.
//!
//! The record's devices (`/dev/disk/by-id/virtio-pool0` and `-pool1`, the
//! nodes they resolve to, as the record's first command printed them, and
//! `/dev/nonexistent`) and files (`/root/...`) live in a temporary
//! directory here: those paths are replaced by the temporary ones in the
//! commands and in the expected output alike.

mod common;
mod kit;
mod luks_kit;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::record::{difference, parse};
use cryptsetup_sim::{Device, State};

const PROBE: &[u8] =
    include_bytes!("fixtures/cryptsetup-reference/real-cryptsetup-2.6.1-probe.txt");

/// The guest paths of the record and where they are here: the by-id names
/// first (they contain no node name), then the nodes, then the rest.
fn places(root: &Path, nodes: &[String]) -> Vec<(String, String)> {
    let mut guest: Vec<String> = vec![
        "/dev/disk/by-id/virtio-pool0".into(),
        "/dev/disk/by-id/virtio-pool1".into(),
    ];
    guest.extend(nodes.iter().cloned());
    guest.push("/dev/nonexistent".into());
    guest.push("/root/".into());
    guest
        .into_iter()
        .map(|g| {
            let mut here = root.join(g.trim_start_matches('/')).display().to_string();
            if g.ends_with('/') {
                here.push('/');
            }
            (g, here)
        })
        .collect()
}

fn relocate(bytes: &[u8], places: &[(String, String)]) -> Vec<u8> {
    let mut text = String::from_utf8(bytes.to_vec()).expect("record output is UTF-8");
    for (guest, here) in places {
        text = text.replace(guest, here);
    }
    text.into_bytes()
}

#[test]
fn the_record_is_complete() {
    let records = parse(PROBE);
    let wanted = fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vm/luks-probe-commands.txt"
    ))
    .unwrap();
    let commands: Vec<&str> = wanted
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let recorded: Vec<&str> = records.iter().map(|r| r.command.as_str()).collect();
    assert_eq!(
        recorded, commands,
        "re-record with `tests/vm/run luks_probe`"
    );
    // What keygate relies on, as real cryptsetup said it.
    let wrong = &records[6];
    assert!(wrong.command.contains("wrongpass1"), "{}", wrong.command);
    assert_eq!(wrong.rc, 2, "a wrong passphrase is exit code 2");
}

#[test]
fn simulator_matches_real_cryptsetup() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for d in ["dev", "root", "state/mapper", "bin"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    let records = parse(PROBE);
    // The first record resolved the two by-id names: the same nodes here.
    let nodes: Vec<String> = String::from_utf8(records[0].stdout.clone())
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(nodes.len(), 2, "{}", records[0].command);
    fs::create_dir_all(root.join("dev/disk/by-id")).unwrap();
    for (i, node) in nodes.iter().enumerate() {
        let here = root.join(node.trim_start_matches('/'));
        fs::File::create(&here).unwrap().set_len(256 << 20).unwrap();
        std::os::unix::fs::symlink(&here, root.join(format!("dev/disk/by-id/virtio-pool{i}")))
            .unwrap();
    }
    fs::write(root.join("root/k.key"), "keygate-probe-key-file-0123456789").unwrap();
    fs::write(root.join("root/wrong.key"), "not-the-key-file").unwrap();
    fs::File::create(root.join("root/plain.img"))
        .unwrap()
        .set_len(16 << 20)
        .unwrap();
    let state_dir = root.join("state");
    State {
        devices: vec![
            Device {
                path: root.join(nodes[0].trim_start_matches('/')),
                keys: vec![b"hunter2hunter2".to_vec()],
                data: Vec::new(),
            },
            Device {
                path: root.join(nodes[1].trim_start_matches('/')),
                keys: vec![b"keygate-probe-key-file-0123456789".to_vec()],
                data: Vec::new(),
            },
        ],
        ..State::default()
    }
    .write(&state_dir)
    .unwrap();
    std::os::unix::fs::symlink(luks_kit::cryptsetup_sim_bin(), root.join("bin/cryptsetup"))
        .unwrap();
    let places = places(root, &nodes);
    let path = format!(
        "{}:{}",
        root.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut failures = Vec::new();
    for r in &records {
        let command = String::from_utf8(relocate(r.command.as_bytes(), &places)).unwrap();
        let mut cmd = Command::new("bash");
        cmd.arg("-c")
            .arg(&command)
            .env("PATH", &path)
            .env("CRYPTSETUP_SIM_DIR", &state_dir)
            .current_dir(root.join("root"));
        let out = common::run_with_timeout(cmd, common::TIMEOUT);
        let want_out = relocate(&r.stdout, &places);
        let want_err = relocate(&r.stderr, &places);
        let label = format!("#{} $ {}", r.number, r.command);
        failures.extend(difference(&label, r, &out, &want_out, &want_err));
    }
    assert!(records.len() > 20, "only {} records", records.len());
    assert!(
        failures.is_empty(),
        "{} of {} commands differ from real cryptsetup:\n{}",
        failures.len(),
        records.len(),
        failures.join("\n")
    );
}
