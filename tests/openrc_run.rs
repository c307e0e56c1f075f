//! The OpenRC init script, run by the real `openrc-run` against the ZFS
//! simulator: locked keys fail `start` with the fix printed; loaded keys
//! start it; `status` follows the keys.
//!
//! How it runs on a machine that OpenRC did not boot: Debian's `openrc`
//! package installs next to systemd (it conflicts only with sysv-rc and
//! file-rc), giving `/sbin/openrc-run` and `/lib/rc`. openrc-run keeps its
//! state in `/run/openrc` and refuses to work unless OpenRC booted the
//! machine (`/run/openrc/softlevel`). Each test therefore runs inside its own
//! mount namespace (`unshare -m`, needs root) with a fresh tmpfs on `/run`,
//! where it lays out an empty OpenRC state: nothing on the host changes, and
//! tests run in parallel without seeing each other.
//!
//! The script and its conf.d file are rendered into a temporary
//! `init.d/` and `conf.d/` pair (openrc-run reads `../conf.d/NAME` next to the
//! script), with `--binary` pointing at the keygate under test. The conf.d
//! file then gets the test's settings: the simulator as `zfs`
//! (`KEYGATE_OPTS`), its state directory (openrc-run passes only a short list
//! of variables through, so it is exported from conf.d), and a plain file as
//! the console.
//!
//! Skipped, with a note, where openrc-run or a mount namespace is not
//! available; under `CI=true` that fails instead (CI installs `openrc` and
//! runs as root).

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Parser;
use common::Sim;
use keygate::cli::{Cli, Command as Sub};

const OPENRC_RUN: &str = "/sbin/openrc-run";

/// What OpenRC keeps under /run/openrc, empty.
const STATE_DIRS: &str = "daemons exclusive failed hotplugged inactive options \
                          scheduled started starting stopping tmp wasinactive";

fn available() -> bool {
    if !Path::new(OPENRC_RUN).exists() {
        common::skip(&format!("{OPENRC_RUN} not found (apt-get install openrc)"));
        return false;
    }
    let ns = Command::new("unshare").args(["-m", "true"]).status();
    if !ns.is_ok_and(|s| s.success()) {
        common::skip("cannot make a mount namespace (unshare -m needs root)");
        return false;
    }
    true
}

/// A rendered init script in `dir/init.d/keygate` with its conf.d file.
struct Service {
    dir: tempfile::TempDir,
}

impl Service {
    fn new(sim: &Sim, mode: &str, targets: &[&str]) -> Service {
        let dir = tempfile::tempdir().unwrap();
        let binary = env!("CARGO_BIN_EXE_keygate");
        // A plain file stands in for the console (keygate appends to it).
        let console = dir.path().join("console");
        fs::write(&console, "").unwrap();
        let console = console.to_str().unwrap();
        let mut argv = vec![
            "keygate",
            "render",
            "openrc",
            "--binary",
            binary,
            "--mode",
            mode,
            "--console",
            console,
        ];
        argv.extend_from_slice(targets);
        let Sub::Render(args) = Cli::try_parse_from(argv).unwrap().command else {
            panic!("not render");
        };
        keygate::render::write_all(dir.path(), &keygate::render::render(&args).unwrap()).unwrap();

        let confd = dir.path().join("conf.d/keygate");
        let mut text = fs::read_to_string(&confd).unwrap();
        let zfs = sim.zfs_path();
        text = text.replace(
            "KEYGATE_OPTS=\"\"",
            &format!("KEYGATE_OPTS=\"--zfs {}\"", zfs.display()),
        );
        text.push_str(&format!(
            "\n# Test only: the simulator's state.\nexport ZFS_SIM_DIR=\"{}\"\n",
            sim.state_dir().display()
        ));
        fs::write(&confd, text).unwrap();
        Service { dir }
    }

    fn script(&self) -> PathBuf {
        self.dir.path().join("init.d/keygate")
    }

    fn console(&self) -> String {
        fs::read_to_string(self.dir.path().join("console")).unwrap_or_default()
    }

