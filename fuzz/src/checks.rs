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
use std::path::Path;

use keygate::config::{self, ConfigError, ConfigFile};
use keygate::control::protocol::{
    self, ProtoError, Request, parse_header, parse_reply, parse_status,
};
use keygate::control::status::Status;
use keygate::duration::Duration;
use keygate::gate::consoles::parse_active;
use keygate::plan::{KeyStatus, Plan};
use keygate::secret::Secret;
use keygate::sources::Reply;
use keygate::sources::ask_password::parse_reply_for_fuzzing;
use keygate::terminal::Entry;
use keygate::text::printable;
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
    ("config_file", config_file),
    ("control_protocol", control_protocol),
    ("ask_password_reply", ask_password_reply),
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
            assert!(
                !reason.contains(char::is_control),
                "raw control character in {reason:?}"
            );
            return;
        }
    };
    for (name, props) in &datasets {
        assert!(!name.is_empty(), "empty dataset name accepted");
        let root = props.encryption_root.as_deref().unwrap_or_default();
        assert!(
            !name.contains(char::is_control) && !root.contains(char::is_control),
            "control character accepted in {name:?} / {root:?}"
        );
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
            assert!(
                !why.contains(char::is_control),
                "raw control character (or a line break) in {why:?}"
            );
            let trimmed = stderr.trim();
            if trimmed.is_empty() {
                match code {
                    Some(c) => assert!(why.contains(&c.to_string()), "{why:?}"),
                    None => assert!(why.contains("signal"), "{why:?}"),
                }
            } else {
                let first = trimmed.lines().next().unwrap_or(trimmed);
                assert_eq!(*why, printable(first), "not the first line, escaped");
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
        // The text is named in the message, escaped (it may hold control
        // characters), and the message stays on one line.
        Err(e) => {
            assert!(e.contains(&format!("'{}'", s.escape_debug())), "{s:?}: {e}");
            assert!(!e.contains(['\n', '\r']), "{s:?}: {e}");
        }
    }
}

// ----- config_file -----------------------------------------------------------

/// Where the fuzzed configuration "comes from", as named in errors.
const CONFIG_ORIGIN: &str = "/etc/keygate/fuzz me.toml";

/// `keygate.toml` text. `config::load` refuses bytes that are not UTF-8
/// before parsing (naming the line of the first bad byte), so they are
/// parsed here after lossy conversion, which still exercises odd characters.
pub fn config_file(data: &[u8]) {
    match std::str::from_utf8(data) {
        Ok(text) => config_text(text),
        Err(_) => config_text(&String::from_utf8_lossy(data)),
    }
}

/// The invariants of [`config::parse`] on one text.
pub fn config_text(text: &str) {
    let origin = Path::new(CONFIG_ORIGIN);
    let result = config::parse(text, origin);
    // Trailing spaces and tabs on every line change nothing, errors included.
    let spaced = map_lines(text, |line, end| format!("{line} \t {end}"));
    let again = config::parse(&spaced, origin);
    match &result {
        Err(e) => {
            let (line, key) = check_config_error(e, text);
            let (line2, key2) = match &again {
                Err(e2) => check_config_error(e2, &spaced),
                Ok(_) => panic!("trailing whitespace made {text:?} valid ({e})"),
            };
            assert_eq!(
                (line, key),
                (line2, key2),
                "trailing whitespace moved the error"
            );
        }
        Ok(cfg) => {
            check_config(cfg, text);
            assert_eq!(again.as_ref().ok(), Some(cfg), "trailing whitespace");
            // Blank and comment lines around every line: the same settings,
            // the lines renumbered (line k becomes 2k + 1).
            let mut padded = String::from("# keygate.toml\n\n");
            padded.push_str(&map_lines(text, |line, end| {
                if end.is_empty() {
                    line.to_string()
                } else {
                    format!("{line}{end}\t# between\n")
                }
            }));
            let mut want = cfg.clone();
            for l in want.lines.values_mut() {
                *l = 2 * *l + 1;
            }
            let got = config::parse(&padded, origin);
            assert_eq!(got.as_ref().ok(), Some(&want), "comments/blank lines added");
            // CRLF line ends read the same.
            let crlf = map_lines(text, |line, end| {
                let e = if end.is_empty() { "" } else { "\r\n" };
                format!("{line}{e}")
            });
            let got = config::parse(&crlf, origin);
            assert_eq!(got.as_ref().ok(), Some(cfg), "CRLF line ends");
        }
    }
}

/// Rebuilds `text` line by line: `f(line, end)` where `end` is the line's
/// `\n` or `\r\n` (empty for a last line without one).
fn map_lines(text: &str, f: impl Fn(&str, &str) -> String) -> String {
    text.split_inclusive('\n')
        .map(|l| {
            if let Some(body) = l.strip_suffix("\r\n") {
                f(body, "\r\n")
            } else if let Some(body) = l.strip_suffix('\n') {
                f(body, "\n")
            } else {
                f(l, "")
            }
        })
        .collect()
}

