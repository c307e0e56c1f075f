//! `[[provider]]` tables: one key provider each.

use std::path::Path;

use crate::sources::provider::settings::{DEFAULT_TIMEOUT, ProviderSettings};

use super::toml::{self, Value};
use super::{
    ConfigError, absolute_path, dataset_name, positive_duration, string, strings, unknown_key,
};

const PROVIDER_KEYS: &[&str] = &["name", "command", "input", "roots", "timeout", "wait_for"];

/// One `[[provider]]` table.
pub(super) fn entry(table: &toml::Table, origin: &Path) -> Result<ProviderSettings, ConfigError> {
    let mut name = None;
    let mut command: Option<Vec<String>> = None;
    let mut input = None;
    let mut roots = None;
    let mut timeout = DEFAULT_TIMEOUT;
    let mut wait_for = None;
    for e in &table.entries {
        let full = format!("provider.{}", e.key);
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
                provider_name(&s).map_err(wrong)?;
                name = Some(s);
            }
            "command" => {
                let list = strings(v).map_err(wrong)?;
                if list.first().is_none_or(|p| p.is_empty()) {
                    return Err(wrong(
                        "expected the program and its arguments, such as [\"clevis\", \"decrypt\"]"
                            .into(),
                    ));
                }
                command = Some(list);
            }
            "input" => input = Some(absolute_path(&string(v).map_err(wrong)?).map_err(wrong)?),
            "roots" => {
                let list = strings(v).map_err(wrong)?;
                if list.is_empty() {
                    return Err(wrong(
                        "an empty list serves no root; leave roots out to serve them all".into(),
                    ));
                }
                for r in &list {
                    dataset_name(r).map_err(wrong)?;
                }
                roots = Some(list);
            }
            "timeout" => timeout = positive_duration(v).map_err(wrong)?.std(),
            "wait_for" => {
                wait_for = Some(absolute_path(&string(v).map_err(wrong)?).map_err(wrong)?)
            }
            other => return Err(wrong(unknown_key(other, PROVIDER_KEYS))),
        }
    }
    let Some(command) = command else {
        return Err(ConfigError::Invalid {
            path: origin.to_path_buf(),
            line: table.line,
            key: Some("provider".into()),
            message: "missing command = [\"PROGRAM\", \"ARG\", ...] (what prints the passphrase)"
                .into(),
        });
    };
    let name = name.unwrap_or_else(|| default_name(&command, input.as_deref()));
    Ok(ProviderSettings {
        name,
        command,
        input,
        roots,
        timeout,
        wait_for,
        origin: origin.to_path_buf(),
        line: table.line,
    })
}

/// Without `name`: the input file's name without its extension, else the
/// program's file name.
fn default_name(command: &[String], input: Option<&Path>) -> String {
    let from_path = |p: &Path| {
        p.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .filter(|s| provider_name(s).is_ok())
    };
    input
        .and_then(from_path)
        .or_else(|| from_path(Path::new(&command[0])))
        .unwrap_or_else(|| "provider".into())
}

/// Provider names appear in messages and on consoles: letters, digits and
/// a few marks, dataset names included.
fn provider_name(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:/@+".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{} is not a provider name (1 to 128 letters, digits and - _ . : / @ +)",
            crate::text::printable(s)
        ))
    }
}

