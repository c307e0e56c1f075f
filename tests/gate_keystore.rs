//! The keystore chain end to end through `keygate gate` on a pty: one
//! passphrase for the keystore, every dependant loads from its key file,
//! the keystore is closed again; plus the configuration file driving it.

mod common;
mod kit;

use std::fs;
use std::process::Stdio;

use common::{ChildGuard, Sim, SpawnGuarded, TIMEOUT};
use kit::{Pty, finish, keygate, stderr_of};

const KEYSTORE_PASS: &[u8] = b"keystore-passphrase";

/// The simulator with real mountpoints inside the test's directory, behind
/// a `zfs` wrapper that keygate runs by path.
struct World {
    sim: Sim,
    zfs: String,
}

impl World {
    fn new() -> World {
        let sim = Sim::new();
        let wrapper = sim.wrapper_with_real_mounts();
        sim.pool("nest");
        let mp = sim.mount_root().join("nest").display().to_string();
        sim.set_mountpoint("nest", &mp);
        let zfs = wrapper.display().to_string();
        World { sim, zfs }
    }

    fn keystore(&self, name: &str) {
        self.sim.encrypted_root(name, KEYSTORE_PASS);
    }

    fn dependant(&self, name: &str, keystore: &str, write: bool) {
        let pass = format!("{name}-passphrase");
        self.sim.encrypted_root(name, pass.as_bytes());
        let file = format!("{}.key", name.replace('/', "_"));
        if write {
            fs::write(self.sim.data_dir(keystore).join(&file), format!("{pass}\n")).unwrap();
        }
        let mp = self.sim.state().mountpoint(keystore).0;
        self.sim
            .set_keylocation(name, &format!("file://{mp}/{file}"));
    }

