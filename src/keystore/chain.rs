//! Pure: which roots load their key from a file inside which keystore, and
//! in which order keystores are opened.
//!
//! A root with `keylocation=file:///P` depends on the dataset whose
//! directory (its `mountpoint`, or the `mountpoint` of its `[[keystore]]`
//! entry) is the longest one holding P, when that dataset is encrypted: its
//! key must be loaded and it must be mounted before P can be read. That
//! dataset is then a keystore. Unencrypted datasets and the one mounted at
//! `/` are never keystores (they are readable, or mounted, before the gate
//! runs). A keystore's own key may lie in another keystore, so chains can be
//! deeper than one; a chain that comes back to where it started is refused.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use super::settings::{ClosePolicy, KeystoreMount, KeystoreSettings};
use crate::plan::{KeyLocation, Plan};
use crate::zfs::get::Datasets;

/// A root whose key file lies inside a keystore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependant {
    pub root: String,
    /// The key file, as its keylocation names it.
    pub key_file: PathBuf,
    /// The key file relative to the keystore's directory.
    pub relative: PathBuf,
}

/// A dataset holding other roots' key files, and how to open and close it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keystore {
    pub dataset: String,
    /// Its encryption root: this key must be loaded before it can be mounted.
    pub root: String,
    /// The directory the dependants' keylocations point into.
    pub dir: PathBuf,
    /// Whether its `mountpoint` property is `legacy` (mount(8) then needs no
    /// `zfsutil` option).
    pub legacy: bool,
    pub mount: KeystoreMount,
    pub close: ClosePolicy,
    /// Sorted by root name.
    pub dependants: Vec<Dependant>,
    /// How many keystores must be opened before this one (0: its key does
    /// not come from a keystore).
    pub depth: usize,
    /// The roots whose keys lead to this one, outermost first, ending with
    /// [`Keystore::root`] (for messages: `nest/k1 -> nest/k2`).
    pub chain: Vec<String>,
}

impl Keystore {
    /// `nest/k1 -> nest/k2 -> ROOT` for a dependant of this keystore.
    pub fn chain_to(&self, root: &str) -> String {
        let mut c = self.chain.clone();
        c.push(root.to_string());
        c.join(" -> ")
    }
}

/// Why the keystore chains cannot be worked out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// Each root's key file lies in a keystore that needs the next root's
    /// key; the last is the first again.
    #[error(
        "keystore cycle: {} (each root's key file lies in a keystore that needs the next root's key; none of them can be loaded first)",
        .0.join(" -> ")
    )]
    Cycle(Vec<String>),
    #[error("keystore {0} from the configuration file is not among the datasets under the targets")]
    UnknownKeystore(String),
    #[error("keystore {0} from the configuration file is not encrypted")]
    NotEncrypted(String),
    #[error(
        "keystore {dataset} has mountpoint={mountpoint}; give its [[keystore]] entry mountpoint = \"/path\" (the directory its key files are read from)"
    )]
    NoDirectory { dataset: String, mountpoint: String },
}

