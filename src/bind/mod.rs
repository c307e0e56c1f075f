//! `keygate bind ROOT PIN CONFIG` and `keygate unbind ROOT`: a root's
//! passphrase sealed with Clevis (to the TPM, a Tang server, or a Shamir
//! split of several), and the provider that unseals it at boot.
//!
//! Bind asks for the passphrase, checks it with `zfs load-key -n`, runs
//! `clevis encrypt` with it on stdin only, and writes the files of
//! [`files::Binding`]; unbind removes exactly those.

mod clevis;
pub mod files;

use std::path::Path;

use crate::cli::{BindArgs, Pin, UnbindArgs};
use crate::gate::{Context, read_plan};
use crate::runner::Runner;
use crate::secret::passphrase_problem;
use crate::zfs::load_key::{self, LoadOutcome};

use self::files::Binding;

impl Pin {
    fn word(self) -> &'static str {
        match self {
            Pin::Tpm2 => "tpm2",
            Pin::Tang => "tang",
            Pin::Sss => "sss",
        }
    }
}

/// What a pin's configuration asks for at boot.
#[derive(Debug)]
struct Needs {
    tpm: bool,
    network: bool,
}

/// Check the pin's JSON configuration as far as keygate must: an object,
/// and every Tang server named with the key it is trusted by (clevis would
/// otherwise ask on the terminal, where nobody is at boot).
fn needs(pin: Pin, config: &str) -> Result<Needs, String> {
    let text = config.trim();
    if !(text.starts_with('{') && text.ends_with('}')) {
        return Err(format!(
            "the {} configuration must be a JSON object such as {}",
            pin.word(),
            match pin {
                Pin::Tpm2 => r#"'{"pcr_ids":"7"}'"#,
                Pin::Tang => r#"'{"url":"http://tang.example","thp":"..."}'"#,
                Pin::Sss => r#"'{"t":1,"pins":{"tpm2":{},"tang":{...}}}'"#,
            }
        ));
    }
    let tang = pin == Pin::Tang || (pin == Pin::Sss && text.contains("\"tang\""));
    if tang && !(text.contains("\"thp\"") || text.contains("\"adv\"")) {
        return Err(
            "a Tang server must be named with the thumbprint of its signing key: add \"thp\":\"...\" \
             (`jose jwk thp -i` of its signing key file on the server) or \"adv\":\"FILE\""
                .into(),
        );
    }
    Ok(Needs {
        tpm: pin == Pin::Tpm2 || (pin == Pin::Sss && text.contains("\"tpm2\"")),
        network: tang,
    })
}

pub fn bind(ctx: &Context, args: &BindArgs, config: &Path) -> i32 {
    for warning in crate::secret::harden_process() {
        crate::errln!("keygate: warning: {warning}");
    }
    let fail = |msg: &str| {
        crate::errln!("keygate: error: {msg}");
        1
    };
    let needs = match needs(args.pin, &args.pin_config) {
        Ok(n) => n,
        Err(e) => return fail(&e),
    };
    let binding = Binding::of(&args.root, &ctx.host, config);
    if let Some(first) = binding.existing().first() {
        return fail(&format!(
            "{} is already bound ({}); run `keygate unbind {}` first",
            args.root,
            first.display(),
            args.root
        ));
    }
    let plan = match read_plan(&ctx.zfs, std::slice::from_ref(&args.root)) {
        Ok(p) => p,
        Err(e) => return fail(&e.to_string()),
    };
    match plan.roots.iter().find(|r| r.name == args.root) {
        Some(r) if r.takes_passphrase() => {}
        Some(_) => {
            return fail(&format!(
                "{} does not take a passphrase (its keyformat or keylocation says otherwise)",
                args.root
            ));
        }
        None => return fail(&format!("{} is not an encryption root", args.root)),
    }
    let secret = match crate::unlock::prompt(&format!("Enter passphrase for {}: ", args.root)) {
        Ok(s) => s,
        Err(code) => return code,
    };
    if let Some(problem) = passphrase_problem(&secret) {
        return fail(&problem);
    }
    match load_key::verify_passphrase(&ctx.zfs, &args.root, &secret) {
        Ok(LoadOutcome::Loaded) => {}
        Ok(LoadOutcome::Incorrect) => {
            return fail(&format!(
                "wrong passphrase for {}; nothing was bound",
                args.root
            ));
        }
        Ok(LoadOutcome::Failed(why)) => {
            return fail(&format!(
                "cannot check the passphrase of {}: {why}",
                args.root
            ));
        }
        // Not said by a dry run; the key is right if it is loaded.
        Ok(LoadOutcome::AlreadyLoaded) => {}
        Err(e) => return fail(&format!("cannot check the passphrase: {e}")),
    }
    let clevis = Runner::new(&args.clevis, ctx.zfs.timeout());
    let jwe = clevis::encrypt(&clevis, args.pin.word(), &args.pin_config, &secret);
    drop(secret);
    let jwe = match jwe {
        Ok(j) => j,
        Err(e) => return fail(&format!("{e}; nothing was bound")),
    };
    if let Err(e) = write(&binding, args, &needs, &jwe) {
        for p in [&binding.jwe, &binding.provider, &binding.unit_dropin] {
            let _ = files::remove(p);
        }
        return fail(&format!("{e}; nothing was bound"));
    }
    crate::outln!(
        "{} is bound to {}: {} (root-only), provider in {}",
        args.root,
        args.pin.word(),
        binding.jwe.display(),
        binding.provider.display()
    );
    if needs.network {
        crate::outln!(
            "keygate.service now waits for network-online.target ({}); run `systemctl daemon-reload`",
            binding.unit_dropin.display()
        );
    }
    if needs.tpm {
        crate::outln!(
            "At boot the provider waits for {} (keygate.service is ordered after tpm2.target).",
            files::TPM_DEVICE
        );
    }
    0
}

