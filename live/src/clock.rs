//! Where the live server's time comes from. Decisions read time only as a value passed in
//! ([`Clock::now_us`] once per operation); the store never reads the clock. Tests replace the
//! system clock with a [`ManualClock`] they move by hand.

use std::sync::atomic::{AtomicU64, Ordering};

/// A source of wall-clock time [µs since the Unix epoch].
pub trait Clock: Send + Sync + 'static {
    fn now_us(&self) -> u64;
}

/// The machine's clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_us(&self) -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
    }
}

/// A clock that moves only when told to (tests).
pub struct ManualClock(AtomicU64);

impl ManualClock {
    pub fn new(start_us: u64) -> Self {
        ManualClock(AtomicU64::new(start_us))
    }
    /// Moves the clock forward by `us` microseconds.
    pub fn advance(&self, us: u64) {
        self.0.fetch_add(us, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_us(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}
