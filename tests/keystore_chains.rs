//! Keystore chains against the ZFS simulator, through the library API: one
//! passphrase opens a keystore, its dependants load from the key files
//! inside it, and the keystore is closed again.
//!
//! keygate is given a small `zfs` wrapper that points the simulator at this
//! test's state (never the test process's own environment) with
//! `ZFS_SIM_MOUNT_ROOT=/`, and every mountpoint lies inside the test's
//! temporary directory: a mounted keystore is then a real directory at its
//! real mountpoint, and `keylocation=file:///...` names real files.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Fault, Sim};
use keygate::keystore::{ChainError, Chains, Closed, KeyOutcome, Level, Mounted, Tools};
use keygate::plan::Plan;
use keygate::secret::Secret;
use keygate::settings::{ClosePolicy, KeystoreMount, KeystoreSettings};
use keygate::zfs::get::Datasets;
use keygate::zfs::load_key::{self, LoadOutcome};
use keygate::zfs::{self, Zfs};

const KEYSTORE_PASS: &[u8] = b"keystore-passphrase";

struct World {
    sim: Sim,
    zfs: Zfs,
}

impl World {
    fn new() -> World {
        let sim = Sim::new();
        let wrapper = sim.wrapper_with_real_mounts();
        let zfs = Zfs::new(&wrapper, Duration::from_secs(30));
        sim.pool("nest");
        let w = World { sim, zfs };
        w.sim.set_mountpoint("nest", &w.mp("nest"));
        w
    }

    /// An absolute mountpoint inside the test directory.
    fn mp(&self, rel: &str) -> String {
        self.sim.mount_root().join(rel).display().to_string()
    }

    /// A passphrase keystore (its mountpoint inherited under the pool's).
    fn keystore(&self, name: &str) {
        self.sim.encrypted_root(name, KEYSTORE_PASS);
    }

    /// A root whose key file `file` lies inside `keystore` (written there
    /// when `write`); returns the key file's path as keylocation names it.
    fn dependant(&self, name: &str, keystore: &str, file: &str, write: bool) -> PathBuf {
        let pass = format!("{name}-passphrase");
        self.sim.encrypted_root(name, pass.as_bytes());
        if write {
            fs::write(self.sim.data_dir(keystore).join(file), format!("{pass}\n")).unwrap();
        }
        let path = Path::new(&self.keystore_mountpoint(keystore)).join(file);
        self.sim
            .set_keylocation(name, &format!("file://{}", path.display()));
        path
    }

    fn keystore_mountpoint(&self, keystore: &str) -> String {
        self.sim.state().mountpoint(keystore).0
    }

    fn datasets(&self) -> Datasets {
        zfs::get::read(&self.zfs, &["nest".to_string()]).unwrap()
    }

    fn plan(&self) -> Plan {
        Plan::from_datasets(&self.datasets())
    }

    /// The operator types the keystore's passphrase.
    fn type_passphrase(&self, root: &str) {
        let got = load_key::with_passphrase(&self.zfs, root, &Secret::from_slice(KEYSTORE_PASS));
        assert_eq!(got.unwrap(), LoadOutcome::Loaded);
    }

    /// Subcommand and last argument of every zfs call after the first `skip`.
    fn calls_since(&self, skip: usize) -> Vec<String> {
        self.sim
            .calls()
            .into_iter()
            .skip(skip)
            .map(|c| format!("{} {}", c[0], c.last().cloned().unwrap_or_default()))
            .collect()
    }
}

fn no_entries() -> Vec<KeystoreSettings> {
    Vec::new()
}

#[test]
fn one_passphrase_opens_keystore_and_three_dependants_then_closes_it() {
    let w = World::new();
    w.keystore("nest/keys");
    for r in ["nest/a", "nest/b", "nest/c"] {
        w.dependant(r, "nest/keys", &format!("{}.key", &r[5..]), true);
    }
    let mut chains = Chains::compute(&w.datasets(), &no_entries(), ClosePolicy::Unload).unwrap();
    assert_eq!(chains.keystores().len(), 1);
    assert!(chains.is_dependant("nest/a") && chains.is_dependant("nest/c"));
    assert!(!chains.is_dependant("nest/keys"));
    let before: BTreeSet<String> = BTreeSet::new();

    // Nothing can open before the keystore's passphrase arrives.
    assert!(chains.open_ready(&w.zfs, &w.plan(), &before).is_empty());

    assert!(chains.awaits_keystore("nest/a"));
    w.type_passphrase("nest/keys");
    let skip = w.sim.calls().len() + 1; // the get below
    let reports = chains.open_ready(&w.zfs, &w.plan(), &before);
    assert_eq!(reports.len(), 1);
    let r = &reports[0];
    assert!(matches!(r.mounted, Mounted::Now(_)), "{r:?}");
    assert_eq!(r.loaded(), ["nest/a", "nest/b", "nest/c"]);
    assert_eq!(r.closed, Closed::Unloaded);
    assert!(r.messages().iter().all(|(l, _)| *l == Level::Info), "{r:?}");

    for root in ["nest/a", "nest/b", "nest/c"] {
        assert_eq!(w.sim.keystatus(root), "available", "{root}");
    }
    assert_eq!(w.sim.keystatus("nest/keys"), "unavailable");
    assert!(!w.sim.is_mounted("nest/keys"));
    assert!(chains.is_closed("nest/keys"));
    let calls = w.calls_since(skip);
    assert_eq!(calls[0], "mount nest/keys");
    assert_eq!(
        calls[calls.len() - 2..],
        ["unmount nest/keys", "unload-key nest/keys"]
    );
    let mut loads: Vec<&String> = calls[1..4].iter().collect();
    loads.sort();
    assert_eq!(
        loads,
        ["load-key nest/a", "load-key nest/b", "load-key nest/c"]
    );

    assert!(!chains.awaits_keystore("nest/a"));
    // Opened once per gate run.
    assert!(chains.open_ready(&w.zfs, &w.plan(), &before).is_empty());
}

