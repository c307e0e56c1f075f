//! Keystores: datasets that hold the key files of other encryption roots.
//!
//! The operator types one passphrase; the keystore's key loads; keygate
//! mounts it, loads every root whose `keylocation=file:///...` points inside
//! it, and closes it again (`close = "unload"` by default: unmount, then
//! `zfs unload-key` unless its key was loaded before the gate started).
//!
//! [`Chains::compute`] works the chains out from the one batched `zfs get`
//! (keylocation and mountpoint of every dataset), with no extra zfs call;
//! [`Chains::open_ready`] opens whatever keystore can be opened now.

pub mod chain;
pub mod open;
pub mod settings;
pub mod system_mount;

use std::collections::BTreeSet;

use crate::plan::Plan;
use crate::zfs::Zfs;
use crate::zfs::get::Datasets;

pub use chain::{ChainError, Dependant, Keystore};
pub use open::{Closed, KeyOutcome, KeystoreReport, Level, Mounted, open_keystore};
use settings::{ClosePolicy, KeystoreSettings};
pub use system_mount::Tools;

/// Every keystore under the targets, in opening order, and which of them
/// have been dealt with during this gate run.
#[derive(Debug, Clone, Default)]
pub struct Chains {
    keystores: Vec<Keystore>,
    tools: Tools,
    /// Keystores opened (or found needless) already: never opened twice.
    done: BTreeSet<String>,
    /// Keystore roots whose key keygate unloaded again on purpose.
    closed: BTreeSet<String>,
}

impl Chains {
    /// Work the chains out from the properties of the one `zfs get`.
    /// Refuses cycles and `[[keystore]]` entries that name no usable dataset.
    pub fn compute(
        datasets: &Datasets,
        configured: &[KeystoreSettings],
        default_close: ClosePolicy,
    ) -> Result<Chains, ChainError> {
        Ok(Chains {
            keystores: chain::compute(datasets, configured, default_close)?,
            ..Chains::default()
        })
    }

    /// Use these mount(8)/umount(8) programs and private directory.
    pub fn with_tools(mut self, tools: Tools) -> Chains {
        self.tools = tools;
        self
    }

    /// The keystores, in the order they are opened.
    pub fn keystores(&self) -> &[Keystore] {
        &self.keystores
    }

    pub fn is_empty(&self) -> bool {
        self.keystores.is_empty()
    }

    /// The root's key file lies in a keystore: neither prompt for it nor
    /// load it from its keylocation before that keystore is open.
    pub fn is_dependant(&self, root: &str) -> bool {
        self.keystore_of(root).is_some()
    }

    /// The root's key is still expected from a keystore not yet opened: do
    /// not prompt for it or try its keylocation yet. Once its keystore has
    /// been dealt with (opened, or failed to open) this turns false, so a
    /// root that could not be loaded from it can still be asked for.
    pub fn awaits_keystore(&self, root: &str) -> bool {
        self.keystore_of(root)
            .is_some_and(|k| !self.done.contains(&k.dataset))
    }

    /// The keystore holding `root`'s key file.
    pub fn keystore_of(&self, root: &str) -> Option<&Keystore> {
        self.keystores
            .iter()
            .find(|k| k.dependants.iter().any(|d| d.root == root))
    }

    /// The root is a keystore's whose key keygate loaded, used and unloaded
    /// again: it is locked on purpose and must not hold the boot.
    pub fn is_closed(&self, root: &str) -> bool {
        self.closed.contains(root)
    }

    /// Keystore roots whose dependants still wait for it, in order (for the
    /// gate's status line: "waiting for keystore nest/keys").
    pub fn waiting_for(&self, plan: &Plan) -> Vec<&Keystore> {
        let locked: BTreeSet<String> = plan.locked_names().into_iter().collect();
        self.keystores
            .iter()
            .filter(|k| !self.done.contains(&k.dataset))
            .filter(|k| k.dependants.iter().any(|d| locked.contains(&d.root)))
            .collect()
    }

    /// Open, in order, every keystore whose key is available in `plan` and
    /// that still has locked dependants; keys loaded from one keystore count
    /// at once, so a keystore inside a keystore opens in the same call.
    /// `loaded_before`: roots whose key was loaded when the gate started.
    /// Each keystore is opened at most once per gate run.
    pub fn open_ready(
        &mut self,
        zfs: &Zfs,
        plan: &Plan,
        loaded_before: &BTreeSet<String>,
    ) -> Vec<KeystoreReport> {
        let mut available: BTreeSet<String> = plan
            .roots
            .iter()
            .filter(|r| !r.is_locked())
            .map(|r| r.name.clone())
            .collect();
        let mut reports = Vec::new();
        for ks in &self.keystores {
            if self.done.contains(&ks.dataset) {
                continue;
            }
            let locked: Vec<&Dependant> = ks
                .dependants
                .iter()
                .filter(|d| !available.contains(&d.root))
                .collect();
            if locked.is_empty() {
                self.done.insert(ks.dataset.clone());
                continue;
            }
            if !available.contains(&ks.root) {
                continue;
            }
            let report = open_keystore(
                zfs,
                &self.tools,
                ks,
                &locked,
                loaded_before.contains(&ks.root),
            );
            available.extend(report.loaded());
            if report.closed == Closed::Unloaded {
                available.remove(&ks.root);
                self.closed.insert(ks.root.clone());
            }
            self.done.insert(ks.dataset.clone());
            reports.push(report);
        }
        reports
    }
}
