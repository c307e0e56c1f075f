//! `zfs unload-key [-r] <-a | dataset...>`

use anyhow::Result;

use crate::keys;
use crate::out::Out;
use crate::select;
use crate::store::Store;

pub fn run(store: &Store, args: &[String], out: &mut Out) -> Result<i32> {
    let o = match keys::parse(args, false, out) {
        Ok(o) => o,
        Err(rc) => return Ok(rc),
    };
    let mut locked = store.lock()?;
    let walk = select::walk(&locked.state, &o.targets, o.recurse, None, out);
    let (mut attempted, mut failed) = (0, 0);
    let mut changed = false;
    for ds in &walk.names {
        let state = &locked.state;
        let root = state.encryption_root(ds);
        if o.recursive && (root != Some(ds.as_str()) || state.key_loaded(ds) == Some(false)) {
            continue;
        }
        attempted += 1;
        let err = match root {
            None => Some(format!("'{ds}' is not encrypted.")),
            Some(r) if r != ds => Some(format!(
                "Keys must be unloaded for encryption root of '{ds}' ({r})."
            )),
            Some(_) if state.key_loaded(ds) == Some(false) => {
                Some(format!("Key already unloaded for '{ds}'."))
            }
            Some(_) => {
                let busy = state
                    .datasets
                    .iter()
                    .any(|(n, d)| d.mounted && state.encryption_root(n) == Some(ds.as_str()));
                busy.then(|| format!("'{ds}' is busy."))
            }
        };
        match err {
            Some(aux) => {
                out.err(&format!("Key unload error: {aux}\n"));
                failed += 1;
            }
            None => {
                if let Some(c) = locked
                    .state
                    .datasets
                    .get_mut(ds.as_str())
                    .and_then(|d| d.crypt.as_mut())
                {
                    c.loaded = false;
                    changed = true;
                }
            }
        }
    }
    if changed {
        locked.save()?;
    }
    keys::summary(out, &o, attempted, failed, "unloaded");
    Ok(keys::exit_code(failed, walk.open_failed))
}
