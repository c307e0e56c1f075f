//! The state file `$ZFS_SIM_DIR/datasets`: parse, render, and the derived
//! (inherited) view of every dataset.
//!
//! One dataset per line, `NAME [KEY=VALUE]...`, names and values `%XX`-escaped
//! (see `escape.rs`). Blank lines and lines starting with `#` are ignored.
//! Keys:
//! - `keyformat=passphrase|hex|raw`: makes the dataset an encryption root.
//! - `key=BYTES`: the key material that `load-key` must receive (a passphrase
//!   is 8..=512 bytes, as `zfs create` enforces).
//! - `keylocation=prompt|file:///...` (roots only; default `prompt`).
//! - `keystatus=available|unavailable` (roots only; default `unavailable`).
//! - `pbkdf2iters=N` (passphrase roots; default 350000).
//! - `encryption=aes-256-gcm|...` (roots only; default `aes-256-gcm`).
//! - `mountpoint=/path|none|legacy` (set locally; otherwise inherited or
//!   `/NAME`), `canmount=on|off|noauto` (default `on`), `mounted=yes|no`.
//! - any key containing `:` is a user property (inherited by descendants).
//!
//! This file is also compiled into `tests/common` so tests read state with
//! the same code; keep it free of anything but std and `escape.rs`.

use std::collections::BTreeMap;

use super::escape;

/// A key format of an encryption root.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyFormat {
    Passphrase,
    Hex,
    Raw,
}

impl KeyFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyFormat::Passphrase => "passphrase",
            KeyFormat::Hex => "hex",
            KeyFormat::Raw => "raw",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "passphrase" => Some(KeyFormat::Passphrase),
            "hex" => Some(KeyFormat::Hex),
            "raw" => Some(KeyFormat::Raw),
            _ => None,
        }
    }
}

/// Settings of an encryption root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Crypt {
    pub keyformat: KeyFormat,
    pub key: Vec<u8>,
    pub keylocation: String,
    pub loaded: bool,
    pub pbkdf2iters: u64,
    pub encryption: String,
}

/// One dataset as stored: only what is set on it locally.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dataset {
    /// `Some` when this dataset is an encryption root.
    pub crypt: Option<Crypt>,
    /// Local `mountpoint`, if set.
    pub mountpoint: Option<String>,
    /// Local `canmount`, if set.
    pub canmount: Option<String>,
    pub mounted: bool,
    /// Local user properties (`module:name` -> value).
    pub user: BTreeMap<String, String>,
}

/// Where a property value comes from, as `zfs get` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    None,
    Default,
    Local,
    Inherited(String),
}

impl Source {
    pub fn display(&self) -> String {
        match self {
            Source::None => "-".to_owned(),
            Source::Default => "default".to_owned(),
            Source::Local => "local".to_owned(),
            Source::Inherited(from) => format!("inherited from {from}"),
        }
    }
}

/// Every dataset, sorted by name (byte order, as `strcmp` sorts).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State {
    pub datasets: BTreeMap<String, Dataset>,
}

/// The parent of a dataset name, `None` for a pool.
pub fn parent(name: &str) -> Option<&str> {
    name.rsplit_once('/').map(|(p, _)| p)
}

/// Checks a dataset name the way the simulator needs: non-empty components
/// of `[A-Za-z0-9_.:-]`, starting with a letter for the pool.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('/').all(|c| {
            !c.is_empty()
                && c.bytes()
                    // As OpenZFS's valid_char(): space is allowed too.
                    .all(|b| {
                        b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-' | b' ')
                    })
        })
        && name.as_bytes()[0].is_ascii_alphabetic()
}

impl State {
    /// Parses the state file text. Errors name the line.
    pub fn parse(text: &[u8]) -> Result<State, String> {
        let text = std::str::from_utf8(text).map_err(|_| "state file is not UTF-8".to_owned())?;
        let mut state = State::default();
        for (idx, line) in text.lines().enumerate() {
            let lineno = idx + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut tokens = line.split_whitespace();
            let Some(name_tok) = tokens.next() else {
                continue;
            };
            let name = escape::decode_str(name_tok).map_err(|e| format!("line {lineno}: {e}"))?;
            let ds = parse_dataset(&name, tokens).map_err(|e| format!("line {lineno}: {e}"))?;
            if !valid_name(&name) {
                return Err(format!("line {lineno}: invalid dataset name '{name}'"));
            }
            if let Some(p) = parent(&name) {
                if !state.datasets.contains_key(p) {
                    return Err(format!(
                        "line {lineno}: parent '{p}' of '{name}' must be listed before it"
                    ));
                }
            }
            if state.datasets.insert(name.clone(), ds).is_some() {
                return Err(format!("line {lineno}: dataset '{name}' listed twice"));
            }
        }
        Ok(state)
    }

