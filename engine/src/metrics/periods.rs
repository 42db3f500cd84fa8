//! Figures per fixed period of a run (a forecast's weeks): money spent, work done, final labels
//! with their accuracy and deadlines, and the hours people were on shift and busy. Kept only
//! when a run asks for it (`RunOptions::period_us`); memory is one row per period (a horizon of
//! at most `MAX_PERIODS` periods) plus two instants per annotator.
//!
//! Money is counted when it is spent: hourly pay for on-shift time, split at period
//! boundaries; per-item pay when the item is submitted; a model's fee when it pre-labels. The
//! pay for time on a task's items (hourly pay for the lease, per-item pay) is also counted
//! against the task's type, so a forecast can say what a final label of each type costs directly.
//! Final labels are counted in the period they became final, and their accuracy and deadline
//! there; unlike the summary these figures have no warm-up window (a forecast runs from zero).

use crate::time::SimTime;

/// The most periods a run may keep.
pub const MAX_PERIODS: u64 = 10_000;

/// One period's figures. Hours are [h], money [USD].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PeriodRow {
    pub arrivals: u64,
    pub finals: u64,
    /// Finals whose label equals the hidden truth.
    pub correct: u64,
    /// Finals of tasks with a deadline, and of them those final by it.
    pub with_deadline: u64,
    pub deadline_met: u64,
    /// Hourly pay for on-shift time.
    pub hourly_usd: f64,
    /// Per-item pay.
    pub item_usd: f64,
    pub model_usd: f64,
    /// Annotator-hours on shift and with an item in hand.
    pub on_shift_h: f64,
    pub busy_h: f64,
    /// Per task type: (finals, pay for time on its items [USD]).
    pub by_type: Vec<(u64, f64)>,
}

impl PeriodRow {
    /// Everything spent in the period [USD].
    pub fn cost_usd(&self) -> f64 {
        self.hourly_usd + self.item_usd + self.model_usd
    }
}

/// The periods of one run.
#[derive(Clone, Debug)]
pub struct Periods {
    /// [µs]
    width: u64,
    types: usize,
    rows: Vec<PeriodRow>,
    /// Per annotator: [USD/h] hourly rate (0 when paid per item), on shift since, item in hand since.
    rate: Vec<f64>,
    shift_since: Vec<Option<SimTime>>,
    busy_since: Vec<Option<SimTime>>,
}

impl Periods {
    /// Periods `width` µs long over `horizon` µs, for `rates.len()` annotators and `types` task types.
    pub fn new(width: u64, horizon: u64, rates: Vec<f64>, types: usize) -> Periods {
        let width = width.max(1);
        let n = horizon.div_ceil(width).clamp(1, MAX_PERIODS) as usize;
        let row = PeriodRow { by_type: vec![(0, 0.0); types], ..PeriodRow::default() };
        let a = rates.len();
        Periods { width, types, rows: vec![row; n], rate: rates, shift_since: vec![None; a], busy_since: vec![None; a] }
    }

    /// [µs]
    pub fn width(&self) -> u64 {
        self.width
    }

    /// The row of instant `t`; instants past the last period count in the last one.
    fn row(&mut self, t: SimTime) -> &mut PeriodRow {
        let i = ((t.0 / self.width) as usize).min(self.rows.len() - 1);
        &mut self.rows[i]
    }

    /// Adds `per_hour × hours` of [from, to) to each period it overlaps, through `put`.
    fn spread(&mut self, from: SimTime, to: SimTime, mut put: impl FnMut(&mut PeriodRow, f64)) {
        let mut t = from.0;
        while t < to.0 {
            let end = ((t / self.width + 1).saturating_mul(self.width)).min(to.0);
            let hours = (end - t) as f64 / 3.6e9;
            put(self.row(SimTime(t)), hours);
            t = end;
        }
    }

    pub fn arrival(&mut self, now: SimTime) {
        self.row(now).arrivals += 1;
    }

    pub fn on_shift(&mut self, a: u32, now: SimTime) {
        if let Some(s) = self.shift_since.get_mut(a as usize) {
            s.get_or_insert(now);
        }
    }

