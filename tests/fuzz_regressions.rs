//! Replays every file in `tests/fixtures/fuzz/<target>/` through the same
//! check as the fuzz target of that name (`fuzz/src/checks.rs`, compiled
//! here as a module), so inputs that once crashed, and a handful of nasty
//! ones, keep being tested by the normal `cargo test`.
//!
//! To keep a new fuzz finding: minimize it (`cargo fuzz tmin`), copy it into
//! `tests/fixtures/fuzz/<target>/` under a name that says what it is.

#[path = "../fuzz/src/checks.rs"]
mod checks;

use std::path::PathBuf;

fn fixtures(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/fuzz")
        .join(target)
}

/// Runs `check` on every file of `target`'s fixture directory; a failure
/// names each file that failed.
fn replay(target: &str) {
    let check = checks::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .map(|(_, f)| *f)
        .unwrap_or_else(|| panic!("no check named {target}"));
    let dir = fixtures(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixture in {}", dir.display());
    let mut failed = Vec::new();
    for file in &files {
        let data = std::fs::read(file).expect("reading a fixture");
        if std::panic::catch_unwind(|| check(&data)).is_err() {
            failed.push(file.display().to_string());
        }
    }
    assert!(failed.is_empty(), "{target}: failing inputs: {failed:#?}");
}

#[test]
fn every_target_has_fixtures() {
    for (name, _) in checks::TARGETS {
        assert!(
            fixtures(name).is_dir(),
            "tests/fixtures/fuzz/{name} missing"
        );
    }
}

#[test]
fn zfs_get() {
    replay("zfs_get");
}

#[test]
fn load_key_classify() {
    replay("load_key_classify");
}

#[test]
fn line_editor() {
    replay("line_editor");
}

#[test]
fn console_names() {
    replay("console_names");
}

#[test]
fn duration() {
    replay("duration");
}

#[test]
fn config_file() {
    replay("config_file");
}

#[test]
fn control_protocol() {
    replay("control_protocol");
}

#[test]
fn ask_password_reply() {
    replay("ask_password_reply");
}

/// The well-formed seeds are accepted, so the checks' round trips (not only
/// their error branches) run on them from the start.
#[test]
fn well_formed_seeds_are_accepted() {
    let read = |target: &str, name: &str| std::fs::read(fixtures(target).join(name)).unwrap();
    for name in [
        "example.toml",
        "every-setting.toml",
        "crlf-and-arrays.toml",
        "lone-cr-in-comment.toml",
    ] {
        let text = String::from_utf8(read("config_file", name)).unwrap();
        let parsed = keygate::config::parse(&text, std::path::Path::new(name));
        assert!(parsed.is_ok(), "{name}: {:?}", parsed.err());
    }
    let answer = |name: &str| String::from_utf8(read("control_protocol", name)).unwrap();
    assert!(keygate::control::protocol::parse_reply(&answer("reply-answer")).is_ok());
    assert!(keygate::control::protocol::parse_status(&answer("status-answer")).is_ok());
}
