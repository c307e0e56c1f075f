//! OpenRC: messages in einfo/ewarn/eerror style; exit 0 started, 1 failed;
//! a hint that starts the gate again and then the mounts it held.

use std::path::{Path, PathBuf};

use super::{Level, shell_quote};
use crate::host::Host;

/// Where init scripts live when `RC_SERVICE` does not say (a run by hand).
const INIT_D: &str = "/etc/init.d";

/// The services that wait for the gate, in the order the hint starts them,
/// which is the order of a boot: what mounts the local file systems of
/// fstab (Debian's initscripts `mountall.sh`; `localmount` on Gentoo and
/// Funtoo), then zfs-mount.
const HELD: [&str; 3] = ["mountall.sh", "localmount", "zfs-mount"];

/// The directory of the gate's own init script: `RC_SERVICE` names it under
/// openrc-run; else the host's /etc/init.d.
pub fn init_d(rc_service: Option<&str>, host: &Host) -> PathBuf {
    rc_service
        .and_then(|s| Path::new(s).parent())
        .filter(|d| d.is_absolute())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| host.path(INIT_D))
}

/// How to start each of the held services that is installed next to the
/// gate's script, in boot order. An openrc-run script is started with
/// `rc-service`. Debian's are LSB scripts (`#!/bin/sh`): `rc-service` runs
/// those directly, without OpenRC (no conf.d, no dependencies, and OpenRC
/// still records them stopped), so they are started through `openrc-run`.
pub fn held_services(init_d: &Path) -> Vec<String> {
    HELD.iter()
        .filter_map(|name| {
            let path = init_d.join(name);
            let head = std::fs::read(&path).ok()?;
            let first = head.split(|&b| b == b'\n').next().unwrap_or_default();
            let openrc_run = first.starts_with(b"#!") && first.ends_with(b"/openrc-run");
            Some(if openrc_run {
                format!("rc-service {} start", shell_quote(name))
            } else {
                format!("openrc-run {} start", shell_quote(&path.to_string_lossy()))
            })
        })
        .collect()
}

/// Load the keys, start the gate again, then each held service: after a
/// failed gate OpenRC leaves them stopped ("cannot start ... as keygate
/// would not start"), and nothing starts them again by itself.
pub fn fix_command(load: &str, service: &str, held: &[String]) -> String {
    let mut cmd = format!("{load} && rc-service {} start", shell_quote(service));
    for start in held {
        cmd.push_str(" && ");
        cmd.push_str(start);
    }
    cmd
}

pub fn format_message(level: Level, text: &str) -> String {
    match level {
        Level::Info => format!(" * keygate: {text}"),
        Level::Warning => format!(" * WARNING: keygate: {text}"),
        Level::Error => format!(" * ERROR: keygate: {text}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_d_comes_from_rc_service() {
        let host = Host::default();
        assert_eq!(
            init_d(Some("/etc/init.d/keygate"), &host),
            Path::new("/etc/init.d")
        );
        assert_eq!(
            init_d(Some("/tmp/x/init.d/nest"), &host),
            Path::new("/tmp/x/init.d")
        );
        assert_eq!(init_d(None, &host), Path::new("/etc/init.d"));
        assert_eq!(init_d(Some("keygate"), &host), Path::new("/etc/init.d"));
        assert_eq!(
            init_d(None, &Host::new("/tmp/root")),
            Path::new("/tmp/root/etc/init.d")
        );
    }

    #[test]
    fn held_services_are_those_installed_each_started_its_way() {
        let dir = tempfile::tempdir().unwrap();
        assert!(held_services(dir.path()).is_empty());
        let script = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        script("localmount", "#!/sbin/openrc-run\ndepend() { :; }\n");
        script("zfs-mount", "#!/sbin/openrc-run\n");
        script("unrelated", "#!/sbin/openrc-run\n");
        assert_eq!(
            held_services(dir.path()),
            ["rc-service localmount start", "rc-service zfs-mount start"]
        );
        script("mountall.sh", "#!/bin/sh\n### BEGIN INIT INFO\n");
        script("zfs-mount", "#!/bin/sh\n");
        let d = dir.path().display();
        assert_eq!(
            held_services(dir.path()),
            [
                format!("openrc-run {d}/mountall.sh start"),
                "rc-service localmount start".to_string(),
                format!("openrc-run {d}/zfs-mount start"),
            ]
        );
    }

    #[test]
    fn the_fix_starts_the_gate_then_the_held_mounts() {
        let held = vec![
            "openrc-run /etc/init.d/mountall.sh start".to_string(),
            "rc-service zfs-mount start".to_string(),
        ];
        assert_eq!(
            fix_command("zfs load-key -r nest", "keygate", &held),
            "zfs load-key -r nest && rc-service keygate start \
             && openrc-run /etc/init.d/mountall.sh start && rc-service zfs-mount start"
        );
        assert_eq!(
            fix_command("zfs load-key -r nest", "keygate", &[]),
            "zfs load-key -r nest && rc-service keygate start"
        );
    }
}
