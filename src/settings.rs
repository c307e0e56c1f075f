//! The gate's settings: command-line flags over the configuration file over
//! built-in defaults, validated into narrow types.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::{GateArgs, Mode, OnTimeout};
use crate::config::ConfigFile;
pub use crate::keystore::settings::{ClosePolicy, KeystoreMount, KeystoreSettings};
pub use crate::luks::settings::{LuksSettings, SharePassphrase};

/// The cryptsetup program when `cryptsetup =` names none.
pub const DEFAULT_CRYPTSETUP: &str = "cryptsetup";
/// The zpool program when `zpool =` names none.
pub const DEFAULT_ZPOOL: &str = "zpool";

pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);
pub const DEFAULT_TRIES: u32 = 3;
/// The zfs program when neither `--zfs` nor `zfs =` names one.
pub const DEFAULT_ZFS: &str = "zfs";
/// How long one zfs call may take when neither `--zfs-timeout` nor
/// `zfs_timeout =` says.
pub const DEFAULT_ZFS_TIMEOUT: Duration = Duration::from_secs(60);

/// The zfs program and its per-call timeout: flags over the file over
/// defaults. The flags are global options, hence apart from [`GateSettings`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZfsSettings {
    pub program: PathBuf,
    pub timeout: Duration,
}

impl ZfsSettings {
    pub fn resolve(
        flag_program: Option<&Path>,
        flag_timeout: Option<crate::duration::Duration>,
        file: &ConfigFile,
    ) -> ZfsSettings {
        ZfsSettings {
            program: flag_program
                .map(Path::to_path_buf)
                .or_else(|| file.zfs.clone())
                .unwrap_or_else(|| PathBuf::from(DEFAULT_ZFS)),
            timeout: flag_timeout
                .or(file.zfs_timeout)
                .map(|d| d.std())
                .unwrap_or(DEFAULT_ZFS_TIMEOUT),
        }
    }
}

/// Everything the gate needs to know about what to do, fully resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateSettings {
    pub targets: Vec<String>,
    pub mode: Mode,
    /// Explicit consoles (empty: the defaults for hints and prompts).
    pub consoles: Vec<PathBuf>,
    pub poll_interval: Duration,
    pub timeout: Option<Duration>,
    pub on_timeout: OnTimeout,
    /// Wrong passphrases per console (0: unlimited).
    pub tries: u32,
    /// The control socket (`None`: the default path under the host root).
    pub socket: Option<PathBuf>,
    /// Publish systemd ask-password requests (`None`: only under systemd).
    pub ask_password: Option<bool>,
    /// How keystores are closed unless their entry says otherwise.
    pub keystore_close: ClosePolicy,
    /// `[[keystore]]` entries from the configuration file.
    pub keystores: Vec<KeystoreSettings>,
    /// When a typed passphrase goes to systemd-cryptsetup's keyring cache.
    pub share_passphrase: SharePassphrase,
    /// `[[luks]]` entries from the configuration file.
    pub luks: Vec<LuksSettings>,
    /// The pools on the LUKS devices (empty: those `zpool import` finds).
    pub luks_pools: Vec<String>,
    /// The cryptsetup and zpool programs.
    pub cryptsetup: PathBuf,
    pub zpool: PathBuf,
    /// `[[provider]]` entries (the file's and its drop-ins').
    pub providers: Vec<crate::sources::provider::settings::ProviderSettings>,
    /// The initramfs's gate (`--initramfs`): kernel consoles beside the
    /// `--console` lines, no ask-password, the passphrase handed over.
    pub initramfs: bool,
}

impl Default for GateSettings {
    fn default() -> Self {
        GateSettings {
            targets: Vec::new(),
            mode: Mode::Auto,
            consoles: Vec::new(),
            poll_interval: DEFAULT_POLL_INTERVAL,
            timeout: None,
            on_timeout: OnTimeout::Fail,
            tries: DEFAULT_TRIES,
            socket: None,
            ask_password: None,
            keystore_close: ClosePolicy::default(),
            keystores: Vec::new(),
            share_passphrase: SharePassphrase::default(),
            luks: Vec::new(),
            luks_pools: Vec::new(),
            cryptsetup: PathBuf::from(DEFAULT_CRYPTSETUP),
            zpool: PathBuf::from(DEFAULT_ZPOOL),
            providers: Vec::new(),
            initramfs: false,
        }
    }
}

