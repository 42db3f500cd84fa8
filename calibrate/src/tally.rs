//! One pass over a trace: what fitting and checking need, kept as running sums (memory follows
//! the tasks and leases open at a time and the number of annotators, never the trace's length).

use crate::agreement::{Sample, Vote};
use crate::prelabels::{ModelEvent, PrelabelAnswer, PrelabelTally, DIFFICULTY_NODES, MAX_EPOCHS, MAX_MODEL_EVENTS};
use crate::trace::{for_each_line, Line, TraceError};
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;
use std::io::BufRead;
use tessera_engine::metrics::quantiles::Quantiles;

/// µs per hour.
pub const US_PER_H: i64 = 3_600_000_000;
/// Hours in a week.
pub const WEEK_H: usize = 168;
/// At most this many distinct labels per stream are remembered (the scenario schema's classes).
const MAX_CLASSES: usize = 1024;
/// An expired lease is forgotten this many timeouts after it was handed out: a later answer
/// still counts as late, but its handling time is no longer known.
const LATE_HORIZON: i64 = 20;

/// The pool an annotator's trace name says: "pool/n" in simulated traces; otherwise every
/// annotator is in one pool, [`ONE_POOL`].
pub fn pool_of(name: &str) -> &str {
    match name.rsplit_once('/') {
        Some((pool, n)) if !pool.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && !n.is_empty() => pool,
        _ => ONE_POOL,
    }
}

/// The pool of annotators whose names say none (live traces).
pub const ONE_POOL: &str = "annotators";

/// The hour of the week (Monday 00:00 = 0) of a Unix time in µs, shifted by a UTC offset [s].
pub fn hour_of_week(t_us: i64, utc_offset_s: i64) -> usize {
    // 1970-01-01 was a Thursday: hour 72 of its Monday-first week.
    let h = (t_us + utc_offset_s * 1_000_000).div_euclid(US_PER_H);
    (h + 72).rem_euclid(WEEK_H as i64) as usize
}

/// The largest |t_us| read [µs]: about the year 5138. A later time is not an operation's.
pub const MAX_T_US: i64 = 100_000_000_000_000_000;

/// Adds `w` × the hours of [from, to) that fall in each of `out.len()` equal parts of the week
/// (`width` µs each; `index` gives a time's part) to `out`, in O(parts) however long the span.
fn spread(out: &mut [f64], from: i64, to: i64, width: i64, off_us: i64, w: f64, index: impl Fn(i64) -> usize) {
    let week = width * out.len() as i64;
    let mut t = from;
    if to - t > week {
        let full = (to - t) / week;
        let h = full as f64 * width as f64 / US_PER_H as f64 * w;
        out.iter_mut().for_each(|x| *x += h);
        t += full * week;
    }
    while t < to {
        let end = (((t + off_us).div_euclid(width) + 1) * width - off_us).min(to);
        out[index(t)] += (end - t) as f64 / US_PER_H as f64 * w;
        t = end;
    }
}

/// Sufficient statistics of a sample of positive values.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Moments {
    pub n: u64,
    pub sum: f64,
    pub sum_ln: f64,
    pub sum_ln2: f64,
    pub min: f64,
    pub max: f64,
}

impl Moments {
    pub fn add(&mut self, x: f64) {
        let x = x.max(1e-6);
        let l = x.ln();
        if self.n == 0 {
            self.min = x;
            self.max = x;
        }
        self.n += 1;
        self.sum += x;
        self.sum_ln += l;
        self.sum_ln2 += l * l;
        self.min = self.min.min(x);
        self.max = self.max.max(x);
    }
    pub fn merge(&mut self, o: &Moments) {
        if o.n == 0 {
            return;
        }
        if self.n == 0 {
            *self = *o;
            return;
        }
        self.n += o.n;
        self.sum += o.sum;
        self.sum_ln += o.sum_ln;
        self.sum_ln2 += o.sum_ln2;
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
    }
    pub fn mean(&self) -> f64 {
        self.sum / self.n.max(1) as f64
    }
    pub fn mean_ln(&self) -> f64 {
        self.sum_ln / self.n.max(1) as f64
    }
    /// The moments of every x times exp(c).
    pub fn scaled_ln(&self, c: f64) -> Moments {
        let f = c.exp();
        let n = self.n as f64;
        Moments { n: self.n, sum: self.sum * f, sum_ln: self.sum_ln + n * c, sum_ln2: self.sum_ln2 + 2.0 * c * self.sum_ln + n * c * c, min: self.min * f, max: self.max * f }
    }
    /// Σ (ln x − mean ln x)².
    pub fn ss_ln(&self) -> f64 {
        (self.sum_ln2 - self.sum_ln * self.sum_ln / self.n.max(1) as f64).max(0.0)
    }
}

/// One observation a drift test reads, in trace order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Obs {
    Arrival { stream: u16, t: i64 },
    /// An answer's handling time [s] (labelling or golden work, not pre-labelled, or a review
    /// timed by its stage's skill), by its kind of work (an index into [`Tally::works`]).
    Handled { pool: u16, annotator: u32, work: u16, t: i64, secs: f64 },
    Gold { pool: u16, stream: u16, t: i64, right: bool },
}

/// Slots of the week in which on-shift time is counted (15 minutes each).
pub const SLOTS: usize = 7 * 24 * 4;
/// µs per slot.
pub const US_PER_SLOT: i64 = US_PER_H / 4;

/// The slot of the week (Monday 00:00 = 0) of a Unix time in µs, shifted by a UTC offset [s].
pub fn slot_of_week(t_us: i64, utc_offset_s: i64) -> usize {
    let q = (t_us + utc_offset_s * 1_000_000).div_euclid(US_PER_SLOT);
    (q + 72 * 4).rem_euclid(SLOTS as i64) as usize
}

