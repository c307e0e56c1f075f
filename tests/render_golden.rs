//! The service files shipped in units/, smf/ and openrc/ are exactly what
//! `keygate render` produces with default options. On a difference the test
//! shows a unified diff; `KEYGATE_BLESS=1 cargo test --test render_golden`
//! rewrites the shipped files from the templates (review the result).

mod common;

use std::path::{Path, PathBuf};

use clap::Parser;
use common::unified_diff;
use keygate::cli::{Cli, Command as Sub, RenderArgs};
use keygate::render::{self, RenderedFile};

/// What the shipped files are compared with.
const RENDERED: &str = "keygate render (default options)";

fn render_args(line: &[&str]) -> RenderArgs {
    let argv = ["keygate", "render"].iter().chain(line);
    match Cli::try_parse_from(argv)
        .expect("valid command line")
        .command
    {
        Sub::Render(args) => args,
        other => panic!("not a render command: {other:?}"),
    }
}

fn rendered(line: &[&str]) -> Vec<RenderedFile> {
    render::render(&render_args(line)).expect("renders")
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn check(system: &str, shipped: &[(&str, &str)]) {
    let files = rendered(&[system]);
    let names: Vec<_> = files.iter().map(|f| f.name).collect();
    let expected_names: Vec<_> = shipped.iter().map(|(name, _)| *name).collect();
    assert_eq!(names, expected_names, "files rendered for {system}");
    let mut drift = String::new();
    for (file, (_, path)) in files.iter().zip(shipped) {
        let path = repo(path);
        if std::env::var_os("KEYGATE_BLESS").is_some() {
            std::fs::write(&path, &file.contents).unwrap();
            continue;
        }
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        if on_disk != file.contents {
            drift.push_str(&unified_diff(&path, &file.contents, RENDERED));
        }
    }
    assert!(
        drift.is_empty(),
        "shipped {system} files differ from `keygate render {system}`; \
         fix the template or run KEYGATE_BLESS=1 cargo test --test render_golden:\n{drift}"
    );
}

#[test]
fn systemd_unit_is_current() {
    check("systemd", &[("keygate.service", "units/keygate.service")]);
}

#[test]
fn smf_manifest_is_current() {
    check("smf", &[("keygate.xml", "smf/keygate.xml")]);
}

#[test]
fn openrc_files_are_current() {
    check(
        "openrc",
        &[
            ("init.d/keygate", "openrc/keygate"),
            ("conf.d/keygate", "openrc/keygate.confd"),
        ],
    );
}

#[test]
fn diff_shows_the_drift() {
    let dir = tempfile::tempdir().unwrap();
    let shipped = dir.path().join("unit");
    std::fs::write(&shipped, "a\nb\n").unwrap();
    let diff = unified_diff(&shipped, "a\nc\n", RENDERED);
    assert!(diff.contains("-b\n+c\n"), "{diff}");
}

#[test]
fn options_reach_the_systemd_unit() {
    let unit = &rendered(&[
        "systemd",
        "--binary",
        "/opt/keygate/bin/keygate",
        "--mode",
        "prompt",
        "--console",
        "/dev/ttyS0",
        "--timeout",
        "10m",
        "--on-timeout",
        "continue",
        "rpool",
        "tank/secret",
    ])[0];
    assert!(unit.contents.contains(
        "\nExecStart=/opt/keygate/bin/keygate --service-manager systemd gate --mode prompt \
         --console /dev/ttyS0 --timeout 10m --on-timeout continue rpool tank/secret\n"
    ));
    let default = &rendered(&["systemd"])[0];
    assert!(
        default
            .contents
            .contains("\nExecStart=/usr/sbin/keygate --service-manager systemd gate\n")
    );
}

#[test]
fn options_reach_the_openrc_files() {
    let files = rendered(&[
        "openrc",
        "--binary",
        "/sbin/keygate",
        "--mode",
        "wait",
        "--console",
        "/dev/tty1",
        "--console",
        "/dev/ttyS0",
        "--timeout",
        "90s",
        "--on-timeout",
        "fail",
        "nest",
        "nest/home",
    ]);
    assert!(
        files[0]
            .contents
            .contains("\nkeygate_binary=\"/sbin/keygate\"\n")
    );
    let confd = &files[1].contents;
    for line in [
        "KEYGATE_TARGETS=\"nest nest/home\"",
        "KEYGATE_MODE=\"wait\"",
        "KEYGATE_CONSOLES=\"/dev/tty1 /dev/ttyS0\"",
        "KEYGATE_TIMEOUT=\"90s\"",
        "KEYGATE_ON_TIMEOUT=\"fail\"",
    ] {
        assert!(confd.contains(&format!("\n{line}\n")), "{line} in\n{confd}");
    }
}

#[test]
fn every_ordering_line_of_the_unit_has_a_comment() {
    let unit = &rendered(&["systemd"])[0].contents;
    let lines: Vec<&str> = unit.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let key = line.split('=').next().unwrap_or("");
        if [
            "After",
            "Before",
            "Wants",
            "Requires",
            "RequiredBy",
            "WantedBy",
            "Conflicts",
            "DefaultDependencies",
        ]
        .contains(&key)
        {
            // The comment is right above, or above a run of ordering lines.
            let commented = lines[..i]
                .iter()
                .rev()
                .take_while(|l| !l.is_empty())
                .any(|l| l.starts_with('#'));
            assert!(commented, "no comment explains line {}: {line}", i + 1);
        }
    }
}
