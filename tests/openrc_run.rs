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
    // Sourcing the script runs nothing of depend(): no dependency lines
    // among what the person at the console reads.
    for (out, _) in &results {
        assert!(
            !out.lines()
                .any(|l| l.starts_with("after ") || l.starts_with("before ")),
            "dependency lines printed:\n{out}"
        );
    }
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

// ---------------------------------------------------------------------------
// The two layouts, booted by the real `openrc`: the script and its conf.d
// next to stand-ins for the services of each layout, in one runlevel that
// `openrc boot` runs inside the sandbox. Each stand-in's start() appends its
// name to a log, and a probe in keygate's conf.d logs keygate's own start.
//
// OpenRC reads init scripts from /etc/init.d and /usr/local/etc/init.d and a
// script's conf.d from `../conf.d` next to it, and runlevels from
// /etc/runlevels. Inside the mount namespace the service directory is bound
// over /usr/local/etc, an empty directory over /etc/init.d (the host's own
// scripts stay out of the dependency tree), and its runlevels over
// /etc/runlevels. The runlevel is `boot`: Gentoo's, and for Debian's layout
// a stand-in for sysinit (`openrc sysinit` would also run OpenRC's init.sh,
// which mounts the kernel file systems; the VM tier boots the real one).

const LOCAL_ETC: &str = "/usr/local/etc";

fn layouts_available() -> bool {
    if !available() {
        return false;
    }
    for dir in [LOCAL_ETC, "/etc/init.d", "/etc/runlevels"] {
        if !Path::new(dir).is_dir() {
            eprintln!("skipped: {dir} is missing (a mount point for the sandbox)");
            return false;
        }
    }
    true
}

/// An openrc-run stand-in: `depend()` as given, start() logs its name.
fn openrc_stand_in(depend: &str) -> String {
    format!(
        "#!/sbin/openrc-run\n# Stand-in for the real service (keygate tests).\n\
         depend()\n{{\n\t{depend}\n}}\n\
         start()\n{{\n\techo \"${{RC_SVCNAME}}\" >>\"${{KGT_ORDER}}\"\n}}\n"
    )
}

/// A Debian-style LSB stand-in: the header as given, `start` logs its name.
fn lsb_stand_in(name: &str, header: &str) -> String {
    format!(
        "#!/bin/sh\n### BEGIN INIT INFO\n# Provides: {name}\n{header}\
         ### END INIT INFO\n# Stand-in for the real script (keygate tests).\n\
         case \"$1\" in\nstart) echo \"$(basename \"$0\")\" >>\"${{KGT_ORDER}}\" ;;\nesac\nexit 0\n"
    )
}

/// The layouts' services: (name, script, runlevel or "" for none).
type StandIns = &'static [(&'static str, fn() -> String, &'static str)];

/// Gentoo and Funtoo: OpenZFS's own openrc-run scripts (their depend() as
/// upstream writes them for a root that is not on ZFS) and openrc's
/// localmount, all in `boot`.
const GENTOO: StandIns = &[
    ("fsck", || openrc_stand_in("after clock"), "boot"),
    ("root", || openrc_stand_in("need fsck"), "boot"),
    (
        "localmount",
        || openrc_stand_in("need fsck root; use lvm modules; after clock lvm modules"),
        "boot",
    ),
    (
        "zfs-import",
        || openrc_stand_in("before swap; after sysfs udev"),
        "boot",
    ),
    (
        "zfs-load-key",
        || openrc_stand_in("before bootmisc logger zfs-mount; after zfs-import sysfs"),
        "boot",
    ),
    (
        "zfs-mount",
        || {
            openrc_stand_in(
                "after localmount; before bootmisc logger; after zfs-import sysfs; use mtab",
            )
        },
        "boot",
    ),
];

