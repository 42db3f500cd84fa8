//! `tessera aggregate`: consensus labels for a real answers file.

use super::Format;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use tessera_engine::quality::aggregation::{Aggregation, Aggregator, MajorityVote, Method, SmoothedDawidSkene, NO_LABEL};
use tessera_engine::quality::bias_batch::{self, WorkerClassBias, WorkerPositionBias};
use tessera_scenarios::answers::{read_answers, read_truth, Role};

pub const LONG_ABOUT: &str = "\
Aggregate crowd answers into one label per task.

Reads ANSWERS.csv with columns task,worker,label (found by header name; extra columns are ignored;
labels may be strings or integers) and runs one consensus algorithm. The algorithms follow
crowd-kit 1.4.2 step by step, with its default parameters:

  mv           majority vote (ties go to the lowest label)
  wawa         vote weighted by each worker's agreement with the majority
  zbs          zero-based skill: weights learned by gradient steps toward agreement
  gold-mv      vote weighted by accuracy on golden tasks (needs --golden)
  ds           Dawid-Skene: one confusion matrix per worker, EM (the usual best choice)
  one-coin-ds  Dawid-Skene with one accuracy per worker
  glad         GLAD: worker ability and task difficulty
  mace         MACE: workers either know the answer or spam
  kos          Karger-Oh-Shah message passing (two labels only; its sign is anchored so that it
               agrees with majority vote on at least half the tasks)
  mmsr         M-MSR: robust rank-one fit of worker agreement
  ds-smoothed  Dawid-Skene with a Dirichlet prior on each confusion column (0.7 accuracy, 2
               pseudo-answers per class), so workers with few answers get mild matrices

With --gt GT.csv (columns task,label) it reports the accuracy over the tasks that have both
answers and a true label, and how many those are. With --golden GOLD.csv, ds, one-coin-ds and ds-smoothed pin
those tasks to their known labels while fitting, and gold-mv learns its weights from them.

With --bias it also tests every worker for class bias: the strength toward a class is the share
of answers given to that class whatever the item, estimated against the ds-smoothed posteriors
(golden tasks pinned; each answer against the posterior without its own factor, so that it does
not vouch for itself), tested per worker (one-sided z, Bonferroni over the classes) and flagged
when the Benjamini-Hochberg q-value is at most --fdr (default 0.1). With an answers column `left`
(the label shown on the left of a preference pair) it also reports position bias per worker
(picks of the left one, exact binomial test, the same false-discovery control).

Labels are compared as text. Errors (exit 1): a truth or golden label that is an answer label
written differently (1.0 for 1, Cat for cat); a task given two different labels; a truth or
golden file that shares no task with the answers, or truth none of whose labels occurs in them;
a quoted field running over several lines (an unterminated quote). Warnings (stderr, and the JSON
\"warnings\" list): answers repeating a (task, worker) pair (kept as separate votes, as in
crowd-kit), truth rows repeated, naming tasks without answers (not scored) or with a label no
answer uses (scored as wrong), --golden with a method that ignores it, and kos agreeing with
majority vote on fewer than 75% of the tasks.

Output: CSV task,label,confidence (to --out, or stdout when neither --out nor --format json is
given); a summary (table or one JSON object) goes to stdout, or to stderr when labels go to stdout.

