//! When the gate's loop wakes with no event: the next poll, the next
//! keepalive for the service manager, or the deadline.

use std::time::{Duration, Instant};

use crate::settings::GateSettings;

/// What a wake is for.
pub enum Wake {
    Poll,
    Keepalive,
    Timeout,
}

/// When the loop wakes next, and for what.
pub struct Timers {
    deadline: Option<Instant>,
    interval: Duration,
    keepalive: Option<Duration>,
    next_poll: Instant,
    next_keepalive: Instant,
}

impl Timers {
    pub fn start(args: &GateSettings, keepalive: Option<Duration>) -> Timers {
        let start = Instant::now();
        let interval = args.poll_interval.max(Duration::from_millis(10));
        Timers {
            deadline: args.timeout.map(|t| start + t),
            interval,
            keepalive,
            next_poll: start + interval,
            next_keepalive: start,
        }
    }

    /// The earliest of the next poll, keepalive and the deadline.
    pub fn next_wake(&self) -> (Instant, Wake) {
        let mut wake = (self.next_poll, Wake::Poll);
        if self.keepalive.is_some() && self.next_keepalive < wake.0 {
            wake = (self.next_keepalive, Wake::Keepalive);
        }
        if let Some(d) = self.deadline
            && d < wake.0
        {
            wake = (d, Wake::Timeout);
        }
        wake
    }

    /// A poll starts now: the next one is an interval away.
    pub fn polled(&mut self) {
        self.next_poll = Instant::now() + self.interval;
    }

    /// A keepalive is due now: the interval, and the next one is that far
    /// away. None when the manager wants none.
    pub fn keepalive_sent(&mut self) -> Option<Duration> {
        let k = self.keepalive?;
        self.next_keepalive = Instant::now() + k;
        Some(k)
    }
}