/// Handling times in one bin of experience or of hours on shift: count, Σ of the bin's variable,
/// Σ ln t, Σ ln² t.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Bin {
    pub n: f64,
    pub sum_x: f64,
    pub sum_ln: f64,
    pub sum_ln2: f64,
    /// The other curve's variable, so that each curve is fitted with the other taken out: in an
    /// experience bin, Σ hours on shift (over `n_other` answers that know it); in an
    /// hours-on-shift bin, Σ 2^(−experience / h) for each half-life h of [`HALF_LIVES`].
    pub n_other: f64,
    pub sum_hours: f64,
    pub decay: [f64; HALF_LIVES.len()],
}

/// The half-lives [items] a learning curve is fitted over.
pub const HALF_LIVES: [f64; 15] = [10.0, 15.0, 20.0, 30.0, 50.0, 75.0, 100.0, 150.0, 200.0, 300.0, 500.0, 750.0, 1000.0, 1500.0, 2000.0];

impl Bin {
    fn add(&mut self, x: f64, secs: f64) {
        let l = secs.max(1e-6).ln();
        self.n += 1.0;
        self.sum_x += x;
        self.sum_ln += l;
        self.sum_ln2 += l * l;
    }

    pub fn merge(&mut self, o: &Bin) {
        self.n += o.n;
        self.sum_x += o.sum_x;
        self.sum_ln += o.sum_ln;
        self.sum_ln2 += o.sum_ln2;
        self.n_other += o.n_other;
        self.sum_hours += o.sum_hours;
        for (a, b) in self.decay.iter_mut().zip(&o.decay) {
            *a += b;
        }
    }
}

/// Bins of experience: answers done before, 0, 1, 2–3, 4–7, … (powers of two), at most 20.
pub const EXPERIENCE_BINS: usize = 20;
/// Bins of hours on shift: half an hour each, up to 16 hours.
pub const SHIFT_BINS: usize = 32;

/// What a handling time is of: a stream's work of one task type (an assign line's `task_type`:
/// its stage's skill, or the stream's; None in traces written before assign lines said it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkKind {
    pub stream: u16,
    pub task_type: Option<String>,
}

/// The most kinds of work a trace may hold (streams × the task types of their stages).
pub const MAX_WORK_KINDS: usize = 4096;

/// The index of a label name in a stream's list, added when new (None past [`MAX_CLASSES`]).
fn label_index(names: &mut Vec<String>, label: &str) -> Option<u16> {
    match names.iter().position(|x| x == label) {
        Some(i) => Some(i as u16),
        None if names.len() < MAX_CLASSES => {
            names.push(label.to_string());
            Some((names.len() - 1) as u16)
        }
        None => None,
    }
}

/// The kind of work of a review timed by the review law (`quality.review.service`).
const REVIEW_LAW: u16 = u16::MAX;

/// One annotator: handling times of their own labels (golden ones included) per kind of work
/// (an index into [`Tally::works`]), and golden answers per stream (answers, right).
#[derive(Clone, Debug, Default)]
pub struct AnnotatorTally {
    pub name: String,
    pub service: BTreeMap<u16, Moments>,
    /// Handling times of review work (lease to verdict).
    pub review: Moments,
    pub gold: BTreeMap<u16, (u64, u64)>,
    /// On shift since [µs], while on shift.
    pub on_since: Option<i64>,
    /// Answers given so far (experience counted from the trace's start).
    pub done: u64,
    /// Per kind of work: handling times by experience and by hours on shift (learning and
    /// fatigue).
    pub by_experience: BTreeMap<u16, Vec<Bin>>,
    pub by_shift_hour: BTreeMap<u16, Vec<Bin>>,
}

/// One pool.
#[derive(Clone, Debug, Default)]
pub struct PoolTally {
    pub name: String,
    pub annotators: Vec<AnnotatorTally>,
    /// Leases handed out (labelling, golden and review work).
    pub assignments: u64,
    /// Leases that expired, answers that came after their lease expired, leases returned or skipped.
    pub expired: u64,
    pub late_after_expiry: u64,
    pub returned: u64,
    pub skipped: u64,
    /// [s] from a lease to its expiry, or to its return (a live walk-away).
    pub timeout: Moments,
    pub off_shift: u64,
    /// [annotator·h] on shift in each 15-minute slot of the week.
    pub on_shift_area: Vec<f64>,
    /// Review answers (their handling times are not fitted yet).
    pub reviews: u64,
}

/// One stream.
#[derive(Clone, Debug)]
pub struct StreamTally {
    pub name: String,
    pub arrivals: u64,
    /// Arrivals per hour of the week.
    pub by_hour: Vec<u64>,
    /// Distinct instants at which tasks arrived, the first and the last.
    pub instants: u64,
    pub first_instant: i64,
    pub last_instant: i64,
    last_arrival: Option<i64>,
    /// Label names seen (answers, golden expectations, finals).
    pub classes: std::collections::BTreeSet<String>,
    /// Labelling answers' label names in the order first seen (a [`Vote`]'s label indexes it).
    pub label_names: Vec<String>,
    /// Tasks that left unserved, and the time [s] tasks spent waiting for their first lease
    /// (those that got one, left, or were still waiting at the end): queue patience's exposure.
    pub left: u64,
    pub exposure_s: f64,
    /// The same waits binned, each ended by leaving or cut short (patience's family).
    pub waits: crate::patience::Waits,
    /// First finals, their time in system [s].
    pub finals: u64,
    pub time_in_system: Quantiles,
    pub prelabelled: u64,
    /// Its pre-labels: confidences, latency, people's answers on them.
    pub prelabels: PrelabelTally,
    /// The task type the trace's arrive lines give.
    pub task_type: Option<String>,
}