    /// Renders the state in the file format (parents before children).
    pub fn render(&self) -> String {
        let mut s = String::from("# zfs-sim state: NAME KEY=VALUE... (%XX-escaped)\n");
        for (name, ds) in self.in_creation_order() {
            s.push_str(&escape::encode(name.as_bytes()));
            if let Some(c) = &ds.crypt {
                s.push_str(&format!(
                    " keyformat={} key={} keylocation={} keystatus={} pbkdf2iters={} encryption={}",
                    c.keyformat.as_str(),
                    escape::encode(&c.key),
                    escape::encode(c.keylocation.as_bytes()),
                    if c.loaded { "available" } else { "unavailable" },
                    c.pbkdf2iters,
                    escape::encode(c.encryption.as_bytes()),
                ));
            }
            if let Some(mp) = &ds.mountpoint {
                s.push_str(&format!(" mountpoint={}", escape::encode(mp.as_bytes())));
            }
            if let Some(cm) = &ds.canmount {
                s.push_str(&format!(" canmount={cm}"));
            }
            s.push_str(if ds.mounted {
                " mounted=yes"
            } else {
                " mounted=no"
            });
            for (k, v) in &ds.user {
                s.push_str(&format!(" {}={}", k, escape::encode(v.as_bytes())));
            }
            s.push('\n');
        }
        s
    }

    /// Datasets ordered so that every parent comes before its children.
    fn in_creation_order(&self) -> Vec<(&String, &Dataset)> {
        let mut v: Vec<_> = self.datasets.iter().collect();
        v.sort_by(|a, b| {
            let ka: Vec<&str> = a.0.split('/').collect();
            let kb: Vec<&str> = b.0.split('/').collect();
            ka.cmp(&kb)
        });
        v
    }

    pub fn exists(&self, name: &str) -> bool {
        self.datasets.contains_key(name)
    }

    /// Names of the datasets that have no parent.
    pub fn pools(&self) -> Vec<String> {
        self.datasets
            .keys()
            .filter(|n| parent(n).is_none())
            .cloned()
            .collect()
    }

    /// `name` and its ancestors, nearest first.
    pub fn lineage<'a>(&self, name: &'a str) -> impl Iterator<Item = &'a str> {
        std::iter::successors(Some(name), |n| parent(n))
    }

    /// The encryption root of `name`, if it is encrypted.
    pub fn encryption_root<'a>(&self, name: &'a str) -> Option<&'a str> {
        self.lineage(name)
            .find(|n| self.datasets.get(*n).is_some_and(|d| d.crypt.is_some()))
    }

    /// The root's settings for an encrypted dataset.
    pub fn crypt_of(&self, name: &str) -> Option<&Crypt> {
        let root = self.encryption_root(name)?;
        self.datasets.get(root)?.crypt.as_ref()
    }

    /// `Some(true)` if the key of `name`'s root is loaded, `None` if unencrypted.
    pub fn key_loaded(&self, name: &str) -> Option<bool> {
        self.crypt_of(name).map(|c| c.loaded)
    }

    /// The effective mountpoint and its source.
    pub fn mountpoint(&self, name: &str) -> (String, Source) {
        for anc in self.lineage(name) {
            let Some(mp) = self.datasets.get(anc).and_then(|d| d.mountpoint.as_ref()) else {
                continue;
            };
            if anc == name {
                return (mp.clone(), Source::Local);
            }
            let value = if mp == "none" || mp == "legacy" {
                mp.clone()
            } else {
                let rest = &name[anc.len() + 1..];
                format!("{}/{}", mp.trim_end_matches('/'), rest)
            };
            return (value, Source::Inherited(anc.to_owned()));
        }
        (format!("/{name}"), Source::Default)
    }

    /// The effective `canmount` and its source (not inherited).
    pub fn canmount(&self, name: &str) -> (String, Source) {
        match self.datasets.get(name).and_then(|d| d.canmount.clone()) {
            Some(v) => (v, Source::Local),
            None => ("on".to_owned(), Source::Default),
        }
    }

    /// A user property, inherited from the nearest ancestor that sets it.
    pub fn user_prop(&self, name: &str, prop: &str) -> Option<(String, Source)> {
        for anc in self.lineage(name) {
            if let Some(v) = self.datasets.get(anc).and_then(|d| d.user.get(prop)) {
                let src = if anc == name {
                    Source::Local
                } else {
                    Source::Inherited(anc.to_owned())
                };
                return Some((v.clone(), src));
            }
        }
        None
    }

    pub fn is_mounted(&self, name: &str) -> bool {
        self.datasets.get(name).is_some_and(|d| d.mounted)
    }
}