    /// Runs `steps` (each `start`, `status`, or a shell line) in one fresh
    /// OpenRC namespace and returns each step's output and exit code.
    fn run(&self, steps: &[&str]) -> Vec<(String, i32)> {
        let script = self.script();
        let mut sh = format!(
            "set -u\nmount -t tmpfs keygate-test /run || exit 90\n\
             mkdir -p /run/openrc && cd /run/openrc && mkdir {STATE_DIRS} && touch softlevel \
             || exit 91\ncd /\n"
        );
        for (i, step) in steps.iter().enumerate() {
            let line = match *step {
                "start" | "status" | "stop" => format!("{} {step}", script.display()),
                other => other.to_owned(),
            };
            sh.push_str(&format!(
                "echo '<<<step {i}>>>'\n{line} 2>&1\necho \"<<<rc $?>>>\"\n"
            ));
        }
        let mut cmd = Command::new("unshare");
        cmd.args(["-m", "sh", "-c", &sh]);
        let out = common::run_with_timeout(cmd, common::TIMEOUT);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "sandbox failed ({:?}):\n{text}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let mut results = Vec::new();
        for (i, _) in steps.iter().enumerate() {
            let begin = format!("<<<step {i}>>>\n");
            let from = text.find(&begin).expect("step ran") + begin.len();
            let rest = &text[from..];
            let end = rest.find("<<<rc ").expect("step finished");
            let rc: i32 = rest[end + 6..]
                .split(">>>")
                .next()
                .unwrap()
                .parse()
                .unwrap();
            results.push((rest[..end].to_owned(), rc));
        }
        results
    }
}

fn locked_sim() -> Sim {
    let sim = Sim::new();
    sim.pool("nest");
    sim.encrypted_root("nest/secret", b"correct horse battery");
    sim
}

#[test]
fn locked_keys_fail_start_with_the_fix_printed() {
    if !available() {
        return;
    }
    let sim = locked_sim();
    let service = Service::new(&sim, "hint", &["nest"]);
    let results = service.run(&["start", "status"]);

    let (start, rc) = &results[0];
    assert_ne!(*rc, 0, "start must fail while keys are locked:\n{start}");
    assert!(
        start.contains("Waiting for ZFS encryption keys"),
        "ebegin line:\n{start}"
    );
    assert!(
        start.contains("zfs load-key") && start.contains("nest/secret"),
        "the hint names the fix:\n{start}"
    );
    assert!(
        start.contains("ZFS encryption keys are still locked"),
        "eend reports the failure:\n{start}"
    );
    assert!(
        service.console().contains("zfs load-key"),
        "the hint also reached the console: {:?}",
        service.console()
    );

    let (status, rc) = &results[1];
    assert_eq!(*rc, 3, "status is 'stopped' while locked:\n{status}");
    assert!(
        status.contains("status: stopped (keys are locked)"),
        "{status}"
    );
}

#[test]
fn loaded_keys_start_the_service() {
    if !available() {
        return;
    }
    let sim = locked_sim();
    sim.load("nest/secret");
    let service = Service::new(&sim, "hint", &["nest"]);
    let results = service.run(&["start", "status"]);

    let (start, rc) = &results[0];
    assert_eq!(*rc, 0, "start succeeds once every key is loaded:\n{start}");
    assert!(!start.contains("ERROR"), "{start}");
    let (status, rc) = &results[1];
    assert_eq!(*rc, 0, "{status}");
    assert!(status.contains("status: started"), "{status}");
}

#[test]
fn loading_the_key_and_starting_again_lets_the_boot_go_on() {
    // The recovery an operator follows from the hint: load the key, start
    // the service again.
    if !available() {
        return;
    }
    let sim = locked_sim();
    let service = Service::new(&sim, "hint", &[]);
    let load = format!(
        "echo 'correct horse battery' | ZFS_SIM_DIR='{}' '{}' load-key nest/secret",
        sim.state_dir().display(),
        sim.zfs_path().display()
    );
    let results = service.run(&["start", &load, "start", "status"]);
    assert_ne!(results[0].1, 0, "{}", results[0].0);
    assert_eq!(results[1].1, 0, "zfs load-key: {}", results[1].0);
    assert_eq!(results[2].1, 0, "second start: {}", results[2].0);
    assert_eq!(results[3].1, 0, "status: {}", results[3].0);
    assert_eq!(sim.keystatus("nest/secret"), "available");
}
