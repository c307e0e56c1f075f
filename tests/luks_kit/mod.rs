//! LUKS devices for tests: the cryptsetup and zpool simulators on one state,
//! device files under the test's host root, and a configuration file.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use cryptsetup_sim::{Device, Pool, State};

use crate::common::{Sim, keygate_bin};
use crate::kit::host_root;

/// The simulators' state for one test, beside a zfs [`Sim`].
pub struct Luks {
    pub dir: PathBuf,
    pub host: PathBuf,
}

pub fn cryptsetup_sim_bin() -> PathBuf {
    sim_bin("cryptsetup-sim")
}

pub fn zpool_sim_bin() -> PathBuf {
    sim_bin("zpool-sim")
}

fn sim_bin(name: &str) -> PathBuf {
    let bin = keygate_bin().with_file_name(name);
    assert!(
        bin.is_file(),
        "the simulator {} is missing: run the whole `cargo test --locked`, \
         or `cargo build --locked -p cryptsetup-sim` before `cargo test --test NAME`",
        bin.display()
    );
    bin
}

/// Pool `nest` with the encryption root `nest/a` under `pass`, and the
/// LUKS simulators beside it, with no device yet.
pub fn nest(pass: &[u8]) -> (Sim, Luks) {
    let sim = Sim::new();
    sim.pool("nest");
    sim.encrypted_root("nest/a", pass);
    let luks = Luks::new(&sim);
    (sim, luks)
}

impl Luks {
    pub fn new(sim: &Sim) -> Luks {
        let dir = sim.root().join("luks-sim");
        fs::create_dir_all(dir.join("mapper")).unwrap();
        let host = host_root(sim);
        fs::create_dir_all(host.join("dev")).unwrap();
        let mapper = host.join("dev/mapper");
        if !mapper.exists() {
            std::os::unix::fs::symlink(dir.join("mapper"), &mapper).unwrap();
        }
        State::default().write(&dir).unwrap();
        Luks { dir, host }
    }

    /// The host path of a guest path (`/dev/vdb`).
    pub fn path(&self, guest: &str) -> PathBuf {
        self.host.join(guest.trim_start_matches('/'))
    }

    /// A LUKS device file at `guest` (e.g. `/dev/vdb`) with these key slots
    /// and this content once open.
    pub fn device(&self, guest: &str, keys: &[&[u8]], data: &[u8]) {
        let path = self.path(guest);
        let f = fs::File::create(&path).unwrap();
        f.set_len(256 << 20).unwrap();
        self.update(|s| {
            s.devices.push(Device {
                path: path.clone(),
                keys: keys.iter().map(|k| k.to_vec()).collect(),
                data: data.to_vec(),
            })
        });
    }

    /// A plain file that is not LUKS.
    pub fn plain(&self, guest: &str) {
        let f = fs::File::create(self.path(guest)).unwrap();
        f.set_len(1 << 20).unwrap();
    }

    /// A pool made of these mapper names, not imported.
    pub fn pool(&self, name: &str, mappers: &[&str]) {
        self.update(|s| {
            s.pools.push(Pool {
                name: name.into(),
                imported: false,
                mappers: mappers.iter().map(|m| m.to_string()).collect(),
            })
        });
    }

    /// Open `name` on `guest` as if someone had before keygate ran.
    pub fn open_before(&self, guest: &str, name: &str) {
        let path = self.path(guest);
        let data = self
            .state()
            .device(&path)
            .map(|d| d.data.clone())
            .unwrap_or_default();
        self.update(|s| {
            s.active.push(cryptsetup_sim::Mapping {
                name: name.into(),
                device: path.canonicalize().unwrap(),
                readonly: false,
                discards: false,
            })
        });
        fs::write(self.dir.join("mapper").join(name), data).unwrap();
    }

    pub fn state(&self) -> State {
        State::read(&self.dir)
    }

    pub fn update(&self, f: impl FnOnce(&mut State)) {
        let mut s = self.state();
        f(&mut s);
        s.write(&self.dir).unwrap();
    }

    /// The open mappings, sorted by name.
    pub fn active(&self) -> Vec<String> {
        let mut names: Vec<String> = self.state().active.iter().map(|m| m.name.clone()).collect();
        names.sort();
        names
    }

    pub fn imported(&self) -> Vec<String> {
        self.state()
            .pools
            .iter()
            .filter(|p| p.imported)
            .map(|p| p.name.clone())
            .collect()
    }

    /// Every simulator call, `PROGRAM ARGS...`.
    pub fn calls(&self) -> Vec<String> {
        fs::read_to_string(self.dir.join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    pub fn config_line(&self, line: &str) {
        let p = self.dir.join("config");
        let mut text = fs::read_to_string(&p).unwrap_or_default();
        text.push_str(line);
        text.push('\n');
        fs::write(p, text).unwrap();
    }

    /// A keygate configuration file using the simulators, with `body`
    /// (the `[[luks]]` entries, `luks_pools`, ...). Device paths in `body`
    /// are guest paths: keygate resolves them under the host root.
    pub fn config(&self, body: &str) -> PathBuf {
        let p = self.dir.join("keygate.toml");
        fs::write(
            &p,
            format!(
                "cryptsetup = \"{}\"\nzpool = \"{}\"\n{body}",
                cryptsetup_sim_bin().display(),
                zpool_sim_bin().display()
            ),
        )
        .unwrap();
        p
    }

    /// Point a keygate command at this state and configuration
    /// (`--config` is a global flag: it may follow the subcommand).
    pub fn apply(&self, cmd: &mut Command, config: &Path) {
        cmd.env("CRYPTSETUP_SIM_DIR", &self.dir)
            .arg("--config")
            .arg(config);
    }
}