    fn gate(&self, tty: &Pty, extra: &[&str]) -> ChildGuard {
        let mut args = vec![
            "--zfs",
            &self.zfs,
            "gate",
            "--mode",
            "prompt",
            "--console",
            &tty.path,
        ];
        args.extend_from_slice(extra);
        keygate(&self.sim, &args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn_guarded()
    }
}

#[test]
fn one_passphrase_opens_the_keystore_and_everything_in_it() {
    let w = World::new();
    w.keystore("nest/keys");
    for r in ["nest/a", "nest/b", "nest/c"] {
        w.dependant(r, "nest/keys", true);
    }
    let tty = Pty::new();
    let gate = w.gate(&tty, &[]);
    // Only the keystore is asked for: the others wait for it.
    tty.expect("Enter passphrase for nest/keys: ");
    tty.type_bytes(b"keystore-passphrase\r");
    let out = finish(gate, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    for r in ["nest/a", "nest/b", "nest/c"] {
        assert_eq!(w.sim.keystatus(r), "available", "{r}");
    }
    assert_eq!(w.sim.keystatus("nest/keys"), "unavailable", "closed again");
    assert!(!w.sim.is_mounted("nest/keys"));
    assert_eq!(tty.output().matches("Enter passphrase").count(), 1);
    let err = stderr_of(&out);
    assert!(err.contains("nest/keys"), "{err}");
}

#[test]
fn a_missing_key_file_joins_the_prompt_and_the_rest_still_load() {
    let w = World::new();
    w.keystore("nest/keys");
    w.dependant("nest/a", "nest/keys", true);
    w.dependant("nest/b", "nest/keys", false);
    let tty = Pty::new();
    let gate = w.gate(&tty, &[]);
    tty.expect("Enter passphrase for nest/keys: ");
    tty.type_bytes(b"keystore-passphrase\r");
    // nest/b's file was not there: it is asked for by name.
    tty.expect("Enter passphrase for nest/b: ");
    assert_eq!(w.sim.keystatus("nest/a"), "available");
    tty.type_bytes(b"nest/b-passphrase\r");
    let out = finish(gate, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert!(stderr_of(&out).contains("nest/b"), "{}", stderr_of(&out));
}

#[test]
fn a_cycle_is_refused_before_any_load() {
    let w = World::new();
    w.keystore("nest/x");
    w.keystore("nest/y");
    let mp_x = w.sim.state().mountpoint("nest/x").0;
    let mp_y = w.sim.state().mountpoint("nest/y").0;
    w.sim
        .set_keylocation("nest/x", &format!("file://{mp_y}/x.key"));
    w.sim
        .set_keylocation("nest/y", &format!("file://{mp_x}/y.key"));
    let tty = Pty::new();
    let gate = w.gate(&tty, &[]);
    let out = finish(gate, TIMEOUT);
    assert_eq!(out.status.code(), Some(2), "{}", common::show(&out));
    let err = stderr_of(&out);
    assert!(err.contains("nest/x") && err.contains("nest/y"), "{err}");
    assert_eq!(w.sim.count_calls("load-key"), 0);
    assert_eq!(w.sim.count_calls("mount"), 0);
}

#[test]
fn configuration_file_sets_the_close_policy_and_tries() {
    let w = World::new();
    w.keystore("nest/keys");
    w.dependant("nest/a", "nest/keys", true);
    let config = w.sim.root().join("keygate.toml");
    fs::write(
        &config,
        "# test configuration\ntries = 1\n\n[[keystore]]\ndataset = \"nest/keys\"\nclose = \"keep\"\n",
    )
    .unwrap();
    let tty = Pty::new();
    let gate = w.gate(&tty, &["--config", config.to_str().unwrap()]);
    tty.expect("Enter passphrase for nest/keys: ");
    tty.type_bytes(b"keystore-passphrase\r");
    let out = finish(gate, TIMEOUT);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert_eq!(w.sim.keystatus("nest/keys"), "available", "close = keep");
    assert!(w.sim.is_mounted("nest/keys"));
}

#[test]
fn a_bad_configuration_file_names_file_line_and_key() {
    let sim = Sim::new();
    sim.pool("nest");
    let config = sim.root().join("keygate.toml");
    fs::write(&config, "mode = \"prompt\"\ntries = \"three\"\n").unwrap();
    let out = common::run_with_timeout(
        keygate(&sim, &["--config", config.to_str().unwrap(), "gate"]),
        TIMEOUT,
    );
    assert_eq!(out.status.code(), Some(2), "{}", common::show(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains(&format!("{}:2: tries", config.display())),
        "{err}"
    );
    let mut cmd = keygate(&sim, &["--config", config.to_str().unwrap(), "gate"]);
    cmd.env("SMF_FMRI", "svc:/system/filesystem/keygate:default");
    assert_eq!(
        common::run_with_timeout(cmd, TIMEOUT).status.code(),
        Some(96)
    );
    let missing = sim.root().join("nope.toml");
    let out = common::run_with_timeout(
        keygate(&sim, &["--config", missing.to_str().unwrap(), "check"]),
        TIMEOUT,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("nope.toml"), "{}", stderr_of(&out));
}

#[test]
fn flags_win_over_the_file() {
    let sim = Sim::new();
    sim.pool("nest");
    sim.encrypted_root("nest/a", b"hunter2hunter2");
    let config = sim.root().join("keygate.toml");
    fs::write(&config, "mode = \"hint\"\n").unwrap();
    let c = config.to_str().unwrap();
    let out = common::run_with_timeout(keygate(&sim, &["--config", c, "gate"]), TIMEOUT);
    assert_eq!(out.status.code(), Some(1), "hint from the file");
    assert!(stderr_of(&out).contains("Run 'zfs load-key -r nest/a'"));
    let out = common::run_with_timeout(
        keygate(
            &sim,
            &[
                "--config",
                c,
                "gate",
                "--mode",
                "wait",
                "--timeout",
                "200ms",
                "--on-timeout",
                "continue",
            ],
        ),
        TIMEOUT,
    );
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert!(stderr_of(&out).contains("continuing the boot without nest/a"));
}