/// Debian: initscripts' LSB scripts and zfsutils-linux's (LSB as well),
/// reduced to the header fields that order them; zfs-load-key is in
/// `default` there, so it is in no runlevel that runs here.
const DEBIAN: StandIns = &[
    (
        "checkroot.sh",
        || lsb_stand_in("checkroot mtab", "# Default-Start: S\n"),
        "boot",
    ),
    (
        "checkfs.sh",
        || {
            lsb_stand_in(
                "checkfs",
                "# Required-Start: checkroot\n# Default-Start: S\n",
            )
        },
        "boot",
    ),
    (
        "mountall.sh",
        || {
            lsb_stand_in(
                "mountall",
                "# Required-Start: checkfs\n# Default-Start: S\n",
            )
        },
        "boot",
    ),
    (
        "zfs-import",
        || {
            lsb_stand_in(
                "zfs-import",
                "# Required-Start: mtab\n# Required-Stop: $local_fs\n\
                 # Default-Start: S\n# X-Start-Before: checkfs\n",
            )
        },
        "boot",
    ),
    (
        "zfs-mount",
        || {
            lsb_stand_in(
                "zfs-mount",
                "# Required-Start: zfs-import\n# Required-Stop: $local_fs\n\
                 # Default-Start: S\n# X-Start-Before: mountall\n",
            )
        },
        "boot",
    ),
    (
        "zfs-load-key",
        || {
            lsb_stand_in(
                "zfs-load-key",
                "# Required-Start: $local_fs zfs-import\n# Default-Start: 2 3 4 5\n\
                 # X-Start-Before: zfs-mount\n",
            )
        },
        "",
    ),
];

impl Service {
    fn order_log(&self) -> PathBuf {
        self.dir.path().join("order")
    }

