//! The configuration file, `/etc/keygate/keygate.toml` by default.
//!
//! [`parse`] is pure: text in, a [`ConfigFile`] of optional, already
//! validated values out, or an error naming the file, the line and the key.
//! [`load`] adds the file I/O. Merging with the command line (flags win)
//! happens in [`crate::settings`]. The format is described in
//! `docs/config.md`; `docs/keygate.toml.example` shows every setting.

mod luks;
mod provider;
pub mod toml;

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use clap::ValueEnum;

use crate::cli::{Mode, OnTimeout};
use crate::duration::Duration;
use crate::keystore::settings::{ClosePolicy, KeystoreMount, KeystoreSettings};
use crate::text::printable;

use self::toml::{Entry, Value};

/// Where the configuration file is read from when `--config` is not given
/// (under the host root, see [`crate::host`]).
pub const DEFAULT_PATH: &str = "/etc/keygate/keygate.toml";

/// The directory of drop-in files beside a configuration file: every
/// `*.toml` in it, in name order, adds `[[provider]]` tables (what
/// `keygate bind` writes).
pub const DROPIN_DIR: &str = "keygate.d";

/// Settings read from the file; `None` where the file does not set them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigFile {
    /// The file these came from (for messages).
    pub origin: PathBuf,
    pub targets: Option<Vec<String>>,
    pub mode: Option<Mode>,
    pub consoles: Option<Vec<PathBuf>>,
    pub tries: Option<u32>,
    pub poll_interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub on_timeout: Option<OnTimeout>,
    pub socket: Option<PathBuf>,
    pub ask_password: Option<bool>,
    pub zfs: Option<PathBuf>,
    pub zfs_timeout: Option<Duration>,
    /// The close policy of keystores without their own `close`.
    pub keystore_close: Option<ClosePolicy>,
    /// `[[keystore]]` entries, in file order.
    pub keystores: Vec<KeystoreSettings>,
    pub share_passphrase: Option<crate::luks::settings::SharePassphrase>,
    /// `[[luks]]` entries, in file order.
    pub luks: Vec<crate::luks::settings::LuksSettings>,
    pub luks_pools: Option<Vec<String>>,
    pub cryptsetup: Option<PathBuf>,
    pub zpool: Option<PathBuf>,
    /// `[[provider]]` entries, the file's first, then the drop-ins'.
    pub providers: Vec<crate::sources::provider::settings::ProviderSettings>,
    /// The line each top-level key was set on, for messages about
    /// combinations (`on_timeout` without `timeout`).
    pub lines: BTreeMap<String, usize>,
}

impl ConfigFile {
    /// An empty configuration (no file, or a file that sets nothing).
    pub fn empty(origin: impl Into<PathBuf>) -> ConfigFile {
        ConfigFile {
            origin: origin.into(),
            ..ConfigFile::default()
        }
    }

    /// `FILE:LINE: KEY` for a top-level key the file sets, else `FILE: KEY`.
    pub fn whereabouts(&self, key: &str) -> String {
        match self.lines.get(key) {
            Some(line) => format!("{}:{line}: {key}", self.origin.display()),
            None => format!("{}: {key}", self.origin.display()),
        }
    }
}

/// What is wrong with a configuration file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read the configuration file {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    /// The file says something wrong, at a line (0: the file as a whole).
    #[error("{}", Located { path, line: *line, key: key.as_deref(), message })]
    Invalid {
        path: PathBuf,
        line: usize,
        key: Option<String>,
        message: String,
    },
}

struct Located<'a> {
    path: &'a Path,
    line: usize,
    key: Option<&'a str>,
    message: &'a str,
}

impl fmt::Display for Located<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        if let Some(k) = self.key {
            write!(f, ": {}", printable(k))?;
        }
        write!(f, ": {}", printable(self.message))
    }
}

