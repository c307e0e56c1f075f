//! The invariants the fuzz targets assert, one function per target.
//!
//! Each function takes the raw fuzz input, runs it through keygate's parser
//! and panics if an invariant does not hold. The fuzz targets in
//! `fuzz/fuzz_targets/` call these, and `tests/fuzz_regressions.rs` (part of
//! the normal `cargo test`) compiles this same file with `#[path]` and replays
//! every file under `tests/fixtures/fuzz/<target>/` through it, so a crash
//! found once stays fixed. Keep this file free of anything but std and
//! `keygate`.

use std::collections::BTreeSet;

use keygate::duration::Duration;
use keygate::gate::consoles::parse_active;
use keygate::plan::{KeyStatus, Plan};
use keygate::secret::Secret;
use keygate::terminal::Entry;
use keygate::zfs::get::{self, Datasets, PROPERTIES};
use keygate::zfs::load_key::{LoadOutcome, classify};

/// A check: panics when an invariant does not hold for the input.
pub type Check = fn(&[u8]);

/// Every target by name, with its check (for replaying fixtures).
pub const TARGETS: &[(&str, Check)] = &[
    ("zfs_get", zfs_get),
    ("load_key_classify", load_key_classify),
    ("line_editor", line_editor),
    ("console_names", console_names),
    ("duration", duration),
];

// ----- zfs_get ---------------------------------------------------------------

/// `zfs get -H -p -o name,property,value,source` output: bytes that are not
/// UTF-8 are rejected by `get::read` before parsing, so they are parsed here
/// after lossy conversion (which still exercises odd characters).
pub fn zfs_get(data: &[u8]) {
    match std::str::from_utf8(data) {
        Ok(text) => zfs_get_text(text),
        Err(_) => zfs_get_text(&String::from_utf8_lossy(data)),
    }
}

/// The invariants of [`get::parse`] and of the plan built from its result.
pub fn zfs_get_text(text: &str) {
    let datasets = match get::parse(text) {
        Ok(d) => d,
        Err((line, reason)) => {
            // Line 0 means "the input as a whole" (a dataset missing a
            // property); anything else names a real line.
            assert!(
                line <= text.lines().count(),
                "error names line {line} of {}: {reason}",
                text.lines().count()
            );
            assert!(!reason.is_empty());
            return;
        }
    };
    for (name, props) in &datasets {
        assert!(!name.is_empty(), "empty dataset name accepted");
        assert!(
            ["-", "none", "available", "unavailable"].contains(&props.keystatus.as_str()),
            "keystatus {:?} accepted",
            props.keystatus
        );
        assert_ne!(props.encryption_root.as_deref(), Some(""));
        assert_ne!(props.encryption_root.as_deref(), Some("-"));
    }
    // A well-formed rendering of what was parsed parses back to the same,
    // in any line order.
    let lines = render(&datasets);
    let again = get::parse(&lines.concat()).expect("a rendering of parsed output parses");
    assert_eq!(again, datasets, "render/parse round trip");
    let reversed: String = lines.iter().rev().map(String::as_str).collect();
    let again = get::parse(&reversed).expect("reordered rendering parses");
    assert_eq!(again, datasets, "line order changed the result");
    // CRLF line ends (a capture passed through a serial console) read the same.
    let crlf: String = lines.iter().map(|l| l.replace('\n', "\r\n")).collect();
    assert_eq!(get::parse(&crlf).ok(), Some(datasets.clone()), "CRLF");

    check_plan(&datasets);
}

/// One line per property, in the order zfs prints them.
fn render(datasets: &Datasets) -> Vec<String> {
    let mut out = Vec::new();
    for (name, p) in datasets {
        let values = [
            p.encryption.as_str(),
            p.encryption_root.as_deref().unwrap_or("-"),
            p.keyformat.as_str(),
            p.keylocation.as_str(),
            p.keystatus.as_str(),
            p.mountpoint.as_str(),
        ];
        for (prop, value) in PROPERTIES.iter().zip(values) {
            out.push(format!("{name}\t{prop}\t{value}\t-\n"));
        }
    }
    out
}

