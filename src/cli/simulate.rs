//! `tessera simulate`: run a scenario, write summary.json, series.csv, tasks.csv (unless
//! `--tasks none`) and (with --trace) events.jsonl, the last two streamed as the run goes.

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tessera_engine::run::record::{RecordSink, TraceSink};
use tessera_engine::run::{run_replications_each, summarize_replications, Cancel, Keep};
use tessera_engine::spec::limits::MAX_REPLICATIONS;
use tessera_engine::spec::Scenario;

/// The long `--help` text (set on the subcommand in `cli/mod.rs`).
pub const LONG_ABOUT: &str = "Run a scenario in simulated time and write its figures.

Writes DIR/summary.json (every figure as mean and 95% confidence interval over the replications, \
plus each replication; schema tessera.summary/2, defined figure by figure in README.md), \
DIR/series.csv (arrivals, finals, queue and tasks in the system over time, at most 256 bins per \
replication), DIR/bias.csv (every annotator with enough answers tested for class bias and, on \
preference pairs, position bias, from final labels, golden answers and the order pairs were shown \
in; flagged at a 10% false-discovery rate), DIR/tasks.csv (one row per task, in replication then \
task order; --tasks none skips it) and, with --trace, DIR/events.jsonl. tasks.csv and the trace are streamed to disk as \
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

