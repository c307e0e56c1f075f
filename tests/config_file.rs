//! The configuration file through the library API: every setting parsed,
//! flags over the file over defaults, and errors that name the file, the
//! line and the key.

use std::path::{Path, PathBuf};
use std::time::Duration;

use keygate::cli::{GateArgs, Mode, OnTimeout};
use keygate::config::{self, ConfigError, ConfigFile};
use keygate::settings::{ClosePolicy, GateSettings, KeystoreMount, KeystoreSettings, ZfsSettings};

const ORIGIN: &str = "/etc/keygate/keygate.toml";

fn parse(text: &str) -> Result<ConfigFile, String> {
    config::parse(text, Path::new(ORIGIN)).map_err(|e| e.to_string())
}

fn dur(s: &str) -> keygate::duration::Duration {
    s.parse().unwrap()
}

const EVERYTHING: &str = r#"
targets = ["nest/a", "nest/b"]
mode = "wait"
consoles = ["/dev/ttyS0"]
tries = 0
poll_interval = "250ms"
timeout = "5m"
on_timeout = "continue"
socket = "/run/kg.sock"
ask_password = false
zfs = "/sbin/zfs"
zfs_timeout = "10s"
keystore_close = "unmount"

[[keystore]]
dataset = "nest/keys"
close = "keep"
mountpoint = "private"

[[keystore]]
dataset = "nest/legacy"
mountpoint = "/etc/keystore"
"#;

#[test]
fn every_setting_is_parsed() {
    let c = parse(EVERYTHING).unwrap();
    assert_eq!(c.origin, PathBuf::from(ORIGIN));
    assert_eq!(c.targets, Some(vec!["nest/a".into(), "nest/b".into()]));
    assert_eq!(c.mode, Some(Mode::Wait));
    assert_eq!(c.consoles, Some(vec![PathBuf::from("/dev/ttyS0")]));
    assert_eq!(c.tries, Some(0));
    assert_eq!(c.poll_interval, Some(dur("250ms")));
    assert_eq!(c.timeout, Some(dur("5m")));
    assert_eq!(c.on_timeout, Some(OnTimeout::Continue));
    assert_eq!(c.socket, Some(PathBuf::from("/run/kg.sock")));
    assert_eq!(c.ask_password, Some(false));
    assert_eq!(c.zfs, Some(PathBuf::from("/sbin/zfs")));
    assert_eq!(c.zfs_timeout, Some(dur("10s")));
    assert_eq!(c.keystore_close, Some(ClosePolicy::Unmount));
    assert_eq!(
        c.keystores,
        vec![
            KeystoreSettings {
                dataset: "nest/keys".into(),
                close: Some(ClosePolicy::Keep),
                mount: KeystoreMount::Private,
            },
            KeystoreSettings {
                dataset: "nest/legacy".into(),
                close: None,
                mount: KeystoreMount::Path("/etc/keystore".into()),
            },
        ]
    );
}

#[test]
fn the_file_fills_what_flags_leave_out() {
    let c = parse(EVERYTHING).unwrap();
    let s = GateSettings::resolve_with(&GateArgs::default(), &c).unwrap();
    assert_eq!(s.targets, ["nest/a", "nest/b"]);
    assert_eq!(s.mode, Mode::Wait);
    assert_eq!(s.consoles, [PathBuf::from("/dev/ttyS0")]);
    assert_eq!(s.tries, 0);
    assert_eq!(s.poll_interval, Duration::from_millis(250));
    assert_eq!(s.timeout, Some(Duration::from_secs(300)));
    assert_eq!(s.on_timeout, OnTimeout::Continue);
    assert_eq!(s.socket, Some(PathBuf::from("/run/kg.sock")));
    assert_eq!(s.ask_password, Some(false));
    assert_eq!(s.keystore_close, ClosePolicy::Unmount);
    assert_eq!(s.keystores.len(), 2);
    assert_eq!(s.close_policy("nest/keys"), ClosePolicy::Keep);
    assert_eq!(s.close_policy("nest/legacy"), ClosePolicy::Unmount);
    assert_eq!(s.close_policy("nest/other"), ClosePolicy::Unmount);
    let z = ZfsSettings::resolve(None, None, &c);
    assert_eq!(z.program, PathBuf::from("/sbin/zfs"));
    assert_eq!(z.timeout, Duration::from_secs(10));
}

