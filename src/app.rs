//! Dispatch of the parsed command line to the subcommands; returns the exit
//! code. Kept apart from `main.rs` so tests can run it in-process.

use std::sync::mpsc;

use crate::check;
use crate::cli::{CheckArgs, Cli, Command};
use crate::gate::{self, Context, Event};
use crate::host::Host;
use crate::report::Reporter;
use crate::service::{Environment, Manager};
use crate::zfs::Zfs;

pub fn run(cli: Cli, env: &Environment) -> i32 {
    let manager = Manager::detect(env, cli.service_manager);
    let zfs = Zfs::new(&cli.zfs, cli.zfs_timeout.std());
    match cli.command {
        Command::Check(args) => run_check(&zfs, &manager, &args),
        Command::Gate(args) => {
            let ctx = Context {
                zfs,
                manager,
                host: Host::from_process(),
            };
            let (tx, rx) = mpsc::channel::<Event>();
            crate::signals_bridge::start(tx);
            gate::run(&ctx, &args, rx)
        }
        Command::Render(args) => match render_pending(&args) {
            Ok(()) => 0,
            Err(e) => {
                Reporter::new(manager.clone(), vec![]).error(&format!("{e:#}"));
                manager.exit_config()
            }
        },
    }
}

fn run_check(zfs: &Zfs, manager: &Manager, args: &CheckArgs) -> i32 {
    let reporter = Reporter::new(manager.clone(), vec![]);
    match gate::read_plan(zfs, &args.targets) {
        Ok(plan) => {
            let text = if args.json {
                check::json(&plan)
            } else if plan.roots.is_empty() {
                "no encryption roots found\n".to_string()
            } else {
                check::table(&plan)
            };
            print!("{text}");
            if plan.all_available() { 0 } else { 1 }
        }
        Err(e) => {
            reporter.error(&e.to_string());
            2
        }
    }
}

fn render_pending(_a: &crate::cli::RenderArgs) -> anyhow::Result<()> {
    anyhow::bail!("render: pending")
}
