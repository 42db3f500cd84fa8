//! Running a scenario: build the actors from a [`Scenario`], run the simulated runtime, and sum
//! up. A run is a pure function of (scenario, router, seed); replications run in parallel and
//! give the same numbers at any thread count.

pub mod books;
mod build;
pub mod dispatcher;
pub mod record;
mod replicate;
mod summary;

pub use books::Books;
pub use build::{build, workflow_of, Built, SimActor};
pub use dispatcher::{CoreLog, Dispatcher};
pub use replicate::{overload_notes, replication_seed, run_replications, summarize_replications, Keep, SUMMARY_SCHEMA};
pub use summary::{Cost, PoolFigures, Spread, StreamFigures, Summary, Utilization};

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
}

impl RunOptions<'_> {
    /// Figures only: no records, no trace.
    pub fn figures(seed: u64) -> RunOptions<'static> {
        RunOptions { seed, replication: 0, keep_records: false, records: None, trace: None, core_log: false }
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
}

/// Makes a fresh router for each run.
pub type RouterFactory<'a> = &'a (dyn Fn() -> Box<dyn Router> + Sync);

/// Runs one replication. `progress` receives the completed fraction in [0, 1].
pub fn run(scenario: &Scenario, make_router: RouterFactory, opts: RunOptions, progress: &mut dyn FnMut(f64)) -> Result<RunOutput, String> {
    let mut built = build(scenario, make_router(), opts)?;
    let horizon = scenario.run.arrival_horizon();
    let end = match horizon {
        Some(h) => {
            // Arrivals happen in [0, horizon): events due at the horizon itself are not run.
            let until = SimTime(h.0);
            built.sim.run_until(SimTime(h.0.saturating_sub(1)), |t| progress(t.0 as f64 / until.0.max(1) as f64));
            until
        }
        None => {
            let expected = built.expected_end;
            built.sim.run_until(SimTime::MAX, |t| progress((t.0 as f64 / expected.max(1.0)).min(0.99)));
            built.sim.now()
        }
    };
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
    let summary = summary::summarize(scenario, &built.task_types, &built.pool_names, &built.pool_of, built.dispatcher(), opts.seed, end, events);
    let d = built.dispatcher_mut();
    let series = d.books.monitor.series.rows(end);
    Ok(RunOutput { summary, tasks: std::mem::take(&mut d.books.records), series, core_log: d.log.take() })
}