fn write(binding: &Binding, args: &BindArgs, needs: &Needs, jwe: &[u8]) -> Result<(), String> {
    files::write_new(&binding.jwe, jwe, 0o600, 0o700).map_err(|e| cannot_write(&binding.jwe, e))?;
    if needs.network {
        let text = files::unit_dropin_text(&args.root);
        files::write_new(&binding.unit_dropin, text.as_bytes(), 0o644, 0o755)
            .map_err(|e| cannot_write(&binding.unit_dropin, e))?;
    }
    // Last: until this file exists, no gate runs the provider.
    let text = files::provider_text(
        &args.root,
        args.pin.word(),
        &args.clevis.to_string_lossy(),
        &binding.jwe,
        needs.tpm,
    );
    files::write_new(&binding.provider, text.as_bytes(), 0o644, 0o755)
        .map_err(|e| cannot_write(&binding.provider, e))?;
    Ok(())
}

fn cannot_write(p: &Path, e: std::io::Error) -> String {
    format!("cannot write {}: {e}", p.display())
}

pub fn unbind(ctx: &Context, args: &UnbindArgs, config: &Path) -> i32 {
    let binding = Binding::of(&args.root, &ctx.host, config);
    let mut removed = Vec::new();
    // The provider first: a gate starting meanwhile no longer runs it.
    for p in [&binding.provider, &binding.unit_dropin, &binding.jwe] {
        match files::remove(p) {
            Ok(true) => removed.push(p.display().to_string()),
            Ok(false) => {}
            Err(e) => {
                crate::errln!("keygate: error: cannot remove {}: {e}", p.display());
                return 1;
            }
        }
    }
    if removed.is_empty() {
        crate::errln!(
            "keygate: error: {} is not bound (no {})",
            args.root,
            binding.provider.display()
        );
        return 1;
    }
    crate::outln!("{} is unbound: removed {}", args.root, removed.join(", "));
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configurations_are_checked() {
        assert!(needs(Pin::Tpm2, r#"{"pcr_ids":"7"}"#).unwrap().tpm);
        assert!(needs(Pin::Tpm2, "7").unwrap_err().contains("JSON object"));
        assert!(
            needs(Pin::Tang, r#"{"url":"http://t"}"#)
                .unwrap_err()
                .contains("thumbprint")
        );
        let n = needs(Pin::Tang, r#"{"url":"http://t","thp":"x"}"#).unwrap();
        assert!(n.network && !n.tpm);
        let n = needs(
            Pin::Sss,
            r#"{"t":1,"pins":{"tpm2":{},"tang":{"url":"u","thp":"x"}}}"#,
        )
        .unwrap();
        assert!(n.network && n.tpm);
    }
}
