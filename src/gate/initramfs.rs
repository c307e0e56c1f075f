//! The initramfs's gate, once the boot's root is open: the passphrase that
//! opened it (kept in the kernel keyring for the hand-over) is tried on
//! every other locked root of the same pools, without asking anyone, so a
//! data root that shares it is open before the real root's gate starts and
//! a later call of the initramfs's key hook finds nothing to do.

use crate::keyring::CachedKey;
use crate::report::Reporter;
use crate::settings::GateSettings;

use super::{Context, attempt, read_plan};

/// The pools the targets lie in (none without targets: then every imported
/// pool was the gate's already).
fn pools_of(targets: &[String]) -> Vec<String> {
    let mut pools: Vec<String> = Vec::new();
    for target in targets {
        let pool = target.split('/').next().unwrap_or(target).to_string();
        if !pool.is_empty() && !pools.contains(&pool) {
            pools.push(pool);
        }
    }
    pools
}

/// Try the handed-over passphrases on the locked roots of the targets'
/// pools. Nothing here changes the gate's outcome: a root left locked is
/// asked for when the boot needs it.
pub(super) fn open_pool_siblings(ctx: &Context, args: &GateSettings, reporter: &Reporter) {
    let pools = pools_of(&args.targets);
    if pools.is_empty() {
        return;
    }
    let mut locked: Vec<String> = match read_plan(&ctx.zfs, &pools) {
        Ok(plan) => plan
            .locked()
            .filter(|r| r.takes_passphrase())
            .map(|r| r.name.clone())
            .collect(),
        Err(e) => {
            reporter.warn(&format!("cannot look for other locked roots: {e}"));
            return;
        }
    };
    if locked.is_empty() {
        return;
    }
    let entries = match CachedKey::new(ctx.host.handover_key()).and_then(|k| k.read()) {
        Ok(e) => e,
        Err(e) => {
            reporter.warn(&e.to_string());
            return;
        }
    };
    for secret in entries {
        if locked.is_empty() {
            break;
        }
        let tried = attempt::passphrase(&ctx.zfs, &locked, &secret);
        drop(secret);
        for root in &tried.opened {
            reporter.info(&format!(
                "loaded the key of {root} with the same passphrase"
            ));
        }
        for (root, why) in &tried.failed {
            reporter.warn(&format!("cannot load the key of {root}: {why}"));
        }
        locked.retain(|r| !tried.opened.contains(r) && !tried.failed.iter().any(|(f, _)| f == r));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_of_the_targets() {
        let t = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            pools_of(&t(&["rpool/ROOT/debian", "rpool/ROOT", "tank"])),
            t(&["rpool", "tank"])
        );
        assert!(pools_of(&[]).is_empty());
    }
}
