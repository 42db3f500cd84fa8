//! `tessera train`: trains a learned routing policy on a scenario with PPO (crate tessera-learn)
//! and writes the policy file, a checkpoint after every iteration (resumable), and a training
//! report (reward and loss curves) beside it.

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::path::{Path, PathBuf};
use tessera_learn::reward::Objective;
use tessera_learn::es::{evolve, EsConfig, Generation};
use tessera_learn::train::{train, Config, Iteration};
use tessera_policies::learned::features::Candidates;
use tessera_policies::learned::PolicyFile;
use tessera_reports::chart::{Chart, Line, Plot};
use tessera_reports::html::{cell, Block, Page, Section};

pub const LONG_ABOUT: &str = "Train a routing policy with reinforcement learning (PPO) and write it as a policy file.

Each iteration runs --episodes simulations of the scenario in parallel with the current policy
(training seeds: replication seeds of --seed, never one of the bench's held-out evaluation seeds),
puts a reward on every routing decision, and takes a PPO update (burn, CPU). The policy sees, per
decision, a few candidates (the first eligible task of each stream for a free annotator, and with
--candidates oldest-and-youngest each stream's youngest too; the longest-idle and the most trusted
eligible annotator of each pool for a new task) described by what routing may know:
stream, type, age, deadline slack, confidence, labels still needed, declared skill, speed and cost,
trust, idle time, queue lengths. Never hidden truth.

Rewards (--objective):
  composite  the bench's reward made additive per task: +1 for a right final label, −1 for a missed
             deadline, −0.1 × per-item pay [USD], and a time cost of 0.05 × T² / 2 for a task
             in the system T hours (a convex stand-in for the bench's p90; the default)
  holding    −Σ holding_cost × hours in the system (QGym's figure of merit)
Each decision owns the interval until the next one; values are relative to the batch's average
reward rate (average-reward PPO, as for queueing networks in Dai & Gluzman 2022).

--algo es fine-tunes a trained policy (--from FILE, or --warm-start POLICY's behaviour cloning)
with evolution strategies on the figure the bench ranks by: each generation perturbs the weights
in --pairs antithetic pairs, runs every member greedily on the same --episodes fresh training
seeds, and steps along the ranked scores (composite: the bench's reward with its p90 and miss rate;
holding: minus the holding cost per hour). The best centre on --validation fixed seeds is kept.

Writes OUT (the policy file, rewritten after every iteration: run again with --resume to go on
from it) and, beside it, OUT's stem + '-report/report.html' (reward and loss curves, SVG and PNG).
Use it with `routing.policy = \"learned\"` and `routing.model = \"OUT\"` in a scenario (or
--set routing.policy=learned --set routing.model=OUT), or `tessera bench --models DIR`.

Examples:
  tessera train scenarios/bench/learning/cmu-two-class.toml --objective holding --iterations 25 --set run.horizon=500h --out cmu.mpk
  tessera train scenarios/bench/qgym/n-model.toml --objective holding --steps 2000000 --out n-model.mpk
  tessera train scenarios/bench/tight-deadlines.toml --warm-start c-mu --iterations 60 --out td.mpk
  tessera train scenarios/bench/tight-deadlines.toml --algo es --from td.mpk --iterations 40 --out td-es.mpk
  tessera train scenarios/bench/drifting-workforce.toml --algo es --warm-start skill-greedy --warm-start-epochs 1 \
      --candidates oldest-and-youngest --sigma 0.3 --lr 0.03 --iterations 25 --out dw.mpk";

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Scenario file (TOML)
    pub scenario: PathBuf,
    /// Algorithm: ppo (per-decision rewards, from scratch or a warm start), or es (evolution
    /// strategies: fine-tunes a policy on the bench's own figure, run by run; starts from --from,
    /// --warm-start or --resume)
    #[arg(long, default_value = "ppo", value_parser = ["ppo", "es"])]
    pub algo: String,
    /// Reward to maximise: composite (the bench's, per task) or holding (−Σ h × time in system)
    #[arg(long, default_value = "composite", value_parser = ["composite", "holding"])]
    pub objective: String,
    /// PPO iterations (each: --episodes simulations, then one update); with --algo es, the
    /// generations to reach (those of the starting file count)
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub iterations: u32,
    /// Stop once this many decisions were trained on, if before --iterations
    #[arg(long, value_name = "N")]
    pub steps: Option<u64>,
    /// Simulations per iteration (run in parallel); with --algo es, training seeds per member
    /// and generation [default: 8 for ppo, 4 for es]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub episodes: Option<u32>,
    /// es: antithetic pairs per generation (each generation runs 2 × pairs × --episodes simulations)
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub pairs: u32,
    /// es: noise scale on the weights
    #[arg(long, default_value_t = 0.02)]
    pub sigma: f64,
    /// es: validation seeds, fixed for the run; the best centre on them is the result
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub validation: u32,
    /// es: start from this policy file (e.g. one PPO trained); written to --out, never changed
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,
    /// Training seed (network initialisation, rollouts, minibatches)
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Width of the network's hidden layers
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(4..=512))]
    pub hidden: u32,
    /// Adam's learning rate [default: 0.001 for ppo, 0.01 for es]
    #[arg(long)]
    pub lr: Option<f64>,
    /// Behaviour-cloning warm start: imitate this heuristic first (e.g. c-mu)
    #[arg(long, value_name = "POLICY")]
    pub warm_start: Option<String>,
    /// Tasks a free annotator is offered: oldest (the oldest eligible task of each stream), or
    /// oldest-and-youngest (also each stream's youngest: the policy may serve fresh work before
    /// a stale backlog). Kept in the policy file; --from and --resume keep their file's
    /// [default: oldest]
    #[arg(long, value_parser = Candidates::NAMES)]
    pub candidates: Option<String>,
    /// Passes of behaviour cloning over the teacher's decisions (few keep the policy exploring)
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub warm_start_epochs: u32,
    /// Discount per mean interval between decisions (closer to 1: decisions answer for costs
    /// further ahead, with noisier estimates)
    #[arg(long, default_value_t = 0.99)]
    pub gamma: f64,
    /// Weight of the entropy bonus in PPO's loss (more: the policy keeps exploring longer)
    #[arg(long, default_value_t = 0.01)]
    pub entropy: f64,
    /// Go on from the policy file at --out (its iterations count towards --iterations)
    #[arg(long)]
    pub resume: bool,
    /// Change one scenario field (repeatable), e.g. run.horizon=500h for shorter episodes
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Worker threads [default: RAYON_NUM_THREADS, else every core]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub threads: Option<u32>,
    /// The policy file to write
    #[arg(long, short = 'o', value_name = "FILE", default_value = "policy.mpk")]
    pub out: PathBuf,
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// --candidates (default oldest), checked against a starting file's rule when there is one.
fn candidates(a: &TrainArgs, start: Option<&PolicyFile>) -> Result<Candidates> {
    let asked = a.candidates.as_deref().map(|c| Candidates::parse(c).expect("clap checked"));
    match (start, asked) {
        (Some(p), Some(c)) if p.net.candidates != c => {
            bail!("--candidates {}: the starting policy was trained on --candidates {} (a network decides over the candidates it was trained on)", c.name(), p.net.candidates.name())
        }
        (Some(p), _) => Ok(p.net.candidates),
        (None, c) => Ok(c.unwrap_or_default()),
    }
}

/// Writes `bytes` to `path` through a temporary file and a rename (a checkpoint is never torn).
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("mpk.tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

pub fn run(a: TrainArgs) -> Result<()> {
    let scenario = super::load_scenario(&a.scenario, &a.set)?;
    if let Some(t) = &a.warm_start {
        if !tessera_policies::heuristics().contains(&t.as_str()) {
            bail!("--warm-start {t:?}: expected one of {}", tessera_policies::heuristics().join(", "));
        }
    }
    let start = if a.resume {
        let p = PolicyFile::read(&a.out).map_err(anyhow::Error::msg).with_context(|| format!("--resume reads the checkpoint at --out {}", a.out.display()))?;
        Some(p)
    } else {
        None
    };
    if let Some(dir) = a.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    if a.algo == "es" {
        return run_es(a, scenario, start);
    }
    if a.from.is_some() {
        bail!("--from is for --algo es (PPO starts from scratch, --warm-start or --resume)");
    }
    let lr = a.lr.unwrap_or(1e-3);
    let mut cfg = Config {
        objective: Objective::parse(&a.objective).expect("clap checked"),
        iterations: a.iterations,
        episodes: a.episodes.unwrap_or(8) as usize,
        seed: a.seed,
        hidden: a.hidden as usize,
        warm_start: a.warm_start.clone(),
        warm_start_epochs: a.warm_start_epochs as usize,
        max_steps: a.steps,
        candidates: candidates(&a, start.as_ref())?,
        ..Config::default()
    };
    cfg.hyper.lr = lr;
    if !(0.0..=1.0).contains(&a.entropy) {
        bail!("--entropy {}: expected a weight between 0 and 1", a.entropy);
    }
    cfg.hyper.entropy_coef = a.entropy as f32;
    if !(a.gamma > 0.0 && a.gamma <= 1.0) {
        bail!("--gamma {}: expected a discount in (0, 1]", a.gamma);
    }
    cfg.hyper.gamma = a.gamma;
    if !(lr > 0.0 && lr < 1.0) {
        bail!("--lr {lr}: expected a learning rate between 0 and 1");
    }
    let done = start.as_ref().map_or(0, |p| p.training.iterations);
    if done >= a.iterations {
        bail!("the checkpoint at {} has {done} iterations already: ask for more with --iterations", a.out.display());
    }
    let bar = progress_bar((a.iterations - done) as u64, a.quiet, "train", "iterations");
    let mut checkpoint = checkpointer(&a.out);
    let quiet = a.quiet;
    let bar2 = bar.clone();
    let mut progress = |it: &Iteration| {
        bar2.inc(1);
        bar2.set_message(format!("reward per task {:+.4}, {} decisions", it.reward_per_task, it.steps));
        // Piped (no bar drawn): one line per iteration instead.
        if !quiet && bar2.is_hidden() {
            eprintln!("iteration {}: reward per task {:+.4}, {} decisions, policy loss {:+.4}, value loss {:.4}, entropy {:.3}, {:.1} s", it.iteration, it.reward_per_task, it.steps, it.losses.policy, it.losses.value, it.losses.entropy, it.wall_s);
        }
    };
    let policy = on_threads(a.threads, || train(&scenario, &cfg, start, &mut checkpoint, &mut progress))?;
    bar.finish_and_clear();
    finish(&a, &policy)
}

/// The bar of a training run: `len` steps named `unit`, hidden with --quiet.
fn progress_bar(len: u64, quiet: bool, verb: &str, unit: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len), if quiet { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stderr() });
    bar.set_style(ProgressStyle::with_template(&format!("{{spinner}} {verb} [{{bar:30}}] {{pos}}/{{len}} {unit} ({{elapsed}} / ~{{eta}}) {{msg}}")).unwrap().progress_chars("=> "));
    bar
}

/// Writes each checkpoint to `out` (atomically).
fn checkpointer(out: &Path) -> impl FnMut(&PolicyFile) -> Result<(), String> + '_ {
    move |p: &PolicyFile| write_atomic(out, &p.to_bytes()).map_err(|e| format!("cannot write the checkpoint {}: {e}", out.display()))
}