/// Read the file at `path`. `explicit` says it was named with `--config`:
/// then a missing file is an error; at the default path it means "no
/// configuration" and gives an empty one.
/// The drop-in files beside it (see [`DROPIN_DIR`]) are read too.
pub fn load(path: &Path, explicit: bool) -> Result<ConfigFile, ConfigError> {
    let mut cfg = match read_text(path) {
        Ok(text) => parse(&text, path)?,
        Err(ConfigError::Read { source, .. })
            if source.kind() == io::ErrorKind::NotFound && !explicit =>
        {
            ConfigFile::empty(path)
        }
        Err(e) => return Err(e),
    };
    for file in dropin_files(&dropin_dir(path))? {
        let text = read_text(&file)?;
        cfg.providers.extend(parse_dropin(&text, &file)?);
    }
    provider::check_all(&cfg.providers)?;
    Ok(cfg)
}

/// The drop-in directory of the configuration file at `path`.
pub fn dropin_dir(path: &Path) -> PathBuf {
    path.parent().unwrap_or(Path::new("/")).join(DROPIN_DIR)
}

/// The `*.toml` files of a drop-in directory, in name order; none when it
/// does not exist.
fn dropin_files(dir: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    let read = match std::fs::read_dir(dir) {
        Ok(r) => r,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(ConfigError::Read {
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    let mut files: Vec<PathBuf> = read
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

fn read_text(path: &Path) -> Result<String, ConfigError> {
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        ConfigError::Invalid {
            path: path.to_path_buf(),
            line: 1 + valid.iter().filter(|b| **b == b'\n').count(),
            key: None,
            message: "not valid UTF-8".into(),
        }
    })
}

/// A drop-in file: `[[provider]]` tables and nothing else.
pub fn parse_dropin(
    text: &str,
    origin: &Path,
) -> Result<Vec<crate::sources::provider::settings::ProviderSettings>, ConfigError> {
    let doc = toml::parse(text).map_err(|e| ConfigError::Invalid {
        path: origin.to_path_buf(),
        line: e.line,
        key: e.key,
        message: e.message,
    })?;
    let refuse = |line: usize, key: &str| ConfigError::Invalid {
        path: origin.to_path_buf(),
        line,
        key: Some(key.to_string()),
        message: format!(
            "a drop-in file in {DROPIN_DIR}/ holds only [[provider]] tables; set this in the main configuration file"
        ),
    };
    if let Some(e) = doc.top.first() {
        return Err(refuse(e.line, &e.key));
    }
    let mut out = Vec::new();
    for table in &doc.tables {
        if table.name != "provider" {
            return Err(refuse(table.line, &table.name));
        }
        out.push(provider::entry(table, origin)?);
    }
    Ok(out)
}

/// The file named with `--config`, or the default one under the host root.
pub fn load_or_default(config: Option<&Path>) -> Result<ConfigFile, ConfigError> {
    match config {
        Some(p) => load(p, true),
        None => load(&default_path(), false),
    }
}

/// The configuration file in use: `--config`, else the default path under
/// the host root.
pub fn path_in_use(config: Option<&Path>) -> PathBuf {
    config.map(Path::to_path_buf).unwrap_or_else(default_path)
}

fn default_path() -> PathBuf {
    crate::host::Host::from_process().path(DEFAULT_PATH)
}

/// Parse the text of a configuration file; `origin` names it in errors.
pub fn parse(text: &str, origin: &Path) -> Result<ConfigFile, ConfigError> {
    let doc = toml::parse(text).map_err(|e| ConfigError::Invalid {
        path: origin.to_path_buf(),
        line: e.line,
        key: e.key,
        message: e.message,
    })?;
    let mut cfg = ConfigFile::empty(origin);
    let err = |entry: &Entry, key: &str, message: String| ConfigError::Invalid {
        path: origin.to_path_buf(),
        line: entry.line,
        key: Some(key.to_string()),
        message,
    };
    for entry in &doc.top {
        let key = entry.key.as_str();
        let v = &entry.value;
        let wrong = |m: String| err(entry, key, m);
        match key {
            "targets" => {
                let list = strings(v).map_err(wrong)?;
                for t in &list {
                    dataset_name(t).map_err(wrong)?;
                }
                cfg.targets = Some(list);
            }
            "mode" => cfg.mode = Some(choice::<Mode>(v).map_err(wrong)?),
            "consoles" => {
                let list = strings(v).map_err(wrong)?;
                let mut paths = Vec::new();
                for c in list {
                    paths.push(absolute_path(&c).map_err(wrong)?);
                }
                cfg.consoles = Some(paths);
            }
            "tries" => {
                let n = whole(v).map_err(wrong)?;
                let n = u32::try_from(n)
                    .map_err(|_| wrong(format!("expected 0 or more (0: unlimited), found {n}")))?;
                cfg.tries = Some(n);
            }
            "poll_interval" => cfg.poll_interval = Some(positive_duration(v).map_err(wrong)?),
            "timeout" => cfg.timeout = Some(duration(v).map_err(wrong)?),
            "on_timeout" => cfg.on_timeout = Some(choice::<OnTimeout>(v).map_err(wrong)?),
            "socket" => {
                cfg.socket = Some(absolute_path(&string(v).map_err(wrong)?).map_err(wrong)?)
            }
            "ask_password" => cfg.ask_password = Some(boolean(v).map_err(wrong)?),
            "zfs" => {
                let s = string(v).map_err(wrong)?;
                if s.is_empty() {
                    return Err(wrong("expected a program name or path, found \"\"".into()));
                }
                cfg.zfs = Some(PathBuf::from(s));
            }
            "zfs_timeout" => cfg.zfs_timeout = Some(positive_duration(v).map_err(wrong)?),
            "keystore_close" => cfg.keystore_close = Some(close_policy(v).map_err(wrong)?),
            "share_passphrase" => cfg.share_passphrase = Some(choice(v).map_err(wrong)?),
            "luks_pools" => {
                let list = strings(v).map_err(wrong)?;
                for t in &list {
                    dataset_name(t).map_err(wrong)?;
                    if t.contains('/') {
                        return Err(wrong(format!("{t} is a dataset, not a pool name")));
                    }
                }
                cfg.luks_pools = Some(list);
            }
            "cryptsetup" | "zpool" => {
                let s = string(v).map_err(wrong)?;
                if s.is_empty() {
                    return Err(wrong("expected a program name or path, found \"\"".into()));
                }
                if key == "cryptsetup" {
                    cfg.cryptsetup = Some(PathBuf::from(s));
                } else {
                    cfg.zpool = Some(PathBuf::from(s));
                }
            }
            "luks" => {
                return Err(wrong(
                    "a LUKS device is a table: write [[luks]] on its own line, then name = \"...\" and device = \"...\""
                        .into(),
                ));
            }
            "provider" => {
                return Err(wrong(
                    "a key provider is a table: write [[provider]] on its own line, then command = [...]"
                        .into(),
                ));
            }
            "keystore" => {
                return Err(wrong(
                    "a keystore is a table: write [[keystore]] on its own line, then dataset = \"...\""
                        .into(),
                ));
            }
            other => return Err(wrong(unknown_key(other, TOP_KEYS))),
        }
        cfg.lines.insert(key.to_string(), entry.line);
    }
    for table in &doc.tables {
        match table.name.as_str() {
            "keystore" => cfg.keystores.push(keystore(table, origin)?),
            "luks" => cfg.luks.push(luks::entry(table, origin)?),
            "provider" => cfg.providers.push(provider::entry(table, origin)?),
            _ => {
                return Err(ConfigError::Invalid {
                    path: origin.to_path_buf(),
                    line: table.line,
                    key: Some(table.name.clone()),
                    message:
                        "unknown table; the known ones are [[keystore]], [[luks]] and [[provider]]"
                            .into(),
                });
            }
        }
    }
    luks::check_all(&cfg.luks, origin)?;
    provider::check_all(&cfg.providers)?;
    let keystore_tables: Vec<&toml::Table> =
        doc.tables.iter().filter(|t| t.name == "keystore").collect();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (ks, table) in cfg.keystores.iter().zip(keystore_tables) {
        if let Some(first) = seen.insert(&ks.dataset, table.line) {
            return Err(ConfigError::Invalid {
                path: origin.to_path_buf(),
                line: table.line,
                key: Some("keystore.dataset".into()),
                message: format!(
                    "{} is already a keystore (the [[keystore]] on line {first})",
                    ks.dataset
                ),
            });
        }
    }
    Ok(cfg)
}

const TOP_KEYS: &[&str] = &[
    "targets",
    "mode",
    "consoles",
    "tries",
    "poll_interval",
    "timeout",
    "on_timeout",
    "socket",
    "ask_password",
    "zfs",
    "zfs_timeout",
    "keystore_close",
    "share_passphrase",
    "luks_pools",
    "cryptsetup",
    "zpool",
];

const KEYSTORE_KEYS: &[&str] = &["dataset", "close", "mountpoint"];

fn keystore(table: &toml::Table, origin: &Path) -> Result<KeystoreSettings, ConfigError> {
    let mut dataset = None;
    let mut close = None;
    let mut mount = KeystoreMount::Own;
    for entry in &table.entries {
        let key = format!("keystore.{}", entry.key);
        let wrong = |message: String| ConfigError::Invalid {
            path: origin.to_path_buf(),
            line: entry.line,
            key: Some(key.clone()),
            message,
        };
        let v = &entry.value;
        match entry.key.as_str() {
            "dataset" => {
                let s = string(v).map_err(wrong)?;
                dataset_name(&s).map_err(wrong)?;
                dataset = Some(s);
            }
            "close" => close = Some(close_policy(v).map_err(wrong)?),
            "mountpoint" => {
                let s = string(v).map_err(wrong)?;
                mount = if s == "private" {
                    KeystoreMount::Private
                } else {
                    let p = absolute_path(&s).map_err(|m| wrong(format!("{m} or \"private\"")))?;
                    if p == Path::new("/") {
                        return Err(wrong("a keystore cannot be mounted at /".into()));
                    }
                    KeystoreMount::Path(p)
                };
            }
            other => return Err(wrong(unknown_key(other, KEYSTORE_KEYS))),
        }
    }
    let Some(dataset) = dataset else {
        return Err(ConfigError::Invalid {
            path: origin.to_path_buf(),
            line: table.line,
            key: Some("keystore".into()),
            message: "missing dataset = \"POOL/NAME\" (which dataset is the keystore)".into(),
        });
    };
    Ok(KeystoreSettings {
        dataset,
        close,
        mount,
    })
}

fn unknown_key(key: &str, known: &[&str]) -> String {
    let close: Vec<&&str> = known
        .iter()
        .filter(|k| edit_distance(k, key) <= 2 || k.contains(key) || key.contains(**k))
        .collect();
    match close.first() {
        Some(k) => format!("unknown setting (did you mean {k}?)"),
        None => format!("unknown setting; known settings: {}", known.join(", ")),
    }
}

/// Levenshtein distance, for "did you mean" hints.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let here = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(here + 1);
            prev = here;
        }
    }
    row[b.len()]
}

