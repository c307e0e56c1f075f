//! Command-line definitions (clap derive only; no logic here).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::duration::Duration;

/// keygate holds the boot until the keys of encrypted ZFS datasets are loaded.
///
/// Pools come up imported but with passphrase keys unloaded, so `zfs mount -a`
/// skips those datasets and services start against empty directories. keygate
/// runs before local filesystems are mounted, finds every locked encryption
/// root with one `zfs get`, gets the keys loaded (by printing the command to
/// run, by prompting on the consoles, or by waiting for someone to load them),
/// and only then lets the boot go on.
#[derive(Debug, Parser)]
#[command(name = "keygate", version, about, long_about, max_term_width = 100)]
pub struct Cli {
    /// The zfs program to run (a name looked up on PATH, or a path)
    /// [default: zfs].
    #[arg(long, global = true, value_name = "PATH")]
    pub zfs: Option<PathBuf>,

    /// Kill any zfs call that runs longer than this (e.g. 500ms, 2s, 5m, 1h)
    /// [default: 60s].
    #[arg(long, global = true, value_name = "DURATION", value_parser = positive_duration)]
    pub zfs_timeout: Option<Duration>,

    /// Configuration file; command-line flags win over it
    /// [default: /etc/keygate/keygate.toml, which may be absent].
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Service manager to speak to; detected from NOTIFY_SOCKET (systemd),
    /// SMF_FMRI (SMF) or RC_SVCNAME (OpenRC) when not given.
    #[arg(long, global = true, value_name = "MANAGER")]
    pub service_manager: Option<ServiceManagerArg>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show every encryption root and whether its key is loaded.
    ///
    /// Prints one line per encryption root under the targets: its key status,
    /// key format, key location and the datasets that depend on it. Exits 0
    /// when every key is available, 1 when any is locked, 2 on a usage,
    /// configuration or ZFS error. Without targets, every encryption root of
    /// every imported pool is shown.
    Check(CheckArgs),

    /// Hold the boot until every key is loaded (run by the service manager).
    ///
    /// Finds the locked encryption roots under the targets and, depending on
    /// --mode, prints the command that fixes it and fails (hint), waits for
    /// someone to load the keys (wait), or asks for the passphrase on the
    /// consoles (prompt). When every key is available it signals readiness
    /// (sd_notify READY=1 under systemd, exit 0 elsewhere).
    #[command(after_help = GATE_AFTER_HELP)]
    Gate(GateArgs),

    /// Print the service files that run the gate at boot.
    ///
    /// systemd: keygate.service. smf: the manifest for `svccfg import`.
    /// openrc: the init script and its conf.d file. The files shipped in
    /// units/, smf/ and openrc/ are exactly what this prints with no options.
    Render(RenderArgs),

    /// Type the passphrase once from a shell (SSH, a serial getty) and unlock.
    ///
    /// When a gate is waiting at boot, the passphrase goes to it over its
    /// control socket, it is tried on every root the gate waits for, and the
    /// boot continues. With no gate running, keygate loads the keys itself.
    /// Prompts once on the controlling terminal; prints one line per root;
    /// exits 0 only when every key is available.
    Unlock(UnlockArgs),

    /// Show what a waiting gate is waiting for.
    ///
    /// The locked roots, since when, and which consoles and sources are
    /// asking. Exits 0 when a gate answered, 1 when none is waiting.
    Status(StatusArgs),

    /// Seal a root's passphrase with Clevis so the gate unlocks it unattended.
    ///
    /// Asks for the root's passphrase on the terminal, checks it with
    /// `zfs load-key -n`, runs `clevis encrypt PIN CONFIG` with it on stdin,
    /// and writes the JWE to /etc/keygate/providers/ (root-only) and a
    /// [[provider]] entry running `clevis decrypt` to the drop-in directory
    /// keygate.d/ beside the configuration file. A tang pin (or an sss pin
    /// with a tang server) also gets a keygate.service drop-in ordering the
    /// gate after network-online.target. The person at the prompts stays
    /// the fallback. Exits 0 when bound, 1 otherwise.
    Bind(BindArgs),

    /// Remove what `keygate bind ROOT` wrote.
    Unbind(UnbindArgs),
}

#[derive(Debug, Args)]
pub struct BindArgs {
    /// The encryption root whose passphrase is sealed.
    #[arg(value_name = "ROOT")]
    pub root: String,

