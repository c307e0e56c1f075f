//! Speaking to the service manager that runs the gate.
//!
//! Detection comes from the environment (`NOTIFY_SOCKET` means systemd,
//! `SMF_FMRI` SMF, `RC_SVCNAME` OpenRC, none of them a plain shell) and can be
//! overridden. Under OpenRC, `RC_SERVICE` (the script's path) tells which of
//! the services the gate holds are installed next to it. Readiness helpers log a failure and never abort, so the same
//! binary runs under any of them.

mod openrc;
mod smf;
mod systemd;

use std::time::Duration;

use crate::cli::ServiceManagerArg;

/// What the process learned from its environment at start-up. Built once in
/// `main`; tests construct it directly.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    pub notify_socket: Option<String>,
    pub smf_fmri: Option<String>,
    pub rc_svcname: Option<String>,
    pub rc_service: Option<String>,
}

impl Environment {
    pub fn from_process() -> Environment {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Environment {
            notify_socket: var("NOTIFY_SOCKET"),
            smf_fmri: var("SMF_FMRI"),
            rc_svcname: var("RC_SVCNAME"),
            rc_service: var("RC_SERVICE"),
        }
    }
}

/// The service manager in charge of this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Manager {
    Systemd,
    Smf {
        fmri: String,
    },
    /// `held`: how to start each installed service that waits for the gate
    /// (see `openrc::held_services`); the hint starts them again.
    OpenRc {
        service: String,
        held: Vec<String>,
    },
    Shell,
}

/// The FMRI used under SMF when SMF_FMRI is not set (an explicit
/// `--service-manager smf` run by hand).
pub const DEFAULT_FMRI: &str = "svc:/system/filesystem/keygate:default";

impl Manager {
    pub fn detect(env: &Environment, forced: Option<ServiceManagerArg>) -> Manager {
        let smf = || Manager::Smf {
            fmri: env
                .smf_fmri
                .clone()
                .unwrap_or_else(|| DEFAULT_FMRI.to_string()),
        };
        let openrc = || Manager::OpenRc {
            service: env
                .rc_svcname
                .clone()
                .unwrap_or_else(|| "keygate".to_string()),
            held: openrc::held_services(&openrc::init_d(
                env.rc_service.as_deref(),
                &crate::host::Host::from_process(),
            )),
        };
        match forced {
            Some(ServiceManagerArg::Systemd) => Manager::Systemd,
            Some(ServiceManagerArg::Smf) => smf(),
            Some(ServiceManagerArg::Openrc) => openrc(),
            Some(ServiceManagerArg::None) => Manager::Shell,
            None if env.notify_socket.is_some() => Manager::Systemd,
            None if env.smf_fmri.is_some() => smf(),
            None if env.rc_svcname.is_some() => openrc(),
            None => Manager::Shell,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Manager::Systemd => "systemd",
            Manager::Smf { .. } => "smf",
            Manager::OpenRc { .. } => "openrc",
            Manager::Shell => "none",
        }
    }

    pub fn is_smf(&self) -> bool {
        matches!(self, Manager::Smf { .. })
    }

    pub fn is_openrc(&self) -> bool {
        matches!(self, Manager::OpenRc { .. })
    }

    /// Every key is available: tell the manager the gate is open.
    pub fn ready(&self, status: &str) {
        if let Manager::Systemd = self {
            systemd::ready(status);
        }
    }

    /// A one-line description of what the gate is doing now.
    pub fn status(&self, status: &str) {
        if let Manager::Systemd = self {
            systemd::status(status);
        }
    }

    /// Ask for more start-up time (a waiting gate is not a hung one).
    pub fn extend_timeout(&self, by: Duration) {
        if let Manager::Systemd = self {
            systemd::extend_timeout(by);
        }
    }

    /// How often `extend_timeout` must be repeated while waiting, if at all.
    pub fn keepalive_interval(&self) -> Option<Duration> {
        match self {
            Manager::Systemd => Some(systemd::KEEPALIVE_EVERY),
            _ => None,
        }
    }

