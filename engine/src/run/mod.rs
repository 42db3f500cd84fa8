//! Running a scenario: build the actors from a [`Scenario`], run the simulated runtime, and sum
//! up. A run is a pure function of (scenario, router, seed); replications run in parallel and
//! give the same numbers at any thread count.

pub mod bias;
pub mod books;
mod build;
pub mod dispatcher;
pub mod record;
mod replicate;
mod summary;

pub use books::Books;
pub use build::{build, has_review, stage_pools, stages_of, Built, SimActor, StageRow, WAITING_FOR_PARTS};
pub use dispatcher::{CoreLog, Dispatcher};
pub use replicate::{overload_notes, replication_seed, run_replications, run_replications_each, summarize_replications, Keep, SUMMARY_SCHEMA};
pub use summary::{label_hours, Cost, PoolFigures, Spread, StageFigures, StreamFigures, Summary, Utilization};

use crate::dispatch::Router;
use crate::spec::Scenario;
use crate::time::SimTime;
use crate::metrics::series::BinRow;
use record::{RecordSink, TaskRecord, TraceSink};

/// Opens the trace sink of replication r (the caller owns files; the engine does no I/O).
pub type TraceFactory<'a> = &'a (dyn Fn(u32) -> Result<Box<dyn TraceSink>, String> + Sync);
/// Opens the tasks.csv record sink of replication r.
pub type RecordFactory<'a> = &'a (dyn Fn(u32) -> Result<Box<dyn RecordSink>, String> + Sync);

/// What to keep from a run.
#[derive(Clone, Copy)]
pub struct RunOptions<'a> {
    pub seed: u64,
    /// Replication number (written in the trace).
    pub replication: u32,
    /// Keep one record per task in memory (`RunOutput::tasks`; memory grows with the run: for
    /// tests and small tools).
    pub keep_records: bool,
    /// Stream one record per task to this replication's sink (tasks.csv) as tasks settle.
    pub records: Option<RecordFactory<'a>>,
    /// Stream the event trace (schema 2) to this replication's sink.
    pub trace: Option<TraceFactory<'a>>,
    /// Keep every command and effect of the decision core (replay tests).
    pub core_log: bool,
    /// Set from outside (a memory guard, a user's interrupt) to stop the run where it is: it ends
    /// as if its horizon were there, with its figures censored at that instant.
    pub cancel: Option<&'a Cancel>,
    /// Keep figures per period of this many µs (`RunOutput::periods`; a forecast's weeks).
    pub period_us: Option<u64>,
}

/// A request to stop runs early, with the reason to report (first one wins).
#[derive(Debug, Default)]
pub struct Cancel {
    set: std::sync::atomic::AtomicBool,
    reason: std::sync::Mutex<Option<String>>,
}

impl Cancel {
    pub fn cancel(&self, reason: String) {
        let mut r = self.reason.lock().unwrap_or_else(|e| e.into_inner());
        if r.is_none() {
            *r = Some(reason);
        }
        self.set.store(true, std::sync::atomic::Ordering::Release);
    }
    pub fn is_set(&self) -> bool {
        self.set.load(std::sync::atomic::Ordering::Acquire)
    }
    pub fn reason(&self) -> Option<String> {
        self.reason.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// A run that ended before what it was asked to do: where and why.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Stopped {
    pub replication: u32,
    /// Simulated time of the stop [s].
    pub at_s: f64,
    pub reason: String,
}

/// Progress callbacks (one per 2^16 events) at one simulated instant before a run is declared
/// stuck: 2^16 × 1,000 ≈ 65 million events without the clock moving (a batch drop of the largest
/// size takes about 5 million).
const SAME_INSTANT_CALLS: u32 = 1000;

impl RunOptions<'_> {
    /// Figures only: no records, no trace.
    pub fn figures(seed: u64) -> RunOptions<'static> {
        RunOptions { seed, replication: 0, keep_records: false, records: None, trace: None, core_log: false, cancel: None, period_us: None }
    }
}

/// Everything a run produces.
pub struct RunOutput {
    pub summary: Summary,
    pub tasks: Vec<TaskRecord>,
    /// Arrivals, finals, queue and work in progress over time (bounded bins).
    pub series: Vec<BinRow>,
    /// The decision core's commands and effects, when asked for.
    pub core_log: Option<CoreLog>,
    /// Set when the run ended before its horizon or its task count.
    pub stopped: Option<Stopped>,
    /// bias.csv's rows: every annotator tested for bias.
    pub bias: Vec<bias::BiasRow>,
    /// Figures per period, when `RunOptions::period_us` asked for them.
    pub periods: Vec<crate::metrics::periods::PeriodRow>,
    /// [s] time in system at the levels of [`cdf_levels`]: of tasks finished in the window, and of
    /// those with the open tasks' ages at the end (censored); from the sketches, within 0.5%.
    pub time_in_system_cdf: [Vec<f64>; 2],
}