fn string(v: &Value) -> Result<String, String> {
    match v {
        Value::Str(s) => Ok(s.clone()),
        other => Err(format!(
            "expected text in double quotes, found {}",
            other.shown()
        )),
    }
}

fn strings(v: &Value) -> Result<Vec<String>, String> {
    match v {
        Value::Array(items) => items.iter().map(string).collect(),
        Value::Str(s) => Err(format!("expected a list such as [{s:?}], found {s:?}")),
        other => Err(format!(
            "expected a list of texts such as [\"a\", \"b\"], found {}",
            other.shown()
        )),
    }
}

fn whole(v: &Value) -> Result<i64, String> {
    match v {
        Value::Int(n) => Ok(*n),
        other => Err(format!("expected a whole number, found {}", other.shown())),
    }
}

fn boolean(v: &Value) -> Result<bool, String> {
    match v {
        Value::Bool(b) => Ok(*b),
        other => Err(format!("expected true or false, found {}", other.shown())),
    }
}

/// A string value read with `T`'s own parser; `expected` says what was
/// wanted when the value is not a string.
fn parsed<T: std::str::FromStr<Err = String>>(v: &Value, expected: &str) -> Result<T, String> {
    match v {
        Value::Str(s) => s.parse::<T>(),
        other => Err(format!("expected {expected}, found {}", other.shown())),
    }
}