Example:
  tessera aggregate data/crowd/rte/labels.csv --method ds --gt data/crowd/rte/gt.csv \\
      --out rte-labels.csv --format json
  {\"method\":\"ds\",\"tasks\":800,\"workers\":164,\"answers\":8000,\"accuracy\":0.9275,\"scored_tasks\":800,\"iterations\":9,\"seconds\":0.002,\"warnings\":[]}
  tessera aggregate data/crowd/s_adult/labels.csv --bias --fdr 0.05 --format json
  {..., \"bias\":{\"estimator\":\"ds-smoothed\",\"fdr\":0.05,\"workers_tested\":...,\"flagged\":...,
   \"workers\":[{\"worker\":...,\"answers\":...,\"toward\":\"1\",\"strength\":...,\"raw\":...,\"z\":...,
   \"p\":...,\"q\":...,\"flagged\":true}, ...]}}";

/// Aggregate crowd answers into one label per task (majority vote, Dawid-Skene, GLAD, ...).
#[derive(clap::Args, Debug)]
#[command(long_about = LONG_ABOUT)]
pub struct AggregateArgs {
    /// Answers CSV with columns task,worker,label.
    #[arg(value_name = "ANSWERS.csv")]
    pub answers: PathBuf,
    /// Aggregation method.
    #[arg(long, short, default_value = "ds", value_parser = parse_method)]
    pub method: Method,
    /// Ground truth CSV (task,label): report accuracy against it.
    #[arg(long, value_name = "GT.csv")]
    pub gt: Option<PathBuf>,
    /// Golden labels CSV (task,label): known answers used while fitting (ds, one-coin-ds, ds-smoothed, gold-mv, --bias).
    #[arg(long, value_name = "GOLD.csv")]
    pub golden: Option<PathBuf>,
    /// Where to write task,label,confidence.
    #[arg(long, short, value_name = "LABELS.csv")]
    pub out: Option<PathBuf>,
    /// Summary format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Test every worker for class bias (and position bias with a `left` column).
    #[arg(long)]
    pub bias: bool,
    /// False-discovery rate of the bias flags (Benjamini-Hochberg).
    #[arg(long, default_value_t = bias_batch::DEFAULT_FDR, value_parser = parse_fdr, requires = "bias")]
    pub fdr: f64,
}

fn parse_fdr(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x > 0.0 && x <= 1.0 => Ok(x),
        _ => Err(format!("{s:?} is not a false-discovery rate; expected a number in (0, 1], e.g. 0.1")),
    }
}

/// The bias report: class bias per tested worker, position bias where the file says what was
/// shown on the left.
struct BiasReport {
    class: Vec<WorkerClassBias>,
    position: Option<Vec<WorkerPositionBias>>,
}

impl BiasReport {
    /// Sorted by q, then worker name: deterministic output.
    fn sort(&mut self, names: &[String]) {
        let key = |q: f64, w: u32| (q, names[w as usize].clone());
        self.class.sort_by(|a, b| key(a.q, a.worker).partial_cmp(&key(b.q, b.worker)).unwrap_or(std::cmp::Ordering::Equal));
        if let Some(p) = &mut self.position {
            p.sort_by(|a, b| key(a.q, a.worker).partial_cmp(&key(b.q, b.worker)).unwrap_or(std::cmp::Ordering::Equal));
        }
    }

    fn json(&self, fdr: f64, file: &tessera_scenarios::answers::AnswersFile) -> serde_json::Value {
        let name = |w: u32| file.worker_names[w as usize].as_str();
        let workers: Vec<_> = self
            .class
            .iter()
            .map(|b| {
                serde_json::json!({
                    "worker": name(b.worker),
                    "answers": b.bias.answers.round() as u64,
                    "toward": file.label_names[b.bias.toward as usize],
                    "strength": b.bias.strength,
                    "raw": b.bias.raw,
                    "z": b.bias.z,
                    "p": b.bias.p,
                    "q": b.q,
                    "flagged": b.flagged,
                })
            })
            .collect();
        let mut v = serde_json::json!({
            "estimator": Method::DsSmoothed.name(),
            "fdr": fdr,
            "workers_tested": self.class.len(),
            "flagged": self.class.iter().filter(|b| b.flagged).count(),
            "workers": workers,
        });
        if let Some(p) = &self.position {
            let workers: Vec<_> = p
                .iter()
                .map(|b| {
                    serde_json::json!({
                        "worker": name(b.worker),
                        "answers": b.bias.answers,
                        "left": b.bias.left,
                        "strength": b.bias.strength,
                        "p": b.bias.p,
                        "q": b.q,
                        "flagged": b.flagged,
                    })
                })
                .collect();
            v["position"] = serde_json::json!({
                "fdr": fdr,
                "workers_tested": p.len(),
                "flagged": p.iter().filter(|b| b.flagged).count(),
                "workers": workers,
            });
        }
        v
    }

    fn table(&self, fdr: f64, file: &tessera_scenarios::answers::AnswersFile) -> String {
        let name = |w: u32| file.worker_names[w as usize].as_str();
        let flagged: Vec<_> = self.class.iter().filter(|b| b.flagged).collect();
        let mut s = format!(
            "bias        {} of {} workers tested flagged (class bias against ds-smoothed, FDR {fdr})\n",
            flagged.len(),
            self.class.len()
        );
        if !flagged.is_empty() {
            s += &format!("  {:<24} {:<12} {:>8} {:>8} {:>9}\n", "worker", "toward", "strength", "answers", "q");
        }
        for b in flagged {
            s += &format!(
                "  {:<24} {:<12} {:>8.3} {:>8} {:>9.2e}\n",
                name(b.worker),
                file.label_names[b.bias.toward as usize],
                b.bias.strength,
                b.bias.answers.round() as u64,
                b.q
            );
        }
        if let Some(p) = &self.position {
            let flagged: Vec<_> = p.iter().filter(|b| b.flagged).collect();
            s += &format!("position    {} of {} judges tested flagged (left picks, FDR {fdr})\n", flagged.len(), p.len());
            for b in flagged {
                s += &format!("  {:<24} {:>8.3} {:>8} {:>9.2e}\n", name(b.worker), b.bias.strength, b.bias.answers, b.q);
            }
        }
        s
    }
}


fn parse_method(s: &str) -> Result<Method, String> {
    s.parse()
}

fn write_labels(w: &mut dyn Write, r: &Aggregation, tasks: &[String], labels: &[String]) -> std::io::Result<()> {
    writeln!(w, "task,label,confidence")?;
    for (t, name) in tasks.iter().enumerate() {
        if r.labels[t] == NO_LABEL {
            continue;
        }
        let label = &labels[r.labels[t] as usize];
        writeln!(w, "{},{},{:.6}", csv_field(name), csv_field(label), r.confidence(t))?;
    }
    Ok(())
}

fn csv_field(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\"")).into()
    } else {
        s.into()
    }
}