/// Every keystore, in the order they can be opened.
pub fn compute(
    datasets: &Datasets,
    configured: &[KeystoreSettings],
    default_close: ClosePolicy,
) -> Result<Vec<Keystore>, ChainError> {
    let entries: BTreeMap<&str, &KeystoreSettings> =
        configured.iter().map(|k| (k.dataset.as_str(), k)).collect();
    for k in configured {
        let Some(props) = datasets.get(&k.dataset) else {
            return Err(ChainError::UnknownKeystore(k.dataset.clone()));
        };
        if !props.is_encrypted() || props.encryption_root.is_none() {
            return Err(ChainError::NotEncrypted(k.dataset.clone()));
        }
    }

    // The directory each dataset's files are read from.
    let mut dirs: Vec<(PathBuf, &str)> = Vec::new();
    for (name, props) in datasets {
        let dir = match entries.get(name.as_str()).map(|k| &k.mount) {
            Some(KeystoreMount::Path(p)) => Some(p.clone()),
            Some(_) if !props.mountpoint.starts_with('/') => {
                return Err(ChainError::NoDirectory {
                    dataset: name.clone(),
                    mountpoint: props.mountpoint.clone(),
                });
            }
            _ => props
                .mountpoint
                .starts_with('/')
                .then(|| PathBuf::from(&props.mountpoint)),
        };
        if let Some(dir) = dir
            && dir != Path::new("/")
        {
            dirs.push((dir, name));
        }
    }

    let plan = Plan::from_datasets(datasets);
    let mut stores: BTreeMap<String, Keystore> = BTreeMap::new();
    for root in &plan.roots {
        let KeyLocation::Uri(uri) = &root.keylocation else {
            continue;
        };
        let Some(path) = uri.strip_prefix("file://") else {
            continue;
        };
        let path = Path::new(path);
        if !path.is_absolute() {
            continue;
        }
        let holder = dirs
            .iter()
            .filter(|(dir, _)| path.starts_with(dir) && path != dir)
            .max_by_key(|(dir, _)| dir.components().count());
        let Some((dir, holder)) = holder else {
            continue;
        };
        let Some(props) = datasets.get(*holder) else {
            continue;
        };
        let Some(ks_root) = props.encryption_root.clone() else {
            continue;
        };
        if !props.is_encrypted() {
            continue;
        }
        let entry = entries.get(holder);
        let ks = stores
            .entry(holder.to_string())
            .or_insert_with(|| Keystore {
                dataset: holder.to_string(),
                root: ks_root,
                dir: dir.clone(),
                legacy: props.mountpoint == "legacy",
                mount: entry.map(|e| e.mount.clone()).unwrap_or_default(),
                close: entry.and_then(|e| e.close).unwrap_or(default_close),
                dependants: Vec::new(),
                depth: 0,
                chain: Vec::new(),
            });
        ks.dependants.push(Dependant {
            root: root.name.clone(),
            key_file: path.to_path_buf(),
            relative: path.strip_prefix(dir).unwrap_or(path).to_path_buf(),
        });
    }

    // root -> the root whose keystore holds its key file.
    let needs: BTreeMap<&str, &str> = stores
        .values()
        .flat_map(|ks| {
            ks.dependants
                .iter()
                .map(|d| (d.root.as_str(), ks.root.as_str()))
        })
        .collect();
    let chain_of = |start: &str| -> Result<Vec<String>, ChainError> {
        let mut path = vec![start.to_string()];
        let mut seen = BTreeSet::from([start]);
        let mut at = start;
        while let Some(next) = needs.get(at) {
            path.push(next.to_string());
            if !seen.insert(next) {
                let from = path.iter().position(|p| p == next).unwrap_or(0);
                return Err(ChainError::Cycle(path[from..].to_vec()));
            }
            at = next;
        }
        path.reverse();
        Ok(path)
    };
    let mut chains = BTreeMap::new();
    for ks in stores.values() {
        chains.insert(ks.dataset.clone(), chain_of(&ks.root)?);
    }
    let mut out: Vec<Keystore> = stores
        .into_values()
        .map(|mut ks| {
            ks.chain = chains.remove(&ks.dataset).unwrap_or_default();
            ks.depth = ks.chain.len().saturating_sub(1);
            ks.dependants.sort_by(|a, b| a.root.cmp(&b.root));
            ks
        })
        .collect();
    out.sort_by(|a, b| (a.depth, &a.dataset).cmp(&(b.depth, &b.dataset)));
    Ok(out)
}

