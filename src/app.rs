//! Dispatch of the parsed command line to the subcommands; returns the exit
//! code. Kept apart from `main.rs` so tests can run it in-process.

use std::sync::mpsc;

use crate::check;
use crate::cli::{CheckArgs, Cli, Command};
use crate::config;
use crate::gate::{self, Context, Outcome};
use crate::report::Reporter;
use crate::service::{Environment, Manager};
use crate::settings::{GateSettings, ZfsSettings};
use crate::signals::{self, SignalEvent};
use crate::sources::Event;
use crate::zfs::Zfs;
use nix::sys::signal::Signal;

pub fn run(cli: Cli, env: &Environment) -> i32 {
    let manager = Manager::detect(env, cli.service_manager);
    // Rendering service files reads no configuration and runs no zfs.
    let command = match cli.command {
        Command::Render(args) => {
            return match crate::render::run(&args) {
                Ok(()) => 0,
                Err(e) => {
                    Reporter::new(manager.clone(), vec![]).error(&format!("{e:#}"));
                    manager.exit_config()
                }
            };
        }
        other => other,
    };
    let file = match config::load_or_default(cli.config.as_deref()) {
        Ok(f) => f,
        Err(e) => {
            Reporter::new(manager.clone(), vec![]).error(&e.to_string());
            return manager.exit_config();
        }
    };
    let z = ZfsSettings::resolve(cli.zfs.as_deref(), cli.zfs_timeout, &file);
    let zfs = Zfs::new(&z.program, z.timeout);
    match command {
        Command::Check(args) => run_check(&zfs, &manager, &args, &file),
        Command::Gate(args) => {
            let settings = match GateSettings::resolve_with(&args, &file) {
                Ok(s) => s,
                Err(e) => {
                    Reporter::new(manager.clone(), vec![]).error(&e);
                    return manager.exit_config();
                }
            };
            let ctx = Context::of_process(zfs, manager.clone());
            let (tx, rx) = mpsc::channel::<Event>();
            forward_signals(tx.clone(), &manager);
            match gate::run(&ctx, &settings, rx, tx) {
                Outcome::Exit(code) => code,
                Outcome::Signal(sig) => match Signal::try_from(sig) {
                    Ok(sig) => signals::terminate_by(sig),
                    Err(_) => 1,
                },
            }
        }
        Command::Unlock(mut args) => {
            args.socket = args.socket.or_else(|| file.socket.clone());
            crate::unlock::unlock(&Context::of_process(zfs, manager), &args)
        }
        Command::Status(mut args) => {
            args.socket = args.socket.or_else(|| file.socket.clone());
            crate::unlock::status(&Context::of_process(zfs, manager), &args)
        }
        Command::Bind(args) => {
            let path = config::path_in_use(cli.config.as_deref());
            crate::bind::bind(&Context::of_process(zfs, manager), &args, &path)
        }
        Command::Unbind(args) => {
            let path = config::path_in_use(cli.config.as_deref());
            crate::bind::unbind(&Context::of_process(zfs, manager), &args, &path)
        }
        // Handled above, before the configuration is read.
        Command::Render(_) => manager.exit_config(),
    }
}

fn run_check(zfs: &Zfs, manager: &Manager, args: &CheckArgs, file: &config::ConfigFile) -> i32 {
    let reporter = Reporter::new(manager.clone(), vec![]);
    let luks = luks_rows(zfs, file);
    let luks_bad = luks
        .iter()
        .any(|r| !matches!(r.state.as_str(), "open" | "closed"));
    let luks_pending = luks.iter().any(|r| r.pending);
    match gate::read_plan(zfs, &args.targets) {
        Ok(plan) => {
            let text = if args.json {
                check::json_with_providers(check::json_with_luks(&plan, &luks), &file.providers)
            } else {
                let mut text = String::new();
                if !luks.is_empty() {
                    text.push_str(&check::luks_table(&luks));
                    text.push('\n');
                }
                if plan.roots.is_empty() {
                    text.push_str("no encryption roots found\n");
                } else {
                    text.push_str(&check::table(&plan));
                    text.push_str(&check::providers(&plan, &file.providers));
                }
                text
            };
            crate::report::stdout_text(&text);
            if luks_bad {
                2
            } else if plan.all_available() && !luks_pending {
                0
            } else {
                1
            }
        }
        Err(e) => {
            reporter.error(&e.to_string());
            2
        }
    }
}

/// The configured LUKS devices and their state (none configured: empty).
fn luks_rows(zfs: &Zfs, file: &config::ConfigFile) -> Vec<check::LuksRow> {
    if file.luks.is_empty() {
        return Vec::new();
    }
    let runner = |program: &Option<std::path::PathBuf>, default: &str| {
        crate::runner::Runner::new(
            program.clone().unwrap_or_else(|| default.into()),
            zfs.timeout(),
        )
    };
    let tools = crate::luks::Tools {
        cryptsetup: crate::luks::Cryptsetup::new(runner(
            &file.cryptsetup,
            crate::settings::DEFAULT_CRYPTSETUP,
        )),
        zpool: crate::luks::Zpool::new(runner(&file.zpool, crate::settings::DEFAULT_ZPOOL)),
        host: crate::host::Host::from_process(),
    };
    check::luks_rows(&file.luks, &tools)
}

/// Signals reach the gate as events (the signal thread restores terminals
/// itself before anything else).
fn forward_signals(events: mpsc::Sender<Event>, manager: &Manager) {
    let (tx, rx) = mpsc::channel::<SignalEvent>();
    if let Err(e) = signals::spawn(tx) {
        Reporter::new(manager.clone(), vec![]).warn(&format!("cannot handle signals: {e}"));
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("signal-events".into())
        .spawn(move || {
            for ev in rx {
                let ev = match ev {
                    SignalEvent::Recheck => Event::Recheck,
                    SignalEvent::Terminate(sig) => Event::Terminate(sig as i32),
                };
                if events.send(ev).is_err() {
                    break;
                }
            }
        });
    if let Err(e) = spawned {
        Reporter::new(manager.clone(), vec![]).warn(&format!("cannot handle signals: {e}"));
    }
}