    /// The command that loads the keys and lets the boot go on.
    pub fn fix_command(&self, locked_roots: &[String]) -> String {
        let load = load_key_command(locked_roots);
        match self {
            Manager::Smf { fmri } => smf::fix_command(&load, fmri),
            Manager::Systemd => systemd::fix_command(&load),
            Manager::OpenRc { service, held } => openrc::fix_command(&load, service, held),
            Manager::Shell => load,
        }
    }

    /// Exit code: keys still locked (or the gate failed at run time).
    pub fn exit_locked(&self) -> i32 {
        if self.is_smf() {
            smf::EXIT_ERR_FATAL
        } else {
            1
        }
    }

    /// Exit code: bad usage or configuration.
    pub fn exit_config(&self) -> i32 {
        if self.is_smf() {
            smf::EXIT_ERR_CONFIG
        } else {
            2
        }
    }

    /// How loud the lines the person at the machine must read are: OpenRC
    /// shows them as warnings (`ewarn`), the others as plain lines.
    pub fn announce_level(&self) -> Level {
        match self {
            Manager::OpenRc { .. } => Level::Warning,
            _ => Level::Info,
        }
    }

    /// Format a message for stderr in the manager's own style.
    pub fn format_message(&self, level: Level, text: &str) -> String {
        match self {
            Manager::OpenRc { .. } => openrc::format_message(level, text),
            _ => match level {
                Level::Info => format!("keygate: {text}"),
                Level::Warning => format!("keygate: warning: {text}"),
                Level::Error => format!("keygate: error: {text}"),
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warning,
    Error,
}

/// `zfs load-key -r ROOT...`, each name quoted for a POSIX shell if needed.
pub fn load_key_command(roots: &[String]) -> String {
    let mut cmd = String::from("zfs load-key -r");
    for r in roots {
        cmd.push(' ');
        cmd.push_str(&shell_quote(r));
    }
    cmd
}

/// Quote a word for a POSIX shell, leaving ordinary dataset names as they are.
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./:@%+=,".contains(&b));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(n: Option<&str>, s: Option<&str>, r: Option<&str>) -> Environment {
        Environment {
            notify_socket: n.map(str::to_string),
            smf_fmri: s.map(str::to_string),
            rc_svcname: r.map(str::to_string),
            rc_service: None,
        }
    }

    #[test]
    fn detection_order_and_override() {
        assert_eq!(
            Manager::detect(&env(Some("/run/n"), None, None), None),
            Manager::Systemd
        );
        assert_eq!(
            Manager::detect(&env(None, Some("svc:/x:default"), None), None),
            Manager::Smf {
                fmri: "svc:/x:default".into()
            }
        );
        assert_eq!(
            Manager::detect(&env(None, None, Some("keygate")), None),
            Manager::OpenRc {
                service: "keygate".into(),
                held: openrc::held_services(std::path::Path::new("/etc/init.d")),
            }
        );
        assert_eq!(
            Manager::detect(&env(None, None, None), None),
            Manager::Shell
        );
        assert_eq!(
            Manager::detect(
                &env(Some("/run/n"), None, None),
                Some(ServiceManagerArg::None)
            ),
            Manager::Shell
        );
    }

    #[test]
    fn smf_hint_is_the_original_method() {
        let m = Manager::Smf {
            fmri: "svc:/system/filesystem/nest:default".into(),
        };
        assert_eq!(
            m.fix_command(&["nest".into()]),
            "zfs load-key -r nest && svcadm clear svc:/system/filesystem/nest:default"
        );
        assert_eq!(m.exit_locked(), 95);
        assert_eq!(m.exit_config(), 96);
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("nest/a-b_c.d:e"), "nest/a-b_c.d:e");
        assert_eq!(shell_quote("nest/my data"), "'nest/my data'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
