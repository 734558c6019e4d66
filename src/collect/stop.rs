//! The stop signal shared by the collection threads: set once at shutdown, and a sleep that
//! ends early when it is set. Threads sleep until their next run instead of waking every so
//! often to look at a flag: between collections the exporter should not run at all.

use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Set once, seen by every thread that sleeps on it.
#[derive(Debug, Default)]
pub struct StopSignal {
    stopped: Mutex<bool>,
    changed: Condvar,
}

impl StopSignal {
    /// Asks every thread to stop and wakes the ones sleeping.
    pub fn stop(&self) {
        *self.stopped.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.changed.notify_all();
    }

    pub fn is_stopped(&self) -> bool {
        *self.stopped.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sleeps for `duration` or until stopped, whichever comes first; true if stopped.
    pub fn sleep(&self, duration: Duration) -> bool {
        let deadline = Instant::now() + duration;
        let mut stopped = self.stopped.lock().unwrap_or_else(PoisonError::into_inner);
        while !*stopped {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return false;
            };
            stopped = self
                .changed
                .wait_timeout(stopped, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::thread;

    #[test]
    fn a_sleep_ends_when_stopped_and_not_before() {
        let signal = Arc::new(StopSignal::default());
        assert!(!signal.sleep(Duration::from_millis(20)), "not stopped yet");
        let sleeper = {
            let signal = signal.clone();
            // Bounded, so that a stop() that wakes no one fails the test instead of hanging it.
            thread::spawn(move || (signal.sleep(Duration::from_secs(60)), Instant::now()))
        };
        thread::sleep(Duration::from_millis(50));
        let stopped_at = Instant::now();
        signal.stop();
        let (stopped, woke_at) = sleeper.join().unwrap();
        assert!(stopped, "stop() did not wake the sleeper");
        assert!(woke_at >= stopped_at, "the sleeper woke before stop()");
        assert!(signal.is_stopped());
        assert!(
            signal.sleep(Duration::from_secs(3600)),
            "stopped stays stopped"
        );
    }
}
