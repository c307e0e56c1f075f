//! `zfs load-key [-rn] [-L keylocation] <-a | dataset...>`
//!
//! Each root is checked under the lock, its key material read and its
//! PBKDF2-like cost burnt without the lock, and the result applied under the
//! lock again, so parallel calls overlap and never lose updates.

use anyhow::Result;

use crate::config::Config;
use crate::key_material::{self, Stdin};
use crate::keys;
use crate::out::Out;
use crate::select;
use crate::state::{KeyFormat, State};
use crate::store::Store;

pub fn run(store: &Store, config: &Config, args: &[String], out: &mut Out) -> Result<i32> {
    let o = match keys::parse(args, true, out) {
        Ok(o) => o,
        Err(rc) => return Ok(rc),
    };
    let walk = {
        let locked = store.lock()?;
        select::walk(&locked.state, &o.targets, o.recurse, None, out)
    };
    let mut stdin = Stdin::new();
    let (mut attempted, mut failed) = (0, 0);
    for ds in &walk.names {
        // Checks made by zfs before it reads any key material.
        let plan = {
            let locked = store.lock()?;
            let state = &locked.state;
            if o.recursive
                && (state.encryption_root(ds) != Some(ds) || state.key_loaded(ds) == Some(true))
            {
                continue;
            }
            attempted += 1;
            precheck(state, ds, o.noop, o.keylocation.as_deref())
        };
        let (location, format) = match plan {
            Ok(p) => p,
            Err(aux) => {
                report(out, aux);
                failed += 1;
                continue;
            }
        };
        let material = match key_material::read(&location, format, ds, &mut stdin) {
            Ok(m) => m,
            Err(aux) => {
                report(out, aux);
                failed += 1;
                continue;
            }
        };
        burn_cpu(config.load_key_cost_ms);
        let mut locked = store.lock()?;
        let Some(crypt) = locked
            .state
            .datasets
            .get_mut(ds.as_str())
            .and_then(|d| d.crypt.as_mut())
        else {
            report(out, None);
            failed += 1;
            continue;
        };
        if !o.noop && crypt.loaded {
            report(out, Some(format!("Key already loaded for '{ds}'.")));
            failed += 1;
        } else if !key_matches(crypt.keyformat, &crypt.key, &material) {
            report(out, Some(format!("Incorrect key provided for '{ds}'.")));
            failed += 1;
        } else if !o.noop {
            crypt.loaded = true;
            locked.save()?;
        }
    }
    keys::summary(
        out,
        &o,
        attempted,
        failed,
        if o.noop { "verified" } else { "loaded" },
    );
    Ok(keys::exit_code(failed, walk.open_failed))
}

/// `zfs_crypto_load_key` up to reading the key: the location and format to
/// use, or the error text.
fn precheck(
    state: &State,
    ds: &str,
    noop: bool,
    alt_location: Option<&str>,
) -> Result<(String, KeyFormat), Option<String>> {
    let Some(root) = state.encryption_root(ds) else {
        return Err(Some(format!("'{ds}' is not encrypted.")));
    };
    if root != ds {
        return Err(Some(format!(
            "Keys must be loaded for encryption root of '{ds}' ({root})."
        )));
    }
    let Some(crypt) = state.crypt_of(ds) else {
        return Err(None);
    };
    let location = alt_location.unwrap_or(&crypt.keylocation).to_owned();
    if !noop && crypt.loaded {
        return Err(Some(format!("Key already loaded for '{ds}'.")));
    }
    Ok((location, crypt.keyformat))
}

fn key_matches(format: KeyFormat, stored: &[u8], given: &[u8]) -> bool {
    match format {
        KeyFormat::Hex => stored.eq_ignore_ascii_case(given),
        KeyFormat::Passphrase | KeyFormat::Raw => stored == given,
    }
}

fn report(out: &mut Out, aux: Option<String>) {
    match aux {
        Some(aux) => out.err(&format!("Key load error: {aux}\n")),
        None => out.err("Key load error: encryption failure\n"),
    }
}

/// Spends `ms` of this thread's CPU time, like PBKDF2 would.
fn burn_cpu(ms: u64) {
    use nix::time::{ClockId, clock_gettime};
    if ms == 0 {
        return;
    }
    let budget = std::time::Duration::from_millis(ms);
    let cpu = || clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).map(std::time::Duration::from);
    let wall = std::time::Instant::now();
    let Ok(start) = cpu() else {
        while wall.elapsed() < budget {
            std::hint::spin_loop();
        }
        return;
    };
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    loop {
        for _ in 0..10_000 {
            x = std::hint::black_box(x.rotate_left(13) ^ x.wrapping_mul(0x2545_F491_4F6C_DD1D));
        }
        match cpu() {
            Ok(now) if now.saturating_sub(start) < budget => {}
            _ => break,
        }
    }
}