    /// The Clevis pin: tpm2 (this machine's TPM), tang (a Tang server), sss
    /// (a threshold of several pins).
    #[arg(value_name = "PIN")]
    pub pin: Pin,

    /// The pin's JSON configuration, e.g. '{"pcr_ids":"7"}' or
    /// '{"url":"http://tang.example","thp":"..."}'.
    #[arg(value_name = "CONFIG")]
    pub pin_config: String,

    /// The clevis program, for binding and in the provider
    /// [default: clevis].
    #[arg(long, value_name = "PATH", default_value = "clevis")]
    pub clevis: PathBuf,
}

#[derive(Debug, Args)]
pub struct UnbindArgs {
    /// The encryption root to unbind.
    #[arg(value_name = "ROOT")]
    pub root: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Pin {
    Tpm2,
    Tang,
    Sss,
}

/// Shown after the options of `keygate gate --help`. The table follows
/// `settings::FLAG_MODES`.
pub const GATE_AFTER_HELP: &str = "\
Flags by mode (a flag given for a mode it does nothing in is a usage error, exit 2):
                      auto  prompt  wait  hint
  --console            yes   yes     yes   yes   (wait, hint: where the hint is written)
  --poll-interval      yes   yes     yes   -
  --timeout            yes   yes     yes   -
  --on-timeout         yes   yes     yes   -     (needs --timeout)
  --tries              yes   yes     -     -
  --socket             yes   yes     yes   -
  --ask-password       yes   yes     yes   -     (wait: only the agents are asked)
  --no-ask-password    yes   yes     yes   yes
  TARGET               yes   yes     yes   yes
Settings in the configuration file are used where they apply and never refused.

Typing at a console: nothing typed is echoed, from the first prompt until keygate lets
the console go. What is typed while a passphrase is checked (the console says
'checking the passphrase...') or during the pause after a refusal is the next attempt,
taken as if typed at the next prompt. Input left over when keygate stops prompting there
is discarded unread, and the console says 'input typed since the last entry was
discarded.'";

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Which service manager to render files for.
    #[arg(value_enum)]
    pub system: RenderSystem,

    /// Write the files into this directory under their proper names instead
    /// of printing them.
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,

    /// SMF service name (the FMRI without svc:/ and instance).
    #[arg(long, value_name = "NAME", default_value = "system/filesystem/keygate")]
    pub service_name: String,

    /// Path of the installed keygate binary.
    #[arg(long, value_name = "PATH", default_value = "/usr/sbin/keygate")]
    pub binary: PathBuf,

    /// Gate mode written into the service files (default: leave keygate's own default).
    #[arg(long, value_enum)]
    pub mode: Option<Mode>,

    /// Console to prompt on (repeatable).
    #[arg(long = "console", value_name = "PATH", value_parser = console_path)]
    pub consoles: Vec<PathBuf>,

    /// Give up waiting after this long.
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<Duration>,

    /// What to do when --timeout expires.
    #[arg(long, value_enum, requires = "timeout")]
    pub on_timeout: Option<OnTimeout>,

