//! A finished sweep's results, computed from its point files only (so a single run and merged
//! shards give the same bytes): results.csv (every summary figure's mean and 95% half-width per
//! point), differences.csv (paired differences between neighbouring points of each axis, over
//! the replications they share: common random numbers make these intervals tight), the Pareto
//! frontier of cost, accuracy and p90 time in system, and report.html.

use super::grid::Axis;
use super::store::{Manifest, PointFile};
use serde_json::Value;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use tessera_engine::metrics::stats::mean_ci;
use tessera_reports::chart::{Chart, Line, Plot, Point};
use tessera_reports::html::{cell, cell_ci, Block, Page, Section};

/// The figures compared between points: (name, path in a replication's summary, unit, scale
/// from the summary's unit, better when lower).
pub const KEY_FIGURES: [(&str, &str, &str, f64, bool); 4] = [
    ("cost per final label", "cost.per_final_label_usd", "USD", 1.0, true),
    ("accuracy", "accuracy", "points", 100.0, false),
    ("p90 time in system (open tasks at their age)", "time_in_system_censored_s.p90", "h", 1.0 / 3600.0, true),
    ("finished within target", "completion_within_target", "points", 100.0, false),
];

fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, k| v.get(k))
}

/// Dotted paths of every figure (an object with a "mean") under `v`.
fn leaves(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    if let Value::Object(m) = v {
        // A figure is {mean, half_width, ...} with a number (or null) as its mean; a spread's
        // own "mean" is an object.
        if m.get("mean").is_some_and(|v| !v.is_object()) && m.contains_key("half_width") {
            out.insert(prefix.to_string());
            return;
        }
        for (k, c) in m {
            leaves(c, &if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") }, out);
        }
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn num(v: Option<&Value>) -> String {
    match v.and_then(Value::as_f64) {
        Some(x) if x.is_finite() => format!("{x}"),
        _ => String::new(),
    }
}

/// results.csv: one row per point in grid order.
pub fn results_csv(m: &Manifest, points: &[PointFile]) -> String {
    let mut paths = BTreeSet::new();
    for p in points {
        leaves(&p.summary["figures"], "", &mut paths);
    }
    let mut o = String::from("point");
    for a in &m.axes {
        o.push(',');
        o.push_str(&csv_field(&a.key));
    }
    o.push_str(",replications,stopped_replications");
    for p in &paths {
        let _ = write!(o, ",{},{}", csv_field(p), csv_field(&format!("{p}.ci95")));
    }
    o.push('\n');
    for p in points {
        let _ = write!(o, "{}", p.index);
        for (_, v) in &p.values {
            o.push(',');
            o.push_str(&csv_field(v));
        }
        let _ = write!(o, ",{},{}", p.summary["replications"], p.summary["stopped"].as_array().map_or(0, Vec::len));
        for path in &paths {
            let f = at(&p.summary["figures"], path);
            let _ = write!(o, ",{},{}", num(f.and_then(|f| f.get("mean"))), num(f.and_then(|f| f.get("half_width"))));
        }
        o.push('\n');
    }
    o
}

/// A paired difference between two points along one axis.
pub struct Difference {
    pub axis: String,
    pub from: String,
    pub to: String,
    /// The other axes' values, "key=value" joined.
    pub fixed: String,
    /// Per key figure: (mean, 95% half-width) of to − from, in the figure's unit, over the
    /// replications both points ran.
    pub deltas: Vec<(f64, f64)>,
}

fn per_replication(p: &PointFile, path: &str) -> Vec<Option<f64>> {
    p.summary["runs"].as_array().map(|runs| runs.iter().map(|r| at(r, path).and_then(Value::as_f64)).collect()).unwrap_or_default()
}

/// Differences between each point and the next value of each axis, the other axes fixed.
pub fn differences(m: &Manifest, points: &[PointFile], grid: &[Vec<usize>]) -> Vec<Difference> {
    let mut out = Vec::new();
    let index_of = |idx: &[usize]| grid.iter().position(|g| g == idx);
    for (k, axis) in m.axes.iter().enumerate() {
        for (i, g) in grid.iter().enumerate() {
            if g[k] + 1 >= axis.values.len() {
                continue;
            }
            let mut next = g.clone();
            next[k] += 1;
            let Some(j) = index_of(&next) else { continue };
            let (a, b) = (&points[i], &points[j]);
            let deltas = KEY_FIGURES
                .iter()
                .map(|(_, path, _, scale, _)| {
                    let d: Vec<f64> = per_replication(a, path).into_iter().zip(per_replication(b, path)).filter_map(|(x, y)| Some((y? - x?) * scale)).filter(|d| d.is_finite()).collect();
                    if d.is_empty() {
                        (f64::NAN, f64::NAN)
                    } else {
                        mean_ci(&d, 0.95)
                    }
                })
                .collect();
            let fixed = m.axes.iter().enumerate().filter(|&(q, _)| q != k).map(|(q, ax)| format!("{}={}", ax.key, ax.values[g[q]])).collect::<Vec<_>>().join(", ");
            out.push(Difference { axis: axis.key.clone(), from: axis.values[g[k]].clone(), to: axis.values[next[k]].clone(), fixed, deltas });
        }
    }
    out
}

pub fn differences_csv(d: &[Difference]) -> String {
    let mut o = String::from("axis,from,to,fixed");
    for (name, _, unit, _, _) in KEY_FIGURES {
        let _ = write!(o, ",{},{}", csv_field(&format!("{name} [{unit}]")), csv_field(&format!("{name} ci95")));
    }
    o.push('\n');
    for r in d {
        let _ = write!(o, "{},{},{},{}", csv_field(&r.axis), csv_field(&r.from), csv_field(&r.to), csv_field(&r.fixed));
        for &(mean, hw) in &r.deltas {
            let f = |x: f64| if x.is_finite() { format!("{x}") } else { String::new() };
            let _ = write!(o, ",{},{}", f(mean), f(hw));
        }
        o.push('\n');
    }
    o
}

/// (cost per final label, accuracy, p90 time in system) of a point's means.
fn objectives(p: &PointFile) -> Option<[f64; 3]> {
    let f = &p.summary["figures"];
    let g = |path: &str| at(f, path).and_then(|v| v.get("mean")).and_then(Value::as_f64).filter(|x| x.is_finite());
    Some([g("cost.per_final_label_usd")?, g("accuracy")?, g("time_in_system_censored_s.p90")?])
}

/// Whether each point is non-dominated: no other point is at least as cheap, as accurate and
/// as fast, and strictly better in one. Points without the three figures are never on it.
pub fn pareto(points: &[PointFile]) -> Vec<bool> {
    let o: Vec<Option<[f64; 3]>> = points.iter().map(objectives).collect();
    o.iter()
        .map(|a| {
            let Some(a) = a else { return false };
            !o.iter().flatten().any(|b| b[0] <= a[0] && b[1] >= a[1] && b[2] <= a[2] && (b[0] < a[0] || b[1] > a[1] || b[2] < a[2]))
        })
        .collect()
}

fn signed(x: f64, hw: f64) -> String {
    if !x.is_finite() {
        return "n/a".into();
    }
    let s = if x >= 0.0 { format!("+{}", cell(x)) } else { cell(x) };
    if hw.is_finite() {
        format!("{s} ± {}", cell(hw))
    } else {
        s
    }
}

fn label(p: &PointFile) -> String {
    p.values.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")
}

/// The sweep's report.
pub fn report(m: &Manifest, points: &[PointFile], grid: &[Vec<usize>], diffs: &[Difference], front: &[bool]) -> Page {
    let mut sections = Vec::new();
    // Response curves: per axis and key figure, one line per combination of the other axes (at
    // most 8), with the 95% band of each point's mean.
    for (k, axis) in m.axes.iter().enumerate() {
        let nums = axis.numbers();
        let x_of = |i: usize| nums.as_ref().map_or(i as f64, |n| n[i]);
        let x_label = if nums.is_some() { axis.key.clone() } else { format!("{} ({})", axis.key, axis.values.iter().enumerate().map(|(i, v)| format!("{i} = {v}")).collect::<Vec<_>>().join(", ")) };
        let mut blocks = Vec::new();
        for (fi, (name, path, unit, scale, _)) in KEY_FIGURES.iter().enumerate() {
            let mut groups: Vec<(Vec<usize>, Line)> = Vec::new();
            for (i, g) in grid.iter().enumerate() {
                let others: Vec<usize> = g.iter().enumerate().filter(|&(q, _)| q != k).map(|(_, &v)| v).collect();
                let Some((mean, hw)) = tessera_reports::figure(&points[i].summary["figures"], path) else { continue };
                let pos = match groups.iter().position(|(o, _)| *o == others) {
                    Some(p) => p,
                    None if groups.len() < 8 => {
                        let name = if m.axes.len() == 1 { name.to_string() } else { m.axes.iter().enumerate().filter(|&(q, _)| q != k).map(|(q, ax)| format!("{}={}", ax.key, ax.values[g[q]])).collect::<Vec<_>>().join(", ") };
                        groups.push((others.clone(), Line::new(name, Vec::new())));
                        groups.len() - 1
                    }
                    None => continue,
                };
                let x = x_of(g[k]);
                let line = &mut groups[pos].1;
                line.points.push((x, mean * scale));
                if hw.is_finite() {
                    line.band.push((x, (mean - hw) * scale, (mean + hw) * scale));
                }
            }
            let id = format!("response-{k}-{fi}");
            blocks.push(Block::Chart(Chart { id, title: format!("{name} against {}", axis.key), x_label: x_label.clone(), y_label: format!("{name} [{unit}]"), plot: Plot::Lines { lines: groups.into_iter().map(|g| g.1).collect() }, marker: None }));
        }
        sections.push(Section { heading: format!("Response to {}", axis.key), blocks });
    }

    // Pareto frontier.
    let pts: Vec<Point> = points.iter().zip(front).filter_map(|(p, &f)| objectives(p).map(|o| Point { label: label(p), x: o[0], y: o[1] * 100.0, marked: f })).collect();
    let rows: Vec<Vec<String>> = points
        .iter()
        .zip(front)
        .filter(|(_, &f)| f)
        .map(|(p, _)| {
            let f = &p.summary["figures"];
            let c = |path: &str, s: f64| tessera_reports::figure(f, path).map_or("n/a".into(), |(m, h)| cell_ci(m * s, h * s));
            vec![label(p), c("cost.per_final_label_usd", 1.0), c("accuracy", 100.0), c("time_in_system_censored_s.p90", 1.0 / 3600.0), c("completion_within_target", 100.0)]
        })
        .collect();
    sections.push(Section {
        heading: "Pareto frontier: cost, accuracy, p90 time in system".into(),
        blocks: vec![
            Block::Text("A point is non-dominated when no other point is at least as cheap per final label, as accurate and as fast (p90 time in system, open tasks at their age), and strictly better in one; its marker is filled.".into()),
            Block::Chart(Chart { id: "pareto".into(), title: "Cost and accuracy of every point".into(), x_label: "cost per final label [USD]".into(), y_label: "accuracy [%]".into(), plot: Plot::Scatter { points: pts }, marker: None }),
            Block::Table { headers: vec!["non-dominated point".into(), "cost per final label [USD]".into(), "accuracy [%]".into(), "p90 time in system [h]".into(), "finished within target [%]".into()], rows },
        ],
    });

    // Paired differences.
    let mut headers = vec!["change".into(), "other axes".into()];
    headers.extend(KEY_FIGURES.iter().map(|(n, _, u, _, _)| format!("{n} [{u}]")));
    let rows: Vec<Vec<String>> = diffs
        .iter()
        .map(|d| {
            let mut r = vec![format!("{} {} instead of {}", d.axis, d.to, d.from), d.fixed.clone()];
            r.extend(d.deltas.iter().map(|&(x, h)| signed(x, h)));
            r
        })
        .collect();
    sections.push(Section {
        heading: "What each step changes (paired over common random numbers)".into(),
        blocks: vec![
            Block::Text(format!("Each row moves one axis to its next value with the others fixed; replication r of both points ran with the same seed, so the difference is taken replication by replication (mean ± 95% interval over the {} replications).", m.replications)),
            Block::Table { headers, rows },
        ],
    });

    Page {
        title: format!("Sweep: {}", m.scenario),
        subtitle: vec![
            format!("{} points × {} replications, seed {} (common random numbers across points)", m.points, m.replications, m.seed),
            format!("axes: {}", m.axes.iter().map(|a: &Axis| format!("{} = {}", a.key, a.values.join(", "))).collect::<Vec<_>>().join("; ")),
        ],
        sections,
    }
}
