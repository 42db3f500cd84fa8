//! Time series in a bounded number of bins: per bin, arrivals, final labels, and the
//! time-averages of the queue and of the tasks in the system. When the run outgrows the bins,
//! neighbouring bins merge (the width doubles), so memory stays fixed however long the run.

use crate::time::SimTime;

/// Bins kept at most; after a merge half of them are in use.
pub const MAX_BINS: usize = 256;

/// One bin of [start, start + width).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Bin {
    pub arrivals: u64,
    pub finals: u64,
    /// [task·µs] integral of the queue length and of the tasks in the system over the bin.
    pub queue_area: f64,
    pub wip_area: f64,
}

/// A bounded time series of one run.
#[derive(Clone, Debug)]
pub struct Series {
    /// [µs] bin width (a power of two times the initial width).
    width: u64,
    bins: Vec<Bin>,
    last: u64,
    queue: f64,
    wip: f64,
    /// The bin found last, as (start, end, index): a time inside it needs no division.
    near: (u64, u64, usize),
}

/// A bin as reported: [start, end) [µs] and its figures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BinRow {
    pub start: SimTime,
    pub end: SimTime,
    pub arrivals: u64,
    pub finals: u64,
    pub queue_mean: f64,
    pub wip_mean: f64,
}

impl Series {
    /// A series whose bins start `initial_width` µs wide.
    pub fn new(initial_width: u64) -> Series {
        Series { width: initial_width.max(1), bins: Vec::new(), last: 0, queue: 0.0, wip: 0.0, near: (0, 0, 0) }
    }

    #[inline]
    fn bin(&mut self, t: u64) -> &mut Bin {
        let (lo, hi, i) = self.near;
        if lo <= t && t < hi {
            return &mut self.bins[i];
        }
        self.bin_far(t)
    }

    fn bin_far(&mut self, t: u64) -> &mut Bin {
        while t / self.width >= MAX_BINS as u64 {
            let merged: Vec<Bin> = self
                .bins
                .chunks(2)
                .map(|c| c.iter().fold(Bin::default(), |a, b| Bin { arrivals: a.arrivals + b.arrivals, finals: a.finals + b.finals, queue_area: a.queue_area + b.queue_area, wip_area: a.wip_area + b.wip_area }))
                .collect();
            self.bins = merged;
            self.width = self.width.saturating_mul(2);
        }
        let i = (t / self.width) as usize;
        if self.bins.len() <= i {
            self.bins.resize(i + 1, Bin::default());
        }
        self.near = (i as u64 * self.width, (i as u64 + 1).saturating_mul(self.width), i);
        &mut self.bins[i]
    }

    /// Integrates the current levels up to `now`, split at bin boundaries.
    fn accrue(&mut self, now: u64) {
        while self.last < now {
            let end = ((self.last / self.width) + 1).saturating_mul(self.width).min(now);
            let d = (end - self.last) as f64;
            let (q, w) = (self.queue, self.wip);
            let b = self.bin(self.last);
            b.queue_area += q * d;
            b.wip_area += w * d;
            self.last = end;
        }
    }

    /// The queue holds `queue` tasks and the system `wip` tasks from `now` on.
    #[inline]
    pub fn levels(&mut self, now: SimTime, queue: f64, wip: f64) {
        if now.0 > self.last {
            // Fast path: the interval stays inside the last bin in use.
            let (lo, hi, near) = self.near;
            let i = if lo <= self.last && self.last < hi { near } else { (self.last / self.width) as usize };
            if i + 1 == self.bins.len() && now.0 <= (i as u64 + 1) * self.width {
                let d = (now.0 - self.last) as f64;
                let b = &mut self.bins[i];
                b.queue_area += self.queue * d;
                b.wip_area += self.wip * d;
                self.last = now.0;
            } else {
                self.accrue(now.0);
            }
        }
        self.queue = queue;
        self.wip = wip;
    }
    pub fn arrival(&mut self, now: SimTime) {
        self.bin(now.0).arrivals += 1;
    }
    pub fn final_label(&mut self, now: SimTime) {
        self.bin(now.0).finals += 1;
    }

    /// The bins up to `end`, the last one cut at `end`.
    pub fn rows(&self, end: SimTime) -> Vec<BinRow> {
        let mut s = self.clone();
        s.accrue(end.0);
        s.bin(end.0.saturating_sub(1));
        let n = (end.0.div_ceil(s.width) as usize).min(s.bins.len());
        (0..n)
            .map(|i| {
                let b = s.bins[i];
                let start = i as u64 * s.width;
                let stop = (start + s.width).min(end.0);
                let span = stop.saturating_sub(start).max(1) as f64;
                BinRow { start: SimTime(start), end: SimTime(stop), arrivals: b.arrivals, finals: b.finals, queue_mean: b.queue_area / span, wip_mean: b.wip_area / span }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_merge_and_keep_totals() {
        let mut s = Series::new(10);
        for t in 0..10_000u64 {
            s.levels(SimTime(t), (t % 7) as f64, 1.0);
            s.arrival(SimTime(t));
            if t % 2 == 0 {
                s.final_label(SimTime(t));
            }
        }
        let rows = s.rows(SimTime(10_000));
        assert!(rows.len() <= MAX_BINS);
        assert_eq!(rows.iter().map(|r| r.arrivals).sum::<u64>(), 10_000);
        assert_eq!(rows.iter().map(|r| r.finals).sum::<u64>(), 5_000);
        let wip: f64 = rows.iter().map(|r| r.wip_mean * (r.end.0 - r.start.0) as f64).sum();
        assert!((wip - 10_000.0).abs() < 1e-6, "{wip}");
        assert_eq!(rows.last().unwrap().end, SimTime(10_000));
        assert_eq!(rows[0].start, SimTime(0));
    }
}
