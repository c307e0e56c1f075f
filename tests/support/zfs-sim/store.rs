//! The state directory `$ZFS_SIM_DIR`: locking, reading and writing the
//! state file, the call log, and data/mount paths.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use nix::fcntl::{Flock, FlockArg};

use crate::escape;
use crate::state::State;

/// The simulator's state directory.
pub struct Store {
    dir: PathBuf,
}

/// The state, read while holding the exclusive lock; the lock is released
/// when this is dropped.
pub struct Locked<'a> {
    store: &'a Store,
    _lock: Flock<File>,
    pub state: State,
}

impl Store {
    /// The directory named by `ZFS_SIM_DIR`.
    pub fn from_env() -> Result<Store> {
        let dir = std::env::var_os("ZFS_SIM_DIR").ok_or_else(|| {
            anyhow!("ZFS_SIM_DIR is not set (it must name the simulator's state directory)")
        })?;
        let dir = PathBuf::from(dir);
        if !dir.is_dir() {
            return Err(anyhow!("ZFS_SIM_DIR {} is not a directory", dir.display()));
        }
        Ok(Store { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn datasets_path(&self) -> PathBuf {
        self.dir.join("datasets")
    }

    /// Takes the exclusive lock on `$ZFS_SIM_DIR/lock`, then reads the state.
    pub fn lock(&self) -> Result<Locked<'_>> {
        let lock = self.lock_file()?;
        let state = self.read()?;
        Ok(Locked {
            store: self,
            _lock: lock,
            state,
        })
    }

    /// Takes the exclusive lock alone (for counters kept beside the state).
    pub fn lock_file(&self) -> Result<Flock<File>> {
        let path = self.dir.join("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, e)| anyhow!("locking {}: {e}", path.display()))
    }

    fn read(&self) -> Result<State> {
        let path = self.datasets_path();
        let text = match fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        State::parse(&text).map_err(|e| anyhow!("state file {}: {e}", path.display()))
    }

    /// Appends one line with the escaped arguments to `calls.log`, in one
    /// `write` on an `O_APPEND` file so parallel calls never interleave.
    pub fn log_call(&self, args: &[Vec<u8>]) -> Result<()> {
        let line: Vec<String> = args.iter().map(|a| escape::encode(a)).collect();
        let text = format!("{}\n", line.join(" "));
        let path = self.dir.join("calls.log");
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        f.write_all(text.as_bytes())
            .with_context(|| format!("writing {}", path.display()))
    }

    /// Where a dataset's files live: `$ZFS_SIM_DIR/data/<escaped name>`.
    pub fn data_dir(&self, name: &str) -> PathBuf {
        self.dir
            .join("data")
            .join(name.replace('%', "%25").replace('/', "%2F"))
    }
}

impl Locked<'_> {
    /// Writes the state atomically (temporary file, then rename).
    pub fn save(&self) -> Result<()> {
        let path = self.store.datasets_path();
        let tmp = self.store.dir.join("datasets.tmp");
        fs::write(&tmp, self.state.render())
            .with_context(|| format!("writing {}", tmp.display()))?;
        fs::rename(&tmp, &path).with_context(|| format!("renaming to {}", path.display()))
    }
}
