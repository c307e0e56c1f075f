//! docs/robustness.md is generated from the adversarial suite: every test
//! in tests/adversarial_*.rs is headed by
//!
//! ```text
//! /// case: AREA / what happens
//! /// outcome: what keygate does
//! #[test]
//! fn name() { ... }
//! ```
//!
//! and the table in docs/robustness.md must be exactly what those comments
//! say. On a difference the test shows a unified diff;
//! `KEYGATE_BLESS=1 cargo test --test robustness_doc` rewrites the file.

mod common;

use std::path::{Path, PathBuf};

/// Areas in the order the table lists them.
const AREAS: &[&str] = &[
    "Terminal input",
    "Passphrase content",
    "ZFS",
    "Control socket",
    "Environment",
    "Signals",
    "Memory",
];

struct Case {
    area: String,
    case: String,
    outcome: String,
    test: String,
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The adversarial test files, sorted by name.
fn suite_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo("tests"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("adversarial") && name.ends_with(".rs")
        })
        .collect();
    files.sort();
    files
}

/// Every case of one file; panics on a test without a well-formed header.
fn cases_in(path: &Path) -> Vec<Case> {
    let text = std::fs::read_to_string(path).unwrap();
    let file = path.file_name().unwrap().to_string_lossy().into_owned();
    let lines: Vec<&str> = text.lines().collect();
    let mut cases = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.trim() != "#[test]" {
            continue;
        }
        let name = lines
            .get(i + 1)
            .and_then(|l| l.trim().strip_prefix("fn "))
            .and_then(|l| l.split('(').next())
            .unwrap_or_else(|| panic!("{file}:{}: #[test] not followed by fn", i + 1));
        let mut doc: Vec<&str> = Vec::new();
        let mut j = i;
        while j > 0 && lines[j - 1].trim_start().starts_with("///") {
            j -= 1;
            doc.insert(0, lines[j].trim_start().trim_start_matches("///").trim());
        }
        let field = |key: &str| -> String {
            let found: Vec<&str> = doc.iter().filter_map(|l| l.strip_prefix(key)).collect();
            assert_eq!(
                found.len(),
                1,
                "{file}: test {name} needs exactly one '/// {key} ...' line"
            );
            found[0].trim().to_owned()
        };
        let case = field("case:");
        let outcome = field("outcome:");
        assert_eq!(
            doc.len(),
            2,
            "{file}: test {name}: only case: and outcome: lines"
        );
        let (area, what) = case
            .split_once(" / ")
            .unwrap_or_else(|| panic!("{file}: test {name}: case is 'AREA / what'"));
        assert!(
            AREAS.contains(&area),
            "{file}: test {name}: unknown area {area:?} (one of {AREAS:?})"
        );
        for text in [what, outcome.as_str()] {
            assert!(!text.is_empty(), "{file}: test {name}: empty text");
            assert!(
                !text.contains('|'),
                "{file}: test {name}: '|' breaks the table"
            );
        }
        cases.push(Case {
            area: area.to_owned(),
            case: what.to_owned(),
            outcome: outcome.clone(),
            test: format!("{}::{name}", file.trim_end_matches(".rs")),
        });
    }
    cases
}

fn render(cases: &[Case]) -> String {
    let mut out = String::from(
        "# Robustness: what keygate does when things go wrong\n\
         \n\
         <!-- Generated from the `case:`/`outcome:` comments of tests/adversarial_*.rs\n\
         \x20    by tests/robustness_doc.rs; do not edit by hand. To update, change the\n\
         \x20    comments and run: KEYGATE_BLESS=1 cargo test --test robustness_doc -->\n\
         \n\
         Each row is one integration test that runs the real `keygate` binary\n\
         against the ZFS simulator, real pseudo-terminals and a real control\n\
         socket, and asserts the outcome described. Besides what a row says,\n\
         these tests check that no passphrase reaches output, files or zfs's\n\
         argv where they look, and that no key is unloaded.\n\
         Exit codes are those of the README (0 ready, 1 locked or run-time\n\
         failure, 2 usage or configuration error; 95/96 under SMF).\n",
    );
    out.push_str(&format!(
        "\n{} cases.\n\n| area | case | what keygate does | test |\n| --- | --- | --- | --- |\n",
        cases.len()
    ));
    for area in AREAS {
        for c in cases.iter().filter(|c| c.area == *area) {
            out.push_str(&format!(
                "| {} | {} | {} | `{}` |\n",
                c.area, c.case, c.outcome, c.test
            ));
        }
    }
    out
}

#[test]
fn robustness_table_is_current() {
    let files = suite_files();
    assert!(!files.is_empty(), "no tests/adversarial_*.rs");
    let cases: Vec<Case> = files.iter().flat_map(|f| cases_in(f)).collect();
    assert!(cases.len() >= 30, "only {} adversarial cases", cases.len());
    let mut names: Vec<&str> = cases.iter().map(|c| c.test.as_str()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), cases.len(), "duplicate test names");
    let expected = render(&cases);
    let path = repo("docs/robustness.md");
    if std::env::var_os("KEYGATE_BLESS").is_some() {
        std::fs::write(&path, &expected).unwrap();
        return;
    }
    assert!(
        path.exists(),
        "docs/robustness.md is missing; run KEYGATE_BLESS=1 cargo test --test robustness_doc"
    );
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == expected,
        "docs/robustness.md differs from the adversarial tests' comments; \
         run KEYGATE_BLESS=1 cargo test --test robustness_doc:\n{}",
        common::unified_diff(&path, &expected, "generated from tests/adversarial_*.rs")
    );
}

#[test]
fn every_area_of_the_issue_is_covered() {
    let cases: Vec<Case> = suite_files().iter().flat_map(|f| cases_in(f)).collect();
    for area in AREAS {
        assert!(
            cases.iter().any(|c| c.area == *area),
            "no adversarial case for {area}"
        );
    }
}
