//! What a waiting gate reports to `keygate status`, shared between the gate
//! loop (which updates it) and the control socket (which reads it).

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    pub pid: u32,
    pub mode: String,
    /// When the gate started waiting, in Unix seconds.
    pub since: u64,
    pub locked: Vec<String>,
    pub sources: Vec<String>,
}

#[derive(Clone, Default)]
pub struct SharedStatus(Arc<Mutex<Status>>);

impl SharedStatus {
    pub fn new(mode: &str, locked: Vec<String>) -> SharedStatus {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        SharedStatus(Arc::new(Mutex::new(Status {
            pid: std::process::id(),
            mode: mode.to_string(),
            since,
            locked,
            sources: Vec::new(),
        })))
    }

    pub fn get(&self) -> Status {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn set_locked(&self, locked: Vec<String>) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).locked = locked;
    }

    pub fn add_source(&self, source: String) {
        let mut s = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if !s.sources.contains(&source) {
            s.sources.push(source);
        }
    }

    pub fn remove_source(&self, source: &str) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .sources
            .retain(|s| s != source);
    }
}
