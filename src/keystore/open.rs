//! Opening one keystore: mount it, load its dependants' keys from the files
//! inside it, close it again. Each step's failure is reported and the rest
//! carried on as far as it still makes sense.

use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::thread;

use super::settings::{ClosePolicy, KeystoreMount};
use crate::zfs::load_key::{self, LoadOutcome};
use crate::zfs::mount::{self, MountOutcome};
use crate::zfs::unload_key::{self, UnloadOutcome};
use crate::zfs::unmount::{self, UnmountOutcome};
use crate::zfs::{Zfs, ZfsError};

use super::chain::{Dependant, Keystore};
use super::system_mount::{self, Tools};

/// How mounting the keystore went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mounted {
    /// Mounted by keygate at this directory.
    Now(PathBuf),
    /// It was mounted already, at this directory: keygate leaves it mounted.
    Before(PathBuf),
    /// Not mounted: the dependants were not tried.
    Failed(String),
}

/// What happened to one dependant's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOutcome {
    Loaded,
    /// zfs said it was loaded already (by someone else meanwhile).
    AlreadyLoaded,
    /// The key file is not in the opened keystore.
    FileMissing(PathBuf),
    /// The key file holds the wrong key.
    Incorrect,
    Failed(String),
    /// The keystore could not be mounted.
    NotTried,
}

impl KeyOutcome {
    pub fn is_loaded(&self) -> bool {
        matches!(self, KeyOutcome::Loaded | KeyOutcome::AlreadyLoaded)
    }
}

/// How the keystore was left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Closed {
    /// `close = "keep"`: still mounted, key loaded.
    Kept,
    /// Unmounted; key loaded (`close = "unmount"`).
    Unmounted,
    /// Unmounted and its key unloaded.
    Unloaded,
    /// Unmounted, but its key stays loaded for this reason (it was loaded
    /// before the gate started, or it belongs to a root with other datasets).
    KeyKept(String),
    /// Not unmounted for this reason (it was mounted before keygate).
    LeftOpen(String),
    /// Closing failed (busy ...); left as it was, with what went wrong.
    Failed(String),
    /// It never opened.
    NotOpened,
}

/// What opening one keystore did, step by step, for the gate to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeystoreReport {
    pub keystore: String,
    pub root: String,
    pub mounted: Mounted,
    /// One entry per dependant tried, in order.
    pub keys: Vec<(String, KeyOutcome)>,
    pub closed: Closed,
    /// `nest/k1 -> nest/k2` for each dependant, for messages.
    pub chains: Vec<(String, String)>,
}

/// How important a line of a report is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
}

impl KeystoreReport {
    /// Roots whose key is now loaded.
    pub fn loaded(&self) -> Vec<String> {
        self.keys
            .iter()
            .filter(|(_, o)| o.is_loaded())
            .map(|(r, _)| r.clone())
            .collect()
    }

    /// Roots whose key is still not loaded, with why.
    pub fn not_loaded(&self) -> Vec<(String, String)> {
        self.keys
            .iter()
            .filter(|(_, o)| !o.is_loaded())
            .map(|(r, o)| (r.clone(), self.why(r, o)))
            .collect()
    }

    fn chain(&self, root: &str) -> String {
        self.chains
            .iter()
            .find(|(r, _)| r == root)
            .map(|(_, c)| c.clone())
            .unwrap_or_else(|| format!("{} -> {root}", self.root))
    }

    fn why(&self, root: &str, o: &KeyOutcome) -> String {
        let ks = &self.keystore;
        match o {
            KeyOutcome::Loaded | KeyOutcome::AlreadyLoaded => "loaded".into(),
            KeyOutcome::FileMissing(p) => format!(
                "its key file {} is not in keystore {ks} (chain {})",
                p.display(),
                self.chain(root)
            ),
            KeyOutcome::Incorrect => format!(
                "its key file in keystore {ks} holds the wrong key (chain {})",
                self.chain(root)
            ),
            KeyOutcome::Failed(w) => format!("loading its key from keystore {ks} failed: {w}"),
            KeyOutcome::NotTried => format!("keystore {ks} could not be opened"),
        }
    }

