//! Figures per workflow stage, so a planner sees where a pipeline queues: tasks that entered and
//! left each stage, the time they spent in it (a sketch, and a mean that counts the tasks still in
//! it at the end up to the end), the time-weighted number of tasks in it, and the lease-held time
//! each pool spent working it. Rows are the run's stage table (`run::StageRow`): each stream's
//! stages, and "waiting for parts" for streams whose tasks have parts. Memory: one row per stage,
//! one slot per annotator.

use super::{Quantiles, TimeAverage};
use crate::time::SimTime;

/// One stage's tallies over the statistics window.
#[derive(Clone, Debug)]
pub struct StageTally {
    /// Entries inside the window.
    pub entered: u64,
    /// Exits of tasks that entered inside the window.
    pub left: u64,
    /// [s] time in the stage of those exits.
    pub time: Quantiles,
    /// [s] time in the stage of every task that entered inside the window: exits, and the tasks
    /// still in it at the end counted up to the end.
    pub time_sum_s: f64,
    /// Tasks still in it at the end (entered inside the window).
    pub still_in: u64,
    /// Number of tasks in the stage, time-weighted over the window.
    pub in_stage: TimeAverage,
    count: u64,
    /// [µs] per pool: lease-held time of its members on this stage's work inside the window.
    pub busy_us: Vec<u64>,
}

/// The per-stage books of a run.
#[derive(Clone, Debug, Default)]
pub struct StageBook {
    pub rows: Vec<StageTally>,
    start: SimTime,
    pool_of: Vec<u16>,
    /// What each annotator is working on now: (stage row, since).
    working: Vec<Option<(u16, SimTime)>>,
}

impl StageBook {
    pub fn new(rows: usize, pools: usize, pool_of: Vec<u16>, start: SimTime) -> StageBook {
        let tally = StageTally { entered: 0, left: 0, time: Quantiles::default(), time_sum_s: 0.0, still_in: 0, in_stage: TimeAverage::new(start), count: 0, busy_us: vec![0; pools] };
        StageBook { rows: vec![tally; rows], start, working: vec![None; pool_of.len()], pool_of }
    }

    /// A task entered stage row `sid` at `now`.
    pub fn enter(&mut self, sid: u16, now: SimTime) {
        let Some(r) = self.rows.get_mut(sid as usize) else { return };
        r.count += 1;
        r.in_stage.set(now, r.count as f64);
        r.entered += (now >= self.start) as u64;
    }

    /// A task that entered row `sid` at `since` left it at `now`.
    pub fn leave(&mut self, sid: u16, since: SimTime, now: SimTime) {
        let Some(r) = self.rows.get_mut(sid as usize) else { return };
        r.count = r.count.saturating_sub(1);
        r.in_stage.set(now, r.count as f64);
        if since >= self.start {
            let secs = now.since(since).secs();
            r.left += 1;
            r.time.add(secs);
            r.time_sum_s += secs;
        }
    }

    /// A task still in row `sid` (since `since`) at the end of the run.
    pub fn still_in(&mut self, sid: u16, since: SimTime, end: SimTime) {
        let Some(r) = self.rows.get_mut(sid as usize) else { return };
        if since >= self.start {
            r.still_in += 1;
            r.time_sum_s += end.since(since).secs();
        }
    }

    /// Annotator `a` took work of stage row `sid` at `now`.
    pub fn work(&mut self, a: u32, sid: Option<u16>, now: SimTime) {
        if let Some(w) = self.working.get_mut(a as usize) {
            *w = sid.map(|s| (s, now));
        }
    }

    /// Annotator `a`'s lease closed at `now`.
    pub fn done(&mut self, a: u32, now: SimTime) {
        let Some(Some((sid, since))) = self.working.get_mut(a as usize).map(|w| w.take()) else { return };
        let pool = self.pool_of[a as usize] as usize;
        if let Some(r) = self.rows.get_mut(sid as usize) {
            r.busy_us[pool] += now.0.saturating_sub(since.0.max(self.start.0));
        }
    }

    /// Ends the window at `end`: work in progress counts up to it.
    pub fn close(&mut self, end: SimTime) {
        for a in 0..self.working.len() as u32 {
            self.done(a, end);
        }
    }
}