fn duration(v: &Value) -> Result<Duration, String> {
    parsed(
        v,
        "a duration in quotes such as \"500ms\", \"2s\", \"5m\" or \"1h\"",
    )
}

/// A duration that must be longer than zero (an interval, a time limit).
fn positive_duration(v: &Value) -> Result<Duration, String> {
    let d = duration(v)?;
    if d.std().is_zero() {
        return Err("must be longer than 0s".into());
    }
    Ok(d)
}

fn choice<T: ValueEnum>(v: &Value) -> Result<T, String> {
    let names: Vec<String> = T::value_variants()
        .iter()
        .filter_map(|x| x.to_possible_value())
        .map(|p| p.get_name().to_string())
        .collect();
    let expected = || format!("expected one of {}", names.join(", "));
    match v {
        Value::Str(s) => {
            T::from_str(s, false).map_err(|_| format!("{}, found {}", expected(), v.shown()))
        }
        other => Err(format!(
            "{} (in quotes), found {}",
            expected(),
            other.shown()
        )),
    }
}

fn close_policy(v: &Value) -> Result<ClosePolicy, String> {
    parsed(v, "one of unload, unmount, keep (in quotes)")
}

fn absolute_path(s: &str) -> Result<PathBuf, String> {
    if s.starts_with('/') {
        Ok(PathBuf::from(s))
    } else {
        Err(format!("expected an absolute path, found {s:?}"))
    }
}

