//! Helpers shared by the integration tests: a ZFS simulator fixture
//! ([`Sim`]), the binaries under test, and running children with a
//! timeout so no test can hang.
//!
//! ```ignore
//! mod common;
//! use common::{Sim, Fault};
//! let sim = Sim::new();
//! sim.pool("nest");
//! sim.encrypted_root("nest/a", b"hunter2hunter2");
//! let out = common::run_with_input(sim.command(&["load-key", "nest/a"]), b"hunter2hunter2\n", common::TIMEOUT);
//! assert_eq!(sim.keystatus("nest/a"), "available");
//! ```
//!
//! Each test binary uses a subset, hence the `dead_code` allowance.
#![allow(dead_code)]

pub use zfs_sim::{escape, state};

mod child;
mod compare;
pub mod record;
pub mod unprivileged;
#[allow(unused_imports)]
pub use child::*;
#[allow(unused_imports)]
pub use compare::{assert_same_termios, unified_diff};

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use nix::fcntl::{Flock, FlockArg};

use state::{Crypt, Dataset, KeyFormat, State};

/// Whether this run is a CI run (`CI=true`), where no test may skip.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| v == "true")
}

/// Skips the calling test (it should `return` right after): prints
/// `skipped: WHY` on a developer's machine, fails the test under `CI=true`,
/// where a missing dependency must turn the run red.
#[track_caller]
pub fn skip(why: &str) {
    assert!(
        !in_ci(),
        "CI=true, so this test may not be skipped: {why} (.ci/install-deps provides it)"
    );
    eprintln!("skipped: {why}");
}

/// A generous default for one child process.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// The keygate binary under test.
pub fn keygate_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_keygate"))
}

/// The simulator binary: the workspace member `zfs-sim`, built into the
/// same target directory as keygate by `cargo test` at the top.
pub fn zfs_sim_bin() -> PathBuf {
    let bin = keygate_bin().with_file_name("zfs-sim");
    assert!(
        bin.is_file(),
        "the zfs simulator {} is missing: run the whole `cargo test --locked`, \
         or `cargo build --locked -p zfs-sim` before `cargo test --test NAME`",
        bin.display()
    );
    bin
}

/// A fault for one subcommand of the simulator (see `tests/support/zfs-sim/main.rs`).
#[derive(Clone, Debug)]
pub enum Fault {
    /// Sleep forever.
    Hang,
    /// Sleep, then behave normally.
    Delay(Duration),
    /// Junk on stdout, exit with `rc`.
    Garbage { rc: i32 },
    /// Die by a signal, named like `"SEGV"` or `"KILL"`.
    Crash(&'static str),
    /// Real behaviour, but only the first `bytes` (default half) of stdout,
    /// exit `rc` (default the real one).
    Partial {
        bytes: Option<usize>,
        rc: Option<i32>,
    },
    /// Print `stderr`, exit `rc`, do nothing.
    Fail { rc: i32, stderr: String },
}

impl Fault {
    fn config_words(&self) -> String {
        match self {
            Fault::Hang => "hang".to_owned(),
            Fault::Delay(d) => format!("delay-ms {}", d.as_millis()),
            Fault::Garbage { rc } => format!("garbage rc={rc}"),
            Fault::Crash(sig) => format!("crash {sig}"),
            Fault::Partial { bytes, rc } => {
                let mut s = "partial".to_owned();
                if let Some(b) = bytes {
                    s.push_str(&format!(" bytes={b}"));
                }
                if let Some(rc) = rc {
                    s.push_str(&format!(" rc={rc}"));
                }
                s
            }
            Fault::Fail { rc, stderr } => {
                format!("fail rc={rc} stderr={}", escape::encode(stderr.as_bytes()))
            }
        }
    }
}

/// A simulated ZFS host in a temporary directory.
pub struct Sim {
    tmp: tempfile::TempDir,
}

impl Default for Sim {
    fn default() -> Self {
        Sim::new()
    }
}

impl Sim {
    /// An empty state directory and a `bin/zfs` symlink to the simulator.
    pub fn new() -> Sim {
        let tmp = tempfile::Builder::new()
            .prefix("zfs-sim-")
            .tempdir()
            .expect("creating a temporary directory");
        let sim = Sim { tmp };
        fs::create_dir_all(sim.state_dir()).expect("creating the state directory");
        fs::create_dir_all(sim.bin_dir()).expect("creating the bin directory");
        std::os::unix::fs::symlink(zfs_sim_bin(), sim.bin_dir().join("zfs"))
            .expect("linking bin/zfs");
        sim
    }