/// Methods that read golden labels.
const USE_GOLDEN: [Method; 4] = [Method::Ds, Method::OneCoinDs, Method::GoldMv, Method::DsSmoothed];

/// Below this share of tasks agreeing with majority vote, a KOS result gets a warning.
const KOS_MV_AGREEMENT: f64 = 0.75;

pub fn run(args: AggregateArgs) -> anyhow::Result<()> {
    let start = Instant::now();
    let file = read_answers(&args.answers)?;
    let mut warnings = file.warnings.clone();
    let gt = args.gt.as_deref().map(|p| read_truth(p, &file, Role::Truth)).transpose()?;
    let golden = args.golden.as_deref().map(|p| read_truth(p, &file, Role::Golden)).transpose()?;
    for t in gt.iter().chain(&golden) {
        warnings.extend(t.warnings.iter().cloned());
    }
    if golden.is_some() && !USE_GOLDEN.contains(&args.method) && !args.bias {
        warnings.push(format!(
            "--golden is read by {} only; {} ignores it",
            USE_GOLDEN.map(|m| m.name()).join(", "),
            args.method.name()
        ));
    }
    // Said before the fit, which may take a while.
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let golden_tasks = golden.as_ref().map(|g| g.tasks);
    let golden = golden.map(|g| g.labels);
    let a = &file.answers;

    // A spinner on stderr only when the fit is likely to take a while.
    let long = a.len() * a.n_labels.max(2) > 2_000_000 && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let bar = long.then(|| {
        let pb = indicatif::ProgressBar::new_spinner();
        pb.set_message(format!("{}: fitting {} answers", args.method.name(), a.len()));
        pb.enable_steady_tick(std::time::Duration::from_millis(120));
        pb
    });
    let fit_start = Instant::now();
    let result = args
        .method
        .aggregator()
        .fit(a, golden.as_deref())
        .with_context(|| format!("{} on {}", args.method.name(), args.answers.display()))?;
    let fit_secs = fit_start.elapsed().as_secs_f64();
    if let Some(pb) = bar {
        pb.finish_and_clear();
    }
    let bias = if args.bias {
        let class = if args.method == Method::DsSmoothed {
            bias_batch::class_bias_by_worker(&bias_batch::WorkerTallies::new(a, &result.probas, result.confusion.as_ref()), args.fdr)
        } else {
            bias_batch::class_bias_batch(a, golden.as_deref(), &SmoothedDawidSkene::default(), args.fdr)
                .with_context(|| format!("ds-smoothed (--bias) on {}", args.answers.display()))?
                .1
        };
        let position = file.left.as_ref().map(|left| bias_batch::position_bias_by_worker(a, left, args.fdr));
        let mut r = BiasReport { class, position };
        r.sort(&file.worker_names);
        Some(r)
    } else {
        None
    };
    let accuracy = gt.as_ref().and_then(|g| result.accuracy(&g.labels));
    let scored = gt.as_ref().map(|g| g.tasks);
    if args.method == Method::Kos {
        let mv = MajorityVote::default().fit(a, None)?;
        let agree = (0..a.n_tasks).filter(|&t| result.labels[t] == mv.labels[t]).count();
        if (agree as f64) < KOS_MV_AGREEMENT * a.n_tasks as f64 {
            let w = format!(
                "kos agrees with majority vote on only {agree} of {} tasks ({:.0}%): KOS assumes workers without a bias toward one label, and workers who give one label to most of many tasks can carry its messages; compare with --method ds",
                a.n_tasks,
                100.0 * agree as f64 / a.n_tasks as f64
            );
            eprintln!("warning: {w}");
            warnings.push(w);
        }
    }

    let labels_to_stdout = args.out.is_none() && args.format == Format::Table;
    if let Some(path) = &args.out {
        let f = std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        let mut w = std::io::BufWriter::new(f);
        write_labels(&mut w, &result, &file.task_names, &file.label_names)
            .and_then(|_| w.flush())
            .with_context(|| format!("cannot write {}", path.display()))?;
    } else if labels_to_stdout {
        let stdout = std::io::stdout();
        let mut w = std::io::BufWriter::new(stdout.lock());
        write_labels(&mut w, &result, &file.task_names, &file.label_names)?;
        w.flush()?;
    }

    match args.format {
        Format::Json => {
            let mut v = serde_json::json!({
                "method": args.method.name(),
                "tasks": a.n_tasks,
                "workers": a.n_workers,
                "answers": a.len(),
                "labels": a.n_labels,
                "accuracy": accuracy,
                "scored_tasks": scored,
                "golden_tasks": golden_tasks,
                "iterations": result.iterations,
                "seconds": fit_secs,
                "total_seconds": start.elapsed().as_secs_f64(),
                "warnings": warnings,
            });
            if let Some(b) = &bias {
                v["bias"] = b.json(args.fdr, &file);
            }
            println!("{v}");
        }
        Format::Table => {
            let mut s = String::new();
            s += &format!("method      {}\n", args.method.name());
            s += &format!("tasks       {}\nworkers     {}\nanswers     {}\nlabels      {}\n", a.n_tasks, a.n_workers, a.len(), a.n_labels);
            if let Some(n) = golden_tasks {
                s += &format!("golden      {n} of {} tasks\n", a.n_tasks);
            }
            if let (Some(acc), Some(n)) = (accuracy, scored) {
                s += &format!("accuracy    {acc:.4} on {n} of {} tasks (those with truth)\n", a.n_tasks);
            }
            s += &format!("iterations  {}\nseconds     {fit_secs:.4}\n", result.iterations);
            if let Some(b) = &bias {
                s += &b.table(args.fdr, &file);
            }
            if labels_to_stdout {
                eprint!("{s}");
            } else {
                print!("{s}");
            }
        }
    }
    Ok(())
}