impl StreamTally {
    fn new(name: &str) -> Self {
        StreamTally {
            name: name.to_string(),
            arrivals: 0,
            by_hour: vec![0; WEEK_H],
            instants: 0,
            first_instant: 0,
            last_instant: 0,
            last_arrival: None,
            classes: Default::default(),
            label_names: vec![],
            left: 0,
            exposure_s: 0.0,
            waits: Default::default(),
            finals: 0,
            time_in_system: Quantiles::default(),
            prelabelled: 0,
            prelabels: PrelabelTally::default(),
            task_type: None,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Open {
    t: i64,
    pool: u16,
    annotator: u32,
    stream: u16,
    /// Its kind of work (an index into [`Tally::works`]; [`REVIEW_LAW`] for a review without a
    /// skill of its own).
    work: u16,
    gold: bool,
    review: bool,
    prelabelled: bool,
    /// [µs] from the lease to its expiry, once it expired.
    expired_after: Option<i64>,
    /// Handed out before the end of the skipped start: in no figure.
    before: bool,
}

#[derive(Clone, Debug)]
struct TaskState {
    arrive: i64,
    stream: u16,
    started: bool,
    prelabelled: bool,
    /// Its latest pre-label: the label's index in its stream's label names, the confidence, and
    /// the model epoch that made it.
    pre: Option<(u16, f32, u8)>,
    /// Sent back by a review: its later answers were chosen by the verdict.
    reworked: bool,
    finalled: bool,
    /// Arrived before the end of the skipped start: in no figure.
    before: bool,
    /// Its labelling answers so far (not pre-labelled), for accuracy from agreement.
    votes: Vec<Vote>,
}

/// How annotators form pools.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// The part of a simulated annotator's name before "/n"; a live trace's people are one pool.
    #[default]
    Name,
    /// A live trace's join events: the person's declared group, else the task types they
    /// declared (sorted, joined by "+"), else one pool (no skills declared: every task type);
    /// a person whose join the trace does not hold is in that one pool. Written as scenario
    /// names: characters other than letters, digits, '_' and '-' become '_'.
    Skills,
    /// Each person a pool of one.
    Annotator,
}

/// A name a scenario can hold: letters, digits, '_' and '-' kept, anything else '_'.
fn scenario_name(s: &str) -> String {
    let out: String = s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).take(64).collect();
    if out.is_empty() { "_".into() } else { out }
}

/// How to read a trace.
#[derive(Clone, Debug, Default)]
pub struct ReadOptions {
    /// The replication to read (default: the first in the file).
    pub replication: Option<u32>,
    /// The operation's offset from UTC [s] (hour-of-week profiles are in its local time); None
    /// takes the trace header's (`utc_offset_s`), else UTC.
    pub utc_offset_s: Option<i64>,
    /// Simulated seconds per second of a rehearsal (`tessera loadgen --speedup`): the trace's
    /// times are stretched by it from its first event, which is taken as a Monday 00:00 (as
    /// loadgen's simulated clock starts); None for a real operation or a simulation.
    pub speedup: Option<f64>,
    /// [µs] of the trace's start left out of every figure (a warm-up: a rehearsal's first
    /// minutes, or a live trace that starts mid-operation); the state it leaves (open tasks and
    /// leases, people's experience and shifts) carries on, and tasks and leases open at its end
    /// count in no figure.
    pub skip_us: i64,
    /// How annotators form pools.
    pub group_by: GroupBy,
    /// Keep no sample of labelling answers (accuracy from agreement): a drift watch or
    /// `--check`'s simulated traces do not fit accuracy, and a watch runs for as long as a server.
    pub skip_agreement: bool,
}

/// Monday 2024-01-01 00:00 UTC [µs since the Unix epoch]: a rehearsal's time zero.
pub const REHEARSAL_EPOCH_US: i64 = 1_704_067_200_000_000;

/// A tally being fed one line at a time (a file, or a simulation's trace sink).
pub struct Feed {
    tally: Tally,
    offset_given: bool,
    wanted: Option<u32>,
    header_seen: bool,
    in_replication: bool,
}

impl Feed {
    pub fn new(origin: &str, opts: &ReadOptions) -> Feed {
        Feed {
            offset_given: opts.utc_offset_s.is_some(),
            tally: Tally { origin: origin.to_string(), utc_offset_s: if opts.speedup.is_some() { 0 } else { opts.utc_offset_s.unwrap_or(0) }, speedup: opts.speedup, skip_us: opts.skip_us.max(0), skip_done: opts.skip_us <= 0, waiting_area: vec![0.0; WEEK_H], group_by: opts.group_by, keep_votes: !opts.skip_agreement, ..Default::default() },
            wanted: opts.replication,
            header_seen: false,
            in_replication: false,
        }
    }

    /// One line, numbered `n` for errors.
    pub fn line(&mut self, n: u64, line: Line) -> Result<(), TraceError> {
        let t = &mut self.tally;
        let origin = t.origin.clone();
        if let Some(schema) = &line.schema {
            if !schema.starts_with("tessera.trace/") {
                return Err(TraceError::line(&origin, n, format!("schema {schema:?} is not a Tessera trace (tessera.trace/2)")));
            }
            if line.v != Some(2) {
                return Err(TraceError::line(&origin, n, format!("trace version {:?}: this build reads version 2", line.v)));
            }
            let r = line.replication.unwrap_or(0);
            // The wanted replication, or the first one in the file.
            let take = match self.wanted {
                Some(w) => w == r,
                None => !self.header_seen,
            };
            self.in_replication = take;
            if take {
                t.replication = r;
                t.scenario = line.scenario.clone();
                t.seed = line.seed;
                t.clock = line.clock.clone().unwrap_or_default();
                if let (false, Some(off)) = (self.offset_given, line.utc_offset_s.filter(|o| o.abs() <= 14 * 3600)) {
                    t.utc_offset_s = off;
                }
                if t.speedup.is_none() {
                    if let Some(k) = line.speedup.filter(|k| k.is_finite() && *k > 0.0 && *k <= 1e6) {
                        // A rehearsal server whose clock ran at its pace wrote the scenario's
                        // own times: aligned to a Monday 00:00, not stretched.
                        t.speedup = Some(if t.clock == "rehearsal" { 1.0 } else { k });
                        t.utc_offset_s = 0;
                    }
                }
                if t.clock == "simulated" && t.speedup.is_none() {
                    t.start_us = line.epoch_unix_us.unwrap_or(0).clamp(-MAX_T_US, MAX_T_US);
                    t.last_t = Some(t.start_us);
                }
            }
            self.header_seen = true;
            return Ok(());
        }
        if !self.header_seen {
            return Err(TraceError::line(&origin, n, "an event before the trace's header line (the first line must be {\"schema\":\"tessera.trace/2\",...})"));
        }
        if !self.in_replication {
            return Ok(());
        }
        t.event(n, line).map_err(|m| TraceError::line(&origin, n, m))
    }

