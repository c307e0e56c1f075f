//! systemd: sd_notify READY=1, STATUS= and EXTEND_TIMEOUT_USEC=.

use std::time::Duration;

use sd_notify::NotifyState;

/// How often a waiting gate asks systemd for more start-up time.
pub const KEEPALIVE_EVERY: Duration = Duration::from_secs(10);
/// How much more time each request asks for (three missed requests in a row
/// before systemd would give up on the gate).
const EXTEND_BY: Duration = Duration::from_secs(30);

fn send(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        crate::report::stderr_line(&format!("keygate: warning: cannot notify systemd: {e}"));
    }
}

pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

pub fn status(status: &str) {
    send(&[NotifyState::Status(status)]);
}

pub fn extend_timeout(by: Duration) {
    let usec = by.max(EXTEND_BY).as_micros().min(u128::from(u32::MAX));
    send(&[NotifyState::ExtendTimeoutUsec(usec as u32)]);
}

/// After a failed gate, local-fs.target fails and systemd drops to the
/// emergency shell; loading the keys there and asking for the default
/// target again starts the gate anew, which now finds every key loaded.
pub fn fix_command(load: &str) -> String {
    format!("{load} && systemctl default")
}
