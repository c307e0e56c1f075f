//! The OpenRC init script and its conf.d file, from the commented templates
//! in `templates/`. The script is fixed apart from the binary path; the
//! options go into the conf.d file, where an administrator changes them.

use super::{RenderedFile, Settings, fill};

const SCRIPT: &str = include_str!("templates/keygate.openrc.in");
const CONFD: &str = include_str!("templates/keygate.confd.in");

pub(crate) fn render(settings: &Settings) -> Vec<RenderedFile> {
    // The values have passed the checks in `Settings`: no quote, `$`, backslash
    // or newline can end the shell string they are put in.
    let script = fill(SCRIPT, &[("BINARY", &settings.binary)]);
    let confd = fill(
        CONFD,
        &[
            ("TARGETS", &settings.targets.join(" ")),
            ("MODE", settings.mode.as_deref().unwrap_or("")),
            ("CONSOLES", &settings.consoles.join(" ")),
            ("TIMEOUT", settings.timeout.as_deref().unwrap_or("")),
            ("ON_TIMEOUT", settings.on_timeout.as_deref().unwrap_or("")),
        ],
    );
    vec![
        RenderedFile {
            name: "init.d/keygate",
            contents: script,
            executable: true,
        },
        RenderedFile {
            name: "conf.d/keygate",
            contents: confd,
            executable: false,
        },
    ]
}