#[test]
fn flags_win_over_the_file() {
    let c = parse(EVERYTHING).unwrap();
    let args = GateArgs {
        mode: Some(Mode::Prompt),
        consoles: vec!["/dev/tty1".into()],
        poll_interval: Some(dur("3s")),
        timeout: Some(dur("1h")),
        on_timeout: Some(OnTimeout::Fail),
        tries: Some(7),
        socket: Some("/tmp/s".into()),
        ask_password: true,
        targets: vec!["tank".into()],
        ..GateArgs::default()
    };
    let s = GateSettings::resolve_with(&args, &c).unwrap();
    assert_eq!(s.targets, ["tank"]);
    assert_eq!(s.mode, Mode::Prompt);
    assert_eq!(s.consoles, [PathBuf::from("/dev/tty1")]);
    assert_eq!(s.poll_interval, Duration::from_secs(3));
    assert_eq!(s.timeout, Some(Duration::from_secs(3600)));
    assert_eq!(s.on_timeout, OnTimeout::Fail);
    assert_eq!(s.tries, 7);
    assert_eq!(s.socket, Some(PathBuf::from("/tmp/s")));
    assert_eq!(s.ask_password, Some(true));
    let z = ZfsSettings::resolve(Some(Path::new("/opt/zfs")), Some(dur("1s")), &c);
    assert_eq!(z.program, PathBuf::from("/opt/zfs"));
    assert_eq!(z.timeout, Duration::from_secs(1));
}

#[test]
fn no_file_means_defaults() {
    let s = GateSettings::resolve_with(&GateArgs::default(), &ConfigFile::empty(ORIGIN)).unwrap();
    assert_eq!(s, GateSettings::default());
    assert_eq!(
        GateSettings::resolve(&GateArgs::default()).unwrap(),
        GateSettings::default()
    );
    let z = ZfsSettings::resolve(None, None, &ConfigFile::empty(ORIGIN));
    assert_eq!(z.program, PathBuf::from("zfs"));
    assert_eq!(z.timeout, Duration::from_secs(60));
}

#[test]
fn on_timeout_in_the_file_needs_a_timeout() {
    let c = parse("mode = \"wait\"\non_timeout = \"continue\"\n").unwrap();
    let e = GateSettings::resolve_with(&GateArgs::default(), &c).unwrap_err();
    assert_eq!(
        e,
        "/etc/keygate/keygate.toml:2: on_timeout: needs timeout (how long to wait first)"
    );
    // A --timeout flag satisfies it.
    let args = GateArgs {
        timeout: Some(dur("1m")),
        ..GateArgs::default()
    };
    assert!(GateSettings::resolve_with(&args, &c).is_ok());
}

/// (file text, the exact error)
const ERRORS: &[(&str, &str)] = &[
    (
        "\n\ntries = \"three\"\n",
        ":3: tries: expected a whole number, found \"three\"",
    ),
    (
        "tries = -1\n",
        ":1: tries: expected 0 or more (0: unlimited), found -1",
    ),
    (
        "mode = \"loud\"\n",
        ":1: mode: expected one of auto, prompt, wait, hint, found \"loud\"",
    ),
    (
        "mode = prompt\n",
        ":1: mode: cannot read the value prompt: write text in double quotes (\"...\"), a whole number, true or false",
    ),
    (
        "on_timeout = \"maybe\"\n",
        ":1: on_timeout: expected one of fail, continue, found \"maybe\"",
    ),
    (
        "timeout = \"5 minutes\"\n",
        ":1: timeout: '5 minutes' has unknown unit ' minutes'; use ms, s, m or h",
    ),
    (
        "timeout = 300\n",
        ":1: timeout: expected a duration in quotes such as \"500ms\", \"2s\", \"5m\" or \"1h\", found 300",
    ),
    (
        "poll_interval = \"0s\"\n",
        ":1: poll_interval: must be longer than 0s",
    ),
    (
        "zfs_timeout = \"h\"\n",
        ":1: zfs_timeout: 'h' does not start with a number; write e.g. 500ms, 2s, 5m or 1h",
    ),
    (
        "targets = \"nest\"\n",
        ":1: targets: expected a list such as [\"nest\"], found \"nest\"",
    ),
    (
        "targets = [\"/nest\"]\n",
        ":1: targets: expected a dataset name such as \"pool/data\", found \"/nest\"",
    ),
    (
        "consoles = [\"ttyS0\"]\n",
        ":1: consoles: expected an absolute path, found \"ttyS0\"",
    ),
    (
        "socket = 1\n",
        ":1: socket: expected text in double quotes, found 1",
    ),
    (
        "ask_password = \"yes\"\n",
        ":1: ask_password: expected true or false, found \"yes\"",
    ),
    (
        "keystore_close = \"lock\"\n",
        ":1: keystore_close: expected one of unload, unmount, keep, found \"lock\"",
    ),
    (
        "tires = 3\n",
        ":1: tires: unknown setting (did you mean tries?)",
    ),
    (
        "tries = 1\ntries = 2\n",
        ":2: tries: set twice (first on line 1)",
    ),
    (
        "keystore = \"nest/keys\"\n",
        ":1: keystore: a keystore is a table: write [[keystore]] on its own line, then dataset = \"...\"",
    ),
    (
        "[[keystore]]\nclose = \"keep\"\n",
        ":1: keystore: missing dataset = \"POOL/NAME\" (which dataset is the keystore)",
    ),
    (
        "[[keystore]]\ndataset = \"nest/keys\"\nclose = \"lock\"\n",
        ":3: keystore.close: expected one of unload, unmount, keep, found \"lock\"",
    ),
    (
        "[[keystore]]\ndataset = \"nest/keys\"\nmountpoint = \"run/x\"\n",
        ":3: keystore.mountpoint: expected an absolute path, found \"run/x\" or \"private\"",
    ),
    (
        "[[keystore]]\ndataset = \"nest/keys\"\nmount = \"private\"\n",
        ":3: keystore.mount: unknown setting (did you mean mountpoint?)",
    ),
    (
        "[[keystore]]\ndataset = \"k/a\"\n[[keystore]]\ndataset = \"k/a\"\n",
        ":3: keystore.dataset: k/a is already a keystore (the [[keystore]] on line 1)",
    ),
    (
        "[[keystores]]\ndataset = \"k/a\"\n",
        ":1: keystores: unknown table; the known ones are [[keystore]], [[luks]] and [[provider]]",
    ),
    (
        "[main]\n",
        ":1: [table] headers are not used in keygate.toml; write [[keystore]] for a keystore",
    ),
    (
        "mode = \"wait\n",
        ":1: mode: unterminated string (missing \")",
    ),
];