    /// The report as lines for the console and journal, in order.
    pub fn messages(&self) -> Vec<(Level, String)> {
        let ks = &self.keystore;
        let mut m = Vec::new();
        match &self.mounted {
            Mounted::Now(dir) => m.push((
                Level::Info,
                format!("opened keystore {ks} at {}", dir.display()),
            )),
            Mounted::Before(dir) => m.push((
                Level::Info,
                format!("keystore {ks} was already mounted at {}", dir.display()),
            )),
            Mounted::Failed(why) => {
                let roots: Vec<&str> = self.keys.iter().map(|(r, _)| r.as_str()).collect();
                m.push((
                    Level::Warn,
                    format!(
                        "cannot open keystore {ks}: {why}; the keys of {} stay locked",
                        roots.join(", ")
                    ),
                ));
            }
        }
        let loaded = self.loaded();
        if !loaded.is_empty() {
            m.push((
                Level::Info,
                format!(
                    "loaded the keys of {} from keystore {ks}",
                    loaded.join(", ")
                ),
            ));
        }
        if !matches!(self.mounted, Mounted::Failed(_)) {
            for (root, why) in self.not_loaded() {
                m.push((Level::Warn, format!("cannot load the key of {root}: {why}")));
            }
        }
        let closed = match &self.closed {
            Closed::Kept => Some((
                Level::Info,
                format!("keystore {ks} stays open (close = keep)"),
            )),
            Closed::Unmounted => Some((
                Level::Info,
                format!("closed keystore {ks}: unmounted, its key stays loaded (close = unmount)"),
            )),
            Closed::Unloaded => Some((
                Level::Info,
                format!("closed keystore {ks}: unmounted and its key unloaded"),
            )),
            Closed::KeyKept(why) => Some((
                Level::Info,
                format!("closed keystore {ks}: unmounted; its key stays loaded because {why}"),
            )),
            Closed::LeftOpen(why) => Some((
                Level::Info,
                format!("keystore {ks} stays mounted because {why}"),
            )),
            Closed::Failed(why) => Some((
                Level::Warn,
                format!("cannot close keystore {ks}: {why}; left as it is"),
            )),
            Closed::NotOpened => None,
        };
        m.extend(closed);
        m
    }
}

/// Open `ks`, load the keys of `dependants` from it, close it by its policy.
/// `loaded_before`: its key was loaded before the gate started (then keygate
/// never unloads it).
pub fn open_keystore(
    zfs: &Zfs,
    tools: &Tools,
    ks: &Keystore,
    dependants: &[&Dependant],
    loaded_before: bool,
) -> KeystoreReport {
    let mut report = KeystoreReport {
        keystore: ks.dataset.clone(),
        root: ks.root.clone(),
        mounted: Mounted::Failed(String::new()),
        keys: Vec::new(),
        closed: Closed::NotOpened,
        chains: dependants
            .iter()
            .map(|d| (d.root.clone(), ks.chain_to(&d.root)))
            .collect(),
    };
    report.mounted = open(zfs, tools, ks);
    let dir = match &report.mounted {
        Mounted::Now(d) | Mounted::Before(d) => d.clone(),
        Mounted::Failed(_) => {
            report.keys = dependants
                .iter()
                .map(|d| (d.root.clone(), KeyOutcome::NotTried))
                .collect();
            return report;
        }
    };
    report.keys = thread::scope(|s| {
        let handles: Vec<_> = dependants
            .iter()
            .map(|d| s.spawn(|| load_dependant(zfs, &dir, d)))
            .collect();
        dependants
            .iter()
            .zip(handles)
            .map(|(d, h)| {
                let outcome = h
                    .join()
                    .unwrap_or_else(|_| KeyOutcome::Failed("the load attempt crashed".into()));
                (d.root.clone(), outcome)
            })
            .collect()
    });
    let we_mounted = matches!(report.mounted, Mounted::Now(_));
    report.closed = close(zfs, tools, ks, &dir, we_mounted, loaded_before);
    report
}

fn open(zfs: &Zfs, tools: &Tools, ks: &Keystore) -> Mounted {
    match &ks.mount {
        KeystoreMount::Own => match mount::mount(zfs, &ks.dataset) {
            Ok(MountOutcome::Mounted) => Mounted::Now(ks.dir.clone()),
            Ok(MountOutcome::AlreadyMounted) => Mounted::Before(ks.dir.clone()),
            Ok(MountOutcome::Failed(why)) => Mounted::Failed(why),
            Err(e) => Mounted::Failed(e.to_string()),
        },
        KeystoreMount::Private => {
            let dir = tools.private_path(&ks.dataset);
            let made = fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir);
            if let Err(e) = made {
                return Mounted::Failed(format!(
                    "cannot make its private mountpoint {}: {e}",
                    dir.display()
                ));
            }
            match system_mount::mount(tools, &ks.dataset, &dir, ks.legacy) {
                Ok(()) => Mounted::Now(dir),
                Err(why) => {
                    let _ = fs::remove_dir(&dir);
                    Mounted::Failed(why)
                }
            }
        }
        KeystoreMount::Path(dir) => {
            if let Err(e) = fs::create_dir_all(dir) {
                return Mounted::Failed(format!("cannot make {}: {e}", dir.display()));
            }
            match system_mount::mount(tools, &ks.dataset, dir, ks.legacy) {
                Ok(()) => Mounted::Now(dir.clone()),
                Err(why) => Mounted::Failed(why),
            }
        }
    }
}

