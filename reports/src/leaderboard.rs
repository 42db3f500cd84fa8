//! The routing leaderboard that `tessera bench` writes: `leaderboard.csv` (one row per scenario
//! and policy) and `leaderboard.md` (one table per scenario). Both show, per figure of
//! [`FIGURES`], the mean and the 95% confidence half-width over seeds; the best policy of each
//! scenario by composite reward is marked, and in markdown the best value of each column is bold.
//!
//! The figures and the reward come from the engine (`tessera_engine::metrics::reward`); this
//! module only formats them and picks the best of each column.

use std::fmt::Write as _;
use std::path::PathBuf;
use tessera_engine::metrics::reward::{FIGURES, FORMULA, REWARD};

/// Mean and 95% confidence half-width of each figure of [`FIGURES`], indexed by scenario, then by
/// policy.
pub type Table = Vec<Vec<[(f64, f64); 6]>>;

/// Per-stream figures of one scenario: the stream names, then, per policy and stream, the mean
/// and 95% half-width of [`STREAM_FIGURES`].
pub type StreamTable = (Vec<String>, Vec<Vec<[(f64, f64); 2]>>);

/// The per-stream figures of the leaderboard: (markdown column, CSV name, higher is better).
pub const STREAM_FIGURES: [(&str, &str, bool); 2] = [("finished within target", "completion_within_target", true), ("deadline-miss rate", "deadline_miss_rate", false)];

/// Decimal places of each figure of [`FIGURES`] in `leaderboard.md` (the CSV always has 6).
pub const DIGITS: [usize; 6] = [4, 4, 3, 4, 2, 4];

/// The seeds a leaderboard was computed on, as its markdown header describes them: `count`
/// replications with seeds `replication_seed(base + offset, r)`, r < count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeedSet {
    /// Whether these are the tuning seeds (otherwise the held-out evaluation seeds).
    pub tuning: bool,
    /// The base seed S (`--seed`).
    pub base: u64,
    /// The offset added to S for this set (0 for the tuning set).
    pub offset: u64,
    /// Number of seeds (replications) per scenario and policy.
    pub count: usize,
}

/// `x` with `digits` decimal places, or `nan` when it is not finite.
fn fmt(x: f64, digits: usize) -> String {
    if x.is_finite() { format!("{x:.digits$}") } else { "nan".into() }
}

/// A markdown cell: the mean ± the 95% half-width; with one seed there is no interval, and the
/// cell says `± n/a` (a half-width of `nan` with several seeds means a seed's figure was not
/// finite).
fn md_cell(m: f64, h: f64, digits: usize, n: usize) -> String {
    if n < 2 { format!("{} ± n/a", fmt(m, digits)) } else { format!("{} ± {}", fmt(m, digits), fmt(h, digits)) }
}

/// A CSV half-width: empty with one seed (no interval), else 6 decimal places or `nan`.
fn csv_half(h: f64, n: usize) -> String {
    if n < 2 { String::new() } else { fmt(h, 6) }
}

/// Index of the best policy for figure `k` of [`FIGURES`] in one scenario's row of a [`Table`]
/// (highest or lowest mean, as the figure says; the first on ties), or None when every mean is
/// NaN.
pub fn best(row: &[[(f64, f64); 6]], k: usize) -> Option<usize> {
    best_of(row.iter().map(|f| f[k].0), FIGURES[k].2)
}

/// Index of the best finite value (highest or lowest; the first on ties), None when none is.
fn best_of(values: impl Iterator<Item = f64>, higher: bool) -> Option<usize> {
    let mut b: Option<(usize, f64)> = None;
    for (p, x) in values.enumerate() {
        if x.is_finite() && b.is_none_or(|(_, y)| if higher { x > y } else { x < y }) {
            b = Some((p, x));
        }
    }
    b.map(|b| b.0)
}

/// `leaderboard.csv`: a header, then one row per scenario (`names`) and policy with the number of
/// seeds `n`, whether the policy has the best reward of the scenario, and the mean and 95%
/// half-width of each figure (6 decimal places, `nan` when not finite; the half-width is empty
/// with one seed, which has no interval).
pub fn leaderboard_csv(names: &[String], policies: &[String], table: &Table, n: usize) -> String {
    let mut s = String::from("scenario,policy,seeds,best");
    for f in FIGURES {
        let _ = write!(s, ",{0}_mean,{0}_ci95_half_width", f.1);
    }
    s.push('\n');
    for (si, name) in names.iter().enumerate() {
        let star = best(&table[si], REWARD);
        for (pi, p) in policies.iter().enumerate() {
            let _ = write!(s, "{name},{p},{n},{}", star == Some(pi));
            for k in 0..6 {
                let (m, h) = table[si][pi][k];
                let _ = write!(s, ",{},{}", fmt(m, 6), csv_half(h, n));
            }
            s.push('\n');
        }
    }
    s
}

