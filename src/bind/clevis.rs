//! Interface to `clevis encrypt PIN CONFIG`, the passphrase on stdin and
//! the JWE on stdout.

use crate::runner::{Runner, first_line};
use crate::secret::Secret;
use crate::text::printable;

/// Seal `passphrase` with `pin` and its JSON `config`; the JWE, or why not.
pub fn encrypt(
    clevis: &Runner,
    pin: &str,
    config: &str,
    passphrase: &Secret,
) -> Result<Vec<u8>, String> {
    let feed = |stdin: &mut std::process::ChildStdin| {
        std::io::Write::write_all(stdin, passphrase.expose())
    };
    let out = clevis
        .run(&["encrypt", pin, config], Some(&feed))
        .map_err(|e| e.to_string())?;
    if out.code() != Some(0) {
        return Err(format!(
            "clevis encrypt {pin} failed: {}",
            printable(&first_line(&out.stderr, "clevis encrypt", out.code()))
        ));
    }
    let jwe = out.stdout;
    if jwe.is_empty()
        || !jwe
            .iter()
            .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace())
    {
        return Err(format!(
            "clevis encrypt {pin} printed no JWE (it printed {} bytes)",
            jwe.len()
        ));
    }
    Ok(jwe)
}
