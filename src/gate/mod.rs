//! The gate: find the locked roots, get their keys loaded, signal readiness.

pub mod attempt;
mod cached;
pub mod consoles;
mod hint;
mod initramfs;
mod luks;
mod prompts;
mod providers;
mod session;
mod wake;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender};

use crate::cli::Mode;
use crate::control::{self, status::SharedStatus};
use crate::host::Host;
use crate::keystore::{Chains, Tools};
use crate::plan::Plan;
use crate::report::Reporter;
use crate::service::Manager;
use crate::settings::GateSettings;
use crate::zfs::{self, Zfs, ZfsError};

use crate::sources::Event;
pub use attempt::Attempt;
use session::{End, Session};

/// Everything a gate run needs from outside.
pub struct Context {
    pub zfs: Zfs,
    pub manager: Manager,
    pub host: Host,
}

impl Context {
    /// The context of this process: its own root directory.
    pub fn of_process(zfs: Zfs, manager: Manager) -> Context {
        Context {
            zfs,
            manager,
            host: Host::from_process(),
        }
    }
}

/// How a gate run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit with this code.
    Exit(i32),
    /// A terminating signal arrived while a terminal was in use: after
    /// cleanup the process must die by it.
    Signal(i32),
}

/// Read the plan with the one batched zfs call.
pub fn read_plan(zfs: &Zfs, targets: &[String]) -> Result<Plan, ZfsError> {
    zfs::get::read(zfs, targets).map(|d| Plan::from_datasets(&d))
}

/// Run the gate. `events` carries signals (and, once sources run, their
/// passphrases); `events_tx` is its sending side, for the sources. Outside
/// the initramfs, the passphrase the initramfs handed over is removed from
/// the kernel keyring when the gate ends, on every path.
pub fn run(
    ctx: &Context,
    args: &GateSettings,
    events: Receiver<Event>,
    events_tx: Sender<Event>,
) -> Outcome {
    let outcome = gate(ctx, args, events, events_tx);
    if args.initramfs && outcome == Outcome::Exit(0) {
        initramfs::open_pool_siblings(ctx, args, &Reporter::new(ctx.manager.clone(), Vec::new()));
    } else if !args.initramfs {
        cached::remove_handover(ctx, &Reporter::new(ctx.manager.clone(), Vec::new()));
    }
    outcome
}