impl GateSettings {
    /// Flags over defaults. Errors name the flag that is wrong.
    pub fn resolve(args: &GateArgs) -> Result<GateSettings, String> {
        GateSettings::resolve_with(args, &ConfigFile::default())
    }

    /// Flags over the configuration file over defaults. Errors name the
    /// flag, or the file, line and key, that is wrong. (Single values in
    /// the file are already checked by [`crate::config::parse`]; this checks
    /// the combinations.)
    pub fn resolve_with(args: &GateArgs, file: &ConfigFile) -> Result<GateSettings, String> {
        let d = GateSettings::default();
        let timeout = args.timeout.or(file.timeout).map(|t| t.std());
        let s = GateSettings {
            targets: if args.targets.is_empty() {
                file.targets.clone().unwrap_or_default()
            } else {
                args.targets.clone()
            },
            mode: args.mode.or(file.mode).unwrap_or(d.mode),
            consoles: if args.consoles.is_empty() {
                file.consoles.clone().unwrap_or_default()
            } else {
                args.consoles.clone()
            },
            poll_interval: args
                .poll_interval
                .or(file.poll_interval)
                .map(|p| p.std())
                .unwrap_or(d.poll_interval),
            timeout,
            on_timeout: args.on_timeout.or(file.on_timeout).unwrap_or(d.on_timeout),
            tries: args.tries.or(file.tries).unwrap_or(d.tries),
            socket: args.socket.clone().or_else(|| file.socket.clone()),
            // No systemd agent answers in the initramfs (initramfs-tools has
            // none; in dracut's systemd initrd keygate prompts itself).
            ask_password: args
                .ask_password()
                .or(file.ask_password)
                .or(args.initramfs.then_some(false)),
            keystore_close: file.keystore_close.unwrap_or(d.keystore_close),
            keystores: file.keystores.clone(),
            share_passphrase: args
                .share_passphrase
                .or(file.share_passphrase)
                .unwrap_or(d.share_passphrase),
            luks: file.luks.clone(),
            luks_pools: file.luks_pools.clone().unwrap_or_default(),
            cryptsetup: file.cryptsetup.clone().unwrap_or(d.cryptsetup),
            zpool: file.zpool.clone().unwrap_or(d.zpool),
            providers: file.providers.clone(),
            initramfs: args.initramfs,
        };
        if s.timeout.is_none() {
            if args.on_timeout.is_some() {
                return Err("--on-timeout needs --timeout (how long to wait first)".into());
            }
            if file.on_timeout.is_some() {
                return Err(format!(
                    "{}: needs timeout (how long to wait first)",
                    file.whereabouts("on_timeout")
                ));
            }
        }
        // A zero poll interval cannot get here: the flag's parser and the
        // configuration file both refuse it.
        if let Some(e) = flag_mode_conflict(s.mode, &given_flags(args)) {
            return Err(e);
        }
        Ok(s)
    }

    /// The close policy of the keystore `dataset`.
    pub fn close_policy(&self, dataset: &str) -> ClosePolicy {
        self.keystores
            .iter()
            .find(|k| k.dataset == dataset)
            .and_then(|k| k.close)
            .unwrap_or(self.keystore_close)
    }
}

/// The gate flags that depend on the mode, and the modes in which each one
/// does something. A flag given for a mode it does nothing in is refused
/// (see [`flag_mode_conflict`]); flags not listed (`--console`,
/// `--no-ask-password`, the targets) apply in every mode. Keep the table in
/// `--help` (src/cli.rs) and README in step with this one.
pub const FLAG_MODES: &[(&str, &[Mode], &str)] = &[
    ("--poll-interval", NOT_HINT, HINT_EXITS),
    ("--timeout", NOT_HINT, HINT_EXITS),
    ("--on-timeout", NOT_HINT, HINT_EXITS),
    (
        "--socket",
        NOT_HINT,
        "hint exits at once and opens no control socket",
    ),
    (
        "--ask-password",
        NOT_HINT,
        "hint exits at once and asks no one",
    ),
    (
        "--tries",
        &[Mode::Auto, Mode::Prompt],
        "no console is prompted on in this mode",
    ),
];

