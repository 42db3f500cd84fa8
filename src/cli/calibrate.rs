//! `tessera calibrate`: fit a scenario to an operation's event trace, and check the fit by
//! simulation. A thin shell over tessera-calibrate: read, fit, write, print.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use super::trace_read::read_tally;
use tessera_calibrate::{check, output, FitOptions, ReadOptions, Tally};

pub const LONG_ABOUT: &str = "\
Fit a scenario to an operation's event trace (the digital twin), and check it by simulation.

The trace is read in one streaming pass (events.jsonl of `tessera simulate --trace`, or a live
server's GET /v1/projects/{id}/trace; schema tessera.trace/2): memory follows the tasks and leases
open at a time and the number of annotators, not the trace's length. It writes:
  - a runnable scenario (--out, default fitted.toml beside the trace): the --base scenario's text,
    comments kept, with the fitted values written in; or, without --base, a skeleton of the trace's
    streams and pools with the fit and the schema's defaults for the rest;
  - a side file (--side, default the scenario's name with .calibration.json): each fitted value
    keyed by the same dotted path as --set, with its 95% interval, unit, method and the number of
    observations behind it; what the trace cannot identify, with the reason; and where what a
    trace cannot tell (pay, quality rules, routing, overlap, models) comes from.

What is fitted (documented in README.md, \"Calibration\"):
  arrivals per stream      batch drops when ≥ 90% of arrivals share their instant with another;
                           otherwise the Poisson process with the least AIC among a constant rate,
                           an hour-of-day and an hour-of-week profile (the last needs a week of trace)
  handling times per pool  exponential, lognormal or fixed by AIC with a scale per annotator, from
                           lease to answer (late answers included); speed_sigma, the spread of
                           people's speed, by Paule-Mandel on log scales when Cochran's Q
                           supports it at 5%, else 0, with its Q-profile interval; other
                           intervals by a bootstrap over annotators
  accuracy per pool        golden answers: a Beta-binomial over annotators by maximum likelihood;
                           the Beta only when a likelihood-ratio test (half a χ²₁: the null is on
                           the boundary) supports a spread at 5%, else one mean for all; the base's
                           stream difficulty is taken out (accuracy falls as p(1 − d) + d/k)
  learning, fatigue        within each person, log handling time by experience and by hours on
                           shift against the schema's curves, each with the other taken out;
                           kept when a parametric-bootstrap likelihood-ratio test says so at 1%
                           and the curve moves mean handling time by at least 1% (pre-labelled
                           work: an F test at 0.1%)
  walking away             leases that expired with no answer after / leases; the lease timeout
  queue patience           exponential, censored: the time every task waited for a first lease /
                           the tasks that left unserved
  shifts                   the 15-minute slots of the week in which at least half of a pool is on
                           shift (on- and off-shift events), as \"mon-fri 09:00-17:00\" lines; not
                           identified with less than a week, or when people keep different shifts
  head count               distinct annotators seen per pool (\"pool/n\" names; a live trace's
                           annotators are one pool, \"annotators\")

--check simulates the fitted scenario (--replications, default 20) and compares throughput, mean
and p90 time in system, accuracy on golden answers, the share left unserved and the mean number
of waiting tasks with the trace's own, each computed the same way from each simulated run's
trace: a figure passes when the trace's value lies in the central 95% of the simulated values,
widened by its equivalence margin (throughput ±5%, times ±10%, waiting ±10%, shares ±0.01).

Examples:
  tessera simulate scenarios/mmc.toml --trace --set run.horizon=14d --out out/mmc
  tessera calibrate out/mmc/events.jsonl --base scenarios/mmc.toml --check
  tessera calibrate live-trace.jsonl --utc-offset -5 --out twin.toml

Exit status: 0 when the fit is written (and, with --check, every figure passes); 1 on an error
(the message names the file, line and field); 4 when --check finds a figure outside its band.";

#[derive(clap::Args, Debug)]
pub struct CalibrateArgs {
    /// The event trace (JSON lines, schema tessera.trace/2)
    pub trace: PathBuf,
    /// The scenario whose pay, quality, routing and models the fit keeps (its streams and pools
    /// must carry the trace's names)
    #[arg(long)]
    pub base: Option<PathBuf>,
    /// Where to write the fitted scenario [default: fitted.toml beside the trace]
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// Where to write the side file of intervals [default: the scenario's path with .calibration.json]
    #[arg(long)]
    pub side: Option<PathBuf>,
    #[command(flatten)]
    pub read: super::trace_read::TraceReadArgs,
    /// Bootstrap replicates of the intervals
    #[arg(long, default_value_t = 200)]
    pub bootstrap: u32,
    /// Seed of the bootstrap and of --check's simulations
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Simulate the fitted scenario and compare its figures with the trace's
    #[arg(long)]
    pub check: bool,
    /// Check this scenario against the trace instead of fitting one (implies --check): a twin
    /// fitted earlier, on a fresh trace of the operation
    #[arg(long, conflicts_with_all = ["base", "out", "side"])]
    pub fitted: Option<PathBuf>,
    /// Replications of --check
    #[arg(long, short = 'r', default_value_t = 20)]
    pub replications: u32,
    /// Print nothing but errors
    #[arg(long, short)]
    pub quiet: bool,
}

fn with_ext(path: &Path, ext: &str) -> PathBuf {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "fitted".into());
    path.with_file_name(format!("{stem}{ext}"))
}

pub fn run(a: CalibrateArgs) -> Result<()> {
    let opts = a.read.options()?;
    if a.bootstrap > 100_000 {
        bail!("--bootstrap {}: at most 100000", a.bootstrap);
    }
    if (a.check || a.fitted.is_some()) && !(2..=1000).contains(&a.replications) {
        bail!("--replications {}: --check needs between 2 and 1000", a.replications);
    }
    if let Some(fitted) = &a.fitted {
        return check_only(&a, fitted, &opts);
    }
    let base = match &a.base {
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("cannot read the base scenario {}", p.display()))?;
            let loaded = super::load_scenario_text(&text, &p.display().to_string(), &[], &[])?;
            Some((text, loaded.scenario))
        }
        None => None,
    };
    let origin = a.trace.display().to_string();
    let started = std::time::Instant::now();
    let tally = read_tally(&a.trace, &opts)?;
    let fit_opts = FitOptions { bootstrap: a.bootstrap, seed: a.seed };
    let cal = tessera_calibrate::fit(&tally, base.as_ref().map(|(_, s)| s), &fit_opts).map_err(|e| anyhow::anyhow!("{origin}: {e}"))?;
    let base_origin = a.base.as_ref().map(|p| p.display().to_string());
    let text = output::scenario_text(&tally, &cal, base.as_ref().map(|(t, _)| t.as_str()).zip(base_origin.as_deref())).map_err(|e| anyhow::anyhow!("{e}"))?;
    let out = a.out.clone().unwrap_or_else(|| a.trace.with_file_name("fitted.toml"));
    let side_path = a.side.clone().unwrap_or_else(|| with_ext(&out, ".calibration.json"));
    // The fitted scenario must load as any scenario does before it is written.
    let fitted = super::load_scenario_text(&text, &out.display().to_string(), &[], &[]).context("the fitted scenario does not validate (a bug: please report it with the trace)")?;
    std::fs::write(&out, &text).with_context(|| format!("cannot write {}", out.display()))?;
    let mut side = output::side_file(&tally, &cal, &out.display().to_string());
    if !a.quiet {
        println!("read {} events ({:.1} h of operation, {} streams, {} pools) in {:.1} s", tally.events, tally.span_h(), tally.streams.len(), tally.pools.len(), started.elapsed().as_secs_f64());
        for f in &cal.fitted {
            let ci = f.interval.as_ref().map(|(lo, hi)| format!("  [{}, {}]", short(lo), short(hi))).unwrap_or_default();
            println!("  {:<52} {}{}{ci}", f.path, short(&f.estimate), if f.unit.is_empty() { String::new() } else { format!(" {}", f.unit) });
        }
        if !cal.not_identified.is_empty() {
            println!("not identified ({}; reasons in the side file): {}", cal.not_identified.len(), cal.not_identified.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(", "));
        }
    }
    let mut failed = false;
    if a.check {
        let uncertain = check::uncertain_from_side(&side);
        let (verdicts, f) = run_check(&a, &fitted.scenario, &text, &uncertain, &tally, &out.display().to_string())?;
        failed = f;
        side["check"] = serde_json::json!({ "replications": a.replications, "seed": a.seed, "redrawn": uncertain.iter().map(|u| u.path.as_str()).collect::<Vec<_>>(), "figures": verdicts });
    }
    std::fs::write(&side_path, serde_json::to_string_pretty(&side)? + "\n").with_context(|| format!("cannot write {}", side_path.display()))?;
    if !a.quiet {
        println!("wrote {} and {}", out.display(), side_path.display());
    }
    if failed {
        eprintln!("error: --check: the fitted scenario does not reproduce every figure of the trace (FAIL above)");
        std::process::exit(4);
    }
    Ok(())
}

/// `--fitted`: judge a scenario fitted earlier against this trace; nothing is written.
fn check_only(a: &CalibrateArgs, fitted: &Path, opts: &ReadOptions) -> Result<()> {
    let scenario = super::load_scenario(fitted, &[])?;
    let text = std::fs::read_to_string(fitted).with_context(|| format!("cannot read {}", fitted.display()))?;
    // The twin's estimation error comes from its side file, when it lies beside it.
    let side_path = with_ext(fitted, ".calibration.json");
    let uncertain = match std::fs::read(&side_path) {
        Ok(bytes) => {
            let side: serde_json::Value = serde_json::from_slice(&bytes).with_context(|| format!("{}: not a calibration side file", side_path.display()))?;
            check::uncertain_from_side(&side)
        }
        Err(_) => {
            if !a.quiet {
                println!("note: no {} beside the fitted scenario: the bands leave out the twin's estimation error", side_path.display());
            }
            vec![]
        }
    };
    let tally = read_tally(&a.trace, opts)?;
    let (_, failed) = run_check(a, &scenario, &text, &uncertain, &tally, &fitted.display().to_string())?;
    if failed {
        eprintln!("error: --check: {} does not reproduce every figure of {} (FAIL above)", fitted.display(), a.trace.display());
        std::process::exit(4);
    }
    Ok(())
}

/// Runs --check and prints its table; returns the verdicts and whether one failed.
/// Replication r simulates `scenario` (whose TOML is `text`) with the `uncertain` estimates
/// redrawn (`check::draw_sets`).
fn run_check(a: &CalibrateArgs, scenario: &tessera_engine::spec::Scenario, text: &str, uncertain: &[check::Uncertain], tally: &Tally, name: &str) -> Result<(Vec<check::Verdict>, bool)> {
    let routing = scenario.routing.clone();
    let make_router = move || tessera_policies::router_for(&routing).expect("validated policy name");
    let scenario_for = |r: u32| -> std::result::Result<tessera_engine::spec::Scenario, String> {
        if uncertain.is_empty() {
            return Ok(scenario.clone());
        }
        let sets = check::draw_sets(uncertain, a.seed, r);
        super::load_scenario_text(text, name, &[], &sets).map(|l| l.scenario).map_err(|e| format!("replication {r}'s redrawn estimates ({}): {e}", sets.join(" ")))
    };
    let verdicts = check::check(&scenario_for, &make_router, tally, a.replications, a.seed).map_err(|e| anyhow::anyhow!("--check: {e}"))?;
    if !a.quiet {
        println!("check: {} simulated replications of {name} against the trace, each with {} estimates redrawn from their intervals", a.replications, uncertain.len());
        println!("  {:<36} {:>12} {:>12} {:>26} {:>8}  verdict", "figure", "trace", "simulated", "95% of simulations", "margin");
    }
    let mut failed = false;
    for v in &verdicts {
        failed |= v.pass == Some(false);
        if !a.quiet {
            let f = |x: Option<f64>| x.map_or("-".into(), |x| format!("{x:.4}"));
            let band = v.predicted_95.map_or("-".into(), |(l, h)| format!("[{l:.4}, {h:.4}]"));
            let margin = if v.margin_relative { format!("±{:.0}%", v.margin * 100.0) } else { format!("±{}", v.margin) };
            let verdict = match v.pass {
                Some(true) => "pass",
                Some(false) => "FAIL",
                None => "no data",
            };
            println!("  {:<36} {:>12} {:>12} {:>26} {:>8}  {verdict}", format!("{} [{}]", v.figure, v.unit), f(v.trace), f(v.predicted_median), band, margin);
        }
    }
    Ok((verdicts, failed))
}

fn short(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Array(xs) if xs.len() > 4 => format!("[{} values]", xs.len()),
        _ => v.to_string(),
    }
}