fn gate(
    ctx: &Context,
    args: &GateSettings,
    events: Receiver<Event>,
    events_tx: Sender<Event>,
) -> Outcome {
    let reporter = Reporter::new(ctx.manager.clone(), hint_consoles(ctx, args));
    let luks = match start_luks(ctx, args, &reporter) {
        Ok(stage) => stage,
        Err(code) => return Outcome::Exit(code),
    };
    let (datasets, mut plan) = match zfs::get::read(&ctx.zfs, &args.targets) {
        Ok(d) => {
            let plan = Plan::from_datasets(&d);
            (d, plan)
        }
        // The pools on closed LUKS devices are imported once they open.
        Err(_) if !luks.is_done() => (Default::default(), Plan::default()),
        Err(e) => {
            reporter.error(&e.to_string());
            ctx.manager.status(&format!("Failed: {e}"));
            return Outcome::Exit(if e.is_configuration() {
                ctx.manager.exit_config()
            } else {
                ctx.manager.exit_locked()
            });
        }
    };
    if plan.all_available() && luks.is_done() {
        return open_the_gate(ctx, &reporter, &plan);
    }
    let chains = match Chains::compute(&datasets, &args.keystores, args.keystore_close) {
        Ok(c) => c.with_tools(Tools {
            timeout: ctx.zfs.timeout(),
            ..Tools::for_host(&ctx.host)
        }),
        Err(e) => {
            reporter.error(&e.to_string());
            ctx.manager.status(&format!("Failed: {e}"));
            return Outcome::Exit(ctx.manager.exit_config());
        }
    };
    let loaded_before: BTreeSet<String> = plan
        .roots
        .iter()
        .filter(|r| !r.is_locked())
        .map(|r| r.name.clone())
        .collect();
    if args.mode == Mode::Hint {
        let locked = plan.locked_names();
        reporter.announce(&hint::hold_lines(&plan, &ctx.manager.fix_command(&locked)));
        ctx.manager
            .status(&format!("Keys not loaded: {}", locked.join(", ")));
        return Outcome::Exit(ctx.manager.exit_locked());
    }

    for warning in crate::secret::harden_process() {
        reporter.warn(&warning);
    }
    load_key_files(ctx, args, &reporter, &chains, &mut plan);

    let mut locked = luks.closed();
    locked.extend(plan.locked_names());
    let status = SharedStatus::new(mode_name(args.mode), locked);
    // Dropped when this function returns, on every path: removes the socket.
    let _server = start_control_socket(ctx, args, &reporter, &status, events_tx.clone());
    let mut session = Session {
        ctx,
        args,
        reporter: &reporter,
        events,
        board: None,
        sources: Vec::new(),
        prompted: false,
        status,
        chains,
        loaded_before,
        watched: plan.locked_names(),
        luks,
        events_tx: events_tx.clone(),
        behind: Vec::new(),
        providers: Vec::new(),
    };
    // A keystore unlocked before the gate opens now, without any prompt.
    session.open_keystores(&mut plan);
    if plan.all_available() && session.luks.is_done() {
        return open_the_gate(ctx, &reporter, &plan);
    }
    // What systemd-cryptsetup cached is tried before anyone is asked.
    let cached_opened_all = session.try_cached(&mut plan);
    if let Some(session::End::Exit(code)) = session.luks_failed() {
        return Outcome::Exit(code);
    }
    if cached_opened_all {
        return open_the_gate(ctx, &reporter, &plan);
    }
    // Providers run beside the prompts, which come up at once.
    session.start_providers(&plan, &events_tx);
    if args.mode != Mode::Wait {
        session.start_prompts(&plan, events_tx);
    } else if args.ask_password == Some(true) {
        // Waiting for someone elsewhere, who may answer through an agent;
        // the hint says how else to load the keys.
        session.start_prompts(&plan, events_tx);
        if !session.sources.is_empty() {
            reporter.announce(&hint::wait_lines(&plan));
        }
    }
    let end = session.run(plan);
    // A console thread still busy after the wind-down (output stalled by
    // flow control) must not leave its terminal without echo.
    crate::terminal::restore_all();
    match end {
        End::Exit(code) => Outcome::Exit(code),
        End::Signal(sig) => Outcome::Signal(sig),
    }
}

/// Every key is available before anything had to be asked: say so and
/// signal readiness.
fn open_the_gate(ctx: &Context, reporter: &Reporter, plan: &Plan) -> Outcome {
    let msg = hint::all_loaded(plan);
    reporter.info(&format!("{msg}; continuing the boot"));
    ctx.manager.ready(&msg);
    Outcome::Exit(0)
}

