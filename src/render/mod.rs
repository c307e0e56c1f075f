//! Service files for systemd, SMF and OpenRC, rendered from one place.
//!
//! The systemd unit and the OpenRC files are static, commented templates in
//! `templates/` with a few `@PLACEHOLDERS@`; the SMF manifest is written with
//! quick-xml's writer. Every value that lands in a file is checked first, so
//! bad input gets an error instead of a broken file. The files shipped in
//! `units/`, `smf/` and `openrc/` are what [`render`] returns for the default
//! options (a test keeps them equal).

mod openrc;
mod smf;
mod systemd;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::ValueEnum;

use crate::cli::{RenderArgs, RenderSystem};

/// One generated file: where it goes (relative to `--output`) and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    /// Path under the output directory, e.g. `keygate.service` or
    /// `init.d/keygate` (laid out like `/etc`, so `--output /etc` works for
    /// OpenRC).
    pub name: &'static str,
    /// The file's contents.
    pub contents: String,
    /// Whether the file is a program (the OpenRC init script).
    pub executable: bool,
}

/// A value that cannot go into a service file as given.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("{what} '{value}' {reason}")]
    BadValue {
        what: &'static str,
        value: String,
        reason: String,
    },
    #[error("--output {0}: not a directory")]
    NotADirectory(PathBuf),
    /// A combination of options the gate would refuse.
    #[error("{0}")]
    Usage(String),
}

/// The render options, checked and turned into the text the files need.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub binary: String,
    pub service_name: String,
    pub mode: Option<String>,
    pub consoles: Vec<String>,
    pub timeout: Option<String>,
    pub on_timeout: Option<String>,
    pub targets: Vec<String>,
}

impl Settings {
    pub(crate) fn from_args(args: &RenderArgs) -> Result<Self, RenderError> {
        // Refuse what the rendered gate would refuse at boot.
        if let Some(mode) = args.mode {
            let mut given = Vec::new();
            if args.on_timeout.is_some() {
                given.push("--on-timeout");
            }
            if args.timeout.is_some() {
                given.push("--timeout");
            }
            if let Some(e) = crate::settings::flag_mode_conflict(mode, &given) {
                return Err(RenderError::Usage(e));
            }
        }
        Ok(Settings {
            binary: absolute_path("--binary", &args.binary)?,
            service_name: smf_service_name(&args.service_name)?,
            mode: args.mode.map(value_name),
            consoles: args
                .consoles
                .iter()
                .map(|c| absolute_path("--console", c))
                .collect::<Result<_, _>>()?,
            timeout: args.timeout.map(|t| t.to_string()),
            on_timeout: args.on_timeout.map(value_name),
            targets: args
                .targets
                .iter()
                .map(|t| dataset(t))
                .collect::<Result<_, _>>()?,
        })
    }

    /// The arguments after `gate`, in the order keygate's help lists them.
    pub(crate) fn gate_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(mode) = &self.mode {
            args.extend(["--mode".to_owned(), mode.clone()]);
        }
        for console in &self.consoles {
            args.extend(["--console".to_owned(), console.clone()]);
        }
        if let Some(timeout) = &self.timeout {
            args.extend(["--timeout".to_owned(), timeout.clone()]);
        }
        if let Some(on_timeout) = &self.on_timeout {
            args.extend(["--on-timeout".to_owned(), on_timeout.clone()]);
        }
        args.extend(self.targets.iter().cloned());
        args
    }
}

/// Renders the files for one service manager.
pub fn render(args: &RenderArgs) -> Result<Vec<RenderedFile>, RenderError> {
    let settings = Settings::from_args(args)?;
    Ok(match args.system {
        RenderSystem::Systemd => systemd::render(&settings),
        RenderSystem::Smf => smf::render(&settings),
        RenderSystem::Openrc => openrc::render(&settings),
    })
}

/// `keygate render`: print the files, or write them under `--output`.
pub fn run(args: &RenderArgs) -> anyhow::Result<()> {
    let files = render(args)?;
    match &args.output {
        Some(dir) => write_all(dir, &files),
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(to_stdout(&files).as_bytes())
                .and_then(|()| out.flush())
                .context("cannot write to standard output")
        }
    }
}