/// Runs `work` on `threads` worker threads (default: rayon's global pool).
fn on_threads(threads: Option<u32>, work: impl FnOnce() -> Result<PolicyFile, String> + Send) -> Result<PolicyFile> {
    match threads {
        Some(t) => rayon::ThreadPoolBuilder::new().num_threads(t as usize).build()?.install(work),
        None => work(),
    }
    .map_err(anyhow::Error::msg)
}

/// Writes the policy file and its report, and says what was done.
fn finish(a: &TrainArgs, policy: &PolicyFile) -> Result<()> {
    write_atomic(&a.out, &policy.to_bytes()).with_context(|| format!("cannot write {}", a.out.display()))?;
    let report_dir = report_dir(&a.out);
    training_report(policy, &a.scenario).write(&report_dir, "report.html")?;
    if !a.quiet {
        let t = &policy.training;
        let last = match (t.es_curve.last(), t.es_best) {
            (Some(_), Some(best)) => format!("best validation score {best:+.4}"),
            _ => format!("last reward per task {:+.4}", t.curve.last().copied().unwrap_or(f64::NAN)),
        };
        println!(
            "trained {} on {}: {} iterations, {} episodes, {} decisions, {:.1} s; {last} ({} objective)",
            t.algo, t.scenario, t.iterations, t.episodes, t.env_steps, t.wall_s, t.objective
        );
        println!("wrote {} and {}", a.out.display(), report_dir.join("report.html").display());
        println!("evaluate it on held-out seeds: tessera simulate {} --set routing.policy=learned --set routing.model={}", a.scenario.display(), a.out.display());
    }
    Ok(())
}

