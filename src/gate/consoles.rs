//! Which consoles to prompt on.

use std::path::{Path, PathBuf};

use crate::host::Host;

/// `--console` paths when given; else every console the kernel lists as
/// active in /sys/class/tty/console/active (as /dev/NAME); else /dev/console.
pub fn prompt_consoles(host: &Host, explicit: &[PathBuf]) -> Vec<PathBuf> {
    if !explicit.is_empty() {
        return explicit.to_vec();
    }
    let active =
        std::fs::read_to_string(host.path("/sys/class/tty/console/active")).unwrap_or_default();
    let from_kernel = parse_active(&active)
        .into_iter()
        .map(|name| host.path(&format!("/dev/{name}")))
        .collect::<Vec<_>>();
    if from_kernel.is_empty() {
        vec![host.path("/dev/console")]
    } else {
        from_kernel
    }
}

/// In the initramfs: every console the kernel lists (else /dev/console) and
/// the `--console` lines beside them (the LOM lines), each once.
pub fn kernel_and(host: &Host, explicit: &[PathBuf]) -> Vec<PathBuf> {
    let mut all = prompt_consoles(host, &[]);
    for path in explicit {
        let named = host.path(&path.to_string_lossy());
        let same = |p: &PathBuf| {
            *p == named
                || *p == *path
                || matches!(
                    (std::fs::canonicalize(p), std::fs::canonicalize(path)),
                    (Ok(a), Ok(b)) if a == b
                )
        };
        if !all.iter().any(same) {
            all.push(path.clone());
        }
    }
    all
}

/// Under systemd, its console agent asks on every active kernel console:
/// keygate must not prompt on those itself (two readers would split the
/// typed characters between them). True for `/dev/console`, for a device the
/// kernel lists as active, and for any VT when `tty0` (the current VT) is.
pub fn is_active_console(host: &Host, path: &Path) -> bool {
    // The name as given and the device it resolves to (a by-id link).
    let file_name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    let names: Vec<String> = [
        file_name(path),
        std::fs::canonicalize(path).ok().and_then(|p| file_name(&p)),
    ]
    .into_iter()
    .flatten()
    .collect();
    let active =
        std::fs::read_to_string(host.path("/sys/class/tty/console/active")).unwrap_or_default();
    let active = parse_active(&active);
    names.iter().any(|name| {
        let is_vt = name
            .strip_prefix("tty")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        name == "console" || active.iter().any(|a| a == name || (a == "tty0" && is_vt))
    })
}

/// Console names from the sysfs file: whitespace separated, each a plain
/// device name (anything with a path separator or a leading dot is ignored).
pub fn parse_active(text: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for name in text.split_whitespace() {
        let sane = !name.starts_with('.') && !name.contains('/');
        if sane && !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn active_consoles() {
        assert_eq!(parse_active("tty0 ttyS1\n"), vec!["tty0", "ttyS1"]);
        assert_eq!(parse_active("ttyS1 ttyS1 ../x .."), vec!["ttyS1"]);
        assert!(parse_active("").is_empty());
    }

    #[test]
    fn active_consoles_are_recognised() {
        let dir = tempfile::tempdir().unwrap();
        let host = Host::new(dir.path());
        std::fs::create_dir_all(dir.path().join("sys/class/tty/console")).unwrap();
        std::fs::write(
            dir.path().join("sys/class/tty/console/active"),
            "tty0 ttyS0\n",
        )
        .unwrap();
        assert!(is_active_console(&host, Path::new("/dev/ttyS0")));
        assert!(is_active_console(&host, Path::new("/dev/console")));
        assert!(is_active_console(&host, Path::new("/dev/tty3")));
        assert!(!is_active_console(&host, Path::new("/dev/ttyS1")));
        assert!(!is_active_console(&host, Path::new("/dev/ttyUSB0")));
    }

    #[test]
    fn falls_back_to_dev_console() {
        let dir = tempfile::tempdir().unwrap();
        let host = Host::new(dir.path());
        assert_eq!(
            prompt_consoles(&host, &[]),
            vec![dir.path().join("dev/console")]
        );
        std::fs::create_dir_all(dir.path().join("sys/class/tty/console")).unwrap();
        std::fs::write(
            dir.path().join("sys/class/tty/console/active"),
            "tty0 ttyS1\n",
        )
        .unwrap();
        assert_eq!(
            prompt_consoles(&host, &[]),
            vec![dir.path().join("dev/tty0"), dir.path().join("dev/ttyS1")]
        );
        let explicit = vec![PathBuf::from("/dev/ttyS2")];
        assert_eq!(prompt_consoles(&host, &explicit), explicit);
        // The initramfs: the kernel's consoles and the named line, once each.
        let lom = dir.path().join("dev/ttyS2");
        let twice = vec![lom.clone(), dir.path().join("dev/ttyS1")];
        assert_eq!(
            kernel_and(&host, &twice),
            vec![
                dir.path().join("dev/tty0"),
                dir.path().join("dev/ttyS1"),
                lom
            ]
        );
    }
}
