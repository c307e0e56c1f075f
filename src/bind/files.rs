//! What `keygate bind ROOT` writes, and `keygate unbind ROOT` removes: the
//! JWE (root-only), a drop-in configuration file with the provider, and for
//! a Tang pin a systemd drop-in that orders the gate after the network.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::host::Host;

/// Where the JWEs live, root-only (0700; each file 0600).
pub const PROVIDERS_DIR: &str = "/etc/keygate/providers";
/// Where the systemd drop-in of a Tang binding goes.
pub const UNIT_DROPIN_DIR: &str = "/etc/systemd/system/keygate.service.d";
/// The device a TPM2 provider waits for.
pub const TPM_DEVICE: &str = "/dev/tpmrm0";

/// The files of one root's binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub jwe: PathBuf,
    pub provider: PathBuf,
    pub unit_dropin: PathBuf,
}

/// `nest/a` as a file name: dataset names never hold `+`, so `nest+a`
/// names only this root.
pub fn slug(root: &str) -> String {
    root.replace('/', "+")
}

impl Binding {
    /// The files for `root`, with the configuration file at `config`.
    pub fn of(root: &str, host: &Host, config: &Path) -> Binding {
        let slug = slug(root);
        Binding {
            jwe: host.path(&format!("{PROVIDERS_DIR}/{slug}.jwe")),
            provider: crate::config::dropin_dir(config).join(format!("provider-{slug}.toml")),
            unit_dropin: host.path(&format!("{UNIT_DROPIN_DIR}/provider-{slug}.conf")),
        }
    }

    /// The ones that exist.
    pub fn existing(&self) -> Vec<&Path> {
        [&self.jwe, &self.provider, &self.unit_dropin]
            .into_iter()
            .filter(|p| p.exists())
            .map(PathBuf::as_path)
            .collect()
    }
}

/// Text between TOML double quotes.
fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The drop-in configuration file of a binding.
pub fn provider_text(
    root: &str,
    pin: &str,
    clevis: &str,
    jwe: &Path,
    wait_for_tpm: bool,
) -> String {
    let mut t = format!(
        "# Written by `keygate bind {root} {pin} ...`; `keygate unbind {root}` removes it.\n\
         [[provider]]\n\
         name = {}\n\
         command = [{}, \"decrypt\"]\n\
         input = {}\n\
         roots = [{}]\n",
        quoted(&format!("{pin}:{root}")),
        quoted(clevis),
        quoted(&jwe.to_string_lossy()),
        quoted(root),
    );
    if wait_for_tpm {
        t.push_str(&format!("wait_for = {}\n", quoted(TPM_DEVICE)));
    }
    t
}

/// The systemd drop-in of a binding that needs the network.
pub fn unit_dropin_text(root: &str) -> String {
    format!(
        "# Written by `keygate bind {root} ...`; `keygate unbind {root}` removes it.\n\
         # Its provider asks a Tang server: the gate waits for the network, which\n\
         # the boot brings up only after local file systems when nothing else asks.\n\
         [Unit]\n\
         Wants=network-online.target\n\
         After=network-online.target\n"
    )
}

/// Create `dir` with `mode` if missing (missing parents with 0755).
fn make_dir(dir: &Path, mode: u32) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(parent)?;
    }
    DirBuilder::new().mode(mode).create(dir)?;
    // The umask may have taken bits away; 0700 must be exactly that.
    fs::set_permissions(dir, fs::Permissions::from_mode(mode))
}

/// Write a new file with `mode` (never one that exists).
pub fn write_new(path: &Path, bytes: &[u8], mode: u32, dir_mode: u32) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        make_dir(dir, dir_mode)?;
    }
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    f.set_permissions(fs::Permissions::from_mode(mode))?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Remove `path`, and its directory when that is left empty.
pub fn remove(path: &Path) -> io::Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    }
    if let Some(dir) = path.parent() {
        // Fails, harmlessly, while something else is in it.
        let _ = fs::remove_dir(dir);
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_drop_in_parses_back() {
        let text = provider_text(
            "nest/a",
            "tpm2",
            "clevis",
            Path::new("/etc/keygate/providers/nest+a.jwe"),
            true,
        );
        let got = crate::config::parse_dropin(&text, Path::new("/x.toml")).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].name, "tpm2:nest/a");
        assert_eq!(got[0].command, ["clevis", "decrypt"]);
        assert_eq!(got[0].roots, Some(vec!["nest/a".to_string()]));
        assert_eq!(got[0].wait_for, Some(PathBuf::from(TPM_DEVICE)));
        assert_eq!(quoted("a\"b\\c"), "\"a\\\"b\\\\c\"");
    }

    #[test]
    fn slugs_are_file_names() {
        assert_eq!(slug("nest/a/b"), "nest+a+b");
        assert_eq!(slug("tank"), "tank");
    }
}
