//! `tessera bench`: every routing policy on every benchmark scenario over held-out seeds, with
//! common random numbers, in parallel; writes a leaderboard (markdown and CSV) with 95% CIs.

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use tessera_engine::metrics::reward::figures;
use tessera_engine::metrics::stats::mean_ci;
use tessera_engine::run::{replication_seed, run, RunOptions};
use tessera_engine::spec::Scenario;
use super::bench_learned::{learned_section, model_path, references_section, LearnedRow, SeedRows};
use tessera_policies::learned::PolicyFile;
use tessera_reports::{leaderboard_csv, leaderboard_md, leaderboard_streams_csv, SeedSet, StreamTable};

/// Offset between the tuning seeds and the held-out evaluation seeds.
pub const EVAL_SEED_OFFSET: u64 = 1_000_000;

/// The long `--help` text (set on the subcommand in `cli/mod.rs`).
pub const LONG_ABOUT: &str = "Benchmark routing policies on scenarios and write a leaderboard.

Runs every policy on every scenario over N seeds and writes DIR/report.html (the leaderboard as charts with 95% intervals, per scenario), DIR/leaderboard.md and \
DIR/leaderboard.csv: per scenario and policy, the mean and 95% confidence half-width of the \
accuracy of final labels, the cost per final label [USD], the 90th percentile of time in system \
[h] (every arrival: tasks still open at the end count with their age), the deadline-miss rate, \
the average holding cost (Σ streams.holding_cost × mean tasks in system) and one composite \
reward (higher is better):

  reward = accuracy × completed share − deadline-miss rate − 0.1 × cost per final label [USD]
           − 0.05 × p90 time in system [h] (open tasks at their age)

Per stream (DIR/leaderboard-streams.csv, and a table in the markdown for scenarios with several \
streams): the share of tasks finished within the stream's turnaround target and its \
deadline-miss rate, so that a stream left behind is not hidden by the totals.

The best policy of each scenario by reward is starred, and the best value of each column is bold.
A References section gives each scenario's hindsight reference: the best heuristic's reward on
each seed, chosen after the fact, averaged (a reference, not a bound).

