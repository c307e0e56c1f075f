//! The gate's loop: wait for events (passphrases from the consoles, signals,
//! the end of a source) and for the next poll, keepalive or timeout. Sleeps
//! between them; no busy loop.

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use crate::cli::OnTimeout;
use crate::plan::Plan;
use crate::report::Reporter;
use crate::secret::Secret;
use crate::settings::{self, GateSettings};

use super::attempt;
use super::wake::{Timers, Wake};
use super::{Context, hint, read_plan};
use std::collections::BTreeSet;

use crate::control::status::SharedStatus;
use crate::keystore::{self, Chains};
use crate::sources::board::{Board, name_list};
use crate::sources::{Event, Reply, SourceHandle, SourceId};
use crate::zfs::ZfsError;

/// How long consoles get to restore themselves and print their last line
/// once the gate is done.
const CONSOLE_WIND_DOWN: Duration = Duration::from_secs(2);

pub struct Session<'a> {
    pub ctx: &'a Context,
    pub args: &'a GateSettings,
    pub reporter: &'a Reporter,
    pub events: Receiver<Event>,
    /// Present while consoles are prompting.
    pub board: Option<Board>,
    /// The sources running on threads of their own (consoles, agents).
    pub sources: Vec<SourceHandle>,
    /// Whether any terminal was put in raw mode (decides how a terminating
    /// signal ends the process).
    pub prompted: bool,
    /// What `keygate status` is told.
    pub status: SharedStatus,
    /// Keystores and the roots whose key files they hold.
    pub chains: Chains,
    /// Roots whose key was loaded before the gate started (never unloaded).
    pub loaded_before: BTreeSet<String>,
    /// The roots that were locked when the gate began to wait. Without
    /// explicit targets a poll covers whatever pools are imported, so a root
    /// that vanished (its pool exported meanwhile) is reported as missing
    /// rather than counted as unlocked.
    pub watched: Vec<String>,
    /// The configured LUKS devices (`[[luks]]`) and the pools on them.
    pub luks: crate::luks::Stage,
    /// The gate's own channel, for passphrases tried behind the next prompt.
    pub events_tx: Sender<Event>,
    /// Those tries while they run.
    pub behind: Vec<std::thread::JoinHandle<()>>,
    /// The key providers still at work (`gate/providers.rs`).
    pub providers: Vec<crate::sources::provider::Running>,
}

/// How the session ended.
pub enum End {
    Exit(i32),
    /// A terminating signal: the caller dies by it after cleanup.
    Signal(i32),
}

/// What the loop does after an event or a wake.
enum Step {
    /// Wait for the next event or wake.
    Wait,
    /// Re-read the plan now.
    Poll,
    /// Stop: the session is over.
    End(End),
}

