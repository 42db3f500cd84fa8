//! Where the live server's time comes from. Decisions read time only as a value passed in
//! ([`Clock::now_us`] once per operation); the store never reads the clock. Tests replace the
//! system clock with a [`ManualClock`] they move by hand.

use std::sync::atomic::{AtomicU64, Ordering};

/// A source of the server's time [µs since the Unix epoch].
pub trait Clock: Send + Sync + 'static {
    fn now_us(&self) -> u64;
    /// The server's seconds per wall-clock second (1; a rehearsal's [`ScaledClock`] runs faster):
    /// a wait for a time of this clock sleeps that long divided by it.
    fn rate(&self) -> f64 {
        1.0
    }
    /// Wall-clock time [µs since the Unix epoch], for what the outside world reads as such
    /// (webhook timestamps).
    fn wall_us(&self) -> u64 {
        self.now_us()
    }
}

fn system_us() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

/// The machine's clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_us(&self) -> u64 {
        system_us()
    }
}

/// A rehearsal's clock (`tessera serve --rehearsal-speedup K`): from the moment it is made it runs
/// K times as fast as the wall clock, so that everything the server times (leases, queue
/// patience, deadlines, windows) runs at the pace of the `tessera loadgen --speedup K` driving it,
/// and its trace is in the scenario's own time. One node and one process only: another node's
/// clock, or this one restarted, starts from the wall clock again, behind the times stored.
pub struct ScaledClock {
    origin_us: u64,
    k: f64,
}

impl ScaledClock {
    /// A clock that reads the wall clock now and runs `k` times as fast from here (k > 0).
    pub fn new(k: f64) -> Self {
        ScaledClock { origin_us: system_us(), k: if k.is_finite() && k > 0.0 { k } else { 1.0 } }
    }

    /// The time `wall_us` reads on this clock.
    pub fn at(&self, wall_us: u64) -> u64 {
        let ahead = wall_us.saturating_sub(self.origin_us) as f64 * self.k;
        self.origin_us.saturating_add(ahead.min(u64::MAX as f64 / 4.0) as u64)
    }
}

impl Clock for ScaledClock {
    fn now_us(&self) -> u64 {
        self.at(system_us())
    }
    fn rate(&self) -> f64 {
        self.k
    }
    fn wall_us(&self) -> u64 {
        system_us()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scaled_clock_starts_at_the_wall_clock_and_runs_k_times_as_fast() {
        let c = ScaledClock::new(600.0);
        let o = c.origin_us;
        assert_eq!(c.at(o), o);
        assert_eq!(c.at(o + 1_000_000), o + 600_000_000);
        assert_eq!(c.at(o.saturating_sub(5)), o, "never before its start");
        assert_eq!(c.rate(), 600.0);
        // The wall clock read first: read after, it may have moved on by a microsecond when the
        // scaled clock was read at its origin (a race that failed this test once in CI).
        let wall = c.wall_us();
        let now = c.now_us();
        assert!(now >= o && wall <= now, "ahead of the wall clock");
        assert_eq!(ScaledClock::new(f64::NAN).rate(), 1.0);
    }
}