impl fmt::Display for Keystore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let deps: Vec<&str> = self.dependants.iter().map(|d| d.root.as_str()).collect();
        write!(
            f,
            "keystore {} ({}) holds the keys of {}",
            self.dataset,
            self.dir.display(),
            deps.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zfs::get::DatasetProps;

    fn ds(list: &[(&str, &str, &str, &str)]) -> Datasets {
        // (name, encryptionroot or "-", keylocation, mountpoint)
        list.iter()
            .map(|(name, root, loc, mp)| {
                let enc = *root != "-";
                (
                    name.to_string(),
                    DatasetProps {
                        encryption: if enc { "aes-256-gcm" } else { "off" }.into(),
                        encryption_root: enc.then(|| root.to_string()),
                        keyformat: if enc { "passphrase" } else { "none" }.into(),
                        keylocation: loc.to_string(),
                        keystatus: if enc { "unavailable" } else { "-" }.into(),
                        mountpoint: mp.to_string(),
                    },
                )
            })
            .collect()
    }

    fn names(ks: &[Keystore]) -> Vec<(String, usize, Vec<String>)> {
        ks.iter()
            .map(|k| {
                (
                    k.dataset.clone(),
                    k.depth,
                    k.dependants.iter().map(|d| d.root.clone()).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn finds_keystore_and_dependants_without_configuration() {
        let d = ds(&[
            ("nest", "-", "none", "/nest"),
            ("nest/keys", "nest/keys", "prompt", "/nest/keys"),
            ("nest/a", "nest/a", "file:///nest/keys/a.key", "/nest/a"),
            ("nest/b", "nest/b", "file:///nest/keys/sub/b.key", "/nest/b"),
            ("nest/c", "nest/c", "file:///etc/zfs/c.key", "/nest/c"),
            ("nest/p", "nest/p", "prompt", "/nest/p"),
        ]);
        let ks = compute(&d, &[], ClosePolicy::Unload).unwrap();
        assert_eq!(
            names(&ks),
            vec![(
                "nest/keys".into(),
                0,
                vec!["nest/a".into(), "nest/b".into()]
            )]
        );
        assert_eq!(ks[0].close, ClosePolicy::Unload);
        assert_eq!(ks[0].dependants[1].relative, PathBuf::from("sub/b.key"));
        assert_eq!(ks[0].dir, PathBuf::from("/nest/keys"));
    }

    #[test]
    fn longest_mountpoint_wins_and_unencrypted_holders_do_not_count() {
        let d = ds(&[
            ("nest", "-", "none", "/nest"),
            ("nest/keys", "nest/keys", "prompt", "/nest/keys"),
            ("nest/keys/plain", "-", "none", "/nest/keys/plain"),
            ("nest/keys/inner", "nest/keys", "none", "/nest/keys/inner"),
            (
                "nest/a",
                "nest/a",
                "file:///nest/keys/inner/a.key",
                "/nest/a",
            ),
            (
                "nest/b",
                "nest/b",
                "file:///nest/keys/plain/b.key",
                "/nest/b",
            ),
            ("nest/c", "nest/c", "file:///nest/keysfoo/c.key", "/nest/c"),
        ]);
        let ks = compute(&d, &[], ClosePolicy::Keep).unwrap();
        assert_eq!(
            names(&ks),
            vec![("nest/keys/inner".into(), 0, vec!["nest/a".into()])]
        );
        // A child dataset: it needs its encryption root's key.
        assert_eq!(ks[0].root, "nest/keys");
    }

    #[test]
    fn chains_are_ordered_by_depth() {
        let d = ds(&[
            ("nest", "-", "none", "/nest"),
            ("nest/k1", "nest/k1", "prompt", "/k1"),
            ("nest/k2", "nest/k2", "file:///k1/k2.key", "/k2"),
            ("nest/k3", "nest/k3", "file:///k2/k3.key", "/k3"),
            ("nest/a", "nest/a", "file:///k3/a.key", "/nest/a"),
            ("nest/b", "nest/b", "file:///k1/b.key", "/nest/b"),
        ]);
        let ks = compute(&d, &[], ClosePolicy::Unload).unwrap();
        assert_eq!(
            names(&ks),
            vec![
                ("nest/k1".into(), 0, vec!["nest/b".into(), "nest/k2".into()]),
                ("nest/k2".into(), 1, vec!["nest/k3".into()]),
                ("nest/k3".into(), 2, vec!["nest/a".into()]),
            ]
        );
        assert_eq!(
            ks[2].chain_to("nest/a"),
            "nest/k1 -> nest/k2 -> nest/k3 -> nest/a"
        );
    }

    #[test]
    fn cycles_are_named() {
        let d = ds(&[
            ("nest", "-", "none", "/nest"),
            ("nest/a", "nest/a", "file:///b/a.key", "/a"),
            ("nest/b", "nest/b", "file:///a/b.key", "/b"),
            ("nest/c", "nest/c", "file:///a/c.key", "/c"),
        ]);
        let e = compute(&d, &[], ClosePolicy::Unload).unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with("keystore cycle: nest/a -> nest/b -> nest/a ")
                || text.starts_with("keystore cycle: nest/b -> nest/a -> nest/b "),
            "{text}"
        );
        let own = ds(&[("nest/s", "nest/s", "file:///s/s.key", "/s")]);
        assert_eq!(
            compute(&own, &[], ClosePolicy::Unload).unwrap_err(),
            ChainError::Cycle(vec!["nest/s".into(), "nest/s".into()])
        );
    }

    #[test]
    fn configuration_overrides_and_checks() {
        let d = ds(&[
            ("nest", "-", "none", "/nest"),
            ("nest/keys", "nest/keys", "prompt", "legacy"),
            ("nest/a", "nest/a", "file:///etc/keystore/a.key", "/nest/a"),
        ]);
        assert!(compute(&d, &[], ClosePolicy::Unload).unwrap().is_empty());
        let entry = KeystoreSettings {
            dataset: "nest/keys".into(),
            close: Some(ClosePolicy::Keep),
            mount: KeystoreMount::Path("/etc/keystore".into()),
        };
        let ks = compute(&d, std::slice::from_ref(&entry), ClosePolicy::Unload).unwrap();
        assert_eq!(
            names(&ks),
            vec![("nest/keys".into(), 0, vec!["nest/a".into()])]
        );
        assert!(ks[0].legacy);
        assert_eq!(ks[0].close, ClosePolicy::Keep);

        let private = KeystoreSettings {
            mount: KeystoreMount::Private,
            ..entry.clone()
        };
        assert!(matches!(
            compute(&d, &[private], ClosePolicy::Unload),
            Err(ChainError::NoDirectory { .. })
        ));
        let missing = KeystoreSettings {
            dataset: "nest/nope".into(),
            ..entry.clone()
        };
        assert_eq!(
            compute(&d, &[missing], ClosePolicy::Unload),
            Err(ChainError::UnknownKeystore("nest/nope".into()))
        );
        let plain = KeystoreSettings {
            dataset: "nest".into(),
            ..entry
        };
        assert_eq!(
            compute(&d, &[plain], ClosePolicy::Unload),
            Err(ChainError::NotEncrypted("nest".into()))
        );
    }

    #[test]
    fn the_root_filesystem_is_never_a_keystore() {
        let d = ds(&[
            ("rpool/ROOT", "rpool/ROOT", "prompt", "/"),
            (
                "rpool/data",
                "rpool/data",
                "file:///etc/zfs/data.key",
                "/data",
            ),
        ]);
        assert!(compute(&d, &[], ClosePolicy::Unload).unwrap().is_empty());
    }
}