/// One name per provider, across the file and its drop-ins.
pub(super) fn check_all(entries: &[ProviderSettings]) -> Result<(), ConfigError> {
    for (i, e) in entries.iter().enumerate() {
        if let Some(first) = entries[..i].iter().find(|o| o.name == e.name) {
            return Err(ConfigError::Invalid {
                path: e.origin.clone(),
                line: e.line,
                key: Some("provider.name".into()),
                message: format!(
                    "{} is already a provider (the [[provider]] at {}:{}); give this one another name",
                    e.name,
                    first.origin.display(),
                    first.line
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;
    use std::path::PathBuf;
    use std::time::Duration;

    fn p(text: &str) -> Result<super::super::ConfigFile, String> {
        parse(text, Path::new("/etc/keygate/keygate.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn entries_with_defaults_and_options() {
        let c = p("[[provider]]\ncommand = [\"clevis\", \"decrypt\"]\ninput = \"/etc/keygate/providers/nest+a.jwe\"\n[[provider]]\nname = \"vault\"\ncommand = [\"/usr/local/bin/get-key\", \"-q\"]\nroots = [\"nest/a\", \"tank\"]\ntimeout = \"5s\"\nwait_for = \"/dev/tpmrm0\"\n").unwrap();
        assert_eq!(c.providers.len(), 2);
        let a = &c.providers[0];
        assert_eq!(a.name, "nest+a");
        assert_eq!(a.command, ["clevis", "decrypt"]);
        assert_eq!(a.roots, None);
        assert_eq!(a.timeout, DEFAULT_TIMEOUT);
        assert!(a.serves("anything"));
        let b = &c.providers[1];
        assert_eq!(b.name, "vault");
        assert_eq!(b.timeout, Duration::from_secs(5));
        assert_eq!(b.wait_for, Some(PathBuf::from("/dev/tpmrm0")));
        assert!(b.serves("tank") && !b.serves("nest/b"));
        assert_eq!(b.line, 4);
        let c = p("[[provider]]\ncommand = [\"/usr/bin/get-key\"]\n").unwrap();
        assert_eq!(c.providers[0].name, "get-key");
    }

    #[test]
    fn bad_entries_name_the_line_and_key() {
        let cases = [
            (
                "[[provider]]\ninput = \"/x.jwe\"\n",
                "/etc/keygate/keygate.toml:1: provider: missing command = [\"PROGRAM\", \"ARG\", ...] (what prints the passphrase)",
            ),
            (
                "[[provider]]\ncommand = []\n",
                "/etc/keygate/keygate.toml:2: provider.command: expected the program and its arguments, such as [\"clevis\", \"decrypt\"]",
            ),
            (
                "[[provider]]\ncommand = \"clevis decrypt\"\n",
                "/etc/keygate/keygate.toml:2: provider.command: expected a list such as [\"clevis decrypt\"], found \"clevis decrypt\"",
            ),
            (
                "[[provider]]\ncommand = [\"x\"]\ninput = \"x.jwe\"\n",
                "/etc/keygate/keygate.toml:3: provider.input: expected an absolute path, found \"x.jwe\"",
            ),
            (
                "[[provider]]\ncommand = [\"x\"]\nroots = []\n",
                "/etc/keygate/keygate.toml:3: provider.roots: an empty list serves no root; leave roots out to serve them all",
            ),
            (
                "[[provider]]\ncommand = [\"x\"]\ntimeout = \"0s\"\n",
                "/etc/keygate/keygate.toml:3: provider.timeout: must be longer than 0s",
            ),
            (
                "[[provider]]\ncommand = [\"x\"]\nname = \"a b\"\n",
                "/etc/keygate/keygate.toml:3: provider.name: a b is not a provider name (1 to 128 letters, digits and - _ . : / @ +)",
            ),
            (
                "[[provider]]\ncommand = [\"x\"]\ncomand = 1\n",
                "/etc/keygate/keygate.toml:3: provider.comand: unknown setting (did you mean command?)",
            ),
            (
                "[[provider]]\ncommand = [\"x\"]\n[[provider]]\ncommand = [\"/bin/x\"]\n",
                "/etc/keygate/keygate.toml:3: provider.name: x is already a provider (the [[provider]] at /etc/keygate/keygate.toml:1); give this one another name",
            ),
            (
                "provider = 1\n",
                "/etc/keygate/keygate.toml:1: provider: a key provider is a table: write [[provider]] on its own line, then command = [...]",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(p(text).unwrap_err(), want, "for {text:?}");
        }
    }
}