/// Roots whose key lives in a file (or at a URL) are loaded first, without
/// asking anyone. A failure is shown; a passphrase root then joins the prompt.
fn load_key_files(
    ctx: &Context,
    args: &GateSettings,
    reporter: &Reporter,
    chains: &Chains,
    plan: &mut Plan,
) {
    let from_files: Vec<_> = plan
        .locked()
        .filter(|r| r.loads_from_location() && !chains.awaits_keystore(&r.name))
        .collect();
    if from_files.is_empty() {
        return;
    }
    let result = attempt::from_locations(&ctx.zfs, &from_files);
    for root in &result.opened {
        reporter.info(&format!("loaded the key of {root} from its keylocation"));
    }
    for root in &result.rejected {
        reporter.warn(&format!(
            "the key file of {root} holds the wrong key; it will be asked for"
        ));
    }
    for (root, why) in &result.failed {
        reporter.warn(&format!(
            "cannot load the key of {root} from its keylocation: {why}"
        ));
    }
    // When every key is now loaded, zfs's exit statuses say so: the boot
    // goes on without one more `zfs get` on its critical path. Otherwise one
    // read shows what is left (and anything loaded meanwhile elsewhere).
    if result.rejected.is_empty() && result.failed.is_empty() {
        for r in &mut plan.roots {
            if result.opened.contains(&r.name) {
                r.keystatus = crate::plan::KeyStatus::Available;
            }
        }
        if plan.all_available() {
            return;
        }
    }
    match read_plan(&ctx.zfs, &args.targets) {
        Ok(p) => *plan = p,
        Err(e) => reporter.warn(&e.to_string()),
    }
}

/// Look at the `[[luks]]` devices and open what needs no passphrase. Bad
/// input ends the gate with its exit code.
fn start_luks(
    ctx: &Context,
    args: &GateSettings,
    reporter: &Reporter,
) -> Result<crate::luks::Stage, i32> {
    let timeout = ctx.zfs.timeout();
    let tools = crate::luks::Tools {
        cryptsetup: crate::luks::Cryptsetup::new(crate::runner::Runner::new(
            &args.cryptsetup,
            timeout,
        )),
        zpool: crate::luks::Zpool::new(crate::runner::Runner::new(&args.zpool, timeout)),
        host: ctx.host.clone(),
    };
    let fail = |e: crate::luks::LuksError| {
        reporter.error(&e.to_string());
        ctx.manager.status(&format!("Failed: {e}"));
        if e.is_configuration() {
            ctx.manager.exit_config()
        } else {
            ctx.manager.exit_locked()
        }
    };
    let mut stage =
        crate::luks::Stage::survey(&args.luks, &args.luks_pools, tools).map_err(fail)?;
    let mut notes = Vec::new();
    stage.advance(&mut notes);
    for (warn, text) in notes {
        if warn {
            reporter.warn(&text);
        } else {
            reporter.info(&text);
        }
    }
    match stage.take_failure() {
        Some(e) => Err(fail(e)),
        None => Ok(stage),
    }
}

/// Where systemd's password agents look for requests.
pub const ASK_PASSWORD_DIR: &str = "/run/systemd/ask-password";

fn start_control_socket(
    ctx: &Context,
    args: &GateSettings,
    reporter: &Reporter,
    status: &SharedStatus,
    events_tx: Sender<Event>,
) -> Option<control::server::Server> {
    let path = args
        .socket
        .clone()
        .unwrap_or_else(|| ctx.host.path(control::DEFAULT_SOCKET));
    match control::server::start(&path, events_tx, status.clone(), ctx.manager.clone()) {
        Ok(server) => {
            status.add_source(format!("control socket {}", path.display()));
            Some(server)
        }
        Err(e) => {
            reporter.warn(&e);
            None
        }
    }
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Auto => "auto",
        Mode::Prompt => "prompt",
        Mode::Wait => "wait",
        Mode::Hint => "hint",
    }
}

/// Where hints are written besides stderr: `--console` paths, else under
/// SMF `/dev/msglog` when it exists (as smf_console does), else
/// `/dev/console`. Under OpenRC nothing more by default: at boot a service's
/// stderr is the console already (directly, or through `rc_logger`), and a
/// second copy would print every hint twice.
fn hint_consoles(ctx: &Context, args: &GateSettings) -> Vec<PathBuf> {
    if !args.consoles.is_empty() {
        return args.consoles.clone();
    }
    if ctx.manager.is_openrc() {
        return Vec::new();
    }
    let msglog = ctx.host.path("/dev/msglog");
    if ctx.manager.is_smf() && msglog.exists() {
        return vec![msglog];
    }
    vec![ctx.host.path("/dev/console")]
}