    /// Pushes each event's observations to [`Feed::drain`] (drift tests).
    pub fn observe(&mut self) {
        self.tally.observe = true;
    }

    /// The observations of the lines fed since the last call.
    pub fn drain(&mut self) -> std::vec::Drain<'_, Obs> {
        self.tally.obs.drain(..)
    }

    /// The tally so far (names of streams and pools, the span).
    pub fn tally(&self) -> &Tally {
        &self.tally
    }

    /// The end of the trace.
    pub fn finish(mut self) -> Result<Tally, TraceError> {
        let origin = self.tally.origin.clone();
        if !self.header_seen {
            return Err(TraceError::File { origin, message: "no header line: not a Tessera trace".into() });
        }
        if !self.tally.skip_done {
            return Err(TraceError::File { origin, message: format!("--skip {:.1} h is as long as the trace or longer: nothing is left to fit", self.tally.skip_us as f64 / US_PER_H as f64) });
        }
        if self.tally.events == 0 {
            let which = self.wanted.map_or("its first replication".to_string(), |r| format!("replication {r}"));
            return Err(TraceError::File { origin, message: format!("no events in {which}") });
        }
        self.tally.finish();
        Ok(self.tally)
    }
}

/// Everything one pass over a trace keeps.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    pub origin: String,
    pub scenario: Option<String>,
    pub clock: String,
    pub replication: u32,
    pub seed: Option<u64>,
    pub utc_offset_s: i64,
    /// How much a rehearsal's times are stretched (its speed-up when the server ran on the wall
    /// clock; 1 when its clock ran at the rehearsal's pace, header clock "rehearsal"), and the
    /// trace's own time of its first event.
    pub speedup: Option<f64>,
    rehearsal_origin: Option<i64>,
    /// [µs] to leave out from the start, and whether that is done.
    skip_us: i64,
    skip_done: bool,
    /// [µs since the Unix epoch] the span the trace covers.
    pub start_us: i64,
    pub end_us: i64,
    pub events: u64,
    pub streams: Vec<StreamTally>,
    /// Models' retrain and model_ready lines (the first [`MAX_MODEL_EVENTS`]), and the count of
    /// model_ready lines so far (pre-labels are counted by it: a model's epoch).
    pub model_events: Vec<ModelEvent>,
    readies: usize,
    /// The kinds of work handling times are kept by, in order of first sight.
    pub works: Vec<WorkKind>,
    pub pools: Vec<PoolTally>,
    /// Time-weighted number of tasks waiting for their first lease, per hour of the week
    /// [task·h], and the hours of each hour of the week the trace covers.
    pub waiting_area: Vec<f64>,
    /// Answers whose lease the trace never showed (or that ran backwards): not used.
    pub unmatched: u64,
    /// Answers (labelling and golden) and golden answers per pool and hour of the week.
    pub answers_by_hour: Vec<Vec<u64>>,
    pub gold_by_hour: Vec<Vec<u64>>,
    /// Tasks with their labelling answers, a bounded sample (accuracy from agreement), kept
    /// unless `ReadOptions::skip_agreement`.
    pub agreement: Sample,
    keep_votes: bool,
    /// When set, each event's observations are pushed to `obs` for a reader to drain.
    pub observe: bool,
    pub obs: Vec<Obs>,
    stream_ix: FxHashMap<String, u16>,
    pub group_by: GroupBy,
    /// The pool each person's join event declared (`GroupBy::Skills`).
    declared: FxHashMap<String, String>,
    annotator_ix: FxHashMap<String, (u16, u32)>,
    open: FxHashMap<u64, Open>,
    tasks: FxHashMap<u64, TaskState>,
    waiting: u64,
    last_t: Option<i64>,
    longest_timeout: i64,
}

impl Tally {
    /// [µs] where the figures start (the end of a skipped start), once the trace is past it.
    pub fn figures_from(&self) -> Option<i64> {
        (self.skip_done && self.last_t.is_some()).then_some(self.start_us)
    }

    /// A time of the trace's own clock in the tally's frame (a rehearsal's stretched back by its
    /// speed-up); None for a rehearsal before its first event.
    pub fn frame_time(&self, raw_us: i64) -> Option<i64> {
        match self.speedup {
            None => Some(raw_us),
            Some(k) => self.rehearsal_origin.map(|o| REHEARSAL_EPOCH_US + ((raw_us - o) as f64 * k).clamp(-(MAX_T_US as f64), MAX_T_US as f64).round() as i64),
        }
    }

    /// Reads a whole trace.
    pub fn read(reader: impl BufRead, origin: &str, opts: &ReadOptions) -> Result<Tally, TraceError> {
        let mut feed = Feed::new(origin, opts);
        for_each_line(reader, origin, |n, line| feed.line(n, line))?;
        feed.finish()
    }

    fn stream(&mut self, name: &str) -> u16 {
        if let Some(&i) = self.stream_ix.get(name) {
            return i;
        }
        let i = self.streams.len() as u16;
        self.streams.push(StreamTally::new(name));
        self.stream_ix.insert(name.to_string(), i);
        i
    }