    pub fn off_shift(&mut self, a: u32, now: SimTime) {
        let Some(since) = self.shift_since.get_mut(a as usize).and_then(Option::take) else { return };
        let rate = self.rate[a as usize];
        self.spread(since, now, |r, h| {
            r.on_shift_h += h;
            r.hourly_usd += rate * h;
        });
    }

    pub fn lease_start(&mut self, a: u32, now: SimTime) {
        if let Some(s) = self.busy_since.get_mut(a as usize) {
            *s = Some(now);
        }
    }

    /// A lease of annotator `a` closed; `ttype` is the task type of its item (None: a golden item).
    pub fn lease_end(&mut self, a: u32, now: SimTime, ttype: Option<u16>) {
        let Some(since) = self.busy_since.get_mut(a as usize).and_then(Option::take) else { return };
        let rate = self.rate[a as usize];
        let types = self.types;
        self.spread(since, now, |r, h| {
            r.busy_h += h;
            if let Some(t) = ttype.map(usize::from).filter(|&t| t < types) {
                r.by_type[t].1 += rate * h;
            }
        });
    }

    pub fn item_paid(&mut self, now: SimTime, usd: f64, ttype: Option<u16>) {
        let types = self.types;
        let r = self.row(now);
        r.item_usd += usd;
        if let Some(t) = ttype.map(usize::from).filter(|&t| t < types) {
            r.by_type[t].1 += usd;
        }
    }

    pub fn model_paid(&mut self, now: SimTime, usd: f64) {
        self.row(now).model_usd += usd;
    }

    /// A task of type `ttype` became final at `at`; `deadline_met` is None without a deadline.
    pub fn final_label(&mut self, at: SimTime, ttype: u16, correct: bool, deadline_met: Option<bool>) {
        let types = self.types;
        let r = self.row(at);
        r.finals += 1;
        r.correct += correct as u64;
        if let Some(met) = deadline_met {
            r.with_deadline += 1;
            r.deadline_met += met as u64;
        }
        if (ttype as usize) < types {
            r.by_type[ttype as usize].0 += 1;
        }
    }

    /// Closes open shifts and leases at `end` and returns the rows.
    pub fn finish(mut self, end: SimTime) -> Vec<PeriodRow> {
        for a in 0..self.rate.len() as u32 {
            self.lease_end(a, end, None);
            self.off_shift(a, end);
        }
        self.rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const H: u64 = 3_600_000_000;

    #[test]
    fn shifts_and_leases_split_at_boundaries() {
        // Two periods of 10 h; one annotator at 20 USD/h on shift from 8 h to 13 h.
        let mut p = Periods::new(10 * H, 20 * H, vec![20.0, 0.0], 2);
        p.on_shift(0, SimTime(8 * H));
        p.lease_start(0, SimTime(9 * H));
        p.lease_end(0, SimTime(11 * H), Some(1));
        p.off_shift(0, SimTime(13 * H));
        p.item_paid(SimTime(12 * H), 0.5, Some(0));
        p.final_label(SimTime(15 * H), 1, true, Some(false));
        let rows = p.finish(SimTime(20 * H));
        assert!((rows[0].on_shift_h - 2.0).abs() < 1e-9 && (rows[1].on_shift_h - 3.0).abs() < 1e-9);
        assert!((rows[0].hourly_usd - 40.0).abs() < 1e-9 && (rows[1].hourly_usd - 60.0).abs() < 1e-9);
        assert!((rows[0].busy_h - 1.0).abs() < 1e-9 && (rows[1].busy_h - 1.0).abs() < 1e-9);
        assert!((rows[1].by_type[1].1 - 20.0).abs() < 1e-9 && (rows[1].by_type[0].1 - 0.5).abs() < 1e-9);
        assert_eq!((rows[1].finals, rows[1].correct, rows[1].with_deadline, rows[1].deadline_met), (1, 1, 1, 0));
        assert!((rows[1].cost_usd() - 60.5).abs() < 1e-9);
    }

    #[test]
    fn open_intervals_close_at_the_end() {
        let mut p = Periods::new(H, 3 * H, vec![10.0], 1);
        p.on_shift(0, SimTime(0));
        let rows = p.finish(SimTime(3 * H));
        assert_eq!(rows.len(), 3);
        assert!(rows.iter().all(|r| (r.hourly_usd - 10.0).abs() < 1e-9));
    }
}