Learned policies: with --models DIR, each scenario's DIR/<scenario name>.mpk (written by `tessera
train`) runs on the same seeds, and a Learned policies section (and leaderboard-learned.csv)
gives its paired difference against the best heuristic and what its training cost.

Common random numbers: on a given seed every policy sees the same arrivals, the same true labels \
and the same workforce (each actor's random stream is keyed by its name), so differences between \
policies are not noise in the inputs.

Seeds: replication r of the tuning set uses seed replication_seed(S, r); of the held-out \
evaluation set, replication_seed(S + 1000000, r), with S = --seed. The leaderboard is computed on \
the evaluation set only (pass --tuning to run the tuning set while tuning a policy's parameters).

Runs in parallel (rayon; --threads or RAYON_NUM_THREADS); the files are byte-identical for the \
same inputs at any thread count.

Input: a file matched by a glob of --scenarios that is not a scenario (no [[streams]] or \
[[pools]], e.g. scenarios/Cargo.toml) is skipped with a note; named without a glob it is an \
error. A policy or scenario file given twice runs once. --seeds is 1 to 10000, --threads 1 to \
1024. With one seed there is no confidence interval: the markdown shows \"± n/a\" and the CSV \
half-width cells are empty (\"nan\" there means a figure that was not finite in some seed).

Examples:
  tessera bench
  tessera bench --policies fifo,c-mu,max-weight,batch-lp --seeds 10
  tessera bench --scenarios 'scenarios/bench/qgym/*.toml' --policies c-mu,max-weight,fixed-priority --seeds 30
  tessera bench --scenarios scenarios/mmc.toml --set run.horizon=2d --out out/mmc-bench";

/// Benchmark routing policies on scenarios and write a leaderboard.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Scenario files, as paths or globs with * and ? in the file name (repeatable)
    /// [default: scenarios/bench/*.toml, scenarios/bench/qgym/*.toml and scenarios/bench/learning/*.toml]
    #[arg(long, value_name = "GLOB")]
    pub scenarios: Vec<String>,
    /// Comma-separated policy names [default: every policy]
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub policies: Vec<String>,
    /// Seeds (replications) per scenario and policy, 1 to 10,000
    #[arg(long, default_value_t = 5, value_parser = parse_seeds)]
    pub seeds: u32,
    /// Base seed S of both seed sets
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Run on the tuning seeds instead of the held-out evaluation seeds
    #[arg(long)]
    pub tuning: bool,
    /// Change a field of every scenario by its dotted path, e.g. run.horizon=1d (repeatable)
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Worker threads, 1 to 1,024 [default: RAYON_NUM_THREADS, else every core]
    #[arg(long, value_parser = parse_threads)]
    pub threads: Option<usize>,
    /// Learned policies: DIR/<scenario name>.mpk (from `tessera train`) runs beside the heuristics
    /// on each scenario that has one, in a section of its own
    #[arg(long, value_name = "DIR")]
    pub models: Option<PathBuf>,
    /// Output directory
    #[arg(long, short = 'o', value_name = "DIR", default_value = "out/bench")]
    pub out: PathBuf,
    /// Print nothing but errors
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// The most seeds per scenario and policy: 10,000 replications already give a confidence
/// half-width 45 times narrower than 5 do; a larger count is a typo (and would run for days).
pub const MAX_SEEDS: u32 = 10_000;

/// The most worker threads (`--threads`).
pub const MAX_THREADS: usize = 1024;

fn parse_seeds(s: &str) -> Result<u32, String> {
    let t = s.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("expected a whole number of seeds from 1 to {MAX_SEEDS}"));
    }
    match t.parse::<u64>() {
        Ok(0) => Err("at least 1 seed is needed".into()),
        Ok(n) if n <= MAX_SEEDS as u64 => Ok(n as u32),
        _ => Err(format!("{t} is more than the limit of {MAX_SEEDS} seeds per scenario and policy (each seed is one run of every policy on every scenario)")),
    }
}

fn parse_threads(s: &str) -> Result<usize, String> {
    match s.trim().parse::<u64>() {
        Ok(n) if (1..=MAX_THREADS as u64).contains(&n) => Ok(n as usize),
        _ => Err(format!("expected a number of threads from 1 to {MAX_THREADS}")),
    }
}

/// Whether `name` matches `pat` (* = any run of characters, ? = one character).
fn matches(pat: &[char], name: &[char]) -> bool {
    match (pat.first(), name.first()) {
        (None, None) => true,
        (Some('*'), _) => matches(&pat[1..], name) || (!name.is_empty() && matches(pat, &name[1..])),
        (Some('?'), Some(_)) => matches(&pat[1..], &name[1..]),
        (Some(p), Some(n)) if p == n => matches(&pat[1..], &name[1..]),
        _ => false,
    }
}

/// Expands a path whose file name may hold * and ?; sorted.
fn expand(glob: &str) -> Result<Vec<PathBuf>> {
    let path = Path::new(glob);
    let file = path.file_name().and_then(|f| f.to_str()).unwrap_or_default();
    if !file.contains(['*', '?']) {
        return Ok(vec![path.to_path_buf()]);
    }
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let pat: Vec<char> = file.chars().collect();
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("cannot read directory {}", dir.display()))? {
        let e = e?;
        let name: Vec<char> = e.file_name().to_string_lossy().chars().collect();
        if e.file_type()?.is_file() && matches(&pat, &name) {
            out.push(e.path());
        }
    }
    out.sort();
    Ok(out)
}

/// Prints a note on stderr unless quiet.
fn note(quiet: bool, msg: std::fmt::Arguments) {
    if !quiet {
        eprintln!("note: {msg}");
    }
}

/// The scenario files of `--scenarios`: globs expanded, files matched by a glob that are not
/// scenarios skipped (with a note), a file matched twice kept once (with a note). A file named
/// without a glob must be a scenario.
fn scenario_paths(globs: &[String], quiet: bool) -> Result<Vec<PathBuf>> {
    let mut paths: Vec<PathBuf> = Vec::new();
    let mut seen: Vec<PathBuf> = Vec::new();
    for g in globs {
        let is_glob = Path::new(g).file_name().and_then(|f| f.to_str()).is_some_and(|f| f.contains(['*', '?']));
        let found = expand(g)?;
        if found.is_empty() {
            bail!("no scenario file matches {g:?}");
        }
        let mut kept = 0;
        let mut skipped = Vec::new();
        for p in found {
            if let Some(why) = std::fs::read_to_string(&p).ok().and_then(|t| tessera_scenarios::not_a_scenario(&t)) {
                if !is_glob {
                    bail!("{}: not a scenario: {why}", p.display());
                }
                note(quiet, format_args!("skipping {} (matched by {g:?}): not a scenario: {why}", p.display()));
                skipped.push(p);
                continue;
            }
            kept += 1;
            let key = std::fs::canonicalize(&p).unwrap_or_else(|_| p.clone());
            if let Some(i) = seen.iter().position(|k| *k == key) {
                note(quiet, format_args!("{} is named more than once (by {g:?} too): run once", paths[i].display()));
                continue;
            }
            seen.push(key);
            paths.push(p);
        }
        if kept == 0 {
            bail!("no scenario file matches {g:?}: {}", if skipped.len() == 1 { "the one file it matches is not a scenario".to_string() } else { format!("none of the {} files it matches is a scenario", skipped.len()) });
        }
    }
    Ok(paths)
}

/// The policies of `--policies` (every policy when empty), each once in first-occurrence order.
fn policy_list(given: &[String], quiet: bool) -> Result<Vec<String>> {
    let all = tessera_policies::heuristics();
    if given.is_empty() {
        return Ok(all.iter().map(|s| s.to_string()).collect());
    }
    let mut out: Vec<String> = Vec::new();
    let mut repeated: Vec<&str> = Vec::new();
    for p in given {
        let p = p.trim();
        if !all.contains(&p) {
            bail!("unknown policy {p:?}; expected one of: {}", all.join(", "));
        }
        if out.iter().any(|q| q == p) {
            if !repeated.contains(&p) {
                repeated.push(p);
            }
        } else {
            out.push(p.to_string());
        }
    }
    if !repeated.is_empty() {
        note(quiet, format_args!("--policies names {} more than once: each runs once ({})", repeated.join(", "), out.join(",")));
    }
    Ok(out)
}

/// A leaderboard: what `tessera bench` writes, as text.
pub struct Leaderboard {
    /// leaderboard.md
    pub markdown: String,
    /// leaderboard.csv: one row per (scenario, policy), every figure's mean and 95% half-width
    pub csv: String,
    /// leaderboard-streams.csv: per (scenario, policy, stream)
    pub streams_csv: String,
    /// report.html: the leaderboard as charts
    pub report: tessera_reports::html::Page,
    /// leaderboard-learned.csv, with --models
    pub learned_csv: Option<String>,
    pub scenarios: usize,
    pub policies: usize,
    pub seeds: usize,
}

impl Leaderboard {
    pub fn runs(&self) -> usize {
        self.scenarios * self.policies * self.seeds
    }
}

pub fn run_bench(args: BenchArgs) -> Result<()> {
    let board = leaderboard(&args)?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create output directory {}", args.out.display()))?;
    std::fs::write(args.out.join("leaderboard.csv"), &board.csv)?;
    std::fs::write(args.out.join("leaderboard.md"), &board.markdown)?;
    std::fs::write(args.out.join("leaderboard-streams.csv"), &board.streams_csv)?;
    if let Some(l) = &board.learned_csv {
        std::fs::write(args.out.join("leaderboard-learned.csv"), l)?;
    }
    board.report.write(&args.out, "report.html")?;
    if !args.quiet {
        println!("{} runs ({} scenarios × {} policies × {} seeds): wrote {}/leaderboard.md, leaderboard.csv, leaderboard-streams.csv and report.html", board.runs(), board.scenarios, board.policies, board.seeds, args.out.display());
    }
    Ok(())
}

/// Runs the benchmark of `args` (everything but `out`) and returns the leaderboard; writes nothing.
pub fn leaderboard(args: &BenchArgs) -> Result<Leaderboard> {
    // the command line checks these as it parses; callers from the library are checked here
    parse_seeds(&args.seeds.to_string()).map_err(|e| anyhow::anyhow!("seeds: {e}"))?;
    if let Some(t) = args.threads {
        parse_threads(&t.to_string()).map_err(|e| anyhow::anyhow!("threads: {e}"))?;
    }
    let globs = if args.scenarios.is_empty() { vec!["scenarios/bench/*.toml".to_string(), "scenarios/bench/qgym/*.toml".to_string(), "scenarios/bench/learning/*.toml".to_string()] } else { args.scenarios.clone() };
    let paths = scenario_paths(&globs, args.quiet)?;
    let policies = policy_list(&args.policies, args.quiet)?;
    let scenarios: Vec<Scenario> = paths.iter().map(|p| super::load_scenario(p, &args.set)).collect::<Result<_>>()?;
    let base = if args.tuning { args.seed } else { args.seed.wrapping_add(EVAL_SEED_OFFSET) };
    let n = args.seeds as usize;
    let seeds: Vec<u64> = (0..args.seeds).map(|r| replication_seed(base, r)).collect();
    let runs = scenarios.len() * policies.len() * n;

    let bar = ProgressBar::with_draw_target(Some(runs as u64), if args.quiet { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stderr() });
    bar.set_style(ProgressStyle::with_template("{spinner} bench [{bar:40}] {pos}/{len} runs ({elapsed} / ~{eta})").unwrap().progress_chars("=> "));
    // One cell per (scenario, policy), in that order: its seeds run in parallel and are folded
    // into the mean and 95% half-width of each figure as soon as the cell's seeds are done, so
    // memory holds the seeds of the cells in flight only, never one entry per run.
    type Cell = ([(f64, f64); 6], Vec<[(f64, f64); 2]>, SeedRows);
    let cells: Vec<(usize, usize)> = (0..scenarios.len()).flat_map(|s| (0..policies.len()).map(move |p| (s, p))).collect();
    let work = || -> Result<Vec<Cell>, String> {
        cells
            .par_iter()
            .map(|&(s, p)| {
                let mut sc = scenarios[s].clone();
                sc.routing.policy = policies[p].clone();
                let sc = &sc;
                // Per seed: the leaderboard figures, and per stream the stream figures.
                let rows: Vec<([f64; 6], Vec<[f64; 2]>)> = seeds
                    .par_iter()
                    .map(|&seed| {
                        let routing = sc.routing.clone();
                        let make = move || tessera_policies::router_for(&routing).expect("known policy");
                        let out = run(sc, &make, RunOptions::figures(seed), &mut |_| {})?;
                        bar.inc(1);
                        let per_stream = (0..sc.streams.len())
                            .map(|i| {
                                let f = out.summary.streams.get(&sc.stream_name(i));
                                [f.map_or(f64::NAN, |f| f.completion_within_target), f.map_or(f64::NAN, |f| f.deadline_miss_rate)]
                            })
                            .collect();
                        Ok((figures(&out.summary, sc), per_stream))
                    })
                    .collect::<Result<_, String>>()?;
                let figs = std::array::from_fn(|k| ci(&rows.iter().map(|r| r.0[k]).collect::<Vec<f64>>()));
                let streams = (0..sc.streams.len()).map(|j| [0, 1].map(|k| ci(&rows.iter().map(|r| r.1[j][k]).collect::<Vec<f64>>()))).collect();
                Ok((figs, streams, rows.iter().map(|r| r.0).collect()))
            })
            .collect()
    };
    let results = match args.threads {
        Some(t) => rayon::ThreadPoolBuilder::new().num_threads(t).build()?.install(work),
        None => work(),
    }
    .map_err(anyhow::Error::msg)?;
    bar.finish_and_clear();

    let mut table = vec![vec![[(0.0, 0.0); 6]; policies.len()]; scenarios.len()];
    let mut stream_cells: Vec<Vec<Vec<[(f64, f64); 2]>>> = vec![Vec::with_capacity(policies.len()); scenarios.len()];
    let mut seed_rows: Vec<Vec<SeedRows>> = vec![Vec::with_capacity(policies.len()); scenarios.len()];
    for (&(s, p), (figs, streams, rows)) in cells.iter().zip(results) {
        table[s][p] = figs;
        stream_cells[s].push(streams);
        seed_rows[s].push(rows);
    }
    let streams: Vec<StreamTable> = stream_cells
        .into_iter()
        .enumerate()
        .map(|(s, cells)| ((0..scenarios[s].streams.len()).map(|i| scenarios[s].stream_name(i)).collect(), cells))
        .collect();
    let names: Vec<String> = scenarios.iter().map(|s| s.name.clone().unwrap_or_default()).collect();
    let csv = leaderboard_csv(&names, &policies, &table, n);
    let seed_set = SeedSet { tuning: args.tuning, base: args.seed, offset: if args.tuning { 0 } else { EVAL_SEED_OFFSET }, count: seeds.len() };
    let mut markdown = leaderboard_md(&names, &paths, &policies, &table, &streams, &command_line(args, &policies), &seed_set);
    markdown.push_str(&references_section(&names, &policies, &seed_rows));
    let learned_csv = match &args.models {
        Some(dir) => {
            let learned = evaluate_learned(dir, &scenarios, &names, &seeds, args.threads, args.quiet)?;
            let (md, csv) = learned_section(&names, &policies, &seed_rows, &learned);
            markdown.push_str(&md);
            Some(csv)
        }
        None => None,
    };
    let streams_csv = leaderboard_streams_csv(&names, &policies, &streams, n);
    let report = tessera_reports::leaderboard_report(&names, &policies, &table, n, &command_line(args, &policies));
    Ok(Leaderboard { markdown, csv, streams_csv, report, learned_csv, scenarios: scenarios.len(), policies: policies.len(), seeds: n })
}

/// Runs each scenario's learned policy (DIR/<name>.mpk) on `seeds`.
fn evaluate_learned(dir: &Path, scenarios: &[Scenario], names: &[String], seeds: &[u64], threads: Option<usize>, quiet: bool) -> Result<Vec<LearnedRow>> {
    if !dir.is_dir() {
        bail!("--models {}: not a folder", dir.display());
    }
    let mut out = Vec::new();
    for (s, sc) in scenarios.iter().enumerate() {
        let Some(path) = model_path(dir, &names[s]) else {
            note(quiet, format_args!("--models: no {}.mpk in {}, so no learned policy on {}", names[s], dir.display(), names[s]));
            continue;
        };
        let policy = PolicyFile::read(&path).map_err(anyhow::Error::msg)?;
        let mut sc = sc.clone();
        sc.routing.policy = "learned".into();
        sc.routing.model = Some(path.display().to_string());
        let sc = &sc;
        let work = || -> Result<SeedRows, String> {
            seeds
                .par_iter()
                .map(|&seed| {
                    let routing = sc.routing.clone();
                    let make = move || tessera_policies::router_for(&routing).expect("policy file read above");
                    let out = run(sc, &make, RunOptions::figures(seed), &mut |_| {})?;
                    Ok(figures(&out.summary, sc))
                })
                .collect()
        };
        let rows = match threads {
            Some(t) => rayon::ThreadPoolBuilder::new().num_threads(t).build()?.install(work),
            None => work(),
        }
        .map_err(anyhow::Error::msg)?;
        out.push(LearnedRow { scenario: s, file: path.display().to_string(), policy, rows });
    }
    Ok(out)
}

/// The command that reproduces a leaderboard (without output and thread options).
fn command_line(args: &BenchArgs, policies: &[String]) -> String {
    let mut c = String::from("tessera bench");
    for g in &args.scenarios {
        let _ = write!(c, " --scenarios '{g}'");
    }
    if !args.policies.is_empty() {
        let _ = write!(c, " --policies {}", policies.join(","));
    }
    let _ = write!(c, " --seeds {}", args.seeds);
    if args.seed != 1 {
        let _ = write!(c, " --seed {}", args.seed);
    }
    if args.tuning {
        c.push_str(" --tuning");
    }
    if let Some(m) = &args.models {
        let _ = write!(c, " --models {}", m.display());
    }
    for kv in &args.set {
        let _ = write!(c, " --set {kv}");
    }
    c
}

#[cfg(test)]
mod tests {
    use super::matches;
    #[test]
    fn glob_matching() {
        let m = |p: &str, n: &str| matches(&p.chars().collect::<Vec<_>>(), &n.chars().collect::<Vec<_>>());
        assert!(m("*.toml", "a.toml"));
        assert!(m("n-*.toml", "n-model.toml"));
        assert!(!m("*.toml", "a.toml.bak"));
        assert!(m("?.toml", "a.toml"));
        assert!(!m("?.toml", "ab.toml"));
    }
}

/// Mean and 95% half-width, or NaN when a value is not finite.
fn ci(xs: &[f64]) -> (f64, f64) {
    if xs.iter().all(|x| x.is_finite()) {
        mean_ci(xs, 0.95)
    } else {
        (f64::NAN, f64::NAN)
    }
}