#[test]
fn a_missing_key_file_is_reported_and_the_others_still_load() {
    let w = World::new();
    w.keystore("nest/keys");
    w.dependant("nest/a", "nest/keys", "a.key", true);
    let missing = w.dependant("nest/b", "nest/keys", "b.key", false);
    w.dependant("nest/c", "nest/keys", "c.key", true);
    let mut chains = Chains::compute(&w.datasets(), &no_entries(), ClosePolicy::Unload).unwrap();
    w.type_passphrase("nest/keys");
    let reports = chains.open_ready(&w.zfs, &w.plan(), &BTreeSet::new());
    let r = &reports[0];
    assert_eq!(r.loaded(), ["nest/a", "nest/c"]);
    assert!(r.keys.contains(&(
        "nest/b".to_string(),
        KeyOutcome::FileMissing(missing.clone())
    )));
    let warnings: Vec<String> = r
        .messages()
        .into_iter()
        .filter(|(l, _)| *l == Level::Warn)
        .map(|(_, m)| m)
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(
        warnings[0],
        format!(
            "cannot load the key of nest/b: its key file {} is not in keystore nest/keys (chain nest/keys -> nest/b)",
            missing.display()
        )
    );
    assert_eq!(w.sim.keystatus("nest/a"), "available");
    assert_eq!(w.sim.keystatus("nest/b"), "unavailable");
    assert_eq!(w.sim.keystatus("nest/c"), "available");
    // No load-key was even tried for the missing file.
    assert!(!w.calls_since(0).contains(&"load-key nest/b".to_string()));
    // The keystore is still closed.
    assert_eq!(r.closed, Closed::Unloaded);
}

#[test]
fn a_cycle_is_refused_before_any_load() {
    let w = World::new();
    w.keystore("nest/k1");
    w.keystore("nest/k2");
    w.sim.set_keylocation(
        "nest/k1",
        &format!("file://{}/k1.key", w.keystore_mountpoint("nest/k2")),
    );
    w.sim.set_keylocation(
        "nest/k2",
        &format!("file://{}/k2.key", w.keystore_mountpoint("nest/k1")),
    );
    let err = Chains::compute(&w.datasets(), &no_entries(), ClosePolicy::Unload).unwrap_err();
    assert!(matches!(err, ChainError::Cycle(_)));
    let text = err.to_string();
    assert!(
        text.contains("nest/k1 -> nest/k2 -> nest/k1")
            || text.contains("nest/k2 -> nest/k1 -> nest/k2"),
        "{text}"
    );
    assert_eq!(w.sim.count_calls("load-key"), 0);
    assert_eq!(w.sim.count_calls("mount"), 0);
}

#[test]
fn a_keystore_unlocked_before_the_gate_keeps_its_key() {
    let w = World::new();
    w.keystore("nest/keys");
    w.dependant("nest/a", "nest/keys", "a.key", true);
    w.sim.load("nest/keys");
    let plan = w.plan();
    let before: BTreeSet<String> = plan
        .roots
        .iter()
        .filter(|r| !r.is_locked())
        .map(|r| r.name.clone())
        .collect();
    assert!(before.contains("nest/keys"));
    let mut chains = Chains::compute(&w.datasets(), &no_entries(), ClosePolicy::Unload).unwrap();
    let r = &chains.open_ready(&w.zfs, &plan, &before)[0];
    assert_eq!(r.loaded(), ["nest/a"]);
    assert!(matches!(r.closed, Closed::KeyKept(_)), "{r:?}");
    assert_eq!(w.sim.keystatus("nest/keys"), "available");
    assert!(
        !w.sim.is_mounted("nest/keys"),
        "what keygate mounted it unmounts"
    );
    assert_eq!(w.sim.count_calls("unload-key"), 0);
    assert!(!chains.is_closed("nest/keys"));
}

