//! The gate's side of the key providers: started beside the prompts, each
//! one's passphrase tried on the roots it serves only, a wrong key or a
//! failure reported once (the other sources carry on), and whatever still
//! runs when the gate is done killed with its process group.

use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use crate::plan::Plan;
use crate::secret::Secret;
use crate::sources::provider::{self, settings::ProviderSettings};
use crate::sources::{Event, SourceId};

use super::session::Session;

impl<'a> Session<'a> {
    /// The settings of the provider a passphrase came from, if it did.
    pub(super) fn provider_settings(&self, source: &SourceId) -> Option<&'a ProviderSettings> {
        let args: &'a crate::settings::GateSettings = self.args;
        match source {
            SourceId::Provider(name) => args.providers.iter().find(|p| p.name == *name),
            _ => None,
        }
    }
}

/// How long the gate waits for a killed provider's thread to return.
const PROVIDER_WIND_DOWN: Duration = Duration::from_secs(2);

impl Session<'_> {
    /// Start every provider that serves a root still locked.
    pub fn start_providers(&mut self, plan: &Plan, events_tx: &Sender<Event>) {
        let roots = self.typed_roots(plan);
        for p in &self.args.providers {
            if !roots.iter().any(|r| p.serves(r)) {
                continue;
            }
            let wait_for = p
                .wait_for
                .as_ref()
                .map(|w| self.ctx.host.path(&w.to_string_lossy()));
            match provider::spawn(
                p.clone(),
                wait_for,
                events_tx.clone(),
                self.ctx.manager.clone(),
            ) {
                Ok(running) => {
                    if let Some(label) = running.source.id.status_label() {
                        self.status.add_source(label);
                    }
                    self.providers.push(running);
                }
                Err(e) => self
                    .reporter
                    .warn(&format!("cannot start provider {}: {e}", p.name)),
            }
        }
        if !self.providers.is_empty() {
            let names: Vec<&str> = self
                .providers
                .iter()
                .map(|r| match &r.source.id {
                    SourceId::Provider(n) => n.as_str(),
                    _ => "",
                })
                .collect();
            self.reporter
                .info(&format!("asking key providers: {}", names.join(", ")));
        }
    }

    /// A provider gave its passphrase: it no longer asks, and a passphrase
    /// nothing it serves could take is said to be so.
    pub(super) fn provider_answered(
        &self,
        source: &SourceId,
        secret: &Secret,
        candidates: &[String],
    ) {
        if let Some(label) = source.status_label() {
            self.status.remove_source(&label);
        }
        if candidates.is_empty() {
            let why = crate::secret::passphrase_problem(secret)
                .unwrap_or_else(|| "no root it serves is still locked".into());
            self.reporter
                .warn(&format!("{source} gave a key that cannot be tried: {why}"));
        }
    }

    /// A provider gave no passphrase: said once; the others carry on.
    pub(super) fn provider_failed(&mut self, source: &SourceId, reason: &str) {
        self.reporter.warn(&format!(
            "{source} gave no key: {reason}; the other sources carry on"
        ));
        if let Some(label) = source.status_label() {
            self.status.remove_source(&label);
        }
        self.providers.retain(|r| !r.source.handle.is_finished());
    }

    /// Kill what the providers still run, and let their threads return.
    pub(super) fn stop_providers(&mut self) {
        for r in &self.providers {
            r.group.kill();
        }
        let deadline = Instant::now() + PROVIDER_WIND_DOWN;
        for r in self.providers.drain(..) {
            while !r.source.handle.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if r.source.handle.is_finished() {
                let _ = r.source.handle.join();
            }
        }
    }
}