/// An error names the origin and a line of `text`, on one line of output;
/// returns its line and key.
fn check_config_error(e: &ConfigError, text: &str) -> (usize, Option<String>) {
    let ConfigError::Invalid {
        path,
        line,
        key,
        message,
    } = e
    else {
        panic!("parse gave a read error: {e}");
    };
    let lines = text.split('\n').count();
    assert_eq!(path, Path::new(CONFIG_ORIGIN));
    assert!(
        (1..=lines).contains(line),
        "error names line {line} of {lines}: {e}"
    );
    assert!(!message.is_empty(), "empty message");
    let shown = e.to_string();
    let mut want = format!("{CONFIG_ORIGIN}:{line}: ");
    if let Some(k) = key {
        assert!(!k.is_empty(), "empty key in {shown:?}");
        want.push_str(&format!("{}: ", printable(k)));
    }
    assert!(
        shown.starts_with(&want),
        "{shown:?} does not start {want:?}"
    );
    assert!(
        !shown.contains(char::is_control),
        "raw control character (or a line break) in {shown:?}"
    );
    (*line, key.clone())
}

/// What an accepted file holds is already validated.
fn check_config(cfg: &ConfigFile, text: &str) {
    assert_eq!(cfg.origin, Path::new(CONFIG_ORIGIN));
    let lines = text.split('\n').count();
    for (key, line) in &cfg.lines {
        assert!(
            (1..=lines).contains(line),
            "{key} on line {line} of {lines}"
        );
    }
    for d in cfg.poll_interval.iter().chain(&cfg.zfs_timeout) {
        assert!(!d.std().is_zero(), "zero interval accepted");
    }
    for p in cfg.consoles.iter().flatten().chain(&cfg.socket) {
        assert!(p.is_absolute(), "relative path {p:?} accepted");
    }
    if let Some(z) = &cfg.zfs {
        assert!(!z.as_os_str().is_empty(), "empty zfs accepted");
    }
    let mut seen = BTreeSet::new();
    for ks in &cfg.keystores {
        assert!(seen.insert(ks.dataset.as_str()), "{} twice", ks.dataset);
        check_dataset_name(&ks.dataset);
    }
    for t in cfg.targets.iter().flatten() {
        check_dataset_name(t);
    }
}

fn check_dataset_name(s: &str) {
    assert!(
        !s.is_empty() && !s.starts_with('/') && !s.ends_with('/'),
        "{s:?}"
    );
    assert!(
        !s.contains("//") && !s.contains(['\n', '\t', '\0']),
        "{s:?}"
    );
}

// ----- control_protocol ------------------------------------------------------

/// The control socket's header line (the whole input, as the server hands
/// it over without its newline), answers as the client reads them (lossy
/// text), and reply/status values built from the input, which must survive
/// being written and read back.
pub fn control_protocol(data: &[u8]) {
    check_header(data);
    let text = String::from_utf8_lossy(data);
    check_answer(&text);
    round_trip(&text, data);
}

/// `parse_header` accepts exactly `KEYGATE/1 STATUS` and
/// `KEYGATE/1 UNLOCK N` (N decimal digits only, 1..=1024), under 64 bytes;
/// a refusal's message is one printable line.
fn check_header(line: &[u8]) {
    let got = parse_header(line);
    let want = if line.len() >= protocol::MAX_HEADER {
        None
    } else if line == b"KEYGATE/1 STATUS" {
        Some(Request::Status)
    } else {
        line.strip_prefix(b"KEYGATE/1 UNLOCK ")
            .filter(|n| !n.is_empty() && n.iter().all(u8::is_ascii_digit))
            .and_then(|n| {
                let sig: Vec<u8> = n.iter().copied().skip_while(|b| *b == b'0').collect();
                (1..=4).contains(&sig.len()).then(|| {
                    sig.iter()
                        .fold(0usize, |acc, d| acc * 10 + usize::from(d - b'0'))
                })
            })
            .filter(|len| (1..=protocol::MAX_PASSPHRASE).contains(len))
            .map(|len| Request::Unlock { len })
    };
    match (&got, want) {
        (Ok(g), Some(w)) => assert_eq!(*g, w, "{line:?}"),
        (Err(e), None) => {
            if line.len() >= protocol::MAX_HEADER {
                assert_eq!(*e, ProtoError::HeaderTooLong);
            } else if !line.starts_with(b"KEYGATE/1 ") && line != b"KEYGATE/1" {
                assert_eq!(*e, ProtoError::NotKeygate, "{line:?}");
            }
            let shown = e.to_string();
            assert!(
                !shown.chars().any(char::is_control),
                "control character in {shown:?}"
            );
        }
        (got, want) => panic!("{line:?}: got {got:?}, want {want:?}"),
    }
    // What the client sends is accepted as sent.
    if let [a, b, ..] = *line {
        let len = usize::from(u16::from_le_bytes([a, b])) % protocol::MAX_PASSPHRASE + 1;
        let header = protocol::unlock_header(len);
        let header = header.strip_suffix('\n').expect("header ends in a newline");
        assert_eq!(parse_header(header.as_bytes()), Ok(Request::Unlock { len }));
    }
    let status = protocol::status_request();
    assert_eq!(
        parse_header(status.trim_end_matches('\n').as_bytes()),
        Ok(Request::Status)
    );
}