    /// The kind of work of stream `stream` and task type `task_type`.
    fn work(&mut self, stream: u16, task_type: Option<&str>) -> Result<u16, String> {
        if let Some(i) = self.works.iter().position(|w| w.stream == stream && w.task_type.as_deref() == task_type) {
            return Ok(i as u16);
        }
        if self.works.len() >= MAX_WORK_KINDS {
            return Err(format!("more than {MAX_WORK_KINDS} (stream, task type) pairs on assign lines: not a trace of one operation"));
        }
        self.works.push(WorkKind { stream, task_type: task_type.map(str::to_string) });
        Ok((self.works.len() - 1) as u16)
    }

    /// The task type of a kind of work: the one its assign lines gave, else its stream's (arrive
    /// lines).
    pub fn work_type(&self, work: u16) -> Option<&str> {
        let w = self.works.get(work as usize)?;
        w.task_type.as_deref().or_else(|| self.streams.get(w.stream as usize)?.task_type.as_deref())
    }

    fn annotator(&mut self, name: &str) -> (u16, u32) {
        if let Some(&i) = self.annotator_ix.get(name) {
            return i;
        }
        let own;
        let pool = match self.group_by {
            GroupBy::Name => pool_of(name),
            GroupBy::Skills => self.declared.get(name).map_or(ONE_POOL, String::as_str),
            GroupBy::Annotator => {
                own = scenario_name(name);
                own.as_str()
            }
        };
        let p = match self.pools.iter().position(|p| p.name == pool) {
            Some(p) => p,
            None => {
                self.pools.push(PoolTally { name: pool.to_string(), on_shift_area: vec![0.0; SLOTS], ..Default::default() });
                self.answers_by_hour.push(vec![0; WEEK_H]);
                self.gold_by_hour.push(vec![0; WEEK_H]);
                self.pools.len() - 1
            }
        };
        let a = self.pools[p].annotators.len() as u32;
        self.pools[p].annotators.push(AnnotatorTally { name: name.to_string(), ..Default::default() });
        self.annotator_ix.insert(name.to_string(), (p as u16, a));
        (p as u16, a)
    }

    /// Moves the clock to `t`, adding the waiting tasks' time to each hour of the week.
    fn advance(&mut self, t: i64) {
        let Some(from) = self.last_t else {
            self.last_t = Some(t);
            self.start_us = t;
            return;
        };
        if t <= from {
            return;
        }
        if self.waiting > 0 {
            let off = self.utc_offset_s;
            spread(&mut self.waiting_area, from, t, US_PER_H, off * 1_000_000, self.waiting as f64, |x| hour_of_week(x, off));
        }
        self.last_t = Some(t);
    }