Exit status: 0 when every replication ran to its end; 1 on an error (nothing is run, or nothing \
is kept); 3 when a run stopped early and its partial results were written (summary.json names \
where and why in \"stopped\"): a run to a task count that can make no progress, the memory \
limit (--max-memory), or a clock that stopped moving.

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
    /// Change one scenario field by its dotted path, e.g. pools.crowd.count=60 (repeatable).
    /// Setting run.tasks drops run.horizon and the other way round; a whole table cannot be set
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Remove one scenario field or table by its dotted path, e.g. pools.crowd.learning
    /// (repeatable; applied before --set)
    #[arg(long = "unset", value_name = "KEY")]
    pub unset: Vec<String>,
    /// Output directory [default: out/<scenario name>]
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Also write every event to DIR/events.jsonl
    #[arg(long)]
    pub trace: bool,
    /// Per-task records: csv writes DIR/tasks.csv, none skips it (faster, less disk)
    #[arg(long, value_name = "FORMAT", default_value = "csv")]
    pub tasks: TasksFormat,
    /// Stop the run, keeping its partial results, when the process uses more memory than this:
    /// "8GB", "512MiB" or a share of this machine's memory ("50%") [default: 80%]
    #[arg(long, value_name = "SIZE")]
    pub max_memory: Option<String>,
    /// Also write DIR/report.html: charts of the queue, work in progress and throughput over
    /// time, the time-in-system distribution against the turnaround target, utilisation and
    /// wages per pool, cost per final label, accuracy by task type and backlog by stream (one
    /// self-contained file; each chart also as SVG and PNG in DIR/charts/)
    #[arg(long)]
    pub report: bool,
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

/// The folder name made of a scenario's `name`: letters, digits, '-', '_' and '.', never a path
/// (`"../../x"` stays inside `out/`), never hidden or empty, at most 100 characters.
pub fn folder_name(name: &str) -> String {
    let safe: String = name.chars().take(100).map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' }).collect();
    let safe = safe.trim_start_matches('.');
    if safe.chars().all(|c| c == '_' || c == '.') { "scenario".into() } else { safe.into() }
}

/// A run that ended before its horizon or task count: results were written, the exit status is 3.
#[derive(Debug)]
pub struct StoppedEarly(pub String);

impl std::fmt::Display for StoppedEarly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for StoppedEarly {}

/// The seed and replication count of a run: those given, else the scenario's; 1 to
/// `MAX_REPLICATIONS` replications.
pub fn seed_and_replications(scenario: &Scenario, seed: Option<u64>, replications: Option<u32>) -> Result<(u64, u32)> {
    let seed = seed.unwrap_or(scenario.run.seed);
    let reps = replications.unwrap_or(scenario.run.replications);
    if reps == 0 {
        bail!("--replications must be at least 1");
    }
    if reps > MAX_REPLICATIONS {
        bail!("--replications {reps}: at most {MAX_REPLICATIONS} replications are supported (the 95% intervals shrink as 1/sqrt(n): 10,000 replications already give a hundredth of one replication's spread)");
    }
    Ok((seed, reps))
}

/// A simulation run in memory, for callers other than the command line (the Python package).
pub struct InMemory {
    /// The summary, as summary.json (schema tessera.summary/2)
    pub summary: serde_json::Value,
    /// tasks.csv's text (header, then replication and task order), when asked for
    pub tasks_csv: Option<Vec<u8>>,
}

/// Runs `reps` replications of a loaded scenario from `seed` as `tessera simulate` does, writing
/// no file: the summary and, when `tasks`, the per-task records in tasks.csv's format.
pub fn simulate_in_memory(scenario: &Scenario, seed: u64, reps: u32, tasks: bool) -> Result<InMemory> {
    let routing = scenario.routing.clone();
    let make_router = move || tessera_policies::router_for(&routing).expect("validated policy name");
    let keep = Keep { records_in_memory: tasks, ..Keep::default() };
    let mut summaries = Vec::new();
    let mut stopped = Vec::new();
    let mut csv = tasks.then(|| tessera_reports::TASKS_CSV_HEADER.as_bytes().to_vec());
    run_replications_each(scenario, &make_router, seed, reps, keep, &|_, _| {}, &mut |mut o| {
        if let Some(out) = csv.as_mut() {
            o.tasks.sort_by_key(|t| t.task);
            for t in &o.tasks {
                tessera_reports::task_row(out, summaries.len() as u32, t);
            }
        }
        summaries.push(o.summary);
        stopped.extend(o.stopped);
    })
    .map_err(anyhow::Error::msg)?;
    Ok(InMemory { summary: summarize_replications(&summaries, seed, &stopped), tasks_csv: csv })
}

pub fn run(args: SimulateArgs) -> Result<()> {
    let loaded = super::load_scenario_with(&args.scenario, &args.unset, &args.set)?;
    let scenario = loaded.scenario;
    if !args.quiet {
        for w in &loaded.warnings {
            eprintln!("warning: {w}");
        }
    }
    let (seed, reps) = seed_and_replications(&scenario, args.seed, args.replications)?;
    let max_memory = match &args.max_memory {
        Some(t) => super::memory::parse_limit(t).map_err(|e| anyhow::anyhow!("--max-memory: {e}"))?,
        None => super::memory::machine_memory_bytes().map_or(u64::MAX, |m| (m as f64 * super::memory::DEFAULT_SHARE) as u64),
    };
    let routing = scenario.routing.clone();
    let make_router = move || tessera_policies::router_for(&routing).expect("validated policy name");
    let name = scenario.name.clone().unwrap_or_else(|| "scenario".into());
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("out").join(folder_name(&name)));
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create output directory {}", out.display()))?;

    // Progress: a bar that appears only when the run takes longer than a second.
    let started = Instant::now();
    let bar = ProgressBar::with_draw_target(Some(1000), ProgressDrawTarget::hidden());
    bar.set_style(ProgressStyle::with_template("{spinner} simulating {msg} [{bar:40}] {percent}% ({elapsed} / ~{eta})").unwrap().progress_chars("=> "));
    bar.set_message(name.clone());
    // Fractions of the replications under way; finished ones are only counted.
    let running: Mutex<(BTreeMap<u32, f64>, u32)> = Mutex::new((BTreeMap::new(), 0));
    let shown = std::sync::atomic::AtomicBool::new(false);
    let progress = |r: u32, f: f64| {
        let total = {
            let mut g = running.lock().unwrap_or_else(|e| e.into_inner());
            if f >= 1.0 {
                g.0.remove(&r);
                g.1 += 1;
            } else {
                g.0.insert(r, f);
            }
            (g.1 as f64 + g.0.values().sum::<f64>()) / reps as f64
        };
        if !args.quiet && started.elapsed() > Duration::from_secs(1) && !shown.swap(true, std::sync::atomic::Ordering::Relaxed) {
            bar.set_draw_target(ProgressDrawTarget::stderr());
        }
        bar.set_position((total * 1000.0) as u64);
    };
    let events = out.join("events.jsonl");
    let tasks_csv = out.join("tasks.csv");
    let with_tasks = args.tasks == TasksFormat::Csv;
    // Files of an earlier run that this one will not write must not sit beside its results.
    for (file, written) in [(&events, args.trace), (&tasks_csv, with_tasks)] {
        if !written {
            let _ = std::fs::remove_file(file);
        }
    }
    let open_trace = |r: u32| -> Result<Box<dyn TraceSink>, String> { Ok(Box::new(tessera_reports::TracePart::create(&events, r)?)) };
    // Rows are built and written on their own thread: the simulation only copies each record.
    let open_tasks = |r: u32| -> Result<Box<dyn RecordSink>, String> { Ok(Box::new(tessera_reports::tasks_thread::TasksOnThread::new(tessera_reports::TasksPart::create(&tasks_csv, r)?)?)) };
    let cancel = Arc::new(Cancel::default());
    let guard = super::memory::Guard::start(max_memory, cancel.clone());
    let keep = Keep {
        records_in_memory: false,
        records: if with_tasks { Some(&open_tasks) } else { None },
        trace: if args.trace { Some(&open_trace) } else { None },
        cancel: Some(&cancel),
        period_us: None,
    };
    // Replications are folded as they finish, in order: their summaries (small) are kept, their
    // series go to series.csv at once.
    let mut series = tessera_reports::SeriesWriter::create(&out.join("series.csv"))?;
    let mut bias = tessera_reports::BiasWriter::create(&out.join("bias.csv"))?;
    let mut summaries = Vec::new();
    let mut stopped = Vec::new();
    let mut series_error = None;
    // For the report: each replication's bins and time-in-system quantiles (bounded per replication).
    let mut report_series = Vec::new();
    let mut report_cdfs = Vec::new();
    let result = run_replications_each(&scenario, &make_router, seed, reps, keep, &progress, &mut |o| {
        if let Err(e) = series.write(summaries.len() as u32, &o.series).and_then(|_| bias.write(summaries.len() as u32, &o.bias)) {
            series_error.get_or_insert(e);
        }
        if args.report {
            report_series.push(o.series);
            report_cdfs.push(o.time_in_system_cdf);
        }
        summaries.push(o.summary);
        stopped.extend(o.stopped);
    });
    drop(guard);
    let ran = match result {
        Ok(n) => n,
        Err(e) => {
            tessera_reports::remove_parts(&events, reps);
            tessera_reports::remove_parts(&tasks_csv, reps);
            return Err(anyhow::Error::msg(e));
        }
    };
    bar.finish_and_clear();
    if let Some(e) = series_error {
        return Err(e);
    }
    series.finish()?;
    bias.finish()?;
    if ran == 0 {
        bail!("{}", cancel.reason().unwrap_or_else(|| "no replication ran".into()));
    }
    let summary = summarize_replications(&summaries, seed, &stopped);
    tessera_reports::write_summary_json(&out.join("summary.json"), &summary)?;
    if args.report {
        tessera_reports::simulate_report(&summary, &report_series, &report_cdfs, &tessera_engine::run::cdf_levels()).write(&out, "report.html")?;
    } else {
        tessera_reports::html::remove(&out, "report.html");
    }
    if with_tasks {
        tessera_reports::join_parts(&tasks_csv, ran)?;
        tessera_reports::remove_parts(&tasks_csv, reps); // parts of replications never started
    }
    if args.trace {
        tessera_reports::join_parts(&events, ran)?;
        tessera_reports::remove_parts(&events, reps);
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
            "  wrote {}/summary.json, series.csv, bias.csv{}{}{} ({} events over {} replication{} in {:.2} s{peak})",
            out.display(),
            if with_tasks { ", tasks.csv" } else { "" },
            if args.report { ", report.html" } else { "" },
            if args.trace { ", events.jsonl" } else { "" },
            events,
            ran,
            if ran == 1 { "" } else { "s" },
            secs
        );
    }
    if !stopped.is_empty() || ran < reps {
        let mut msg = String::from("the run stopped early; the results written cover what ran until then (summary.json: \"stopped\")");
        for s in &stopped {
            msg.push_str(&format!("\n  replication {} stopped at {}: {}", s.replication, tessera_reports::human_secs(s.at_s), s.reason));
        }
        if ran < reps {
            msg.push_str(&format!("\n  {} of {reps} replications ran", ran));
        }
        return Err(StoppedEarly(msg).into());
    }
    Ok(())
}