/// `leaderboard.md`: a header with the command that reproduces it (`command_line`), the seeds it
/// was computed on and the reward formula, then one section per scenario (`names`, with its
/// scenario file from `paths`) holding a table of policies × figures; ★ marks the best reward of
/// the scenario and **bold** the best value of each column.
pub fn leaderboard_md(names: &[String], paths: &[PathBuf], policies: &[String], table: &Table, streams: &[StreamTable], command_line: &str, seeds: &SeedSet) -> String {
    let mut s = String::from("# Routing leaderboard\n\n");
    let _ = writeln!(s, "Reproduce with:\n\n```\n{command_line}\n```\n");
    let _ = writeln!(
        s,
        "{} {} {} per scenario and policy ({}: replication_seed({} + {}, r) for r < {}), common random numbers across policies. Each cell is the mean ± the 95% confidence half-width (Student t){}. ★ = best composite reward in the scenario; **bold** = best value of the column.\n",
        if seeds.tuning { "Tuning set:" } else { "Held-out evaluation set:" },
        seeds.count,
        if seeds.count == 1 { "seed" } else { "seeds" },
        if seeds.tuning { "tuning seeds" } else { "evaluation seeds" },
        seeds.base,
        seeds.offset,
        seeds.count,
        if seeds.count < 2 { "; with one seed there is no interval (n/a)" } else { "" }
    );
    s.push_str(FORMULA);
    s.push_str("\n\n");
    for (si, name) in names.iter().enumerate() {
        let _ = writeln!(s, "## {name}\n\n`{}`\n", paths[si].display());
        s.push_str("| policy |");
        for f in FIGURES {
            let _ = write!(s, " {} |", f.0);
        }
        s.push_str("\n|---|");
        s.push_str(&"---:|".repeat(FIGURES.len()));
        s.push('\n');
        let bests: Vec<Option<usize>> = (0..6).map(|k| best(&table[si], k)).collect();
        for (pi, p) in policies.iter().enumerate() {
            let star = if bests[REWARD] == Some(pi) { " ★" } else { "" };
            let _ = write!(s, "| {p}{star} |");
            for k in 0..6 {
                let (m, h) = table[si][pi][k];
                let cell = md_cell(m, h, DIGITS[k], seeds.count);
                if bests[k] == Some(pi) {
                    let _ = write!(s, " **{cell}** |");
                } else {
                    let _ = write!(s, " {cell} |");
                }
            }
            s.push('\n');
        }
        s.push('\n');
        if let Some((names, cells)) = streams.get(si).filter(|(n, _)| n.len() > 1) {
            stream_md(&mut s, names, policies, cells, seeds.count);
        }
    }
    s
}

/// A scenario's per-stream table: policies × (stream, figure), best of each column in bold.
fn stream_md(s: &mut String, streams: &[String], policies: &[String], cells: &[Vec<[(f64, f64); 2]>], n: usize) {
    s.push_str("Per stream (a stream can miss its targets while the totals look fine):\n\n| policy |");
    for st in streams {
        for f in STREAM_FIGURES {
            let _ = write!(s, " {st}: {} |", f.0);
        }
    }
    s.push_str("\n|---|");
    s.push_str(&"---:|".repeat(streams.len() * STREAM_FIGURES.len()));
    s.push('\n');
    let bests: Vec<[Option<usize>; 2]> = (0..streams.len()).map(|j| [0, 1].map(|k| best_of(cells.iter().map(|row| row[j][k].0), STREAM_FIGURES[k].2))).collect();
    for (pi, p) in policies.iter().enumerate() {
        let _ = write!(s, "| {p} |");
        for j in 0..streams.len() {
            for k in 0..STREAM_FIGURES.len() {
                let (m, h) = cells[pi][j][k];
                let cell = md_cell(m, h, 4, n);
                if bests[j][k] == Some(pi) {
                    let _ = write!(s, " **{cell}** |");
                } else {
                    let _ = write!(s, " {cell} |");
                }
            }
        }
        s.push('\n');
    }
    s.push('\n');
}

