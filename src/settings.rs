//! The gate's settings: command-line flags over the configuration file over
//! built-in defaults, validated into narrow types.

use std::path::PathBuf;
use std::time::Duration;

use crate::cli::{GateArgs, Mode, OnTimeout};

pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);
pub const DEFAULT_TRIES: u32 = 3;

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
        }
    }
}

impl GateSettings {
    /// Flags over defaults. Errors name the flag that is wrong.
    pub fn resolve(args: &GateArgs) -> Result<GateSettings, String> {
        let d = GateSettings::default();
        let s = GateSettings {
            targets: args.targets.clone(),
            mode: args.mode.unwrap_or(d.mode),
            consoles: args.consoles.clone(),
            poll_interval: args.poll_interval.map(|p| p.std()).unwrap_or(d.poll_interval),
            timeout: args.timeout.map(|t| t.std()),
            on_timeout: args.on_timeout.unwrap_or(d.on_timeout),
            tries: args.tries.unwrap_or(d.tries),
        };
        if args.on_timeout.is_some() && s.timeout.is_none() {
            return Err("--on-timeout needs --timeout (how long to wait first)".into());
        }
        if s.poll_interval.is_zero() {
            return Err("--poll-interval must be longer than 0s".into());
        }
        Ok(s)
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
    fn on_timeout_without_timeout_is_refused() {
        let args = GateArgs {
            on_timeout: Some(OnTimeout::Continue),
            ..GateArgs::default()
        };
        assert!(GateSettings::resolve(&args).unwrap_err().contains("--timeout"));
    }
}