/// The plan groups exactly the encrypted datasets under their roots.
fn check_plan(datasets: &Datasets) {
    let plan = Plan::from_datasets(datasets);
    let names: Vec<&str> = plan.roots.iter().map(|r| r.name.as_str()).collect();
    assert!(
        names.windows(2).all(|w| w[0] < w[1]),
        "roots not sorted/unique: {names:?}"
    );
    let mut grouped = BTreeSet::new();
    for root in &plan.roots {
        assert!(!root.datasets.is_empty(), "{} has no dataset", root.name);
        assert!(
            root.datasets.windows(2).all(|w| w[0] < w[1]),
            "datasets of {} not sorted/unique",
            root.name
        );
        for ds in &root.datasets {
            let props = &datasets[ds];
            assert!(props.is_encrypted(), "{ds} is not encrypted");
            assert_eq!(props.encryption_root.as_deref(), Some(root.name.as_str()));
            assert!(grouped.insert(ds.clone()), "{ds} under two roots");
        }
        let own = root.datasets.iter().any(|d| d == &root.name);
        assert_eq!(
            root.mountpoint.is_some(),
            own,
            "mountpoint of {}",
            root.name
        );
        let status_from = if own { &root.name } else { &root.datasets[0] };
        let available = datasets[status_from].keystatus == "available";
        assert_eq!(root.keystatus == KeyStatus::Available, available);
        assert_eq!(root.is_locked(), !available);
    }
    let expected: BTreeSet<String> = datasets
        .iter()
        .filter(|(_, p)| p.is_encrypted() && p.encryption_root.is_some())
        .map(|(n, _)| n.clone())
        .collect();
    assert_eq!(grouped, expected, "encrypted datasets left out of the plan");
    let locked: Vec<String> = plan
        .roots
        .iter()
        .filter(|r| r.keystatus == KeyStatus::Unavailable)
        .map(|r| r.name.clone())
        .collect();
    assert_eq!(plan.locked_names(), locked);
    assert_eq!(plan.all_available(), locked.is_empty());
}

// ----- load_key_classify -----------------------------------------------------

/// First byte picks the exit status (killed / 0 / the next four bytes as an
/// i32); the rest, lossily decoded, is stderr.
pub fn load_key_classify(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let (code, rest) = match sel % 3 {
        0 => (None, rest),
        1 => (Some(0), rest),
        _ => {
            let mut n = [0u8; 4];
            let k = rest.len().min(4);
            n[..k].copy_from_slice(&rest[..k]);
            (Some(i32::from_le_bytes(n)), &rest[k..])
        }
    };
    let stderr = String::from_utf8_lossy(rest);
    check_classify(code, &stderr);
}

fn check_classify(code: Option<i32>, stderr: &str) {
    let outcome = classify(code, stderr);
    let already = stderr.contains("Key already loaded for");
    let incorrect = stderr.contains("Incorrect key provided for");
    match &outcome {
        LoadOutcome::Loaded => assert_eq!(code, Some(0)),
        LoadOutcome::AlreadyLoaded => assert!(code != Some(0) && already),
        LoadOutcome::Incorrect => assert!(code != Some(0) && !already && incorrect),
        LoadOutcome::Failed(why) => {
            assert!(code != Some(0) && !already && !incorrect, "{outcome:?}");
            assert!(!why.is_empty(), "empty failure text");
            assert!(!why.contains('\n'), "multi-line failure text {why:?}");
            let trimmed = stderr.trim();
            if trimmed.is_empty() {
                match code {
                    Some(c) => assert!(why.contains(&c.to_string()), "{why:?}"),
                    None => assert!(why.contains("signal"), "{why:?}"),
                }
            } else {
                assert!(trimmed.starts_with(why.as_str()), "{why:?} not first line");
            }
        }
    }
}

// ----- line_editor -----------------------------------------------------------

/// What a line ended as, in the model.
#[derive(Debug, PartialEq, Eq)]
enum Want {
    Passphrase(Vec<u8>),
    TooLong,
    Interrupted,
    Finished,
}

/// The editor as `src/terminal/mod.rs` documents it, written independently:
/// erasing pops the last `char` when the line is valid UTF-8, and otherwise
/// erases a trailing sequence only when its lead byte announces exactly the
/// continuation bytes that follow it.
#[derive(Default)]
struct Model {
    line: Vec<u8>,
    too_long: bool,
}

impl Model {
    fn feed(&mut self, b: u8) -> Option<Want> {
        match b {
            b'\r' | b'\n' => {
                let w = if self.too_long {
                    Want::TooLong
                } else {
                    Want::Passphrase(std::mem::take(&mut self.line))
                };
                *self = Model::default();
                return Some(w);
            }
            0x03 => {
                *self = Model::default();
                return Some(Want::Interrupted);
            }
            0x04 => {
                if self.line.is_empty() && !self.too_long {
                    return Some(Want::Finished);
                }
            }
            0x15 => *self = Model::default(),
            0x08 | 0x7f => {
                if !self.too_long {
                    self.erase();
                }
            }
            _ if self.too_long => {}
            _ => {
                if self.line.len() == Secret::CAPACITY {
                    self.line.clear();
                    self.too_long = true;
                } else {
                    self.line.push(b);
                }
            }
        }
        None
    }

