//! `keygate check`: every encryption root under the targets and its key.

use crate::json;
use crate::plan::Plan;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{KeyLocation, KeyStatus, Root};

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
