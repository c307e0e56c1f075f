//! The gate: find the locked roots, get their keys loaded, signal readiness.

mod hint;
mod wait;

use std::path::PathBuf;
use std::sync::mpsc::Receiver;

use crate::cli::{GateArgs, Mode};
use crate::host::Host;
use crate::plan::Plan;
use crate::report::Reporter;
use crate::service::Manager;
use crate::zfs::{self, Zfs, ZfsError};

/// Something the gate must react to besides the passage of time.
#[derive(Debug)]
pub enum Event {
    /// Re-read the key state now (SIGUSR1).
    Recheck,
    /// Stop waiting and exit (SIGTERM, SIGINT, ...): the signal number.
    Terminate(i32),
}

/// Everything a gate run needs from outside.
pub struct Context {
    pub zfs: Zfs,
    pub manager: Manager,
    pub host: Host,
}

/// Read the plan with the one batched zfs call.
pub fn read_plan(zfs: &Zfs, targets: &[String]) -> Result<Plan, ZfsError> {
    zfs::get::read(zfs, targets).map(|d| Plan::from_datasets(&d))
}

/// Run the gate and return the process exit code.
pub fn run(ctx: &Context, args: &GateArgs, events: Receiver<Event>) -> i32 {
    let reporter = Reporter::new(ctx.manager.clone(), hint_consoles(ctx, args));
    let plan = match read_plan(&ctx.zfs, &args.targets) {
        Ok(p) => p,
        Err(e) => {
            reporter.error(&e.to_string());
            ctx.manager.status(&format!("Failed: {e}"));
            return if e.is_configuration() {
                ctx.manager.exit_config()
            } else {
                ctx.manager.exit_locked()
            };
        }
    };
    if plan.all_available() {
        let msg = hint::all_loaded(&plan);
        reporter.info(&msg);
        ctx.manager.ready(&msg);
        return 0;
    }
    match args.mode {
        Mode::Hint => {
            let locked = plan.locked_names();
            reporter.announce(&hint::hold_lines(&plan, &ctx.manager.fix_command(&locked)));
            ctx.manager
                .status(&format!("Keys not loaded: {}", locked.join(", ")));
            ctx.manager.exit_locked()
        }
        Mode::Wait | Mode::Prompt | Mode::Auto => {
            wait::Waiter::new(ctx, args, &reporter, events).run(plan)
        }
    }
}

/// Where hints are written: `--console` paths, else under SMF `/dev/msglog`
/// when it exists (as smf_console does), else `/dev/console`.
fn hint_consoles(ctx: &Context, args: &GateArgs) -> Vec<PathBuf> {
    if !args.consoles.is_empty() {
        return args.consoles.clone();
    }
    let msglog = ctx.host.path("/dev/msglog");
    if ctx.manager.is_smf() && msglog.exists() {
        return vec![msglog];
    }
    vec![ctx.host.path("/dev/console")]
}