#[test]
fn a_keystore_mounted_before_the_gate_stays_mounted() {
    let w = World::new();
    w.keystore("nest/keys");
    w.dependant("nest/a", "nest/keys", "a.key", true);
    w.sim.load("nest/keys");
    let mount = w.sim.command(&["mount", "nest/keys"]);
    let mut mount = mount;
    mount.env("ZFS_SIM_MOUNT_ROOT", "/");
    assert!(mount.status().unwrap().success());
    let plan = w.plan();
    let before = BTreeSet::from(["nest/keys".to_string()]);
    let mut chains = Chains::compute(&w.datasets(), &no_entries(), ClosePolicy::Unload).unwrap();
    let r = &chains.open_ready(&w.zfs, &plan, &before)[0];
    assert!(matches!(r.mounted, Mounted::Before(_)), "{r:?}");
    assert_eq!(r.loaded(), ["nest/a"]);
    assert!(matches!(r.closed, Closed::LeftOpen(_)), "{r:?}");
    assert!(w.sim.is_mounted("nest/keys"));
    assert_eq!(w.sim.keystatus("nest/keys"), "available");
}

fn with_policy(close: ClosePolicy) -> (World, Vec<keygate::keystore::KeystoreReport>) {
    let w = World::new();
    w.keystore("nest/keys");
    w.dependant("nest/a", "nest/keys", "a.key", true);
    let entries = vec![KeystoreSettings {
        dataset: "nest/keys".into(),
        close: Some(close),
        mount: KeystoreMount::Own,
    }];
    // The entry beats the global default.
    let mut chains = Chains::compute(&w.datasets(), &entries, ClosePolicy::Unload).unwrap();
    w.type_passphrase("nest/keys");
    let reports = chains.open_ready(&w.zfs, &w.plan(), &BTreeSet::new());
    (w, reports)
}

#[test]
fn close_keep_leaves_it_mounted_and_loaded() {
    let (w, reports) = with_policy(ClosePolicy::Keep);
    assert_eq!(reports[0].closed, Closed::Kept);
    assert_eq!(w.sim.keystatus("nest/a"), "available");
    assert!(w.sim.is_mounted("nest/keys"));
    assert_eq!(w.sim.keystatus("nest/keys"), "available");
}

#[test]
fn close_unmount_unmounts_and_keeps_the_key() {
    let (w, reports) = with_policy(ClosePolicy::Unmount);
    assert_eq!(reports[0].closed, Closed::Unmounted);
    assert_eq!(w.sim.keystatus("nest/a"), "available");
    assert!(!w.sim.is_mounted("nest/keys"));
    assert_eq!(w.sim.keystatus("nest/keys"), "available");
    assert_eq!(w.sim.count_calls("unload-key"), 0);
}

#[test]
fn a_busy_keystore_is_reported_and_left_as_it_is() {
    let w = World::new();
    w.keystore("nest/keys");
    w.dependant("nest/a", "nest/keys", "a.key", true);
    let mp = w.keystore_mountpoint("nest/keys");
    w.sim.fault(
        "unmount",
        Fault::Fail {
            rc: 1,
            stderr: format!("cannot unmount '{mp}': pool or dataset is busy\n"),
        },
    );
    let mut chains = Chains::compute(&w.datasets(), &no_entries(), ClosePolicy::Unload).unwrap();
    w.type_passphrase("nest/keys");
    let r = &chains.open_ready(&w.zfs, &w.plan(), &BTreeSet::new())[0];
    assert_eq!(r.loaded(), ["nest/a"]);
    let Closed::Failed(why) = &r.closed else {
        panic!("{r:?}")
    };
    assert!(why.contains("pool or dataset is busy"), "{why}");
    assert!(
        r.messages()
            .iter()
            .any(|(l, m)| *l == Level::Warn && m.contains("cannot close keystore nest/keys"))
    );
    assert!(w.sim.is_mounted("nest/keys"));
    assert_eq!(w.sim.keystatus("nest/keys"), "available");
    assert_eq!(w.sim.count_calls("unload-key"), 0);
}