/// Any answer: no panic; what was accepted can be written again and read
/// back to as many fields.
fn check_answer(text: &str) {
    match parse_reply(text) {
        Ok(r) => {
            let back = parse_reply(&protocol::reply_answer(&r)).expect("re-rendered reply");
            assert_eq!(
                (back.opened.len(), back.rejected.len()),
                (r.opened.len(), r.rejected.len())
            );
            assert_eq!(
                (back.failed.len(), back.remaining.len()),
                (r.failed.len(), r.remaining.len())
            );
        }
        Err(e) => check_refusal(text, &e),
    }
    match parse_status(text) {
        Ok(s) => {
            let back = parse_status(&protocol::status_answer(&s)).expect("re-rendered status");
            assert_eq!((back.pid, back.since), (s.pid, s.since));
            assert_eq!(
                (back.locked.len(), back.sources.len()),
                (s.locked.len(), s.sources.len())
            );
        }
        Err(e) => check_refusal(text, &e),
    }
}

fn check_refusal(text: &str, e: &ProtoError) {
    match e {
        ProtoError::BadAnswer => {}
        ProtoError::Refused(msg) => {
            let first = text.lines().next().unwrap_or("");
            assert_eq!(first, format!("KEYGATE/1 ERROR {msg}"));
        }
        other => panic!("an answer gave {other:?}"),
    }
}

/// What `protocol::one_line` makes of free text.
fn one_line(s: &str) -> String {
    s.replace(['\n', '\r', '\t'], " ")
}

/// Builds a reply and a status from the input (NUL-separated pieces, the
/// first byte of each picking the field; dataset names lose tabs, CR and
/// LF, which ZFS names never have) and checks they are read back as
/// written, as is a refusal.
fn round_trip(text: &str, data: &[u8]) {
    let name = |s: &str| -> String {
        s.chars()
            .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
            .collect()
    };
    let mut reply = Reply::default();
    let mut status = Status::default();
    let mut num = [0u8; 12];
    let k = data.len().min(12);
    num[..k].copy_from_slice(&data[..k]);
    status.pid = u32::from_le_bytes(num[..4].try_into().unwrap());
    status.since = u64::from_le_bytes(num[4..].try_into().unwrap());
    let mut want_failed = Vec::new();
    let mut want_sources = Vec::new();
    for piece in text.split('\0') {
        let mut chars = piece.chars();
        let Some(sel) = chars.next() else { continue };
        let rest = chars.as_str();
        match u32::from(sel) % 7 {
            0 => reply.opened.push(name(rest)),
            1 => reply.rejected.push(name(rest)),
            2 => reply.remaining.push(name(rest)),
            3 => {
                let (root, why) = rest.split_once(' ').unwrap_or((rest, ""));
                reply.failed.push((name(root), why.to_string()));
                want_failed.push((name(root), one_line(why)));
            }
            4 => status.locked.push(name(rest)),
            5 => {
                status.sources.push(rest.to_string());
                want_sources.push(one_line(rest));
            }
            _ => status.mode = rest.to_string(),
        }
    }
    let back = parse_reply(&protocol::reply_answer(&reply)).expect("a written reply reads back");
    let want = Reply {
        failed: want_failed,
        ..reply
    };
    assert_eq!(back, want, "reply round trip");
    let back =
        parse_status(&protocol::status_answer(&status)).expect("a written status reads back");
    let want = Status {
        mode: one_line(&status.mode),
        sources: want_sources,
        ..status
    };
    assert_eq!(back, want, "status round trip");
    let refusal = protocol::error_answer(text);
    let want = ProtoError::Refused(one_line(text));
    assert_eq!(parse_reply(&refusal).as_ref().err(), Some(&want));
    assert_eq!(parse_status(&refusal).err(), Some(want));
}

// ----- ask_password_reply ----------------------------------------------------

/// A datagram answering an ask-password request: `+` then NUL-separated
/// passphrases gives exactly the non-empty ones, `-` cancels, anything else
/// (the empty datagram too) is ignored.
pub fn ask_password_reply(data: &[u8]) {
    let got = parse_reply_for_fuzzing(data);
    let want = match data.split_first() {
        Some((b'+', rest)) => Ok(rest
            .split(|b| *b == 0)
            .filter(|p| !p.is_empty())
            .map(<[u8]>::to_vec)
            .collect::<Vec<_>>()),
        Some((b'-', _)) => Err("cancelled"),
        _ => Err("ignored"),
    };
    if let Ok(parts) = &got {
        for p in parts {
            assert!(!p.is_empty(), "empty passphrase");
            assert!(!p.contains(&0), "passphrase holds a NUL");
        }
        let total: usize = parts.iter().map(|p| p.len() + 1).sum();
        assert!(total <= data.len(), "more bytes out than in");
    }
    assert_eq!(got, want);
}