/// `leaderboard-streams.csv`: one row per scenario, policy and stream with the mean and 95%
/// half-width of each of [`STREAM_FIGURES`] (as in [`leaderboard_csv`]: empty with one seed).
pub fn leaderboard_streams_csv(names: &[String], policies: &[String], streams: &[StreamTable], n: usize) -> String {
    let mut s = String::from("scenario,policy,stream,seeds");
    for f in STREAM_FIGURES {
        let _ = write!(s, ",{0}_mean,{0}_ci95_half_width", f.1);
    }
    s.push('\n');
    for (si, name) in names.iter().enumerate() {
        let (stream_names, cells) = &streams[si];
        for (pi, p) in policies.iter().enumerate() {
            for (j, st) in stream_names.iter().enumerate() {
                let _ = write!(s, "{name},{p},{st},{n}");
                for (m, h) in cells[pi][j] {
                    let _ = write!(s, ",{},{}", fmt(m, 6), csv_half(h, n));
                }
                s.push('\n');
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(n: usize) -> (String, String, String) {
        let names = vec!["s".to_string()];
        let policies = vec!["fifo".to_string()];
        let table: Table = vec![vec![[(0.5, if n < 2 { f64::NAN } else { 0.01 }); 6]]];
        let streams: Vec<StreamTable> = vec![(vec!["a".into(), "b".into()], vec![vec![[(0.25, if n < 2 { f64::NAN } else { 0.02 }); 2]; 2]])];
        let seeds = SeedSet { tuning: false, base: 1, offset: 1_000_000, count: n };
        (
            leaderboard_csv(&names, &policies, &table, n),
            leaderboard_md(&names, &[PathBuf::from("s.toml")], &policies, &table, &streams, "tessera bench", &seeds),
            leaderboard_streams_csv(&names, &policies, &streams, n),
        )
    }

    #[test]
    fn one_seed_has_no_interval_and_says_so() {
        let (csv, md, streams) = one(1);
        assert!(!md.contains("nan"), "{md}");
        assert!(md.contains("| fifo ★ | **0.5000 ± n/a** |") && md.contains("**0.2500 ± n/a**") && md.contains("with one seed there is no interval (n/a)"), "{md}");
        assert_eq!(csv.lines().nth(1).unwrap(), "s,fifo,1,true,0.500000,,0.500000,,0.500000,,0.500000,,0.500000,,0.500000,");
        assert_eq!(streams.lines().nth(1).unwrap(), "s,fifo,a,1,0.250000,,0.250000,");
        let (csv, md, streams) = one(2);
        assert!(md.contains("**0.5000 ± 0.0100**") && !md.contains("n/a"), "{md}");
        assert!(csv.lines().nth(1).unwrap().ends_with(",0.500000,0.010000"));
        assert!(streams.lines().nth(1).unwrap().ends_with(",0.250000,0.020000"));
    }
}

/// The leaderboard as charts (report.html): per scenario, one bar chart per figure of
/// [`FIGURES`], the composite reward first, each policy's mean with its 95% interval.
pub fn leaderboard_report(scenarios: &[String], policies: &[String], table: &Table, n: usize, command: &str) -> crate::html::Page {
    use crate::chart::{Bar, Chart, Plot};
    use crate::html::{Block, Section};
    let order: Vec<usize> = std::iter::once(REWARD).chain((0..FIGURES.len()).filter(|&k| k != REWARD)).collect();
    let sections = scenarios
        .iter()
        .enumerate()
        .map(|(s, name)| {
            let mut blocks = Vec::new();
            if let Some(b) = best(&table[s], REWARD) {
                blocks.push(Block::Text(format!("Best by composite reward: {}.", policies[b])));
            }
            for &k in &order {
                let (label, csv, higher) = FIGURES[k];
                let bars = policies.iter().enumerate().map(|(p, pol)| Bar { label: pol.clone(), value: table[s][p][k].0, half_width: Some(table[s][p][k].1).filter(|h| n > 1 && h.is_finite()) }).collect();
                let slug: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
                blocks.push(Block::Chart(Chart { id: format!("s{s}-{slug}-{}", csv.replace('_', "-")), title: format!("{name}: {label} ({} is better)", if higher { "higher" } else { "lower" }), x_label: label.into(), y_label: String::new(), plot: Plot::Bars { bars }, marker: None }));
            }
            Section { heading: name.clone(), blocks }
        })
        .collect();
    crate::html::Page {
        title: "Routing leaderboard".into(),
        subtitle: vec![format!("{} scenarios × {} policies × {n} seeds; bars: mean, lines: 95% interval over seeds", scenarios.len(), policies.len()), FORMULA.to_string(), format!("Reproduce: {command}")],
        sections,
    }
}
