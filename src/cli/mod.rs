//! Command-line verbs and their dispatch. Each verb lives in its own file.

pub mod aggregate;
pub mod calibrate;
pub mod drift;
pub mod bench;
pub mod bench_learned;
pub mod forecast;
pub mod loadgen;
pub mod memory;
pub mod plan;
pub mod serve;
pub mod simulate;
pub mod staffing;
pub mod sweep;
pub mod trace_read;
pub mod train;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::Path;
use tessera_engine::spec::Scenario;

/// Tessera: simulate, optimise and run the workforce behind data annotation.
#[derive(Parser, Debug)]
#[command(name = "tessera", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a scenario in simulated time (replications, what-if overrides, CSV/JSON output)
    #[command(long_about = simulate::LONG_ABOUT)]
    Simulate(simulate::SimulateArgs),
    /// Consensus labels for a real answers file (majority vote, Dawid-Skene, GLAD, ...).
    #[command(long_about = aggregate::LONG_ABOUT)]
    Aggregate(aggregate::AggregateArgs),
    /// Plan headcount and overlap for accuracy and turnaround targets at the lowest cost, checked by simulation
    #[command(long_about = plan::LONG_ABOUT)]
    Plan(plan::PlanArgs),
    /// What-if grids: vary scenario fields, compare points with paired intervals, find the Pareto frontier
    #[command(long_about = sweep::LONG_ABOUT)]
    Sweep(sweep::SweepArgs),
    /// Weekly cost forecast with P10/P50/P90 bands, headcount needed and budget burn
    #[command(long_about = forecast::LONG_ABOUT)]
    Forecast(forecast::ForecastArgs),
    /// Train a routing policy with reinforcement learning (PPO on burn) and write a policy file
    #[command(long_about = train::LONG_ABOUT)]
    Train(train::TrainArgs),
    /// Benchmark routing policies on scenarios over held-out seeds and write a leaderboard
    #[command(long_about = bench::LONG_ABOUT)]
    Bench(bench::BenchArgs),
    /// Agents for a service level (Erlang C / Erlang A), and rosters on shift patterns (MILP)
    #[command(long_about = staffing::LONG_ABOUT)]
    Staffing(staffing::StaffingArgs),
    /// Run the live dispatch server (HTTP API, durable SQLite store, signed webhooks)
    #[command(long_about = serve::LONG_ABOUT)]
    Serve(serve::ServeArgs),
    /// Fit a scenario to an operation's event trace (the digital twin) and check it by simulation
    #[command(long_about = calibrate::LONG_ABOUT)]
    Calibrate(calibrate::CalibrateArgs),
    /// Say when an operation's trace stops looking like its twin (CUSUM tests with stated false-alarm rates)
    #[command(long_about = drift::LONG_ABOUT)]
    Drift(drift::DriftArgs),
    /// Play a scenario's synthetic workforce against a running server, as HTTP clients
    #[command(long_about = loadgen::LONG_ABOUT)]
    Loadgen(loadgen::LoadgenArgs),
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Simulate(a) => simulate::run(a),
        Command::Aggregate(args) => aggregate::run(args),
        Command::Bench(a) => bench::run_bench(a),
        Command::Train(a) => train::run(a),
        Command::Sweep(a) => sweep::run(a),
        Command::Forecast(a) => forecast::run(a),
        Command::Plan(a) => plan::run(a),
        Command::Staffing(a) => staffing::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Loadgen(a) => loadgen::run(a),
        Command::Calibrate(a) => calibrate::run(a),
        Command::Drift(a) => drift::run(a),
    }
}



/// How a verb prints its summary: a table for people, or one JSON object for scripts.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
}

/// Loads a scenario with overrides, validating names against what this binary knows.
pub fn load_scenario(path: &Path, set: &[String]) -> Result<Scenario> {
    tessera_learners::in_loop::register();
    let policies = tessera_policies::names();
    let known = tessera_scenarios::Known::with_policies(&policies).with_routing_check(tessera_policies::check_routing);
    tessera_scenarios::load_file(path, set, &known).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Loads a scenario with `--unset` and `--set`, and the warnings about it.
pub fn load_scenario_with(path: &Path, unset: &[String], set: &[String]) -> Result<tessera_scenarios::Loaded> {
    tessera_learners::in_loop::register();
    let policies = tessera_policies::names();
    let known = tessera_scenarios::Known::with_policies(&policies).with_routing_check(tessera_policies::check_routing);
    tessera_scenarios::load_file_with(path, unset, set, &known).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Loads a scenario from TOML text (`origin` names it in messages) with unsets and overrides.
pub fn load_scenario_text(text: &str, origin: &str, unset: &[String], set: &[String]) -> Result<tessera_scenarios::Loaded> {
    tessera_learners::in_loop::register();
    let policies = tessera_policies::names();
    let known = tessera_scenarios::Known::with_policies(&policies).with_routing_check(tessera_policies::check_routing);
    tessera_scenarios::load_str_with(text, origin, unset, set, &known).map_err(|e| anyhow::anyhow!("{e}"))
}

/// The process's peak resident memory [bytes] (Linux: VmHWM), if the system says.
pub fn peak_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