/// Every mode that waits (all but hint).
const NOT_HINT: &[Mode] = &[Mode::Auto, Mode::Prompt, Mode::Wait];
const HINT_EXITS: &str = "hint prints the command to run and exits at once";

/// The mode-dependent flags present on the command line.
fn given_flags(args: &GateArgs) -> Vec<&'static str> {
    let mut given = Vec::new();
    if args.poll_interval.is_some() {
        given.push("--poll-interval");
    }
    if args.on_timeout.is_some() {
        given.push("--on-timeout");
    }
    if args.timeout.is_some() {
        given.push("--timeout");
    }
    if args.socket.is_some() {
        given.push("--socket");
    }
    if args.ask_password() == Some(true) {
        given.push("--ask-password");
    }
    if args.tries.is_some() {
        given.push("--tries");
    }
    given
}

/// The usage error for the first of `flags` that does nothing in `mode`,
/// if any. Only flags are checked: one configuration file serves every
/// mode, so its settings apply where they can and are left unused elsewhere.
pub fn flag_mode_conflict(mode: Mode, flags: &[&str]) -> Option<String> {
    let name = mode_word(mode);
    flags.iter().find_map(|flag| {
        let (_, modes, why) = FLAG_MODES.iter().find(|(f, _, _)| f == flag)?;
        (!modes.contains(&mode))
            .then(|| format!("{flag} does nothing with --mode {name}: {why}; leave it out"))
    })
}

fn mode_word(mode: Mode) -> &'static str {
    match mode {
        Mode::Auto => "auto",
        Mode::Prompt => "prompt",
        Mode::Wait => "wait",
        Mode::Hint => "hint",
    }
}

/// A duration as it was written (`500ms`, `2s`, `5m`, `1h`).
pub fn show(d: Duration) -> String {
    crate::duration::Duration(d).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let s = GateSettings::resolve(&GateArgs::default()).unwrap();
        assert_eq!(s, GateSettings::default());
    }

    #[test]
    fn flags_that_do_nothing_in_the_mode_are_refused() {
        let hint = GateArgs {
            mode: Some(Mode::Hint),
            tries: Some(5),
            ..GateArgs::default()
        };
        assert_eq!(
            GateSettings::resolve(&hint).unwrap_err(),
            "--tries does nothing with --mode hint: no console is prompted on in this mode; leave it out"
        );
        let wait_ask = GateArgs {
            mode: Some(Mode::Wait),
            ask_password: true,
            ..GateArgs::default()
        };
        assert_eq!(
            GateSettings::resolve(&wait_ask).unwrap().ask_password,
            Some(true)
        );
        let hint_no_ask = GateArgs {
            mode: Some(Mode::Hint),
            no_ask_password: true,
            ..GateArgs::default()
        };
        assert!(GateSettings::resolve(&hint_no_ask).is_ok());
        for mode in [Mode::Auto, Mode::Prompt] {
            let all: Vec<&str> = FLAG_MODES.iter().map(|(f, _, _)| *f).collect();
            assert_eq!(flag_mode_conflict(mode, &all), None);
        }
    }

    #[test]
    fn help_table_follows_the_flag_table() {
        let modes = [Mode::Auto, Mode::Prompt, Mode::Wait, Mode::Hint];
        for (flag, applies, _) in FLAG_MODES {
            let row = crate::cli::GATE_AFTER_HELP
                .lines()
                .find(|l| l.split_whitespace().next() == Some(flag))
                .unwrap_or_else(|| panic!("{flag} missing from the help table"));
            let cells: Vec<&str> = row.split_whitespace().skip(1).take(4).collect();
            for (mode, cell) in modes.iter().zip(cells) {
                let yes = if applies.contains(mode) { "yes" } else { "-" };
                assert_eq!(cell, yes, "{flag} with {mode:?} in the help table");
            }
        }
    }

    #[test]
    fn on_timeout_without_timeout_is_refused() {
        let args = GateArgs {
            on_timeout: Some(OnTimeout::Continue),
            ..GateArgs::default()
        };
        assert!(
            GateSettings::resolve(&args)
                .unwrap_err()
                .contains("--timeout")
        );
    }
}
