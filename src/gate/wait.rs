//! Waiting until every root is available: polls, SIGUSR1, a timeout, and
//! keepalives for the service manager. Sleeps between polls (no busy loop).

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::cli::{GateArgs, OnTimeout};
use crate::plan::Plan;
use crate::report::Reporter;

use super::{Context, Event, hint, read_plan};

pub struct Waiter<'a> {
    ctx: &'a Context,
    args: &'a GateArgs,
    reporter: &'a Reporter,
    events: Receiver<Event>,
}

enum Wake {
    Poll,
    Keepalive,
    Timeout,
}

impl<'a> Waiter<'a> {
    pub fn new(
        ctx: &'a Context,
        args: &'a GateArgs,
        reporter: &'a Reporter,
        events: Receiver<Event>,
    ) -> Self {
        Waiter {
            ctx,
            args,
            reporter,
            events,
        }
    }

    pub fn run(self, mut plan: Plan) -> i32 {
        let manager = &self.ctx.manager;
        self.reporter.announce(&hint::wait_lines(&plan));
        manager.status(&hint::waiting_status(&plan));
        let start = Instant::now();
        let deadline = self.args.timeout.map(|t| start + t.std());
        let interval = self.args.poll_interval.std().max(Duration::from_millis(10));
        let keepalive = manager.keepalive_interval();
        let mut next_poll = start + interval;
        let mut next_keepalive = start;
        let mut last_error: Option<String> = None;
        loop {
            let now = Instant::now();
            let mut wake = (next_poll, Wake::Poll);
            if keepalive.is_some() && next_keepalive < wake.0 {
                wake = (next_keepalive, Wake::Keepalive);
            }
            if let Some(d) = deadline
                && d < wake.0
            {
                wake = (d, Wake::Timeout);
            }
            let poll_now = match self
                .events
                .recv_timeout(wake.0.saturating_duration_since(now))
            {
                Ok(Event::Recheck) => true,
                Ok(Event::Terminate(sig)) => {
                    let locked = plan.locked_names().join(", ");
                    self.reporter.error(&format!(
                        "stopped by {} while waiting for the keys of {locked}",
                        signal_name(sig)
                    ));
                    return 1;
                }
                Err(RecvTimeoutError::Disconnected) => {
                    // No event source: only time matters now.
                    std::thread::sleep(wake.0.saturating_duration_since(now));
                    false
                }
                Err(RecvTimeoutError::Timeout) => match wake.1 {
                    Wake::Poll => true,
                    Wake::Keepalive => {
                        if let Some(k) = keepalive {
                            manager.extend_timeout(k * 3);
                            next_keepalive = Instant::now() + k;
                        }
                        false
                    }
                    Wake::Timeout => return self.timed_out(&plan),
                },
            };
            if !poll_now {
                continue;
            }
            next_poll = Instant::now() + interval;
            match read_plan(&self.ctx.zfs, &self.args.targets) {
                Ok(now_plan) => {
                    last_error = None;
                    if now_plan.all_available() {
                        let msg = hint::all_loaded(&now_plan);
                        self.reporter.info(&format!("{msg}; continuing the boot"));
                        manager.ready(&msg);
                        return 0;
                    }
                    if now_plan.locked_names() != plan.locked_names() {
                        manager.status(&hint::waiting_status(&now_plan));
                        self.reporter.info(&format!(
                            "still waiting for the keys of {}",
                            now_plan.locked_names().join(", ")
                        ));
                    }
                    plan = now_plan;
                }
                Err(e) => {
                    // A failing poll is reported once per distinct error and
                    // waited out: the keys can still be loaded.
                    let text = e.to_string();
                    if last_error.as_deref() != Some(&text) {
                        self.reporter.warn(&format!("{text}; still waiting"));
                        last_error = Some(text);
                    }
                }
            }
        }
    }

    fn timed_out(&self, plan: &Plan) -> i32 {
        let locked = plan.locked_names().join(", ");
        let after = self.args.timeout.map(|t| t.to_string()).unwrap_or_default();
        match self.args.on_timeout {
            OnTimeout::Fail => {
                self.reporter.error(&format!(
                    "gave up after {after}: the keys of {locked} are still not loaded"
                ));
                self.ctx
                    .manager
                    .status(&format!("Timed out; keys not loaded: {locked}"));
                self.ctx.manager.exit_locked()
            }
            OnTimeout::Continue => {
                let msg = format!(
                    "gave up after {after}; continuing the boot without {locked} (their datasets stay unmounted)"
                );
                self.reporter.announce(std::slice::from_ref(&msg));
                self.ctx.manager.ready(&msg);
                0
            }
        }
    }
}

fn signal_name(sig: i32) -> String {
    nix::sys::signal::Signal::try_from(sig)
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|_| format!("signal {sig}"))
}
