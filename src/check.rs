//! `keygate check`: every encryption root under the targets and its key.

use crate::json;
use crate::plan::Plan;
use crate::sources::provider::settings::ProviderSettings;
use crate::text::printable;

/// A table: root, keystatus, keyformat, keylocation, datasets below it.
pub fn table(plan: &Plan) -> String {
    let header = ["ROOT", "KEYSTATUS", "KEYFORMAT", "KEYLOCATION", "DATASETS"];
    let rows: Vec<[String; 5]> = plan
        .roots
        .iter()
        .map(|r| {
            [
                r.name.clone(),
                r.keystatus.as_str().to_string(),
                r.keyformat.clone(),
                r.keylocation.as_str().to_string(),
                r.datasets.join(","),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: [&str; 5]| {
        let mut l = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                l.push_str(cell);
            } else {
                l.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(header);
    for row in &rows {
        line([&row[0], &row[1], &row[2], &row[3], &row[4]]);
    }
    out
}

/// The same as JSON: `{"roots":[...],"locked":[...]}`.
pub fn json(plan: &Plan) -> String {
    let roots: Vec<String> = plan
        .roots
        .iter()
        .map(|r| {
            format!(
                "{{\"name\":{},\"keystatus\":{},\"keyformat\":{},\"keylocation\":{},\"datasets\":{}}}",
                json::string(&r.name),
                json::string(r.keystatus.as_str()),
                json::string(&r.keyformat),
                json::string(r.keylocation.as_str()),
                json::strings(r.datasets.iter().map(String::as_str)),
            )
        })
        .collect();
    let locked = plan.locked_names();
    format!(
        "{{\"roots\":[{}],\"locked\":{}}}\n",
        roots.join(","),
        json::strings(locked.iter().map(String::as_str))
    )
}

/// Each root's key providers (`[[provider]]`), one line per root that has
/// any: `providers of nest/a: tpm2:nest/a (clevis decrypt < FILE)`.
pub fn providers(plan: &Plan, providers: &[ProviderSettings]) -> String {
    let mut out = String::new();
    for root in plan.roots.iter().filter(|r| r.takes_passphrase()) {
        let words: Vec<String> = providers
            .iter()
            .filter(|p| p.serves(&root.name))
            .map(|p| {
                let mut how = p
                    .command
                    .iter()
                    .map(|w| printable(w).into_owned())
                    .collect::<Vec<_>>()
                    .join(" ");
                if let Some(input) = &p.input {
                    how.push_str(&format!(" < {}", input.display()));
                }
                format!("{} ({how})", p.name)
            })
            .collect();
        if !words.is_empty() {
            out.push_str(&format!(
                "providers of {}: {}\n",
                root.name,
                words.join(", ")
            ));
        }
    }
    out
}

/// `json` output with the key providers added in front (none configured:
/// unchanged): `{"providers":[{"name":...,"command":[...],"input":...,
/// "roots":[...] or null}],...`.
pub fn json_with_providers(base: String, providers: &[ProviderSettings]) -> String {
    if providers.is_empty() {
        return base;
    }
    let list: Vec<String> = providers
        .iter()
        .map(|p| {
            format!(
                "{{\"name\":{},\"command\":{},\"input\":{},\"roots\":{}}}",
                json::string(&p.name),
                json::strings(p.command.iter().map(String::as_str)),
                p.input
                    .as_ref()
                    .map(|i| json::string(&i.to_string_lossy()))
                    .unwrap_or_else(|| "null".into()),
                p.roots
                    .as_ref()
                    .map(|r| json::strings(r.iter().map(String::as_str)))
                    .unwrap_or_else(|| "null".into()),
            )
        })
        .collect();
    format!("{{\"providers\":[{}],{}", list.join(","), &base[1..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{KeyLocation, KeyStatus, Root};

    #[test]
    fn providers_are_listed_per_root() {
        let p = |name: &str, roots: Option<Vec<String>>| ProviderSettings {
            name: name.into(),
            command: vec!["clevis".into(), "decrypt".into()],
            input: Some(format!("/etc/keygate/providers/{name}.jwe").into()),
            roots,
            timeout: std::time::Duration::from_secs(30),
            wait_for: None,
            origin: "/etc/keygate/keygate.toml".into(),
            line: 1,
        };
        let list = [p("any", None), p("only-f", Some(vec!["nest/f".into()]))];
        assert_eq!(
            providers(&plan(), &list),
            "providers of nest/a: any (clevis decrypt < /etc/keygate/providers/any.jwe)\n\
             providers of nest/f: any (clevis decrypt < /etc/keygate/providers/any.jwe), \
             only-f (clevis decrypt < /etc/keygate/providers/only-f.jwe)\n"
        );
    }

    fn plan() -> Plan {
        Plan {
            roots: vec![
                Root {
                    name: "nest/a".into(),
                    keystatus: KeyStatus::Unavailable,
                    keyformat: "passphrase".into(),
                    keylocation: KeyLocation::Prompt,
                    datasets: vec!["nest/a".into(), "nest/a/b".into()],
                    mountpoint: Some("/nest/a".into()),
                },
                Root {
                    name: "nest/f".into(),
                    keystatus: KeyStatus::Available,
                    keyformat: "passphrase".into(),
                    keylocation: KeyLocation::Uri("file:///root/f.key".into()),
                    datasets: vec!["nest/f".into()],
                    mountpoint: Some("/nest/f".into()),
                },
            ],
        }
    }

    #[test]
    fn table_is_aligned() {
        assert_eq!(
            table(&plan()),
            "ROOT    KEYSTATUS    KEYFORMAT   KEYLOCATION         DATASETS\n\
             nest/a  unavailable  passphrase  prompt              nest/a,nest/a/b\n\
             nest/f  available    passphrase  file:///root/f.key  nest/f\n"
        );
    }

    #[test]
    fn json_lists_locked() {
        let j = json(&plan());
        assert!(j.starts_with("{\"roots\":[{\"name\":\"nest/a\",\"keystatus\":\"unavailable\""));
        assert!(j.ends_with("\"locked\":[\"nest/a\"]}\n"), "{j}");
    }
}

/// One configured LUKS device as `keygate check` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LuksRow {
    pub name: String,
    pub device: String,
    /// `passphrase` or the key file's path.
    pub key: String,
    /// `open`, `closed`, `missing`, `name-in-use`, `not-luks` or `unknown`.
    pub state: String,
    /// Whether the device still has to be opened for the boot to go on: a
    /// key device that is closed while every device it keys is open is not.
    pub pending: bool,
}

/// The LUKS devices and their state, from the configuration and
/// `cryptsetup status`/`isLuks`.
pub fn luks_rows(
    settings: &[crate::luks::LuksSettings],
    tools: &crate::luks::Tools,
) -> Vec<LuksRow> {
    use crate::luks::{LuksKey, Seen, look};
    let seen: Vec<Seen> = settings
        .iter()
        .map(|s| {
            look(
                tools,
                s,
                &tools.host.path(&s.device.path().to_string_lossy()),
            )
        })
        .collect();
    settings
        .iter()
        .zip(&seen)
        .map(|(s, state)| {
            let keyed: Vec<usize> = settings
                .iter()
                .enumerate()
                .filter(|(_, o)| o.key == LuksKey::File(s.mapper_path()))
                .map(|(i, _)| i)
                .collect();
            let done_key_device = !keyed.is_empty() && keyed.iter().all(|&i| seen[i] == Seen::Open);
            LuksRow {
                name: s.name.clone(),
                device: s.device.shown(),
                key: match &s.key {
                    LuksKey::Passphrase => "passphrase".into(),
                    LuksKey::File(p) => p.display().to_string(),
                },
                state: state.word().into(),
                pending: *state != Seen::Open && !(*state == Seen::Closed && done_key_device),
            }
        })
        .collect()
}

/// The LUKS table: name, device, key, state.
pub fn luks_table(rows: &[LuksRow]) -> String {
    let header = ["LUKS", "DEVICE", "KEY", "STATE"];
    let cells: Vec<[&str; 4]> = rows
        .iter()
        .map(|r| {
            [
                r.name.as_str(),
                r.device.as_str(),
                r.key.as_str(),
                r.state.as_str(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(header).chain(cells) {
        let mut l = String::new();
        for (i, c) in row.iter().enumerate() {
            if i + 1 == row.len() {
                l.push_str(c);
            } else {
                l.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    }
    out
}

/// [`json`] with a `"luks"` list in front when LUKS devices are configured.
pub fn json_with_luks(plan: &Plan, rows: &[LuksRow]) -> String {
    let base = json(plan);
    if rows.is_empty() {
        return base;
    }
    let luks: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "{{\"name\":{},\"device\":{},\"key\":{},\"state\":{},\"pending\":{}}}",
                json::string(&r.name),
                json::string(&r.device),
                json::string(&r.key),
                json::string(&r.state),
                r.pending
            )
        })
        .collect();
    format!("{{\"luks\":[{}],{}", luks.join(","), &base[1..])
}
