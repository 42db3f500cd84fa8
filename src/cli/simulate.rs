//! `tessera simulate`: run a scenario, write summary.json, tasks.csv and (with --trace) events.jsonl.

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tessera_engine::run::{run_replications, summarize_replications};

/// The long `--help` text (set on the subcommand in `cli/mod.rs`).
pub const LONG_ABOUT: &str = "Run a scenario in simulated time and write its figures.

Writes DIR/summary.json (every figure as mean and 95% confidence interval over the replications, \
plus each replication), DIR/tasks.csv (one row per task) and, with --trace, DIR/events.jsonl. \
The output is a pure function of the scenario, the overrides and the seed: the same inputs give \
byte-identical files at any thread count. The trace (schema tessera.trace/2, documented in \
README.md) is streamed to disk as the run goes: one header line per replication, then one line \
per decision with durable ids, absolute timestamps and names.

Examples:
  tessera simulate scenarios/mmc.toml
  tessera simulate scenarios/llm-preference.toml --replications 10 --seed 7
  tessera simulate scenarios/lidar-cuboids.toml --set pools.experts.count=8 --set quality.overlap=2
  tessera simulate scenarios/mmc.toml --set run.horizon=30d --set routing.policy=skill-greedy

The scenario format is documented field by field in scenarios/README.md.";

/// Run a scenario and write its figures.
#[derive(Args, Debug)]
pub struct SimulateArgs {
    /// Scenario file (TOML)
    pub scenario: PathBuf,
    /// Seed of the first replication [default: the scenario's run.seed, else 1]
    #[arg(long)]
    pub seed: Option<u64>,
    /// Independent replications, run in parallel [default: the scenario's run.replications, else 1]
    #[arg(long, short = 'r')]
    pub replications: Option<u32>,
    /// Change one scenario field by its dotted path, e.g. pools.crowd.count=60 (repeatable)
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Output directory [default: out/<scenario name>]
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Also write every event to DIR/events.jsonl
    #[arg(long)]
    pub trace: bool,
    /// Print nothing but errors
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

pub fn run(args: SimulateArgs) -> Result<()> {
    let scenario = super::load_scenario(&args.scenario, &args.set)?;
    let seed = args.seed.unwrap_or(scenario.run.seed);
    let reps = args.replications.unwrap_or(scenario.run.replications);
    if reps == 0 {
        bail!("--replications must be at least 1");
    }
    let routing = scenario.routing.clone();
    let make_router = move || tessera_policies::router_for(&routing).expect("validated policy name");
    let name = scenario.name.clone().unwrap_or_else(|| "scenario".into());
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("out").join(&name));
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create output directory {}", out.display()))?;

    // Progress: a bar that appears only when the run takes longer than a second.
    let started = Instant::now();
    let bar = ProgressBar::with_draw_target(Some(1000), ProgressDrawTarget::hidden());
    bar.set_style(ProgressStyle::with_template("{spinner} simulating {msg} [{bar:40}] {percent}% ({elapsed} / ~{eta})").unwrap().progress_chars("=> "));
    bar.set_message(name.clone());
    let fractions = Mutex::new(vec![0.0f64; reps as usize]);
    let shown = std::sync::atomic::AtomicBool::new(false);
    let progress = |r: u32, f: f64| {
        let total = {
            let mut fr = fractions.lock().unwrap();
            fr[r as usize] = f;
            fr.iter().sum::<f64>() / reps as f64
        };
        if !args.quiet && started.elapsed() > Duration::from_secs(1) && !shown.swap(true, std::sync::atomic::Ordering::Relaxed) {
            bar.set_draw_target(ProgressDrawTarget::stderr());
        }
        bar.set_position((total * 1000.0) as u64);
    };
    let events = out.join("events.jsonl");
    let open_trace = |r: u32| -> Result<Box<dyn tessera_engine::run::record::TraceSink>, String> { Ok(Box::new(tessera_reports::TracePart::create(&events, r)?)) };
    let trace: Option<tessera_engine::run::TraceFactory> = if args.trace { Some(&open_trace) } else { None };
    let runs = run_replications(&scenario, &make_router, seed, reps, true, trace, &progress);
    let runs = match runs {
        Ok(runs) => runs,
        Err(e) => {
            if args.trace {
                for r in 0..reps {
                    let _ = std::fs::remove_file(tessera_reports::trace_part_path(&events, r));
                }
            }
            return Err(anyhow::Error::msg(e));
        }
    };
    bar.finish_and_clear();

    let summaries: Vec<_> = runs.iter().map(|r| r.summary.clone()).collect();
    let summary = summarize_replications(&summaries, seed);
    tessera_reports::write_summary_json(&out.join("summary.json"), &summary)?;
    tessera_reports::write_tasks_csv(&out.join("tasks.csv"), runs.iter().enumerate().map(|(i, r)| (i as u32, r.tasks.as_slice())))?;
    if args.trace {
        tessera_reports::join_trace_parts(&events, reps)?;
    }
    if !args.quiet {
        print!("{}", tessera_reports::human_summary(&summary));
        let events: u64 = summaries.iter().map(|s| s.events).sum();
        let secs = started.elapsed().as_secs_f64();
        println!(
            "  wrote {}/summary.json, tasks.csv{} ({} events in {:.2} s)",
            out.display(),
            if args.trace { ", events.jsonl" } else { "" },
            events,
            secs
        );
    }
    Ok(())
}
