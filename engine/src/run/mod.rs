//! Running a scenario: build the actors from a [`Scenario`], run the simulated runtime, and sum
//! up. A run is a pure function of (scenario, router, seed); replications run in parallel and
//! give the same numbers at any thread count.

mod build;
pub mod record;
mod replicate;
mod summary;

pub use build::{build, Built, SimActor};
pub use replicate::{replication_seed, run_replications, summarize_replications};
pub use summary::{Cost, Spread, Summary};

use crate::dispatch::Router;
use crate::spec::Scenario;
use crate::time::SimTime;
use record::{TaskRecord, TraceEvent};

/// What to keep from a run.
#[derive(Clone, Copy, Debug)]
pub struct RunOptions {
    pub seed: u64,
    /// Keep one record per task (for tasks.csv).
    pub keep_records: bool,
    /// Keep the event trace (for events.jsonl).
    pub trace: bool,
}

/// Everything a run produces.
pub struct RunOutput {
    pub summary: Summary,
    pub tasks: Vec<TaskRecord>,
    pub trace: Vec<TraceEvent>,
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
    let summary = summary::summarize(scenario, &built.task_types, &built.pool_names, &built.pool_of, built.dispatcher(), opts.seed, end, events);
    let d = built.dispatcher_mut();
    Ok(RunOutput { summary, tasks: std::mem::take(&mut d.records), trace: std::mem::take(&mut d.trace) })
}