    /// A pool `nest` with one locked passphrase root, `nest/a`, whose
    /// passphrase is `pass`: the fixture of most adversarial cases.
    pub fn locked_root(pass: &[u8]) -> Sim {
        let sim = Sim::new();
        sim.pool("nest");
        sim.encrypted_root("nest/a", pass);
        sim
    }

    /// [`Sim::locked_root`] plus `nest/a/b`, a child inheriting its key.
    pub fn locked_root_with_child(pass: &[u8]) -> Sim {
        let sim = Sim::locked_root(pass);
        sim.child("nest/a/b");
        sim
    }

    /// [`Sim::locked_root_with_child`] plus `nest/c`, unencrypted.
    pub fn locked_and_plain(pass: &[u8]) -> Sim {
        let sim = Sim::locked_root_with_child(pass);
        sim.child("nest/c");
        sim
    }

    /// A pool `nest` with two locked passphrase roots, `nest/a` and
    /// `nest/b`, sharing the passphrase `pass`.
    pub fn two_locked_roots(pass: &[u8]) -> Sim {
        let sim = Sim::locked_root(pass);
        sim.encrypted_root("nest/b", pass);
        sim
    }

    /// The temporary directory holding everything (state, bin, mounts).
    pub fn root(&self) -> &Path {
        self.tmp.path()
    }

    /// `ZFS_SIM_DIR`.
    pub fn state_dir(&self) -> PathBuf {
        self.root().join("state")
    }

    /// A directory holding only `zfs` (a symlink to the simulator).
    pub fn bin_dir(&self) -> PathBuf {
        self.root().join("bin")
    }

    /// The `zfs` to give keygate (the symlink in [`Sim::bin_dir`]).
    pub fn zfs_path(&self) -> PathBuf {
        self.bin_dir().join("zfs")
    }

    /// `ZFS_SIM_MOUNT_ROOT`: mountpoints appear under here once mounted.
    pub fn mount_root(&self) -> PathBuf {
        self.root().join("mnt")
    }

    /// Where a mountpoint such as `/nest/a` appears on this host.
    pub fn mount_path(&self, mountpoint: &str) -> PathBuf {
        self.mount_root().join(mountpoint.trim_start_matches('/'))
    }

    /// A dataset's files (visible at its mountpoint while mounted).
    pub fn data_dir(&self, name: &str) -> PathBuf {
        let d = self
            .state_dir()
            .join("data")
            .join(name.replace('%', "%25").replace('/', "%2F"));
        fs::create_dir_all(&d).expect("creating the data directory");
        d
    }

    /// The environment for a child that runs `zfs` (this fixture's
    /// simulator first on `PATH`). Pass it with `Command::envs`.
    pub fn envs(&self) -> Vec<(OsString, OsString)> {
        let mut path = OsString::from(self.bin_dir());
        if let Some(p) = std::env::var_os("PATH") {
            path.push(":");
            path.push(p);
        }
        vec![
            ("ZFS_SIM_DIR".into(), self.state_dir().into()),
            ("ZFS_SIM_MOUNT_ROOT".into(), self.mount_root().into()),
            ("PATH".into(), path),
        ]
    }