    fn erase(&mut self) {
        if let Ok(s) = std::str::from_utf8(&self.line) {
            let mut s = s.to_owned();
            s.pop();
            self.line = s.into_bytes();
            return;
        }
        let len = self.line.len();
        let cont = self.line[len.saturating_sub(3)..]
            .iter()
            .rev()
            .take_while(|b| *b & 0xC0 == 0x80)
            .count();
        if cont > 0 && cont < len {
            let lead = self.line[len - cont - 1];
            let announced = match lead.leading_ones() {
                n @ 2..=4 => n as usize,
                _ => 1,
            };
            if announced == cont + 1 {
                self.line.truncate(len - cont - 1);
                return;
            }
        }
        self.line.pop();
    }
}

/// Feeds the bytes to the line editor (a fresh one after each finished
/// line, as each prompt makes) and compares with the model.
pub fn line_editor(data: &[u8]) {
    let got = keygate::terminal::edit_for_fuzzing(data);
    let mut model = Model::default();
    let mut want = Vec::new();
    for &b in data {
        if let Some(w) = model.feed(b) {
            want.push(w);
        }
    }
    assert_eq!(got.len(), want.len(), "number of finished lines");
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        let g = match g {
            Entry::Passphrase(s) => {
                let bytes = s.expose();
                assert!(bytes.len() <= Secret::CAPACITY);
                for c in [b'\r', b'\n', 0x03, 0x04, 0x08, 0x15, 0x7f] {
                    assert!(!bytes.contains(&c), "line {i} kept control byte {c:#x}");
                }
                Want::Passphrase(bytes.to_vec())
            }
            Entry::TooLong => Want::TooLong,
            Entry::Interrupted => Want::Interrupted,
            Entry::Finished => Want::Finished,
            Entry::Cancelled => panic!("line {i}: the editor alone cannot be cancelled"),
        };
        assert_eq!(&g, w, "line {i}");
    }
}

// ----- console_names ---------------------------------------------------------

/// `/sys/class/tty/console/active` content.
pub fn console_names(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let names = parse_active(&text);
    let mut seen = BTreeSet::new();
    for n in &names {
        assert!(!n.is_empty());
        assert!(!n.chars().any(char::is_whitespace), "{n:?}");
        assert!(!n.starts_with('.') && !n.contains('/'), "unsafe name {n:?}");
        assert!(seen.insert(n.clone()), "{n:?} twice");
    }
    // Exactly the sane tokens, in first-seen order.
    let mut want: Vec<&str> = Vec::new();
    for t in text.split_whitespace() {
        if !t.starts_with('.') && !t.contains('/') && !want.contains(&t) {
            want.push(t);
        }
    }
    assert_eq!(names, want);
    assert_eq!(parse_active(&names.join("\n")), names, "idempotent");
}

// ----- duration --------------------------------------------------------------

/// `--timeout` / `--poll-interval` values, and the display of any whole
/// number of milliseconds (first 8 bytes).
pub fn duration(data: &[u8]) {
    if data.len() >= 8 {
        let ms = u64::from_le_bytes(data[..8].try_into().unwrap());
        let d = Duration(std::time::Duration::from_millis(ms));
        let shown = d.to_string();
        assert_eq!(shown.parse::<Duration>(), Ok(d), "display of {ms}ms");
    }
    let text = String::from_utf8_lossy(data);
    check_duration_text(&text);
}

fn check_duration_text(s: &str) {
    match s.parse::<Duration>() {
        Ok(d) => {
            let shown = d.to_string();
            assert_eq!(shown.parse::<Duration>(), Ok(d), "{s:?} -> {shown:?}");
            let digits = shown.trim_end_matches(|c: char| c.is_ascii_alphabetic());
            assert!(!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()));
            assert!(["ms", "s", "m", "h"].contains(&&shown[digits.len()..]));
            // Independent arithmetic: digits times the unit, in u128.
            let t = s.trim();
            let split = t.find(|c: char| !c.is_ascii_digit()).unwrap();
            let n: u128 = t[..split].parse().unwrap();
            let unit: u128 = match &t[split..] {
                "ms" => 1,
                "s" => 1_000,
                "m" | "min" => 60_000,
                "h" => 3_600_000,
                other => panic!("accepted unit {other:?}"),
            };
            assert_eq!(d.0.as_millis(), n * unit, "{s:?}");
            assert_eq!(d.0.subsec_nanos() % 1_000_000, 0);
        }
        Err(e) => assert!(e.contains(&format!("'{s}'")), "{s:?}: {e}"),
    }
}
