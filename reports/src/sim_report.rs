//! `tessera simulate --report`: report.html from summary.json's figures (means and 95%
//! intervals over the replications), each replication's time series (series.csv's bins) and its
//! time-in-system distribution (quantiles from the run's sketches).
//!
//! Bands over time are the 95% interval of the mean across replications at each bin (no band
//! with one replication); replications whose bins differ in width (runs to a task count end at
//! different times) are put on the widest bins, which their bins nest in. The time-in-system
//! curves average the replications' quantile functions level by level.

use crate::chart::{Bar, Chart, Line, Marker, Plot};
use crate::html::{cell, cell_ci, Block, Page, Section};
use serde_json::Value;
use tessera_engine::metrics::series::BinRow;
use tessera_engine::metrics::stats::mean_ci;

/// A figure's (mean, 95% half-width) at a dotted path of summary.json's `figures`.
pub fn figure(figures: &Value, path: &str) -> Option<(f64, f64)> {
    let mut v = figures;
    for k in path.split('.') {
        v = v.get(k)?;
    }
    Some((v.get("mean")?.as_f64()?, v.get("half_width").and_then(Value::as_f64).unwrap_or(f64::NAN)))
}

fn bar(figures: &Value, label: &str, path: &str) -> Option<Bar> {
    figure(figures, path).map(|(m, h)| Bar { label: label.into(), value: m, half_width: Some(h).filter(|h| h.is_finite()) })
}

/// (unit name, µs per unit) for a time axis of `span_us`.
fn time_unit(span_us: f64) -> (&'static str, f64) {
    if span_us > 4.0 * 86_400e6 {
        ("days", 86_400e6)
    } else if span_us > 3.0 * 3_600e6 {
        ("hours", 3_600e6)
    } else {
        ("minutes", 60e6)
    }
}

/// One replication's bins put on bins `width` µs wide: per bin (arrivals, finals, queue area,
/// wip area, covered µs).
fn rebin(rows: &[BinRow], width: u64) -> Vec<[f64; 5]> {
    let mut out: Vec<[f64; 5]> = Vec::new();
    for r in rows {
        let i = (r.start.0 / width.max(1)) as usize;
        if out.len() <= i {
            out.resize(i + 1, [0.0; 5]);
        }
        let span = r.end.0.saturating_sub(r.start.0) as f64;
        let b = &mut out[i];
        b[0] += r.arrivals as f64;
        b[1] += r.finals as f64;
        b[2] += r.queue_mean * span;
        b[3] += r.wip_mean * span;
        b[4] += span;
    }
    out
}

/// Mean over replications with its 95% band, per bin, of `f(bin)` (None where no replication covers the bin).
fn over_time(reps: &[Vec<[f64; 5]>], width: u64, unit: f64, name: &str, f: impl Fn(&[f64; 5]) -> Option<f64>) -> Line {
    let n = reps.iter().map(Vec::len).max().unwrap_or(0);
    let mut line = Line::new(name, Vec::new());
    for i in 0..n {
        let xs: Vec<f64> = reps.iter().filter_map(|r| r.get(i)).filter(|b| b[4] > 0.0).filter_map(&f).collect();
        if xs.is_empty() {
            continue;
        }
        let x = (i as f64 + 0.5) * width as f64 / unit;
        let (m, h) = mean_ci(&xs, 0.95);
        line.points.push((x, m));
        if xs.len() > 1 && h.is_finite() {
            line.band.push((x, m - h, m + h));
        }
    }
    line
}

/// The level-by-level mean of the replications' quantile functions [s].
fn mean_quantiles(cdfs: &[&Vec<f64>]) -> Vec<f64> {
    let n = cdfs.iter().map(|c| c.len()).min().unwrap_or(0);
    (0..n).map(|i| cdfs.iter().map(|c| c[i]).sum::<f64>() / cdfs.len() as f64).collect()
}

