//! Temporary: SIGUSR1/SIGTERM/SIGINT into gate events.
use std::sync::mpsc::Sender;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};
use signal_hook::iterator::Signals;

use crate::gate::Event;

pub fn start(tx: Sender<Event>) {
    let Ok(mut signals) = Signals::new([SIGUSR1, SIGTERM, SIGINT, SIGHUP]) else {
        eprintln!("keygate: warning: cannot install signal handlers");
        return;
    };
    std::thread::spawn(move || {
        for sig in signals.forever() {
            let ev = if sig == SIGUSR1 {
                Event::Recheck
            } else {
                Event::Terminate(sig)
            };
            if tx.send(ev).is_err() {
                break;
            }
        }
    });
}