/// `--algo es`: evolution strategies from --from, --resume or a --warm-start's behaviour cloning.
fn run_es(a: TrainArgs, scenario: tessera_engine::spec::Scenario, resumed: Option<PolicyFile>) -> Result<()> {
    let objective = Objective::parse(&a.objective).expect("clap checked");
    let lr = a.lr.unwrap_or(0.01);
    if !(lr > 0.0 && lr < 1.0) {
        bail!("--lr {lr}: expected a learning rate between 0 and 1");
    }
    if !(a.sigma > 0.0 && a.sigma < 10.0) {
        bail!("--sigma {}: expected a noise scale between 0 and 10", a.sigma);
    }
    let name = scenario.name.clone().unwrap_or_default();
    let start = match (resumed, &a.from, &a.warm_start) {
        (Some(p), _, _) => p,
        (None, Some(f), _) => PolicyFile::read(f).map_err(anyhow::Error::msg).with_context(|| format!("--from {}", f.display()))?,
        (None, None, Some(_)) => {
            // Behaviour cloning only (no PPO iteration), then ES from it.
            let cfg = Config {
                objective,
                iterations: 0,
                episodes: a.episodes.unwrap_or(8) as usize,
                seed: a.seed,
                hidden: a.hidden as usize,
                warm_start: a.warm_start.clone(),
                warm_start_epochs: a.warm_start_epochs as usize,
                candidates: candidates(&a, None)?,
                ..Config::default()
            };
            let mut p = train(&scenario, &cfg, None, &mut |_| Ok(()), &mut |_| {}).map_err(anyhow::Error::msg)?;
            p.training.algo = "bc".into();
            p
        }
        (None, None, None) => bail!("--algo es fine-tunes a policy: give --from FILE (a trained policy), --warm-start POLICY (behaviour cloning first) or --resume"),
    };
    if start.training.scenario != name {
        bail!("the starting policy was trained on scenario {:?}, not {name:?}", start.training.scenario);
    }
    candidates(&a, Some(&start))?;
    let done = start.training.es_curve.len() as u32;
    if done >= a.iterations {
        bail!("the starting policy has {done} generations of evolution strategies already: ask for more with --iterations");
    }
    let cfg = EsConfig { objective, generations: a.iterations, pairs: a.pairs as usize, seeds: a.episodes.unwrap_or(4) as usize, validation: a.validation as usize, sigma: a.sigma as f32, lr, seed: a.seed };
    let bar = progress_bar((a.iterations - done) as u64, a.quiet, "evolve", "generations");
    let mut checkpoint = checkpointer(&a.out);
    let (quiet, bar2) = (a.quiet, bar.clone());
    let mut progress = |g: &Generation| {
        bar2.inc(1);
        bar2.set_message(format!("validation {:+.4} (best {:+.4})", g.validation, g.best));
        if !quiet && bar2.is_hidden() {
            eprintln!("generation {}: validation {:+.4}, best {:+.4}, population mean {:+.4}, {} decisions, {:.1} s", g.generation, g.validation, g.best, g.population, g.decisions, g.wall_s);
        }
    };
    let policy = on_threads(a.threads, || evolve(&scenario, &cfg, start, &mut checkpoint, &mut progress))?;
    bar.finish_and_clear();
    finish(&a, &policy)
}

