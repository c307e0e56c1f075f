//! Passphrases cached in the kernel keyring, read once at start and tried
//! before anyone is asked: the one the initramfs's gate handed over, then
//! systemd-cryptsetup's cache. A passphrase typed at keygate that opened
//! something is added to systemd-cryptsetup's cache, so that a
//! systemd-cryptsetup prompt still waiting takes it too; in the initramfs
//! it is also handed over to the real root's gate.

use std::sync::mpsc;

use crate::keyring::{self, CachedKey, Shared};
use crate::luks::SharePassphrase;
use crate::plan::Plan;
use crate::secret::Secret;
use crate::sources::SourceId;

use super::ASK_PASSWORD_DIR;
use super::session::Session;

impl Session<'_> {
    /// Try every cached passphrase on what is still locked; true once
    /// everything is open. A missing or expired cache is normal and quiet.
    pub fn try_cached(&mut self, plan: &mut Plan) -> bool {
        let handover = self.ctx.host.handover_key().to_string();
        let cryptsetup = self.ctx.host.keyring_key().to_string();
        for (name, source) in [
            (handover, SourceId::Handover),
            (cryptsetup, SourceId::Keyring),
        ] {
            if self.all_done(plan) {
                break;
            }
            if self.try_key(plan, &name, source) {
                return true;
            }
        }
        self.all_done(plan)
    }

    /// Try the passphrases of the key `name`; true once everything is open.
    fn try_key(&mut self, plan: &mut Plan, name: &str, source: SourceId) -> bool {
        let key = match CachedKey::new(name) {
            Ok(k) => k,
            Err(e) => {
                self.reporter.warn(&e.to_string());
                return false;
            }
        };
        let entries = match key.read() {
            Ok(e) => e,
            Err(e) => {
                self.reporter.warn(&format!("{e}; asking instead"));
                return false;
            }
        };
        if entries.is_empty() {
            return false;
        }
        let n = entries.len();
        let plural = if n == 1 { "" } else { "s" };
        self.reporter.info(&match source {
            SourceId::Handover => {
                format!("trying the passphrase{plural} handed over by the initramfs")
            }
            _ => format!(
                "trying {n} passphrase{plural} systemd-cryptsetup cached in the kernel keyring"
            ),
        });
        for secret in entries {
            if self.all_done(plan) {
                break;
            }
            let (reply, _answer) = mpsc::channel();
            if self.try_passphrase(plan, &source, secret, &reply) {
                return true;
            }
        }
        self.all_done(plan)
    }

    /// Add a typed passphrase that opened something to systemd-cryptsetup's
    /// cache, as `share_passphrase` allows, and tell waiting prompts. In the
    /// initramfs, hand it over to the real root's gate as well.
    pub(super) fn share_back(&self, source: &SourceId, secret: &Secret, opened_any: bool) {
        if !opened_any {
            return;
        }
        if self.args.initramfs {
            self.hand_over(secret);
        }
        if matches!(source, SourceId::Keyring | SourceId::Handover) {
            return;
        }
        let dir = self.ctx.host.path(ASK_PASSWORD_DIR);
        match self.args.share_passphrase {
            SharePassphrase::Never => return,
            SharePassphrase::Pending if !keyring::cryptsetup_is_asking(&dir) => return,
            SharePassphrase::Pending | SharePassphrase::Always => {}
        }
        let shared = CachedKey::new(self.ctx.host.keyring_key()).and_then(|k| k.share(secret));
        match shared {
            Ok(Shared::Added) => {
                if let Err(e) = keyring::touch_ask_password(&dir) {
                    self.reporter.warn(&format!(
                        "cannot touch {} to wake systemd-cryptsetup: {e}",
                        dir.display()
                    ));
                }
                self.reporter.info(&format!(
                    "shared the passphrase from {source} with systemd-cryptsetup (kernel keyring, {} s)",
                    keyring::CACHE_TIMEOUT.as_secs()
                ));
            }
            Ok(Shared::AlreadyCached) => {}
            Err(e) => self.reporter.warn(&format!(
                "cannot share the passphrase with systemd-cryptsetup: {e}"
            )),
        }
    }

    /// Keep a passphrase that opened something for the initramfs's later
    /// calls and for the real root's gate.
    fn hand_over(&self, secret: &Secret) {
        let added = CachedKey::new(self.ctx.host.handover_key())
            .and_then(|k| k.share_for(secret, keyring::HANDOVER_TIMEOUT));
        match added {
            Ok(Shared::Added) => self.reporter.info(&format!(
                "kept the passphrase for the real root's gate (kernel keyring, at most {} s)",
                keyring::HANDOVER_TIMEOUT.as_secs()
            )),
            Ok(Shared::AlreadyCached) => {}
            Err(e) => self.reporter.warn(&format!(
                "cannot hand the passphrase over to the real root (it will be asked for again): {e}"
            )),
        }
    }
}

/// The real root's gate, when it ends: remove the key the initramfs handed
/// the passphrase over in, whatever it was used for. Never called in the
/// initramfs, never for systemd-cryptsetup's key.
pub(super) fn remove_handover(ctx: &super::Context, reporter: &crate::report::Reporter) {
    let removed = CachedKey::new(ctx.host.handover_key()).and_then(|k| k.remove());
    match removed {
        Ok(true) => reporter.info("removed the passphrase the initramfs handed over"),
        Ok(false) => {}
        Err(e) => reporter.warn(&format!(
            "cannot remove the passphrase the initramfs handed over (it expires by itself): {e}"
        )),
    }
}
