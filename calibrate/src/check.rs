//! `tessera calibrate --check`: simulate the fitted scenario and compare a fixed list of figures
//! with the trace's own, computed the same way (each simulated run's trace is tallied exactly as
//! the operation's was). The predictive interval of a figure is the central 95% of its values
//! over the simulated replications; a figure passes when the trace's value lies in that interval
//! widened by the figure's stated equivalence margin.

use crate::stats::percentile;
use crate::tally::{Feed, ReadOptions, Tally};
use crate::trace::Line;
use rayon::prelude::*;
use std::sync::{Arc, Mutex};
use tessera_engine::run::record::TraceSink;
use tessera_engine::run::{replication_seed, run, RouterFactory, RunOptions};
use tessera_engine::spec::Scenario;

/// The figures compared, with their equivalence margins: (name, unit, margin, relative?).
pub const FIGURES: [(&str, &str, f64, bool); 6] = [
    ("throughput", "finals/h", 0.05, true),
    ("time in system, mean", "s", 0.10, true),
    ("time in system, p90", "s", 0.10, true),
    ("accuracy on golden answers", "share", 0.01, false),
    ("left unserved", "share of arrivals", 0.01, false),
    ("waiting tasks, mean", "tasks", 0.10, true),
];

/// The trace's figures, in the order of [`FIGURES`]; None where the trace has no data for one.
pub fn figures(t: &Tally) -> Vec<Option<f64>> {
    let span = t.span_h().max(1e-9);
    let finals: u64 = t.streams.iter().map(|s| s.finals).sum();
    let mut tis = tessera_engine::metrics::quantiles::Quantiles::default();
    for s in &t.streams {
        tis.merge(&s.time_in_system);
    }
    let (gold, right) = t.pools.iter().flat_map(|p| &p.annotators).flat_map(|a| a.gold.values()).fold((0u64, 0u64), |(n, k), (gn, gk)| (n + gn, k + gk));
    let arrivals: u64 = t.streams.iter().map(|s| s.arrivals).sum();
    let left: u64 = t.streams.iter().map(|s| s.left).sum();
    let waiting: f64 = t.waiting_area.iter().sum::<f64>() / span;
    vec![
        Some(finals as f64 / span),
        (finals > 0).then(|| tis.mean()),
        (finals > 0).then(|| tis.quantile(0.9)),
        (gold > 0).then(|| right as f64 / gold as f64),
        (arrivals > 0).then(|| left as f64 / arrivals as f64),
        Some(waiting),
    ]
}

/// One figure's verdict.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Verdict {
    pub figure: &'static str,
    pub unit: &'static str,
    pub trace: Option<f64>,
    pub predicted_median: Option<f64>,
    /// Central 95% of the simulated replications.
    pub predicted_95: Option<(f64, f64)>,
    /// The equivalence margin: relative (a share of the median) or absolute.
    pub margin: f64,
    pub margin_relative: bool,
    /// None when there is nothing to compare (no data in the trace or the simulations).
    pub pass: Option<bool>,
}

struct TallySink {
    feed: Option<Feed>,
    lines: u64,
    out: Arc<Mutex<Option<Result<Tally, String>>>>,
}

impl TraceSink for TallySink {
    fn write(&mut self, line: &[u8]) -> Result<(), String> {
        self.lines += 1;
        let parsed: Line = serde_json::from_slice(line.trim_ascii()).map_err(|e| e.to_string())?;
        self.feed.as_mut().ok_or("the trace is closed")?.line(self.lines, parsed).map_err(|e| e.to_string())
    }
    fn finish(&mut self) -> Result<(), String> {
        if let Some(feed) = self.feed.take() {
            *self.out.lock().unwrap_or_else(|e| e.into_inner()) = Some(feed.finish().map_err(|e| e.to_string()));
        }
        Ok(())
    }
}

/// Simulates `fitted` `replications` times (seeds from `seed`) and judges the trace's figures.
pub fn check(fitted: &Scenario, make_router: RouterFactory, trace: &Tally, replications: u32, seed: u64) -> Result<Vec<Verdict>, String> {
    // A simulation of the fitted scenario names its people "<pool>/<n>" after the fitted pools.
    let opts = ReadOptions { replication: None, utc_offset_s: Some(trace.utc_offset_s), speedup: None, skip_us: trace.skipped_us(), group_by: crate::tally::GroupBy::Name };
    let sims: Vec<Vec<Option<f64>>> = (0..replications)
        .into_par_iter()
        .map(|r| {
            let out = Arc::new(Mutex::new(None));
            let out2 = out.clone();
            let opts2 = opts.clone();
            let factory = move |_r: u32| -> Result<Box<dyn TraceSink>, String> { Ok(Box::new(TallySink { feed: Some(Feed::new("the simulated trace", &opts2)), lines: 0, out: out2.clone() })) };
            let mut run_opts = RunOptions::figures(replication_seed(seed, r));
            run_opts.replication = r;
            run_opts.trace = Some(&factory);
            run(fitted, make_router, run_opts, &mut |_| {})?;
            let tally = out.lock().unwrap_or_else(|e| e.into_inner()).take().ok_or("the simulation wrote no trace")??;
            Ok(figures(&tally))
        })
        .collect::<Result<_, String>>()?;
    let own = figures(trace);
    Ok(FIGURES
        .iter()
        .enumerate()
        .map(|(i, (name, unit, margin, relative))| {
            let mut xs: Vec<f64> = sims.iter().filter_map(|f| f[i]).collect();
            let (median, band) = if xs.is_empty() {
                (None, None)
            } else {
                (Some(percentile(&mut xs, 0.5)), Some((percentile(&mut xs, 0.025), percentile(&mut xs, 0.975))))
            };
            let pass = match (own[i], median, band) {
                (Some(x), Some(m), Some((lo, hi))) => {
                    let slack = if *relative { margin * m.abs() } else { *margin };
                    Some(x >= lo - slack && x <= hi + slack)
                }
                _ => None,
            };
            Verdict { figure: name, unit, trace: own[i], predicted_median: median, predicted_95: band, margin: *margin, margin_relative: *relative, pass }
        })
        .collect())
}