impl Session<'_> {
    pub fn run(mut self, mut plan: Plan) -> End {
        let manager = &self.ctx.manager;
        if self.sources.is_empty() {
            self.announce_wait(&plan);
        }
        manager.status(&hint::waiting_status(&plan));
        let mut timers = Timers::start(self.args, manager.keepalive_interval());
        let mut last_error: Option<String> = None;
        let end = loop {
            let now = Instant::now();
            let wake = timers.next_wake();
            let step = match self
                .events
                .recv_timeout(wake.0.saturating_duration_since(now))
            {
                Ok(event) => self.handle(event, &mut plan),
                Err(RecvTimeoutError::Disconnected) => {
                    std::thread::sleep(wake.0.saturating_duration_since(now));
                    Step::Wait
                }
                Err(RecvTimeoutError::Timeout) => self.woken(wake.1, &mut timers, &plan),
            };
            match step {
                Step::Wait => {}
                Step::Poll => {
                    timers.polled();
                    if let Some(end) = self.poll(&mut plan, &mut last_error) {
                        break end;
                    }
                }
                Step::End(end) => break end,
            }
        };
        self.wind_down();
        end
    }

    /// React to one event.
    fn handle(&mut self, event: Event, plan: &mut Plan) -> Step {
        match event {
            Event::Recheck => Step::Poll,
            Event::Terminate(sig) => {
                self.reporter.error(&format!(
                    "stopped by {} while waiting for the keys of {}",
                    signal_name(sig),
                    plan.locked_names().join(", ")
                ));
                Step::End(if self.prompted {
                    End::Signal(sig)
                } else {
                    End::Exit(1)
                })
            }
            Event::Passphrase {
                source,
                secret,
                reply,
            } => {
                let opened_all = self.try_passphrase(plan, &source, secret, &reply);
                if let Some(end) = self.luks_failed() {
                    return Step::End(end);
                }
                if opened_all {
                    return Step::End(self.ready(plan, Some(&source)));
                }
                Step::Wait
            }
            Event::SourceEnded { source, reason } => {
                self.source_ended(plan, &source, &reason);
                Step::Wait
            }
            Event::Tried {
                source,
                secret,
                attempt,
            } => {
                if self.tried_behind(plan, &source, secret, attempt) {
                    return Step::End(self.ready(plan, Some(&source)));
                }
                Step::Wait
            }
        }
    }

    /// The time of `wake` has come with no event.
    fn woken(&self, wake: Wake, timers: &mut Timers, plan: &Plan) -> Step {
        match wake {
            Wake::Poll => Step::Poll,
            Wake::Keepalive => {
                if let Some(k) = timers.keepalive_sent() {
                    self.ctx.manager.extend_timeout(k * 3);
                }
                Step::Wait
            }
            Wake::Timeout => Step::End(self.timed_out(plan)),
        }
    }

    /// Re-read the plan and open whatever keystores it allows; the end of
    /// the session once every key is available.
    fn poll(&mut self, plan: &mut Plan, last_error: &mut Option<String>) -> Option<End> {
        self.refresh_luks(plan);
        if let Some(end) = self.luks_failed() {
            return Some(end);
        }
        match self.read() {
            Ok(mut now_plan) => {
                *last_error = None;
                if now_plan.locked_names() != plan.locked_names() {
                    self.open_keystores(&mut now_plan);
                }
                if now_plan.all_available() && self.luks.is_done() {
                    *plan = now_plan;
                    return Some(self.ready(plan, None));
                }
                if now_plan.locked_names() != plan.locked_names() {
                    self.locked_set_changed(plan, &now_plan, None);
                }
                *plan = now_plan;
            }
            Err(e) => {
                // A failing poll is reported once per distinct error and
                // waited out: the keys can still be loaded.
                let text = e.to_string();
                if last_error.as_deref() != Some(&text) {
                    self.reporter.warn(&format!("{text}; still waiting"));
                    *last_error = Some(text);
                }
            }
        }
        None
    }

    /// Keep a started source, and list it in `keygate status`.
    pub fn add_source(&mut self, source: SourceHandle) {
        if let Some(label) = source.id.status_label() {
            self.status.add_source(label);
        }
        self.sources.push(source);
    }

    /// What a typed passphrase can open now: closed LUKS devices, then
    /// passphrase roots that do not wait for a keystore to be opened first.
    pub fn typed_roots(&self, plan: &Plan) -> Vec<String> {
        let mut all = self.luks.typed();
        all.extend(self.zfs_roots(plan));
        all
    }

    /// The encryption roots among [`Session::typed_roots`].
    pub fn zfs_roots(&self, plan: &Plan) -> Vec<String> {
        plan.locked()
            .filter(|r| r.takes_passphrase() && !self.chains.awaits_keystore(&r.name))
            .map(|r| r.name.clone())
            .collect()
    }

    /// Read the plan (one zfs call). A keystore keygate closed again on
    /// purpose counts as done: it must not hold the boot.
    pub fn read(&self) -> Result<Plan, ZfsError> {
        let plan = match read_plan(&self.ctx.zfs, &self.args.targets) {
            // The pools on closed LUKS devices are not imported yet.
            Err(_) if !self.luks.is_done() => return Ok(Plan::default()),
            other => other?,
        };
        if self.args.targets.is_empty() {
            let missing: Vec<String> = self
                .watched
                .iter()
                .filter(|w| !plan.roots.iter().any(|r| r.datasets.contains(w)))
                .cloned()
                .collect();
            if !missing.is_empty() {
                return Err(ZfsError::DatasetMissing { names: missing });
            }
        }
        Ok(settle(plan, &self.chains))
    }

    /// Open every keystore that can be opened now and load the keys inside;
    /// re-read the plan when anything happened.
    pub fn open_keystores(&mut self, plan: &mut Plan) {
        if self.chains.is_empty() {
            return;
        }
        let reports = self
            .chains
            .open_ready(&self.ctx.zfs, plan, &self.loaded_before);
        if reports.is_empty() {
            return;
        }
        for report in &reports {
            for (level, text) in report.messages() {
                match level {
                    keystore::Level::Info => self.reporter.info(&text),
                    keystore::Level::Warn => self.reporter.warn(&text),
                }
            }
        }
        match self.read() {
            Ok(p) => *plan = p,
            Err(e) => self
                .reporter
                .warn(&format!("{e}; cannot confirm the keystore's keys")),
        }
    }

    fn announce_wait(&self, plan: &Plan) {
        self.reporter.announce(&hint::wait_lines(plan));
    }

    /// Try one passphrase on every locked root it could open; answer the
    /// source; returns whether every root is now available.
    pub(super) fn try_passphrase(
        &mut self,
        plan: &mut Plan,
        source: &SourceId,
        secret: Secret,
        reply: &Sender<Reply>,
    ) -> bool {
        let provider = self.provider_settings(source);
        let luks = match provider {
            Some(p) if p.roots.is_some() => Default::default(),
            _ => self.try_luks(plan, &secret),
        };
        // A passphrase ZFS could never take (a cached LUKS passphrase of
        // another length, or with a newline, which ZFS would cut) goes to
        // the LUKS devices only.
        let mut candidates = if crate::secret::passphrase_problem(&secret).is_some() {
            Vec::new()
        } else {
            self.zfs_roots(plan)
        };
        if let Some(p) = provider {
            candidates.retain(|r| p.serves(r));
            self.provider_answered(source, &secret, &candidates);
        }
        // A person waits for the answer: a first wave of one root per CPU.
        // Nobody waits for a provider: its key goes to all it serves at once.
        let width = match provider {
            Some(_) => candidates.len(),
            None => attempt::wave_width(),
        };
        let wave = attempt::passphrase_first(&self.ctx.zfs, &candidates, &secret, width);
        let mut result = wave.attempt;
        result.opened.splice(0..0, luks.opened);
        result.rejected.splice(0..0, luks.rejected);
        result.failed.splice(0..0, luks.failed);
        self.share_back(source, &secret, !result.opened.is_empty());
        let before = plan.clone();
        self.take_in(plan, source, &result);
        let done = self.all_done(plan);
        // Status first: whoever gets the reply may ask `keygate status` at
        // once, and must not be told what was locked before.
        if !done && before.locked_names() != plan.locked_names() {
            self.locked_set_changed(&before, plan, Some(source));
        }
        let _ = reply.send(Reply {
            opened: result.opened.clone(),
            rejected: result.rejected,
            failed: result.failed,
            remaining: self.typed_roots(plan),
        });
        // The rest of the roots only once the source has its answer: their
        // derivations would slow the new prompt down.
        if wave.rest.is_empty() {
            drop(secret);
        } else {
            self.try_behind(source, secret, wave.rest);
        }
        done
    }

    /// Report what one try of a passphrase did, and re-read the plan when
    /// it opened something: one read confirms what zfs said and notices
    /// anything loaded meanwhile by someone else. A try that opened nothing
    /// changed nothing; the answer to it does not wait for a read (the
    /// polls notice what others load).
    fn take_in(&mut self, plan: &mut Plan, source: &SourceId, result: &attempt::Attempt) {
        let provider = self.provider_settings(source);
        for (root, why) in &result.failed {
            self.reporter.warn(&format!("{root}: {why}"));
        }
        if !result.opened.is_empty() {
            self.reporter.info(&format!(
                "unlocked {} with the passphrase from {source}",
                result.opened.join(", ")
            ));
        }
        if !result.rejected.is_empty() && provider.is_some() {
            self.reporter.warn(&format!(
                "wrong key from {source} for {}; it is not tried again",
                result.rejected.join(", ")
            ));
        } else if !result.rejected.is_empty() {
            self.reporter.info(&format!(
                "wrong passphrase from {source} for {}",
                result.rejected.join(", ")
            ));
        }
        if result.opened.is_empty() {
            return;
        }
        if let Ok(now_plan) = self.read() {
            *plan = now_plan;
            self.open_keystores(plan);
        } else {
            for r in &mut plan.roots {
                if result.opened.contains(&r.name) {
                    r.keystatus = crate::plan::KeyStatus::Available;
                }
            }
        }
    }

    /// Try `secret` on `roots` on a thread of its own; the result comes
    /// back as [`Event::Tried`] while the source already asks again.
    fn try_behind(&mut self, source: &SourceId, secret: Secret, roots: Vec<String>) {
        let zfs = self.ctx.zfs.clone();
        let tx = self.events_tx.clone();
        let source = source.clone();
        self.behind.retain(|h| !h.is_finished());
        self.behind.push(std::thread::spawn(move || {
            let attempt = attempt::passphrase(&zfs, &roots, &secret);
            let _ = tx.send(Event::Tried {
                source,
                secret,
                attempt,
            });
        }));
    }

    /// A passphrase tried behind the prompt came back; returns whether
    /// every root is now available.
    fn tried_behind(
        &mut self,
        plan: &mut Plan,
        source: &SourceId,
        secret: Secret,
        attempt: attempt::Attempt,
    ) -> bool {
        self.share_back(source, &secret, !attempt.opened.is_empty());
        drop(secret);
        let before = plan.clone();
        self.take_in(plan, source, &attempt);
        let done = self.all_done(plan);
        if !done && before.locked_names() != plan.locked_names() {
            self.locked_set_changed(&before, plan, Some(source));
        }
        done
    }

    fn locked_set_changed(&self, before: &Plan, now: &Plan, source: Option<&SourceId>) {
        let opened: Vec<String> = before
            .locked_names()
            .into_iter()
            .filter(|n| !now.locked_names().contains(n))
            .collect();
        let still = now.locked_names();
        self.status.set_locked(still.clone());
        self.ctx.manager.status(&hint::waiting_status(now));
        let how = match source {
            Some(s) => format!(" from {s}"),
            None => String::new(),
        };
        if !opened.is_empty() {
            self.reporter.info(&format!(
                "{} unlocked{how}; still waiting for {}",
                name_list(&opened),
                still.join(", ")
            ));
        }
        if let Some(board) = &self.board {
            let roots = self.typed_roots(now);
            board.update(
                roots.clone(),
                &format!(
                    "keygate: {} unlocked{how}; still locked: {}",
                    name_list(&opened),
                    name_list(&roots)
                ),
            );
        }
    }

    fn source_ended(&mut self, plan: &Plan, source: &SourceId, reason: &str) {
        if let SourceId::Provider(_) = source {
            self.provider_failed(source, reason);
            return;
        }
        self.reporter
            .warn(&format!("stopped prompting on {source}: {reason}"));
        // `keygate status` lists only the sources still asking.
        if let Some(label) = source.status_label() {
            self.status.remove_source(&label);
        }
        self.sources
            .retain(|c| c.id != *source || !c.handle.is_finished());
        let any_left = self
            .sources
            .iter()
            .any(|c| c.id != *source && !c.handle.is_finished());
        if !any_left && self.board.is_some() {
            self.reporter.warn(
                "no console is prompting any more; waiting for the keys to be loaded another way",
            );
            if let Some(board) = self.board.take() {
                board.finish("keygate: no longer prompting.");
            }
            self.announce_wait(plan);
        }
    }

    fn ready(&self, plan: &Plan, source: Option<&SourceId>) -> End {
        let msg = hint::all_loaded(plan);
        if let Some(board) = &self.board {
            let from = source.map(|s| format!(" from {s}")).unwrap_or_default();
            board.finish(&format!(
                "keygate: keys loaded{from}; no passphrase needed here."
            ));
        }
        self.reporter.info(&format!("{msg}; continuing the boot"));
        self.ctx.manager.ready(&msg);
        End::Exit(0)
    }

    fn timed_out(&self, plan: &Plan) -> End {
        let locked = plan.locked_names().join(", ");
        let after = self.args.timeout.map(settings::show).unwrap_or_default();
        if let Some(board) = &self.board {
            board.finish(&format!("keygate: gave up after {after}."));
        }
        match self.args.on_timeout {
            OnTimeout::Fail => {
                self.reporter.error(&format!(
                    "gave up after {after}: the keys of {locked} are still not loaded"
                ));
                self.ctx
                    .manager
                    .status(&format!("Timed out; keys not loaded: {locked}"));
                End::Exit(self.ctx.manager.exit_locked())
            }
            OnTimeout::Continue => {
                let msg = format!(
                    "gave up after {after}; continuing the boot without {locked} (their datasets stay unmounted)"
                );
                self.reporter.announce(std::slice::from_ref(&msg));
                self.ctx.manager.ready(&msg);
                End::Exit(0)
            }
        }
    }

    /// Let console threads restore their terminals and print their last
    /// line; never wait long for a console that is stuck.
    fn wind_down(&mut self) {
        // Passphrases still queued get an answer: nothing was tried, nothing
        // is left to ask for (or the gate gave up).
        while let Ok(event) = self.events.try_recv() {
            if let Event::Passphrase { secret, reply, .. } = event {
                drop(secret);
                let _ = reply.send(Reply::default());
            }
        }
        if let Some(board) = self.board.take() {
            board.finish("keygate: no longer prompting.");
        }
        self.stop_providers();
        // A passphrase still being tried behind a prompt ends with its zfs
        // calls (each within their time limit), so none outlives the gate.
        for h in self.behind.drain(..) {
            let _ = h.join();
        }
        while let Ok(event) = self.events.try_recv() {
            if let Event::Passphrase { reply, .. } = event {
                let _ = reply.send(Reply::default());
            }
        }
        let deadline = Instant::now() + CONSOLE_WIND_DOWN;
        for c in self.sources.drain(..) {
            while !c.handle.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if c.handle.is_finished() {
                let _ = c.handle.join();
            }
        }
    }
}

/// Mark keystores that keygate closed on purpose as satisfied.
pub fn settle(mut plan: Plan, chains: &Chains) -> Plan {
    for r in &mut plan.roots {
        if r.is_locked() && chains.is_closed(&r.name) {
            r.keystatus = crate::plan::KeyStatus::Available;
        }
    }
    plan
}

fn signal_name(sig: i32) -> String {
    nix::sys::signal::Signal::try_from(sig)
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|_| format!("signal {sig}"))
}
