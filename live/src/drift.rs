//! Drift watches (`tessera serve --drift NAME=drift.json`): the tests of a drift report
//! (`tessera drift --out`, tessera-calibrate's [`Watch`]) run over each project called NAME, fed
//! by the project's own command log replayed through a fresh core, the same replay its trace
//! is made by, so the live tests see exactly the events `GET .../trace` would give
//! `tessera drift --monitor`. Each test's statistic, threshold and alarms are gauges on
//! `/metrics` (`deploy/prometheus/tessera-drift.rules.yml` is an alert rule on them).
//!
//! The watch runs on its own thread and reads committed log pages: it never holds up a decision.
//! A store that does not answer is asked again the next round; a log that does not replay into
//! the tests stops the watch (`tessera_drift_watch_failed`, and the reason in the server's log).
//! A restarted server replays the whole log once, so the alarm counters are those of the log,
//! not of the process. An hour is closed once the clock is [`DriftConfig::lag`] past its end, so
//! entries still being committed when it ends are counted in it (the lag is wall-clock time:
//! on a rehearsal's clock, that many of its own seconds times its rate); an hour with no events
//! is closed by the clock all the same, so a stop of arrivals is seen without traffic.

use crate::clock::Clock;
use crate::metrics::{DriftGauges, DriftTest, Metrics};
use crate::project::Settings;
use crate::store::Store;
use crate::trace::Replay;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tessera_calibrate::drift::{DriftReport, Metric, Watch};
use tessera_calibrate::trace::Line;
use tessera_calibrate::ReadOptions;

/// Which projects to watch, against what.
#[derive(Clone, Debug, Default)]
pub struct DriftConfig {
    /// (project name, the report whose tests to run).
    pub monitors: Vec<(String, DriftReport)>,
    /// A rehearsal's speed-up (set by `serve` from `ServeConfig::rehearsal_speedup`): the
    /// server's times are stretched by it, from each project's first event (a Monday 00:00, as
    /// loadgen's clock starts).
    pub speedup: Option<f64>,
    /// How long after an hour's end (wall clock; a rehearsal's clock counts it at its rate) it is
    /// closed.
    pub lag: Duration,
}

struct ProjectWatch {
    settings: Settings,
    replay: Replay,
    watch: Watch,
    lines: u64,
    failed: bool,
}

/// Log pages read per project per round, at most (then the other projects get their turn).
const PAGES_PER_ROUND: usize = 16;

/// Runs the watches until `stop`, a round a second.
pub fn run(store: Arc<Store>, cfg: DriftConfig, clock: Arc<dyn Clock>, metrics: Arc<Metrics>, stop: Arc<AtomicBool>) {
    let mut watches: BTreeMap<i64, ProjectWatch> = BTreeMap::new();
    while !stop.load(Ordering::Relaxed) {
        round(&store, &cfg, clock.as_ref(), &metrics, &mut watches);
        for _ in 0..10 {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn round(store: &Store, cfg: &DriftConfig, clock: &dyn Clock, metrics: &Metrics, watches: &mut BTreeMap<i64, ProjectWatch>) {
    for (name, report) in &cfg.monitors {
        let projects = match store.projects_named(name) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(project = %name, error = %e.body.message, "drift watch: cannot list projects; trying again");
                return;
            }
        };
        for (id, tenant) in projects {
            if watches.contains_key(&id) {
                continue;
            }
            match store.project_for_replay(tenant, id) {
                Ok(Some((settings, _))) => {
                    let read = ReadOptions { utc_offset_s: Some(report.utc_offset_s), speedup: cfg.speedup, group_by: report.group_by, skip_agreement: true, ..Default::default() };
                    let mut watch = Watch::new(&format!("project-{id}"), &read, report.clone());
                    let header = Line { schema: Some(tessera_engine::run::record::TRACE_SCHEMA.into()), v: Some(2), clock: Some("live".into()), scenario: Some(name.clone()), ..Default::default() };
                    if let Err(e) = watch.line(0, header) {
                        tracing::error!(project = id, error = %e, "drift watch: cannot start");
                        continue;
                    }
                    tracing::info!(project = id, name = %name, tests = report.tests.len(), "drift watch started");
                    watches.insert(id, ProjectWatch { replay: Replay::new(&settings), settings, watch, lines: 0, failed: false });
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(project = id, error = %e.body.message, "drift watch: cannot read the project; trying again"),
            }
        }
    }
    let now = clock.now_us() as i64;
    for (id, w) in watches.iter_mut() {
        if !w.failed {
            match catch_up(store, *id, w) {
                Ok(true) => w.watch.advance_raw(now - (cfg.lag.as_micros() as f64 * clock.rate()) as i64),
                Ok(false) => {}
                // The store did not answer: the same pages again next round.
                Err(Stop::Store(e)) => tracing::warn!(project = id, error = %e, "drift watch: cannot read the log; trying again"),
                Err(Stop::Replay(e)) => {
                    tracing::error!(project = id, error = %e, "drift watch stopped");
                    w.failed = true;
                }
            }
        }
        metrics.set_drift(*id, gauges(&w.watch, w.failed));
    }
}

/// Why a watch did not catch up: the store did not answer (tried again), or the log did not
/// replay into the tests (the watch stops).
enum Stop {
    Store(String),
    Replay(String),
}

/// Reads up to [`PAGES_PER_ROUND`] pages of the project's log into its watch; true when the
/// watch has read the whole log.
fn catch_up(store: &Store, id: i64, w: &mut ProjectWatch) -> Result<bool, Stop> {
    for _ in 0..PAGES_PER_ROUND {
        let page = store.log(id, w.replay.after, 4096).map_err(|e| Stop::Store(e.body.message))?;
        if page.is_empty() {
            return Ok(true);
        }
        let (watch, lines) = (&mut w.watch, &mut w.lines);
        w.replay.page(&w.settings, page, |ev| {
            let bytes = serde_json::to_vec(ev).map_err(|e| e.to_string())?;
            let line: Line = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
            *lines += 1;
            watch.line(*lines, line).map_err(|e| e.to_string())
        })
        .map_err(Stop::Replay)?;
    }
    Ok(false)
}

fn gauges(watch: &Watch, failed: bool) -> DriftGauges {
    let secs = |t_us: i64| t_us as f64 / 1e6;
    let tests = watch
        .monitor
        .tests()
        .map(|(t, statistic)| DriftTest {
            metric: match t.metric {
                Metric::Arrivals => "arrivals",
                Metric::HandlingTime => "handling_time",
                Metric::GoldAccuracy => "gold_accuracy",
            },
            key: t.key.clone(),
            direction: if t.direction > 0 { "up" } else { "down" },
            statistic,
            threshold: t.threshold,
            delay_p90_h: t.delay_p90_h,
            alarms: t.alarm_count,
            last_alarm_s: t.alarms.last().map(|a| secs(a.t_us)),
        })
        .collect();
    DriftGauges { tests, hour_end_s: watch.monitor.hour_end().map(secs), failed }
}
