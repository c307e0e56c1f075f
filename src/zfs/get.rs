//! Interface to `zfs get -H -p -o name,property,value,source -r -t filesystem,volume PROPS [TARGET...]`.
//!
//! One execution reads the key state of every dataset under every target.
//! [`parse`] is pure and tested against captured output.

use std::collections::BTreeMap;

use super::{Zfs, ZfsError};
use crate::text::printable;

/// The properties keygate reads, in the order they are requested.
pub const PROPERTIES: &[&str] = &[
    "encryption",
    "encryptionroot",
    "keyformat",
    "keylocation",
    "keystatus",
    "mountpoint",
];

/// The key-related properties of one dataset, as `zfs get -p` prints them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DatasetProps {
    pub encryption: String,
    pub encryption_root: Option<String>,
    pub keyformat: String,
    pub keylocation: String,
    pub keystatus: String,
    pub mountpoint: String,
}

impl DatasetProps {
    pub fn is_encrypted(&self) -> bool {
        self.encryption != "off" && self.encryption != "-" && !self.encryption.is_empty()
    }
}

/// The bit mask with one bit per entry of [`PROPERTIES`].
const ALL_PROPERTIES: u8 = (1 << PROPERTIES.len()) - 1;

/// Every dataset under the targets, by name (sorted).
pub type Datasets = BTreeMap<String, DatasetProps>;

/// The argument list of the one batched call.
pub fn args(targets: &[String]) -> Vec<String> {
    let mut a: Vec<String> = [
        "get",
        "-H",
        "-p",
        "-o",
        "name,property,value,source",
        "-r",
        "-t",
        "filesystem,volume",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.push(PROPERTIES.join(","));
    a.extend(targets.iter().cloned());
    a
}

/// Read the key state of every dataset under `targets` (every imported pool
/// when empty) with exactly one zfs execution.
pub fn read(zfs: &Zfs, targets: &[String]) -> Result<Datasets, ZfsError> {
    let owned = args(targets);
    let argv: Vec<&str> = owned.iter().map(String::as_str).collect();
    let call = zfs.describe(&argv);
    let out = zfs.run(&argv, None)?;
    let missing = missing_datasets(&out.stderr);
    if !missing.is_empty() {
        return Err(ZfsError::DatasetMissing { names: missing });
    }
    if out.code() != Some(0) {
        return Err(ZfsError::failed(&call, &out));
    }
    let text = std::str::from_utf8(&out.stdout).map_err(|e| ZfsError::Parse {
        call: call.clone(),
        line: 1 + out.stdout[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count(),
        reason: "output is not valid UTF-8".into(),
    })?;
    parse(text).map_err(|(line, reason)| ZfsError::Parse { call, line, reason })
}

/// Names from `cannot open 'X': dataset does not exist` lines.
pub fn missing_datasets(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| {
            l.strip_prefix("cannot open '")?
                .strip_suffix("': dataset does not exist")
                .map(str::to_string)
        })
        .collect()
}

/// Parse `-H -p -o name,property,value,source` output. Errors carry the
/// 1-based line number and what was wrong with it.
pub fn parse(text: &str) -> Result<Datasets, (usize, String)> {
    let mut seen: BTreeMap<String, (DatasetProps, u8)> = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let [name, property, value, _source] = fields[..] else {
            return Err((
                n,
                format!(
                    "expected 4 tab-separated fields (name, property, value, source), found {}",
                    fields.len()
                ),
            ));
        };
        if name.is_empty() {
            return Err((n, "empty dataset name".into()));
        }
        // Names end up in prompts and hints on the console; real zfs never
        // allows a control character in one, so such a line is garbage (and
        // every name below is safe to print as it is).
        if name.contains(char::is_control) {
            return Err((
                n,
                format!("control character in dataset name '{}'", printable(name)),
            ));
        }
        let Some(index) = PROPERTIES.iter().position(|p| *p == property) else {
            return Err((n, format!("unexpected property '{}'", printable(property))));
        };
        let (props, got) = seen.entry(name.to_string()).or_default();
        let bit = 1u8 << index;
        match property {
            "encryption" => props.encryption = value.to_string(),
            "encryptionroot" => {
                props.encryption_root = match value {
                    "-" | "" => None,
                    v if v.contains(char::is_control) => {
                        return Err((
                            n,
                            format!("control character in encryptionroot '{}'", printable(v)),
                        ));
                    }
                    v => Some(v.to_string()),
                }
            }
            "keyformat" => props.keyformat = value.to_string(),
            "keylocation" => props.keylocation = value.to_string(),
            "keystatus" => {
                if !matches!(value, "-" | "none" | "available" | "unavailable") {
                    return Err((
                        n,
                        format!("unknown keystatus '{}' for {name}", printable(value)),
                    ));
                }
                props.keystatus = value.to_string();
            }
            _ => props.mountpoint = value.to_string(),
        }
        *got |= bit;
    }
    let mut out = Datasets::new();
    for (name, (props, got)) in seen {
        if got != ALL_PROPERTIES {
            let missing: Vec<&str> = PROPERTIES
                .iter()
                .enumerate()
                .filter(|(i, _)| got & (1 << i) == 0)
                .map(|(_, p)| *p)
                .collect();
            return Err((
                0,
                format!("{name}: property {} missing", missing.join(", ")),
            ));
        }
        out.insert(name, props);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_dataset_lines() {
        let err = "cannot open 'nope': dataset does not exist\ncannot open 'x y': dataset does not exist\nother\n";
        assert_eq!(missing_datasets(err), vec!["nope", "x y"]);
    }

    #[test]
    fn rejects_short_lines_with_line_number() {
        let (line, why) = parse("nest\tkeystatus\t-\t-\nbroken line\n").unwrap_err();
        assert_eq!(line, 2);
        assert!(why.contains("4 tab-separated"), "{why}");
    }

    #[test]
    fn rejects_unknown_keystatus() {
        let (_, why) = parse("nest\tkeystatus\tmaybe\t-\n").unwrap_err();
        assert!(why.contains("maybe"), "{why}");
    }

    #[test]
    fn rejects_incomplete_dataset() {
        let (_, why) = parse("nest\tkeystatus\t-\t-\n").unwrap_err();
        assert!(why.contains("nest: property encryption"), "{why}");
    }

    #[test]
    fn rejects_control_characters_in_names() {
        let (line, why) =
            parse("nest\tkeystatus\t-\t-\nne\x1b[2Jst\tkeystatus\t-\t-\n").unwrap_err();
        assert_eq!(line, 2);
        assert_eq!(why, "control character in dataset name 'ne\\u{1b}[2Jst'");
        let (line, why) = parse("nest\tencryptionroot\tne\rst\t-\n").unwrap_err();
        assert_eq!(line, 1);
        assert_eq!(why, "control character in encryptionroot 'ne\\rst'");
    }
}
