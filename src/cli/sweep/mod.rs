//! `tessera sweep`: what-if grids over scenario fields, run in parallel with common random
//! numbers, resumable, shardable over machines (`--shard i/n`, then `tessera sweep merge`).

mod grid;
mod results;
mod store;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use store::{Manifest, PointFile, SWEEP_SCHEMA};
use tessera_engine::run::{run_replications_each, summarize_replications, Keep};

pub const LONG_ABOUT: &str = "Run a what-if grid: every combination of the --vary values, each with the same \
replications and seeds (common random numbers), so the difference between two points is measured \
replication by replication and its interval is tight.

  --vary KEY=1,3,5           a list of values
  --vary KEY=20..60:10       a range, both ends included (step 1 when left out)

The first --vary varies slowest. Points run in parallel. Writes to DIR (default out/<scenario>-sweep):
  results.csv       one row per point: the varied values, replications (and how many stopped early), then
                    every summary figure's mean and 95% half-width
  differences.csv   each step of each axis, the others fixed: paired differences in cost per final label,
                    accuracy, p90 time in system and the share finished within target, with 95% intervals
  report.html       response curves with bands, the Pareto frontier of cost, accuracy and p90 time in
                    system (non-dominated points marked), the paired differences; charts also in charts/
  points/           one file per finished point, sweep.json (what the sweep is)