/// `policy.mpk` → `policy-report/`.
pub fn report_dir(out: &Path) -> PathBuf {
    let stem = out.file_stem().map_or("policy".into(), |s| s.to_string_lossy().into_owned());
    out.with_file_name(format!("{stem}-report"))
}

/// The training report: reward and loss curves, and what training cost.
pub fn training_report(p: &PolicyFile, scenario: &Path) -> Page {
    let t = &p.training;
    let x = |i: usize| (i + 1) as f64;
    let reward = Line::new("reward per task", t.curve.iter().enumerate().map(|(i, &r)| (x(i), r)).collect());
    let mut lines = vec![reward];
    if let Some(w) = t.warm_start_reward {
        let mut l = Line::new(format!("{} (teacher)", t.warm_start.as_deref().unwrap_or("warm start")), vec![(1.0, w), (t.curve.len().max(1) as f64, w)]);
        l.dashed = true;
        lines.push(l);
    }
    let names = ["policy loss", "value loss", "entropy"];
    let losses: Vec<Line> = (0..3).map(|k| Line::new(names[k], t.losses.iter().enumerate().map(|(i, l)| (x(i), l[k])).collect())).collect();
    let rows = vec![
        vec!["scenario".into(), format!("{} ({})", t.scenario, scenario.display())],
        vec!["algorithm".into(), t.algo.clone()],
        vec!["objective".into(), t.objective.clone()],
        vec!["seed".into(), t.seed.to_string()],
        vec!["iterations".into(), t.iterations.to_string()],
        vec!["episodes (simulations)".into(), t.episodes.to_string()],
        vec!["decisions trained on".into(), t.env_steps.to_string()],
        vec!["wall clock [s]".into(), cell(t.wall_s)],
        vec!["warm start".into(), t.warm_start.clone().unwrap_or_else(|| "none".into())],
        vec!["candidates".into(), p.net.candidates.name().into()],
    ];
    let mut sections = vec![
            Section { heading: "Training cost".into(), blocks: vec![Block::Table { headers: vec!["".into(), "".into()], rows }] },
            Section {
                heading: "Reward".into(),
                blocks: vec![
                    Block::Text("Mean over each iteration's episodes of the episode's reward divided by its tasks (training seeds, the policy sampling; the greedy policy `simulate` and `bench` run usually does better).".into()),
                    Block::Chart(Chart { id: "reward".into(), title: "Reward per task by iteration".into(), x_label: "iteration".into(), y_label: "reward per task".into(), plot: Plot::Lines { lines }, marker: None }),
                ],
            },
            Section { heading: "Losses".into(), blocks: vec![Block::Chart(Chart { id: "losses".into(), title: "PPO losses and policy entropy by iteration".into(), x_label: "iteration".into(), y_label: "loss / entropy [nats]".into(), plot: Plot::Lines { lines: losses }, marker: None })] },
        ];
    if !t.es_curve.is_empty() {
        let score = if t.objective == "holding" { "minus the holding cost [USD/h]" } else { "the bench's composite reward" };
        let names = ["centre, validation seeds", "population mean, the generation's seeds"];
        let lines: Vec<Line> = (0..2).map(|k| Line::new(names[k], t.es_curve.iter().enumerate().map(|(i, c)| (x(i), c[k])).collect())).collect();
        sections.push(Section {
            heading: "Evolution strategies".into(),
            blocks: vec![
                Block::Text(format!("Fine-tuning on {score} of whole runs (greedy policy, as the bench runs it). The file holds the centre with the best validation score: {}.", t.es_best.map_or("none".into(), |b| format!("{b:+.4}")))),
                Block::Chart(Chart { id: "es".into(), title: "Score by generation".into(), x_label: "generation".into(), y_label: "score".into(), plot: Plot::Lines { lines }, marker: None }),
            ],
        });
    }
    Page { title: format!("Training: {}", t.scenario), subtitle: vec![format!("{} with the {} reward, seed {}", t.algo.to_uppercase(), t.objective, t.seed)], sections }
}
