//! The monitor: counters and time-weighted averages over the statistics window [warm-up, end].

use crate::ledger::WorkKind;
use super::{Quantiles, Series};
use crate::time::{Dur, SimTime};

/// Time-weighted average of a piecewise-constant quantity, counted from `start`.
#[derive(Clone, Debug)]
pub struct TimeAverage {
    start: u64,
    last: u64,
    value: f64,
    area: f64,
}

impl TimeAverage {
    pub fn new(start: SimTime) -> Self {
        TimeAverage { start: start.0, last: 0, value: 0.0, area: 0.0 }
    }
    fn accrue(&mut self, now: u64) {
        let from = self.last.max(self.start);
        if now > from {
            self.area += self.value * (now - from) as f64;
        }
        self.last = now;
    }
    /// The quantity takes value `v` from `now` on.
    #[inline]
    pub fn set(&mut self, now: SimTime, v: f64) {
        self.accrue(now.0);
        self.value = v;
    }
    pub fn value(&self) -> f64 {
        self.value
    }
    /// Average over [start, end].
    pub fn mean(&self, end: SimTime) -> f64 {
        let mut c = self.clone();
        c.accrue(end.0);
        let span = end.0.saturating_sub(self.start);
        if span == 0 { 0.0 } else { c.area / span as f64 }
    }
}

/// Overlap of [from, to) with [start, ∞) [µs].
fn clipped(from: SimTime, to: SimTime, start: SimTime) -> u64 {
    to.0.saturating_sub(from.0.max(start.0))
}

/// What the monitor counts per stream (counted tasks only).
#[derive(Clone, Debug, Default)]
pub struct StreamTally {
    pub arrivals: u64,
    pub completions: u64,
    /// Still open at the end.
    pub unfinished: u64,
    pub correct: u64,
    /// Labels behind the final labels of completed tasks.
    pub labels_used: u64,
    /// Final labels given inside the window, whatever the task's arrival time.
    pub finals_in_window: u64,
    pub deadline_misses: u64,
    /// [s] arrival → final label of completed tasks (the run's is the merge of its streams').
    pub tis: Quantiles,
    /// Tasks whose completion within the turnaround target is known (finished, or open for
    /// longer than the target at the end), and of them those finished within it.
    pub turnaround_known: u64,
    pub turnaround_met: u64,
    /// The same for the start of service within the waiting target.
    pub start_known: u64,
    pub start_met: u64,
    /// [s] arrival → first start, censored at the end for tasks never started.
    pub wait_sum_s: f64,
    /// Left unserved: their queue patience ran out before any work started.
    pub left_unserved: u64,
}

/// Everything counted during a run. "Counted" tasks are those that arrived at or after the
/// warm-up; time-based quantities only accrue after it.
#[derive(Clone, Debug)]
pub struct Monitor {
    pub window_start: SimTime,
    /// Waiting target (`run.service_level`): a task should start within it.
    pub service_level: Dur,
    /// Counted arrivals.
    pub arrivals: u64,
    /// Counted tasks that are final.
    pub completions: u64,
    /// Final labels produced inside the window (any arrival time).
    pub finals_in_window: u64,
    /// Counted tasks that started service, and of all counted arrivals those that waited (a
    /// task never started waited).
    pub started: u64,
    pub waited: u64,
    /// [s] arrival → first start of counted tasks; tasks never started count their wait until
    /// the end (censored: a lower bound).
    pub wait: Quantiles,
    /// [s] age at the end of counted tasks still open (completed ones are in `by_stream`).
    pub open_ages: Quantiles,
    pub correct: u64,
    pub deadline_misses: u64,
    /// Times an annotator walked away from an item (its lease expired unanswered).
    pub walkaways: u64,
    /// Labels submitted inside the window.
    pub labels: u64,
    /// Labels behind the final labels of counted completed tasks (mean overlap = this / completions).
    pub final_labels_used: u64,
    /// Per task type: (right final labels, completed) of counted tasks.
    pub by_type: Vec<(u64, u64)>,
    pub by_stream: Vec<StreamTally>,
    /// Inside the window: golden answers, reviews, reworks, bans, re-opened final labels.
    pub gold_answers: u64,
    pub reviews: u64,
    pub reworks: u64,
    pub bans: u64,
    pub reopened: u64,
    /// Per annotator busy time [µs] by work kind (labeling, gold, review) inside the window.
    pub busy_by_kind: Vec<[u64; 3]>,
    /// Per annotator [µs] of busy time spent on items walked away from (inside the window).
    pub walkaway_us: Vec<u64>,
    pub queue: TimeAverage,
    pub in_system: TimeAverage,
    /// Time-average number of tasks not yet final, by stream, and the current counts.
    pub in_system_by_stream: Vec<TimeAverage>,
    pub live_by_stream: Vec<u64>,
    /// Arrivals, finals, queue and work in progress over time, in a bounded number of bins.
    pub series: Series,
    /// Per annotator [µs] inside the window.
    pub busy_us: Vec<u64>,
    pub on_shift_us: Vec<u64>,
    busy_since: Vec<Option<SimTime>>,
    on_since: Vec<Option<SimTime>>,
}