/// The levels of `RunOutput::time_in_system_cdf`: 0.01, 0.02, ..., 0.99.
pub fn cdf_levels() -> Vec<f64> {
    (1..100).map(|i| i as f64 / 100.0).collect()
}

/// Makes a fresh router for each run.
pub type RouterFactory<'a> = &'a (dyn Fn() -> Box<dyn Router> + Sync);

/// Runs one replication. `progress` receives the completed fraction in [0, 1].
pub fn run(scenario: &Scenario, make_router: RouterFactory, opts: RunOptions, progress: &mut dyn FnMut(f64)) -> Result<RunOutput, String> {
    let mut built = build(scenario, make_router(), opts)?;
    let horizon = scenario.run.arrival_horizon();
    // Every 2^16 events: report progress, honour a cancel, and stop a run whose clock no longer
    // moves (a loop of zero-delay messages would otherwise never end).
    let mut stuck: Option<String> = None;
    let (mut last, mut same) = (SimTime::ZERO, 0u32);
    let mut check = |t: SimTime, fraction: f64| -> bool {
        progress(fraction);
        if opts.cancel.is_some_and(Cancel::is_set) {
            return false;
        }
        same = if t == last { same + 1 } else { 0 };
        last = t;
        if same >= SAME_INSTANT_CALLS {
            stuck = Some(format!("the simulated clock stopped moving: {:.0} million events at t = {:.6} s without time passing", (same as f64) * 65_536.0 / 1e6, t.secs()));
            return false;
        }
        true
    };
    let mut end = match horizon {
        Some(h) => {
            // Arrivals happen in [0, horizon): events due at the horizon itself are not run.
            let until = SimTime(h.0);
            built.sim.run_until(SimTime(h.0.saturating_sub(1)), |t| check(t, t.0 as f64 / until.0.max(1) as f64));
            until
        }
        None => {
            let expected = built.expected_end;
            built.sim.run_until(SimTime::MAX, |t| check(t, (t.0 as f64 / expected.max(1.0)).min(0.99)));
            built.sim.now()
        }
    };
    let cancelled = opts.cancel.filter(|c| c.is_set()).and_then(Cancel::reason);
    let stalled = built.dispatcher_mut().stalled.take();
    let reason = stuck.or(cancelled).or(stalled).or_else(|| {
        // A run to a task count whose events ran out before every task was final.
        let d = built.dispatcher();
        let lim = scenario.run.tasks.filter(|_| horizon.is_none())?;
        (!d.all_done()).then(|| format!("the run ran out of events with {} of {lim} tasks unfinished ({} arrived): nobody is left to work them (bans, shifts, skills)", lim.saturating_sub(d.finished()), d.arrived()))
    });
    if reason.is_some() {
        end = built.sim.now(); // censored where it stopped, not at the horizon
    }
    let stopped = reason.map(|reason| Stopped { replication: opts.replication, at_s: end.secs(), reason });
    progress(1.0);
    let events = built.sim.delivered();
    let d = built.dispatcher_mut();
    d.finish(end);
    if let Some(e) = d.books.trace.as_mut().and_then(|t| t.error.take()) {
        return Err(format!("cannot write the trace: {e}"));
    }
    if let Some(e) = d.books.record_error.take() {
        return Err(format!("cannot write the task records: {e}"));
    }
    let mut summary = summary::summarize(scenario, &built.task_types, &built.pool_names, &built.pool_of, &built.stages, built.dispatcher(), opts.seed, end, events);
    let (figures, bias) = built.dispatcher().books.bias.detect(&built.dispatcher().books.streams, &built.annotator_names, &built.pool_names, &built.pool_of, &built.planted);
    summary.bias = figures;
    let d = built.dispatcher_mut();
    let series = d.books.monitor.series.rows(end);
    let periods = d.books.periods.take().map(|p| p.finish(end)).unwrap_or_default();
    let time_in_system_cdf = d.books.monitor.time_in_system_sketches().map(|q| if q.count() == 0 { Vec::new() } else { cdf_levels().iter().map(|&l| q.quantile(l)).collect() });
    Ok(RunOutput { summary, tasks: std::mem::take(&mut d.books.records), series, core_log: d.log.take(), stopped, bias, periods, time_in_system_cdf })
}