/// A plausible ZFS dataset name (the pool and components separated by /).
fn dataset_name(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && !s.starts_with('/')
        && !s.ends_with('/')
        && !s.contains("//")
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | ' ' | '/'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "expected a dataset name such as \"pool/data\", found {s:?}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<ConfigFile, String> {
        parse(text, Path::new("/etc/keygate/keygate.toml")).map_err(|e| e.to_string())
    }

    /// Parsing `text` fails with a message that contains `part`.
    fn says(text: &str, part: &str) {
        let e = p(text).unwrap_err();
        assert!(e.contains(part), "{e}");
    }

    #[test]
    fn empty_text_is_empty_config() {
        let c = p("# nothing\n").unwrap();
        assert_eq!(c, ConfigFile::empty("/etc/keygate/keygate.toml"));
    }

    #[test]
    fn error_names_file_line_key() {
        let e = p("mode = \"prompt\"\n\ntries = \"three\"\n").unwrap_err();
        assert_eq!(
            e,
            "/etc/keygate/keygate.toml:3: tries: expected a whole number, found \"three\""
        );
    }

    #[test]
    fn unknown_keys_suggest() {
        says(
            "tires = 3\n",
            ":1: tires: unknown setting (did you mean tries?)",
        );
        says(
            "[[keystore]]\ndataset = \"a/b\"\nclosed = \"keep\"\n",
            ":3: keystore.closed: unknown setting (did you mean close?)",
        );
        says("zzzzzzzzzz = 1\n", "known settings: targets");
    }

    #[test]
    fn choices_list_values() {
        let e = p("mode = \"loud\"\n").unwrap_err();
        assert!(
            e.ends_with("mode: expected one of auto, prompt, wait, hint, found \"loud\""),
            "{e}"
        );
        says(
            "on_timeout = 1\n",
            "expected one of fail, continue (in quotes), found 1",
        );
    }

    #[test]
    fn distance() {
        assert_eq!(edit_distance("tries", "tires"), 2);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