impl Monitor {
    pub fn new(window_start: SimTime, service_level: Dur, annotators: usize, streams: usize, task_types: usize) -> Self {
        Monitor {
            window_start,
            service_level,
            arrivals: 0,
            completions: 0,
            finals_in_window: 0,
            started: 0,
            waited: 0,
            wait: Quantiles::default(),
            open_ages: Quantiles::default(),
            correct: 0,
            deadline_misses: 0,
            walkaways: 0,
            labels: 0,
            final_labels_used: 0,
            by_type: vec![(0, 0); task_types],
            by_stream: vec![StreamTally::default(); streams],
            gold_answers: 0,
            reviews: 0,
            reworks: 0,
            bans: 0,
            reopened: 0,
            busy_by_kind: vec![[0; 3]; annotators],
            walkaway_us: vec![0; annotators],
            queue: TimeAverage::new(window_start),
            in_system: TimeAverage::new(window_start),
            in_system_by_stream: vec![TimeAverage::new(window_start); streams],
            live_by_stream: vec![0; streams],
            series: Series::new(crate::time::US_PER_HOUR / 4),
            busy_us: vec![0; annotators],
            on_shift_us: vec![0; annotators],
            busy_since: vec![None; annotators],
            on_since: vec![None; annotators],
        }
    }

    /// [s] time in system of the tasks finished in the window (all streams), and the same with
    /// the ages of the counted tasks still open at the end (censored).
    pub fn time_in_system_sketches(&self) -> [Quantiles; 2] {
        let mut tis = Quantiles::default();
        for t in &self.by_stream {
            tis.merge(&t.tis);
        }
        let mut censored = tis.clone();
        censored.merge(&self.open_ages);
        [tis, censored]
    }

    pub fn in_window(&self, t: SimTime) -> bool {
        t >= self.window_start
    }

    /// A counted task of `stream` started its first service after waiting `wait`.
    pub fn first_start(&mut self, stream: u16, wait: Dur) {
        self.started += 1;
        self.waited += (wait.0 > 0) as u64;
        self.wait.add(wait.secs());
        let t = &mut self.by_stream[stream as usize];
        t.start_known += 1;
        t.start_met += (wait < self.service_level) as u64;
        t.wait_sum_s += wait.secs();
    }

    /// A counted task of `stream` was still waiting for its first service at the end, after
    /// `waited` (censored).
    /// A counted task of `stream` left unserved after waiting `waited` for its first annotator:
    /// it waited (Erlang A's mean wait is over all arrivals, abandoners included), it never
    /// started within the waiting target nor finished within the turnaround target, a deadline
    /// it had is missed, and its time in the system is `waited`.
    pub fn left_unserved(&mut self, stream: u16, waited: Dur, had_deadline: bool) {
        self.deadline_misses += had_deadline as u64;
        self.by_stream[stream as usize].deadline_misses += had_deadline as u64;
        self.waited += 1;
        self.wait.add(waited.secs());
        self.open_ages.add(waited.secs());
        let t = &mut self.by_stream[stream as usize];
        t.left_unserved += 1;
        t.start_known += 1;
        t.turnaround_known += 1;
        t.wait_sum_s += waited.secs();
    }

    pub fn never_started(&mut self, stream: u16, waited: Dur) {
        self.waited += 1;
        self.wait.add(waited.secs());
        let t = &mut self.by_stream[stream as usize];
        t.start_known += (waited >= self.service_level) as u64;
        t.wait_sum_s += waited.secs();
    }

    pub fn busy(&mut self, a: u32, now: SimTime) {
        self.busy_since[a as usize] = Some(now);
    }
    /// `a` stops working on an item of `kind`; `walked_away` if it left the item unanswered.
    pub fn idle(&mut self, a: u32, now: SimTime, kind: WorkKind, walked_away: bool) {
        if let Some(s) = self.busy_since[a as usize].take() {
            let d = clipped(s, now, self.window_start);
            self.busy_us[a as usize] += d;
            self.busy_by_kind[a as usize][kind as usize] += d;
            if walked_away {
                self.walkaway_us[a as usize] += d;
            }
        }
    }
    pub fn is_busy(&self, a: u32) -> bool {
        self.busy_since[a as usize].is_some()
    }
    pub fn is_on_shift(&self, a: u32) -> bool {
        self.on_since[a as usize].is_some()
    }
    pub fn on_shift(&mut self, a: u32, now: SimTime) {
        if self.on_since[a as usize].is_none() {
            self.on_since[a as usize] = Some(now);
        }
    }
    pub fn off_shift(&mut self, a: u32, now: SimTime) {
        if let Some(s) = self.on_since[a as usize].take() {
            self.on_shift_us[a as usize] += clipped(s, now, self.window_start);
        }
    }

    /// A task of `stream` entered (+1) or left (−1) the system.
    pub fn stream_count(&mut self, stream: u16, now: SimTime, entered: bool) {
        let s = stream as usize;
        if entered {
            self.live_by_stream[s] += 1;
        } else {
            self.live_by_stream[s] -= 1;
        }
        self.in_system_by_stream[s].set(now, self.live_by_stream[s] as f64);
    }

    /// The queue holds `queue` tasks and the system `live` tasks from `now` on.
    #[inline]
    pub fn levels(&mut self, now: SimTime, queue: usize, live: usize) {
        self.queue.set(now, queue as f64);
        self.in_system.set(now, live as f64);
        self.series.levels(now, queue as f64, live as f64);
    }

    /// Closes every open interval at `end`.
    pub fn close(&mut self, end: SimTime) {
        for a in 0..self.busy_since.len() as u32 {
            self.idle(a, end, WorkKind::Labeling, false);
            self.off_shift(a, end);
        }
    }
}