    /// The services started, in order.
    fn order(&self) -> Vec<String> {
        fs::read_to_string(self.order_log())
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Adds the stand-ins and the runlevel: keygate in `boot`, and
    /// `rc_need="keygate"` in the conf.d of each of `held`, as README says.
    ///
    /// `gate` is the name the script is installed under: `keygate`, or a
    /// name that sorts after every other service, so that the order can
    /// only come from `depend()` (OpenRC starts services it cannot tell
    /// apart in the order of their names).
    fn lay_out(&self, stand_ins: StandIns, held: &[&str], gate: &str) {
        let root = self.dir.path();
        let order = self.order_log();
        for level in ["boot", "default", "sysinit", "shutdown"] {
            fs::create_dir_all(root.join("runlevels").join(level)).unwrap();
        }
        fs::create_dir_all(root.join("empty")).unwrap();
        let link = |name: &str, level: &str| {
            std::os::unix::fs::symlink(
                format!("{LOCAL_ETC}/init.d/{name}"),
                root.join("runlevels").join(level).join(name),
            )
            .unwrap();
        };
        for (name, script, level) in stand_ins {
            let path = root.join("init.d").join(name);
            fs::write(&path, script()).unwrap();
            fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .unwrap();
            fs::write(
                root.join("conf.d").join(name),
                format!("export KGT_ORDER=\"{}\"\n", order.display()),
            )
            .unwrap();
            if !level.is_empty() {
                link(name, level);
            }
        }
        for name in held {
            let confd = root.join("conf.d").join(name);
            let mut text = fs::read_to_string(&confd).unwrap();
            text.push_str("rc_need=\"keygate\"\n");
            fs::write(confd, text).unwrap();
        }
        if gate != "keygate" {
            for dir in ["init.d", "conf.d"] {
                fs::rename(root.join(dir).join("keygate"), root.join(dir).join(gate)).unwrap();
            }
        }
        link(gate, "boot");
        // keygate's own start, logged when openrc-run.sh begins it.
        let confd = root.join("conf.d").join(gate);
        let mut text = fs::read_to_string(&confd).unwrap();
        text.push_str(&format!(
            "\n# Test only: log the start.\nif [ \"${{RC_CMD:-}}\" = start ]; then echo keygate >>\"{}\"; fi\n",
            order.display()
        ));
        fs::write(&confd, text).unwrap();
    }

    /// `steps` as in `run`, after binding the layout into place; `openrc
    /// boot` is a step like any shell line.
    fn run_layout(&self, steps: &[&str]) -> Vec<(String, i32)> {
        let root = self.dir.path().display().to_string();
        let mut all = vec![
            format!(
                "mount --bind '{root}' {LOCAL_ETC} && mount --bind '{root}/empty' /etc/init.d \
                 && mount --bind '{root}/runlevels' /etc/runlevels"
            ),
            "echo sysinit >/run/openrc/softlevel".to_owned(),
        ];
        all.extend(steps.iter().map(|s| s.to_string()));
        let results = self.run(&all.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(results[0].1, 0, "binding the layout: {}", results[0].0);
        results.into_iter().skip(2).collect()
    }
}

fn position(order: &[String], name: &str) -> usize {
    order
        .iter()
        .position(|s| s == name)
        .unwrap_or_else(|| panic!("{name} did not start: {order:?}"))
}

/// The hint's command with the simulator's `zfs` for the real one.
fn with_sim(sim: &Sim, command: &str) -> String {
    command.replacen(
        "zfs load-key",
        &format!(
            "echo 'correct horse battery' | ZFS_SIM_DIR='{}' '{}' load-key",
            sim.state_dir().display(),
            sim.zfs_path().display()
        ),
        1,
    )
}

/// The command in the hint's `Run '...'` line.
fn hinted(output: &str) -> String {
    let line = output
        .lines()
        .find(|l| l.contains("Run 'zfs load-key"))
        .unwrap_or_else(|| panic!("no hint in:\n{output}"));
    let from = line.find("Run '").unwrap() + 5;
    line[from..line.rfind('\'').unwrap()].to_owned()
}

/// `openrc boot` in `layout` with the key loaded already, the script
/// installed under a name that sorts last: checks that the boot succeeds
/// and keygate starts after zfs-import and before zfs-mount. The order the
/// services started in, keygate's place in it, and the boot's output;
/// `None` where the layouts cannot be laid out here (skipped).
fn boot_with_the_key_loaded(layout: StandIns) -> Option<(Vec<String>, usize, String)> {
    if !layouts_available() {
        return None;
    }
    let sim = locked_sim();
    sim.load("nest/secret");
    let service = Service::new(&sim, "hint", &[]);
    // No rc_need: the order comes from the script's depend() alone.
    service.lay_out(layout, &[], "zz-gate");
    let results = service.run_layout(&["openrc boot"]);
    let (out, rc) = &results[0];
    assert_eq!(*rc, 0, "openrc boot:\n{out}");
    let order = service.order();
    let keygate = position(&order, "keygate");
    assert!(position(&order, "zfs-import") < keygate, "{order:?}\n{out}");
    assert!(keygate < position(&order, "zfs-mount"), "{order:?}\n{out}");
    Some((order, keygate, out.clone()))
}

/// `openrc boot` in `layout` with the key not loaded and `held` needing
/// keygate, so the gate fails: checks that OpenRC says it held each of
/// `held`. The simulator, the service and the boot's output; `None` where
/// the layouts cannot be laid out here (skipped).
fn boot_with_a_failing_gate(layout: StandIns, held: &[&str]) -> Option<(Sim, Service, String)> {
    if !layouts_available() {
        return None;
    }
    let sim = locked_sim();
    let service = Service::new(&sim, "hint", &[]);
    service.lay_out(layout, held, "keygate");
    let results = service.run_layout(&["openrc boot"]);
    let (out, _) = &results[0];
    for held in held {
        assert!(
            out.contains(&format!("cannot start {held} as keygate would not start")),
            "{held} held:\n{out}"
        );
    }
    let out = out.clone();
    Some((sim, service, out))
}

#[test]
fn gentoo_layout_keygate_runs_between_zfs_import_and_the_mounts() {
    let Some((order, keygate, out)) = boot_with_the_key_loaded(GENTOO) else {
        return;
    };
    assert!(keygate < position(&order, "localmount"), "{order:?}\n{out}");
    assert!(!out.contains("ERROR"), "{out}");
}

#[test]
fn gentoo_layout_a_failed_gate_holds_localmount_and_zfs_mount_until_the_hint_is_run() {
    let Some((sim, service, out)) = boot_with_a_failing_gate(GENTOO, &["localmount", "zfs-mount"])
    else {
        return;
    };
    for held in ["localmount", "zfs-mount"] {
        assert!(!service.order().contains(&held.to_owned()), "{out}");
    }
    let fix = hinted(&out);
    assert_eq!(
        &fix[fix.find(" && ").unwrap()..],
        " && rc-service keygate start && rc-service localmount start \
         && rc-service zfs-mount start",
        "the hint starts the gate, then what it held:\n{out}"
    );
    assert!(
        out.contains(" * WARNING: keygate: Run '"),
        "the hint is an OpenRC warning:\n{out}"
    );

    // The hinted command, in a fresh sandbox with the same state: OpenRC's
    // state of the boot above is gone with its namespace, so boot again.
    let results = service.run_layout(&[
        "openrc boot",
        &with_sim(&sim, &fix),
        "status",
        "ls /run/openrc/started",
    ]);
    for held in ["keygate", "localmount", "zfs-mount"] {
        assert!(
            results[3].0.lines().any(|l| l == held),
            "OpenRC records {held} started: {}",
            results[3].0
        );
    }
    assert_eq!(results[1].1, 0, "the hinted command: {}", results[1].0);
    let order = service.order();
    assert_eq!(
        order[order.len() - 3..],
        ["keygate", "localmount", "zfs-mount"],
        "the hinted command started the gate, then the held mounts: {order:?}"
    );
    assert_eq!(results[2].1, 0, "status after the fix: {}", results[2].0);
}

#[test]
fn debian_layout_keygate_runs_between_zfs_import_and_mountall() {
    let Some((order, keygate, out)) = boot_with_the_key_loaded(DEBIAN) else {
        return;
    };
    assert!(
        keygate < position(&order, "mountall.sh"),
        "{order:?}\n{out}"
    );
    assert!(
        !order.contains(&"zfs-load-key".to_owned()),
        "zfs-load-key is not in this runlevel: {order:?}"
    );
    // zfsutils' headers make loops OpenRC solves by dropping `use` edges
    // only; keygate's own edges are `after`/`before` and stay.
    assert!(!out.contains("unresolvable"), "{out}");
}

#[test]
fn debian_layout_a_failed_gate_holds_mountall_and_zfs_mount() {
    let Some((sim, service, out)) = boot_with_a_failing_gate(DEBIAN, &["mountall.sh", "zfs-mount"])
    else {
        return;
    };
    let order = service.order();
    assert!(
        !order.contains(&"mountall.sh".to_owned()) && !order.contains(&"zfs-mount".to_owned()),
        "{order:?}"
    );
    let fix = hinted(&out);
    assert!(
        fix.ends_with(&format!(
            " && rc-service keygate start && openrc-run {LOCAL_ETC}/init.d/mountall.sh start \
                 && openrc-run {LOCAL_ETC}/init.d/zfs-mount start"
        )),
        "{fix}"
    );
    let results = service.run_layout(&[
        "openrc boot",
        &with_sim(&sim, &fix),
        "ls /run/openrc/started",
    ]);
    assert_eq!(results[1].1, 0, "the hinted command: {}", results[1].0);
    for held in ["keygate", "mountall.sh", "zfs-mount"] {
        assert!(
            results[2].0.lines().any(|l| l == held),
            "OpenRC records {held} started: {}",
            results[2].0
        );
    }
    let order = service.order();
    assert_eq!(
        order[order.len() - 3..],
        ["keygate", "mountall.sh", "zfs-mount"],
        "the hinted command started the gate, then the held mounts: {order:?}\n{}",
        results[1].0
    );
}
