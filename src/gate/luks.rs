//! The gate's side of the LUKS devices: a passphrase is tried on the closed
//! devices first, the pools on them are imported, and only then on the
//! encryption roots, which the import may just have brought in.

use crate::luks::Note;
use crate::plan::Plan;
use crate::secret::Secret;

use super::attempt::Attempt;
use super::session::Session;

impl Session<'_> {
    /// Show what the LUKS stage did.
    pub(super) fn show_notes(&self, notes: Vec<Note>) {
        for (warn, text) in notes {
            if warn {
                self.reporter.warn(&text);
            } else {
                self.reporter.info(&text);
            }
        }
    }

    /// Try `secret` on the closed LUKS devices; after an import, re-read
    /// the plan so the new pools' roots are tried too.
    pub(super) fn try_luks(&mut self, plan: &mut Plan, secret: &Secret) -> Attempt {
        if self.luks.is_done() {
            return Attempt::default();
        }
        let mut notes = Vec::new();
        let got = self.luks.try_passphrase(secret, &mut notes);
        self.show_notes(notes);
        if self.luks.is_done() {
            self.reread_after_import(plan);
        }
        Attempt {
            opened: got.opened,
            rejected: got.rejected,
            failed: got.failed,
        }
    }

    /// Notice devices opened meanwhile by someone else (a poll).
    pub(super) fn refresh_luks(&mut self, plan: &mut Plan) {
        if self.luks.is_done() {
            return;
        }
        let mut notes = Vec::new();
        self.luks.refresh(&mut notes);
        self.show_notes(notes);
        if self.luks.is_done() {
            self.reread_after_import(plan);
        }
    }

    fn reread_after_import(&mut self, plan: &mut Plan) {
        match self.read() {
            Ok(p) => {
                for name in p.locked_names() {
                    if !self.watched.contains(&name) {
                        self.watched.push(name);
                    }
                }
                *plan = p;
                // Roots of the new pools whose key is a file load first,
                // as at start.
                super::load_key_files(self.ctx, self.args, self.reporter, &self.chains, plan);
            }
            Err(e) => self
                .reporter
                .warn(&format!("{e}; after importing the pools")),
        }
    }

    /// Every LUKS device is open and every key available.
    pub(super) fn all_done(&self, plan: &Plan) -> bool {
        self.luks.is_done() && plan.all_available()
    }
}

impl Session<'_> {
    /// A pool on the LUKS devices did not import: the gate ends.
    pub(super) fn luks_failed(&mut self) -> Option<super::session::End> {
        let e = self.luks.take_failure()?;
        self.reporter.error(&e.to_string());
        self.ctx.manager.status(&format!("Failed: {e}"));
        Some(super::session::End::Exit(self.ctx.manager.exit_locked()))
    }
}
