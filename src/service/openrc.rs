//! OpenRC: messages in einfo/ewarn/eerror style; exit 0 started, 1 failed.

use super::Level;

pub fn fix_command(load: &str, service: &str) -> String {
    format!("{load} && rc-service {} start", super::shell_quote(service))
}

pub fn format_message(level: Level, text: &str) -> String {
    match level {
        Level::Info => format!(" * keygate: {text}"),
        Level::Warning => format!(" * WARNING: keygate: {text}"),
        Level::Error => format!(" * ERROR: keygate: {text}"),
    }
}