#[test]
fn a_keystore_inside_a_keystore_opens_in_order() {
    let w = World::new();
    w.keystore("nest/outer");
    // The inner keystore's own key is a file in the outer one.
    w.dependant("nest/inner", "nest/outer", "inner.key", true);
    w.dependant("nest/a", "nest/inner", "a.key", true);
    w.dependant("nest/b", "nest/inner", "b.key", true);
    w.dependant("nest/c", "nest/outer", "c.key", true);
    let mut chains = Chains::compute(&w.datasets(), &no_entries(), ClosePolicy::Unload).unwrap();
    let order: Vec<(&str, usize)> = chains
        .keystores()
        .iter()
        .map(|k| (k.dataset.as_str(), k.depth))
        .collect();
    assert_eq!(order, [("nest/outer", 0), ("nest/inner", 1)]);

    w.type_passphrase("nest/outer");
    let skip = w.sim.calls().len() + 1;
    let reports = chains.open_ready(&w.zfs, &w.plan(), &BTreeSet::new());
    assert_eq!(reports.len(), 2, "{reports:?}");
    assert_eq!(reports[0].keystore, "nest/outer");
    assert_eq!(reports[0].loaded(), ["nest/c", "nest/inner"]);
    assert_eq!(reports[1].keystore, "nest/inner");
    assert_eq!(reports[1].loaded(), ["nest/a", "nest/b"]);
    for r in &reports {
        assert_eq!(r.closed, Closed::Unloaded, "{r:?}");
    }
    for root in ["nest/a", "nest/b", "nest/c"] {
        assert_eq!(w.sim.keystatus(root), "available", "{root}");
    }
    for ks in ["nest/outer", "nest/inner"] {
        assert_eq!(w.sim.keystatus(ks), "unavailable", "{ks}");
        assert!(!w.sim.is_mounted(ks), "{ks}");
    }
    let calls = w.calls_since(skip);
    let pos = |c: &str| {
        calls
            .iter()
            .position(|x| x == c)
            .unwrap_or_else(|| panic!("{c}: {calls:?}"))
    };
    assert!(pos("mount nest/outer") < pos("load-key nest/inner"));
    assert!(pos("load-key nest/inner") < pos("unmount nest/outer"));
    assert!(pos("unload-key nest/outer") < pos("mount nest/inner"));
    assert!(pos("mount nest/inner") < pos("load-key nest/a"));
    assert!(pos("load-key nest/b") < pos("unload-key nest/inner"));
}

#[test]
fn a_private_mountpoint_reads_the_key_files_from_there() {
    let w = World::new();
    w.keystore("nest/keys");
    w.dependant("nest/a", "nest/keys", "a.key", true);
    // mount(8) and umount(8) stand-ins: the dataset's files appear at the
    // private directory, like `mount -t zfs -o zfsutil` would show them.
    let bin = w.sim.root().join("sysbin");
    fs::create_dir_all(&bin).unwrap();
    let log = w.sim.root().join("mount.log");
    let data = w.sim.data_dir("nest/keys");
    let script = |name: &str, body: &str| {
        let p = bin.join(name);
        fs::write(
            &p,
            format!(
                "#!/bin/sh\necho \"{name} $*\" >> '{}'\n{body}\n",
                log.display()
            ),
        )
        .unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        p
    };
    let mount = script(
        "mount",
        &format!(
            "for last; do :; done\nrmdir \"$last\" && ln -s '{}' \"$last\"",
            data.display()
        ),
    );
    let umount = script("umount", "rm \"$1\" && mkdir \"$1\"");
    let tools = Tools {
        mount,
        umount,
        private_dir: w.sim.root().join("run/keygate/keystores"),
        timeout: Duration::from_secs(30),
    };
    let entries = vec![KeystoreSettings {
        dataset: "nest/keys".into(),
        close: Some(ClosePolicy::Unmount),
        mount: KeystoreMount::Private,
    }];
    let mut chains = Chains::compute(&w.datasets(), &entries, ClosePolicy::Unload)
        .unwrap()
        .with_tools(tools.clone());
    w.type_passphrase("nest/keys");
    let r = &chains.open_ready(&w.zfs, &w.plan(), &BTreeSet::new())[0];
    let private = tools.private_path("nest/keys");
    assert_eq!(r.mounted, Mounted::Now(private.clone()));
    assert_eq!(r.loaded(), ["nest/a"]);
    assert_eq!(r.closed, Closed::Unmounted);
    let log = fs::read_to_string(&log).unwrap();
    assert_eq!(
        log,
        format!(
            "mount -t zfs -o zfsutil nest/keys {p}\numount {p}\n",
            p = private.display()
        )
    );
    // The key came from the private directory, named with -L.
    let load = w
        .sim
        .calls()
        .into_iter()
        .find(|c| c[0] == "load-key" && c.last().map(String::as_str) == Some("nest/a"))
        .unwrap();
    assert_eq!(
        load,
        [
            "load-key",
            "-L",
            &format!("file://{}/a.key", private.display()),
            "nest/a"
        ]
    );
    assert!(!private.exists(), "the private mountpoint is removed");
    assert!(!w.sim.is_mounted("nest/keys"), "zfs mount was never used");
    assert_eq!(w.sim.keystatus("nest/a"), "available");
}