    /// A `zfs` wrapper script that runs the simulator on this state with
    /// `ZFS_SIM_MOUNT_ROOT=/`: mountpoints are then real paths (keep them
    /// inside [`Sim::root`]), so a mounted dataset's files are really there.
    /// keygate runs it by path (`--zfs`); nothing is taken from the
    /// environment of the process that runs it.
    pub fn wrapper_with_real_mounts(&self) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let wrapper = self.root().join("zfs-wrapper");
        fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nZFS_SIM_DIR='{}' ZFS_SIM_MOUNT_ROOT=/ exec '{}' \"$@\"\n",
                self.state_dir().display(),
                zfs_sim_bin().display()
            ),
        )
        .expect("writing the zfs wrapper");
        fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755))
            .expect("making the zfs wrapper executable");
        wrapper
    }

    /// The simulator itself with `args`, environment set, stdin null.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(zfs_sim_bin());
        c.args(args).envs(self.envs()).stdin(Stdio::null());
        c
    }

    // ----- state -----

    fn lock(&self) -> Flock<File> {
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.state_dir().join("lock"))
            .expect("opening the simulator lock");
        Flock::lock(f, FlockArg::LockExclusive)
            .map_err(|(_, e)| e)
            .expect("locking the simulator state")
    }

    /// The current state, as the simulator sees it.
    pub fn state(&self) -> State {
        let text = fs::read(self.state_dir().join("datasets")).unwrap_or_default();
        State::parse(&text).unwrap_or_else(|e| panic!("simulator state: {e}"))
    }

    /// Changes the state under the simulator's lock (safe while zfs runs).
    pub fn update(&self, f: impl FnOnce(&mut State)) {
        let _lock = self.lock();
        let mut st = self.state();
        f(&mut st);
        let text = st.render();
        State::parse(text.as_bytes()).unwrap_or_else(|e| panic!("invalid simulator state: {e}"));
        let tmp = self.state_dir().join("datasets.tmp");
        fs::write(&tmp, text).expect("writing the simulator state");
        fs::rename(&tmp, self.state_dir().join("datasets")).expect("renaming the simulator state");
    }

    /// Replaces the state file with hand-written text.
    pub fn write_state(&self, text: &str) {
        let _lock = self.lock();
        fs::write(self.state_dir().join("datasets"), text).expect("writing the simulator state");
    }

    fn add(&self, name: &str, ds: Dataset) {
        self.update(|s| {
            assert!(!s.exists(name), "dataset {name} already exists");
            if let Some(p) = state::parent(name) {
                assert!(s.exists(p), "parent of {name} does not exist");
            }
            s.datasets.insert(name.to_owned(), ds);
        });
    }

    /// An unencrypted pool (top-level dataset).
    pub fn pool(&self, name: &str) {
        assert!(!name.contains('/'), "a pool name has no '/'");
        self.add(name, Dataset::default());
    }

    /// A dataset that inherits encryption (if any) from its parent.
    pub fn child(&self, name: &str) {
        assert!(name.contains('/'), "a child needs a parent");
        self.add(name, Dataset::default());
    }

    /// A passphrase encryption root, `keylocation=prompt`, key not loaded.
    pub fn encrypted_root(&self, name: &str, passphrase: &[u8]) {
        self.root_with(name, passphrase, "prompt".to_owned());
    }

    /// A passphrase root whose key is the file `path`, written with
    /// `passphrase` and a newline; key not loaded.
    pub fn file_root(&self, name: &str, path: &Path, passphrase: &[u8]) {
        let mut content = passphrase.to_vec();
        content.push(b'\n');
        fs::write(path, content).expect("writing the key file");
        self.root_with(name, passphrase, format!("file://{}", path.display()));
    }

    fn root_with(&self, name: &str, passphrase: &[u8], keylocation: String) {
        assert!(
            (8..=512).contains(&passphrase.len()),
            "zfs only creates passphrases of 8..=512 bytes, not {}",
            passphrase.len()
        );
        self.add(
            name,
            Dataset {
                crypt: Some(Crypt {
                    keyformat: KeyFormat::Passphrase,
                    key: passphrase.to_vec(),
                    keylocation,
                    loaded: false,
                    pbkdf2iters: 350_000,
                    encryption: "aes-256-gcm".to_owned(),
                }),
                ..Dataset::default()
            },
        );
    }

    fn with_crypt(&self, name: &str, f: impl FnOnce(&mut Crypt)) {
        self.update(|s| {
            let c = s
                .datasets
                .get_mut(name)
                .and_then(|d| d.crypt.as_mut())
                .unwrap_or_else(|| panic!("{name} is not an encryption root"));
            f(c);
        });
    }

    /// Marks the key of root `name` loaded (as if someone ran `zfs load-key`).
    pub fn load(&self, name: &str) {
        self.with_crypt(name, |c| c.loaded = true);
    }

    /// Marks the key of root `name` unloaded.
    pub fn unload(&self, name: &str) {
        self.with_crypt(name, |c| c.loaded = false);
    }

    pub fn set_keylocation(&self, name: &str, keylocation: &str) {
        self.with_crypt(name, |c| c.keylocation = keylocation.to_owned());
    }

    pub fn set_pbkdf2iters(&self, name: &str, iters: u64) {
        self.with_crypt(name, |c| c.pbkdf2iters = iters);
    }

    fn with_dataset(&self, name: &str, f: impl FnOnce(&mut Dataset)) {
        self.update(|s| {
            f(s.datasets
                .get_mut(name)
                .unwrap_or_else(|| panic!("no dataset {name}")))
        });
    }

    pub fn set_mountpoint(&self, name: &str, mountpoint: &str) {
        self.with_dataset(name, |d| d.mountpoint = Some(mountpoint.to_owned()));
    }

    pub fn set_canmount(&self, name: &str, canmount: &str) {
        self.with_dataset(name, |d| d.canmount = Some(canmount.to_owned()));
    }

    pub fn set_mounted(&self, name: &str, mounted: bool) {
        self.with_dataset(name, |d| d.mounted = mounted);
    }

    pub fn set_user_prop(&self, name: &str, prop: &str, value: &str) {
        self.with_dataset(name, |d| {
            d.user.insert(prop.to_owned(), value.to_owned());
        });
    }

    /// `available`, `unavailable`, or `-` (unencrypted), like `zfs get keystatus`.
    pub fn keystatus(&self, name: &str) -> String {
        let st = self.state();
        assert!(st.exists(name), "no dataset {name}");
        match st.key_loaded(name) {
            Some(true) => "available".to_owned(),
            Some(false) => "unavailable".to_owned(),
            None => "-".to_owned(),
        }
    }

    pub fn is_mounted(&self, name: &str) -> bool {
        self.state().is_mounted(name)
    }

    // ----- config -----

    fn edit_config(&self, f: impl FnOnce(&mut Vec<String>)) {
        let _lock = self.lock();
        let path = self.state_dir().join("config");
        let mut lines: Vec<String> = fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect();
        f(&mut lines);
        let mut text = lines.join("\n");
        text.push('\n');
        fs::write(&path, text).expect("writing the simulator config");
    }

    /// Every `load-key` attempt burns this much CPU time (outside the lock).
    pub fn load_key_cost(&self, cost: Duration) {
        self.edit_config(|l| {
            l.retain(|x| !x.starts_with("load-key-cost-ms "));
            l.push(format!("load-key-cost-ms {}", cost.as_millis()));
        });
    }

    /// Adds a fault for `command` (`"get"`, `"load-key"`, ..., or `"*"`).
    pub fn fault(&self, command: &str, fault: Fault) {
        self.edit_config(|l| l.push(format!("fault {command} {}", fault.config_words())));
    }

    /// Adds a fault that applies to the first `times` matching calls only.
    pub fn fault_times(&self, command: &str, fault: Fault, times: u64) {
        self.edit_config(|l| {
            l.push(format!(
                "fault {command} {} times={times}",
                fault.config_words()
            ))
        });
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.edit_config(|l| l.retain(|x| !x.starts_with("fault ")));
    }

    // ----- call log -----

    /// Every invocation so far, its arguments without argv[0].
    pub fn calls(&self) -> Vec<Vec<String>> {
        let text = fs::read_to_string(self.state_dir().join("calls.log")).unwrap_or_default();
        text.lines()
            .map(|l| {
                if l.is_empty() {
                    return Vec::new();
                }
                l.split(' ')
                    .map(|t| {
                        String::from_utf8_lossy(&escape::decode(t).expect("call log escape"))
                            .into_owned()
                    })
                    .collect()
            })
            .collect()
    }

    /// How many invocations of subcommand `command` were made.
    pub fn count_calls(&self, command: &str) -> usize {
        self.calls()
            .iter()
            .filter(|c| c.first().map(String::as_str) == Some(command))
            .count()
    }
}

/// `String::from_utf8_lossy` of a child's stdout and stderr, for messages.
pub fn show(out: &Output) -> String {
    format!(
        "status: {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
