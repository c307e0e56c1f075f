//! `[[luks]]` tables: one LUKS device each.

use std::path::Path;

use crate::luks::settings::{LuksDevice, LuksKey, LuksSettings};

use super::toml::{self, Value};
use super::{ConfigError, absolute_path, boolean, string, unknown_key};

const LUKS_KEYS: &[&str] = &[
    "name",
    "device",
    "key",
    "close_after_boot",
    "discard",
    "readonly",
    "header",
];

/// One `[[luks]]` table.
pub(super) fn entry(table: &toml::Table, origin: &Path) -> Result<LuksSettings, ConfigError> {
    let mut name = None;
    let mut device = None;
    let mut key = LuksKey::Passphrase;
    let mut close_after_boot = None;
    let mut discard = false;
    let mut readonly = false;
    let mut header = None;
    for e in &table.entries {
        let full = format!("luks.{}", e.key);
        let wrong = |message: String| ConfigError::Invalid {
            path: origin.to_path_buf(),
            line: e.line,
            key: Some(full.clone()),
            message,
        };
        let v: &Value = &e.value;
        match e.key.as_str() {
            "name" => {
                let s = string(v).map_err(wrong)?;
                mapper_name(&s).map_err(wrong)?;
                name = Some(s);
            }
            "device" => {
                let s = string(v).map_err(wrong)?;
                device = Some(match s.strip_prefix("UUID=") {
                    Some(u) => {
                        if u.is_empty() || !u.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
                            return Err(wrong(format!(
                                "UUID={u} is not a UUID (hex digits and dashes)"
                            )));
                        }
                        LuksDevice::Uuid(u.to_ascii_lowercase())
                    }
                    None => LuksDevice::Path(
                        absolute_path(&s).map_err(|m| wrong(format!("{m} or UUID=...")))?,
                    ),
                });
            }
            "key" => {
                let s = string(v).map_err(wrong)?;
                key = if s == "passphrase" {
                    LuksKey::Passphrase
                } else {
                    LuksKey::File(
                        absolute_path(&s).map_err(|m| wrong(format!("{m} or \"passphrase\"")))?,
                    )
                };
            }
            "close_after_boot" => close_after_boot = Some(boolean(v).map_err(wrong)?),
            "discard" => discard = boolean(v).map_err(wrong)?,
            "readonly" => readonly = boolean(v).map_err(wrong)?,
            "header" => header = Some(absolute_path(&string(v).map_err(wrong)?).map_err(wrong)?),
            other => return Err(wrong(unknown_key(other, LUKS_KEYS))),
        }
    }
    let missing = |what: &str| ConfigError::Invalid {
        path: origin.to_path_buf(),
        line: table.line,
        key: Some("luks".into()),
        message: format!("missing {what}"),
    };
    let name = name.ok_or_else(|| missing("name = \"NAME\" (the mapper name)"))?;
    let device =
        device.ok_or_else(|| missing("device = \"/dev/...\" or \"UUID=...\" (the LUKS device)"))?;
    Ok(LuksSettings {
        name,
        device,
        key,
        close_after_boot,
        discard,
        readonly,
        header,
        line: table.line,
    })
}

/// Combinations: one entry per mapper name, no device keyed by itself, and
/// `close_after_boot` only means something for a key device.
pub(super) fn check_all(entries: &[LuksSettings], origin: &Path) -> Result<(), ConfigError> {
    let at = |e: &LuksSettings, key: &str, message: String| ConfigError::Invalid {
        path: origin.to_path_buf(),
        line: e.line,
        key: Some(key.into()),
        message,
    };
    for (i, e) in entries.iter().enumerate() {
        if let Some(first) = entries[..i].iter().find(|o| o.name == e.name) {
            return Err(at(
                e,
                "luks.name",
                format!(
                    "{} is already a LUKS device (the [[luks]] on line {})",
                    e.name, first.line
                ),
            ));
        }
        if let Some(first) = entries[..i].iter().find(|o| o.device == e.device) {
            return Err(at(
                e,
                "luks.device",
                format!(
                    "{} is already the device of {} (line {})",
                    e.device.shown(),
                    first.name,
                    first.line
                ),
            ));
        }
        if e.key == LuksKey::File(e.mapper_path()) {
            return Err(at(e, "luks.key", "a device cannot be its own key".into()));
        }
    }
    Ok(())
}

