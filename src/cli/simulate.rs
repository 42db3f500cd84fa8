//! `tessera simulate`: run a scenario, write summary.json, series.csv, tasks.csv (unless
//! `--tasks none`) and (with --trace) events.jsonl, the last two streamed as the run goes.

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tessera_engine::run::record::{RecordSink, TraceSink};
use tessera_engine::run::{run_replications, summarize_replications, Keep};

/// The long `--help` text (set on the subcommand in `cli/mod.rs`).
pub const LONG_ABOUT: &str = "Run a scenario in simulated time and write its figures.

Writes DIR/summary.json (every figure as mean and 95% confidence interval over the replications, \
plus each replication; schema tessera.summary/2, defined figure by figure in README.md), \
DIR/series.csv (arrivals, finals, queue and tasks in the system over time, at most 256 bins per \
replication), DIR/tasks.csv (one row per task, in replication then task order; --tasks none \
skips it) and, with --trace, DIR/events.jsonl. tasks.csv and the trace are streamed to disk as \
tasks finish, so memory follows the tasks in the system, not the length of the run. The output \
is a pure function of the scenario, the overrides and the seed: the same inputs give \
byte-identical files at any thread count. The trace (schema tessera.trace/2, documented in \
README.md) has one header line per replication, then one line per decision with durable ids, \
absolute timestamps and names.

Figures count unfinished work: tasks still open at the end wait and age until the end, and a \
target they have already overrun is missed. When the offered load exceeds what the workforce \
can serve (a fluid bound over streams and pools), the summary says so per stream and pool.

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
    /// Per-task records: csv writes DIR/tasks.csv, none skips it (faster, less disk)
    #[arg(long, value_name = "FORMAT", default_value = "csv")]
    pub tasks: TasksFormat,
    /// Print nothing but errors
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// What to do with per-task records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TasksFormat {
    Csv,
    None,
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
    let tasks_csv = out.join("tasks.csv");
    let with_tasks = args.tasks == TasksFormat::Csv;
    let open_trace = |r: u32| -> Result<Box<dyn TraceSink>, String> { Ok(Box::new(tessera_reports::TracePart::create(&events, r)?)) };
    let open_tasks = |r: u32| -> Result<Box<dyn RecordSink>, String> { Ok(Box::new(tessera_reports::TasksPart::create(&tasks_csv, r)?)) };
    let keep = Keep { records_in_memory: false, records: if with_tasks { Some(&open_tasks) } else { None }, trace: if args.trace { Some(&open_trace) } else { None } };
    let runs = match run_replications(&scenario, &make_router, seed, reps, keep, &progress) {
        Ok(runs) => runs,
        Err(e) => {
            tessera_reports::remove_parts(&events, reps);
            tessera_reports::remove_parts(&tasks_csv, reps);
            return Err(anyhow::Error::msg(e));
        }
    };
    bar.finish_and_clear();

    let summaries: Vec<_> = runs.iter().map(|r| r.summary.clone()).collect();
    let summary = summarize_replications(&summaries, seed);
    tessera_reports::write_summary_json(&out.join("summary.json"), &summary)?;
    tessera_reports::write_series_csv(&out.join("series.csv"), runs.iter().enumerate().map(|(i, r)| (i as u32, r.series.as_slice())))?;
    if with_tasks {
        tessera_reports::join_parts(&tasks_csv, reps)?;
    } else {
        let _ = std::fs::remove_file(&tasks_csv); // not left over from an earlier run
    }
    if args.trace {
        tessera_reports::join_parts(&events, reps)?;
    }
    if !args.quiet {
        // A closed pipe (`| head`) ends the output, not the program with a panic.
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(tessera_reports::human_summary(&summary).as_bytes());
        let events: u64 = summaries.iter().map(|s| s.events).sum();
        let secs = started.elapsed().as_secs_f64();
        let peak = super::peak_memory_bytes().map(|b| format!(", peak memory {:.1} MB", b as f64 / 1e6)).unwrap_or_default();
        let _ = writeln!(
            stdout,
            "  wrote {}/summary.json, series.csv{}{} ({} events over {} replication{} in {:.2} s{peak})",
            out.display(),
            if with_tasks { ", tasks.csv" } else { "" },
            if args.trace { ", events.jsonl" } else { "" },
            events,
            reps,
            if reps == 1 { "" } else { "s" },
            secs
        );
    }
    Ok(())
}