/// The report of a simulation: `summary` is summary.json's value, `series[r]` and `cdfs[r]`
/// replication r's bins and time-in-system quantiles at `levels` ([finished, with open tasks]).
pub fn simulate_report(summary: &Value, series: &[Vec<BinRow>], cdfs: &[[Vec<f64>; 2]], levels: &[f64]) -> Page {
    let f = &summary["figures"];
    let reps = summary["replications"].as_u64().unwrap_or(series.len() as u64);
    let name = summary["scenario"].as_str().unwrap_or("scenario");
    let mut sections = Vec::new();

    // Headline figures.
    let rows: Vec<Vec<String>> = [
        ("Final labels in the window", "completions", ""),
        ("Unfinished at the end", "unfinished", ""),
        ("Throughput", "throughput_per_hour", "tasks/h"),
        ("Finished within the turnaround target", "completion_within_target", "share"),
        ("Time in system, p90 (finished tasks)", "time_in_system_s.p90", "s"),
        ("Time in system, p90 (open tasks counted at their age)", "time_in_system_censored_s.p90", "s"),
        ("Accuracy of final labels", "accuracy", "share"),
        ("Deadline miss rate", "deadline_miss_rate", "share"),
        ("Cost per final label", "cost.per_final_label_usd", "USD"),
        ("Total cost", "cost.total_usd", "USD"),
    ]
    .iter()
    .filter_map(|(label, path, unit)| figure(f, path).map(|(m, h)| vec![label.to_string(), cell_ci(m, h), unit.to_string()]))
    .collect();
    let mut head = vec![Block::Table { headers: vec!["figure".into(), format!("mean ± 95% CI ({reps} replications)"), "unit".into()], rows }];
    if summary["overloaded"].as_bool() == Some(true) {
        let notes: Vec<String> = summary["overload"].as_array().map(|a| a.iter().filter_map(|n| n.as_str().map(String::from)).collect()).unwrap_or_default();
        head.push(Block::Text(format!("Overloaded: {}", notes.join("; "))));
    }
    sections.push(Section { heading: "Headline figures".into(), blocks: head });

    // Over time.
    let width = series.iter().filter_map(|r| r.first()).map(|b| b.end.0.saturating_sub(b.start.0)).max().unwrap_or(1).max(1);
    let end = series.iter().filter_map(|r| r.last()).map(|b| b.end.0).max().unwrap_or(0);
    let (unit_name, unit) = time_unit(end as f64);
    let binned: Vec<Vec<[f64; 5]>> = series.iter().map(|r| rebin(r, width)).collect();
    let t = format!("time [{unit_name}]");
    let band = if reps > 1 { "lines: mean over replications; bands: its 95% interval" } else { "one replication" };
    let queue = over_time(&binned, width, unit, "waiting", |b| Some(b[2] / b[4]));
    let wip = over_time(&binned, width, unit, "in the system", |b| Some(b[3] / b[4]));
    let finals = over_time(&binned, width, unit, "final labels", |b| Some(b[1] / (b[4] / 3.6e9)));
    let arrivals = over_time(&binned, width, unit, "arrivals", |b| Some(b[0] / (b[4] / 3.6e9)));
    sections.push(Section {
        heading: "Over time".into(),
        blocks: vec![
            Block::Text(format!("Time averages per bin of {} ({band}).", crate::human_secs(width as f64 / 1e6))),
            Block::Chart(Chart { id: "queue".into(), title: "Queue length and work in progress".into(), x_label: t.clone(), y_label: "tasks".into(), plot: Plot::Lines { lines: vec![queue, wip] }, marker: None }),
            Block::Chart(Chart { id: "throughput".into(), title: "Throughput and arrivals".into(), x_label: t.clone(), y_label: "tasks per hour".into(), plot: Plot::Lines { lines: vec![finals, arrivals] }, marker: None }),
        ],
    });

    // Time in system.
    let target = figure(f, "turnaround_target_s").map(|x| x.0).unwrap_or(f64::NAN);
    let finished: Vec<&Vec<f64>> = cdfs.iter().map(|c| &c[0]).filter(|c| c.len() == levels.len()).collect();
    let censored: Vec<&Vec<f64>> = cdfs.iter().map(|c| &c[1]).filter(|c| c.len() == levels.len()).collect();
    let qf = mean_quantiles(&finished);
    let qc = mean_quantiles(&censored);
    let top = qc.last().copied().or(qf.last().copied()).unwrap_or(1.0).max(target.min(1e12)).max(1.0);
    let (tu_name, tu) = time_unit(top * 1e6);
    let tu = tu / 1e6;
    let curve = |name: &str, q: &[f64]| Line::new(name, q.iter().zip(levels).map(|(&s, &l)| (s / tu, l)).collect());
    let mut blocks = vec![Block::Chart(Chart {
        id: "time-in-system-cdf".into(),
        title: "Time in system: share of tasks done within".into(),
        x_label: format!("time in system [{tu_name}]"),
        y_label: "share of tasks".into(),
        plot: Plot::Lines { lines: vec![curve("finished tasks", &qf), curve("with open tasks at their age", &qc)] },
        marker: target.is_finite().then(|| Marker { x: target / tu, label: format!("turnaround target {}", crate::human_secs(target)) }),
    })];
    if qc.len() >= 2 {
        // A histogram of the censored distribution: share of tasks per equal-width bin, read off
        // the quantile function (linear between levels).
        let hi = qc[qc.len() - 1];
        let k = 12usize;
        let share_below = |x: f64| -> f64 {
            if x <= qc[0] {
                return levels[0] * if qc[0] > 0.0 { x / qc[0] } else { 1.0 };
            }
            for i in 1..qc.len() {
                if x <= qc[i] {
                    let w = qc[i] - qc[i - 1];
                    return levels[i - 1] + (levels[i] - levels[i - 1]) * if w > 0.0 { (x - qc[i - 1]) / w } else { 1.0 };
                }
            }
            levels[levels.len() - 1]
        };
        let bars: Vec<Bar> = (0..k)
            .map(|i| {
                let (a, b) = (hi * i as f64 / k as f64, hi * (i + 1) as f64 / k as f64);
                Bar { label: format!("{}–{} {tu_name}", cell(a / tu), cell(b / tu)), value: share_below(b) - share_below(a), half_width: None }
            })
            .collect();
        blocks.push(Block::Chart(Chart { id: "time-in-system-histogram".into(), title: "Time in system up to p99 (open tasks at their age)".into(), x_label: "share of tasks".into(), y_label: String::new(), plot: Plot::Bars { bars }, marker: None }));
    }
    sections.push(Section { heading: "Time in system".into(), blocks });

    // Pools.
    let pools: Vec<String> = f["pools"].as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
    let mut util = Vec::new();
    let mut wage = Vec::new();
    for p in &pools {
        util.extend(bar(f, &format!("{p}: working"), &format!("pools.{p}.utilization.working")));
        util.extend(bar(f, &format!("{p}: walked away"), &format!("pools.{p}.utilization.walked_away")));
        wage.extend(bar(f, p, &format!("pools.{p}.effective_hourly_wage_usd")));
    }
    sections.push(Section {
        heading: "Pools".into(),
        blocks: vec![
            Block::Chart(Chart { id: "utilisation".into(), title: "Utilisation: share of on-shift time with an item in hand".into(), x_label: "share of on-shift time".into(), y_label: String::new(), plot: Plot::Bars { bars: util }, marker: None }),
            Block::Chart(Chart { id: "wage".into(), title: "Effective hourly wage (earnings / busy hours)".into(), x_label: "USD per hour".into(), y_label: String::new(), plot: Plot::Bars { bars: wage }, marker: None }),
        ],
    });

    // Cost.
    let cost: Vec<Bar> = [("labelling (with models)", "cost.per_final_label_labeling_usd"), ("golden tasks", "cost.per_final_label_gold_usd"), ("review", "cost.per_final_label_review_usd"), ("idle paid time", "cost.per_final_label_idle_usd")]
        .iter()
        .filter_map(|(l, p)| bar(f, l, p))
        .collect();
    let mut cost_blocks = vec![Block::Chart(Chart { id: "cost".into(), title: "Cost per final label, by what it paid for".into(), x_label: "USD per final label".into(), y_label: String::new(), plot: Plot::Bars { bars: cost }, marker: None })];
    if let Some((m, h)) = figure(f, "cost.model_usd") {
        cost_blocks.push(Block::Text(format!("Models (inside labelling): {} USD in total.", cell_ci(m, h))));
    }
    sections.push(Section { heading: "Cost".into(), blocks: cost_blocks });

    // Quality and streams.
    let types: Vec<Bar> = f["accuracy_by_type"].as_object().map(|o| o.keys().filter_map(|t| bar(f, t, &format!("accuracy_by_type.{t}"))).collect()).unwrap_or_default();
    let streams: Vec<String> = f["streams"].as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
    let backlog: Vec<Bar> = streams.iter().filter_map(|s| bar(f, s, &format!("streams.{s}.unfinished"))).collect();
    let rows: Vec<Vec<String>> = streams
        .iter()
        .map(|s| {
            let c = |k: &str| figure(f, &format!("streams.{s}.{k}")).map_or("n/a".into(), |(m, h)| cell_ci(m, h));
            vec![s.clone(), c("arrivals"), c("unfinished"), c("tasks_in_system_mean"), c("completion_within_target"), c("deadline_miss_rate"), c("accuracy")]
        })
        .collect();
    sections.push(Section {
        heading: "Accuracy and backlog".into(),
        blocks: vec![
            Block::Chart(Chart { id: "accuracy-by-type".into(), title: "Accuracy of final labels by task type".into(), x_label: "share correct".into(), y_label: String::new(), plot: Plot::Bars { bars: types }, marker: None }),
            Block::Chart(Chart { id: "backlog".into(), title: "Backlog at the end by stream (unfinished tasks)".into(), x_label: "tasks".into(), y_label: String::new(), plot: Plot::Bars { bars: backlog }, marker: None }),
            Block::Table {
                headers: vec!["stream".into(), "arrivals".into(), "unfinished".into(), "in system (mean)".into(), "finished within target".into(), "deadline misses".into(), "accuracy".into()],
                rows,
            },
        ],
    });

    Page {
        title: format!("Simulation report: {name}"),
        subtitle: vec![format!("policy {}, seed {}, {reps} replication{}", summary["policy"].as_str().unwrap_or("?"), summary["seed"], if reps == 1 { "" } else { "s" }), "Figures are defined in README.md (summary schema tessera.summary/2); intervals are 95% over replications.".into()],
        sections,
    }
}
