//! `keygate.service`, from the commented template in `templates/`.

use super::{RenderedFile, Settings, fill};

const SERVICE: &str = include_str!("templates/keygate.service.in");

pub(crate) fn render(settings: &Settings) -> Vec<RenderedFile> {
    // Every argument has passed the checks in `Settings`: none holds a space,
    // quote, backslash or `%`, so joining with spaces is what systemd splits.
    let gate_args: String = settings
        .gate_args()
        .iter()
        .map(|arg| format!(" {arg}"))
        .collect();
    vec![RenderedFile {
        name: "keygate.service",
        contents: fill(
            SERVICE,
            &[("BINARY", &settings.binary), ("GATE_ARGS", &gate_args)],
        ),
        executable: false,
    }]
}