/// What `keygate render` prints: a single file as it is; several files each
/// under a `==> name <==` line, the way `head` shows several files.
pub fn to_stdout(files: &[RenderedFile]) -> String {
    match files {
        [only] => only.contents.clone(),
        _ => files
            .iter()
            .map(|f| format!("==> {} <==\n{}", f.name, f.contents))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

/// Writes every file under `dir`, each through a temporary file renamed into
/// place, so a reader never sees half a file.
pub fn write_all(dir: &Path, files: &[RenderedFile]) -> anyhow::Result<()> {
    if !dir.is_dir() {
        return Err(RenderError::NotADirectory(dir.to_owned()).into());
    }
    for file in files {
        let path = dir.join(file.name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .with_context(|| format!("cannot create directory {}", parent.display()))?;
        }
        let tmp = path.with_file_name(format!(
            ".{}.tmp",
            path.file_name().unwrap_or_default().to_string_lossy()
        ));
        write_file(&tmp, file)
            .and_then(|()| {
                fs::rename(&tmp, &path)
                    .with_context(|| format!("cannot rename {} into place", tmp.display()))
            })
            .inspect_err(|_| {
                let _ = fs::remove_file(&tmp);
            })?;
    }
    Ok(())
}

fn write_file(path: &Path, file: &RenderedFile) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::write(path, &file.contents).with_context(|| format!("cannot write {}", path.display()))?;
    let mode = if file.executable { 0o755 } else { 0o644 };
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot set the mode of {}", path.display()))
}

/// Replaces each `@NAME@` in a template; a placeholder left over is a bug in
/// the template or its renderer, caught by the tests.
pub(crate) fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut text = template.to_owned();
    for (name, value) in values {
        text = text.replace(&format!("@{name}@"), value);
    }
    text
}

/// The name a value has on the command line (`hint`, `continue`, ...).
fn value_name<T: ValueEnum>(value: T) -> String {
    value
        .to_possible_value()
        .expect("keygate's value enums have no skipped variants")
        .get_name()
        .to_owned()
}

fn bad(what: &'static str, value: &str, reason: impl Into<String>) -> RenderError {
    RenderError::BadValue {
        what,
        // Control characters (a newline) shown escaped, the rest as typed.
        value: value
            .chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
        reason: reason.into(),
    }
}

/// Characters that mean nothing special to systemd's command-line parser, the
/// shell (OpenRC, and SMF's method runner) or SMF's `%` tokens.
fn plain_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "/._+-:,@=".contains(c)
}

fn absolute_path(what: &'static str, path: &Path) -> Result<String, RenderError> {
    let text = path
        .to_str()
        .ok_or_else(|| bad(what, &path.to_string_lossy(), "is not valid UTF-8"))?;
    if !text.starts_with('/') {
        return Err(bad(what, text, "must be an absolute path"));
    }
    if let Some(c) = text.chars().find(|&c| !plain_path_char(c)) {
        return Err(bad(
            what,
            text,
            format!(
                "contains {:?}, which the service files cannot carry safely; \
                 use a path of letters, digits and / . _ + - : , @ =",
                c
            ),
        ));
    }
    Ok(text.to_owned())
}

