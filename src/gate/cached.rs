//! systemd-cryptsetup's passphrase cache in the kernel keyring: read once
//! at start and tried before anyone is asked; and a passphrase typed at
//! keygate that opened something added to it, so that a systemd-cryptsetup
//! prompt still waiting takes it too.

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
        let key = match CachedKey::new(self.ctx.host.keyring_key()) {
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
        self.reporter.info(&format!(
            "trying {} passphrase{} systemd-cryptsetup cached in the kernel keyring",
            entries.len(),
            if entries.len() == 1 { "" } else { "s" }
        ));
        for secret in entries {
            if self.all_done(plan) {
                break;
            }
            let (reply, _answer) = mpsc::channel();
            if self.try_passphrase(plan, &SourceId::Keyring, secret, &reply) {
                return true;
            }
        }
        self.all_done(plan)
    }

    /// Add a typed passphrase that opened something to systemd-cryptsetup's
    /// cache, as `share_passphrase` allows, and tell waiting prompts.
    pub(super) fn share_back(&self, source: &SourceId, secret: &Secret, opened_any: bool) {
        if !opened_any || *source == SourceId::Keyring {
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
}