    fn event(&mut self, _n: u64, l: Line) -> Result<(), String> {
        let mut t = l.t_us.ok_or("an event without t_us")?;
        if !(-MAX_T_US..=MAX_T_US).contains(&t) {
            return Err(format!("t_us {t} is not a time (at most ±{MAX_T_US} µs from 1970)"));
        }
        if let Some(k) = self.speedup {
            let origin = *self.rehearsal_origin.get_or_insert(t);
            let stretched = (t - origin) as f64 * k;
            if stretched.abs() > MAX_T_US as f64 {
                return Err(format!("t_us {t} stretched by the speed-up {k} is not a time"));
            }
            t = REHEARSAL_EPOCH_US + stretched.round() as i64;
        }
        let event = l.event.as_deref().ok_or("a line without \"event\" (nor \"schema\")")?;
        if !self.skip_done && self.last_t.is_some() && t >= self.start_us + self.skip_us {
            let at = self.start_us + self.skip_us;
            self.advance(at);
            self.restart(at);
        }
        self.advance(t);
        self.events += 1;
        if self.events % (1 << 20) == 0 {
            self.forget_expired(t);
        }
        let need = |f: Option<&str>, name: &str| f.map(str::to_string).ok_or_else(|| format!("a \"{event}\" event without \"{name}\""));
        match event {
            "arrive" => {
                let s = self.stream(&need(l.stream.as_deref(), "stream")?);
                let task = l.task.ok_or("an arrive event without \"task\"")?;
                let st = &mut self.streams[s as usize];
                if st.task_type.is_none() {
                    st.task_type = l.task_type.clone();
                }
                st.arrivals += 1;
                st.by_hour[hour_of_week(t, self.utc_offset_s)] += 1;
                if st.last_arrival != Some(t) {
                    if st.instants == 0 {
                        st.first_instant = t;
                    }
                    st.instants += 1;
                    st.last_instant = t;
                }
                st.last_arrival = Some(t);
                if self.observe {
                    self.obs.push(Obs::Arrival { stream: s, t });
                }
                if self.tasks.insert(task, TaskState { arrive: t, stream: s, started: false, prelabelled: false, pre: None, reworked: false, finalled: false, before: false, votes: vec![] }).is_none() {
                    self.waiting += 1;
                }
            }
            "prelabel" => {
                if let Some(task) = l.task.and_then(|k| self.tasks.get_mut(&k)) {
                    let st = &mut self.streams[task.stream as usize];
                    if !task.prelabelled {
                        task.prelabelled = true;
                        st.prelabelled += 1;
                        if !task.started && !task.before {
                            st.prelabels.latency.add((t - task.arrive).max(0) as f64 / 1e6);
                        }
                    }
                    if let Some(c) = l.confidence.filter(|c| c.is_finite()) {
                        if !task.before {
                            st.prelabels.add_confidence(self.readies, c);
                        }
                        let label = l.label.as_deref().and_then(|x| label_index(&mut st.label_names, x));
                        task.pre = label.map(|i| (i, c.clamp(0.0, 1.0), self.readies.min(MAX_EPOCHS - 1) as u8));
                    }
                }
            }
            "rework" => {
                if let Some(task) = l.task.and_then(|k| self.tasks.get_mut(&k)) {
                    task.reworked = true;
                }
            }
            "retrain" | "model_ready" => {
                let ready = event == "model_ready";
                if ready {
                    self.readies += 1;
                }
                if let Some(model) = l.model.as_deref() {
                    if self.model_events.len() < MAX_MODEL_EVENTS {
                        self.model_events.push(ModelEvent { model: model.to_string(), t, ready, labels: l.labels, accuracy: l.accuracy.filter(|a| a.is_finite()) });
                    }
                }
            }
            "join" => {
                if self.group_by == GroupBy::Skills {
                    let name = need(l.annotator.as_deref(), "annotator")?;
                    let mut skills: Vec<String> = l.skills.clone().unwrap_or_default();
                    skills.sort();
                    skills.dedup();
                    let pool = match (&l.group, skills.is_empty()) {
                        (Some(g), _) if !g.is_empty() => scenario_name(g),
                        (_, false) => scenario_name(&skills.join("+")),
                        _ => ONE_POOL.to_string(),
                    };
                    if self.declared.len() < 1 << 20 || self.declared.contains_key(&name) {
                        self.declared.insert(name, pool);
                    }
                }
            }
            "on_shift" => {
                let (p, a) = self.annotator(&need(l.annotator.as_deref(), "annotator")?);
                let ann = &mut self.pools[p as usize].annotators[a as usize];
                if ann.on_since.is_none() {
                    ann.on_since = Some(t);
                }
            }
            "off_shift" => {
                let (p, a) = self.annotator(&need(l.annotator.as_deref(), "annotator")?);
                self.pools[p as usize].off_shift += 1;
                if let Some(since) = self.pools[p as usize].annotators[a as usize].on_since.take() {
                    self.add_on_shift(p as usize, since, t);
                }
            }
            "assign" => {
                let (p, a) = self.annotator(&need(l.annotator.as_deref(), "annotator")?);
                let s = self.stream(&need(l.stream.as_deref(), "stream")?);
                let assignment = l.assignment.ok_or("an assign event without \"assignment\"")?;
                let work = l.work.as_deref().unwrap_or("labelling");
                let mut prelabelled = false;
                if work == "labelling" {
                    if let Some(task) = l.task.and_then(|k| self.tasks.get_mut(&k)) {
                        prelabelled = task.prelabelled;
                        if !task.started {
                            task.started = true;
                            let waited = (t - task.arrive).max(0) as f64 / 1e6;
                            let stream = task.stream as usize;
                            if !task.before {
                                self.streams[stream].exposure_s += waited;
                                self.streams[stream].waits.add(waited, false);
                                self.waiting = self.waiting.saturating_sub(1);
                            }
                        }
                    }
                }
                self.pools[p as usize].assignments += 1;
                // A review is timed by the review law unless its stage names a skill.
                let kind = if work == "review" && l.task_type.is_none() { REVIEW_LAW } else { self.work(s, l.task_type.as_deref())? };
                let open = Open { t, pool: p, annotator: a, stream: s, work: kind, gold: work == "gold", review: work == "review", prelabelled, expired_after: None, before: false };
                self.open.insert(assignment, open);
            }
            "label" | "gold" | "review" => {
                if let (Some(label), Some(s)) = (l.label.as_deref(), l.stream.as_deref()) {
                    let s = self.stream(s);
                    let classes = &mut self.streams[s as usize].classes;
                    if classes.len() < MAX_CLASSES {
                        classes.insert(label.to_string());
                    }
                }
                let Some(open) = l.assignment.and_then(|a| self.open.remove(&a)) else {
                    self.unmatched += 1;
                    return Ok(());
                };
                let pool = &mut self.pools[open.pool as usize];
                if open.expired_after.is_some() && !open.before {
                    pool.late_after_expiry += 1;
                }
                // Experience counts the labelling and golden answers before this one (as a
                // person's learning curve does; reviews are not items done).
                let done_before = pool.annotators[open.annotator as usize].done;
                let reviewed = event == "review" || open.review;
                if !reviewed {
                    pool.annotators[open.annotator as usize].done = done_before + 1;
                }
                if t < open.t {
                    self.unmatched += 1;
                    return Ok(());
                }
                if open.before {
                    return Ok(());
                }
                if reviewed && !(open.review && open.work != REVIEW_LAW) {
                    pool.reviews += 1;
                    pool.annotators[open.annotator as usize].review.add((t - open.t) as f64 / 1e6);
                    // A review of a pre-labelled item: its pre-label's confidence says how hard
                    // the item is (reviews routed on confidence see the hard or the easy ones).
                    if let Some(task) = l.task.and_then(|k| self.tasks.get(&k)) {
                        if let Some((_, confidence, epoch)) = task.pre {
                            self.streams[task.stream as usize].prelabels.add_review(epoch as usize, confidence);
                        }
                    }
                    return Ok(());
                }
                let secs = (t - open.t) as f64 / 1e6;
                if reviewed {
                    // A review timed by its stage's skill: a handling time of that work, not an
                    // item done (no learning or fatigue bin).
                    pool.annotators[open.annotator as usize].service.entry(open.work).or_default().add(secs);
                    if self.observe {
                        self.obs.push(Obs::Handled { pool: open.pool, annotator: open.annotator, work: open.work, t, secs });
                    }
                    return Ok(());
                }
                let ann = &mut pool.annotators[open.annotator as usize];
                let how = hour_of_week(t, self.utc_offset_s);
                if !open.prelabelled {
                    ann.service.entry(open.work).or_default().add(secs);
                    let x = done_before as f64;
                    let b = ((done_before + 1) as f64).log2().floor() as usize;
                    // Hours on shift when the work was handed out.
                    let hours = ann.on_since.map(|since| (open.t - since).max(0) as f64 / US_PER_H as f64);
                    let eb = &mut ann.by_experience.entry(open.work).or_insert_with(|| vec![Bin::default(); EXPERIENCE_BINS])[b.min(EXPERIENCE_BINS - 1)];
                    eb.add(x, secs);
                    if let Some(h) = hours {
                        eb.n_other += 1.0;
                        eb.sum_hours += h;
                        let sb = &mut ann.by_shift_hour.entry(open.work).or_insert_with(|| vec![Bin::default(); SHIFT_BINS])[((h * 2.0) as usize).min(SHIFT_BINS - 1)];
                        sb.add(h, secs);
                        sb.n_other += 1.0;
                        for (d, half) in sb.decay.iter_mut().zip(HALF_LIVES) {
                            *d += (-x / half).exp2();
                        }
                    }
                    self.answers_by_hour[open.pool as usize][how] += 1;
                    if self.observe {
                        self.obs.push(Obs::Handled { pool: open.pool, annotator: open.annotator, work: open.work, t, secs });
                    }
                    if self.keep_votes && event == "label" && !open.gold {
                        if let (Some(label), Some(task)) = (l.label.as_deref(), l.task.and_then(|k| self.tasks.get_mut(&k))) {
                            if let Some(i) = label_index(&mut self.streams[task.stream as usize].label_names, label) {
                                task.votes.push(Vote { pool: open.pool, label: i, annotator: open.annotator });
                            }
                        }
                    }
                } else if event == "label" && !open.gold {
                    // An answer on a pre-labelled item: its time, the pre-label's confidence,
                    // whether it kept the pre-label's label, and the person's hours on shift
                    // when the work was handed out.
                    let hours = ann.on_since.map_or(f32::NAN, |since| ((open.t - since).max(0) as f64 / US_PER_H as f64) as f32);
                    if let (Some(label), Some(assignment), Some(task)) = (l.label.as_deref(), l.assignment, l.task.and_then(|k| self.tasks.get(&k))) {
                        // After a rework the verdict chose the item (a rejected pre-label is
                        // likely wrong whatever its confidence): not the model's law.
                        if let Some((pre, confidence, epoch)) = task.pre.filter(|_| !task.reworked) {
                            let st = &mut self.streams[task.stream as usize];
                            let kept = st.label_names.get(pre as usize).is_some_and(|x| x == label);
                            st.prelabels.offer(assignment, PrelabelAnswer { pool: open.pool, annotator: open.annotator, ln_secs: secs.max(1e-6).ln(), confidence, epoch, kept, experience: done_before.min(u32::MAX as u64) as u32, hours, difficulty: [(0.0, 0.0); DIFFICULTY_NODES] });
                        }
                    }
                }
                if event == "gold" || open.gold {
                    let g = ann.gold.entry(open.stream).or_default();
                    let right = l.right == Some(true);
                    g.0 += 1;
                    g.1 += u64::from(right);
                    self.gold_by_hour[open.pool as usize][how] += 1;
                    if self.observe {
                        self.obs.push(Obs::Gold { pool: open.pool, stream: open.stream, t, right });
                    }
                }
            }
            "lease_closed" => {
                let Some(assignment) = l.assignment else { return Ok(()) };
                match l.outcome.as_deref() {
                    Some("expired") => {
                        if let Some(open) = self.open.get_mut(&assignment) {
                            let after = (t - open.t).max(0);
                            open.expired_after = Some(after);
                            if open.before {
                                return Ok(());
                            }
                            let pool = &mut self.pools[open.pool as usize];
                            pool.expired += 1;
                            pool.timeout.add(after as f64 / 1e6);
                            self.longest_timeout = self.longest_timeout.max(after);
                        }
                    }
                    Some(how @ ("returned" | "skipped")) => {
                        if let Some(open) = self.open.remove(&assignment).filter(|o| !o.before) {
                            let pool = &mut self.pools[open.pool as usize];
                            if how == "returned" {
                                // A live walk-away: the person gives the lease back.
                                pool.returned += 1;
                                pool.timeout.add((t - open.t).max(0) as f64 / 1e6);
                            } else {
                                pool.skipped += 1;
                            }
                        }
                    }
                    _ => {}
                }
            }
            "left_unserved" => {
                if let Some(task) = l.task.and_then(|k| self.tasks.remove(&k)) {
                    if !task.started && !task.before {
                        self.waiting = self.waiting.saturating_sub(1);
                    }
                    if !task.before {
                        let st = &mut self.streams[task.stream as usize];
                        st.left += 1;
                        if !task.started {
                            let waited = (t - task.arrive).max(0) as f64 / 1e6;
                            st.exposure_s += waited;
                            st.waits.add(waited, true);
                        }
                    }
                }
            }
            "final" => {
                if let Some(task) = l.task.and_then(|k| self.tasks.get_mut(&k)) {
                    if !task.finalled && !task.before {
                        task.finalled = true;
                        let st = &mut self.streams[task.stream as usize];
                        st.finals += 1;
                        st.time_in_system.add((t - task.arrive).max(0) as f64 / 1e6);
                    }
                }
            }
            "settled" => {
                if let Some((id, mut task)) = l.task.and_then(|k| self.tasks.remove_entry(&k)) {
                    self.agreement.offer(id, task.stream, std::mem::take(&mut task.votes));
                    if !task.started && !task.before {
                        self.waiting = self.waiting.saturating_sub(1);
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The end of the skipped start at `at`: every figure so far is dropped; what is open (tasks,
    /// leases) is marked to count in none; people keep their experience and shifts.
    fn restart(&mut self, at: i64) {
        self.skip_done = true;
        for st in &mut self.streams {
            let keep = (std::mem::take(&mut st.classes), st.task_type.take(), std::mem::take(&mut st.label_names));
            *st = StreamTally::new(&st.name);
            (st.classes, st.task_type, st.label_names) = keep;
        }
        for pool in &mut self.pools {
            let annotators = std::mem::take(&mut pool.annotators);
            *pool = PoolTally { name: std::mem::take(&mut pool.name), on_shift_area: vec![0.0; SLOTS], ..Default::default() };
            pool.annotators = annotators
                .into_iter()
                .map(|a| AnnotatorTally { name: a.name, on_since: a.on_since, done: a.done, ..Default::default() })
                .collect();
        }
        for v in self.answers_by_hour.iter_mut().chain(self.gold_by_hour.iter_mut()) {
            v.iter_mut().for_each(|x| *x = 0);
        }
        self.waiting_area.iter_mut().for_each(|x| *x = 0.0);
        self.agreement.clear();
        self.unmatched = 0;
        self.waiting = 0;
        for task in self.tasks.values_mut() {
            task.before = true;
            task.votes.clear();
        }
        for open in self.open.values_mut() {
            open.before = true;
        }
        self.start_us = at;
    }

    /// Counts [from, to) on shift for one of pool `p`'s annotators, slot by slot.
    fn add_on_shift(&mut self, p: usize, from: i64, to: i64) {
        let off = self.utc_offset_s;
        spread(&mut self.pools[p].on_shift_area, from.max(self.start_us), to, US_PER_SLOT, off * 1_000_000, 1.0, |x| slot_of_week(x, off));
    }

    /// Drops expired leases handed out more than [`LATE_HORIZON`] timeouts ago.
    fn forget_expired(&mut self, now: i64) {
        self.open.retain(|_, o| o.expired_after.is_none_or(|after| now - o.t <= LATE_HORIZON * after.max(1)));
    }

    /// The end of the trace: tasks still waiting count their wait so far (censored).
    fn finish(&mut self) {
        self.end_us = self.last_t.unwrap_or(self.start_us);
        let end = self.end_us;
        for p in 0..self.pools.len() {
            for a in 0..self.pools[p].annotators.len() {
                if let Some(since) = self.pools[p].annotators[a].on_since.take() {
                    self.add_on_shift(p, since, end);
                }
            }
        }
        for (id, task) in self.tasks.iter_mut() {
            if !task.started && !task.before {
                let (st, waited) = (&mut self.streams[task.stream as usize], (end - task.arrive).max(0) as f64 / 1e6);
                st.exposure_s += waited;
                st.waits.add(waited, false);
            }
            self.agreement.offer(*id, task.stream, std::mem::take(&mut task.votes));
        }
        self.open.clear();
        self.tasks.clear();
    }

    /// [µs] left out at the trace's start (`ReadOptions::skip_us`).
    pub fn skipped_us(&self) -> i64 {
        self.skip_us
    }

    /// The trace's span [h] (after the part left out).
    pub fn span_h(&self) -> f64 {
        (self.end_us - self.start_us).max(0) as f64 / US_PER_H as f64
    }

    /// Hours of each 15-minute slot of the week that the span covers.
    pub fn exposure_by_slot(&self) -> Vec<f64> {
        self.exposure(US_PER_SLOT, SLOTS, slot_of_week)
    }

    /// Hours of each hour of the week that the span covers.
    pub fn exposure_by_hour(&self) -> Vec<f64> {
        self.exposure(US_PER_H, WEEK_H, hour_of_week)
    }

    /// Hours of each of `n` equal parts of the week (`width` µs each, `index` of a time) covered.
    fn exposure(&self, width: i64, n: usize, index: fn(i64, i64) -> usize) -> Vec<f64> {
        let mut seen = vec![0.0; n];
        let off = self.utc_offset_s;
        spread(&mut seen, self.start_us, self.end_us, width, off * 1_000_000, 1.0, |x| index(x, off));
        seen
    }

    pub fn stream_index(&self, name: &str) -> Option<u16> {
        self.stream_ix.get(name).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelabels::{bin_of, LOGIT_BINS};

    /// A review of a pre-labelled item counts its latest pre-label's confidence, by the model
    /// epoch that made it; a review of an item with no pre-label counts none.
    #[test]
    fn reviews_of_pre_labelled_items_keep_their_confidence() {
        let lines = [
            r#"{"schema":"tessera.trace/2","v":2,"replication":0,"scenario":"s","policy":"fifo","seed":1,"epoch_unix_us":0,"clock":"simulated","utc_offset_s":0}"#,
            r#"{"v":2,"t_us":0,"event":"arrive","task":1,"stream":"images","task_type":"bbox"}"#,
            r#"{"v":2,"t_us":1,"event":"arrive","task":2,"stream":"images","task_type":"bbox"}"#,
            r#"{"v":2,"t_us":2,"event":"prelabel","task":1,"stream":"images","label":"0","confidence":0.3}"#,
            r#"{"v":2,"t_us":3,"event":"model_ready","model":"m","labels":100,"accuracy":0.9}"#,
            r#"{"v":2,"t_us":4,"event":"prelabel","task":1,"stream":"images","label":"1","confidence":0.4}"#,
            r#"{"v":2,"t_us":10,"event":"assign","task":1,"assignment":7,"annotator":"qa/0","stream":"images","stage":"check","work":"review"}"#,
            r#"{"v":2,"t_us":20,"event":"assign","task":2,"assignment":8,"annotator":"qa/1","stream":"images","stage":"check","work":"review"}"#,
            r#"{"v":2,"t_us":4000010,"event":"review","task":1,"assignment":7,"annotator":"qa/0","stream":"images","work":"review","accepted":true}"#,
            r#"{"v":2,"t_us":5000020,"event":"review","task":2,"assignment":8,"annotator":"qa/1","stream":"images","work":"review","accepted":true}"#,
        ];
        let t = Tally::read(lines.join("\n").as_bytes(), "test", &ReadOptions::default()).unwrap();
        let st = &t.streams[t.stream_index("images").unwrap() as usize];
        assert_eq!(t.pools[0].reviews, 2);
        // The latest pre-label (0.4, after the first model_ready: epoch 1), once.
        let counts: Vec<(usize, usize, u32)> = st.prelabels.reviews.iter().enumerate().flat_map(|(e, b)| b.iter().enumerate().filter(|x| *x.1 > 0).map(move |(i, &n)| (e, i, n))).collect();
        assert_eq!(counts, vec![(1, bin_of(0.4), 1)]);
        assert_eq!(st.prelabels.reviews[1].len(), LOGIT_BINS);
    }
}