Interrupted (Ctrl-C, a lost machine)? Run the same command again: finished points are kept and only
the rest run. Spread over machines: run `--shard I/N` (I = 0..N-1, e.g. a Kubernetes indexed Job's
JOB_COMPLETION_INDEX or Slurm's SLURM_ARRAY_TASK_ID) on each, each with its own --out, then
`tessera sweep merge DIR... --out DIR`: the merged results.csv and report.html are byte for byte
those of a single-machine run. deploy/ has a Kubernetes Job and a Slurm array script.

Examples:
  tessera sweep scenarios/ecommerce-surge.toml --vary pools.crowd.count=40..100:20 --vary quality.overlap=1,3,5 -r 10
  tessera sweep scenarios/mmc.toml --vary routing.policy=fifo,skill-greedy,c-mu --shard 0/2 --out s0
  tessera sweep merge s0 s1 --out merged";

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct SweepArgs {
    #[command(subcommand)]
    pub merge: Option<SweepCommand>,
    /// Scenario file (TOML)
    #[arg(required = true)]
    pub scenario: Option<PathBuf>,
    /// A varied field and its values: KEY=1,3,5 or KEY=FROM..TO[:STEP] (repeatable; both ends included)
    #[arg(long = "vary", value_name = "KEY=VALUES", required = true)]
    pub vary: Vec<String>,
    /// Replications per point [default: the scenario's run.replications]
    #[arg(long, short = 'r')]
    pub replications: Option<u32>,
    /// Seed of the first replication, the same at every point [default: the scenario's run.seed]
    #[arg(long)]
    pub seed: Option<u64>,
    /// Change one field at every point (repeatable), as in `tessera simulate --set`
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Remove one field at every point (repeatable)
    #[arg(long = "unset", value_name = "KEY")]
    pub unset: Vec<String>,
    /// Output folder [default: out/<scenario name>-sweep]
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Run only shard I of N (points whose index is I modulo N; I from 0), for `sweep merge`
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Print nothing but errors
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

#[derive(Subcommand, Debug)]
pub enum SweepCommand {
    /// Combine the folders of a sharded sweep into the results of a single run
    Merge(MergeArgs),
}

#[derive(Args, Debug)]
pub struct MergeArgs {
    /// The shards' output folders
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Where the merged sweep goes
    #[arg(long, short = 'o', value_name = "DIR", required = true)]
    pub out: PathBuf,
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

pub fn run(a: SweepArgs) -> Result<()> {
    if let Some(SweepCommand::Merge(m)) = a.merge {
        return merge(m);
    }
    let path = a.scenario.clone().context("a scenario file is required")?;
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let axes: Vec<grid::Axis> = a.vary.iter().map(|v| grid::parse_vary(v)).collect::<Result<_>>()?;
    for (i, x) in axes.iter().enumerate() {
        if axes[..i].iter().any(|y| y.key == x.key) {
            bail!("--vary {}: the same key twice", x.key);
        }
    }
    let grid = grid::points(&axes)?;
    let shard = a.shard.as_deref().map(grid::Shard::parse).transpose()?;
    // Every point is loaded and validated before anything runs: a bad value stops the sweep at once.
    let mut scenarios = Vec::with_capacity(grid.len());
    for (i, g) in grid.iter().enumerate() {
        let mut set = a.set.clone();
        set.extend(axes.iter().zip(g).map(|(ax, &v)| format!("{}={}", ax.key, ax.values[v])));
        let loaded = super::load_scenario_with(&path, &a.unset, &set).with_context(|| format!("point {i} ({})", axes.iter().zip(g).map(|(ax, &v)| format!("{}={}", ax.key, ax.values[v])).collect::<Vec<_>>().join(", ")))?;
        scenarios.push(loaded.scenario);
    }
    let (seed, reps) = super::simulate::seed_and_replications(&scenarios[0], a.seed, a.replications)?;
    let name = scenarios[0].name.clone().unwrap_or_else(|| "scenario".into());
    let out = a.out.clone().unwrap_or_else(|| PathBuf::from("out").join(format!("{}-sweep", super::simulate::folder_name(&name))));
    let manifest = Manifest {
        schema: SWEEP_SCHEMA.into(),
        scenario: name.clone(),
        scenario_fnv1a64: store::fnv1a64(&bytes),
        unset: a.unset.clone(),
        set: a.set.clone(),
        axes: axes.clone(),
        seed,
        replications: reps,
        points: grid.len(),
    };
    store::open(&out, &manifest)?;
    let mine: Vec<usize> = (0..grid.len()).filter(|&i| shard.map_or(true, |s| s.holds(i))).collect();
    let mut todo = Vec::new();
    for &i in &mine {
        if store::read_point(&out, i)?.is_none() {
            todo.push(i);
        }
    }
    let kept = mine.len() - todo.len();

    let started = Instant::now();
    let bar = ProgressBar::with_draw_target(Some(todo.len() as u64 * reps as u64), if a.quiet { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stderr() });
    bar.set_style(ProgressStyle::with_template("{spinner} sweep {msg} [{bar:30}] {pos}/{len} replications ({elapsed} / ~{eta})").unwrap().progress_chars("=> "));
    let done_points = AtomicU64::new(0);
    bar.set_message(format!("{name}: 0/{} points", todo.len()));
    let result: Result<()> = todo.par_iter().try_for_each(|&i| -> Result<()> {
        let s = &scenarios[i];
        let routing = s.routing.clone();
        let make_router = move || tessera_policies::router_for(&routing).expect("validated policy name");
        let mut summaries = Vec::new();
        let mut stopped = Vec::new();
        run_replications_each(s, &make_router, seed, reps, Keep::default(), &|_, f| {
            if f >= 1.0 {
                bar.inc(1);
            }
        }, &mut |o| {
            summaries.push(o.summary);
            stopped.extend(o.stopped);
        })
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("point {i}"))?;
        let summary = summarize_replications(&summaries, seed, &stopped);
        let values = axes.iter().zip(&grid[i]).map(|(ax, &v)| (ax.key.clone(), ax.values[v].clone())).collect();
        store::write_point(&out, &PointFile { index: i, values, summary })?;
        let d = done_points.fetch_add(1, Ordering::Relaxed) + 1;
        bar.set_message(format!("{name}: {d}/{} points", todo.len()));
        Ok(())
    });
    bar.finish_and_clear();
    result?;
    let secs = started.elapsed().as_secs_f64();
    if let Some(s) = shard {
        if !a.quiet {
            println!("shard {}/{}: {} points ({} run now, {kept} kept from before) in {}, written to {}/points; combine the shards with `tessera sweep merge DIR... --out DIR`", s.index, s.count, mine.len(), todo.len(), tessera_reports::human_secs(secs), out.display());
        }
        return Ok(());
    }
    let t = Instant::now();
    finish(&out, &manifest)?;
    if !a.quiet {
        println!(
            "sweep {name}: {} points × {reps} replications ({} run now, {kept} kept from before) in {}; results.csv, differences.csv and report.html ({:.2} s) written to {}",
            grid.len(),
            todo.len(),
            tessera_reports::human_secs(secs),
            t.elapsed().as_secs_f64(),
            out.display()
        );
    }
    Ok(())
}

/// Writes results.csv, differences.csv and report.html from the point files in `dir`.
fn finish(dir: &Path, m: &Manifest) -> Result<()> {
    let grid = grid::points(&m.axes)?;
    let mut points = Vec::with_capacity(grid.len());
    for i in 0..grid.len() {
        let (p, _) = store::read_point(dir, i)?.with_context(|| format!("{}: point {i} is missing", dir.display()))?;
        points.push(p);
    }
    store::write_atomic(&dir.join("results.csv"), results::results_csv(m, &points).as_bytes())?;
    let diffs = results::differences(m, &points, &grid);
    store::write_atomic(&dir.join("differences.csv"), results::differences_csv(&diffs).as_bytes())?;
    let front = results::pareto(&points);
    results::report(m, &points, &grid, &diffs, &front).write(dir, "report.html")?;
    // A replication that stopped early (a stall, the memory guard) is in its point's figures
    // up to where it stopped: say which points have one (results.csv: `stopped_replications`).
    let stopped: Vec<String> = points.iter().filter(|p| p.summary["stopped"].as_array().is_some_and(|a| !a.is_empty())).map(|p| p.index.to_string()).collect();
    if !stopped.is_empty() {
        eprintln!("warning: {} point(s) have replications that stopped early (points {}); their figures cover what ran (points/NNNNN.json: summary.stopped says where and why)", stopped.len(), stopped.join(", "));
    }
    Ok(())
}

fn merge(a: MergeArgs) -> Result<()> {
    let first = store::read_manifest(&a.dirs[0])?;
    for d in &a.dirs[1..] {
        if store::read_manifest(d)? != first {
            bail!("{} and {} hold different sweeps (scenario, overrides, axes, seed or replications differ): only shards of one sweep can be merged", a.dirs[0].display(), d.display());
        }
    }
    store::open(&a.out, &first)?;
    let mut missing = Vec::new();
    for i in 0..first.points {
        let mut found: Option<(PathBuf, Vec<u8>)> = None;
        for d in &a.dirs {
            if let Some((_, bytes)) = store::read_point(d, i)? {
                match &found {
                    Some((other, b)) if *b != bytes => bail!("point {i} differs between {} and {}: the shards did not run the same sweep build", other.display(), d.display()),
                    Some(_) => {}
                    None => found = Some((d.clone(), bytes)),
                }
            }
        }
        match found {
            Some((_, bytes)) => store::write_atomic(&store::point_path(&a.out, i), &bytes)?,
            None if store::read_point(&a.out, i)?.is_some() => {}
            None => missing.push(i),
        }
    }
    if !missing.is_empty() {
        let shown: Vec<String> = missing.iter().take(20).map(|i| i.to_string()).collect();
        bail!("{} of {} points are in none of the folders (points {}{}): run the shards that hold them, then merge again", missing.len(), first.points, shown.join(", "), if missing.len() > 20 { ", ..." } else { "" });
    }
    finish(&a.out, &first)?;
    if !a.quiet {
        println!("merged {} folders: {} points; results.csv, differences.csv and report.html written to {}", a.dirs.len(), first.points, a.out.display());
    }
    Ok(())
}