#[test]
fn every_error_names_file_line_and_key() {
    for (text, want) in ERRORS {
        let got = parse(text).unwrap_err();
        assert_eq!(got, format!("{ORIGIN}{want}"), "for {text:?}");
    }
}

#[test]
fn the_shipped_example_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/keygate.toml.example");
    let c = config::load(&path, true).unwrap();
    assert_eq!(c.mode, Some(Mode::Prompt));
    assert_eq!(c.keystores.len(), 1);
    assert_eq!(c.keystores[0].mount, KeystoreMount::Private);
    assert!(GateSettings::resolve_with(&GateArgs::default(), &c).is_ok());
}

#[test]
fn a_missing_file_is_fine_only_at_the_default_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("keygate.toml");
    let c = config::load(&missing, false).unwrap();
    assert_eq!(c, ConfigFile::empty(&missing));
    let e = config::load(&missing, true).unwrap_err();
    assert!(matches!(e, ConfigError::Read { .. }));
    assert!(
        e.to_string().starts_with(&format!(
            "cannot read the configuration file {}: ",
            missing.display()
        )),
        "{e}"
    );
}

#[test]
fn a_file_is_read_and_named_in_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kg.toml");
    std::fs::write(&path, "mode = \"hint\"\n# fine\nzfs_timeout = \"soon\"\n").unwrap();
    let e = config::load(&path, true).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("{}:3: zfs_timeout: ", path.display())),
        "{e}"
    );
    std::fs::write(&path, b"mode = \"hint\"\nzfs = \"\xff\"\n").unwrap();
    let e = config::load(&path, true).unwrap_err().to_string();
    assert_eq!(e, format!("{}:2: not valid UTF-8", path.display()));
}

#[test]
fn drop_in_files_add_providers_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("keygate.toml");
    std::fs::write(
        &main,
        "mode = \"prompt\"\n[[provider]]\nname = \"one\"\ncommand = [\"a\"]\n",
    )
    .unwrap();
    let d = dir.path().join("keygate.d");
    std::fs::create_dir(&d).unwrap();
    std::fs::write(
        d.join("b.toml"),
        "[[provider]]\nname = \"three\"\ncommand = [\"c\"]\n",
    )
    .unwrap();
    std::fs::write(
        d.join("a.toml"),
        "[[provider]]\nname = \"two\"\ncommand = [\"b\"]\n",
    )
    .unwrap();
    std::fs::write(d.join("notes.txt"), "not read\n").unwrap();
    let c = config::load(&main, true).unwrap();
    let names: Vec<&str> = c.providers.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["one", "two", "three"]);
    assert_eq!(c.providers[1].origin, d.join("a.toml"));

    std::fs::write(
        d.join("c.toml"),
        "[[provider]]\nname = \"one\"\ncommand = [\"x\"]\n",
    )
    .unwrap();
    let e = config::load(&main, true).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "{}:1: provider.name: one is already a provider (the [[provider]] at {}:2); give this one another name",
            d.join("c.toml").display(),
            main.display()
        )
    );
    std::fs::write(d.join("c.toml"), "\ntries = 5\n").unwrap();
    let e = config::load(&main, true).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "{}:2: tries: a drop-in file in keygate.d/ holds only [[provider]] tables; set this in the main configuration file",
            d.join("c.toml").display()
        )
    );
}
