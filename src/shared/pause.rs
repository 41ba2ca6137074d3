//! The POP3 pause ordered by MGMT's `TIMEOUT s`.
//!
//! While a pause is on, no POP3 session starts or processes a command; a
//! command already running finishes. Sessions block on a condition variable
//! until the pause's end (no polling), and MGMT answers other admins
//! meanwhile: only the admin who asked for the pause waits for it to end.

use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

#[derive(Debug, Default)]
pub struct PauseGate {
    until: Mutex<Option<Instant>>,
    resumed: Condvar,
}

impl PauseGate {
    /// Starts (or extends) a pause of `length` from now; returns its end.
    pub fn begin(&self, length: Duration) -> Instant {
        let end = Instant::now() + length;
        let mut until = self.until.lock();
        let end = until.map_or(end, |current| current.max(end));
        *until = Some(end);
        end
    }

    /// Blocks the caller until `end` (the value [`PauseGate::begin`] gave).
    pub fn sleep_until(end: Instant) {
        std::thread::sleep(end.saturating_duration_since(Instant::now()));
    }

    /// Ends any pause at once (server shutdown).
    pub fn resume_now(&self) {
        *self.until.lock() = None;
        self.resumed.notify_all();
    }

    /// Blocks while a pause is on. Cheap when there is none.
    pub fn wait_while_paused(&self) {
        let mut until = self.until.lock();
        while let Some(end) = *until {
            if Instant::now() >= end {
                *until = None;
                break;
            }
            self.resumed.wait_until(&mut until, end);
        }
    }

    pub fn is_paused(&self) -> bool {
        self.until.lock().is_some_and(|end| Instant::now() < end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn waiters_are_held_until_the_pause_ends() {
        let gate = Arc::new(PauseGate::default());
        let end = gate.begin(Duration::from_millis(300));
        let waiter = Arc::clone(&gate);
        let woke = std::thread::spawn(move || {
            waiter.wait_while_paused();
            Instant::now()
        });
        assert!(woke.join().unwrap() >= end);
        assert!(!gate.is_paused());
    }

    #[test]
    fn resume_now_releases_waiters_early() {
        let gate = Arc::new(PauseGate::default());
        gate.begin(Duration::from_secs(3600));
        let waiter = Arc::clone(&gate);
        let handle = std::thread::spawn(move || waiter.wait_while_paused());
        std::thread::sleep(Duration::from_millis(50));
        gate.resume_now();
        handle.join().unwrap();
        assert!(!gate.is_paused());
    }
}