/// A device-mapper name: what `cryptsetup open` accepts and what is safe in
/// a path under /dev/mapper.
fn mapper_name(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 127 {
        return Err("expected a mapper name of 1 to 127 characters".into());
    }
    if s == "." || s == ".." || s == "control" {
        return Err(format!("{s} cannot be a mapper name"));
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.+#@".contains(c))
    {
        return Err(format!(
            "{} is not a mapper name (letters, digits and - _ . + # @)",
            crate::text::printable(s)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;
    use std::path::PathBuf;

    fn p(text: &str) -> Result<super::super::ConfigFile, String> {
        parse(text, Path::new("/etc/keygate/keygate.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn entries_with_defaults_and_options() {
        let c = p("luks_pools = [\"rpool\"]\n[[luks]]\nname = \"keyfile\"\ndevice = \"/dev/md1\"\n[[luks]]\nname = \"rpool-crypt0\"\ndevice = \"UUID=0A1B-c2\"\nkey = \"/dev/mapper/keyfile\"\ndiscard = true\nreadonly = true\nheader = \"/boot/h.img\"\nclose_after_boot = false\n").unwrap();
        assert_eq!(c.luks_pools, Some(vec!["rpool".to_string()]));
        assert_eq!(c.luks.len(), 2);
        assert_eq!(c.luks[0].key, LuksKey::Passphrase);
        assert_eq!(c.luks[0].device, LuksDevice::Path("/dev/md1".into()));
        assert_eq!(c.luks[1].device, LuksDevice::Uuid("0a1b-c2".into()));
        assert_eq!(c.luks[1].key, LuksKey::File("/dev/mapper/keyfile".into()));
        assert!(c.luks[1].discard && c.luks[1].readonly);
        assert_eq!(c.luks[1].header, Some(PathBuf::from("/boot/h.img")));
        assert_eq!(c.luks[1].close_after_boot, Some(false));
        assert_eq!(c.luks[1].line, 5);
    }

    #[test]
    fn bad_entries_name_the_line_and_key() {
        let cases = [
            (
                "[[luks]]\ndevice = \"/dev/sda\"\n",
                "/etc/keygate/keygate.toml:1: luks: missing name = \"NAME\" (the mapper name)",
            ),
            (
                "[[luks]]\nname = \"a\"\n",
                "/etc/keygate/keygate.toml:1: luks: missing device = \"/dev/...\" or \"UUID=...\" (the LUKS device)",
            ),
            (
                "[[luks]]\nname = \"a/b\"\ndevice = \"/dev/sda\"\n",
                "/etc/keygate/keygate.toml:2: luks.name: a/b is not a mapper name (letters, digits and - _ . + # @)",
            ),
            (
                "[[luks]]\nname = \"a\"\ndevice = \"sda\"\n",
                "/etc/keygate/keygate.toml:3: luks.device: expected an absolute path, found \"sda\" or UUID=...",
            ),
            (
                "[[luks]]\nname = \"a\"\ndevice = \"UUID=xyz\"\n",
                "/etc/keygate/keygate.toml:3: luks.device: UUID=xyz is not a UUID (hex digits and dashes)",
            ),
            (
                "[[luks]]\nname = \"a\"\ndevice = \"/dev/sda\"\n[[luks]]\nname = \"a\"\ndevice = \"/dev/sdb\"\n",
                "/etc/keygate/keygate.toml:4: luks.name: a is already a LUKS device (the [[luks]] on line 1)",
            ),
            (
                "[[luks]]\nname = \"a\"\ndevice = \"/dev/sda\"\nkey = \"/dev/mapper/a\"\n",
                "/etc/keygate/keygate.toml:1: luks.key: a device cannot be its own key",
            ),
            (
                "[[luks]]\nname = \"a\"\ndevice = \"/dev/sda\"\ndiscards = true\n",
                "/etc/keygate/keygate.toml:4: luks.discards: unknown setting (did you mean discard?)",
            ),
            (
                "luks = 1\n",
                "/etc/keygate/keygate.toml:1: luks: a LUKS device is a table: write [[luks]] on its own line, then name = \"...\" and device = \"...\"",
            ),
            (
                "luks_pools = [\"rpool/x\"]\n",
                "/etc/keygate/keygate.toml:1: luks_pools: rpool/x is a dataset, not a pool name",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(p(text).unwrap_err(), want, "for {text:?}");
        }
    }
}