fn parse_dataset<'a>(name: &str, tokens: impl Iterator<Item = &'a str>) -> Result<Dataset, String> {
    let mut ds = Dataset::default();
    let mut keyformat = None;
    let mut key = None;
    let mut keylocation = None;
    let mut loaded = None;
    let mut iters = None;
    let mut encryption = None;
    for tok in tokens {
        let (k, v) = tok
            .split_once('=')
            .ok_or_else(|| format!("'{tok}' is not KEY=VALUE"))?;
        match k {
            "keyformat" => {
                keyformat = Some(KeyFormat::parse(v).ok_or_else(|| format!("bad keyformat '{v}'"))?)
            }
            "key" => key = Some(escape::decode(v)?),
            "keylocation" => keylocation = Some(escape::decode_str(v)?),
            "keystatus" => {
                loaded = Some(match v {
                    "available" => true,
                    "unavailable" => false,
                    _ => return Err(format!("bad keystatus '{v}'")),
                })
            }
            "pbkdf2iters" => {
                iters = Some(
                    v.parse::<u64>()
                        .map_err(|_| format!("bad pbkdf2iters '{v}'"))?,
                )
            }
            "encryption" => encryption = Some(escape::decode_str(v)?),
            "mountpoint" => {
                let mp = escape::decode_str(v)?;
                if !(mp.starts_with('/') || mp == "none" || mp == "legacy") {
                    return Err(format!("bad mountpoint '{mp}'"));
                }
                ds.mountpoint = Some(mp);
            }
            "canmount" => {
                if !matches!(v, "on" | "off" | "noauto") {
                    return Err(format!("bad canmount '{v}'"));
                }
                ds.canmount = Some(v.to_owned());
            }
            "mounted" => {
                ds.mounted = match v {
                    "yes" => true,
                    "no" => false,
                    _ => return Err(format!("bad mounted '{v}'")),
                }
            }
            k if k.contains(':') => {
                ds.user.insert(k.to_owned(), escape::decode_str(v)?);
            }
            _ => return Err(format!("unknown key '{k}'")),
        }
    }
    match keyformat {
        Some(keyformat) => {
            let key = key.ok_or_else(|| format!("encryption root '{name}' needs key="))?;
            if keyformat == KeyFormat::Passphrase && !(8..=512).contains(&key.len()) {
                return Err(format!(
                    "passphrase of '{name}' is {} bytes; zfs only creates 8..=512",
                    key.len()
                ));
            }
            ds.crypt = Some(Crypt {
                keyformat,
                key,
                keylocation: keylocation.unwrap_or_else(|| "prompt".to_owned()),
                loaded: loaded.unwrap_or(false),
                pbkdf2iters: iters.unwrap_or(if keyformat == KeyFormat::Passphrase {
                    350_000
                } else {
                    0
                }),
                encryption: encryption.unwrap_or_else(|| "aes-256-gcm".to_owned()),
            });
        }
        None => {
            if key.is_some() || keylocation.is_some() || loaded.is_some() || iters.is_some() {
                return Err(format!(
                    "'{name}' sets key properties without keyformat= (only encryption roots carry them)"
                ));
            }
            if encryption.is_some() {
                return Err(format!("'{name}' sets encryption= without keyformat="));
            }
        }
    }
    Ok(ds)
}
