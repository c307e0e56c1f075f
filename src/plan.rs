//! Pure: from dataset properties to the encryption roots the gate handles.

use std::collections::BTreeMap;

use crate::zfs::get::Datasets;

/// Whether a root's key is loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    Available,
    Unavailable,
}

impl KeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Available => "available",
            KeyStatus::Unavailable => "unavailable",
        }
    }
}

/// Where a root's key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyLocation {
    /// `keylocation=prompt`: someone has to supply it.
    Prompt,
    /// `file:///...`, `https://...`: zfs loads it by itself.
    Uri(String),
    /// The root itself lies outside the targets (a target is a child of it),
    /// so its keylocation was not read.
    Unknown,
}

impl KeyLocation {
    pub fn as_str(&self) -> &str {
        match self {
            KeyLocation::Prompt => "prompt",
            KeyLocation::Uri(u) => u,
            KeyLocation::Unknown => "-",
        }
    }
}

/// One encryption root and the datasets that depend on its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    pub name: String,
    pub keystatus: KeyStatus,
    pub keyformat: String,
    pub keylocation: KeyLocation,
    /// Every dataset under the targets whose encryptionroot is this root,
    /// the root itself included when it is under the targets; sorted.
    pub datasets: Vec<String>,
    /// The root's mountpoint property, when the root is under the targets.
    pub mountpoint: Option<String>,
}

impl Root {
    pub fn is_locked(&self) -> bool {
        self.keystatus == KeyStatus::Unavailable
    }

    /// A passphrase typed by a person can open this root.
    pub fn takes_passphrase(&self) -> bool {
        self.keyformat == "passphrase"
    }

    /// zfs can load this root's key by itself, from a file or URL.
    pub fn loads_from_location(&self) -> bool {
        matches!(self.keylocation, KeyLocation::Uri(_))
    }
}

/// The encryption roots under the targets, sorted by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub roots: Vec<Root>,
}

impl Plan {
    /// Group datasets by encryption root. Unencrypted datasets never block
    /// and do not appear.
    pub fn from_datasets(datasets: &Datasets) -> Plan {
        let mut roots: BTreeMap<&str, Root> = BTreeMap::new();
        for (name, props) in datasets {
            if !props.is_encrypted() {
                continue;
            }
            let Some(root_name) = props.encryption_root.as_deref() else {
                continue;
            };
            let root = roots.entry(root_name).or_insert_with(|| Root {
                name: root_name.to_string(),
                keystatus: status_of(&props.keystatus),
                keyformat: props.keyformat.clone(),
                keylocation: KeyLocation::Unknown,
                datasets: Vec::new(),
                mountpoint: None,
            });
            if name == root_name {
                root.keylocation = match props.keylocation.as_str() {
                    "prompt" => KeyLocation::Prompt,
                    "none" | "-" | "" => KeyLocation::Unknown,
                    uri => KeyLocation::Uri(uri.to_string()),
                };
                root.keystatus = status_of(&props.keystatus);
                root.mountpoint = Some(props.mountpoint.clone());
            }
            root.datasets.push(name.clone());
        }
        Plan {
            roots: roots.into_values().collect(),
        }
    }

    pub fn locked(&self) -> impl Iterator<Item = &Root> {
        self.roots.iter().filter(|r| r.is_locked())
    }

    pub fn locked_names(&self) -> Vec<String> {
        self.locked().map(|r| r.name.clone()).collect()
    }

    pub fn all_available(&self) -> bool {
        self.locked().next().is_none()
    }
}

fn status_of(value: &str) -> KeyStatus {
    if value == "available" {
        KeyStatus::Available
    } else {
        KeyStatus::Unavailable
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zfs::get::parse;

    const PROBE: &str = "nest\tencryption\toff\tdefault
nest\tencryptionroot\t-\t-
nest\tkeyformat\tnone\tdefault
nest\tkeylocation\tnone\tdefault
nest\tkeystatus\t-\t-
nest\tmountpoint\t/nest\tdefault
nest/a\tencryption\taes-256-gcm\t-
nest/a\tencryptionroot\tnest/a\t-
nest/a\tkeyformat\tpassphrase\t-
nest/a\tkeylocation\tprompt\tlocal
nest/a\tkeystatus\tunavailable\t-
nest/a\tmountpoint\t/nest/a\tdefault
nest/a/b\tencryption\taes-256-gcm\t-
nest/a/b\tencryptionroot\tnest/a\t-
nest/a/b\tkeyformat\tpassphrase\t-
nest/a/b\tkeylocation\tnone\tdefault
nest/a/b\tkeystatus\tunavailable\t-
nest/a/b\tmountpoint\t/nest/a/b\tdefault
";

    #[test]
    fn children_join_their_root_and_unencrypted_never_block() {
        let plan = Plan::from_datasets(&parse(PROBE).unwrap());
        assert_eq!(plan.roots.len(), 1);
        let r = &plan.roots[0];
        assert_eq!(r.name, "nest/a");
        assert_eq!(r.datasets, vec!["nest/a", "nest/a/b"]);
        assert_eq!(r.keylocation, KeyLocation::Prompt);
        assert!(r.is_locked() && r.takes_passphrase());
        assert_eq!(plan.locked_names(), vec!["nest/a"]);
    }

    /// keygate's own query as real OpenZFS 2.3.2 answered it in the VM tier
    /// (tests/fixtures/zfs-get/, cut from tests/fixtures/zfs-probe/).
    #[test]
    fn real_zfs_output_gives_the_right_plan() {
        let text = include_str!("../tests/fixtures/zfs-get/real-2.3.2-all-pools.txt");
        let datasets = parse(text).unwrap();
        assert_eq!(datasets.len(), 6);
        let plan = Plan::from_datasets(&datasets);
        let names: Vec<&str> = plan.roots.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["nest/a", "nest/d", "nest/f"]);
        assert_eq!(plan.roots[0].datasets, ["nest/a", "nest/a/b"]);
        assert_eq!(plan.roots[0].keylocation, KeyLocation::Prompt);
        assert_eq!(
            plan.roots[2].keylocation,
            KeyLocation::Uri("file:///root/f.key".into())
        );
        assert!(plan.roots[2].loads_from_location());
        assert_eq!(plan.roots[0].mountpoint.as_deref(), Some("/nest/a"));
        assert_eq!(plan.locked_names(), ["nest/a", "nest/d", "nest/f"]);
    }

    #[test]
    fn root_outside_targets_is_known_from_its_child() {
        let child_only: String = PROBE
            .lines()
            .filter(|l| l.starts_with("nest/a/b\t"))
            .map(|l| format!("{l}\n"))
            .collect();
        let plan = Plan::from_datasets(&parse(&child_only).unwrap());
        assert_eq!(plan.roots[0].name, "nest/a");
        assert_eq!(plan.roots[0].keylocation, KeyLocation::Unknown);
        assert_eq!(plan.roots[0].datasets, vec!["nest/a/b"]);
        assert!(plan.roots[0].is_locked());
    }
}