    /// Datasets to gate (default: every imported pool).
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RenderSystem {
    Systemd,
    Smf,
    Openrc,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,

    /// Datasets to check, recursively (default: every imported pool).
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct GateArgs {
    /// How to get the keys loaded [default: auto].
    ///
    /// hint: print the command that loads the keys and fail, so the service
    /// manager holds the boot. wait: print that command, then wait until
    /// someone loads the keys. prompt: ask for the passphrase on the consoles.
    /// auto: prompt where a console can be opened, else wait.
    #[arg(long, value_enum)]
    pub mode: Option<Mode>,

    /// Console to write the hint to and prompt on (repeatable).
    ///
    /// Default for the hint: /dev/msglog under SMF when it exists, else
    /// /dev/console. Default for prompts: every console the kernel lists in
    /// /sys/class/tty/console/active. Under systemd with ask-password on,
    /// systemd's console agent asks on the active consoles, so keygate
    /// prompts itself only on the other consoles named here (e.g. a serial
    /// line that is not a kernel console).
    #[arg(long = "console", value_name = "PATH", value_parser = console_path)]
    pub consoles: Vec<PathBuf>,

    /// How often to re-read the key status while waiting [default: 1s].
    #[arg(long, value_name = "DURATION", value_parser = positive_duration)]
    pub poll_interval: Option<Duration>,

    /// Give up waiting after this long (default: wait forever).
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<Duration>,

    /// What to do when --timeout expires: fail the service, or let the boot
    /// continue without the locked datasets [default: fail].
    #[arg(long, value_enum)]
    pub on_timeout: Option<OnTimeout>,

    /// Wrong passphrases allowed per console before it stops prompting
    /// (0: unlimited) [default: 3].
    #[arg(long, value_name = "N")]
    pub tries: Option<u32>,

    /// Control socket on which `keygate unlock` and `keygate status` reach
    /// the waiting gate [default: /run/keygate/control.sock].
    #[arg(long, value_name = "PATH", value_parser = socket_path)]
    pub socket: Option<PathBuf>,

    /// Also ask through systemd's password agents (plymouth, the console
    /// and wall agents, systemd-tty-ask-password-agent over SSH). On by
    /// default under systemd in modes auto and prompt, where keygate then
    /// prompts directly only on consoles named with --console: systemd's
    /// console agent already asks on every active console. With --mode
    /// wait, only the agents are asked (no console prompt). After a reply
    /// that opens nothing, the next request says why.
    #[arg(long, overrides_with = "no_ask_password")]
    pub ask_password: bool,

    /// Do not publish systemd ask-password requests.
    #[arg(long, overrides_with = "ask_password")]
    pub no_ask_password: bool,

    /// When to add a passphrase typed at keygate that opened something to
    /// systemd-cryptsetup's cache in the kernel keyring: never; pending, only
    /// while a systemd-cryptsetup prompt waits; always [default: pending].
    #[arg(long, value_enum, value_name = "WHEN")]
    pub share_passphrase: Option<crate::luks::SharePassphrase>,

    /// Run as the initramfs's gate, before the real root is mounted: prompt
    /// on every kernel console and on the --console lines at once, publish
    /// no ask-password request, and hand the passphrase that opened
    /// something over to the real root's gate through the kernel keyring
    /// (a `user` key in root's user keyring, removed by the real root's gate
    /// or after 300 s). Without it, a gate reads that key first and removes
    /// it when it ends.
    #[arg(long)]
    pub initramfs: bool,

    /// Datasets to gate, recursively (default: every imported pool).
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,
}

impl GateArgs {
    /// --ask-password / --no-ask-password, if either was given (last wins).
    pub fn ask_password(&self) -> Option<bool> {
        match (self.ask_password, self.no_ask_password) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        }
    }
}

#[derive(Debug, Args)]
pub struct UnlockArgs {
    /// The waiting gate's control socket [default: /run/keygate/control.sock].
    #[arg(long, value_name = "PATH", value_parser = socket_path)]
    pub socket: Option<PathBuf>,

    /// Datasets to unlock when no gate is waiting (default: every imported
    /// pool). A waiting gate unlocks what it is waiting for.
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The waiting gate's control socket [default: /run/keygate/control.sock].
    #[arg(long, value_name = "PATH", value_parser = socket_path)]
    pub socket: Option<PathBuf>,

    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Prompt where a console can be opened, else wait.
    Auto,
    /// Ask for the passphrase on the consoles.
    Prompt,
    /// Print the command to run, then wait until the keys are loaded.
    Wait,
    /// Print the command to run and fail.
    Hint,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnTimeout {
    /// Exit with failure; the service manager holds the boot.
    Fail,
    /// Exit successfully; the boot continues without the locked datasets.
    Continue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ServiceManagerArg {
    Systemd,
    Smf,
    Openrc,
    None,
}

/// `--console`: a device path means the same wherever the service manager
/// starts keygate only when it is absolute.
fn console_path(s: &str) -> Result<PathBuf, String> {
    absolute(s, "/dev/ttyS1")
}

/// `--socket`, absolute for the same reason as [`console_path`].
fn socket_path(s: &str) -> Result<PathBuf, String> {
    absolute(s, "/run/keygate/control.sock")
}

fn absolute(s: &str, example: &str) -> Result<PathBuf, String> {
    if s.starts_with('/') {
        Ok(PathBuf::from(s))
    } else {
        Err(format!("expected an absolute path such as {example}"))
    }
}

/// `--zfs-timeout` and `--poll-interval`: 0 would kill every zfs call at
/// once, or poll without pause.
fn positive_duration(s: &str) -> Result<Duration, String> {
    let d: Duration = s.parse()?;
    if d.std().is_zero() {
        return Err("must be longer than 0s".into());
    }
    Ok(d)
}