/// A ZFS dataset name as a target: the characters ZFS allows, less the space
/// (the service files keep targets as space-separated words).
fn dataset(name: &str) -> Result<String, RenderError> {
    if name.is_empty() {
        return Err(bad("target", name, "is empty"));
    }
    if name.starts_with(['-', '/']) || name.ends_with('/') || name.contains("//") {
        return Err(bad(
            "target",
            name,
            "is not a dataset name (e.g. rpool or rpool/home)",
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || "_.:/-".contains(c)))
    {
        let reason = if c == ' ' {
            "contains a space; keygate's service files list targets separated by spaces, \
             so gate its parent dataset instead"
                .to_owned()
        } else {
            format!("contains {c:?}; dataset names use letters, digits and _ . : - separated by /")
        };
        return Err(bad("target", name, reason));
    }
    Ok(name.to_owned())
}

/// An SMF service name: `/`-separated words of letters, digits, `_ - . ,`,
/// each starting with a letter (the last word also names the dependent).
fn smf_service_name(name: &str) -> Result<String, RenderError> {
    let ok = !name.is_empty()
        && name.split('/').all(|word| {
            word.starts_with(|c: char| c.is_ascii_alphabetic())
                && word
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.,".contains(c))
        });
    if ok {
        Ok(name.to_owned())
    } else {
        Err(bad(
            "--service-name",
            name,
            "is not an SMF service name (e.g. system/filesystem/keygate: \
             words of letters, digits and _ - . , separated by /, without svc:/ or instance)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn args(line: &[&str]) -> RenderArgs {
        let mut argv = vec!["keygate", "render"];
        argv.extend_from_slice(line);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Render(args) => args,
            other => panic!("not render: {other:?}"),
        }
    }

    fn error(line: &[&str]) -> String {
        render(&args(line)).unwrap_err().to_string()
    }

    #[test]
    fn gate_args_follow_the_options() {
        let s = Settings::from_args(&args(&[
            "systemd",
            "--mode",
            "wait",
            "--console",
            "/dev/ttyS0",
            "--timeout",
            "90s",
            "--on-timeout",
            "continue",
            "nest",
            "rpool/home",
        ]))
        .unwrap();
        assert_eq!(
            s.gate_args().join(" "),
            "--mode wait --console /dev/ttyS0 --timeout 90s --on-timeout continue nest rpool/home"
        );
    }

    #[test]
    fn rejects_values_that_would_break_a_file() {
        for (line, expected) in [
            (&["systemd", "bad\nname"][..], "target 'bad\\nname'"),
            (&["openrc", "x\"y"], "target 'x\"y'"),
            (&["smf", "it's"], "target 'it's'"),
            (&["systemd", "tank/with space"], "contains a space"),
            (&["systemd", "--", "-rf"], "is not a dataset name"),
            (
                &["systemd", "--binary", "keygate"],
                "must be an absolute path",
            ),
            (
                &["systemd", "--binary", "/opt/key gate"],
                "--binary '/opt/key gate'",
            ),
            (&["systemd", "--console", "/dev/tty%I"], "contains '%'"),
            (
                &["smf", "--service-name", "svc:/x"],
                "not an SMF service name",
            ),
            (
                &["smf", "--service-name", "a//b"],
                "not an SMF service name",
            ),
        ] {
            let err = error(line);
            assert!(err.contains(expected), "{line:?}: {err}");
        }
    }

    #[test]
    fn accepts_ordinary_names() {
        for line in [
            &["systemd", "rpool", "rpool/ROOT/debian-12", "tank/a_b.c:d"][..],
            &["smf", "--service-name", "system/filesystem/nest", "nest"],
        ] {
            render(&args(line)).unwrap();
        }
    }

    #[test]
    fn no_placeholder_is_left_over() {
        for system in ["systemd", "smf", "openrc"] {
            for file in render(&args(&[system])).unwrap() {
                let leftover = file.contents.split('@').skip(1).step_by(2).find(|word| {
                    !word.is_empty() && word.chars().all(|c| c.is_ascii_uppercase() || c == '_')
                });
                assert_eq!(leftover, None, "{}", file.name);
            }
        }
    }

    #[test]
    fn stdout_shows_several_files_with_their_names() {
        let files = render(&args(&["openrc"])).unwrap();
        let text = to_stdout(&files);
        assert!(text.starts_with("==> init.d/keygate <==\n#!/sbin/openrc-run\n"));
        assert!(text.contains("\n==> conf.d/keygate <==\n"));
        let single = render(&args(&["systemd"])).unwrap();
        assert_eq!(to_stdout(&single), single[0].contents);
    }

    #[test]
    fn output_must_be_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plain");
        fs::write(&file, "").unwrap();
        let files = render(&args(&["systemd"])).unwrap();
        let err = write_all(&file, &files).unwrap_err().to_string();
        assert_eq!(err, format!("--output {}: not a directory", file.display()));
        let missing = dir.path().join("missing");
        assert!(write_all(&missing, &files).is_err());
    }

    #[test]
    fn output_writes_files_with_their_modes() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let files = render(&args(&["openrc"])).unwrap();
        write_all(dir.path(), &files).unwrap();
        let script = dir.path().join("init.d/keygate");
        let confd = dir.path().join("conf.d/keygate");
        assert_eq!(fs::read_to_string(&script).unwrap(), files[0].contents);
        assert_eq!(fs::read_to_string(&confd).unwrap(), files[1].contents);
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&script), 0o755);
        assert_eq!(mode(&confd), 0o644);
        let names: Vec<_> = fs::read_dir(dir.path().join("init.d"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["keygate"], "no temporary file is left behind");
    }
}