/// Load one dependant's key from the mounted keystore at `dir`. When the
/// keystore is where the keylocation points, zfs reads the file by itself;
/// elsewhere (a private mountpoint) the file is named with `-L`.
fn load_dependant(zfs: &Zfs, dir: &Path, d: &Dependant) -> KeyOutcome {
    let file = dir.join(&d.relative);
    match fs::metadata(&file) {
        Ok(m) if m.is_file() => {}
        Ok(_) => {
            return KeyOutcome::Failed(format!("{} is not a regular file", d.key_file.display()));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return KeyOutcome::FileMissing(d.key_file.clone());
        }
        Err(e) => {
            return KeyOutcome::Failed(format!("cannot read {}: {e}", file.display()));
        }
    }
    let outcome = if file == d.key_file {
        load_key::from_location(zfs, &d.root)
    } else {
        load_from(zfs, &d.root, &format!("file://{}", file.display()))
    };
    match outcome {
        Ok(LoadOutcome::Loaded) => KeyOutcome::Loaded,
        Ok(LoadOutcome::AlreadyLoaded) => KeyOutcome::AlreadyLoaded,
        Ok(LoadOutcome::Incorrect) => KeyOutcome::Incorrect,
        Ok(LoadOutcome::Failed(why)) => KeyOutcome::Failed(why),
        Err(e) => KeyOutcome::Failed(e.to_string()),
    }
}

/// `zfs load-key -L LOCATION ROOT`: the key from `location` this once,
/// without changing the root's keylocation property.
fn load_from(zfs: &Zfs, root: &str, location: &str) -> Result<LoadOutcome, ZfsError> {
    let out = zfs.run(&["load-key", "-L", location, root], None)?;
    Ok(load_key::classify(out.code(), &out.stderr))
}

fn close(
    zfs: &Zfs,
    tools: &Tools,
    ks: &Keystore,
    dir: &Path,
    we_mounted: bool,
    loaded_before: bool,
) -> Closed {
    if ks.close == ClosePolicy::Keep {
        return Closed::Kept;
    }
    if !we_mounted {
        return Closed::LeftOpen("it was mounted before keygate opened it".into());
    }
    let unmounted = match &ks.mount {
        KeystoreMount::Own => match unmount::unmount(zfs, &ks.dataset) {
            Ok(UnmountOutcome::Unmounted | UnmountOutcome::NotMounted) => Ok(()),
            Ok(UnmountOutcome::Busy(why) | UnmountOutcome::Failed(why)) => Err(why),
            Err(e) => Err(e.to_string()),
        },
        KeystoreMount::Private | KeystoreMount::Path(_) => system_mount::umount(tools, dir),
    };
    if let Err(why) = unmounted {
        return Closed::Failed(format!("cannot unmount it: {why}"));
    }
    if ks.mount == KeystoreMount::Private {
        // Only an empty directory goes; anything else is left for a person.
        let _ = fs::remove_dir(dir);
    }
    if ks.close == ClosePolicy::Unmount {
        return Closed::Unmounted;
    }
    if loaded_before {
        return Closed::KeyKept("it was loaded before keygate started".into());
    }
    if ks.root != ks.dataset {
        return Closed::KeyKept(format!(
            "it is the key of encryption root {}, which holds other datasets",
            ks.root
        ));
    }
    match unload_key::unload(zfs, &ks.root) {
        Ok(UnloadOutcome::Unloaded | UnloadOutcome::AlreadyUnloaded) => Closed::Unloaded,
        Ok(UnloadOutcome::Busy(why) | UnloadOutcome::Failed(why)) => Closed::Failed(format!(
            "unmounted, but its key could not be unloaded: {why}"
        )),
        Err(e) => Closed::Failed(format!("unmounted, but its key could not be unloaded: {e}")),
    }
}
